/**
 * The concentrator's TCP connection to the HES (INTERFACES.md: the byte stream carries the serial
 * framing of PROTOCOL.md §9, one link frame per COBS frame). Guarantees:
 * - reconnects forever with exponential backoff and jitter until close();
 * - a bounded queue: while disconnected, frames wait; a frame that does not fit is refused
 *   (send() returns false, counted in stats.refused), never dropped silently;
 * - a socket write callback only means "in the kernel": frames written within the last
 *   `resendWindowBytes` before a connection broke are sent again after reconnecting, behind a lone
 *   0x00 that cuts off any half-sent frame. The HES's replay check drops the duplicates, and the
 *   firmware's LINK_ACK store-and-forward confirms delivery end to end (which is why the
 *   concentrator runs it with `resendWindowBytes: 0`: the firmware retransmits, and a duplicate
 *   would be audited by the HES as a replay; frames still queued or not yet taken by the kernel
 *   are always sent after reconnecting).
 * - failover: with several HES addresses (nodes of one HES on a shared store, docs/HOST.md
 *   "Several HES nodes"), a lost connection or a failed connect moves to the next address at once;
 *   the backoff grows only when a whole round of addresses failed. The concentrator's hello on the
 *   new connection makes its store-and-forward queue resend every frame not yet LINK_ACKed, so what
 *   the dead node took but never acknowledged reaches the next node (stored once: the store's replay
 *   counters and reading keys are shared by all nodes).
 * Implements the board SerialPort interface (write/onData) so the firmware concentrator app can use
 * it as its uplink port.
 */
import { connect, type Socket } from 'node:net';
import { FrameCutter } from './frame-cutter.ts';

const DELIMITER = 0x00;
const RESYNC = new Uint8Array([DELIMITER]);
/** Backoff jitter: each delay is scaled by a random factor in [1 − J, 1 + J] so concentrators do not reconnect in lockstep. */
const JITTER = 0.2;

/** One HES address. */
export interface HesAddress {
  host: string;
  port: number;
}

/** Settings of the HES link: `host`/`port`, or `addresses` (tried in order, round robin). */
export interface HesLinkOptions {
  host?: string;
  port?: number;
  addresses?: HesAddress[];
  minBackoffMs?: number;
  maxBackoffMs?: number;
  connectTimeoutMs?: number;
  maxQueueBytes?: number;
  resendWindowBytes?: number;
  log?: (msg: string) => void;
}

/** Counters of the HES link. */
export interface HesLinkStats {
  connects: number;
  connectFailures: number;
  disconnects: number;
  framesSent: number;
  bytesSent: number;
  bytesRead: number;
  resent: number;
  refused: number;
  queuedFrames: number;
  queuedBytes: number;
  /** Moves to another HES address after a lost connection or a failed connect (only with several addresses). */
  failovers: number;
}

/** A reconnecting, bounded, resend-on-reconnect TCP link to the HES. */
export class HesLink {
  readonly stats: HesLinkStats = {
    connects: 0,
    connectFailures: 0,
    disconnects: 0,
    framesSent: 0,
    bytesSent: 0,
    bytesRead: 0,
    resent: 0,
    refused: 0,
    queuedFrames: 0,
    queuedBytes: 0,
    failovers: 0,
  };
  private readonly opts: Required<Omit<HesLinkOptions, 'log' | 'host' | 'port' | 'addresses'>> & { log: (m: string) => void };
  private readonly addresses: HesAddress[];
  /** Index into addresses of the current (or next) connection. */
  private current = 0;
  /** Consecutive failed connects since the last successful one (a full round grows the backoff). */
  private failedInRound = 0;
  private socket: Socket | null = null;
  private connected = false;
  private closed = false;
  private started = false;
  private backoff: number;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** Frames not yet handed to a socket (oldest first). */
  private queue: Uint8Array[] = [];
  /** Frames handed to the current socket, oldest first, kept while they are within the resend window. */
  private recent: Uint8Array[] = [];
  private recentBytes = 0;
  /** Frames written but whose callback has not fired (they are in `recent` too). */
  private unacked = 0;
  private blocked = false;
  private readonly dataCbs: ((chunk: Uint8Array) => void)[] = [];
  private readonly connectCbs: (() => void)[] = [];
  private drainWaiters: (() => void)[] = [];
  private readonly cutter = new FrameCutter();

  constructor(opts: HesLinkOptions) {
    const addrs = opts.addresses ?? (opts.host !== undefined && opts.port !== undefined ? [{ host: opts.host, port: opts.port }] : []);
    if (addrs.length === 0) throw new TypeError('HesLink needs host and port, or at least one address');
    this.addresses = addrs.map((a) => ({ host: a.host, port: a.port }));
    this.opts = {
      minBackoffMs: opts.minBackoffMs ?? 100,
      maxBackoffMs: opts.maxBackoffMs ?? 5000,
      connectTimeoutMs: opts.connectTimeoutMs ?? 5000,
      maxQueueBytes: opts.maxQueueBytes ?? 1 << 20,
      resendWindowBytes: opts.resendWindowBytes ?? 256 << 10,
      log: opts.log ?? (() => undefined),
    };
    this.backoff = this.opts.minBackoffMs;
  }

  /** Starts connecting (and reconnecting) in the background; returns at once. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.dial();
  }

  /** The address of the current connection (or of the next attempt). */
  get address(): HesAddress {
    return this.addresses[this.current]!;
  }

  /** True while a TCP connection to the HES is up. */
  get isConnected(): boolean {
    return this.connected;
  }

  /** Registers a receiver of raw bytes from the HES. */
  onData(cb: (chunk: Uint8Array) => void): void {
    this.dataCbs.push(cb);
  }

  /** Registers a callback run after every successful (re)connection. */
  onConnect(cb: () => void): void {
    this.connectCbs.push(cb);
  }

  /** Queues one complete wire frame (ending with 0x00); false (counted) when the bounded queue is full or the link is closed. */
  send(frame: Uint8Array): boolean {
    if (this.closed || this.stats.queuedBytes + frame.length > this.opts.maxQueueBytes) {
      this.stats.refused++;
      return false;
    }
    this.queue.push(frame.slice());
    this.stats.queuedFrames++;
    this.stats.queuedBytes += frame.length;
    this.flush();
    return true;
  }

  /** Board SerialPort interface: cuts the byte stream into frames at 0x00 and queues each (refusals are logged and counted). */
  write(data: Uint8Array): void {
    this.cutter.push(data, (frame) => {
      if (!this.send(frame)) this.opts.log(`hes link: queue full, frame of ${frame.length} bytes refused`);
    });
  }

  /** Resolves when every queued frame has been written to a connected socket and acknowledged by its callback. */
  drained(): Promise<void> {
    if ((this.queue.length === 0 && this.unacked === 0) || this.closed) return Promise.resolve();
    return new Promise((r) => this.drainWaiters.push(r));
  }

  /** Stops reconnecting and closes the socket; unsent frames stay counted in stats.queuedFrames. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const s = this.socket;
    this.socket = null;
    this.connected = false;
    if (s !== null) {
      await new Promise<void>((r) => {
        s.once('close', () => r());
        s.end();
        setTimeout(() => {
          s.destroy();
          r();
        }, 500).unref();
      });
    }
    this.wakeDrainWaiters();
  }

  private dial(): void {
    this.timer = null;
    if (this.closed) return;
    const addr = this.addresses[this.current]!;
    const s = connect({ host: addr.host, port: addr.port });
    this.socket = s;
    s.setNoDelay(true);
    s.setTimeout(this.opts.connectTimeoutMs);
    let wasConnected = false;
    s.on('timeout', () => {
      if (!wasConnected) s.destroy(new Error('connect timed out'));
    });
    s.on('connect', () => {
      wasConnected = true;
      s.setTimeout(0);
      this.connected = true;
      this.stats.connects++;
      this.backoff = this.opts.minBackoffMs;
      this.failedInRound = 0;
      this.opts.log(`hes link: connected to ${addr.host}:${addr.port}`);
      for (const cb of this.connectCbs) cb();
      this.flush();
    });
    s.on('data', (d: Buffer) => {
      this.stats.bytesRead += d.length;
      const chunk = new Uint8Array(d.buffer, d.byteOffset, d.length);
      for (const cb of this.dataCbs) {
        try {
          cb(chunk);
        } catch (e) {
          this.opts.log(`hes link: data handler threw: ${(e as Error).message}`);
        }
      }
    });
    s.on('drain', () => {
      this.blocked = false;
      this.flush();
    });
    // Always handled: ECONNREFUSED, ECONNRESET, EPIPE are normal events on a long-lived link.
    s.on('error', (e: Error) => {
      if (!wasConnected) this.stats.connectFailures++;
      this.opts.log(`hes link: ${e.message}`);
    });
    s.on('close', () => {
      if (this.socket !== s) return;
      this.socket = null;
      this.blocked = false;
      if (wasConnected) {
        this.connected = false;
        this.stats.disconnects++;
        this.requeueRecent();
      }
      if (this.closed) return;
      const what = `${wasConnected ? 'connection lost' : 'cannot connect'} (${addr.host}:${addr.port})`;
      if (!wasConnected) this.failedInRound++;
      if (this.addresses.length > 1) {
        // The node may be dead: the next address at once, backoff only after a whole failed round.
        this.current = (this.current + 1) % this.addresses.length;
        this.stats.failovers++;
        if (this.failedInRound < this.addresses.length) {
          const next = this.addresses[this.current]!;
          this.opts.log(`hes link: ${what}; trying ${next.host}:${next.port}`);
          this.timer = setTimeout(() => this.dial(), this.opts.minBackoffMs);
          return;
        }
        this.failedInRound = 0;
      }
      const delay = Math.round(this.backoff * (1 - JITTER + 2 * JITTER * Math.random()));
      this.backoff = Math.min(this.backoff * 2, this.opts.maxBackoffMs);
      this.opts.log(`hes link: ${what}; retrying in ${delay} ms`);
      this.timer = setTimeout(() => this.dial(), delay);
    });
  }

  /** Puts the frames of a broken connection back at the head of the queue (behind a resync delimiter). */
  private requeueRecent(): void {
    const back = this.recent;
    this.recent = [];
    this.recentBytes = 0;
    this.unacked = 0;
    if (back.length === 0) return;
    for (const f of back) {
      this.stats.queuedFrames++;
      this.stats.queuedBytes += f.length;
    }
    this.stats.resent += back.length;
    this.queue = [RESYNC, ...back, ...this.queue];
  }

  private flush(): void {
    const s = this.socket;
    if (s === null || !this.connected || this.blocked) return;
    while (this.queue.length > 0) {
      const f = this.queue.shift()!;
      if (f !== RESYNC) {
        this.stats.queuedFrames--;
        this.stats.queuedBytes -= f.length;
        this.recent.push(f);
        this.recentBytes += f.length;
        this.unacked++;
      }
      const ok = s.write(f, (err) => {
        if (this.socket !== s) return; // connection already replaced: requeueRecent took care of it
        if (f === RESYNC) return;
        // Not taken by the kernel (EPIPE, reset): the frame stays unacknowledged in `recent`, so the
        // broken connection's close puts it back in the queue for the next one.
        if (err !== null && err !== undefined) return;
        this.unacked = Math.max(0, this.unacked - 1);
        this.stats.framesSent++;
        this.stats.bytesSent += f.length;
        this.trimRecent();
        if (this.queue.length === 0 && this.unacked === 0) this.wakeDrainWaiters();
      });
      if (!ok) {
        this.blocked = true;
        return;
      }
    }
  }

  /** Keeps only the acknowledged frames that fit the resend window (unacknowledged ones always stay). */
  private trimRecent(): void {
    const acked = this.recent.length - this.unacked;
    let drop = 0;
    let bytes = this.recentBytes;
    while (drop < acked && bytes > this.opts.resendWindowBytes) {
      bytes -= this.recent[drop]!.length;
      drop++;
    }
    if (drop > 0) {
      this.recent.splice(0, drop);
      this.recentBytes = bytes;
    }
  }

  private wakeDrainWaiters(): void {
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const r of w) r();
  }
}
