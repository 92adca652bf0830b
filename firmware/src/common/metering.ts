// Energy register and instantaneous power from the meter's S0 pulse input. The sim board's
// deterministic synthetic load arrives the same way, as pulses (boards/src/sim/load.ts).

/** Pulse constant of the meter's S0 output: 1000 impulses per kWh, i.e. one pulse per Wh. */
export const PULSES_PER_KWH = 1000;
const WH_PER_PULSE = 1000 / PULSES_PER_KWH;
const SECONDS_PER_HOUR = 3600;
/** Pulse-rate power is computed over at least this many seconds. */
const POWER_WINDOW_S = 60;
/** A longer window holds a clock jump (sync, board restart): its rate means nothing. */
const MAX_POWER_WINDOW_S = 3600;
/** More pulses than this in one report is a faulty input, not consumption. */
const MAX_PULSES = 1000000;

/** Energy register (Wh) counted from pulses, and power (W) from the pulse rate. */
export class EnergyRegister {
  /** Energy register in Wh. */
  wh: number;
  /** Instantaneous power in W. */
  w = 0;
  private pulseCount_ = 0;
  private pulseT_: number;

  /** Starts the register at `wh` (after a reboot: from the last persisted interval) at time `now`. */
  constructor(wh: number, now: number) {
    this.wh = wh;
    this.pulseT_ = now;
  }

  /** Counts `n` meter pulses (pulse-counter pin input). */
  pulse(n: number): void {
    if (!(n > 0) || n > MAX_PULSES) return;
    this.pulseCount_ += n;
    this.wh += n * WH_PER_PULSE;
  }

  /** Advances to time `now`: power from the pulse rate once a window of ≥ POWER_WINDOW_S is complete. */
  advance(now: number): void {
    const dt = now - this.pulseT_;
    // Pulses per second × 3600 s/h × Wh per pulse (pulses × 3600, exact for whole pulse counts).
    if (dt >= POWER_WINDOW_S && dt <= MAX_POWER_WINDOW_S) this.w = Math.round((this.pulseCount_ * (SECONDS_PER_HOUR * WH_PER_PULSE)) / dt);
    // A complete window, or a clock that went back: the next window starts now.
    if (dt < 0 || dt >= POWER_WINDOW_S) {
      this.pulseCount_ = 0;
      this.pulseT_ = now;
    }
  }
}
