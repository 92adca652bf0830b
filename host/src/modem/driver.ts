/**
 * The modem layer's common part. A driver talks to one radio modem over a UART (`ByteLine`) and
 * its control pins (`ControlLines`: RTS/DTR/CTS on a USB adapter, GPIO on a board, or an emulator),
 * configures it from data at start and reads the configuration back, and sends packets no longer
 * than the modem's payload limit, never more airtime than its band's duty cycle allows:
 * a packet over budget waits (up to `maxWaitMs`) or is refused and counted — never sent.
 *
 * Drivers: transparent.ts (plain byte pipe), hc12.ts, ebyte.ts (E32/E22), xbee.ts (API mode 2),
 * packet.ts (generic packet radio). radio-port.ts puts any of them under the firmware's SerialPort.
 */
import { readBackMessage } from '@vakt/boards/common/radio';
import { DutyCycleBudget, type BandProfile } from './airtime.ts';

/** The modem's UART as bytes in and out (serialport, or an emulated modem). */
export interface ByteLine {
  write(data: Uint8Array): void;
  onData(cb: (chunk: Uint8Array) => void): void;
}

/**
 * The modem's control pins by logical name ('set', 'm0', 'm1', 'aux', 'reset'); the board profile
 * maps each name to a physical line (see modem-profile.ts).
 */
export interface ControlLines {
  set(pin: string, high: boolean): Promise<void>;
  /** A pin's level; synchronous where the lines allow it (an emulator, a board GPIO). */
  get(pin: string): boolean | Promise<boolean>;
}

/** Calls `then` with a pin level, at once when it is known synchronously. */
export function withLevel(v: boolean | Promise<boolean>, then: (high: boolean) => void): void {
  if (typeof v === 'boolean') then(v);
  else void v.then(then, () => then(false));
}

/** Time and timers: the wall clock on a host, a simulated scheduler in the emulator. */
export interface Timers {
  now(): number;
  after(ms: number, cb: () => void): unknown;
  cancel(handle: unknown): void;
  /** Resolves after `ms`. */
  sleep(ms: number): Promise<void>;
}

/** Real time. */
export const realTimers: Timers = {
  now: () => Date.now(),
  after: (ms, cb) => setTimeout(cb, ms),
  cancel: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/** Counters of one modem (monotonic). */
export interface ModemCounters {
  packetsSent: number;
  /** Payload bytes handed to the modem for the air. */
  bytesSent: number;
  /** Airtime of what was sent, ms. */
  airtimeMs: number;
  packetsReceived: number;
  bytesReceived: number;
  /** Packets refused: longer than the payload limit. */
  refusedOversize: number;
  /** Packets refused: the duty-cycle budget would not allow them within maxWaitMs. */
  refusedBudget: number;
  /** Packets refused: queue full. */
  refusedQueue: number;
  /** Packets that waited for budget before going out. */
  delayedBudget: number;
  /** Transmissions the modem reported as failed (TX status ≠ success). */
  txFailures: number;
}

/** Settings every driver takes. */
export interface DriverOptions {
  /** Name in messages, e.g. the device path "/dev/ttyUSB0". */
  name: string;
  band: BandProfile;
  timers?: Timers;
  /** Longest a packet may wait for budget or the modem before it is refused (default 60 s). */
  maxWaitMs?: number;
  /** Bound of the transmit queue in packets (default 64). */
  maxQueue?: number;
  log?: (line: string) => void;
  /**
   * Random delay 0..accessJitterMs before a packet that finds the modem idle (ALOHA access: meters
   * that close an interval at the same second must not all key up at once). Default 0.
   */
  accessJitterMs?: number;
  /** Source of the jitter (default Math.random; the emulator passes its seeded PRNG). */
  random?: () => number;
}

/** Why send() refused a packet. */
export type SendResult = 'queued' | 'oversize' | 'queue-full' | 'over-budget';

interface Pending {
  data: Uint8Array;
  since: number;
  delayed: boolean;
  notBefore: number;
  listenMs: number;
}

/** ms per byte on a UART at `baud`, 8N1 (10 bits a byte). */
export function uartByteMs(baud: number): number {
  return 10_000 / baud;
}

/** Margin for a module's own latency before it keys up, beyond its UART time and idle wait. */
export const START_MARGIN_MS = 10;

/**
 * Earliest and latest delay before a module keys up for `bytes` written to its UART at `baud`: the
 * bytes cross the UART, then the module may wait `idleBytes` idle byte times and START_MARGIN_MS.
 */
export function uartStartDelay(bytes: number, baud: number, idleBytes: number): [number, number] {
  const b = uartByteMs(baud);
  return [bytes * b, (bytes + idleBytes) * b + START_MARGIN_MS];
}

/** Poll period while waiting for a busy modem (AUX low, TX status outstanding). */
export const BUSY_POLL_MS = 5;

/** Base of every driver: the queue, the duty-cycle gate, counters and config read-back checks. */
export abstract class ModemDriver {
  abstract readonly kind: string;
  /** Largest payload of one packet; Infinity for a stream modem. */
  abstract readonly maxPayload: number;
  readonly stats: ModemCounters = {
    packetsSent: 0,
    bytesSent: 0,
    airtimeMs: 0,
    packetsReceived: 0,
    bytesReceived: 0,
    refusedOversize: 0,
    refusedBudget: 0,
    refusedQueue: 0,
    delayedBudget: 0,
    txFailures: 0,
  };
  readonly budget: DutyCycleBudget;
  readonly name: string;
  protected readonly timers: Timers;
  protected readonly log: (line: string) => void;
  private readonly maxWaitMs: number;
  private readonly maxQueue: number;
  private readonly jitterMs: number;
  private readonly random: () => number;
  private readonly queue: Pending[] = [];
  private readonly packetCbs: ((p: Uint8Array) => void)[] = [];
  private pumpTimer: unknown = null;
  /** End of the listening pause after the last packet sent, and that pause's length. */
  private quietUntil = 0;
  private listenMs = 0;
  private pumping = false;
  /** End of the last packet's airtime (default ready()). */
  private airBusyUntil = 0;
  protected started = false;

  constructor(o: DriverOptions) {
    this.name = o.name;
    this.budget = new DutyCycleBudget(o.band);
    this.timers = o.timers ?? realTimers;
    this.log = o.log ?? (() => undefined);
    this.maxWaitMs = o.maxWaitMs ?? 60_000;
    this.maxQueue = o.maxQueue ?? 64;
    this.jitterMs = o.accessJitterMs ?? 0;
    this.random = o.random ?? Math.random;
  }

  /**
   * Configures the modem and reads the configuration back; rejects with a plain error on a
   * mismatch. The default is for a fixed-function modem (nothing to configure): it only begins.
   */
  async start(): Promise<void> {
    this.begin();
  }

  /** The modem is configured: packets may go from now on (the end of every start()). */
  protected begin(): void {
    this.started = true;
    this.pump();
  }
  /** Airtime in ms of one packet of `len` payload bytes as this modem is configured. */
  abstract airtimeMs(len: number): number;
  /**
   * Earliest and latest delay from handing a packet of `len` bytes to the modem until it goes on
   * air (its UART time, and the module's idle-line wait plus a margin). Default: none.
   */
  protected startDelayMs(_len: number): [number, number] {
    return [0, 0];
  }

  /** Hands one packet to the modem (its UART framing). */
  protected abstract transmit(payload: Uint8Array): void;
  /**
   * True when the modem can take a packet now. Default: the previous packet's airtime is over
   * (onAir() marks it); drivers with a busy signal override it (AUX high, no TX status outstanding).
   */
  protected ready(): boolean {
    return this.timers.now() >= this.airBusyUntil;
  }

  /** Marks the radio busy for the airtime of a packet of `len` bytes handed to it now (see ready()). */
  protected onAir(len: number): void {
    this.airBusyUntil = this.timers.now() + this.airtimeMs(len);
  }

  /** Registers a receiver of whole packets (a stream modem: of chunks). */
  onPacket(cb: (p: Uint8Array) => void): void {
    this.packetCbs.push(cb);
  }

  /**
   * Queues one packet (copied); refusals are counted. `reply`: an answer to a packet just received
   * (a LINK_ACK), sent without access jitter — its sender is listening for it now. `listenMs`:
   * after this packet the modem stays quiet that long, so the receiver's answer finds the channel
   * free and this half-duplex radio listening.
   */
  send(payload: Uint8Array, reply = false, listenMs = 0): SendResult {
    if (payload.length > this.maxPayload || payload.length === 0) {
      this.stats.refusedOversize++;
      return 'oversize';
    }
    const now = this.timers.now();
    const d = this.budget.check(now, this.airtimeMs(payload.length));
    if (!d.ok && d.retryAtMs === Infinity) {
      this.stats.refusedBudget++;
      return 'over-budget';
    }
    if (this.queue.length >= this.maxQueue) {
      this.stats.refusedQueue++;
      return 'queue-full';
    }
    const notBefore = !reply && this.queue.length === 0 && this.jitterMs > 0 ? now + this.random() * this.jitterMs : 0;
    // The wait bound counts from when the packet may first go (its jitter is not waiting).
    this.queue.push({ data: payload.slice(), since: Math.max(now, notBefore), delayed: false, notBefore, listenMs });
    this.pump();
    return 'queued';
  }

  /** The driver's time (ms): the wall clock, or simulated time in the emulator. */
  now(): number {
    return this.timers.now();
  }

  /** Packets waiting to go out. */
  queued(): number {
    return this.queue.length;
  }

  /** Stops timers; queued packets stay counted in queued(). */
  stop(): void {
    if (this.pumpTimer !== null) this.timers.cancel(this.pumpTimer);
    this.pumpTimer = null;
    this.started = false;
  }

  /**
   * Delivers a received packet to the receivers (called by the driver's UART parser). A packet
   * that arrives during the listening pause after our last packet is (part of) its receiver's
   * answer — a LINK_ACK, then the command's response, each maybe in copies, back to back: the pause
   * is extended by another listening time, so we do not key up over the rest of that answer.
   */
  protected deliver(p: Uint8Array): void {
    const now = this.timers.now();
    if (now < this.quietUntil) this.quietUntil = Math.max(this.quietUntil, now + this.listenMs);
    this.stats.packetsReceived++;
    this.stats.bytesReceived += p.length;
    for (const cb of this.packetCbs) cb(p);
  }

  /** Sends what the budget and the modem allow; re-arms itself for what must wait. */
  protected pump(): void {
    if (this.pumping || !this.started) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0) {
        const now = this.timers.now();
        const head = this.queue[0]!;
        const wake = Math.max(head.notBefore, this.quietUntil);
        if (now < wake) {
          this.arm(wake - now);
          return;
        }
        if (!this.ready()) {
          if (now - head.since > this.maxWaitMs) this.refuseHead('modem busy');
          else {
            this.arm(BUSY_POLL_MS);
            return;
          }
          continue;
        }
        // The modem goes on air only after the bytes crossed its UART: budget the interval the
        // transmission can fall in, [now + earliest start, now + latest start + airtime].
        const [early, late] = this.startDelayMs(head.data.length);
        const air = this.airtimeMs(head.data.length);
        const d = this.budget.check(now + early, air + late - early);
        if (!d.ok) {
          if (d.retryAtMs - head.since > this.maxWaitMs) {
            this.refuseHead('over duty-cycle budget');
            continue;
          }
          if (!head.delayed) {
            head.delayed = true;
            this.stats.delayedBudget++;
          }
          this.arm(Math.max(1, d.retryAtMs - now));
          return;
        }
        this.queue.shift();
        // The next packet's wait bound starts now that it is at the head.
        if (this.queue.length > 0 && this.queue[0]!.since < now) this.queue[0]!.since = now;
        this.budget.record(now + early, air + late - early);
        this.stats.packetsSent++;
        this.stats.bytesSent += head.data.length;
        this.stats.airtimeMs += air;
        this.quietUntil = head.listenMs > 0 ? now + air + head.listenMs : 0;
        this.listenMs = head.listenMs;
        this.transmit(head.data);
      }
    } finally {
      this.pumping = false;
    }
  }

  private refuseHead(why: string): void {
    const p = this.queue.shift()!;
    if (this.queue.length > 0) this.queue[0]!.since = Math.max(this.queue[0]!.since, this.timers.now());
    this.stats.refusedBudget++;
    this.log(`${this.kind} on ${this.name}: packet of ${p.data.length} bytes refused (${why})`);
  }

  private arm(ms: number): void {
    if (this.pumpTimer !== null) return;
    this.pumpTimer = this.timers.after(ms, () => {
      this.pumpTimer = null;
      this.pump();
    });
  }

  /** Throws the read-back mismatch error in the one wording every driver uses. */
  protected mismatch(what: string, want: number, got: number | undefined): never {
    throw new Error(readBackMessage(this.kind, this.name, what, want, got));
  }
}

/**
 * Collects UART bytes during configuration and waits for an answer with a bounded timeout
 * (a modem that does not answer is an error naming the modem, never a hang).
 */
export class ConfigReader {
  private buf: number[] = [];
  private waiter: (() => void) | null = null;

  push(chunk: Uint8Array): void {
    for (const b of chunk) this.buf.push(b);
    this.waiter?.();
  }

  clear(): void {
    this.buf = [];
  }

  /** Bytes received since clear(). */
  bytes(): Uint8Array {
    return Uint8Array.from(this.buf);
  }

  /** Waits until `done(bytes)` holds or `timeoutMs` passed; resolves with the bytes either way. */
  async until(done: (b: Uint8Array) => boolean, timeoutMs: number, timers: Timers): Promise<Uint8Array> {
    if (done(this.bytes())) return this.bytes();
    await new Promise<void>((resolve) => {
      const h = timers.after(timeoutMs, () => {
        this.waiter = null;
        resolve();
      });
      this.waiter = () => {
        if (!done(this.bytes())) return;
        this.waiter = null;
        timers.cancel(h);
        resolve();
      };
    });
    return this.bytes();
  }
}
