// HES TCP server and the kpe/hes CLI modules, driven in-process.
import { describe, it, expect } from 'vitest';
import { connect } from 'node:net';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSerialFrame, SerialDeframer, MAX_LINK_FRAME, serialEncodedMaxLen, LINK_JOIN } from '@vakt/shared';
import { HesServer } from '../../host/src/hes/server.ts';
import { run as hesRun } from '../../host/src/hes/cli.ts';
import { run as kpeRun } from '../../host/src/kpe/cli.ts';
import { captureIo } from '../../host/src/cli/io.ts';
import { toHex } from '../../host/src/crypto/bytes.ts';
import { cborDecode } from '../../host/src/crypto/cbor.ts';
import { makeFixture } from './hes-fixture.ts';

const until = async (cond: () => boolean, ms = 10_000) => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timeout');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('HES TCP server', () => {
  it('gives an unidentified concentrator its JOINs, ingests framed uplink and returns downlink', async () => {
    const f = makeFixture(2, 1);
    const srv = new HesServer(f.hes, { port: 0 });
    const port = await srv.listen();
    const c = f.concs[0]!;
    const got: Uint8Array[] = [];
    const deframer = new SerialDeframer(MAX_LINK_FRAME, (b, o, n) => got.push(b.slice(o, o + n)));
    const sock = connect(port, '127.0.0.1');
    sock.on('data', (d) => deframer.push(d, 0, d.length));
    await until(() => got.length >= 2);
    const joins = got.splice(0).map((x) => c.unwrap(x));
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
      counters.push(Buffer.from(lf.subarray(20, 24)).readUInt32BE(0));
      const n = encodeSerialFrame(lf, 0, lf.length, buf, 0);
      parts.push(Buffer.from(buf.subarray(0, n)));
    }
    sock.write(Buffer.concat(parts));
    await until(() => (srv.counts.get('reading') ?? 0) === 2);
    expect(srv.connected()).toEqual([toHex(c.id)]);
    await until(() => got.length >= 4); // LINK_ACK of each link frame, then the meters' reading ACKs
    const down = got.map((x) => c.unwrap(x)).map((a) => (typeof a === 'number' ? { type: a, body: new Uint8Array(0) } : a));
    expect(down.filter((a) => a.type === 0x04).map((a) => (cborDecode(a.body) as number[])[0])).toEqual(counters);
    expect(down.filter((a) => a.type === 0x01).length).toBe(2);
    sock.destroy();
    await srv.close();
    expect(f.hes.readings(toHex(f.meters[0]!.id)).length).toBe(1);
  });
});

describe('kpe and hes CLI', () => {
  it('init, batch, import, user, commands, audit --verify, with plain one-line errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vakt-cli-'));
    const io = captureIo({ cwd: dir, env: {} });
    const common = ['--db', 'hes.db', '--store-key-file', 'store.key'];
    expect(await kpeRun(['init', '--dir', 'kpe'], io)).toBe(0);
    expect(await hesRun(['init', ...common, '--kpe-pub', 'kpe/kpe.pub', '--json'], io)).toBe(0);
    const init = JSON.parse(io.stdout.at(-1)!);
    expect(init.storeKeyCreated).toBe(true);
    expect(await kpeRun(['batch', '--dir', 'kpe', '--hes-cert', 'hes.cert.json', '--meters', '2', '--concentrators', '1', '--out', 'b', '--json'], io)).toBe(0);
    const batch = JSON.parse(io.stdout.at(-1)!);
    expect(readdirSync(join(dir, 'b')).filter((x) => x.endsWith('.prov.cbor')).length).toBe(3);
    expect(await hesRun(['import', ...common, 'b/shipment-000001.vks', '--json'], io)).toBe(0);
    expect(JSON.parse(io.stdout.at(-1)!)).toMatchObject({ meters: 2, concentrators: 1, seq: 1 });
    await expect(hesRun(['import', ...common, 'b/shipment-000001.vks'], io)).rejects.toThrow(/shipment refused \(REPLAY\), nothing imported/);
    const meter = batch.meters[0].id as string;
    expect(await hesRun(['user', 'olga', '--role', 'operator', ...common], io)).toBe(0);
    await expect(hesRun(['command', 'relay', '--meter', meter, '--state', '0', '--as', 'olga', ...common], io)).rejects.toThrow(/lacks the right "relay"/);
    expect(await hesRun(['command', 'config', '--meter', meter, '--tariff', '3', '--as', 'olga', ...common, '--json'], io)).toBe(0);
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
    await expect(hesRun(['meters', '--db', 'hes.db'], captureIo({ cwd: dir, env: { VAKT_HES_STORE_KEY: '00'.repeat(32) } }))).rejects.toThrow(/wrong store key/);
    await expect(hesRun(['meters', '--db', 'hes.db'], captureIo({ cwd: dir, env: {} }))).rejects.toThrow(/no store key/);
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
