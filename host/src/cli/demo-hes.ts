/**
 * The demo's HES endpoint: a TCP server on 127.0.0.1 in front of the real HES library. Each
 * connection's byte stream is deframed (PROTOCOL.md §9), every batch of frames is ingested in one
 * transaction (`Hes.ingestBatch`), and downlink from `Hes.nextDownlink` goes back on the
 * connection of the concentrator that sent authenticated frames on it.
 *
 * Connection identification: a link frame names its sender, but a concentrator that was never
 * given its meters (JOIN) has nothing to send. Until a connection has carried an authenticated
 * frame, the endpoint offers it the pending downlink (JOINs first) of every concentrator not yet
 * seen; a concentrator ignores frames addressed to another (they are sealed under other link keys).
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { encodeSerialFrame, MAX_LINK_FRAME, SerialDeframer, serialEncodedMaxLen } from '@vakt/shared';
import type { Hes, IngestResult } from '../hes/hes.ts';

/** One ingested frame with the connection it came from. */
export interface IngestRecord { conn: number; frame: Uint8Array; result: IngestResult }

interface Conn { n: number; socket: Socket; deframer: SerialDeframer; conc: string | null; offeredAtMs: number }

/** How long (simulated ms) an unidentified connection waits before being offered downlink again. */
const REOFFER_MS = 10_000;

/** A TCP front end for the HES library, driven by the caller's clock. */
export class DemoHesServer {
  readonly server: Server;
  port = 0;
  /** Ingest outcomes by kind ('reading', 'link_ack', …) or error name ('ERR_REPLAY', …). */
  readonly counts = new Map<string, number>();
  private readonly conns = new Map<number, Conn>();
  private nextConn = 1;
  private readonly out = new Uint8Array(serialEncodedMaxLen(MAX_LINK_FRAME));
  private onResult: ((r: IngestRecord) => void) | null = null;

  constructor(private readonly hes: Hes, private readonly nowMs: () => number) {
    this.server = createServer((s) => this.accept(s));
  }

  /** Listens on 127.0.0.1 (an ephemeral port unless given). */
  listen(port = 0): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.port = (this.server.address() as AddressInfo).port;
        resolve(this.port);
      });
    });
  }

  /** Registers a callback for every ingest result. */
  watch(cb: (r: IngestRecord) => void): void {
    this.onResult = cb;
  }

  /** Connections that have carried an authenticated frame, by concentrator id. */
  identified(): string[] {
    return [...this.conns.values()].map((c) => c.conc).filter((c): c is string => c !== null);
  }

  /** Number of the most recently accepted connection (0 before any). */
  lastConnection(): number {
    return this.nextConn - 1;
  }

  /** Sends every concentrator's due downlink now. */
  pump(): void {
    const now = this.nowMs();
    const claimed = new Set(this.identified());
    for (const c of this.conns.values()) {
      if (c.conc !== null) {
        this.write(c, this.hes.nextDownlink(c.conc, now));
      } else if (now - c.offeredAtMs >= REOFFER_MS) {
        c.offeredAtMs = now;
        for (const id of this.hes.concentratorIds()) {
          if (claimed.has(id)) continue;
          this.hes.concentratorConnected(id);
          this.write(c, this.hes.nextDownlink(id, now));
        }
      }
    }
  }

  /** Closes every connection and the listener. */
  close(): Promise<void> {
    for (const c of this.conns.values()) c.socket.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }

  private accept(socket: Socket): void {
    const n = this.nextConn++;
    const frames: Uint8Array[] = [];
    const deframer = new SerialDeframer(MAX_LINK_FRAME, (buf, off, len) => frames.push(buf.slice(off, off + len)));
    const c: Conn = { n, socket, deframer, conc: null, offeredAtMs: -Infinity };
    this.conns.set(n, c);
    socket.setNoDelay(true);
    socket.on('error', () => undefined); // a reset connection is followed by 'close'
    socket.on('close', () => this.conns.delete(n));
    socket.on('data', (d: Buffer) => {
      deframer.push(d, 0, d.length);
      if (frames.length === 0) return;
      const batch = frames.splice(0);
      const results = this.hes.ingestBatch(batch, this.nowMs());
      for (let i = 0; i < results.length; i++) {
        const r = results[i]!;
        const key = r.ok ? r.kind : r.error;
        this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
        if (r.ok && c.conc === null) {
          c.conc = r.concentrator;
          this.hes.concentratorConnected(r.concentrator);
        }
        const rec = { conn: n, frame: batch[i]!, result: r };
        if (this.onResult !== null) this.onResult(rec);
      }
      this.pump();
    });
    this.pump();
  }

  private write(c: Conn, frames: Uint8Array[]): void {
    for (const f of frames) {
      const n = encodeSerialFrame(f, 0, f.length, this.out, 0);
      if (n > 0) c.socket.write(this.out.slice(0, n));
    }
  }
}
