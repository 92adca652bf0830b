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
export const XSNAP_WORKER = path.join(ROOT, 'node_modules', '@agoric', 'xsnap', 'xsnap-native', 'xsnap', 'build', 'bin', 'lin', 'release', 'xsnap-worker');

/** True when the XS worker binary exists (it is compiled at install time). */
export function xsAvailable(): boolean {
  return fs.existsSync(XSNAP_WORKER);
}

/** The Espruino interpreter to use, from ESPRUINO_BIN; undefined means Espruino tests are skipped. */
export function espruinoBin(): string | undefined {
  const b = process.env.ESPRUINO_BIN;
  return b && fs.existsSync(b) ? b : undefined;
}

function collect(cmd: string, args: string[], timeoutMs: number, cwd: string = ROOT): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (b: Buffer) => out.push(b));
    p.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', (e) => { clearTimeout(timer); reject(e); });
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
}

export interface RunOptions {
  /**
   * Espruino only: first store every file piece in require("Storage") (the emulated flash file,
   * in a fresh working directory), then run a second process that evaluates them from flash, as a
   * board runs code saved to Storage: the code text then costs no variables, so
   * process.memory().usage counts what the app really holds in RAM.
   */
  espruinoFlash?: boolean;
}

/** Runs the pieces on the engine; resolves with its exit code and output (never rejects on a script error). */
export async function runEngine(engine: EngineName, pieces: string[], timeoutMs = 120_000, opts: RunOptions = {}): Promise<EngineRun> {
  if (engine === 'espruino') return runEspruino(pieces, timeoutMs, !!opts.espruinoFlash);
  const runner = path.join(HERE, engine === 'xs' ? 'run-xs.mjs' : 'run-node.mjs');
  const r = await collect(process.execPath, engine === 'node' ? ['--expose-gc', runner, ...pieces] : [runner, ...pieces], timeoutMs);
  const meters: EngineRun['meters'] = [];
  const tag = engine === 'xs' ? '@@xs-meter ' : '@@node-meter ';
  for (const line of r.stdout.split('\n')) if (line.startsWith(tag)) meters.push(JSON.parse(line.slice(tag.length)));
  return { ...r, meters };
}

/**
 * Espruino's Linux binary runs one file and exits when no timers remain. The pieces are joined into
 * one file (each piece wrapped so a throw is reported on stdout with a marker), its banner and
 * `\r\n` line ends are stripped; exit code 1 if any piece threw.
 */
async function runEspruino(pieces: string[], timeoutMs: number, fromFlash: boolean): Promise<EngineRun> {
  const bin = espruinoBin();
  if (!bin) throw new Error('ESPRUINO_BIN is not set (or does not exist): Espruino runs are skipped');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vakt-esp-'));
  const exprs: string[] = [];
  const store: string[] = [];
  for (let i = 0; i < pieces.length; i++) {
    if (pieces[i] === '--eval') { exprs.push(JSON.stringify(pieces[++i])); continue; }
    const code = fs.readFileSync(pieces[i], 'utf8');
    if (fromFlash) {
      const name = `v${store.length}.js`;
      store.push(`S.write(${JSON.stringify(name)}, ${JSON.stringify(code)});\n`);
      exprs.push(`require("Storage").read(${JSON.stringify(name)})`);
    } else exprs.push(JSON.stringify(code));
  }
  if (fromFlash) {
    const w = path.join(work, 'store.js');
    fs.writeFileSync(w, 'var S = require("Storage");\nS.eraseAll();\n' + store.join('') + 'print("@@stored");\n');
    const r = await collect(bin, [w], timeoutMs, work);
    if (!/@@stored/.test(r.stdout)) {
      fs.rmSync(work, { recursive: true, force: true });
      return { code: 1, stdout: r.stdout, stderr: r.stderr + 'storing the pieces in Storage failed', meters: [] };
    }
  }
  // Each piece is evaluated separately so a throw can be attributed and the run stops there.
  const body = exprs.map((e) => `try { eval(${e}); } catch (e) { print("@@espruino-error " + e + " " + (e && e.stack ? e.stack : "")); quit(); }\n`).join('');
  const file = path.join(work, 'run.js');
  fs.writeFileSync(file, body + 'print("@@espruino-done");\n');
  try {
    const r = await collect(bin, [file], timeoutMs, work);
    const stdout = r.stdout.replace(/\r\n/g, '\n');
    const failed = /@@espruino-error/.test(stdout) || !/@@espruino-done/.test(stdout) || r.code !== 0;
    const errLine = stdout.split('\n').find((l) => l.startsWith('@@espruino-error'));
    return { code: failed ? 1 : 0, stdout, stderr: r.stderr + (errLine ?? ''), meters: [] };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
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
