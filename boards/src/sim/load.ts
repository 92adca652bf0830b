// Deterministic synthetic household load for the sim board. It stands in for the consumer behind a
// meter: the load is integrated on the board clock and handed to the meter firmware as S0 pulses
// (1 Wh each) through the pins' pulse input, so the firmware counts it exactly as it counts a real
// meter's pulse output, and the same clock gives the same readings on every run.
import type { Clock } from '../types.ts';

const SECONDS_PER_MINUTE = 60;
const SECONDS_PER_HOUR = 3600;
const SECONDS_PER_DAY = 86400;
/** One S0 pulse is one watt-hour (the meter's PULSES_PER_KWH = 1000), i.e. 3600 watt-seconds. */
const WS_PER_PULSE = SECONDS_PER_HOUR;
/** A larger step between two runs is a clock jump (set, board restart), not consumption. */
export const MAX_INTEGRATION_STEP_S = 3600;
/**
 * How often the board timer integrates the load and emits its pulses. Much shorter than the meter's
 * 60 s pulse-rate window (so the meter sees a steady rate) yet a manual clock advancing a day fires
 * it only 8,640 times.
 */
export const LOAD_TIMER_MS = 10_000;
const JITTER_SEED = 0x5bd1e995;
const JITTER_RANGE_W = 200;

/** Synthetic household load in watts at unix time t: a daily shape plus deterministic per-minute jitter. */
export function syntheticPower(t: number): number {
  const hour = Math.floor((((t % SECONDS_PER_DAY) + SECONDS_PER_DAY) % SECONDS_PER_DAY) / SECONDS_PER_HOUR); // also for t < 0
  // xorshift of the minute number: same t, same value on every engine.
  let x = (Math.floor(t / SECONDS_PER_MINUTE) | 0) ^ JITTER_SEED;
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  // Night base load, morning peak, day, evening peak, night.
  return (hour < 6 ? 250 : hour < 9 ? 1200 : hour < 17 ? 600 : hour < 22 ? 2000 : 250) + ((x >>> 0) % JITTER_RANGE_W);
}

/** Integrates syntheticPower over time and hands out the energy in whole pulses (Wh). */
export class SyntheticLoad {
  private lastT: number;
  /** Energy not yet emitted as a whole pulse, in watt-seconds (an integer for whole-second times). */
  private ws = 0;

  /** Starts integrating at time `now` (unix seconds). */
  constructor(now: number) {
    this.lastT = now;
  }

  /**
   * Whole pulses (Wh) consumed between the previous call and `now`; the sub-Wh remainder is carried
   * to the next call, so the total does not depend on how often this is called. A step backwards or
   * of more than MAX_INTEGRATION_STEP_S is a clock jump and adds no energy.
   */
  advance(now: number): number {
    let t = this.lastT;
    this.lastT = now;
    if (now < t || now - t > MAX_INTEGRATION_STEP_S) return 0;
    // The power is constant within a minute: integrate minute by minute.
    while (t < now) {
      const next = Math.min((Math.floor(t / SECONDS_PER_MINUTE) + 1) * SECONDS_PER_MINUTE, now);
      this.ws += syntheticPower(t) * (next - t);
      t = next;
    }
    const pulses = Math.floor(this.ws / WS_PER_PULSE);
    this.ws -= pulses * WS_PER_PULSE;
    return pulses;
  }
}

/**
 * Runs the synthetic load on `clock`: every LOAD_TIMER_MS it integrates from its previous run to
 * clock.now() and calls `pulse(n)` with the whole pulses, if any. Returns the integrator.
 */
export function startSyntheticLoad(clock: Clock, pulse: (count: number) => void): SyntheticLoad {
  const load = new SyntheticLoad(clock.now());
  clock.every(LOAD_TIMER_MS, (): void => {
    const n = load.advance(clock.now());
    if (n > 0) pulse(n);
  });
  return load;
}
