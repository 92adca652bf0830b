// Firmware benchmark: `npm run bench:firmware`. Last line of stdout is one JSON object.
//
//  1. Size of the meter bundle (core + meter app, minified) against 16 KiB raw / 6 KiB gzip.
//  2. Seal of a 64-byte READING (core bundle, softAes) in ms per frame on Node (the reference run,
//     same bundle, same harness) and on Moddable XS; Espruino (soft and native AES) when ESPRUINO_BIN is set.
//  3. The meter app provisioned and running for 10,000 frames (each step: one interval closed and
//     its reading sealed and sent, one downlink frame MIC-checked and refused as a replay):
//     XS metered heap slot count before and after; Node heapUsed before and after; on Espruino
//     process.memory().usage sampled every 500 steps against the 2,500-variable target (code run
//     from Storage as on a board; the app's records held in RAM, an upper bound).
//
// usage: tsx scripts/bench-firmware.ts [--frames N] [--seal N]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildFirmware } from './build-firmware.ts';
import { runEngine, espruinoBin, xsAvailable } from '../test/xs/engine-run.ts';
import type { EngineName, EngineRun } from '../test/xs/engine-run.ts';
import { scenario, serial, downLink, relayCmd } from '../test/xs/meter-scenario.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const HARNESS = path.join(ROOT, 'test', 'xs', 'bench-harness.js');
const KIB = 1024;
const TARGET_RAW = 16 * KIB;
const TARGET_GZIP = 6 * KIB;
const TARGET_ESPRUINO_VARS = 2500;
const WARMUP_FRAMES = 200;
const SAMPLE_EVERY = 500;
const INTERVAL_S = 900;

interface BenchLine { what: string; [k: string]: unknown }

function benchLines(r: EngineRun): BenchLine[] {
  const out: BenchLine[] = [];
  for (const line of r.stdout.split('\n')) {
    const i = line.indexOf('@@bench ');
    if (i >= 0) out.push(JSON.parse(line.slice(i + 8)));
  }
  return out;
}

async function run(engine: EngineName, pieces: string[]): Promise<EngineRun> {
  // On Espruino the code runs from Storage (flash), as on a board, so RAM usage is the app's alone.
  const r = await runEngine(engine, pieces, 30 * 60_000, { espruinoFlash: true });
  if (r.code !== 0) throw new Error(`${engine} run failed: ${r.stderr.trim().slice(0, 500)} ${r.stdout.slice(-500)}`);
  return r;
}

async function main(argv: string[]): Promise<number> {
  let frames = 10_000;
  let sealN = 2_000;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--frames') frames = Number(argv[++i]);
    else if (argv[i] === '--seal') sealN = Number(argv[++i]);
    else { process.stderr.write(`bench-firmware: unknown argument ${argv[i]}\nusage: tsx scripts/bench-firmware.ts [--frames N] [--seal N]\n`); return 2; }
  }
  if (!(frames > 0) || !(sealN > 0)) { process.stderr.write('bench-firmware: --frames and --seal must be positive numbers\n'); return 2; }
  const log = (s: string) => process.stdout.write(s + '\n');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vakt-bench-fw-'));
  try {
    const report = await buildFirmware({ outDir: dir, only: ['core', 'meter', 'adapters'] });
    if (!report.ok) throw new Error('bundles violate their engine rules: run npm run build:firmware');
    const meterB = report.bundles.find((b) => b.name === 'meter');
    if (!meterB) throw new Error('no meter bundle (firmware/src/meter/index.ts missing?)');
    const core = path.join(dir, 'core.js');
    const meter = path.join(dir, 'meter.js');
    const adapter = path.join(dir, 'espruino-adapter.js');
    log(`meter bundle: ${meterB.raw} B raw (target ≤ ${TARGET_RAW}), ${meterB.gzip} B gzip (target ≤ ${TARGET_GZIP})`);

    // Seal, 64-byte reading.
    const sealOf = async (engine: EngineName, native: boolean, pieces: string[]) => {
      const r = await run(engine, [...pieces, HARNESS, '--eval', `VaktBench.seal(${sealN}, ${native});`]);
      return benchLines(r).find((l) => l.what === 'seal')!;
    };
    const nodeSeal = await sealOf('node', false, [core]);
    log(`seal 64 B reading, Node (reference): ${(nodeSeal.msPerFrame as number).toFixed(4)} ms/frame`);
    const haveXs = xsAvailable();
    const xsSeal = haveXs ? await sealOf('xs', false, [core]) : undefined;
    if (xsSeal) log(`seal 64 B reading, XS: ${(xsSeal.msPerFrame as number).toFixed(4)} ms/frame (${((xsSeal.msPerFrame as number) / (nodeSeal.msPerFrame as number)).toFixed(1)}× Node)`);

    // Meter steady state.
    const scn = scenario();
    // Records stay in RAM on every engine. On Espruino that is an upper bound (a board keeps them in
    // flash), chosen because the Linux build's emulated flash rescans every file per access and
    // would take hours for 10,000 frames. Native AES is used on Espruino, as on Puck.js.
    const start = (espruino: boolean) => JSON.stringify({
      prov: scn.prov, t0: scn.t0, interval: INTERVAL_S, espruinoStorage: false, nativeAes: espruino,
      cmd: serial(downLink(relayCmd(1, 1, 1), 1)),
    });
    const meterPieces = (espStorage: boolean) => [meter, adapter, HARNESS,
      '--eval', `VaktBench.meterStart(${start(espStorage)});`,
      '--eval', `VaktBench.meterRun(${WARMUP_FRAMES}, 0);`,
      '--eval', `VaktBench.meterRun(${frames}, ${SAMPLE_EVERY});`];
    const nodeMeter = await run('node', meterPieces(false));
    const nm = nodeMeter.meters;
    const nodeRun = benchLines(nodeMeter).filter((l) => l.what === 'meter')[1];
    log(`meter ${frames} frames, Node: heapUsed ${nm[4].heapUsed} → ${nm[5].heapUsed} B, ${(nodeRun.msPerStep as number).toFixed(3)} ms/step`);
    let xsMeter: { heapBefore: number; heapAfter: number; msPerStep: number; computePerStep: number } | undefined;
    if (haveXs) {
      const r = await run('xs', meterPieces(false));
      const m = r.meters;
      const line = benchLines(r).filter((l) => l.what === 'meter')[1];
      xsMeter = { heapBefore: m[4].currentHeapCount!, heapAfter: m[5].currentHeapCount!, msPerStep: line.msPerStep as number, computePerStep: Math.round(m[5].compute! / (line.steps as number)) };
      log(`meter ${frames} frames, XS: heap slots ${xsMeter.heapBefore} → ${xsMeter.heapAfter}, ${xsMeter.msPerStep.toFixed(3)} ms/step`);
    }

    // Espruino, when a binary is available.
    const bin = espruinoBin();
    let espruino: Record<string, unknown> = { skipped: 'ESPRUINO_BIN is not set' };
    if (bin) {
      const soft = await sealOf('espruino', false, [core, adapter]);
      const native = await sealOf('espruino', true, [core, adapter]);
      // Usage is marked before any code, after loading the bundles from flash, after the app started.
      const mark = (at: string) => `print("@@bench " + JSON.stringify({what: "mark", at: ${JSON.stringify(at)}, usage: process.memory().usage}));`;
      const pieces = meterPieces(true);
      const r = await run('espruino', ['--eval', mark('empty'), ...pieces.slice(0, 3), '--eval', mark('loaded'), pieces[3], pieces[4] + mark('started'), ...pieces.slice(5, 9),
        '--eval', 'print("@@bench " + JSON.stringify({what:"espmem", m: process.memory()}));']);
      const lines = benchLines(r);
      const marks: Record<string, number> = {};
      for (const l of lines) if (l.what === 'mark') marks[l.at as string] = l.usage as number;
      const runLine = lines.filter((l) => l.what === 'meter')[1];
      const warm = lines.filter((l) => l.what === 'meter')[0];
      const samples = runLine.samples as number[];
      const maxUse = Math.max(...samples, runLine.mem as number);
      // The same figures without the records the harness keeps in RAM in place of flash
      // (E.getSizeOf of its record table): what the meter itself holds, as on a board.
      const recSamples = runLine.recSamples as number[];
      const appSamples = samples.map((u, k) => u - recSamples[k]);
      const appEnd = (runLine.mem as number) - (runLine.recs as number);
      const appWarm = (warm.mem as number) - (warm.recs as number);
      const maxApp = Math.max(...appSamples, appEnd);
      const mem = (lines.find((l) => l.what === 'espmem')!.m) as Record<string, number>;
      espruino = {
        bin,
        sealSoftMsPerFrame: soft.msPerFrame,
        sealNativeMsPerFrame: native.skipped ? null : native.msPerFrame,
        usageEmpty: marks.empty,
        usageCodeLoaded: marks.loaded,
        usageAppStarted: marks.started,
        usageAfterWarmup: warm.mem,
        usageEnd: runLine.mem,
        usageMax: maxUse,
        usageSamples: samples,
        flat: samples.length > 1 ? maxUse - Math.min(...samples) : 0,
        totalVars: mem.total,
        blockSize: mem.blocksize,
        varsTarget: TARGET_ESPRUINO_VARS,
        varsOk: maxUse <= TARGET_ESPRUINO_VARS,
        recordVarsEnd: runLine.recs,
        usageLessRecordsAfterWarmup: appWarm,
        usageLessRecordsEnd: appEnd,
        usageLessRecordsMax: maxApp,
        usageLessRecordsSamples: appSamples,
        flatLessRecords: appSamples.length > 1 ? maxApp - Math.min(...appSamples) : 0,
        varsOkLessRecords: maxApp <= TARGET_ESPRUINO_VARS,
        msPerStep: runLine.msPerStep,
      };
      log(`seal 64 B reading, Espruino: soft ${(soft.msPerFrame as number).toFixed(3)} ms/frame, native AES ${native.skipped ? 'n/a' : (native.msPerFrame as number).toFixed(3) + ' ms/frame'}`);
      log(`Espruino vars: ${marks.empty} empty, ${marks.loaded} with meter+adapter+harness code loaded from flash, ${marks.started} after startMeter`);
      log(`meter ${frames} frames, Espruino (native AES, records in RAM): usage ${warm.mem} after warm-up, ${runLine.mem} at end, max ${maxUse} vars (target ≤ ${TARGET_ESPRUINO_VARS}); samples ${samples.join(',')}`);
      log(`  without the ${runLine.recs} variables of records held in RAM in place of flash: ${appWarm} after warm-up, ${appEnd} at end, max ${maxApp}; samples ${appSamples.join(',')}`);
    }

    const result = {
      bench: 'firmware',
      meterBundle: { raw: meterB.raw, gzip: meterB.gzip, rawTarget: TARGET_RAW, gzipTarget: TARGET_GZIP, rawOk: meterB.raw <= TARGET_RAW, gzipOk: meterB.gzip <= TARGET_GZIP },
      seal64: {
        nodeMsPerFrame: nodeSeal.msPerFrame,
        xsMsPerFrame: xsSeal ? xsSeal.msPerFrame : null,
        xsToNodeRatio: xsSeal ? (xsSeal.msPerFrame as number) / (nodeSeal.msPerFrame as number) : null,
        espruinoSoftMsPerFrame: bin ? espruino.sealSoftMsPerFrame : null,
        espruinoNativeMsPerFrame: bin ? espruino.sealNativeMsPerFrame : null,
      },
      meterSteady: {
        frames,
        node: { heapUsedBefore: nm[4].heapUsed, heapUsedAfter: nm[5].heapUsed, msPerStep: nodeRun.msPerStep },
        xs: xsMeter ?? { skipped: 'xsnap worker not built' },
        espruino,
      },
    };
    process.stdout.write(JSON.stringify(result) + '\n');
    return 0;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).then((c) => process.exit(c), (e) => { process.stderr.write(`bench-firmware: ${e instanceof Error ? e.message : String(e)}\n`); process.exit(1); });
