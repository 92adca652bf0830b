/**
 * Core benchmark (npm run bench:core). In one process:
 *  - core: seal + open of a 64-byte READING body with its 26-byte header as AAD and a 12-byte tag,
 *    through sealFrame/openFrame (expanded key kept in the slot, as the meter does), plus the same
 *    at the CCM level (ctx.ccm_, what sealFrame/openFrame call). The context is the one the HES
 *    uses: createFastCryptoCtx() (shared/src/fastccm.ts: four-table AES, word-wise CCM); with
 *    `--ctx soft` it is the embedded default createCryptoCtx() (softAes, ccm.ts) instead;
 *  - reference: node:crypto AES-128-CCM with a new cipher object per frame (createCipheriv /
 *    createDecipheriv per frame, as a host uses it), same sizes;
 *  - the AES floor: the CPU time of one more AES block through the same CCM (a 1024-byte payload
 *    minus a 64-byte one) times the blocks one frame needs (24: seal and open, 12 each), and
 *    node:crypto's time per frame over that floor, the ceiling of the ratio at this block cost;
 *  - GC events (PerformanceObserver 'gc') during 100 000 core frames after warm-up;
 *  - esbuild bundle sizes (minified, es2020, esm) of shared/src/index.ts and of the crypto
 *    primitives alone, raw and gzip; the 1-minute load average, since other processes skew timings.
 * By default it runs that measurement RUNS times, each in a fresh process (`--once` is one run),
 * prints every run and then the minimum and median of the ratio and the largest GC count, so
 * one lucky run cannot hide a slow path. Last line: one JSON object.
 *
 * The slow path this guards against (issue 11): about one run in five used to fall to 0.44x
 * node:crypto with ~130-160 GC events per 100k frames. --trace-opt/--trace-deopt showed why: the
 * first node:crypto call in a process invalidates a V8 dependency that every optimised core
 * function holds ("marking dependent code ... reason: code dependencies", all of sealFrame,
 * openFrame, _ccm, _cmacAbsorb and the AES block at once); in the slow runs the AES block function,
 * which had also been OSR-compiled, was never re-optimised, so it ran unoptimised, where every
 * uint32 of 2^31 or more (Uint32Array table loads, `>>> 0` results) is a heap number: ~8
 * allocations per block. Fixes: node:crypto is warmed up first here (a HES process uses it at
 * start, before the core is hot), and the AES block works in signed 32-bit values (Int32Array
 * table, no `>>> 0`), which no tier boxes.
 *
 * usage: tsx scripts/bench-core.ts [--runs N | --once] [--ctx host|soft]
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';
import {
  DIR_UP,
  E2E_VERSION,
  HEADER_LEN,
  OP_READING,
  createCryptoCtx,
  createHeader,
  createKeySlot,
  createSendCounter,
  expandKey,
  openFrame,
  parseHeader,
  sealFrame,
  setSlotKey,
} from '../shared/src/index.ts';
import { createFastCryptoCtx } from '../shared/src/fastccm.ts';

const BODY_LEN = 64;
const TAG_LEN = 12;
const WARMUP_FRAMES = 30_000;
const GC_FRAMES = 100_000;
const MEASURE_MS = 250;
// Many short slices, alternating core / node, best of each: other processes on a shared machine
// slow whole slices down, and the best slice of each side is the least disturbed one.
const ROUNDS = 12;

const key = new Uint8Array(randomBytes(16));
const meterId = new Uint8Array(randomBytes(8));
const hesId = new Uint8Array(randomBytes(8));
const body = new Uint8Array(randomBytes(BODY_LEN));
// Which core path is measured: the host's (default) or the embedded default (--ctx soft). One
// context per process, as in a HES: a second one would make sealFrame's CCM call site polymorphic.
const CTX_ARG = process.argv.indexOf('--ctx');
const CTX_KIND = CTX_ARG > 0 ? process.argv[CTX_ARG + 1] : 'host';
if (CTX_KIND !== 'host' && CTX_KIND !== 'soft') throw new Error('bench: --ctx host|soft');
const ctx = CTX_KIND === 'soft' ? createCryptoCtx() : createFastCryptoCtx();

// Frame level: a meter sending slot and a HES receiving slot on the same key.
const tx = createKeySlot(E2E_VERSION, OP_READING, DIR_UP, 0, meterId, hesId);
const rx = createKeySlot(E2E_VERSION, OP_READING, DIR_UP, 0, hesId, meterId);
setSlotKey(tx, key, 0);
setSlotKey(rx, key, 0);
tx.ctr = createSendCounter(0, 1 << 30, () => true); // persistence is not what is measured here
const frame = new Uint8Array(HEADER_LEN + BODY_LEN + TAG_LEN);
const plain = new Uint8Array(BODY_LEN);
const hdr = createHeader();

function frameLoop(n: number): number {
  let bad = 0;
  for (let i = 0; i < n; i++) {
    const len = sealFrame(ctx, tx, OP_READING, body, 0, BODY_LEN, frame, 0);
    if (parseHeader(frame, 0, len, hdr) < 0 || openFrame(ctx, hdr, rx, frame, 0, plain, 0) !== BODY_LEN) bad++;
  }
  return bad;
}

// CCM level: the same work without frame handling, through the context's CCM (ccmSeal/ccmOpen's
// parameters: AAD in one segment).
const rk = new Uint32Array(44);
expandKey(key, 0, rk);
const nonce = new Uint8Array(randomBytes(13));
const header = new Uint8Array(randomBytes(HEADER_LEN));
const sealed = new Uint8Array(BODY_LEN + TAG_LEN);

function ccmLoop(n: number): number {
  let bad = 0;
  for (let i = 0; i < n; i++) {
    nonce[9] = i >>> 16;
    nonce[10] = i >>> 8;
    nonce[11] = i;
    ctx.ccm_(ctx, rk, nonce, 0, header, 0, header, 0, HEADER_LEN, body, 0, BODY_LEN, sealed, BODY_LEN, TAG_LEN, sealed, 0, false);
    if (!ctx.ccm_(ctx, rk, nonce, 0, header, 0, header, 0, HEADER_LEN, sealed, 0, BODY_LEN, sealed, BODY_LEN, TAG_LEN, plain, 0, true))
      bad++;
  }
  return bad;
}

// The AES floor: the marginal CPU time of one more AES block through the same CCM (a LONG_LEN
// payload minus a BODY_LEN one: two blocks, CTR and CBC-MAC, per 16 bytes), and the blocks one
// frame costs (seal and open each: B0, the AAD blocks, two per payload block, S0). Frames can go
// no faster than blocks x that, whatever the frame handling: the ratio node / floor is the ceiling
// of any CCM built on this block function.
const LONG_LEN = 1024;
const longBody = new Uint8Array(randomBytes(LONG_LEN));
const longSealed = new Uint8Array(LONG_LEN + TAG_LEN);
const AAD_LEN_BYTES = 2; // RFC 3610: the AAD is prefixed with its 2-byte length
const blocks = (n: number): number => Math.ceil(n / 16);
// e2e AAD = R (HEADER_LEN) ‖ wire header (4 bytes in the short-counter form).
const E2E_WIRE_HDR = 4;
const BLOCKS_PER_FRAME = 2 * (1 + blocks(AAD_LEN_BYTES + HEADER_LEN + E2E_WIRE_HDR) + 2 * blocks(BODY_LEN) + 1);

function sealLoop(n: number, len: number, src: Uint8Array, dst: Uint8Array): void {
  for (let i = 0; i < n; i++) {
    nonce[12] = i;
    ctx.ccm_(ctx, rk, nonce, 0, header, 0, header, 0, HEADER_LEN, src, 0, len, dst, len, TAG_LEN, dst, 0, false);
  }
}

// CPU ns per call of sealLoop at this payload length: the best of several slices.
function sealNs(len: number, src: Uint8Array, dst: Uint8Array): number {
  const n = 2000;
  let best = Infinity;
  for (let r = 0; r < 20; r++) {
    const c0 = process.cpuUsage();
    sealLoop(n, len, src, dst);
    const c = process.cpuUsage(c0);
    best = Math.min(best, ((c.user + c.system) * 1000) / n);
  }
  return best;
}

const nodeKey = Buffer.from(key);
const nodeNonce = Buffer.from(nonce);
const nodeHeader = Buffer.from(header);
const nodeBody = Buffer.from(body);

function nodeLoop(n: number): number {
  let bad = 0;
  for (let i = 0; i < n; i++) {
    nodeNonce[11] = i;
    const c = createCipheriv('aes-128-ccm', nodeKey, nodeNonce, { authTagLength: TAG_LEN });
    c.setAAD(nodeHeader, { plaintextLength: BODY_LEN });
    const ct = c.update(nodeBody);
    c.final();
    const tag = c.getAuthTag();
    const d = createDecipheriv('aes-128-ccm', nodeKey, nodeNonce, { authTagLength: TAG_LEN });
    d.setAuthTag(tag);
    d.setAAD(nodeHeader, { plaintextLength: BODY_LEN });
    const pt = d.update(ct);
    d.final();
    if (pt.length !== BODY_LEN) bad++;
  }
  return bad;
}

// Frames per second over one slice of MEASURE_MS: by the wall clock, and by this process's CPU
// time (all its threads, so node's GC helpers count against node), which other processes on a
// shared machine disturb less.
function rate(loop: (n: number) => number, batch: number): { wall: number; cpu: number } {
  let frames = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < MEASURE_MS) {
    if (loop(batch) !== 0) throw new Error('bench: a frame failed to open');
    frames += batch;
    t = performance.now();
  }
  const c = process.cpuUsage(c0);
  return { wall: (frames * 1000) / (t - t0), cpu: (frames * 1e6) / (c.user + c.system) };
}

async function countGc(loop: (n: number) => number, n: number): Promise<number> {
  let events = 0;
  const obs = new PerformanceObserver((list) => {
    events += list.getEntries().length;
  });
  obs.observe({ entryTypes: ['gc'] });
  await new Promise((r) => setTimeout(r, 50)); // let pending GC entries from earlier work drain
  events = 0;
  if (loop(n) !== 0) throw new Error('bench: a frame failed to open');
  await new Promise((r) => setTimeout(r, 100)); // GC entries are delivered asynchronously
  obs.disconnect();
  return events;
}

async function bundleSize(entry: { path?: string; contents?: string }): Promise<{ raw: number; gzip: number }> {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const r = await build({
    ...(entry.path
      ? { entryPoints: [entry.path] }
      : { stdin: { contents: entry.contents!, resolveDir: root + 'shared/src', loader: 'ts' } }),
    absWorkingDir: root,
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2020',
    write: false,
    logLevel: 'silent',
  });
  const code = r.outputFiles[0].contents;
  return { raw: code.length, gzip: gzipSync(code, { level: 9 }).length };
}

async function once(): Promise<void> {
  // node:crypto first: its first use deoptimises every optimised core function (see the header).
  nodeLoop(WARMUP_FRAMES / 3);
  frameLoop(WARMUP_FRAMES);
  ccmLoop(WARMUP_FRAMES);
  let core = 0,
    ccm = 0,
    node = 0,
    coreCpu = 0,
    ccmCpu = 0,
    nodeCpu = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const a = rate(frameLoop, 1000);
    const b = rate(ccmLoop, 1000);
    const c = rate(nodeLoop, 200);
    core = Math.max(core, a.wall);
    coreCpu = Math.max(coreCpu, a.cpu);
    ccm = Math.max(ccm, b.wall);
    ccmCpu = Math.max(ccmCpu, b.cpu);
    node = Math.max(node, c.wall);
    nodeCpu = Math.max(nodeCpu, c.cpu);
  }
  sealLoop(WARMUP_FRAMES / 10, LONG_LEN, longBody, longSealed);
  const blockNs = (sealNs(LONG_LEN, longBody, longSealed) - sealNs(BODY_LEN, body, sealed)) / (2 * (blocks(LONG_LEN) - blocks(BODY_LEN)));
  const floorNs = BLOCKS_PER_FRAME * blockNs;
  const gcFrame = await countGc(frameLoop, GC_FRAMES);
  const gcCcm = await countGc(ccmLoop, GC_FRAMES);
  // Calibration: a loop that allocates one 100-byte buffer per frame must show GC events here.
  const gcAlloc = await countGc((n: number) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += new Uint8Array(100).length;
    return s === n * 100 ? 0 : 1;
  }, GC_FRAMES * 10);
  const whole = await bundleSize({ path: 'shared/src/index.ts' });
  const prim = await bundleSize({
    contents:
      "export * from './utils.ts'; export * from './aes.ts'; export * from './ctx.ts'; export * from './cmac.ts'; export * from './kdf.ts'; export * from './ccm.ts';",
  });
  console.log(
    `core path: ${CTX_KIND === 'host' ? 'host (createFastCryptoCtx, as the HES)' : 'embedded default (createCryptoCtx: softAes, ccm.ts)'}`,
  );
  console.log(`core sealFrame+openFrame : ${core.toFixed(0)} frames/s (${(1e9 / core).toFixed(0)} ns per frame)`);
  console.log(`core CCM seal+open       : ${ccm.toFixed(0)} frames/s (${(1e9 / ccm).toFixed(0)} ns per frame)`);
  console.log(`node:crypto CCM per frame: ${node.toFixed(0)} frames/s (${(1e9 / node).toFixed(0)} ns per frame)`);
  console.log(
    `per CPU second: core ${coreCpu.toFixed(0)} (ccm level ${ccmCpu.toFixed(0)}), node ${nodeCpu.toFixed(0)} frames (ratio ${(coreCpu / nodeCpu).toFixed(2)}, ccm level ${(ccmCpu / nodeCpu).toFixed(2)})`,
  );
  console.log(
    `AES floor: ${blockNs.toFixed(1)} ns CPU per block (marginal, through the CCM) x ${BLOCKS_PER_FRAME} blocks per frame = ${floorNs.toFixed(0)} ns; node:crypto ${(1e9 / nodeCpu).toFixed(0)} ns CPU per frame: ceiling ${(1e9 / nodeCpu / floorNs).toFixed(2)}x`,
  );
  console.log(
    `GC events per 100k frames: frame level ${gcFrame}, ccm level ${gcCcm} (calibration: ${gcAlloc} events for 1M allocating iterations)`,
  );
  console.log(
    `bundle shared/src/index.ts: ${whole.raw} B raw, ${whole.gzip} B gzip; crypto primitives alone: ${prim.raw} B raw, ${prim.gzip} B gzip`,
  );
  const r2 = (x: number): number => Math.round(x * 100) / 100;
  console.log(
    JSON.stringify({
      core_path: CTX_KIND,
      core_frames_per_s: Math.round(core),
      core_ns_per_frame: Math.round(1e9 / core),
      node_ns_per_frame: Math.round(1e9 / node),
      node_ccm_frames_per_s: Math.round(node),
      ratio_vs_node_ccm: r2(core / node),
      gc_events_per_100k: gcFrame,
      core_bundle_bytes: whole.raw,
      core_bundle_gzip_bytes: whole.gzip,
      ccm_frames_per_s: Math.round(ccm),
      ccm_ratio_vs_node_ccm: r2(ccm / node),
      ccm_gc_events_per_100k: gcCcm,
      gc_calibration_events_1m_allocs: gcAlloc,
      ratio_vs_node_ccm_cpu_time: r2(coreCpu / nodeCpu),
      ccm_ratio_vs_node_ccm_cpu_time: r2(ccmCpu / nodeCpu),
      aes_ns_per_block_cpu: r2(blockNs),
      aes_blocks_per_frame: BLOCKS_PER_FRAME,
      aes_floor_ns_per_frame_cpu: Math.round(floorNs),
      node_ns_per_frame_cpu: Math.round(1e9 / nodeCpu),
      core_ns_per_frame_cpu: Math.round(1e9 / coreCpu),
      ceiling_ratio_cpu_time: r2(1e9 / nodeCpu / floorNs),
      crypto_bundle_bytes: prim.raw,
      crypto_bundle_gzip_bytes: prim.gzip,
      loadavg_1m: r2(loadavg()[0]),
    }),
  );
}

const DEFAULT_RUNS = 10;

/** Runs `once` in `runs` fresh processes; prints each run, then min / median; last line JSON. */
function many(runs: number): void {
  const self = fileURLToPath(import.meta.url);
  const rows: Record<string, number>[] = []; // core_path is the one string among them
  for (let r = 0; r < runs; r++) {
    const out = execFileSync(process.execPath, [...process.execArgv, self, '--once', '--ctx', CTX_KIND], {
      encoding: 'utf8',
      maxBuffer: 16 << 20,
    });
    const last = out.trim().split('\n').pop()!;
    const row = JSON.parse(last) as Record<string, number>;
    rows.push(row);
    console.log(
      `run ${r + 1}/${runs}: ${row.ratio_vs_node_ccm}x node:crypto CCM (cpu ${row.ratio_vs_node_ccm_cpu_time}x; ${row.core_ns_per_frame} vs ${row.node_ns_per_frame} ns per frame; AES ${row.aes_ns_per_block_cpu} ns/block, ceiling ${row.ceiling_ratio_cpu_time}x), GC ${row.gc_events_per_100k} / 100k frames (ccm level ${row.ccm_gc_events_per_100k}), load ${row.loadavg_1m}`,
    );
  }
  const sorted = (k: string): number[] => rows.map((x) => x[k]).sort((a, b) => a - b);
  const median = (v: number[]): number => (v.length % 2 ? v[(v.length - 1) >> 1] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2);
  const ratio = sorted('ratio_vs_node_ccm');
  const cpu = sorted('ratio_vs_node_ccm_cpu_time');
  const gc = sorted('gc_events_per_100k');
  const gcCcm = sorted('ccm_gc_events_per_100k');
  const block = sorted('aes_ns_per_block_cpu');
  const ceiling = sorted('ceiling_ratio_cpu_time');
  const r2 = (x: number): number => Math.round(x * 100) / 100;
  console.log(
    `${runs} runs (core path: ${CTX_KIND}): ratio vs node:crypto min ${ratio[0]} median ${r2(median(ratio))} (CPU time: min ${cpu[0]} median ${r2(median(cpu))}); GC events per 100k frames max ${gc[gc.length - 1]} (ccm level max ${gcCcm[gcCcm.length - 1]}); runs with GC ${gc.filter((g) => g > 0).length}; AES ${r2(median(block))} ns CPU per block (median), ceiling at this block cost min ${ceiling[0]} median ${r2(median(ceiling))}`,
  );
  console.log(
    JSON.stringify({
      runs,
      core_path: CTX_KIND,
      ratio_vs_node_ccm_min: ratio[0],
      ratio_vs_node_ccm_median: r2(median(ratio)),
      ratio_vs_node_ccm_cpu_time_min: cpu[0],
      ratio_vs_node_ccm_cpu_time_median: r2(median(cpu)),
      gc_events_per_100k_max: gc[gc.length - 1],
      ccm_gc_events_per_100k_max: gcCcm[gcCcm.length - 1],
      runs_with_gc: gc.filter((g) => g > 0).length + gcCcm.filter((g) => g > 0).length,
      aes_ns_per_block_cpu_median: r2(median(block)),
      ceiling_ratio_cpu_time_min: ceiling[0],
      ceiling_ratio_cpu_time_median: r2(median(ceiling)),
      loadavg_1m: r2(loadavg()[0]),
      per_run: rows,
    }),
  );
}

function main(): Promise<void> {
  // --ctx was read at load (CTX_KIND); the rest of the arguments choose one run or several.
  const argv = process.argv.slice(2).filter((a, i, all) => a !== '--ctx' && all[i - 1] !== '--ctx');
  if (argv[0] === '--once') return once();
  let runs = DEFAULT_RUNS;
  if (argv[0] === '--runs' && Number(argv[1]) > 0) runs = Math.floor(Number(argv[1]));
  else if (argv.length > 0) throw new Error('usage: tsx scripts/bench-core.ts [--runs N | --once] [--ctx host|soft]');
  many(runs);
  return Promise.resolve();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
