// The sim board's synthetic load (boards/src/sim/load.ts): a deterministic household load integrated
// on the board clock and delivered to the meter as S0 pulses (1 Wh each). The expected energy is
// computed here second by second from syntheticPower, independently of the load's minute stepping.
import { describe, it, expect } from 'vitest';
import { encode as cborEncode } from 'cbor-x';
import { SyntheticLoad, syntheticPower, startSyntheticLoad, LOAD_TIMER_MS } from '@vakt/boards/sim/load';
import { createSimBoard, createManualClock, createMemoryStorage, createSerialPair } from '@vakt/boards/sim/index';
import type { Clock } from '@vakt/boards';
import { startMeter } from '@vakt/firmware';

const T0 = 1_800_000_000; // 08:00 UTC
const HOUR = 3600;
const DAY = 86400;

/** Watt-seconds of the load over [a, b), summed one second at a time. */
function wattSeconds(a: number, b: number): number {
  let ws = 0;
  for (let t = a; t < b; t++) ws += syntheticPower(t);
  return ws;
}

/** Whole Wh (pulses) of the load over [a, b). */
function expectedPulses(a: number, b: number): number {
  return Math.floor(wattSeconds(a, b) / HOUR);
}

describe('syntheticPower', () => {
  it('follows the daily shape with 0…199 W of per-minute jitter, also before 1970', () => {
    const base = (t: number): number => {
      const h = Math.floor((((t % DAY) + DAY) % DAY) / HOUR);
      return h < 6 ? 250 : h < 9 ? 1200 : h < 17 ? 600 : h < 22 ? 2000 : 250;
    };
    for (let t = T0 - 2 * DAY; t < T0 + 2 * DAY; t += 457) {
      const p = syntheticPower(t);
      expect(Number.isInteger(p)).toBe(true);
      expect(p - base(t)).toBeGreaterThanOrEqual(0);
      expect(p - base(t)).toBeLessThan(200);
    }
    for (let t = -DAY; t < 0; t += 911) expect(syntheticPower(t) - base(t)).toBeLessThan(200);
    // Constant within a minute, not the same every minute.
    expect(syntheticPower(T0 + 60)).toBe(syntheticPower(T0 + 119));
    const minutes = new Set<number>();
    for (let m = 0; m < 60; m++) minutes.add(syntheticPower(T0 + m * 60));
    expect(minutes.size).toBeGreaterThan(30);
  });
});

describe('synthetic load', () => {
  it('emits the same pulses however often it runs, with the sub-Wh remainder carried', () => {
    const end = T0 + DAY;
    const want = expectedPulses(T0, end);
    // A day of this load: between the base and the peak shape.
    expect(want).toBeGreaterThan(250 * 24);
    expect(want).toBeLessThan(2200 * 24);
    for (const step of [1, 10, 60, 997, HOUR]) {
      const load = new SyntheticLoad(T0);
      let pulses = 0;
      for (let t = T0 + step; t < end; t += step) pulses += load.advance(t);
      pulses += load.advance(end);
      expect(pulses, `every ${step} s`).toBe(want);
    }
  });

  it('adds no energy for a clock jump of more than an hour or backwards', () => {
    const load = new SyntheticLoad(T0);
    expect(load.advance(T0 + 600)).toBe(expectedPulses(T0, T0 + 600));
    expect(load.advance(T0 + 600 + HOUR + 1)).toBe(0);
    expect(load.advance(T0)).toBe(0);
    // Integration resumes from where the clock now is.
    const rest = wattSeconds(T0, T0 + 600) % HOUR;
    expect(load.advance(T0 + 300)).toBe(Math.floor((rest + wattSeconds(T0, T0 + 300)) / HOUR));
  });

  it('runs on a board timer: a manual-clock day costs 8,640 callbacks, not 86,400', () => {
    const clock = createManualClock(T0);
    let calls = 0;
    const counting: Clock = {
      now: () => clock.now(),
      set: (t) => clock.set(t),
      every: (ms, cb) =>
        clock.every(ms, () => {
          calls++;
          cb();
        }),
    };
    const got: number[] = [];
    startSyntheticLoad(counting, (n) => got.push(n));
    clock.advance(DAY * 1000);
    expect(calls).toBe((DAY * 1000) / LOAD_TIMER_MS);
    expect(got.every((n) => Number.isInteger(n) && n > 0)).toBe(true);
    expect(got.reduce((a, b) => a + b, 0)).toBe(expectedPulses(T0, T0 + DAY));
  });

  it('drives the sim board pulse input unless turned off; a clock set adds no energy', () => {
    const clock = createManualClock(T0);
    const board = createSimBoard({ clock, log: () => {} });
    const quiet = createSimBoard({ clock, log: () => {}, syntheticLoad: false });
    let pulses = 0;
    let quietPulses = 0;
    board.pins.onPulse((n) => {
      pulses += n;
    });
    quiet.pins.onPulse((n) => {
      quietPulses += n;
    });
    clock.advance(600_000);
    expect(pulses).toBe(expectedPulses(T0, T0 + 600));
    const before = wattSeconds(T0, T0 + 600);
    // CLOCK sets the time 2 h ahead: the first run after the jump integrates nothing, then it resumes.
    const t1 = T0 + 600 + 2 * HOUR;
    clock.set(t1);
    clock.advance(600_000);
    const step = LOAD_TIMER_MS / 1000;
    expect(pulses).toBe(Math.floor((before + wattSeconds(t1 + step, t1 + 600)) / HOUR));
    expect(quietPulses).toBe(0);
  });

  it('is what a meter on the sim board counts and reports', () => {
    // Meter provisioning image (PROTOCOL.md §11) with fixed test keys.
    const id = (b: number) => Buffer.alloc(8, b);
    const key = (b: number) => Buffer.alloc(16, b);
    const storage = createMemoryStorage();
    storage.write('prov', new Uint8Array(cborEncode([1, 1, id(0x4d), key(1), key(2), 0, id(0x43), id(0x48), 1])));
    const t0 = T0 + 3 * HOUR; // 11:00, day load 600…799 W
    const clock = createManualClock(t0);
    const [line] = createSerialPair();
    const board = createSimBoard({ clock, storage, serial: [line], log: () => {} });
    const meter = startMeter(board, { intervalS: 900 });
    clock.advance(HOUR * 1000);
    expect(meter.register.wh).toBe(expectedPulses(t0, t0 + HOUR));
    // Power from the last 60 s of pulses: the load ± one pulse per window (60 W).
    expect(meter.register.w).toBeGreaterThanOrEqual(600 - 60);
    expect(meter.register.w).toBeLessThan(800 + 60);
  });
});
