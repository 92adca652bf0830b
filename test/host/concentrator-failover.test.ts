// Concentrator failover (issue 14): a concentrator configured with two HES addresses keeps its
// meters reporting when the node it talks to dies. Node A (`vakt hes serve`, a child process) is
// SIGKILLed mid-stream; the concentrator — real firmware, HesLink with both addresses — moves to
// node B on its own and resends what A never acknowledged.
// - SQLite: one node serves a store at a time (serve lease), so B is started once A is dead and
//   takes the lease (what an operator's supervisor does);
// - PostgreSQL: A and B serve the same database at the same time (`--node a`, `--node b`). Nothing queued is lost (every meter's intervals are
// stored without a gap) and nothing is counted twice (one row per interval; the meters' own pending
// counts drain to the HES's acknowledgments).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg_ from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createSerialPair, createSystemClock } from '@vakt/boards/sim/index';
import { HesLink } from '../../host/src/bridge/hes-link.ts';
import { deviceStorage, runConcentrator, runMeter, type SimMeter } from '../../host/src/bridge/devices.ts';
import { Hes } from '../../host/src/hes/hes.ts';
import { initKpe, produceBatch } from '../../host/src/kpe/kpe.ts';
import { freshDatabase, pgCluster } from '../pg/cluster.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'host/bin/vakt.js');
/** Meters behind the concentrator. */
const METERS = 3;
/** Load-profile interval of the meters (s): fast, so the test sees many intervals around the kill. */
const INTERVAL_S = 1;

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(what: string, cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`not reached within ${ms} ms: ${what}`);
    await sleep(50);
  }
}
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const cluster = await pgCluster();
afterAll(() => cluster.stop());

/** `vakt hes serve` on `port` as a child process; resolves once it listens. */
async function serve(dir: string, db: string, port: number, node: string): Promise<ChildProcess & { err: string[] }> {
  const child = spawn(
    process.execPath,
    [BIN, 'hes', 'serve', '--db', db, '--store-key-file', 'store.key', '--port', String(port), '--node', node],
    {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  ) as ChildProcess & { err: string[] };
  child.err = [];
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
  await new Promise<void>((res, rej) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('listening')) res();
    });
    child.once('exit', (c) => rej(new Error(`hes serve exited ${c}: ${child.err.join('')}`)));
  });
  return child;
}

const STORES = [
  { name: 'sqlite', skip: '' },
  { name: 'postgres', skip: cluster.url === undefined ? cluster.reason : '' },
];
for (const st of STORES) if (st.skip !== '') console.log(`skipped: concentrator failover on ${st.name}: ${st.skip}`);

describe.each(STORES)('concentrator failover between two HES nodes on one store ($name)', ({ name, skip }) => {
  it.skipIf(skip !== '')(
    'node A is SIGKILLed mid-stream: the concentrator moves to node B, every interval stored once, none lost',
    async () => {
      const pg = name === 'postgres';
      const dir = mkdtempSync(join(tmpdir(), 'vakt-failover-'));
      const db = pg ? await freshDatabase(cluster.url!) : 'hes.sqlite';
      cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
      const kpe = initKpe(join(dir, 'kpe'));
      const storeKey = randomBytes(32);
      writeFileSync(join(dir, 'store.key'), storeKey.toString('hex') + '\n', { mode: 0o600 });
      const { hes, cert } = await Hes.init({ dbPath: pg ? db : join(dir, db), storeKey, kpePublicKeys: [kpe.pub], synchronous: 'normal' });
      const batch = produceBatch(kpe, { meters: METERS, concentrators: 1, hesCert: cert, outDir: join(dir, 'out') });
      await hes.importShipment(new Uint8Array(readFileSync(batch.shipmentFile)), 'admin', kpe.pub);
      await hes.close();

      const [portA, portB] = [await freePort(), await freePort()];
      const nodeA = await serve(dir, db, portA, 'a');
      // PostgreSQL: node B serves already; SQLite: it is started once A is dead (one node per file).
      let nodeB = pg ? await serve(dir, db, portB, 'b') : undefined;

      const clock = createSystemClock();
      cleanup.push(() => clock.stop());
      const link = new HesLink({
        addresses: [
          { host: '127.0.0.1', port: portA },
          { host: '127.0.0.1', port: portB },
        ],
        minBackoffMs: 50,
        maxBackoffMs: 500,
        resendWindowBytes: 0,
      });
      cleanup.push(() => link.close());
      const lines = Array.from({ length: METERS }, () => createSerialPair());
      const concImg = batch.images.find((i) => i.kind === 'concentrator')!;
      const concBytes = new Uint8Array(readFileSync(concImg.file));
      const conc = runConcentrator({
        image: concBytes,
        hes: link,
        meterLines: lines.map((l) => l[0]),
        storage: deviceStorage(concBytes, undefined),
        clock,
        options: { retryS: 2, upSlots: 64, slotsPerMeter: 16 },
      });
      const meters: SimMeter[] = batch.images
        .filter((i) => i.kind === 'meter')
        .map((img, k) => {
          const bytes = new Uint8Array(readFileSync(img.file));
          return runMeter({
            image: bytes,
            line: lines[k]![1],
            storage: deviceStorage(bytes, undefined),
            clock,
            options: { intervalS: INTERVAL_S, retryS: 2 },
          });
        });
      link.start();

      // Readings as stored, read through the store (the SQLite file read-only, or PostgreSQL).
      const sql = pg ? new pg_.Pool({ connectionString: db, max: 1 }) : undefined;
      const lite = pg ? undefined : new Database(join(dir, db), { readonly: true, fileMustExist: true });
      cleanup.push(async () => {
        lite?.close();
        await sql?.end();
      });
      const hex = (id: Uint8Array): string => Buffer.from(id).toString('hex');
      const stored = new Map<string, number[]>();
      const refresh = async (): Promise<void> => {
        const rows =
          sql !== undefined
            ? ((await sql.query('SELECT meter_id, seq::int AS seq FROM readings ORDER BY meter_id, seq')).rows as {
                meter_id: Buffer;
                seq: number;
              }[])
            : (lite!.prepare('SELECT meter_id, seq FROM readings ORDER BY meter_id, seq').all() as { meter_id: Buffer; seq: number }[]);
        stored.clear();
        for (const r of rows) stored.set(r.meter_id.toString('hex'), [...(stored.get(r.meter_id.toString('hex')) ?? []), r.seq]);
      };
      const seqsOf = (m: SimMeter): number[] => stored.get(hex(m.app.meterId)) ?? [];
      const untilStored = async (what: string, cond: () => boolean, ms: number): Promise<void> => {
        const end = Date.now() + ms;
        for (;;) {
          await refresh();
          if (cond()) return;
          if (Date.now() > end) throw new Error(`not reached within ${ms} ms: ${what}`);
          await sleep(100);
        }
      };
      const contiguousFrom1 = (s: number[]): boolean => s.every((v, i) => v === i + 1);

      await untilStored('node A stores 3 intervals of every meter', () => meters.every((m) => seqsOf(m).length >= 3), 30_000);
      nodeA.kill('SIGKILL');
      await new Promise((r) => nodeA.once('exit', r));
      const atKill = new Map(meters.map((m) => [hex(m.app.meterId), m.app.profile.nextSeq_ - 1]));
      if (!pg) {
        // The meters keep closing intervals while no node serves: the concentrator queues them.
        await until('frames queued in the concentrator while no node serves', () => conc.app.upQueue.size() >= METERS, 15_000);
        expect(link.isConnected).toBe(false);
        nodeB = await serve(dir, db, portB, 'b');
      }
      await untilStored(
        'every meter reported 3 intervals past the kill to node B, without a gap',
        () =>
          meters.every((m) => {
            const s = seqsOf(m);
            return contiguousFrom1(s) && s.length >= atKill.get(hex(m.app.meterId))! + 3;
          }),
        45_000,
      );
      expect(link.address.port).toBe(portB);
      expect(link.stats.failovers).toBeGreaterThanOrEqual(1);

      // Quiesce: the meters stop closing intervals; everything still queued drains to node B.
      clock.stop();
      const drain = createSystemClock();
      cleanup.push(() => drain.stop());
      drain.every(200, () => {
        const now = Math.floor(Date.now() / 1000) + 60; // retries are due at once
        conc.app.tick(now);
        for (const m of meters) m.app.tick(now);
      });
      await until(
        'concentrator queue empty and every meter acknowledged',
        () => conc.app.upQueue.size() === 0 && meters.every((m) => m.app.profile.pending() === 0),
        30_000,
      );
      await refresh();

      for (const m of meters) {
        const s = seqsOf(m);
        expect(contiguousFrom1(s), `meter ${hex(m.app.meterId)} intervals ${s.join(',')}`).toBe(true);
        expect(s.length).toBe(m.app.profile.nextSeq_ - 1);
      }
      // One row per (meter, interval): the primary key says so; the lists above have no repeats either.
      for (const m of meters) expect(new Set(seqsOf(m)).size).toBe(seqsOf(m).length);
      expect(conc.app.upQueue.expired).toBe(0);
      expect(conc.app.upQueue.refused).toBe(0);
      nodeB!.kill('SIGTERM');
      await new Promise((r) => nodeB!.once('exit', r));
    },
    150_000,
  );
});
