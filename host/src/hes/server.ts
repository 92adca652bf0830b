// TCP front end of the HES (INTERFACES.md "Concentrator ↔ HES transport"): each connection carries
// COBS + CRC-16 framed link frames (PROTOCOL.md §9). Frames that arrive together are ingested as one
// batch (one transaction); downlink is pumped after every batch and on a timer.
//
// Identification: a connection belongs to the concentrator whose link frames authenticate on it.
// A concentrator that has not yet been given its meters (JOIN) has nothing to send, so until a
// connection has carried an authentic frame it is offered the downlink of every concentrator not
// connected elsewhere; each frame is sealed under that concentrator's link key, so the others drop it.
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { encodeSerialFrame, MAX_LINK_FRAME, SerialDeframer, serialEncodedMaxLen } from '@vakt/shared';
import type { Hes, IngestResult } from './hes.ts';

/** How often due downlink (retries, expiries, ACTIVATE) is pumped without traffic. */
export const PUMP_INTERVAL_MS = 1000;
/** How long an unidentified connection waits before it is offered downlink again. */
export const REOFFER_MS = 10_000;
/** Frames buffered per connection before a batch is forced (bounds memory per connection). */
export const MAX_PENDING_FRAMES = 1000;

interface Conn { n: number; socket: Socket; deframer: SerialDeframer; frames: Uint8Array[]; conc: string | null; offeredAtMs: number; offered: Set<string> }

export interface HesServerOptions {
  host?: string;
  port?: number;
  nowMs?: () => number;
  onResult?: (r: IngestResult, conn: number) => void;
  log?: (line: string) => void;
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

  constructor(private readonly hes: Hes, private readonly o: HesServerOptions = {}) {
    this.now = o.nowMs ?? Date.now;
    this.server = createServer((s) => this.accept(s));
  }

  /** Starts listening (port 0 = ephemeral) and the downlink timer; resolves with the port. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.o.port ?? 0, this.o.host ?? '127.0.0.1', () => {
        this.port = (this.server.address() as AddressInfo).port;
        this.timer = setInterval(() => this.pump(), PUMP_INTERVAL_MS);
        this.timer.unref();
        resolve(this.port);
      });
    });
  }

  /** Concentrator ids with an identified connection. */
  connected(): string[] {
    return [...this.conns.values()].map((c) => c.conc).filter((c): c is string => c !== null);
  }

  /** Sends every connection its due downlink now. */
  pump(): void {
    const now = this.now();
    const claimed = new Set(this.connected());
    for (const c of this.conns.values()) {
      try {
        if (c.conc !== null) this.write(c, this.hes.nextDownlink(c.conc, now));
        else if (now - c.offeredAtMs >= REOFFER_MS) {
          c.offeredAtMs = now;
          for (const id of this.hes.concentratorIds()) {
            if (claimed.has(id)) continue;
            this.hes.concentratorConnected(id);
            c.offered.add(id);
            this.write(c, this.hes.nextDownlink(id, now));
          }
        }
      } catch (e) {
        this.o.log?.(`downlink for connection ${c.n} failed: ${(e as Error).message}`);
      }
    }
  }

  /** Stops the timer, closes every connection and the listener. */
  close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    for (const c of this.conns.values()) c.socket.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }

  private accept(socket: Socket): void {
    const n = this.nextConn++;
    const c: Conn = {
      n,
      socket,
      frames: [],
      deframer: new SerialDeframer(MAX_LINK_FRAME, (buf, off, len) => c.frames.push(buf.slice(off, off + len))),
      conc: null,
      offeredAtMs: -Infinity,
      offered: new Set(),
    };
    this.conns.set(n, c);
    this.o.log?.(`connection ${n} from ${socket.remoteAddress}:${socket.remotePort}`);
    socket.setNoDelay(true);
    socket.on('error', () => undefined); // followed by 'close'
    socket.on('close', () => {
      this.conns.delete(n);
      this.o.log?.(`connection ${n} closed${c.conc !== null ? ` (concentrator ${c.conc})` : ''}`);
    });
    socket.on('data', (d: Buffer) => {
      for (let off = 0; off < d.length; ) {
        // Push in slices so that a flood cannot grow the pending batch without bound.
        const step = Math.min(d.length - off, 4096);
        c.deframer.push(d, off, step);
        off += step;
        if (c.frames.length >= MAX_PENDING_FRAMES) this.ingest(c);
      }
      this.ingest(c);
      this.pump();
    });
    this.pump();
  }

  private ingest(c: Conn): void {
    if (c.frames.length === 0) return;
    const batch = c.frames.splice(0);
    let results: IngestResult[];
    try {
      results = this.hes.ingestBatch(batch, this.now());
    } catch (e) {
      // Nothing of the batch was stored. Retry frame by frame so that one frame the HES cannot
      // handle costs only itself, never the frames that arrived with it.
      this.o.log?.(`batch of ${batch.length} failed on connection ${c.n} (${(e as Error).message}); retrying one by one`);
      results = [];
      for (const f of batch) {
        try {
          results.push(this.hes.ingestBatch([f], this.now())[0]!);
        } catch (e2) {
          results.push({ ok: false, code: 0, error: 'ERR_INTERNAL', message: `frame not stored: ${(e2 as Error).message}` });
        }
      }
    }
    // Settled frames are acknowledged (after the commit) so the concentrator can drop them.
    const acks = new Map<string, number[]>();
    for (const r of results) {
      if (r.linkCounter === undefined || r.concentrator === undefined) continue;
      let l = acks.get(r.concentrator);
      if (l === undefined) acks.set(r.concentrator, (l = []));
      l.push(r.linkCounter);
    }
    for (const [conc, counters] of acks) {
      try {
        this.write(c, this.hes.linkAcks(conc, counters));
      } catch (e) {
        this.o.log?.(`LINK_ACK for ${conc} failed: ${(e as Error).message}`);
      }
    }
    for (const r of results) {
      const key = r.ok ? r.kind : r.error;
      this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
      if (r.ok && c.conc !== r.concentrator) {
        c.conc = r.concentrator;
        // A concentrator (re)connecting needs its meters' link keys again, unless this connection got them already.
        if (!c.offered.has(r.concentrator)) this.hes.concentratorConnected(r.concentrator);
        this.o.log?.(`connection ${c.n} is concentrator ${r.concentrator}`);
      }
      this.o.onResult?.(r, c.n);
    }
  }

  private write(c: Conn, frames: Uint8Array[]): void {
    for (const f of frames) {
      const n = encodeSerialFrame(f, 0, f.length, this.out, 0);
      if (n > 0) c.socket.write(this.out.slice(0, n));
    }
  }
}
