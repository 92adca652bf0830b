// `npm run bench:hes -- --db postgres [--nodes 1,2,4]` (scripts/bench-hes.ts hands over to this file):
// HES ingest on PostgreSQL with 1, 2 and 4 nodes (issue 14). Every node is a separate process with
// its own pool and node name, serving its share of the concentrators (concentrator c on node
// c % nodes, as a deployment spreads their connections).
//   full mode (default): the Hes library — link MIC + end-to-end CCM verification, then commitIngest
//     (link counters, conditional replay advances, readings: one statement per batch) — on frames
//     sealed beforehand by kit meters: verified, durable frames/s;
//   --store-only: commitIngest alone on prepared results: what the database sustains.
//
//   tsx scripts/bench-hes-pg.ts [--pg <url>] [--nodes 1,2,4] [--frames 100000] [--meters 1000] [--batch 1000] [--runs 3] [--inflight 1]
//
// --inflight K: batches each node has in flight at once (the HES server commits the batches of
// different concentrator connections concurrently, up to its pool size).
//
// Without --pg (or VAKT_BENCH_PG / VAKT_TEST_PG) a throwaway cluster is started (test/pg/cluster.ts),
// fsync on. Last line: one JSON object, rows_per_s per node count (min and median of the runs).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPgStore } from '../host/src/hes/store/postgres/index.ts';
import { Hes } from '../host/src/hes/hes.ts';
import { KitConcentrator, KitMeter } from '../host/src/hes/testkit.ts';
import { initKpe, produceBatch } from '../host/src/kpe/kpe.ts';
import { fromHex, toHex } from '../host/src/crypto/bytes.ts';
import type { IngestCommit } from '../host/src/hes/store/types.ts';
import { freshDatabase, pgCluster } from '../test/pg/cluster.ts';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : def;
}

const E2E = 0x20;
const BACKHAUL = 0x82;
/** Meters behind one concentrator (as bench:hes). */
const METERS_PER_CONC = 100;

function meterId(i: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(0xa1a1a1a1, 0);
  b.writeUInt32BE(i, 4);
  return b;
}
function concId(i: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(0xc0c0c0c0, 0);
  b.writeUInt32BE(i, 4);
  return b;
}

/** The batches one node commits: meters m with m % nodes === node, interval seq after seq. */
function batchesFor(node: number, nodes: number, frames: number, meters: number, batch: number): IngestCommit[] {
  const mine: number[] = [];
  for (let m = 0; m < meters; m++) if (m % nodes === node) mine.push(m);
  const out: IngestCommit[] = [];
  let cur: IngestCommit = { link: [], frames: [] };
  const linkCtr = new Map<number, number>();
  const total = Math.floor(frames / nodes);
  for (let i = 0; i < total; i++) {
    const m = mine[i % mine.length]!;
    const seq = Math.floor(i / mine.length) + 1;
    const c = Math.floor(m / METERS_PER_CONC);
    const lc = (linkCtr.get(c) ?? 0) + 1;
    linkCtr.set(c, lc);
    const id = meterId(m);
    cur.link.push({ sender: concId(c), layer: BACKHAUL, op: 0, dir: 0, gen: 0, last: lc, frame: null });
    const e2e = randomBytes(30);
    cur.frames.push({
      advance: { sender: id, layer: E2E, op: 1, dir: 0, gen: 0, last: seq, frame: e2e },
      writes: [
        {
          kind: 'reading',
          meter: id,
          seq,
          t: 1_700_000_000 + seq * 900,
          wh: seq * 7,
          w: 230,
          counter: seq,
          gen: 0,
          via: concId(c),
          receivedMs: Date.now(),
        },
      ],
    });
    if (cur.frames.length === batch) {
      out.push(cur);
      cur = { link: [], frames: [] };
    }
  }
  if (cur.frames.length > 0) out.push(cur);
  return out;
}

/** Devices of the imported shipment, for the node processes to seal with (bench keys only). */
interface Devices {
  hesId: string;
  storeKey: string;
  meters: { id: string; mk: string; conc: string }[];
  concs: { id: string; lk: string; gen: number }[];
}

async function fullChild(): Promise<void> {
  const [url, node, nodes, frames, devFile, batch, inflight] = process.argv.slice(3);
  const d = JSON.parse(readFileSync(devFile!, 'utf8')) as Devices;
  const hes = await Hes.open({ dbPath: url!, storeKey: fromHex(d.storeKey), node: `bench${node}` });
  const hesId = fromHex(d.hesId);
  const mine = d.concs.filter((_, i) => i % Number(nodes) === Number(node));
  const kitC = new Map(mine.map((c) => [c.id, new KitConcentrator(fromHex(c.id), fromHex(c.lk), c.gen, hesId)]));
  const ms = d.meters
    .filter((m) => kitC.has(m.conc))
    .map((m) => ({ kit: new KitMeter(fromHex(m.id), fromHex(m.mk), hesId), conc: kitC.get(m.conc)! }));
  const total = Math.floor((Number(frames) * mine.length) / d.concs.length);
  const all: Uint8Array[] = [];
  for (let i = 0; i < total; i++) {
    const m = ms[i % ms.length]!;
    const seq = Math.floor(i / ms.length) + 1;
    all.push(m.conc.wrap(m.kit.seal(0x01, [0, seq, 1_700_000_000 + seq * 900, seq * 7, 230])));
  }
  // Batches per concentrator in order (one concentrator's link counters rise through its batches).
  const work: Uint8Array[][] = [];
  for (let i = 0; i < all.length; i += Number(batch)) work.push(all.slice(i, i + Number(batch)));
  process.stdout.write('ready\n');
  await new Promise<void>((r) => process.stdin.once('data', () => r()));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let won = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: Number(inflight) }, async () => {
      while (next < work.length) {
        const b = work[next++]!;
        for (const r of await hes.ingestBatch(b, Date.now())) if (r.ok && r.kind === 'reading') won++;
      }
    }),
  );
  const elapsed = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await hes.close();
  process.stdout.write(JSON.stringify({ won, ms: elapsed, cpuMs: (cpu.user + cpu.system) / 1000 }) + '\n', () => process.exit(0));
}

/** A HES with the bench's shipment imported on a fresh database; the devices file for the node processes. */
async function prepareFull(base: string, meters: number): Promise<{ url: string; devFile: string }> {
  const url = await freshDatabase(base, 'vakt_bench');
  const dir = mkdtempSync(join(tmpdir(), 'vakt-bench-pg-'));
  const storeKey = new Uint8Array(randomBytes(32));
  const kpe = initKpe(join(dir, 'kpe'));
  const { hes, cert } = await Hes.init({ dbPath: url, storeKey, kpePublicKeys: [kpe.pub] });
  const b = produceBatch(kpe, {
    meters,
    concentrators: Math.max(1, Math.ceil(meters / METERS_PER_CONC)),
    hesCert: cert,
    outDir: join(dir, 'batch'),
  });
  await hes.importShipment(readFileSync(b.shipmentFile), 'admin');
  await hes.close();
  const d: Devices = {
    hesId: toHex(cert.hesId),
    storeKey: toHex(storeKey),
    meters: b.meters.map((m) => ({ id: toHex(m.id), mk: toHex(m.masterKey), conc: toHex(m.concentratorId) })),
    concs: b.concentrators.map((c) => ({ id: toHex(c.id), lk: toHex(c.linkKey), gen: c.linkGen })),
  };
  const devFile = join(dir, 'devices.json');
  writeFileSync(devFile, JSON.stringify(d), { mode: 0o600 });
  return { url, devFile };
}

async function child(): Promise<void> {
  const [url, node, nodes, frames, meters, batch, inflight] = process.argv.slice(3);
  const store = await openPgStore(url!, { auditKey: randomBytes(32), node: `bench${node}` });
  const work = batchesFor(Number(node), Number(nodes), Number(frames), Number(meters), Number(batch));
  process.stdout.write('ready\n');
  await new Promise<void>((r) => process.stdin.once('data', () => r()));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let won = 0;
  let nextBatch = 0;
  // K workers; batch i of a node holds interval seq of all its meters, so workers never race on a key.
  await Promise.all(
    Array.from({ length: Number(inflight) }, async () => {
      while (nextBatch < work.length) {
        const c = work[nextBatch++]!;
        for (const r of await store.commitIngest(c)) if (r.won) won++;
      }
    }),
  );
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await store.close();
  process.stdout.write(JSON.stringify({ won, ms, cpuMs: (cpu.user + cpu.system) / 1000 }) + '\n', () => process.exit(0));
}

/** One run with `nodes` processes on a fresh database; aggregate rows/s (wall clock of the slowest node). */
async function run(
  base: string,
  nodes: number,
  frames: number,
  meters: number,
  batch: number,
  inflight: number,
  full: boolean,
): Promise<{ rowsPerS: number; nodeCpuMs: number; dbMs: number }> {
  const self = fileURLToPath(import.meta.url);
  let args: (i: number) => string[];
  if (full) {
    const { url, devFile } = await prepareFull(base, meters);
    args = (i) => ['--full-child', url, String(i), String(nodes), String(frames), devFile, String(batch), String(inflight)];
  } else {
    const url = await freshDatabase(base, 'vakt_bench');
    await (await openPgStore(url, { auditKey: randomBytes(32) })).close(); // schema once, before the clock
    args = (i) => ['--child', url, String(i), String(nodes), String(frames), String(meters), String(batch), String(inflight)];
  }
  const kids = Array.from({ length: nodes }, (_, i) =>
    spawn(process.execPath, ['--import', 'tsx', self, ...args(i)], { stdio: ['pipe', 'pipe', 'inherit'] }),
  );
  const lines = kids.map((k) => {
    let buf = '';
    const waiters: ((l: string) => void)[] = [];
    k.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const l = buf.slice(0, i);
        buf = buf.slice(i + 1);
        waiters.shift()?.(l);
      }
    });
    return () => new Promise<string>((r) => waiters.push(r));
  });
  const readyP = lines.map((next) => next());
  await Promise.all(readyP);
  const doneP = lines.map((next) => next());
  const t0 = performance.now();
  for (const k of kids) k.stdin!.write('go\n');
  const done = (await Promise.all(doneP)).map((l) => JSON.parse(l) as { won: number; ms: number; cpuMs: number });
  const ms = performance.now() - t0;
  for (const k of kids) k.stdin!.end();
  const won = done.reduce((a, d) => a + d.won, 0);
  return { rowsPerS: Math.round((won / ms) * 1000), nodeCpuMs: Math.round(done.reduce((a, d) => a + d.cpuMs, 0)), dbMs: Math.round(ms) };
}

async function main(): Promise<void> {
  const nodesList = arg('nodes', '1,2,4').split(',').map(Number);
  const frames = Number(arg('frames', '100000'));
  const meters = Number(arg('meters', '1000'));
  const batch = Number(arg('batch', '1000'));
  const runs = Number(arg('runs', '3'));
  const inflight = Number(arg('inflight', '1'));
  const full = !process.argv.includes('--store-only');
  const given = arg('pg', process.env.VAKT_BENCH_PG ?? process.env.VAKT_TEST_PG ?? '');
  const cluster = given === '' ? await pgCluster() : { url: given, reason: '', stop: async () => undefined };
  if (cluster.url === undefined) {
    process.stderr.write(`bench-hes-pg: ${cluster.reason}\n`);
    process.exit(1);
  }
  const out: { [n: string]: { min: number; median: number; runs: number[]; node_cpu_us_per_frame: number } } = {};
  process.stderr.write(
    `${full ? 'verified + durable (Hes on PostgreSQL)' : 'store only (commitIngest)'}, batch ${batch}, ${frames} frames, ${meters} meters, ${inflight} batch(es) in flight per node\n`,
  );
  try {
    for (const n of nodesList) {
      const rs: { rowsPerS: number; nodeCpuMs: number }[] = [];
      for (let i = 0; i < runs; i++) {
        const r = await run(cluster.url, n, frames, meters, batch, inflight, full);
        process.stderr.write(
          `nodes ${n} run ${i + 1}: ${r.rowsPerS} ${full ? 'verified frames' : 'rows'}/s (${r.dbMs} ms, node CPU ${r.nodeCpuMs} ms, load ${loadavg()[0]!.toFixed(1)})\n`,
        );
        rs.push(r);
      }
      const v = rs.map((r) => r.rowsPerS).sort((a, b) => a - b);
      out[String(n)] = {
        min: v[0]!,
        median: v[Math.floor(v.length / 2)]!,
        runs: v,
        node_cpu_us_per_frame: Math.round((rs[0]!.nodeCpuMs * 1000) / frames),
      };
    }
  } finally {
    await cluster.stop();
  }
  console.log(
    JSON.stringify({
      store: 'postgres',
      mode: full ? 'verified' : 'store_only',
      batch,
      inflight,
      frames,
      meters,
      [full ? 'frames_per_s' : 'rows_per_s']: out,
      cpus: cpus().length,
      load: Number(loadavg()[0]!.toFixed(1)),
    }),
  );
}

if (process.argv[2] === '--child') await child();
else if (process.argv[2] === '--full-child') await fullChild();
else {
  await main();
  process.exit(0);
}
