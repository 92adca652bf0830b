/**
 * One serial radio modem (a `serialport` device) with the guarantees the bridge needs:
 * - writes go out one queued frame at a time, so the port's write callback acknowledges exactly one
 *   frame and we always know what was not acknowledged;
 * - a write watchdog: on PTYs under full-duplex load a serialport write sometimes never completes
 *   (measured: 9 of 21 runs of a 10 MB test), so a write that does not complete in `watchdogMs` is a
 *   stall → the port is closed, reopened with backoff, and the unacknowledged frame is sent again
 *   after a lone 0x00 delimiter (which terminates any fragment the stalled write left on the line,
 *   so the receiver's deframer drops it as noise instead of gluing it to the resent frame);
 * - a write callback only means "handed to the kernel": closing a PTY discards what the far side
 *   had not read yet (measured: the last ~3 acknowledged 4 KB frames were lost), so the frames
 *   written within the last `resendWindowBytes` are resent too after a reopen. The receiver's
 *   link-layer replay check drops the duplicates; end-to-end delivery is still confirmed by
 *   LINK_ACK in the firmware's store-and-forward queue;
 * - an `error` handler is always attached (closing a port with a pending write emits `Canceled`);
 * - the queue is bounded; a frame that does not fit is refused (send() returns false, counted),
 *   never dropped silently.
 * Implements the board `SerialPort` interface (write/onData) so firmware apps can use it directly.
 */
import { SerialPort } from 'serialport';
import { FrameCutter } from './frame-cutter.ts';

/** COBS frame delimiter (PROTOCOL.md §9). */
const DELIMITER = 0x00;
/** A lone delimiter written after every reopen. */
const RESYNC = new Uint8Array([DELIMITER]);

/** Settings of a modem port. */
export interface ModemOptions {
  path: string;
  /** Line speed; PTYs ignore it. */
  baudRate?: number;
  /** A write not completed within this many ms is a stall (default 2000). */
  watchdogMs?: number;
  /** Bound of the outgoing queue in bytes (default 1 MiB). */
  maxQueueBytes?: number;
  /** Recently written bytes resent after a reopen, as they may still have been in the line's buffers (default 128 KiB). */
  resendWindowBytes?: number;
  /** First and largest delay between reopen attempts (default 50 ms and 5 s). */
  reopenMinMs?: number;
  reopenMaxMs?: number;
  /** Receives one line per notable event (stall, reopen, error); default: silent. */
  log?: (msg: string) => void;
}

/** Counters of a modem port (monotonic except the queue figures). */
export interface ModemStats {
  framesWritten: number;
  bytesWritten: number;
  bytesRead: number;
  stalls: number;
  reopens: number;
  resent: number;
  refused: number;
  errors: number;
  queuedFrames: number;
  queuedBytes: number;
}

type State = 'closed' | 'open' | 'reopening' | 'closing';

/** A serial modem with write watchdog, reopen and resend of unacknowledged frames. */
export class ModemPort {
  readonly path: string;
  readonly stats: ModemStats = {
    framesWritten: 0,
    bytesWritten: 0,
    bytesRead: 0,
    stalls: 0,
    reopens: 0,
    resent: 0,
    refused: 0,
    errors: 0,
    queuedFrames: 0,
    queuedBytes: 0,
  };
  private readonly baudRate: number;
  private readonly watchdogMs: number;
  private readonly maxQueueBytes: number;
  private readonly resendWindowBytes: number;
  /** Frames written most recently (oldest first), at most resendWindowBytes in total. */
  private window: Uint8Array[] = [];
  private windowBytes = 0;
  private readonly reopenMinMs: number;
  private readonly reopenMaxMs: number;
  private readonly log: (msg: string) => void;
  private port: SerialPort | null = null;
  private state: State = 'closed';
  private readonly queue: Uint8Array[] = [];
  private inFlight = false;
  /** Incremented whenever an in-flight write is abandoned, so its late callback is ignored. */
  private writeGen = 0;
  private watchdog: ReturnType<typeof setTimeout> | null = null;
  private reopenTimer: ReturnType<typeof setTimeout> | null = null;
  private reopenDelay: number;
  private readonly dataCbs: ((chunk: Uint8Array) => void)[] = [];
  private drainWaiters: (() => void)[] = [];
  /** Bytes given to write() after the last delimiter (an incomplete frame). */
  private readonly cutter = new FrameCutter();

  constructor(opts: ModemOptions) {
    this.path = opts.path;
    this.baudRate = opts.baudRate ?? 115200;
    this.watchdogMs = opts.watchdogMs ?? 2000;
    this.maxQueueBytes = opts.maxQueueBytes ?? 1 << 20;
    this.resendWindowBytes = opts.resendWindowBytes ?? 128 << 10;
    this.reopenMinMs = opts.reopenMinMs ?? 50;
    this.reopenMaxMs = opts.reopenMaxMs ?? 5000;
    this.reopenDelay = this.reopenMinMs;
    this.log = opts.log ?? (() => undefined);
  }

  /** Opens the device; rejects with a one-line message naming the path if it cannot be opened. */
  async open(): Promise<void> {
    if (this.state !== 'closed') throw new Error(`modem ${this.path} is already open`);
    this.state = 'reopening';
    try {
      this.port = await this.openDevice();
    } catch (e) {
      this.state = 'closed';
      throw new Error(`cannot open serial port ${this.path}: ${(e as Error).message}`);
    }
    this.state = 'open';
    this.pump();
  }

  /** True while the port is open or being reopened (i.e. until close()). */
  get isActive(): boolean {
    return this.state === 'open' || this.state === 'reopening';
  }

  /** Registers a receiver of raw bytes from the line (board SerialPort interface). */
  onData(cb: (chunk: Uint8Array) => void): void {
    this.dataCbs.push(cb);
  }

  /**
   * Queues one complete wire frame (COBS bytes ending with 0x00). Returns false — and counts the
   * frame as refused — when the bounded queue cannot take it; the caller still owns it then.
   */
  send(frame: Uint8Array): boolean {
    if (this.state === 'closed' || this.state === 'closing' || this.stats.queuedBytes + frame.length > this.maxQueueBytes) {
      this.stats.refused++;
      return false;
    }
    this.queue.push(frame.slice());
    this.stats.queuedFrames++;
    this.stats.queuedBytes += frame.length;
    this.pump();
    return true;
  }

  /**
   * Board SerialPort interface: accepts a byte stream, cuts it into frames at each 0x00 and queues
   * each complete frame; a frame the queue refuses is logged and counted in `stats.refused`.
   */
  write(data: Uint8Array): void {
    this.cutter.push(data, (frame) => {
      if (!this.send(frame)) this.log(`modem ${this.path}: queue full, frame of ${frame.length} bytes refused`);
    });
  }

  /** Resolves when every queued frame has been acknowledged by the port (or the port is closed). */
  drained(): Promise<void> {
    if (this.queue.length === 0 || !this.isActive) return Promise.resolve();
    return new Promise((r) => this.drainWaiters.push(r));
  }

  /** Closes the port; frames still queued stay counted in stats.queuedFrames (not sent). */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closing';
    this.writeGen++;
    this.inFlight = false;
    this.clearTimers();
    const p = this.port;
    this.port = null;
    if (p !== null) await closeQuietly(p);
    this.state = 'closed';
    this.wakeDrainWaiters();
  }

  private openDevice(): Promise<SerialPort> {
    return new Promise((resolve, reject) => {
      const p = new SerialPort({ path: this.path, baudRate: this.baudRate, autoOpen: false });
      // Attached before anything can fail: an unhandled 'error' (e.g. Canceled) would crash Node.
      p.on('error', (e: Error) => this.onPortError(p, e));
      p.on('data', (d: Buffer) => this.onPortData(p, d));
      p.on('close', () => this.onPortClose(p));
      p.open((err) => (err ? reject(err) : resolve(p)));
    });
  }

  private onPortData(p: SerialPort, d: Buffer): void {
    if (p !== this.port) return;
    this.stats.bytesRead += d.length;
    const chunk = new Uint8Array(d.buffer, d.byteOffset, d.length);
    for (const cb of this.dataCbs) {
      try {
        cb(chunk);
      } catch (e) {
        // A receiver's bug must not take the line down; count it and keep reading.
        this.stats.errors++;
        this.log(`modem ${this.path}: data handler threw: ${(e as Error).message}`);
      }
    }
  }

  private onPortError(p: SerialPort, e: Error): void {
    this.stats.errors++;
    // Canceled is the expected echo of closing a port with a pending write (our own reopen/close).
    if (p === this.port || !/Canceled/i.test(e.message)) this.log(`modem ${this.path}: ${e.message}`);
  }

  private onPortClose(p: SerialPort): void {
    if (p === this.port && this.state === 'open') this.reopen('port closed unexpectedly');
  }

  private pump(): void {
    if (this.state !== 'open' || this.inFlight || this.queue.length === 0 || this.port === null) return;
    const frame = this.queue[0]!;
    const gen = ++this.writeGen;
    this.inFlight = true;
    this.armWatchdog(gen);
    try {
      this.port.write(Buffer.from(frame.buffer, frame.byteOffset, frame.length), (err) => this.onWritten(gen, err ?? null));
    } catch (e) {
      this.onWritten(gen, e as Error);
    }
  }

  private onWritten(gen: number, err: Error | null): void {
    if (gen !== this.writeGen) return; // a write we already gave up on (its Canceled callback)
    this.clearWatchdog();
    this.inFlight = false;
    if (err !== null) {
      this.stats.errors++;
      this.reopen(`write failed: ${err.message}`);
      return;
    }
    const frame = this.queue.shift()!;
    if (frame !== RESYNC) {
      this.stats.framesWritten++;
      this.stats.bytesWritten += frame.length;
      this.stats.queuedFrames--;
      this.stats.queuedBytes -= frame.length;
      this.window.push(frame);
      this.windowBytes += frame.length;
      while (this.windowBytes > this.resendWindowBytes && this.window.length > 1) this.windowBytes -= this.window.shift()!.length;
    }
    this.reopenDelay = this.reopenMinMs;
    if (this.queue.length === 0) this.wakeDrainWaiters();
    this.pump();
  }

  /**
   * Arms the stall timer. A busy event loop delays the write callback as much as the timer, so a
   * timer that fires late (the loop was blocked) is re-armed instead of declaring a stall, and the
   * decision waits one setImmediate so that I/O completions queued behind the timer run first.
   */
  private armWatchdog(gen: number): void {
    const due = Date.now() + this.watchdogMs;
    this.watchdog = setTimeout(() => {
      this.watchdog = null;
      if (gen !== this.writeGen) return;
      if (Date.now() - due > this.watchdogMs / 2) {
        this.armWatchdog(gen); // we were not running: the port had no fair chance to complete
        return;
      }
      setImmediate(() => this.onWatchdog(gen));
    }, this.watchdogMs);
  }

  private onWatchdog(gen: number): void {
    if (gen !== this.writeGen || this.state !== 'open') return;
    this.stats.stalls++;
    this.reopen(`write stalled for ${this.watchdogMs} ms`);
  }

  private reopen(reason: string): void {
    if (this.state !== 'open') return;
    this.log(`modem ${this.path}: ${reason}; reopening`);
    this.state = 'reopening';
    this.writeGen++;
    this.inFlight = false;
    this.clearWatchdog();
    const old = this.port;
    this.port = null;
    const attempt = (): void => {
      this.reopenTimer = null;
      if (this.state !== 'reopening') return;
      this.openDevice().then(
        (p) => {
          if (this.state !== 'reopening') {
            void closeQuietly(p);
            return;
          }
          this.port = p;
          this.state = 'open';
          this.stats.reopens++;
          // The unacknowledged frame is still at the head of the queue; the recent window goes
          // before it, behind one delimiter that cuts off whatever fragment the old port left.
          if (this.queue[0] === RESYNC) this.queue.shift();
          const unacked = this.queue.length;
          const recent = this.window;
          this.window = [];
          for (const f of recent) {
            this.stats.queuedFrames++;
            this.stats.queuedBytes += f.length;
          }
          this.stats.resent += recent.length + (unacked > 0 ? 1 : 0);
          this.queue.unshift(RESYNC, ...recent);
          this.windowBytes = 0;
          this.log(`modem ${this.path}: reopened; resending ${recent.length} recent and ${unacked} unacknowledged frame(s)`);
          this.pump();
        },
        (e: Error) => {
          this.stats.errors++;
          this.reopenDelay = Math.min(this.reopenDelay * 2, this.reopenMaxMs);
          this.log(`modem ${this.path}: reopen failed (${e.message}); retrying in ${this.reopenDelay} ms`);
          this.reopenTimer = setTimeout(attempt, this.reopenDelay);
        },
      );
    };
    const closing = old !== null ? closeQuietly(old) : Promise.resolve();
    void closing.then(() => {
      if (this.state === 'reopening') this.reopenTimer = setTimeout(attempt, this.reopenDelay);
    });
  }

  private clearWatchdog(): void {
    if (this.watchdog !== null) clearTimeout(this.watchdog);
    this.watchdog = null;
  }

  private clearTimers(): void {
    this.clearWatchdog();
    if (this.reopenTimer !== null) clearTimeout(this.reopenTimer);
    this.reopenTimer = null;
  }

  private wakeDrainWaiters(): void {
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const r of w) r();
  }
}

/** Closes a serialport, swallowing the errors closing a half-dead port can raise (they are counted by its error handler). */
function closeQuietly(p: SerialPort): Promise<void> {
  return new Promise((resolve) => {
    if (!p.isOpen) {
      resolve();
      return;
    }
    try {
      p.close(() => resolve());
    } catch {
      resolve();
    }
  });
}
