// Runs JavaScript files on a real engine in a child process and collects what it printed:
//   node     test/xs/run-node.mjs (a bare vm context: print only)
//   xs       test/xs/run-xs.mjs   (Moddable XS via @agoric/xsnap's xsnap-worker)
//   espruino $ESPRUINO_BIN        (the Espruino interpreter built for Linux; only when ESPRUINO_BIN is set)
// Each piece is a file path or `--eval`, code; pieces run in order in one engine instance.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');

export type EngineName = 'node' | 'xs' | 'espruino';

export interface EngineRun {
  code: number;
  stdout: string;
  stderr: string;
  /** One entry per piece: XS meter (computrons, heap slots) or Node heapUsed. */
  meters: { step: number; compute?: number; allocate?: number; currentHeapCount?: number; heapUsed?: number }[];
}

export interface StepResult {
  i: number;
  out: string[];
  relay: boolean;
  relayPin?: boolean;
  stats: Record<string, number>;
}

/** Path of the xsnap worker binary that `npm ci` builds (postinstall of @agoric/xsnap). */
export const XSNAP_WORKER = path.join(
  ROOT,
  'node_modules',
  '@agoric',
  'xsnap',
  'xsnap-native',
  'xsnap',
  'build',
  'bin',
  'lin',
  'release',
  'xsnap-worker',
);

/** True when the XS worker binary exists (it is compiled at install time). */
export function xsAvailable(): boolean {
  return fs.existsSync(XSNAP_WORKER);
}

/** The Espruino interpreter to use, from ESPRUINO_BIN; undefined means Espruino tests are skipped. */
export function espruinoBin(): string | undefined {
  const b = process.env.ESPRUINO_BIN;
  const bin = b && fs.existsSync(b) ? b : undefined;
  if (bin === undefined && !espruinoSkipSaid) {
    espruinoSkipSaid = true;
    console.warn(
      `${callerTestFile()}: Espruino runs skipped — ${b ? `no interpreter at ${b}` : 'ESPRUINO_BIN not set'} ` +
        '(build Espruino\'s Linux interpreter by hand: docs/BOARDS.md "Building the Espruino interpreter for the tests")',
    );
  }
  return bin;
}
/** The skip reason is printed once per test file (each file runs in its own worker). */
let espruinoSkipSaid = false;

/** The *.test.ts file that asked, for the skip line (CI's output names the file). */
function callerTestFile(): string {
  const m = /([\w.-]+\.test\.ts)/.exec(new Error().stack ?? '');
  return m ? m[1] : 'engine tests';
}

function collect(
  cmd: string,
  args: string[],
  timeoutMs: number,
  cwd: string = ROOT,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (b: Buffer) => out.push(b));
    p.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
}

export interface RunOptions {
  /** Espruino only: extra arguments before the script (e.g. to run the binary under valgrind, see wrap). */
  wrap?: string[];
}

/**
 * Bytes of a piece stored by one Espruino process. The storing script holds its chunk twice (as
 * base64 source text and as the decoded string), ~2 × 4/3 × 3 KiB ≈ 700 blocks of 13 bytes: it fits
 * a 2,630-variable pool with room, as a board's REPL upload does (the Espruino IDE sends files in
 * chunks through Storage.write(name, data, offset, size) for the same reason).
 */
export const ESPRUINO_STORE_CHUNK = 3072;

/** Runs the pieces on the engine; resolves with its exit code and output (never rejects on a script error). */
export async function runEngine(engine: EngineName, pieces: string[], timeoutMs = 120_000, opts: RunOptions = {}): Promise<EngineRun> {
  if (engine === 'espruino') return runEspruino(pieces, timeoutMs, opts.wrap ?? []);
  const runner = path.join(HERE, engine === 'xs' ? 'run-xs.mjs' : 'run-node.mjs');
  const r = await collect(process.execPath, engine === 'node' ? ['--expose-gc', runner, ...pieces] : [runner, ...pieces], timeoutMs);
  const meters: EngineRun['meters'] = [];
  const tag = engine === 'xs' ? '@@xs-meter ' : '@@node-meter ';
  for (const line of r.stdout.split('\n')) if (line.startsWith(tag)) meters.push(JSON.parse(line.slice(tag.length)));
  return { ...r, meters };
}

/** Storage file name of piece i (Storage names are at most 28 characters); the loader reads v0.js, v1.js, ... */
function pieceName(i: number): string {
  return `v${i}.js`;
}
/** Storage file name of the loader itself. */
const BOOT_PIECE = 'boot.js';

/**
 * Writes every piece (file or --eval code) into require("Storage") of a fresh working directory
 * (the Linux build's flash is the file espruino.flash there), ESPRUINO_STORE_CHUNK bytes per
 * process with Storage.write(name, chunk, offset, size), so no process ever holds a whole bundle
 * in RAM. Returns the number of pieces, or an error text.
 */
async function storePieces(
  bin: string,
  pieces: string[],
  work: string,
  timeoutMs: number,
  name: string | ((i: number) => string) = pieceName,
): Promise<{ count: number; error?: string }> {
  const texts: Buffer[] = [];
  for (let i = 0; i < pieces.length; i++) {
    if (pieces[i] === '--eval') texts.push(Buffer.from(pieces[++i], 'utf8'));
    else texts.push(fs.readFileSync(pieces[i]));
  }
  const script = path.join(work, 'store.js');
  for (let p = 0; p < texts.length; p++) {
    const t = texts[p];
    for (let off = 0; off < t.length || off === 0; off += ESPRUINO_STORE_CHUNK) {
      const chunk = t.subarray(off, off + ESPRUINO_STORE_CHUNK).toString('base64');
      fs.writeFileSync(
        script,
        `if (require("Storage").write(${JSON.stringify(typeof name === 'string' ? name : name(p))}, atob(${JSON.stringify(chunk)}), ${off}, ${t.length})) print("@@stored");\n`,
      );
      const r = await collect(bin, [script], timeoutMs, work);
      if (!/@@stored/.test(r.stdout))
        return { count: p, error: `storing piece ${p} at ${off} in Storage failed: ${r.stdout.slice(-300)} ${r.stderr}` };
      if (t.length === 0) break;
    }
  }
  return { count: texts.length };
}

/**
 * Espruino's Linux binary runs one file and exits when no timers remain. Every piece is first
 * stored in Storage (storePieces), then a small loader evaluates them from flash in order, as a
 * board runs code saved to Storage: the code text costs no variables (functions keep pointing
 * into flash), so the run fits a Puck.js-sized pool and process.memory().usage counts what the
 * app really holds in RAM. Each piece is wrapped so a throw is reported on stdout with a marker;
 * banner and `\r\n` line ends are stripped; exit code 1 if any piece threw.
 */
async function runEspruino(pieces: string[], timeoutMs: number, wrap: string[]): Promise<EngineRun> {
  const bin = espruinoBin();
  if (!bin) throw new Error('ESPRUINO_BIN is not set (or does not exist): Espruino runs are skipped');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vakt-esp-'));
  try {
    const stored = await storePieces(bin, pieces, work, timeoutMs);
    if (stored.error !== undefined) return { code: 1, stdout: '', stderr: stored.error, meters: [] };
    // The loader is stored too (a script file's text is held in RAM while it runs): each piece is
    // evaluated separately so a throw can be attributed, and the run stops there.
    const boot = `for (var _p = 0; _p < ${stored.count}; _p++) { try { eval(require("Storage").read("v" + _p + ".js")); } catch (e) { print("@@espruino-error " + e + " " + (e && e.stack ? e.stack : "")); quit(); } }\nprint("@@espruino-done");\n`;
    const b = await storePieces(bin, ['--eval', boot], work, timeoutMs, BOOT_PIECE);
    if (b.error !== undefined) return { code: 1, stdout: '', stderr: b.error, meters: [] };
    const file = path.join(work, 'run.js');
    fs.writeFileSync(file, `eval(require("Storage").read(${JSON.stringify(BOOT_PIECE)}));\n`);
    const r =
      wrap.length > 0
        ? await collect(wrap[0], [...wrap.slice(1), bin, file], timeoutMs, work)
        : await collect(bin, [file], timeoutMs, work);
    const stdout = r.stdout.replace(/\r\n/g, '\n');
    const failed = /@@espruino-error/.test(stdout) || !/@@espruino-done/.test(stdout) || r.code !== 0;
    const errLine = stdout.split('\n').find((l) => l.startsWith('@@espruino-error'));
    return { code: failed ? 1 : 0, stdout, stderr: r.stderr + (errLine ?? ''), meters: [] };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The engine pieces that play a meter-harness scenario one step per piece (VaktHarness.begin, then
 * VaktHarness.step): the steps stay in Storage on Espruino until each runs, as commands arrive
 * over a line on a board, instead of the whole scenario sitting in RAM beside the meter.
 */
export function harnessPieces(scn: { steps: unknown[]; [field: string]: unknown }): string[] {
  const head = { ...scn, steps: undefined };
  const out = ['--eval', `VaktHarness.begin(${JSON.stringify(head)});`];
  for (const st of scn.steps) out.push('--eval', `VaktHarness.step(${JSON.stringify(st)});`);
  return out;
}

/** The `@@step` lines a harness printed, parsed. */
export function parseSteps(stdout: string): StepResult[] {
  const steps: StepResult[] = [];
  for (const line of stdout.split('\n')) {
    const i = line.indexOf('@@step ');
    if (i >= 0) steps.push(JSON.parse(line.slice(i + 7)));
  }
  return steps;
}
