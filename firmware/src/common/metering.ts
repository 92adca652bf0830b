// Energy register and instantaneous power, fed either by a pulse counter pin (real boards) or by a
// deterministic synthetic load (sim board), so scenarios and tests are reproducible.

/** Pulse constant of the meter's S0 output: 1000 impulses per kWh, i.e. one pulse per Wh. */
export const PULSES_PER_KWH = 1000;
const WH_PER_PULSE = 1000 / PULSES_PER_KWH;
const MWH_PER_WH = 1000;
/** A larger step between two ticks is a clock jump (sync, board restart), not consumption. */
const MAX_INTEGRATION_STEP_S = 3600;
const SECONDS_PER_HOUR = 3600;
/** Pulse-rate power is computed over at least this many seconds. */
const POWER_WINDOW_S = 60;

/** Synthetic household load in watts at unix time t: a daily shape plus deterministic per-minute jitter. */
export function syntheticPower(t: number): number {
  const hour = Math.floor((((t % 86400) + 86400) % 86400) / 3600); // also for t < 0
  // xorshift of the minute number: same t, same value on every engine.
  let x = (Math.floor(t / 60) | 0) ^ 0x5bd1e995;
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  // Night base load, morning peak, day, evening peak, night.
  return (hour < 6 ? 250 : hour < 9 ? 1200 : hour < 17 ? 600 : hour < 22 ? 2000 : 250) + ((x >>> 0) % 200);
}

/** Energy register (Wh) and power (W); integrates the synthetic load or counts pulses. */
export class EnergyRegister {
  /** Energy register in Wh. */
  wh: number;
  /** Instantaneous power in W. */
  w = 0;
  private mwh = 0; // sub-Wh remainder of the synthetic integration, in mWh
  private lastT: number;
  private pulseCount = 0;
  private pulseT: number;

  /** Starts the register at `wh` (after a reboot: from the last persisted interval) at time `now`. */
  constructor(private readonly isSynthetic: boolean, wh: number, now: number) {
    this.wh = wh;
    this.lastT = now;
    this.pulseT = now;
  }

  /** Counts `n` meter pulses (pulse-counter pin input). */
  pulse(n: number): void {
    if (this.isSynthetic || !(n > 0) || n > 1000000) return;
    this.pulseCount += n;
    this.wh += n * WH_PER_PULSE;
  }

  /** Advances the register to time `now` (a clock stepping backwards integrates nothing). */
  advance(now: number): void {
    let t = this.lastT;
    this.lastT = now;
    if (t < 0 || now < t || now - t > MAX_INTEGRATION_STEP_S) {
      // Clock jump: no energy for the step; the pulse-rate window restarts if the clock went back.
      if (this.pulseT < 0 || now < this.pulseT) this.pulseT = now;
    } else if (this.isSynthetic) {
      // Integrate minute by minute so the result does not depend on how often tick() is called.
      while (t < now) {
        const step = Math.min(60 - (t % 60), now - t);
        this.mwh += (syntheticPower(t) * step * MWH_PER_WH) / SECONDS_PER_HOUR;
        t += step;
      }
      const whole = Math.floor(this.mwh / MWH_PER_WH);
      this.wh += whole;
      this.mwh -= whole * MWH_PER_WH;
    } else if (now - this.pulseT >= POWER_WINDOW_S) {
      // Pulses per second × 3600 s/h × Wh per pulse (pulses × 3600, exact for whole pulse counts).
      this.w = Math.round((this.pulseCount * (SECONDS_PER_HOUR * WH_PER_PULSE)) / (now - this.pulseT));
      this.pulseCount = 0;
      this.pulseT = now;
    }
    if (this.isSynthetic) this.w = syntheticPower(now);
  }
}
