// The serial modem wrapper over real socat PTY pairs (socat is a CI dependency, see .ci/run):
// a stalled write is detected by the watchdog, the port is reopened and the unacknowledged frame
// resent; closing with a pending write (serialport's `Canceled`) is handled; garbage never crashes it.
import { randomBytes } from 'node:crypto';
import { SerialPort } from 'serialport';
import { afterEach, describe, expect, it } from 'vitest';
import { cobsDecode, cobsEncode, cobsMaxEncodedLen, crc16 } from '@vakt/shared';
import { ModemPort } from '../../host/src/bridge/modem.ts';
import { findSocat, openPtyPair, type PtyPair } from '../../host/src/bridge/pty.ts';

/** Test framing per PROTOCOL.md §9: COBS(payload ‖ CRC16 BE) ‖ 0x00, payload = u32 index ‖ filler. */
function wireFrame(index: number, size: number): Uint8Array {
  const p = new Uint8Array(size + 2);
  p.set(randomBytes(size), 0);
  new DataView(p.buffer).setUint32(0, index);
  const c = crc16(p, 0, size);
  p[size] = c >>> 8;
  p[size + 1] = c & 0xff;
  const out = new Uint8Array(cobsMaxEncodedLen(p.length) + 1);
  const n = cobsEncode(p, 0, p.length, out, 0);
  out[n] = 0;
  return out.subarray(0, n + 1);
}

/** Splits received bytes at 0x00 and returns the indexes of CRC-valid frames plus the count of invalid fragments. */
function unframe(bytes: Uint8Array): { indexes: number[]; bad: number } {
  const indexes: number[] = [];
  let bad = 0;
  let start = 0;
  const buf = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0) continue;
    if (i > start) {
      const n = cobsDecode(bytes, start, i - start, buf, 0);
      if (n >= 6 && crc16(buf, 0, n - 2) === ((buf[n - 2]! << 8) | buf[n - 1]!)) indexes.push(new DataView(buf.buffer).getUint32(0));
      else bad++;
    }
    start = i + 1;
  }
  return { indexes, bad };
}

function openRaw(path: string): Promise<SerialPort> {
  return new Promise((res, rej) => {
    const p = new SerialPort({ path, baudRate: 115200, autoOpen: false });
    p.on('error', () => undefined);
    p.open((e) => (e ? rej(e) : res(p)));
  });
}
const closeRaw = (p: SerialPort): Promise<void> => new Promise((r) => (p.isOpen ? p.close(() => r()) : r()));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await sleep(10);
  }
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function pair(): Promise<PtyPair> {
  if (findSocat() === null) throw new Error('socat is required for the bridge tests (apt-get install socat)');
  const p = await openPtyPair();
  cleanup.push(() => p.close());
  return p;
}

describe('socat PTY pair', () => {
  it('carries bytes both ways and stops only its own socat', async () => {
    const p = await pair();
    const a = await openRaw(p.a);
    const b = await openRaw(p.b);
    cleanup.push(
      () => closeRaw(a),
      () => closeRaw(b),
    );
    const got: Buffer[] = [];
    b.on('data', (d: Buffer) => got.push(d));
    a.write(Buffer.from('hello'));
    await until(() => Buffer.concat(got).toString() === 'hello', 3000);
    expect(p.a).toMatch(/^\/dev\/pts\/\d+$/);
    expect(p.a).not.toBe(p.b);
  });
});

describe('ModemPort', () => {
  it('delivers every frame in order when both directions stream at full speed', async () => {
    const p = await pair();
    const m1 = new ModemPort({ path: p.a, watchdogMs: 1000 });
    const m2 = new ModemPort({ path: p.b, watchdogMs: 1000 });
    await m1.open();
    await m2.open();
    cleanup.push(
      () => m1.close(),
      () => m2.close(),
    );
    const rx1: Buffer[] = [];
    const rx2: Buffer[] = [];
    m1.onData((c) => rx1.push(Buffer.from(c)));
    m2.onData((c) => rx2.push(Buffer.from(c)));
    const N = 400; // 400 × ~1 KB each way
    for (let i = 0; i < N; i++) {
      expect(m1.send(wireFrame(i, 1000))).toBe(true);
      expect(m2.send(wireFrame(i, 1000))).toBe(true);
    }
    await Promise.all([m1.drained(), m2.drained()]);
    const expected = Array.from({ length: N }, (_, i) => i);
    // Count distinct frames: a stall's resend is a duplicate, and counting it would stop the wait before the last frames arrive.
    const distinct = (rx: Buffer[]): number => new Set(unframe(Buffer.concat(rx)).indexes).size;
    await until(() => distinct(rx2) >= N && distinct(rx1) >= N, 10_000);
    for (const [rx, m] of [
      [rx2, m1],
      [rx1, m2],
    ] as const) {
      const u = unframe(Buffer.concat(rx));
      // A stall (if one happened) may resend a frame: duplicates allowed, never a loss or reordering.
      expect([...new Set(u.indexes)]).toEqual(expected);
      expect(u.bad).toBeLessThanOrEqual(m.stats.stalls);
      expect(m.stats.framesWritten).toBeGreaterThanOrEqual(N);
    }
  });

  it('detects a stalled write, reopens the port and resends what was not acknowledged', async () => {
    const p = await pair();
    const logs: string[] = [];
    const m = new ModemPort({ path: p.a, watchdogMs: 200, reopenMinMs: 20, log: (l) => logs.push(l) });
    await m.open();
    cleanup.push(() => m.close());
    // The peer is open but does not read: the PTY and socat buffers fill and the write stalls.
    const peer = await openRaw(p.b);
    cleanup.push(() => closeRaw(peer));
    const N = 60; // 60 × 4 KB ≫ what the PTY pair buffers
    for (let i = 0; i < N; i++) expect(m.send(wireFrame(i, 4000))).toBe(true);
    await until(() => m.stats.stalls >= 1 && m.stats.reopens >= 1, 10_000);
    expect(m.stats.resent).toBeGreaterThanOrEqual(1);
    expect(m.stats.framesWritten).toBeLessThan(N);
    expect(logs.some((l) => /write stalled/.test(l))).toBe(true);
    // The peer starts reading: everything arrives, the stalled frame included.
    const rx: Buffer[] = [];
    peer.on('data', (d: Buffer) => rx.push(d));
    await m.drained();
    expect(m.stats.framesWritten).toBeGreaterThanOrEqual(N);
    await until(() => new Set(unframe(Buffer.concat(rx)).indexes).size >= N, 10_000);
    const u = unframe(Buffer.concat(rx));
    // Resent frames arrive twice (the receiver's replay check drops those); none is missing.
    expect([...new Set(u.indexes)].sort((x, y) => x - y)).toEqual(Array.from({ length: N }, (_, i) => i));
    // Each stall can leave at most one fragment, and the resync delimiter makes it a separate bad frame.
    expect(u.bad).toBeLessThanOrEqual(m.stats.stalls);
  });

  it('handles serialport Canceled when closed with a write pending', async () => {
    const p = await pair();
    const m = new ModemPort({ path: p.a, watchdogMs: 60_000 });
    await m.open();
    const peer = await openRaw(p.b); // never reads
    cleanup.push(() => closeRaw(peer));
    for (let i = 0; i < 40; i++) m.send(wireFrame(i, 4000));
    await sleep(300);
    expect(m.stats.queuedFrames).toBeGreaterThan(0); // a write is stuck in flight
    await m.close(); // the pending write's callback and 'error' get Canceled: must not throw
    await sleep(50);
    expect(m.isActive).toBe(false);
    expect(m.send(wireFrame(99, 10))).toBe(false); // closed: refused, not silently dropped
    expect(m.stats.refused).toBe(1);
  });

  it('refuses frames beyond the bounded queue and counts them', async () => {
    const p = await pair();
    const m = new ModemPort({ path: p.a, maxQueueBytes: 10_000, watchdogMs: 60_000 });
    await m.open();
    cleanup.push(() => m.close());
    const peer = await openRaw(p.b);
    cleanup.push(() => closeRaw(peer));
    let accepted = 0;
    for (let i = 0; i < 100; i++) if (m.send(wireFrame(i, 1000))) accepted++;
    expect(accepted).toBeLessThan(100);
    expect(m.stats.refused).toBe(100 - accepted);
  });

  it('survives line garbage and still delivers frames afterwards', async () => {
    const p = await pair();
    const m = new ModemPort({ path: p.a, watchdogMs: 1000 });
    await m.open();
    cleanup.push(() => m.close());
    const peer = await openRaw(p.b);
    cleanup.push(() => closeRaw(peer));
    const rx: Buffer[] = [];
    m.onData((c) => rx.push(Buffer.from(c)));
    m.onData(() => {
      throw new Error('buggy receiver');
    }); // a throwing receiver must not kill the port
    peer.write(randomBytes(50_000));
    peer.write(Buffer.from([0, 0, 0]));
    peer.write(Buffer.from(wireFrame(7, 100)));
    await until(() => unframe(Buffer.concat(rx)).indexes.includes(7), 5000);
    expect(m.stats.bytesRead).toBeGreaterThan(50_000);
    expect(m.stats.errors).toBeGreaterThan(0);
    expect(m.isActive).toBe(true);
  });

  it('write() cuts a byte stream into frames at delimiters', async () => {
    const p = await pair();
    const m = new ModemPort({ path: p.a });
    await m.open();
    cleanup.push(() => m.close());
    const peer = await openRaw(p.b);
    cleanup.push(() => closeRaw(peer));
    const rx: Buffer[] = [];
    peer.on('data', (d: Buffer) => rx.push(d));
    const f1 = wireFrame(1, 50);
    const f2 = wireFrame(2, 50);
    const stream = Buffer.concat([f1, f2]);
    m.write(stream.subarray(0, 20));
    m.write(stream.subarray(20, 70));
    m.write(stream.subarray(70));
    await m.drained();
    expect(m.stats.framesWritten).toBe(2);
    await until(() => unframe(Buffer.concat(rx)).indexes.length === 2, 3000);
    expect(unframe(Buffer.concat(rx)).indexes).toEqual([1, 2]);
  });

  it('reports a device that cannot be opened in one line', async () => {
    const m = new ModemPort({ path: '/dev/pts/does-not-exist' });
    await expect(m.open()).rejects.toThrow(/^cannot open serial port \/dev\/pts\/does-not-exist: /);
  });
});

describe('ModemPort watchdog and a busy event loop', () => {
  it('does not call a write stalled when the process itself was blocked', async () => {
    const p = await pair();
    const m = new ModemPort({ path: p.a, watchdogMs: 100 });
    await m.open();
    cleanup.push(() => m.close());
    const peer = await openRaw(p.b);
    cleanup.push(() => closeRaw(peer));
    const rx: Buffer[] = [];
    peer.on('data', (d: Buffer) => rx.push(d));
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 20; i++) m.send(wireFrame(round * 20 + i, 500));
      const end = Date.now() + 400; // block the event loop for 4 watchdog periods
      while (Date.now() < end) {
        /* busy, as a large HES batch would be */
      }
      await m.drained();
    }
    expect(m.stats.stalls).toBe(0);
    expect(m.stats.framesWritten).toBe(100);
    await until(() => unframe(Buffer.concat(rx)).indexes.length === 100, 5000);
  });
});

describe('ModemPort when the device disappears', () => {
  it('keeps trying to reopen with backoff, never throws, and stops on close()', async () => {
    const p = await openPtyPair();
    const logs: string[] = [];
    const m = new ModemPort({ path: p.a, reopenMinMs: 10, reopenMaxMs: 80, log: (l) => logs.push(l) });
    await m.open();
    expect(m.send(wireFrame(1, 10))).toBe(true);
    await m.drained();
    await p.close(); // the PTY vanishes, as an unplugged USB modem would
    await until(() => logs.filter((l) => /reopen failed/.test(l)).length >= 3, 5000);
    expect(m.isActive).toBe(true);
    // Frames accepted meanwhile wait in the bounded queue for the device to return; none is lost silently.
    expect(m.send(wireFrame(2, 10))).toBe(true);
    expect(m.stats.queuedFrames).toBeGreaterThanOrEqual(1);
    const delays = logs
      .map((l) => /retrying in (\d+) ms/.exec(l))
      .filter((x) => x !== null)
      .map((x) => Number(x![1]));
    expect(Math.max(...delays)).toBeLessThanOrEqual(80);
    expect(delays[delays.length - 1]!).toBeGreaterThan(delays[0]!);
    await m.close();
    const n = logs.length;
    await sleep(200);
    expect(logs.length).toBe(n); // no more attempts after close()
  });
});
