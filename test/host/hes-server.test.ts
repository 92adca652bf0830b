// HES TCP server and the kpe/hes CLI modules, driven in-process.
import { describe, it, expect, afterEach } from 'vitest';
import { connect } from 'node:net';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSerialFrame, SerialDeframer, MAX_LINK_FRAME, serialEncodedMaxLen, LINK_ACK, LINK_DATA, LINK_JOIN } from '@vakt/shared';
import { HesServer } from '../../host/src/hes/server.ts';
import { run as hesRun } from '../../host/src/hes/cli.ts';
import { run as kpeRun } from '../../host/src/kpe/cli.ts';
import { captureIo } from '../../host/src/cli/io.ts';
import { toHex } from '../../host/src/crypto/bytes.ts';
import { cborDecode, cborEncode } from '../../host/src/crypto/cbor.ts';
import { KitConcentrator } from '../../host/src/hes/testkit.ts';
import { makeFixture as makeFixtureOn, closeFixtures } from './hes-fixture.ts';
import { hesStores } from './hes-stores.ts';

const until = async (cond: () => boolean, ms = 10_000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timeout');
    await new Promise((r) => setTimeout(r, 10));
  }
};

/** A TCP client of the server that collects the link frames it receives. */
function client(port: number) {
  const got: Uint8Array[] = [];
  let bytes = 0;
  let closed = false;
  const deframer = new SerialDeframer(MAX_LINK_FRAME, (b, o, n) => got.push(b.slice(o, o + n)));
  const sock = connect(port, '127.0.0.1');
  sock.on('data', (d) => {
    bytes += d.length;
    deframer.push(d, 0, d.length);
  });
  sock.on('error', () => undefined);
  sock.on('close', () => (closed = true));
  const buf = new Uint8Array(serialEncodedMaxLen(MAX_LINK_FRAME));
  return {
    sock,
    got,
    bytes: () => bytes,
    closed: () => closed,
    send(...frames: Uint8Array[]) {
      const parts = frames.map((f) => Buffer.from(buf.subarray(0, encodeSerialFrame(f, 0, f.length, buf, 0))));
      sock.write(Buffer.concat(parts));
    },
  };
}

/** The concentrator's announcement (PROTOCOL.md §7): LINK_ACK [0] under its HES link key. */
const hello = (c: KitConcentrator) => c.wrap(cborEncode([0]), LINK_ACK);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const linkCounter = (lf: Uint8Array) => Buffer.from(lf.subarray(20, 24)).readUInt32BE(0);

for (const store of hesStores()) {
  describe.skipIf(store.skip !== null)(`on ${store.kind}`, () => {
    const makeFixture: typeof makeFixtureOn = (meters, concentrators, o) => makeFixtureOn(meters, concentrators, o, store);
    afterEach(closeFixtures); // each case's HES closed: PostgreSQL pools hold server connections

    describe('HES TCP server', () => {
      it('sends nothing to a connection that has not authenticated, even with downlink pending', async () => {
        const f = await makeFixture(2, 1);
        const c = f.concs[0]!;
        await f.hes.enqueueCommand('admin', toHex(f.meters[0]!.id), { kind: 'read' });
        // A frame the concentrator really sent earlier, now replayed by the stranger.
        const old = c.wrap(f.meters[0]!.seal(0x01, [0, 1, 1_700_000_000, 10, 1]));
        expect((await f.hes.ingest(old)).ok).toBe(true);
        const srv = new HesServer(f.hes, { port: 0 });
        const port = await srv.listen();
        const stranger = client(port);
        const other = new KitConcentrator(f.meters[0]!.id, new Uint8Array(16).fill(7), 0, f.batch.concentrators[0]!.id);
        await until(() => stranger.sock.readyState === 'open');
        stranger.send(new Uint8Array([1, 2, 3]), old, other.wrap(cborEncode([0]), LINK_ACK));
        await until(() => (srv.counts.get('ERR_REPLAY') ?? 0) === 1 && (srv.counts.get('ERR_UNKNOWN_SENDER') ?? 0) === 1);
        await sleep(2500); // more than two downlink pump periods
        srv.pump();
        expect(stranger.bytes()).toBe(0);
        expect(srv.connected()).toEqual([]);
        // Refused frames of a peer that never authenticated are audited as one summary (issue 10), not row by row.
        const entries = await f.hes.audit.list();
        expect(entries.map((e) => e.action)).not.toContain('security.err_replay');
        const summary = entries.find((e) => e.action === 'security.unauthenticated_refusals');
        expect(JSON.parse(summary!.detail).byError).toMatchObject({ ERR_REPLAY: 1, ERR_UNKNOWN_SENDER: 1 });
        // The real concentrator announces itself and gets its JOINs and the command; the stranger still nothing.
        const real = client(port);
        await until(() => real.sock.readyState === 'open');
        real.send(hello(c));
        await until(() => real.got.length >= 4);
        const down = real.got.map((x) => c.unwrap(x));
        expect(down.filter((d) => typeof d !== 'number' && d.type === LINK_JOIN).length).toBe(2);
        // The READ command and the ACK of the reading the HES accepted before.
        expect(down.filter((d) => typeof d !== 'number' && d.type === LINK_DATA).length).toBe(2);
        expect(srv.connected()).toEqual([toHex(c.id)]);
        await sleep(1200);
        expect(stranger.bytes()).toBe(0);
        stranger.sock.destroy();
        real.sock.destroy();
        await srv.close();
      });

      it('gives an announced concentrator its JOINs, ingests framed uplink and returns downlink', async () => {
        const f = await makeFixture(2, 1);
        const srv = new HesServer(f.hes, { port: 0 });
        const port = await srv.listen();
        const c = f.concs[0]!;
        const k = client(port);
        await until(() => k.sock.readyState === 'open');
        k.send(hello(c));
        await until(() => k.got.length >= 2);
        const joins = k.got.splice(0).map((x) => c.unwrap(x));
        for (const j of joins) {
          if (typeof j === 'number') throw new Error(`JOIN did not open: ${j}`);
          expect(j.type).toBe(LINK_JOIN);
          const [mid, lk] = cborDecode(j.body) as [Uint8Array, Uint8Array, number];
          const bm = f.batch.meters.find((m) => toHex(m.id) === toHex(mid))!;
          expect(toHex(lk)).toBe(toHex(bm.linkKey));
        }
        // Noise, then two readings in one TCP write.
        const buf = new Uint8Array(serialEncodedMaxLen(MAX_LINK_FRAME));
        const parts: Buffer[] = [Buffer.from([0x13, 0x37, 0x00])];
        const counters: number[] = [];
        for (const m of f.meters) {
          const lf = c.wrap(m.seal(0x01, [0, 1, 1_700_000_000, 10, 1]));
          counters.push(linkCounter(lf));
          const n = encodeSerialFrame(lf, 0, lf.length, buf, 0);
          parts.push(Buffer.from(buf.subarray(0, n)));
        }
        k.sock.write(Buffer.concat(parts));
        await until(() => (srv.counts.get('reading') ?? 0) === 2);
        expect(srv.connected()).toEqual([toHex(c.id)]);
        await until(() => k.got.length >= 4); // LINK_ACK of each link frame, then the meters' reading ACKs
        const down = k.got.map((x) => c.unwrap(x)).map((a) => (typeof a === 'number' ? { type: a, body: new Uint8Array(0) } : a));
        expect(down.filter((a) => a.type === LINK_ACK).map((a) => (cborDecode(a.body) as number[])[0])).toEqual(counters);
        expect(down.filter((a) => a.type === LINK_DATA).length).toBe(2);
        k.sock.destroy();
        await srv.close();
        expect((await f.hes.readings(toHex(f.meters[0]!.id))).length).toBe(1);
      });

      it('a second connection that authenticates as a connected concentrator replaces the first', async () => {
        const f = await makeFixture(2, 1);
        const srv = new HesServer(f.hes, { port: 0 });
        const port = await srv.listen();
        const c = f.concs[0]!;
        const a = client(port);
        await until(() => a.sock.readyState === 'open');
        a.send(hello(c));
        await until(() => a.got.length >= 2);
        const b = client(port);
        await until(() => b.sock.readyState === 'open');
        await sleep(100);
        expect(a.closed()).toBe(false);
        b.send(hello(c));
        await until(() => a.closed() && b.got.length >= 2); // the new connection gets the JOINs again
        expect(b.got.map((x) => c.unwrap(x)).every((d) => typeof d !== 'number' && d.type === LINK_JOIN)).toBe(true);
        expect(srv.connected()).toEqual([toHex(c.id)]);
        b.sock.destroy();
        await srv.close();
      });

      it('a byte-identical resend is LINK_ACKed as a duplicate, not audited as a replay; an old frame that differs still is', async () => {
        const f = await makeFixture(1, 1);
        const srv = new HesServer(f.hes, { port: 0 });
        const port = await srv.listen();
        const c = f.concs[0]!;
        const m = f.meters[0]!;
        const k = client(port);
        await until(() => k.sock.readyState === 'open');
        k.send(hello(c));
        await until(() => k.got.length >= 1);
        const delayed = m.seal(0x01, [0, 2, 1_700_000_900, 12, 1]); // sealed first under the same key, delivered last: an old counter
        const e2e = m.seal(0x01, [0, 1, 1_700_000_000, 10, 1]);
        const first = c.wrap(e2e);
        k.send(first);
        await until(() => (srv.counts.get('reading') ?? 0) === 1);
        // The concentrator lost the LINK_ACK and resends the same end-to-end frame in a new link frame.
        const again = c.wrap(e2e);
        k.send(again);
        await until(() => (srv.counts.get('duplicate') ?? 0) === 1);
        // Each downlink frame is opened once (the kit's receiver refuses a second opening as a replay).
        const opened: ({ type: number; body: Uint8Array } | number)[] = [];
        const acked = () => {
          while (opened.length < k.got.length) opened.push(c.unwrap(k.got[opened.length]!));
          return opened
            .filter((d): d is { type: number; body: Uint8Array } => typeof d !== 'number' && d.type === LINK_ACK)
            .map((d) => (cborDecode(d.body) as number[])[0]);
        };
        await until(() => acked().includes(linkCounter(again)));
        expect(acked()).toContain(linkCounter(first));
        const security = async () => (await f.hes.audit.list()).filter((e) => e.action.startsWith('security.'));
        expect(await security()).toEqual([]);
        expect((await f.hes.readings(toHex(m.id))).length).toBe(1);
        // A different authentic frame whose counter is old is still a replay, audited.
        const stale = c.wrap(delayed);
        k.send(stale);
        await until(() => (srv.counts.get('ERR_REPLAY') ?? 0) === 1);
        expect((await security()).map((e) => e.action)).toEqual(['security.err_replay']);
        // And the link frame itself replayed byte for byte is a link replay, audited too.
        k.send(again);
        await until(() => (srv.counts.get('ERR_REPLAY') ?? 0) === 2);
        expect((await security()).map((e) => e.action)).toEqual(['security.err_replay', 'security.err_replay']);
        k.sock.destroy();
        await srv.close();
      });
    });

    describe('kpe and hes CLI', () => {
      it('init, batch, import, user, commands, audit --verify, with plain one-line errors', async () => {
        const dir = mkdtempSync(join(tmpdir(), 'vakt-cli-'));
        const db = await store.newLocation(dir);
        const anon = captureIo({ cwd: dir, env: {} });
        const common = ['--db', db, '--store-key-file', 'store.key'];
        expect(await kpeRun(['init', '--dir', 'kpe'], anon)).toBe(0);
        expect(await hesRun(['init', ...common, '--kpe-pub', 'kpe/kpe.pub', '--json'], anon)).toBe(0);
        const init = JSON.parse(anon.stdout.at(-1)!);
        expect(init.storeKeyCreated).toBe(true);
        // The first admin's one-time token; every later command runs as whoever a token names.
        expect(init.adminToken.token).toMatch(/^vakt_[0-9a-f]{16}_/);
        const io = captureIo({ cwd: dir, env: { VAKT_TOKEN: init.adminToken.token } });
        await expect(hesRun(['meters', ...common], anon)).rejects.toThrow(/not logged in/);
        expect(
          await kpeRun(
            ['batch', '--dir', 'kpe', '--hes-cert', 'hes.cert.json', '--meters', '2', '--concentrators', '1', '--out', 'b', '--json'],
            io,
          ),
        ).toBe(0);
        const batch = JSON.parse(io.stdout.at(-1)!);
        expect(readdirSync(join(dir, 'b')).filter((x) => x.endsWith('.prov.cbor')).length).toBe(3);
        expect(await hesRun(['import', ...common, 'b/shipment-000001.vks', '--json'], io)).toBe(0);
        expect(JSON.parse(io.stdout.at(-1)!)).toMatchObject({ meters: 2, concentrators: 1, seq: 1 });
        await expect(hesRun(['import', ...common, 'b/shipment-000001.vks'], io)).rejects.toThrow(
          /shipment refused \(REPLAY\), nothing imported/,
        );
        const meter = batch.meters[0].id as string;
        expect(await hesRun(['user', 'add', 'olga', '--role', 'operator', ...common], io)).toBe(0);
        expect(await hesRun(['user', 'token', 'olga', '--expires', '1', ...common, '--json'], io)).toBe(0);
        const olga = captureIo({ cwd: dir, env: { VAKT_TOKEN: JSON.parse(io.stdout.at(-1)!).token } });
        await expect(hesRun(['command', 'relay', '--meter', meter, '--state', '0', ...common], olga)).rejects.toThrow(
          /lacks the right "relay"/,
        );
        expect(await hesRun(['command', 'config', '--meter', meter, '--tariff', '3', ...common, '--json'], olga)).toBe(0);
        expect(await hesRun(['command', 'list', ...common, '--json'], io)).toBe(0);
        expect(JSON.parse(io.stdout.at(-1)!).commands[0]).toMatchObject({ kind: 'config', state: 'queued', actor: 'olga' });
        writeFileSync(join(dir, 'fw.bin'), Buffer.alloc(2000, 7));
        expect(await hesRun(['firmware', 'add', 'fw.bin', '--version', '7', ...common, '--json'], io)).toBe(0);
        const fw = JSON.parse(io.stdout.at(-1)!);
        expect(await hesRun(['command', 'firmware', '--sha256', fw.sha256, '--meter', 'all', ...common, '--json'], io)).toBe(0);
        expect(JSON.parse(io.stdout.at(-1)!).ids.length).toBe(2);
        expect(await hesRun(['audit', '--verify', ...common, '--json'], io)).toBe(0);
        expect(JSON.parse(io.stdout.at(-1)!)).toMatchObject({ ok: true });
        await expect(hesRun(['command', 'relay', '--meter', 'xyz', ...common], io)).rejects.toThrow(/16 hex digits/);
        await expect(hesRun(['meters', '--db', db], captureIo({ cwd: dir, env: { VAKT_HES_STORE_KEY: '00'.repeat(32) } }))).rejects.toThrow(
          /wrong store key/,
        );
        await expect(hesRun(['meters', '--db', db], captureIo({ cwd: dir, env: {} }))).rejects.toThrow(/no store key/);
        expect(await kpeRun(['show', 'b/shipment-000001.vks', '--json'], io)).toBe(0);
        expect(JSON.parse(io.stdout.at(-1)!)).toMatchObject({ kind: 'shipment', seq: 1, hesId: init.hesId });
        expect(readFileSync(join(dir, 'store.key'), 'utf8')).toMatch(/GENERATED SECRET/);
        expect(await hesRun(['serve', '--port', '0', '--duration', '0.3', ...common, '--json'], io)).toBe(0);
        expect(JSON.parse(io.stdout.at(-1)!)).toMatchObject({ counts: {} });
        expect(await hesRun(['--help'], io)).toBe(0);
        expect(await hesRun(['serve', '--help'], io)).toBe(0);
        expect(io.stdout.at(-1)).toMatch(/Examples|Options|store key/);
      });
    });
  });
}
