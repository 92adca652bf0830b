/**
 * Simulated time for the radio emulator: a discrete-event scheduler that is also the drivers'
 * `Timers`. Events run in time order (ties in the order they were scheduled), so a run with the
 * same seed replays exactly.
 */
import type { Timers } from '../driver.ts';

/** An event; one that returns a promise (the async HES in a simulation) is awaited by runUntilAsync. */
interface Ev {
  at: number;
  seq: number;
  cb: () => unknown;
  cancelled: boolean;
}

/** A binary min-heap of events by (at, seq). */
class EventHeap {
  private readonly a: Ev[] = [];
  get size(): number {
    return this.a.length;
  }
  peek(): Ev | undefined {
    return this.a[0];
  }
  push(e: Ev): void {
    const a = this.a;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): Ev | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && less(a[l]!, a[m]!)) m = l;
        if (r < a.length && less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

function less(x: Ev, y: Ev): boolean {
  return x.at < y.at || (x.at === y.at && x.seq < y.seq);
}

/** Discrete-event scheduler in ms. */
export class SimScheduler implements Timers {
  private t: number;
  private seq = 0;
  private readonly heap = new EventHeap();
  /** Events run so far. */
  events = 0;

  constructor(startMs = 0) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  after(ms: number, cb: () => unknown): unknown {
    const e: Ev = { at: this.t + Math.max(0, ms), seq: this.seq++, cb, cancelled: false };
    this.heap.push(e);
    return e;
  }

  cancel(handle: unknown): void {
    if (handle !== null && handle !== undefined) (handle as Ev).cancelled = true;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((r) => this.after(ms, r));
  }

  /** Calls cb every `ms` from now on (device ticks). */
  every(ms: number, cb: () => unknown): void {
    const run = (): unknown => {
      const r = cb();
      this.after(ms, run);
      return r;
    };
    this.after(ms, run);
  }

  /** Runs every event due up to `endMs` (synchronously) and sets the time to endMs. */
  runUntil(endMs: number): void {
    for (;;) {
      const e = this.heap.peek();
      if (e === undefined || e.at > endMs) break;
      this.heap.pop();
      if (e.cancelled) continue;
      this.t = e.at;
      this.events++;
      e.cb();
    }
    if (endMs > this.t) this.t = endMs;
  }

  /**
   * As runUntil, but an event that returns a promise is awaited (with the continuations it
   * schedules) before the next event runs: components with an async API (the HES over its store)
   * stay in simulated time.
   */
  async runUntilAsync(endMs: number): Promise<void> {
    for (;;) {
      const e = this.heap.peek();
      if (e === undefined || e.at > endMs) break;
      this.heap.pop();
      if (e.cancelled) continue;
      this.t = e.at;
      this.events++;
      const r = e.cb();
      if (r instanceof Promise) await r;
    }
    if (endMs > this.t) this.t = endMs;
  }

  /**
   * Runs events until `p` settles, letting promise continuations run between events (drivers'
   * configuration is async). Rejects when nothing is left to run or `limitMs` of simulated time passed.
   */
  async settle<T>(p: Promise<T>, limitMs = 60_000): Promise<T> {
    let done = false;
    const q = p.finally(() => {
      done = true;
    });
    q.catch(() => undefined);
    const end = this.t + limitMs;
    while (!done) {
      await flushMicrotasks();
      if (done) break;
      const e = this.heap.peek();
      if (e === undefined || e.at > end) throw new Error(`simulation stalled before the operation completed (simulated ${limitMs} ms)`);
      this.heap.pop();
      if (e.cancelled) continue;
      this.t = e.at;
      this.events++;
      e.cb();
    }
    return q;
  }
}

/** Lets every pending promise continuation run (setImmediate comes after the microtask queue drains). */
function flushMicrotasks(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** A seeded PRNG (mulberry32): same seed, same run. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}
