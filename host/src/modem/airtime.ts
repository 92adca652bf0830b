/**
 * Time on air of one radio packet, and the regulatory band profiles whose duty cycle the drivers
 * enforce (ERC Recommendation 70-03 annex 1 / EN 300 220; figures in shared/notes/radio.md).
 */

import { BANDS, DUTY_WINDOW_MS, findBand, loraTimeOnAirMs, type BandProfile, type LoraParams } from '@vakt/boards/common/radio';

// LoRa airtime and the band profiles are one definition, shared with the firmware-side drivers.
export { BANDS, DUTY_WINDOW_MS, findBand, loraTimeOnAirMs, type BandProfile, type LoraParams };

/** FSK/GFSK (or any bit-serial) modulation: bits at `bps`, plus fixed per-packet overhead bytes (preamble, sync word, length, CRC). */
export interface FskParams {
  kind: 'fsk';
  bps: number;
  overheadBytes: number;
}

export type Modulation = LoraParams | FskParams;

/** Time on air in ms of one packet of `payloadBytes` under modulation `m`. */
export function timeOnAirMs(m: Modulation, payloadBytes: number): number {
  if (m.kind === 'lora') return loraTimeOnAirMs(m, payloadBytes);
  return ((payloadBytes + m.overheadBytes) * 8 * 1000) / m.bps;
}

/** Outcome of asking the budget for a transmission. */
export type BudgetDecision = { ok: true } | { ok: false; retryAtMs: number };

/**
 * Duty-cycle accounting over a sliding one-hour window: a transmission of `ms` may start at `now`
 * only if the airtime of the window ending at its end stays within dutyCycle · window. Exact (a
 * list of the window's transmissions), never a token bucket, which would let 2× pass in one hour.
 */
export class DutyCycleBudget {
  /** Airtime used in total (ms). */
  usedMs = 0;
  /** Transmissions refused or delayed for budget. */
  deferred = 0;
  private readonly starts: number[] = [];
  private readonly lengths: number[] = [];
  private windowSum = 0;
  readonly limitMs: number;

  constructor(
    readonly band: BandProfile,
    readonly windowMs: number = DUTY_WINDOW_MS,
  ) {
    this.limitMs = band.dutyCycle * windowMs;
  }

  /** Airtime in the window (now − window, now]. */
  usedInWindow(nowMs: number): number {
    this.trim(nowMs);
    return this.windowSum;
  }

  /** May a transmission of `ms` start now? If not, the earliest time it may. */
  check(nowMs: number, ms: number): BudgetDecision {
    if (this.band.dutyCycle >= 1) return { ok: true };
    if (ms > this.limitMs) return { ok: false, retryAtMs: Infinity };
    this.trim(nowMs + ms);
    if (this.windowSum + ms <= this.limitMs) return { ok: true };
    // Drop the oldest transmissions until it fits; it may start once they have left the window.
    let sum = this.windowSum;
    for (let i = 0; i < this.starts.length; i++) {
      sum -= this.lengths[i]!;
      if (sum + ms <= this.limitMs) return { ok: false, retryAtMs: this.starts[i]! + this.lengths[i]! + this.windowMs - ms };
    }
    return { ok: false, retryAtMs: Infinity };
  }

  /** Records a transmission of `ms` starting at `nowMs` (the caller checked it). */
  record(nowMs: number, ms: number): void {
    this.usedMs += ms;
    if (this.band.dutyCycle >= 1) return;
    this.starts.push(nowMs);
    this.lengths.push(ms);
    this.windowSum += ms;
  }

  /** Largest airtime any one-hour window has seen so far is not kept; this is the current window's share. */
  shareOfLimit(nowMs: number): number {
    return this.limitMs === 0 || this.band.dutyCycle >= 1 ? 0 : this.usedInWindow(nowMs) / this.limitMs;
  }

  /** Forgets transmissions that ended before `endMs` − window. */
  private trim(endMs: number): void {
    let k = 0;
    while (k < this.starts.length && this.starts[k]! + this.lengths[k]! <= endMs - this.windowMs) {
      this.windowSum -= this.lengths[k]!;
      k++;
    }
    if (k > 0) {
      this.starts.splice(0, k);
      this.lengths.splice(0, k);
    }
  }
}
