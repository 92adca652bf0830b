// Clocks for the Node "sim" board: the system clock with a settable offset, and a manual clock
// for tests that drives timers deterministically.
import type { Clock } from '../types.ts';

const MS_PER_S = 1000;

/** Wall clock: now() is Date.now() in whole seconds plus whatever offset set() established. */
export function createSystemClock(): Clock & { stop(): void } {
  let offsetMs = 0;
  const timers: ReturnType<typeof setInterval>[] = [];
  return {
    now: () => Math.floor((Date.now() + offsetMs) / MS_PER_S),
    set(t: number): void {
      if (!Number.isFinite(t)) throw new TypeError('clock time must be a finite number of seconds');
      offsetMs = t * MS_PER_S - Date.now();
    },
    every(ms: number, cb: () => void): unknown {
      const h = setInterval(cb, ms);
      timers.push(h);
      return h;
    },
    stop(): void {
      for (const h of timers) clearInterval(h);
      timers.length = 0;
    },
  };
}

/** A clock that only moves when advance() is called; due timers fire in time order, synchronously. */
export function createManualClock(startSeconds: number): Clock & { advance(ms: number): void; readonly nowMs: number } {
  let nowMs = startSeconds * MS_PER_S;
  const timers: { period: number; due: number; cb: () => void }[] = [];
  return {
    get nowMs() {
      return nowMs;
    },
    now: () => Math.floor(nowMs / MS_PER_S),
    set(t: number): void {
      if (!Number.isFinite(t)) throw new TypeError('clock time must be a finite number of seconds');
      nowMs = t * MS_PER_S;
      for (const tm of timers) tm.due = nowMs + tm.period;
    },
    every(ms: number, cb: () => void): unknown {
      if (!(ms > 0)) throw new TypeError('timer period must be positive');
      const tm = { period: ms, due: nowMs + ms, cb };
      timers.push(tm);
      return tm;
    },
    advance(ms: number): void {
      const end = nowMs + ms;
      for (;;) {
        let next: (typeof timers)[number] | undefined;
        for (const tm of timers) if (tm.due <= end && (next === undefined || tm.due < next.due)) next = tm;
        if (next === undefined) break;
        nowMs = next.due;
        next.due += next.period;
        next.cb();
      }
      nowMs = end;
    },
  };
}
