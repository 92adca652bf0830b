// End to end over real serial PTYs (socat, installed by .ci/run): the `vakt concentrator` and
// `vakt meter sim` commands as separate processes, the meter and concentrator firmware on sim
// boards, a socat PTY pair as the radio line, TCP on 127.0.0.1 to the real HES library.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parseMeterProv } from '@vakt/firmware/common/prov';
import { openPtyPair } from '../../host/src/bridge/pty.ts';
import { Hes, type IngestResult } from '../../host/src/hes/hes.ts';
import { HesServer } from '../../host/src/hes/server.ts';
import { initKpe, produceBatch } from '../../host/src/kpe/kpe.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'host/bin/vakt.js');
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function vakt(args: string[]): ChildProcess & { out: string[]; err: string[] } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }) as ChildProcess & {
    out: string[];
    err: string[];
  };
  child.out = [];
  child.err = [];
  child.stdout!.setEncoding('utf8').on('data', (d: string) => child.out.push(d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => child.err.push(d));
  cleanup.push(
    () =>
      new Promise<void>((r) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          r();
          return;
        }
        child.once('exit', () => r());
        child.kill('SIGTERM');
      }),
  );
  return child;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('vakt concentrator + vakt meter sim over a socat PTY pair', () => {
  it('a meter process reaches the HES through a concentrator process', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vakt-e2e-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const kpe = initKpe(join(dir, 'kpe'));
    const { hes, cert } = await Hes.init({
      dbPath: join(dir, 'hes.sqlite'),
      storeKey: randomBytes(32),
      kpePublicKeys: [kpe.pub],
      synchronous: 'normal',
    });
    cleanup.push(() => hes.close());
    const batch = produceBatch(kpe, { meters: 1, concentrators: 1, hesCert: cert, outDir: join(dir, 'out') });
    await hes.importShipment(new Uint8Array(readFileSync(batch.shipmentFile)), 'admin', kpe.pub);
    const seen: IngestResult[] = [];
    const server = new HesServer(hes, { host: '127.0.0.1', port: 0, onResult: (r) => seen.push(r) });
    cleanup.push(() => server.close());
    const port = await server.listen();

    const pair = await openPtyPair();
    cleanup.push(() => pair.close());
    const meterImg = batch.images.find((i) => i.kind === 'meter')!;
    const concImg = batch.images.find((i) => i.kind === 'concentrator')!;
    const conc = vakt([
      'concentrator',
      '--hes',
      `127.0.0.1:${port}`,
      '--modem',
      pair.a,
      '--image',
      concImg.file,
      '--state',
      join(dir, 'conc'),
      '--retry',
      '2',
      '--json',
    ]);
    const meter = vakt([
      'meter',
      'sim',
      '--port',
      pair.b,
      '--image',
      meterImg.file,
      '--state',
      join(dir, 'meter'),
      '--retry',
      '2',
      '--json',
    ]);
    // The meter announces its boot (EVENT power restore) and retries until the concentrator, once
    // the HES has JOINed it, link-acknowledges; the HES must then hold the meter's authentic event.
    const deadline = Date.now() + 40_000;
    while (!seen.some((r) => r.ok && r.kind === 'event' && r.meter === meterImg.id) && Date.now() < deadline) await sleep(100);
    const event = seen.find((r) => r.ok && r.kind === 'event');
    expect(event, `meter stderr: ${meter.err.join('')}\nconcentrator stderr: ${conc.err.join('')}`).toBeDefined();
    expect(event!).toMatchObject({ ok: true, meter: meterImg.id, concentrator: concImg.id });
    // Both processes stop cleanly on SIGTERM and print their JSON summary.
    const exits = [conc, meter].map((c) => new Promise<number | null>((r) => c.once('exit', (code) => r(code))));
    conc.kill('SIGTERM');
    meter.kill('SIGTERM');
    expect(await Promise.all(exits)).toEqual([0, 0]);
    const cs = JSON.parse(conc.out.join('').trim().split('\n').pop()!);
    const ms = JSON.parse(meter.out.join('').trim().split('\n').pop()!);
    expect(cs.stats.forwardedUp).toBeGreaterThanOrEqual(1);
    expect(cs.hesLink.connects).toBeGreaterThanOrEqual(1);
    expect(ms.meter).toBe(meterImg.id);
  }, 90_000);

  it('a meter with a wrong link key is reported in words by the concentrator, never as silence', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vakt-e2e-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const kpe = initKpe(join(dir, 'kpe'));
    const { hes, cert } = await Hes.init({
      dbPath: join(dir, 'hes.sqlite'),
      storeKey: randomBytes(32),
      kpePublicKeys: [kpe.pub],
      synchronous: 'normal',
    });
    cleanup.push(() => hes.close());
    const batch = produceBatch(kpe, { meters: 1, concentrators: 1, hesCert: cert, outDir: join(dir, 'out') });
    await hes.importShipment(new Uint8Array(readFileSync(batch.shipmentFile)), 'admin', kpe.pub);
    const seen: IngestResult[] = [];
    const server = new HesServer(hes, { host: '127.0.0.1', port: 0, onResult: (r) => seen.push(r) });
    cleanup.push(() => server.close());
    const port = await server.listen();
    const meterImg = batch.images.find((i) => i.kind === 'meter')!;
    const concImg = batch.images.find((i) => i.kind === 'concentrator')!;
    // Same meter, one bit of its link key changed: the image still parses (PROTOCOL.md §11 layout).
    const img = new Uint8Array(readFileSync(meterImg.file));
    const good = parseMeterProv(img)!;
    const LINK_KEY_OFF = 30; // [0x88, 1, 1, 0x48, id(8), 0x50, mk(16), 0x50, lk(16) …]
    img[LINK_KEY_OFF] ^= 0x01;
    const bad = parseMeterProv(img)!;
    expect(Buffer.from(bad.linkKey).equals(Buffer.from(good.linkKey))).toBe(false);
    expect(Buffer.from(bad.masterKey).equals(Buffer.from(good.masterKey))).toBe(true);
    const badFile = join(dir, 'wrong-link-key.prov.cbor');
    writeFileSync(badFile, img);

    const pair = await openPtyPair();
    cleanup.push(() => pair.close());
    const conc = vakt([
      'concentrator',
      '--hes',
      `127.0.0.1:${port}`,
      '--modem',
      pair.a,
      '--image',
      concImg.file,
      '--state',
      join(dir, 'conc'),
      '--retry',
      '1',
    ]);
    vakt(['meter', 'sim', '--port', pair.b, '--image', badFile, '--state', join(dir, 'meter'), '--retry', '1']);
    // Wait until the HES has JOINed the meter into the concentrator (the concentrator link-acks the
    // JOIN); refusals reported after that are the wrong key, not an unknown meter.
    let deadline = Date.now() + 30_000;
    while (!seen.some((r) => r.ok && r.kind === 'link_ack') && Date.now() < deadline) await sleep(100);
    expect(seen.some((r) => r.ok && r.kind === 'link_ack')).toBe(true);
    await sleep(200);
    const mark = conc.err.join('').length;
    deadline = Date.now() + 20_000;
    const refusedAfterJoin = (): boolean => /meter frame\(s\) refused/.test(conc.err.join('').slice(mark));
    while (!refusedAfterJoin() && Date.now() < deadline) await sleep(200);
    expect(conc.err.join('').slice(mark)).toMatch(
      /concentrator [0-9a-f]{16}: \d+ meter frame\(s\) refused \(unknown meter, wrong link key, replay or forged\)/,
    );
    expect(seen.filter((r) => r.ok && r.meter === meterImg.id)).toEqual([]);
  }, 60_000);

  it('the concentrator process reconnects after the HES restarts, and commands flow again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vakt-e2e-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const kpe = initKpe(join(dir, 'kpe'));
    const { hes, cert } = await Hes.init({
      dbPath: join(dir, 'hes.sqlite'),
      storeKey: randomBytes(32),
      kpePublicKeys: [kpe.pub],
      synchronous: 'normal',
    });
    cleanup.push(() => hes.close());
    const batch = produceBatch(kpe, { meters: 1, concentrators: 1, hesCert: cert, outDir: join(dir, 'out') });
    await hes.importShipment(new Uint8Array(readFileSync(batch.shipmentFile)), 'admin', kpe.pub);
    const seen: IngestResult[] = [];
    let server = new HesServer(hes, { host: '127.0.0.1', port: 0, onResult: (r) => seen.push(r) });
    const port = await server.listen();
    cleanup.push(() => server.close());
    const meterImg = batch.images.find((i) => i.kind === 'meter')!;
    const concImg = batch.images.find((i) => i.kind === 'concentrator')!;
    const pair = await openPtyPair();
    cleanup.push(() => pair.close());
    const conc = vakt([
      'concentrator',
      '--hes',
      `127.0.0.1:${port}`,
      '--modem',
      pair.a,
      '--image',
      concImg.file,
      '--state',
      join(dir, 'conc'),
      '--retry',
      '2',
    ]);
    const meter = vakt(['meter', 'sim', '--port', pair.b, '--image', meterImg.file, '--state', join(dir, 'meter'), '--retry', '2']);
    const waitFor = async (pred: (r: IngestResult) => boolean, ms: number): Promise<boolean> => {
      const end = Date.now() + ms;
      while (!seen.some(pred) && Date.now() < end) await sleep(100);
      return seen.some(pred);
    };
    expect(await waitFor((r) => r.ok && r.kind === 'event', 30_000), conc.err.join('')).toBe(true);

    await server.close(); // the HES goes away…
    await sleep(1500);
    seen.length = 0;
    server = new HesServer(hes, { host: '127.0.0.1', port, onResult: (r) => seen.push(r) }); // …and comes back
    await server.listen();
    const id = await hes.enqueueCommand('admin', meterImg.id, { kind: 'relay', state: 0 });
    expect(
      await waitFor((r) => r.ok && r.kind === 'response', 30_000),
      `concentrator: ${conc.err.join('')}\nmeter: ${meter.err.join('')}`,
    ).toBe(true);
    expect((await hes.listCommands({ meter: meterImg.id })).find((c) => c.id === id)?.state).toBe('acknowledged');
    expect(conc.err.join('')).toMatch(/hes link: (connection lost|cannot connect)/);
  }, 90_000);
});
