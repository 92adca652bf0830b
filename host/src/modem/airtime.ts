/**
 * Time on air of one radio packet, and the regulatory band profiles whose duty cycle the drivers
 * enforce (ERC Recommendation 70-03 annex 1 / EN 300 220; figures in shared/notes/radio.md).
 */

/** LoRa modulation settings (SX1272/76 datasheet §4.1.1.6, Semtech AN1200.13). */
export interface LoraParams {
  kind: 'lora';
  sf: number;
  bwHz: number;
  /** Coding rate 4/(4+cr), cr = 1..4. */
  cr: number;
  preamble: number;
  crc: boolean;
  implicitHeader: boolean;
  /** Low data rate optimisation; when undefined, on as the datasheet requires (symbol time > 16 ms). */
  lowDataRate?: boolean;
}

/** FSK/GFSK (or any bit-serial) modulation: bits at `bps`, plus fixed per-packet overhead bytes (preamble, sync word, length, CRC). */
export interface FskParams {
  kind: 'fsk';
  bps: number;
  overheadBytes: number;
}

export type Modulation = LoraParams | FskParams;

/** Symbol time above which the SX127x needs low data rate optimisation (datasheet). */
const LDRO_SYMBOL_MS = 16;
/** Preamble symbols the modem adds to the programmed preamble length. */
const PREAMBLE_EXTRA_SYMBOLS = 4.25;
/** Symbols of the LoRa header/payload start that are always sent. */
const PAYLOAD_BASE_SYMBOLS = 8;

/**
 * LoRa time on air in ms for `payloadBytes` (AN1200.13):
 * T_sym = 2^SF / BW; T_preamble = (n_preamble + 4.25)·T_sym;
 * n_payload = 8 + max(ceil((8·PL − 4·SF + 28 + 16·CRC − 20·IH) / (4·(SF − 2·DE)))·(CR + 4), 0).
 */
export function loraTimeOnAirMs(p: LoraParams, payloadBytes: number): number {
  const tSym = (2 ** p.sf / p.bwHz) * 1000;
  const de = (p.lowDataRate ?? tSym > LDRO_SYMBOL_MS) ? 1 : 0;
  const ih = p.implicitHeader ? 1 : 0;
  const crc = p.crc ? 1 : 0;
  const num = 8 * payloadBytes - 4 * p.sf + 28 + 16 * crc - 20 * ih;
  const nPayload = PAYLOAD_BASE_SYMBOLS + Math.max(Math.ceil(num / (4 * (p.sf - 2 * de))) * (p.cr + 4), 0);
  return (p.preamble + PREAMBLE_EXTRA_SYMBOLS) * tSym + nPayload * tSym;
}

/** Time on air in ms of one packet of `payloadBytes` under modulation `m`. */
export function timeOnAirMs(m: Modulation, payloadBytes: number): number {
  if (m.kind === 'lora') return loraTimeOnAirMs(m, payloadBytes);
  return ((payloadBytes + m.overheadBytes) * 8 * 1000) / m.bps;
}

/** A regulatory band profile: what a transmitter there may do. */
export interface BandProfile {
  name: string;
  description: string;
  /** Share of any one-hour window a transmitter may be on air (1 = no limit). */
  dutyCycle: number;
  /** Highest radiated power, dBm e.r.p. (undefined: not limited by this profile). */
  maxPowerDbm?: number;
}

/** The window over which duty cycle is measured (EN 300 220: one hour). */
export const DUTY_WINDOW_MS = 3600_000;

/**
 * Band profiles by name. The limit of a regulated band is fixed here, not a setting ("shall not be
 * user dependent/adjustable", ERC 70-03): a lab bench without limit must name `lab` explicitly.
 */
export const BANDS: { readonly [name: string]: BandProfile } = {
  'eu868-g': { name: 'eu868-g', description: 'EU 868.0–868.6 MHz (ERC 70-03 h1.4): 1 % duty cycle, 25 mW', dutyCycle: 0.01, maxPowerDbm: 14 },
  'eu868-g2': { name: 'eu868-g2', description: 'EU 868.7–869.2 MHz (h1.5, wM-Bus T1/C1): 0.1 % duty cycle, 25 mW', dutyCycle: 0.001, maxPowerDbm: 14 },
  'eu868-g3': { name: 'eu868-g3', description: 'EU 869.4–869.65 MHz (h1.6): 10 % duty cycle, 500 mW', dutyCycle: 0.1, maxPowerDbm: 27 },
  eu433: { name: 'eu433', description: 'EU 433.05–434.79 MHz (h1.3): 10 mW, 10 % duty cycle', dutyCycle: 0.1, maxPowerDbm: 10 },
  lab: { name: 'lab', description: 'lab bench, shielded or cabled: no duty-cycle limit (chosen explicitly, never a default)', dutyCycle: 1 },
};

/** Looks a band up; throws a plain error naming the known bands. */
export function findBand(name: string): BandProfile {
  const b = BANDS[name];
  if (b === undefined) throw new Error(`unknown band "${name}" (known: ${Object.keys(BANDS).join(', ')})`);
  return b;
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

  constructor(readonly band: BandProfile, readonly windowMs: number = DUTY_WINDOW_MS) {
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
