// Firmware benchmark: `npm run bench:firmware`. Last line of stdout is one JSON object.
//
// Deterministic counts per operation, so a budget can be held whatever the machine's load:
//  - Moddable XS (always): computrons (@agoric/xsnap's meterUsage) per operation, software AES.
//  - Espruino (with ESPRUINO_BIN and valgrind): instructions per operation counted by callgrind on
//    the interpreter, native AES (require("crypto").AES, as on a Puck.js) and software AES. Meant for
//    the 32-bit build with a fixed 2,630-variable pool (docs/BOARDS.md); the pool is printed.
// Also (Espruino, no valgrind needed): variables free at the meter's peak (freeAtPeak).
// Operations: one reading push of the provisioned meter (an interval closed, its reading sealed
// twice (e2e, link), serial-framed and written, its records updated), sealFrame of a 64-byte
// READING body, a replayed downlink refused by the meter (deframed, link MIC checked, refused),
// one AES block through the provider (and Espruino's raw require("crypto").AES for reference).
//
// Method: each operation runs in two fresh engine processes that differ only in the repetition
// count of the last step (WARM + 0 and WARM + n); the difference of the two totals divided by n is
// the cost of one operation, with loading and setup cancelled out. Code runs from Storage, as on a
// board (test/xs/engine-run.ts). The Linux build emulates flash with a file (an fopen/fseek/fread/
// fclose per 16 bytes read, most of a run's instructions); a board reads flash through memory, so
// the inclusive cost of jshFlashRead, jshFlashWrite and jshFlashErasePage (callgrind_annotate) is
// subtracted from the total. (callgrind --toggle-collect cannot do it: with it, callgrind collects
// only inside the named functions.)
//
// usage: tsx scripts/bench-firmware.ts [--no-espruino] [--only push,seal,replay,aes,rawAes]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { isDeepStrictEqual } from 'node:util';
import { fileURLToPath } from 'node:url';
import { buildFirmware } from './build-firmware.ts';
import { inlineTopLevelConstants } from './inline-consts.ts';
import { bundleEntry } from '../test/xs/bundle-entry.ts';
import { runEngine, espruinoBin, xsAvailable, harnessPieces, parseSteps } from '../test/xs/engine-run.ts';
import { scenario, serial, downLink, relayCmd } from '../test/xs/meter-scenario.ts';

const USAGE = 'usage: tsx scripts/bench-firmware.ts [--no-espruino] [--only push,seal,replay,aes,rawAes]';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const HARNESS = path.join(ROOT, 'test', 'xs', 'bench-harness.js');
const METER_HARNESS = path.join(ROOT, 'test', 'xs', 'meter-harness.js');
/** Upper end of the ballast scan (variables). */
const BALLAST_MAX = 1024;
/** The step of the ballast scan (variables): the figure's resolution (~4 s per step on puck32). */
const BALLAST_STEP = 4;
const KIB = 1024;
/** Meter bundle budget (issue 12): the full meter fits every target board's Storage. */
const TARGET_RAW = 24 * KIB;
const INTERVAL_S = 900;
/** Repetitions before the counted ones (first-call work: lazy tables, first record writes). */
const WARM = 2;
/** Flash emulation functions of the Linux build left out of the instruction count (see above). */
const FLASH_EMULATION = ['jshFlashRead', 'jshFlashWrite', 'jshFlashErasePage'];
/** Core functions the sealing/AES operations need (named imports keep the piece small enough for a 2,630-variable pool). */
const CORE_NAMES = [
  'createCryptoCtx',
  'createKeySlot',
  'setSlotKey',
  'createSendCounter',
  'sealFrame',
  'expandKey',
  'E2E_VERSION',
  'OP_READING',
  'DIR_UP',
];

type OpName = 'push' | 'seal' | 'replay' | 'aes' | 'rawAes';
interface Op {
  name: OpName;
  n: number;
  meter: boolean;
  fn: string;
}
const OPS: Op[] = [
  { name: 'push', n: 4, meter: true, fn: 'pushN' },
  { name: 'seal', n: 4, meter: false, fn: 'sealN' },
  { name: 'replay', n: 4, meter: true, fn: 'replayN' },
  { name: 'aes', n: 16, meter: false, fn: 'aesN' },
  { name: 'rawAes', n: 64, meter: false, fn: 'rawAesN' },
];

interface Files {
  meter: string;
  adapter: string;
  core: string;
}

/** The engine pieces for op with `last` repetitions in the final step. */
function pieces(f: Files, op: Op, native: boolean, last: number): string[] {
  const setup = op.meter
    ? [f.meter, f.adapter, HARNESS, '--eval', `VaktBench.meterStart(${meterStart(native)});`]
    : [f.core, f.adapter, HARNESS, '--eval', `VaktBench.cryptoSetup(${native});`];
  return [...setup, '--eval', `VaktBench.${op.fn}(${WARM});`, '--eval', `VaktBench.${op.fn}(${last});`];
}

function meterStart(native: boolean): string {
  const scn = scenario();
  // Records live in require("Storage") on Espruino (the real adapter's storage), in RAM elsewhere.
  return JSON.stringify({
    prov: scn.prov,
    t0: scn.t0,
    interval: INTERVAL_S,
    espruinoStorage: true,
    nativeAes: native,
    cmd: serial(downLink(relayCmd(1, 1, 1), 1)),
  });
}

/** Computrons of one operation on XS (software AES). */
async function xsCount(f: Files, op: Op): Promise<number> {
  const r = await runEngine('xs', pieces(f, op, false, op.n), 10 * 60_000);
  if (r.code !== 0) throw new Error(`xs ${op.name}: ${r.stderr.trim().slice(0, 400)}`);
  const last = r.meters[r.meters.length - 1];
  return Math.round(last.compute! / op.n);
}

/** Instructions (callgrind) of one Espruino run; throws with the engine's output on failure. */
async function callgrindTotal(f: Files, op: Op, native: boolean, last: number, dir: string): Promise<number> {
  const out = path.join(dir, `cg-${op.name}-${native ? 'n' : 's'}-${last}.out`);
  const wrap = ['valgrind', '--tool=callgrind', `--callgrind-out-file=${out}`];
  const r = await runEngine('espruino', pieces(f, op, native, last), 30 * 60_000, { wrap });
  if (r.code !== 0)
    throw new Error(`espruino ${op.name} (${native ? 'native' : 'soft'} AES): ${r.stderr.trim().slice(-600)} ${r.stdout.slice(-600)}`);
  return totalLessFlash(out);
}

/** Total instructions of a callgrind profile less the inclusive cost of the flash emulation functions. */
function totalLessFlash(profile: string): number {
  const a = spawnSync('callgrind_annotate', ['--inclusive=yes', '--threshold=100', '--auto=no', profile], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (a.status !== 0) throw new Error('callgrind_annotate failed: ' + a.stderr);
  const num = (s: string): number => Number(s.replace(/,/g, ''));
  const total = /^\s*([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS/m.exec(a.stdout);
  if (!total) throw new Error('no total in callgrind output ' + profile);
  let flash = 0;
  for (const fn of FLASH_EMULATION) {
    const m = new RegExp(`^\\s*([\\d,]+)\\s+\\([\\d.]+%\\)\\s+\\S*:${fn} \\[`, 'm').exec(a.stdout);
    if (m) flash += num(m[1]);
  }
  return num(total[1]) - flash;
}

async function espruinoCount(f: Files, op: Op, native: boolean, dir: string): Promise<number> {
  const base = await callgrindTotal(f, op, native, 0, dir);
  const more = await callgrindTotal(f, op, native, op.n, dir);
  return Math.round((more - base) / op.n);
}

/**
 * Variables free at the meter's peak over the engine scenario (test/xs/meter-scenario.ts: a push,
 * commands, replays, forgeries, a reboot; native AES, code and records in Storage, as in
 * test/firmware/espruino-bundle.test.ts): the largest ballast (an array of small integers, one
 * variable each, allocated before the meter starts) with which the scenario still passes (exit 0 and
 * the transcript equal to Node's) below the FIRST failure of an upward scan in BALLAST_STEP steps. Sampling process.memory() inside the meter would perturb the
 * very peak it measures. On 13-byte blocks pass/fail is not monotone in the ballast (typed-array
 * buffers need aligned runs of free blocks: fragmentation), so a bisection can land on a lucky pass
 * above failures; the scan reports the headroom below the first failure it meets instead. -1 when
 * the scenario fails without ballast.
 */
async function freeAtPeak(f: Files): Promise<number> {
  const scn = harnessPieces({ ...scenario(), nativeAes: true });
  // A run passes when its transcript equals Node's, as in test/firmware/espruino-bundle.test.ts, not
  // on its exit code alone: an out-of-memory the meter catches (the native AES call's "Not enough
  // memory for result" inside onSerial) loses a frame, yet the run exits 0.
  const node = await runEngine('node', [f.meter, METER_HARNESS, ...scn]);
  if (node.code !== 0) throw new Error('node: the meter scenario failed: ' + node.stderr.slice(-500));
  const want = parseSteps(node.stdout);
  const passes = async (b: number): Promise<boolean> => {
    const ballast = `globalThis.BALLAST = []; for (var i = 0; i < ${b}; i++) BALLAST.push(i);`;
    const r = await runEngine('espruino', [f.meter, f.adapter, METER_HARNESS, '--eval', ballast, ...scn]);
    if (r.code !== 0) return false;
    try {
      return isDeepStrictEqual(parseSteps(r.stdout), want);
    } catch {
      return false; // a step line cut short (the interpreter out of memory while printing)
    }
  };
  if (!(await passes(0))) return -1;
  let lo = 0;
  while (lo + BALLAST_STEP <= BALLAST_MAX && (await passes(lo + BALLAST_STEP))) lo += BALLAST_STEP;
  return lo;
}

/** process.memory() of the binary: the pool the counts were taken on. */
async function espruinoPool(): Promise<{ total: number; blocksize: number }> {
  const r = await runEngine('espruino', ['--eval', 'print("@@pool " + JSON.stringify(process.memory()));']);
  const line = r.stdout.split('\n').find((l) => l.startsWith('@@pool '));
  if (!line) throw new Error('espruino: no process.memory() ' + r.stderr);
  return JSON.parse(line.slice(7));
}

const M = (n: number): string => (n / 1e6).toFixed(2) + ' M';

async function main(argv: string[]): Promise<number> {
  let espruino = true;
  let only: string[] | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--no-espruino') espruino = false;
    else if (argv[i] === '--only' && i + 1 < argv.length) only = argv[++i].split(',');
    else {
      process.stderr.write(`bench-firmware: unknown argument ${argv[i]}\n${USAGE}\n`);
      return 2;
    }
  }
  const ops = OPS.filter((o) => !only || only.includes(o.name));
  const log = (s: string) => process.stdout.write(s + '\n');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vakt-bench-fw-'));
  try {
    const report = await buildFirmware({ outDir: dir, only: ['meter', 'adapters'] });
    if (!report.ok) throw new Error('bundles violate their engine rules: run npm run build:firmware');
    const meterB = report.bundles.find((b) => b.name === 'meter');
    if (!meterB) throw new Error('no meter bundle (firmware/src/meter/index.ts missing?)');
    const core = path.join(dir, 'bench-core.js');
    const entry = `import { ${CORE_NAMES.join(', ')} } from './shared/src/index.ts';\nglobalThis.VaktCore = { ${CORE_NAMES.join(', ')} };\n`;
    fs.writeFileSync(core, inlineTopLevelConstants(await bundleEntry(entry, 'bench-core.ts', true)).code);
    const f: Files = { meter: path.join(dir, 'meter.js'), adapter: path.join(dir, 'espruino-adapter.js'), core };
    log(`meter bundle: ${meterB.raw} B raw (budget ≤ ${TARGET_RAW}), ${meterB.gzip} B gzip`);

    const xs: Record<string, number | string> = {};
    if (xsAvailable()) {
      for (const op of ops) {
        if (op.name === 'rawAes') continue;
        xs[op.name] = await xsCount(f, op);
        log(`XS ${op.name.padEnd(7)} ${String(xs[op.name]).padStart(10)} computrons (software AES)`);
      }
    } else xs.skipped = 'xsnap worker not built (npm ci builds it)';

    const esp: Record<string, unknown> = {};
    const bin = espruinoBin();
    const valgrind = spawnSync('valgrind', ['--version']).status === 0;
    if (!espruino) esp.skipped = '--no-espruino';
    else if (!bin) esp.skipped = 'ESPRUINO_BIN is not set (docs/BOARDS.md: building the Linux interpreter)';
    else if (!valgrind) esp.skipped = 'valgrind is not installed (Debian package valgrind)';
    else {
      const pool = await espruinoPool();
      esp.bin = bin;
      esp.pool = pool;
      log(
        `Espruino ${bin}: pool ${pool.total} variables of ${pool.blocksize} B${pool.total === 2630 && pool.blocksize === 13 ? ' (Puck.js-sized)' : ' (NOT the 2,630-var 32-bit build: counts differ)'}`,
      );
      esp.free_at_peak = await freeAtPeak(f);
      log(`Espruino free at peak  ${esp.free_at_peak} variables (scenario, native AES; ballast below the first failure of an upward scan)`);
      for (const op of ops) {
        for (const native of op.name === 'rawAes' ? [true] : [true, false]) {
          const key = `${op.name}_${native ? 'native' : 'soft'}`;
          try {
            esp[key] = await espruinoCount(f, op, native, dir);
            log(`Espruino ${key.padEnd(14)} ${M(esp[key] as number).padStart(9)} instructions`);
          } catch (e) {
            // E.g. the meter with software AES running out of the 2,630-variable pool: reported, not fatal.
            const msg = e instanceof Error ? e.message : String(e);
            esp[key] = /OUT OF MEMORY|LOW_MEMORY/.test(msg) ? 'out of memory' : 'failed: ' + msg.slice(0, 200);
            log(`Espruino ${key.padEnd(14)} ${esp[key]}`);
          }
        }
      }
    }
    if (esp.skipped) log(`Espruino: skipped: ${esp.skipped}`);

    const result = {
      bench: 'firmware',
      meterBundle: { raw: meterB.raw, gzip: meterB.gzip, rawBudget: TARGET_RAW, rawOk: meterB.raw <= TARGET_RAW },
      espruino: esp,
      xs,
      espruino_push_instr_native: typeof esp.push_native === 'number' ? esp.push_native : null,
      espruino_push_instr_soft: typeof esp.push_soft === 'number' ? esp.push_soft : null,
      espruino_free_at_peak: typeof esp.free_at_peak === 'number' ? esp.free_at_peak : null,
      xs_push_computrons: typeof xs.push === 'number' ? xs.push : null,
    };
    process.stdout.write(JSON.stringify(result) + '\n');
    return 0;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).then(
  (c) => process.exit(c),
  (e) => {
    process.stderr.write(`bench-firmware: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
