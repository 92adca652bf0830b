// The concentrator's TCP link to the HES, against local servers on 127.0.0.1 only: backoff while
// the HES is down, delivery of everything queued meanwhile, resend after a broken connection,
// bounded queue with counted refusals, garbage from the server.
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeSerialFrame, SerialDeframer, serialEncodedMaxLen } from '@vakt/shared';
import { HesLink } from '../../host/src/bridge/hes-link.ts';

function wire(index: number, size: number): Uint8Array {
  const f = new Uint8Array(size);
  f.set(randomBytes(size));
  new DataView(f.buffer).setUint32(0, index);
  const out = new Uint8Array(serialEncodedMaxLen(size));
  return out.subarray(0, encodeSerialFrame(f, 0, size, out, 0));
}

/** A local test server that deframes what it receives (shared SerialDeframer) and records frame indexes. */
interface TestServer {
  server: Server;
  port: number;
  indexes: number[];
  sockets: Socket[];
  deframers: SerialDeframer[];
}
function listen(port = 0): Promise<TestServer> {
  const ts: TestServer = { server: createServer(), port: 0, indexes: [], sockets: [], deframers: [] };
  ts.server.on('connection', (s) => {
    ts.sockets.push(s);
    s.on('error', () => undefined);
    const d = new SerialDeframer(2048, (buf, off) => ts.indexes.push(new DataView(buf.buffer, buf.byteOffset).getUint32(off)));
    ts.deframers.push(d);
    s.on('data', (c: Buffer) => d.push(c, 0, c.length));
  });
  return new Promise((r) =>
    ts.server.listen(port, '127.0.0.1', () => {
      ts.port = (ts.server.address() as AddressInfo).port;
      r(ts);
    }),
  );
}
const stop = (ts: TestServer): Promise<void> =>
  new Promise((r) => {
    for (const s of ts.sockets) s.destroy();
    ts.server.close(() => r());
  });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await sleep(5);
  }
}
/** A free port on 127.0.0.1 (listen on 0, then release it). */
async function freePort(): Promise<number> {
  const ts = await listen();
  await stop(ts);
  return ts.port;
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('HesLink', () => {
  it('backs off while the HES is down, then delivers everything queued meanwhile, in order', async () => {
    const port = await freePort();
    const logs: string[] = [];
    const link = new HesLink({ host: '127.0.0.1', port, minBackoffMs: 20, maxBackoffMs: 200, log: (l) => logs.push(`${Date.now()} ${l}`) });
    cleanup.push(() => link.close());
    link.start();
    for (let i = 0; i < 50; i++) expect(link.send(wire(i, 100))).toBe(true);
    await until(() => link.stats.connectFailures >= 4, 5000);
    expect(link.isConnected).toBe(false);
    // Retry delays grow (20, 40, 80, … ms ± jitter) instead of hammering the HES.
    const retries = logs.filter((l) => /retrying in/.test(l)).map((l) => Number(/retrying in (\d+)/.exec(l)![1]));
    expect(retries[3]!).toBeGreaterThan(retries[0]!);
    expect(Math.max(...retries)).toBeLessThanOrEqual(200 * 1.2);
    const ts = await listen(port);
    cleanup.push(() => stop(ts));
    await link.drained();
    await until(() => ts.indexes.length === 50, 5000);
    expect(ts.indexes).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(link.stats.connects).toBe(1);
  });

  // Frames the kernel had taken before the break are covered by the resend window (the firmware's
  // LINK_ACK store-and-forward covers anything beyond it); frames arrive over time, as from meters.
  it('resends after the connection breaks mid-stream: nothing accepted is lost', async () => {
    const ts = await listen();
    cleanup.push(() => stop(ts));
    const link = new HesLink({ host: '127.0.0.1', port: ts.port, minBackoffMs: 10 });
    cleanup.push(() => link.close());
    link.start();
    await until(() => link.isConnected, 3000);
    const N = 2000;
    for (let i = 0; i < N; i++) {
      expect(link.send(wire(i, 200))).toBe(true);
      if (i === 700 || i === 1400) ts.sockets[ts.sockets.length - 1]!.destroy(); // the HES drops the connection
      if (i % 20 === 19) await sleep(1);
    }
    await until(() => new Set(ts.indexes).size === N, 10_000);
    expect([...new Set(ts.indexes)].sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(link.stats.disconnects).toBeGreaterThanOrEqual(1);
    expect(link.stats.connects).toBe(link.stats.disconnects + 1);
    // A half-sent frame is cut off by the resync delimiter and counted as a bad frame, never merged.
    for (const d of ts.deframers) expect(d.crcErrors + d.framingErrors).toBeLessThanOrEqual(1);
  });

  it('refuses what does not fit its bounded queue and counts it', async () => {
    const link = new HesLink({ host: '127.0.0.1', port: await freePort(), maxQueueBytes: 5000 });
    cleanup.push(() => link.close());
    let accepted = 0;
    for (let i = 0; i < 100; i++) if (link.send(wire(i, 200))) accepted++;
    expect(accepted).toBeGreaterThan(0);
    expect(accepted).toBeLessThan(100);
    expect(link.stats.refused).toBe(100 - accepted);
    expect(link.stats.queuedFrames).toBe(accepted);
  });

  it('passes server garbage to its receivers and keeps working', async () => {
    const ts = await listen();
    cleanup.push(() => stop(ts));
    const link = new HesLink({ host: '127.0.0.1', port: ts.port });
    cleanup.push(() => link.close());
    const got: number[] = [];
    link.onData((c) => void got.push(c.length));
    link.onData(() => {
      throw new Error('buggy receiver');
    });
    link.start();
    await until(() => ts.sockets.length === 1, 3000);
    ts.sockets[0]!.write(randomBytes(100_000));
    await until(() => got.reduce((a, b) => a + b, 0) === 100_000, 3000);
    expect(link.send(wire(5, 10))).toBe(true);
    await until(() => ts.indexes.includes(5), 3000);
    expect(link.isConnected).toBe(true);
  });

  it('fails over to the next HES address when its node dies, and back when that one dies too', async () => {
    const a = await listen();
    const b = await listen();
    cleanup.push(() => stop(b));
    const logs: string[] = [];
    const link = new HesLink({
      addresses: [
        { host: '127.0.0.1', port: a.port },
        { host: '127.0.0.1', port: b.port },
      ],
      minBackoffMs: 10,
      maxBackoffMs: 5000,
      log: (l) => logs.push(l),
    });
    cleanup.push(() => link.close());
    link.start();
    for (let i = 0; i < 10; i++) link.send(wire(i, 50));
    await until(() => a.indexes.length === 10, 3000);
    await stop(a); // node A dies: its connection breaks and its port refuses
    for (let i = 10; i < 20; i++) link.send(wire(i, 50));
    // Frames the kernel took just before the break are resent from the window (the concentrator
    // itself relies on its LINK_ACK queue instead); every frame after the death reaches node B.
    const want = Array.from({ length: 10 }, (_, i) => 10 + i);
    await until(() => want.every((i) => b.indexes.includes(i)), 3000);
    expect(b.indexes.filter((i) => i >= 10)).toEqual(want);
    expect(link.address.port).toBe(b.port);
    expect(link.stats.failovers).toBe(1);
    // Moving on is immediate (minBackoffMs), not the grown backoff of a dead single address.
    expect(logs.some((l) => l.includes(`trying 127.0.0.1:${b.port}`))).toBe(true);
    // Node A comes back on its port, node B dies: the link goes round to A.
    const a2 = await listen(a.port);
    cleanup.push(() => stop(a2));
    await stop(b);
    link.send(wire(99, 50));
    await until(() => a2.indexes.includes(99), 3000);
    expect(link.address.port).toBe(a.port);
  });

  it('with every address down, backs off per round instead of spinning', async () => {
    const ports = [await freePort(), await freePort()];
    const logs: string[] = [];
    const link = new HesLink({
      addresses: ports.map((port) => ({ host: '127.0.0.1', port })),
      minBackoffMs: 20,
      maxBackoffMs: 200,
      log: (l) => logs.push(l),
    });
    cleanup.push(() => link.close());
    link.start();
    await until(() => link.stats.connectFailures >= 8, 5000);
    const retries = logs.filter((l) => /retrying in/.test(l)).map((l) => Number(/retrying in (\d+)/.exec(l)![1]));
    // One grown delay per round of two addresses.
    expect(retries.length).toBeGreaterThanOrEqual(3);
    expect(retries.length).toBeLessThanOrEqual(Math.ceil(link.stats.connectFailures / 2));
    expect(retries[2]!).toBeGreaterThan(retries[0]!);
  });

  it('stops reconnecting after close()', async () => {
    const link = new HesLink({ host: '127.0.0.1', port: await freePort(), minBackoffMs: 10 });
    link.start();
    await until(() => link.stats.connectFailures >= 1, 3000);
    await link.close();
    const n = link.stats.connectFailures;
    await sleep(100);
    expect(link.stats.connectFailures).toBe(n);
    expect(link.send(wire(1, 10))).toBe(false);
  });
});
