// npm run bench:hes — durable HES ingest: 100 000 link frames from 1 000 meters (link MIC + end-to-end
// CCM verification with the core, replay counters and readings in one SQLite transaction per batch),
// with batches of 1, 100 and 1 000. Reference run in the same process: the database part alone
// (same rows, same transactions, no verification). Last line: one JSON object.
//
// Options: --frames N (default 100000), --meters M (default 1000), --batch1-frames K (frames for
// batch size 1, default 2000: one fsync per frame), --sync full|normal (default full), --batches
// 1,100,1000 (the batch sizes to run).
// --db postgres [--nodes 1,2,4] [--pg <url>]: the PostgreSQL store with N node processes (scripts/bench-hes-pg.ts).
import { mkdtempSync, readFileSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir, loadavg, cpus } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { initKpe, produceBatch } from '../host/src/kpe/kpe.ts';
import { Hes, CACHE_KIB } from '../host/src/hes/hes.ts';
import { KitMeter, KitConcentrator } from '../host/src/hes/testkit.ts';
import { randomBytes, toHex } from '../host/src/crypto/bytes.ts';

/** Issue 14's goal for SQLite at batch 1,000 on this 2-core machine: verified, durable frames per second. */
const SQLITE_TARGET_FRAMES_PER_S = 60_000;

if (process.argv.includes('--db') && /^postgres/.test(process.argv[process.argv.indexOf('--db') + 1] ?? '')) {
  await import('./bench-hes-pg.ts');
  process.exit(0);
}

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}

const FRAMES = Number(arg('frames', '100000'));
const METERS = Number(arg('meters', '1000'));
const BATCH1_FRAMES = Number(arg('batch1-frames', '2000'));
const SYNC = arg('sync', 'full') === 'normal' ? 'normal' : 'full';
const CONCENTRATORS = Math.max(1, Math.ceil(METERS / 100));
const BATCHES = arg('batches', '1,100,1000').split(',').map(Number);

const dir = mkdtempSync(join(tmpdir(), 'vakt-bench-hes-'));
const storeKey = randomBytes(32);
const kpe = initKpe(join(dir, 'kpe'));
const basePath = join(dir, 'base.db');
const { hes: base, cert } = await Hes.init({ dbPath: basePath, storeKey, kpePublicKeys: [kpe.pub] });
const batch = produceBatch(kpe, { meters: METERS, concentrators: CONCENTRATORS, hesCert: cert, outDir: join(dir, 'batch') });
await base.importShipment(readFileSync(batch.shipmentFile), 'admin');
base.db.pragma('wal_checkpoint(TRUNCATE)');
await base.close();

const concs = new Map(batch.concentrators.map((c) => [toHex(c.id), new KitConcentrator(c.id, c.linkKey, c.linkGen, cert.hesId)]));
const meters = batch.meters.map((m) => ({ kit: new KitMeter(m.id, m.masterKey, cert.hesId), conc: concs.get(toHex(m.concentratorId))! }));

const tGen = performance.now();
const frames: Uint8Array[] = [];
const rows: { meter: Uint8Array; seq: number }[] = [];
for (let i = 0; i < FRAMES; i++) {
  const m = meters[i % METERS]!;
  const seq = Math.floor(i / METERS) + 1;
  frames.push(m.conc.wrap(m.kit.seal(0x01, [0, seq, 1_700_000_000 + seq * 900, seq * 7, 230])));
  rows.push({ meter: m.kit.id, seq });
}
const genMs = performance.now() - tGen;
process.stderr.write(`generated ${FRAMES} frames in ${genMs.toFixed(0)} ms (kit sealing: e2e + link)\n`);

function freshDb(name: string): string {
  const p = join(dir, `${name}.db`);
  copyFileSync(basePath, p);
  return p;
}

/** Reference: the same durable writes without any verification (readings + replay rows per batch). */
function dbOnly(batchSize: number, n: number): number {
  const db = new Database(freshDb(`ref-${batchSize}`));
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${SYNC === 'full' ? 'FULL' : 'NORMAL'}`);
  db.pragma(`cache_size = -${CACHE_KIB}`);
  const ins = db.prepare(
    'INSERT OR IGNORE INTO readings (meter_id, seq, t, wh, w, counter, gen, via, received_ms) VALUES (?,?,?,?,?,?,?,?,?)',
  );
  const rep = db.prepare(
    'INSERT INTO replay (sender, layer, op, dir, gen, last) VALUES (?,?,?,?,?,?) ON CONFLICT (sender, layer, op, dir, gen) DO UPDATE SET last = excluded.last WHERE excluded.last > replay.last',
  );
  const via = new Uint8Array(8);
  const t0 = performance.now();
  for (let i = 0; i < n; i += batchSize) {
    db.transaction(() => {
      for (let j = i; j < Math.min(n, i + batchSize); j++) {
        const r = rows[j]!;
        ins.run(r.meter, r.seq, 1, 2, 3, r.seq, 0, via, 0);
        rep.run(r.meter, 1, 1, 0, 0, r.seq);
        rep.run(via, 0x81, 0, 0, 0, j + 1);
      }
    })();
  }
  const ms = performance.now() - t0;
  db.close();
  return (n / ms) * 1000;
}

const cpuRate: Record<string, number> = {};

async function verified(batchSize: number, n: number): Promise<number> {
  const hes = await Hes.open({ dbPath: freshDb(`hes-${batchSize}`), storeKey, synchronous: SYNC });
  const now = Date.now();
  let accepted = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i += batchSize) {
    const res = await hes.ingestBatch(frames.slice(i, Math.min(n, i + batchSize)), now);
    for (const r of res) if (r.ok && r.kind === 'reading') accepted++;
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  process.stderr.write(
    `  verified batch ${batchSize}: wall ${ms.toFixed(0)} ms, cpu user ${(cpu.user / 1000).toFixed(0)} ms, sys ${(cpu.system / 1000).toFixed(0)} ms\n`,
  );
  // Frames per second of CPU time used by this process: what the HES sustains when it has a core to itself.
  cpuRate[String(batchSize)] = Math.round((n / (cpu.user + cpu.system)) * 1e6);
  const stored = await hes.store.count('readings');
  await hes.close();
  if (accepted !== n || stored !== n) throw new Error(`bench: accepted ${accepted}, stored ${stored}, expected ${n}`);
  return (n / ms) * 1000;
}

const out: Record<string, unknown> = { bench: 'hes-ingest', meters: METERS, synchronous: SYNC };
const fps: Record<string, number> = {};
const ref: Record<string, number> = {};
const ratio: Record<string, number> = {};
const counts: Record<string, number> = {};
for (const b of BATCHES) {
  const n = b === 1 ? Math.min(FRAMES, BATCH1_FRAMES) : FRAMES;
  const r = dbOnly(b, n);
  const v = await verified(b, n);
  fps[String(b)] = Math.round(v);
  ref[String(b)] = Math.round(r);
  ratio[String(b)] = Number((v / r).toFixed(3));
  counts[String(b)] = n;
  process.stderr.write(
    `batch ${b}: ${n} frames, verified+durable ${v.toFixed(0)} frames/s, database part alone ${r.toFixed(0)} rows/s, ratio ${(v / r).toFixed(3)}\n`,
  );
}
out.frames = counts;
out.frames_per_s = fps;
out.db_only_rows_per_s = ref;
out.ratio_vs_db_only = ratio;
out.frames_per_cpu_s = cpuRate;
out.target_batch_1000 = SQLITE_TARGET_FRAMES_PER_S;
out.loadavg_1min = Number(loadavg()[0]!.toFixed(2));
out.cores = cpus().length;
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify(out));
