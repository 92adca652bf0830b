// Energy register and instantaneous power, fed either by a pulse counter pin (real boards) or by a
// deterministic synthetic load (sim board), so scenarios and tests are reproducible.

/** Pulse constant of the meter's S0 output: 1000 impulses per kWh, i.e. one pulse per Wh. */
export const PULSES_PER_KWH = 1000;
const WH_PER_PULSE = 1000 / PULSES_PER_KWH;
const MWH_PER_WH = 1000;
/** A larger step between two ticks is a clock jump (sync, board restart), not consumption. */
const MAX_INTEGRATION_STEP_S = 3600;
const SECONDS_PER_HOUR = 3600;

/** Synthetic household load in watts at unix time t: a daily shape plus deterministic per-minute jitter. */
export function syntheticPower(t: number): number {
  const secOfDay = ((t % 86400) + 86400) % 86400;
  const hour = Math.floor(secOfDay / 3600);
  // Night base load, morning and evening peaks.
  let w = 250;
  if (hour >= 6 && hour < 9) w = 1200;
  else if (hour >= 17 && hour < 22) w = 2000;
  else if (hour >= 9 && hour < 17) w = 600;
  // xorshift of the minute number: same t, same value on every engine.
  let x = (Math.floor(t / 60) | 0) ^ 0x5bd1e995;
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return w + ((x >>> 0) % 200);
}

/** Energy register (Wh) and power (W); integrates the synthetic load or counts pulses. */
export class EnergyRegister {
  /** Energy register in Wh. */
  wh: number;
  /** Instantaneous power in W. */
  w = 0;
  private mwh = 0; // sub-Wh remainder of the synthetic integration, in mWh
  private lastT: number;
  private pulses = 0;
  private pulseT: number;

  /** Starts the register at `wh` (after a reboot: from the last persisted interval) at time `now`. */
  constructor(private readonly synthetic: boolean, wh: number, now: number) {
    this.wh = wh;
    this.lastT = now;
    this.pulseT = now;
  }

  /** Counts `n` meter pulses (pulse-counter pin input). */
  pulse(n: number): void {
    if (this.synthetic || !(n > 0) || n > 1000000) return;
    this.pulses += n;
    this.wh += n * WH_PER_PULSE;
  }

  /** Advances the register to time `now` (a clock stepping backwards integrates nothing). */
  advance(now: number): void {
    if (this.lastT < 0 || now < this.lastT || now - this.lastT > MAX_INTEGRATION_STEP_S) {
      this.lastT = now;
      if (this.pulseT < 0 || now < this.pulseT) this.pulseT = now;
      if (this.synthetic) this.w = syntheticPower(now);
      return;
    }
    if (this.synthetic) {
      let t = this.lastT;
      // Integrate minute by minute so the result does not depend on how often tick() is called.
      while (t < now) {
        const step = Math.min(60 - (t % 60), now - t);
        this.mwh += (syntheticPower(t) * step * MWH_PER_WH) / SECONDS_PER_HOUR;
        t += step;
      }
      const whole = Math.floor(this.mwh / MWH_PER_WH);
      this.wh += whole;
      this.mwh -= whole * MWH_PER_WH;
      this.w = syntheticPower(now);
    } else if (now - this.pulseT >= 60) {
      this.w = Math.round((this.pulses * 1000 * SECONDS_PER_HOUR) / PULSES_PER_KWH / (now - this.pulseT));
      this.pulses = 0;
      this.pulseT = now;
    }
    this.lastT = now;
  }
}
