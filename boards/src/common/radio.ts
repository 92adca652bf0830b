// Radio rules shared by the host drivers (host/src/modem) and the firmware-side modem drivers
// (boards/src/espruino/modem-e32.ts): LoRa time on air, the regulatory band profiles whose duty
// cycle a driver enforces, and a bounded duty-cycle budget for a device's few hundred bytes of RAM.
// Written to the Espruino subset (no Map, destructuring, default parameters, spread, hoisting).

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

/** Symbol time above which the SX127x needs low data rate optimisation (datasheet). */
const LDRO_SYMBOL_MS = 16;
/** Preamble symbols the modem adds to the programmed preamble length. */
const PREAMBLE_EXTRA_SYMBOLS = 4.25;
/** Symbols of the LoRa header/payload start that are always sent. */
const PAYLOAD_BASE_SYMBOLS = 8;
const MS_PER_S = 1000;

/**
 * LoRa time on air in ms for `payloadBytes` (AN1200.13):
 * T_sym = 2^SF / BW; T_preamble = (n_preamble + 4.25)·T_sym;
 * n_payload = 8 + max(ceil((8·PL − 4·SF + 28 + 16·CRC − 20·IH) / (4·(SF − 2·DE)))·(CR + 4), 0).
 */
export function loraTimeOnAirMs(p: LoraParams, payloadBytes: number): number {
  const tSym = (Math.pow(2, p.sf) / p.bwHz) * MS_PER_S;
  const de = (p.lowDataRate === undefined ? tSym > LDRO_SYMBOL_MS : p.lowDataRate) ? 1 : 0;
  const ih = p.implicitHeader ? 1 : 0;
  const crc = p.crc ? 1 : 0;
  const num = 8 * payloadBytes - 4 * p.sf + 28 + 16 * crc - 20 * ih;
  const nPayload = PAYLOAD_BASE_SYMBOLS + Math.max(Math.ceil(num / (4 * (p.sf - 2 * de))) * (p.cr + 4), 0);
  return (p.preamble + PREAMBLE_EXTRA_SYMBOLS) * tSym + nPayload * tSym;
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
export const DUTY_WINDOW_MS = 3600000;

/**
 * Band profiles by name (ERC Recommendation 70-03 annex 1 / EN 300 220). The limit of a regulated
 * band is fixed here, not a setting ("shall not be user dependent/adjustable"): a lab bench
 * without limit must name `lab` explicitly.
 */
export const BANDS: { readonly [name: string]: BandProfile } = {
  'eu868-g': {
    name: 'eu868-g',
    description: 'EU 868.0–868.6 MHz (ERC 70-03 h1.4): 1 % duty cycle, 25 mW',
    dutyCycle: 0.01,
    maxPowerDbm: 14,
  },
  'eu868-g2': {
    name: 'eu868-g2',
    description: 'EU 868.7–869.2 MHz (h1.5, wM-Bus T1/C1): 0.1 % duty cycle, 25 mW',
    dutyCycle: 0.001,
    maxPowerDbm: 14,
  },
  'eu868-g3': { name: 'eu868-g3', description: 'EU 869.4–869.65 MHz (h1.6): 10 % duty cycle, 500 mW', dutyCycle: 0.1, maxPowerDbm: 27 },
  eu433: { name: 'eu433', description: 'EU 433.05–434.79 MHz (h1.3): 10 mW, 10 % duty cycle', dutyCycle: 0.1, maxPowerDbm: 10 },
  lab: {
    name: 'lab',
    description: 'lab bench, shielded or cabled: no duty-cycle limit (chosen explicitly, never a default)',
    dutyCycle: 1,
  },
};

/** Looks a band up; throws a plain error naming the known bands. */
export function findBand(name: string): BandProfile {
  const b = BANDS[name];
  if (b === undefined) throw new Error('unknown band "' + name + '" (known: ' + Object.keys(BANDS).join(', ') + ')');
  return b;
}

/** Width of one bucket of MinuteBudget. */
export const BUDGET_BUCKET_MS = 60000;
/**
 * Buckets summed for a check: a one-hour window ending at the end of a transmission overlaps 61
 * minutes, and a transmission is booked in the minute it started, which may be the one before.
 */
const BUDGET_BUCKETS = 62;

/**
 * Duty-cycle budget in fixed memory (62 minute buckets) for firmware: airtime is booked in the
 * minute its transmission starts, and a transmission may start only if the airtime of every bucket
 * that can overlap the hour ending with it, plus its own, stays within the limit. That sum bounds
 * any one-hour window from above, so the budget can only be stricter than the exact sliding window
 * (host/src/modem/airtime.ts DutyCycleBudget), never looser (a token bucket would let 2× pass).
 */
export class MinuteBudget {
  readonly limitMs: number;
  private readonly sums = new Float64Array(BUDGET_BUCKETS);
  /** Minute number each bucket holds (−1: empty). */
  private readonly minute = new Float64Array(BUDGET_BUCKETS);

  constructor(readonly dutyCycle: number) {
    this.limitMs = dutyCycle * DUTY_WINDOW_MS;
    for (let i = 0; i < BUDGET_BUCKETS; i++) this.minute[i] = -1;
  }

  /** Airtime booked in the buckets that can overlap the hour ending at `endMs`. */
  usedBefore(endMs: number): number {
    const last = Math.floor(endMs / BUDGET_BUCKET_MS);
    let sum = 0;
    for (let i = 0; i < BUDGET_BUCKETS; i++) if (this.minute[i] > last - BUDGET_BUCKETS) sum += this.sums[i];
    return sum;
  }

  /** 0 when `airMs` may start at `nowMs`; else ms to wait before asking again; −1 never (longer than the limit). */
  waitMs(nowMs: number, airMs: number): number {
    if (this.dutyCycle >= 1) return 0;
    if (airMs > this.limitMs) return -1;
    if (this.usedBefore(nowMs + airMs) + airMs <= this.limitMs) return 0;
    // Something leaves the window at the next minute boundary at the earliest.
    return BUDGET_BUCKET_MS - (nowMs % BUDGET_BUCKET_MS);
  }

  /** Books a transmission of `airMs` starting at `nowMs` (the caller asked waitMs first). */
  record(nowMs: number, airMs: number): void {
    const m = Math.floor(nowMs / BUDGET_BUCKET_MS);
    const i = m % BUDGET_BUCKETS;
    if (this.minute[i] !== m) {
      this.minute[i] = m;
      this.sums[i] = 0;
    }
    this.sums[i] += airMs;
  }
}

/** A byte value as the read-back messages show it: 0x17. */
function hexByte(v: number): string {
  const h = v.toString(16);
  return '0x' + (h.length < 2 ? '0' + h : h);
}

/**
 * The one wording of a configuration read-back mismatch, for every driver (host and firmware), e.g.
 * "E32 on /dev/ttyUSB0 did not accept channel 0x17 (reads back 0x06)"; `got` undefined: no answer.
 */
export function readBackMessage(kind: string, name: string, what: string, want: number, got: number | undefined): string {
  return (
    kind +
    ' on ' +
    name +
    ' did not accept ' +
    what +
    ' ' +
    hexByte(want) +
    (got === undefined ? ' (no answer)' : ' (reads back ' + hexByte(got) + ')')
  );
}
