// TCP front end of the HES (INTERFACES.md "Concentrator ↔ HES transport"): each connection carries
// COBS + CRC-16 framed link frames (PROTOCOL.md §9). Frames that arrive together are ingested as one
// batch (one transaction); downlink is pumped after every batch and on a timer.
//
// Identification: a connection is bound to a concentrator by the first link frame on it that
// verifies under that concentrator's link key with a fresh counter (the concentrator announces
// itself with LINK_ACK [0] when its link comes up, PROTOCOL.md §7). Nothing at all is sent on a
// connection before it is bound, so a stranger who connects first receives no downlink. A later
// connection that authenticates as an already-bound concentrator replaces the earlier one, which is
// closed: the concentrator reconnected, and its downlink follows the newest proof of its key.
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { encodeSerialFrame, MAX_LINK_FRAME, SerialDeframer, serialEncodedMaxLen } from '@vakt/shared';
import type { Hes, IngestResult } from './hes.ts';
import { RefusalSummary } from './refusals.ts';

/** How often due downlink (retries, expiries, ACTIVATE) is pumped without traffic. */
export const PUMP_INTERVAL_MS = 1000;
/** Frames buffered per connection before a batch is forced (bounds memory per connection). */
export const MAX_PENDING_FRAMES = 1000;
/** Connections that have not yet authenticated, at most; one more closes the oldest of them. */
export const DEFAULT_MAX_UNAUTHENTICATED = 32;
/** A connection must authenticate (its first authentic link frame) within this time. */
export const DEFAULT_AUTH_TIMEOUT_MS = 10_000;
/** An authenticated connection silent for this long is closed (the concentrator reconnects). */
export const DEFAULT_IDLE_TIMEOUT_MS = 15 * 60_000;

interface Conn {
  n: number;
  socket: Socket;
  deframer: SerialDeframer;
  frames: Uint8Array[];
  conc: string | null;
  peer: string;
  openedMs: number;
  busy: boolean;
}

export interface HesServerOptions {
  host?: string;
  port?: number;
  nowMs?: () => number;
  onResult?: (r: IngestResult, conn: number) => void;
  log?: (line: string) => void;
  /** Unauthenticated connections kept at once (default DEFAULT_MAX_UNAUTHENTICATED). */
  maxUnauthenticated?: number;
  /** Time a connection has to authenticate (default DEFAULT_AUTH_TIMEOUT_MS). */
  authTimeoutMs?: number;
  /** Idle time after which an authenticated connection is closed (default DEFAULT_IDLE_TIMEOUT_MS). */
  idleTimeoutMs?: number;
  /** Least time between two audit summaries of unauthenticated refusals (default refusals.ts). */
  summaryIntervalMs?: number;
}

/** The HES TCP server; ingest and downlink go through the Hes library only. */
export class HesServer {
  readonly server: Server;
  port = 0;
  /** Outcome counts: ingest kinds ('reading', …) and error names ('ERR_TAG', …). */
  readonly counts = new Map<string, number>();
  private readonly conns = new Map<number, Conn>();
  private nextConn = 1;
  private timer: NodeJS.Timeout | null = null;
  private readonly out = new Uint8Array(serialEncodedMaxLen(MAX_LINK_FRAME));
  private readonly now: () => number;
  /** Refusals of frames from connections that never authenticated: audited as summaries. */
  readonly refusals: RefusalSummary;
  /** Connections closed by the limits: evicted (too many unauthenticated), timed out. */
  evicted = 0;
  timedOut = 0;

  constructor(
    private readonly hes: Hes,
    private readonly o: HesServerOptions = {},
  ) {
    this.now = o.nowMs ?? Date.now;
    this.refusals = new RefusalSummary(hes.audit, o.summaryIntervalMs);
    this.server = createServer((s) => this.accept(s));
  }

  /** Starts listening (port 0 = ephemeral) and the downlink timer; resolves with the port. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.o.port ?? 0, this.o.host ?? '127.0.0.1', () => {
        this.port = (this.server.address() as AddressInfo).port;
        this.timer = setInterval(() => void this.pump(), PUMP_INTERVAL_MS);
        this.timer.unref();
        resolve(this.port);
      });
    });
  }

  /** Concentrator ids with an identified connection. */
  connected(): string[] {
    return [...this.conns.values()].map((c) => c.conc).filter((c): c is string => c !== null);
  }

  /** Sends every bound connection its due downlink now (unbound connections get nothing). */
  async pump(): Promise<void> {
    const now = this.now();
    await this.flushRefusals(now);
    for (const c of [...this.conns.values()]) await this.pumpOne(c, now);
  }

  private async pumpOne(c: Conn, now: number): Promise<void> {
    if (c.conc === null) return;
    try {
      this.write(c, await this.hes.nextDownlink(c.conc, now));
    } catch (e) {
      this.o.log?.(`downlink for connection ${c.n} failed: ${(e as Error).message}`);
    }
  }

  private async flushRefusals(now: number, force = false): Promise<void> {
    try {
      await this.refusals.flush(now, force);
    } catch (e) {
      this.o.log?.(`audit of refusals failed: ${(e as Error).message}`);
    }
  }

  /** Stops the timer, closes every connection and the listener; waits for batches in flight. */
  async close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    for (const c of this.conns.values()) c.socket.destroy();
    await Promise.all([...this.inFlight]);
    await this.flushRefusals(this.now(), true);
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** Batches being ingested (close() waits for them). */
  private readonly inFlight = new Set<Promise<void>>();

  private accept(socket: Socket): void {
    const n = this.nextConn++;
    const c: Conn = {
      n,
      socket,
      frames: [],
      deframer: new SerialDeframer(MAX_LINK_FRAME, (buf, off, len) => c.frames.push(buf.slice(off, off + len))),
      conc: null,
      peer: `${socket.remoteAddress ?? '?'}`,
      openedMs: this.now(),
      busy: false,
    };
    this.evictUnauthenticated();
    this.conns.set(n, c);
    // Until it authenticates a connection has authTimeoutMs; afterwards idleTimeoutMs of silence.
    socket.setTimeout(this.o.authTimeoutMs ?? DEFAULT_AUTH_TIMEOUT_MS);
    socket.on('timeout', () => {
      this.timedOut++;
      this.o.log?.(`connection ${n} closed: ${c.conc === null ? 'did not authenticate in time' : 'idle'}`);
      socket.destroy();
    });
    this.o.log?.(`connection ${n} from ${socket.remoteAddress}:${socket.remotePort}`);
    socket.setNoDelay(true);
    socket.on('error', () => undefined); // followed by 'close'
    socket.on('close', () => {
      this.conns.delete(n);
      this.o.log?.(`connection ${n} closed${c.conc !== null ? ` (concentrator ${c.conc})` : ''}`);
    });
    socket.on('data', (d: Buffer) => {
      for (let off = 0; off < d.length;) {
        // Push in slices; a connection with a full pending batch is paused until it is ingested.
        const step = Math.min(d.length - off, 4096);
        c.deframer.push(d, off, step);
        off += step;
      }
      if (c.frames.length >= MAX_PENDING_FRAMES) socket.pause();
      this.drain(c);
    });
  }

  /**
   * Ingests a connection's pending frames, one batch at a time (frames arriving meanwhile make the
   * next batch), then pumps its downlink; a paused connection resumes once its frames are taken.
   */
  private drain(c: Conn): void {
    if (c.busy) return;
    c.busy = true;
    // `let` and a separate assignment on purpose: the async body can reach its `finally` before its
    // first await (no frames), i.e. before `run` is assigned; a const would be in its dead zone there.
    let run: Promise<void> | undefined;
    // eslint-disable-next-line prefer-const
    run = (async () => {
      try {
        while (c.frames.length > 0) {
          await this.ingest(c, c.frames.splice(0, MAX_PENDING_FRAMES));
          if (c.socket.isPaused() && c.frames.length < MAX_PENDING_FRAMES) c.socket.resume();
          await this.pumpOne(c, this.now());
        }
      } catch (e) {
        this.o.log?.(`connection ${c.n}: ${(e as Error).message}`);
      } finally {
        c.busy = false;
        if (run !== undefined) this.inFlight.delete(run);
      }
    })();
    if (c.busy) this.inFlight.add(run);
  }

  /** Keeps the unauthenticated connections below the cap by closing the oldest (a newcomer may be the real concentrator). */
  private evictUnauthenticated(): void {
    const max = this.o.maxUnauthenticated ?? DEFAULT_MAX_UNAUTHENTICATED;
    const unbound = [...this.conns.values()].filter((d) => d.conc === null);
    for (let i = 0; i <= unbound.length - max; i++) {
      const d = unbound[i]!;
      this.evicted++;
      this.conns.delete(d.n);
      d.socket.destroy();
    }
  }

  private async ingest(c: Conn, batch: Uint8Array[]): Promise<void> {
    // A connection that never authenticated: its link-level refusals are summarised, not audited one by one.
    const auditLinkRefusals = c.conc !== null;
    let results: IngestResult[];
    try {
      results = await this.hes.ingestBatch(batch, this.now(), { auditLinkRefusals });
    } catch (e) {
      // Nothing of the batch was stored. Retry frame by frame so that one frame the HES cannot
      // handle costs only itself, never the frames that arrived with it.
      this.o.log?.(`batch of ${batch.length} failed on connection ${c.n} (${(e as Error).message}); retrying one by one`);
      results = [];
      for (const f of batch) {
        try {
          results.push((await this.hes.ingestBatch([f], this.now(), { auditLinkRefusals }))[0]!);
        } catch (e2) {
          results.push({ ok: false, code: 0, error: 'ERR_INTERNAL', message: `frame not stored: ${(e2 as Error).message}` });
        }
      }
    }
    // Bind first (a connection is bound by its first authentic, fresh link frame), then acknowledge.
    for (const r of results) {
      if (linkAuthentic(r) && c.conc !== r.concentrator) this.bind(c, r.concentrator!);
    }
    // Settled frames of the bound concentrator are acknowledged (after the commit) so it can drop them.
    // Nothing goes to an unbound connection; an authentic frame of another concentrator relayed on
    // this one is not acknowledged here (its concentrator resends it; the HES then sees a duplicate).
    const counters: number[] = [];
    for (const r of results) {
      if (r.linkCounter !== undefined && r.concentrator === c.conc) counters.push(r.linkCounter);
    }
    if (c.conc !== null && counters.length > 0) {
      try {
        this.write(c, await this.hes.linkAcks(c.conc, counters));
      } catch (e) {
        this.o.log?.(`LINK_ACK for ${c.conc} failed: ${(e as Error).message}`);
      }
    }
    for (const r of results) {
      const key = r.ok ? r.kind : r.error;
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
      if (!auditLinkRefusals && !r.ok && r.linkCounter === undefined) this.refusals.add(r.error, c.peer);
      this.o.onResult?.(r, c.n);
    }
    await this.flushRefusals(this.now());
  }

  // Binds a connection to a concentrator whose key it just proved; an older connection of that
  // concentrator is closed, and its meters' link keys are sent again (JOIN) on the new one.
  private bind(c: Conn, conc: string): void {
    for (const d of this.conns.values()) {
      if (d === c || d.conc !== conc) continue;
      d.conc = null;
      d.socket.destroy();
      this.o.log?.(`connection ${d.n} replaced by connection ${c.n} (concentrator ${conc})`);
    }
    c.conc = conc;
    c.socket.setTimeout(this.o.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS);
    this.hes.concentratorConnected(conc);
    this.o.log?.(`connection ${c.n} is concentrator ${conc}`);
  }

  private write(c: Conn, frames: Uint8Array[]): void {
    if (c.conc === null || c.socket.destroyed) return;
    for (const f of frames) {
      const n = encodeSerialFrame(f, 0, f.length, this.out, 0);
      if (n > 0) c.socket.write(this.out.slice(0, n));
    }
  }
}

/** True when the link frame verified under its concentrator's key with a fresh counter. */
function linkAuthentic(r: IngestResult): boolean {
  if (r.concentrator === undefined) return false;
  return r.linkCounter !== undefined || (r.ok && r.kind === 'link_ack');
}
