// Bundles the firmware for every board: `npm run build:firmware`.
//
// Pieces (dist/firmware/):
//   core.js                      the security core alone (shared/src/index.ts), to watch it stay in the subset
//   meter.js, concentrator.js    core + app, engine-neutral; expose globalThis.VaktMeter / VaktConcentrator
//   espruino-adapter.js, moddable-adapter.js   board adapters; expose globalThis.VaktEspruino / VaktModdable
// Deliverables (what a user flashes), each = app bundle + adapter bundle + a boot line, byte for byte:
//   meter-<espruino board>.js    upload with the espruino CLI or the Web IDE (README)
//   moddable/<role>/main.js + manifest.json   build with mcconfig (README)
// Every bundle is parsed with acorn and checked against its engine's rule set (scripts/engine-check.ts);
// the build fails if any bundle uses a feature or global its engine lacks. Each bundle is written
// twice: minified (the deliverable, sizes printed) and readable (`*.debug.js`, for reading violations).
// The minified text gets one extra pass, scripts/inline-consts.ts, which turns each module's
// top-level numeric constants into literals.
//
// Property names (core, meter, concentrator; not the adapters): esbuild's mangleProps shortens the
// property names the bundle's own sources define (class members, object-literal keys, parameter
// properties; an interface member alone does not count) unless a name has any reason to stay,
// computed on every build by scripts/mangle-props.ts: every standard built-in property (enumerated
// from a fresh V8 context), engine protocol names (next/done/value/then/..., Espruino's on/emit),
// the app's public interface (members of every interface its entry module exports: MeterApp,
// MeterOptions, MeterStats, ..., which a user's own device code calls by name; publicApiNames),
// every word of every file that shares objects or a scope with a bundle (boards/src/** = the Board
// interface and adapters, boards/profiles, the engine harnesses test/xs/*.js with what they import,
// and a test or script that evaluates a bundle in its own process: new Function/eval/vm), the text
// words (string/template literal words and property names, not bindings) of every test or script
// that drives a bundle on an engine by text (names a bundle global, a harness global or the build)
// and of what those import, every word in a string literal of the bundle's sources (`o['x']`), and
// every name touched by a source file that enumerates keys (cbor.ts's value codec). Reserved names
// also go to esbuild as `false` in mangleCache, so no short name it generates equals one of them.
// Nothing is listed by hand, so renames and merges in firmware/ and shared/ are picked up; a new
// harness that calls the app by a new name keeps it by naming a bundle global. The readable twin
// keeps the source names; `<piece>.props.json` maps each renamed property to its short name.
// Espruino: a property name over 8 characters costs an extra variable per object holding it.
//
// usage: tsx scripts/build-firmware.ts [--out dir] [--json] [--only core] [--no-mangle]
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { checkSource, formatViolations } from './engine-check.ts';
import { inlineTopLevelConstants } from './inline-consts.ts';
import { planPropertyMangling, consumerFiles, publicApiNames } from './mangle-props.ts';
import type { ManglePlan, ConsumerFile } from './mangle-props.ts';
import type { CheckEngine, Violation } from './engine-check.ts';
import { profiles } from '../boards/profiles/index.ts';
import type { BoardProfile } from '../boards/src/types.ts';
import { espruinoBootLine } from '../boards/src/espruino/index.ts';
import { moddableBootModule } from '../boards/src/moddable/index.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** esbuild's oldest target; it lowers ??, ?., **, class fields, logical assignment. The rest is the checker's job. */
const ESBUILD_TARGET = 'es2015';
const GZIP_LEVEL = 9;

/** Globals the Espruino boot line reads from the interpreter (the adapter itself reads none). */
export const ESPRUINO_BOOT_GLOBALS = ['require', 'Serial1', 'Serial2', 'Serial3', 'getTime', 'setTime', 'setInterval', 'digitalWrite', 'setWatch', 'Pin', 'E'];

/** Globals the pieces set (apps, core, adapters): a file that names one talks to a bundle. */
export const BUNDLE_GLOBALS = ['VaktMeter', 'VaktConcentrator', 'VaktCore', 'VaktEspruino', 'VaktModdable'];
/**
 * The build tooling and the renaming's own test: their words are not names anything calls a bundle
 * by (and the test's lists of names must not reserve what it checks is reserved for other reasons).
 */
const NOT_CONSUMERS = [...['build-firmware.ts', 'engine-check.ts', 'inline-consts.ts', 'mangle-props.ts'].map((f) => path.join(ROOT, 'scripts', f)),
  path.join(ROOT, 'test', 'firmware', 'mangle.test.ts')];

/** An application role: its entry module, the function it exports and the global the bundle sets. */
export interface Role { role: 'meter' | 'concentrator'; entry: string; startFn: string; global: string }
export const ROLES: Role[] = [
  { role: 'meter', entry: 'firmware/src/meter/index.ts', startFn: 'startMeter', global: 'VaktMeter' },
  { role: 'concentrator', entry: 'firmware/src/concentrator/index.ts', startFn: 'startConcentrator', global: 'VaktConcentrator' },
];

export interface BundleReport {
  name: string;
  file: string;
  raw: number;
  gzip: number;
  engines: CheckEngine[];
  violations: (Violation & { engine: CheckEngine; file: string })[];
  /** Minified bytes per source module, largest first (before constant inlining); pieces only. */
  modules?: { path: string; bytes: number }[];
  /** Property renaming of a core/app piece (scripts/mangle-props.ts); absent when not mangled. */
  mangle?: { plan: ManglePlan; renamed: Record<string, string> };
}

export interface BuildReport {
  outDir: string;
  bundles: BundleReport[];
  /** Roles whose entry module does not exist yet (skipped). */
  missing: string[];
  ok: boolean;
}

export interface BuildOptions {
  outDir?: string;
  /** Build only these pieces (core, meter, concentrator, adapters, deliverables); default all. */
  only?: string[];
  /** Shorten the core and app pieces' own property names (default true; false for comparisons). */
  mangle?: boolean;
  log?: (line: string) => void;
}

/** esbuild options for property renaming (see scripts/mangle-props.ts). */
type MangleOpts = { mangleProps: RegExp; mangleCache: Record<string, string | false> };

/** Bundles generated entry code (which imports absolute paths) into one IIFE script, with bytes per source module. */
async function bundle(code: string, minify: boolean, mangle?: MangleOpts): Promise<{ text: string; modules: { path: string; bytes: number }[]; inputs: string[]; mangleCache?: Record<string, string | false> }> {
  const r = await build({
    ...(mangle ?? {}),
    metafile: true,
    stdin: { contents: code, resolveDir: ROOT, sourcefile: 'entry.ts', loader: 'ts' },
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    target: ESBUILD_TARGET,
    minify,
    legalComments: 'none',
    charset: 'ascii',
    logLevel: 'silent',
    absWorkingDir: ROOT,
  });
  const out = Object.values(r.metafile!.outputs)[0];
  const modules = Object.entries(out ? out.inputs : {}).map(([p, v]) => ({ path: p, bytes: v.bytesInOutput })).sort((a, b) => b.bytes - a.bytes);
  const inputs = Object.keys(r.metafile!.inputs).map((p) => path.resolve(ROOT, p)).filter((p) => fs.existsSync(p));
  return { text: r.outputFiles[0].text, modules, inputs, mangleCache: r.mangleCache };
}

const gz = (s: string): number => zlib.gzipSync(Buffer.from(s), { level: GZIP_LEVEL }).length;
const imp = (rel: string): string => JSON.stringify(path.join(ROOT, rel));

/** Builds, checks and writes every firmware bundle; never throws on a rule violation (see report.ok). */
export async function buildFirmware(opts: BuildOptions = {}): Promise<BuildReport> {
  const outDir = path.resolve(opts.outDir ?? path.join(ROOT, 'dist', 'firmware'));
  const log = opts.log ?? (() => {});
  const want = (piece: string): boolean => !opts.only || opts.only.includes(piece);
  fs.mkdirSync(outDir, { recursive: true });
  const report: BuildReport = { outDir, bundles: [], missing: [], ok: true };
  const texts = new Map<string, string>();

  const check = (name: string, file: string, code: string, engines: CheckEngine[], readable: string | undefined, extra: { allow?: string[]; module?: boolean }): BundleReport => {
    const b: BundleReport = { name, file, raw: Buffer.byteLength(code), gzip: gz(code), engines, violations: [] };
    for (const engine of engines) {
      const opt = { allowGlobals: extra.allow, module: extra.module };
      // The readable twin is checked in full (hoisting included: same statement order, unambiguous
      // names) and its positions are reported; the minified text adds only what the minifier introduced.
      const seenRules = new Set<string>();
      if (readable !== undefined) {
        const dbg = file.replace(/\.js$/, '.debug.js');
        for (const v of checkSource(readable, engine, { ...opt, hoisting: true })) { seenRules.add(v.rule); b.violations.push({ ...v, engine, file: dbg }); }
      }
      for (const v of checkSource(code, engine, { ...opt, hoisting: false })) if (!seenRules.has(v.rule)) b.violations.push({ ...v, engine, file });
    }
    if (b.violations.length) report.ok = false;
    report.bundles.push(b);
    return b;
  };

  let consumers: ConsumerFile[] | undefined;
  /** `entryNames`: names the entry code exposes, for a piece whose own property names are shortened. */
  const piece = async (name: string, entryCode: string, engines: CheckEngine[], entryNames?: string[]): Promise<void> => {
    let minB = await bundle(entryCode, true);
    let mangle: BundleReport['mangle'];
    if (entryNames && opts.mangle !== false) {
      // Planned from this build's own inputs and today's consumers (scripts/mangle-props.ts).
      consumers ??= consumerFiles(ROOT, [...BUNDLE_GLOBALS, 'buildFirmware', 'dist/firmware'], new Set([...NOT_CONSUMERS, ...minB.inputs]));
      const plan = planPropertyMangling(ROOT, minB.inputs, consumers, entryNames);
      if (plan.esbuild) {
        minB = await bundle(entryCode, true, plan.esbuild);
        const renamed: Record<string, string> = {};
        for (const [k, v] of Object.entries(minB.mangleCache ?? {})) if (typeof v === 'string') renamed[k] = v;
        mangle = { plan, renamed };
      }
    }
    // Each module's own numeric constants become literals: on Espruino every top-level var costs RAM.
    const min = inlineTopLevelConstants(minB.text).code;
    const readable = (await bundle(entryCode, false)).text;
    const file = path.join(outDir, name + '.js');
    fs.writeFileSync(file, min);
    fs.writeFileSync(path.join(outDir, name + '.debug.js'), readable);
    // The renaming, to read a property name in an error from the device back into the source's.
    const propsFile = path.join(outDir, name + '.props.json');
    if (mangle) fs.writeFileSync(propsFile, JSON.stringify(mangle.renamed, null, 1) + '\n');
    else fs.rmSync(propsFile, { force: true });
    texts.set(name, min);
    const b = check(name, file, min, engines, readable, {});
    b.modules = minB.modules;
    b.mangle = mangle;
  };

  const both: CheckEngine[] = ['espruino', 'xs'];
  if (want('core')) {
    await piece('core', `import * as core from ${imp('shared/src/index.ts')};\nglobalThis.VaktCore = core;\n`, both, ['VaktCore']);
  }
  const roles: Role[] = [];
  for (const r of ROLES) {
    if (!want(r.role) && !want('deliverables')) continue;
    if (!fs.existsSync(path.join(ROOT, r.entry))) { report.missing.push(r.entry); continue; }
    roles.push(r);
    await piece(r.role, `import { ${r.startFn} } from ${imp(r.entry)};\nglobalThis.${r.global} = { ${r.startFn} };\n`, both, [r.startFn, r.global, ...publicApiNames(path.join(ROOT, r.entry))]);
  }
  if (want('adapters') || want('deliverables')) {
    await piece('espruino-adapter', `import { createEspruinoBoard, createEspruinoAes } from ${imp('boards/src/espruino/index.ts')};\nglobalThis.VaktEspruino = { createEspruinoBoard, createEspruinoAes };\n`, both);
    await piece('moddable-adapter', `import { createModdableBoard } from ${imp('boards/src/moddable/index.ts')};\nglobalThis.VaktModdable = { createModdableBoard };\n`, ['xs']);
  }
  if (want('deliverables')) {
    for (const p of profiles) {
      for (const r of roles) {
        if (!p.roles || !p.roles.includes(r.role)) continue;
        const app = texts.get(r.role)!;
        const profileJson = JSON.stringify(profileForDevice(p));
        if (p.engine === 'espruino') {
          const serialNames = (p.serial ?? []).map((s) => s.name);
          const code = app + texts.get('espruino-adapter')! + espruinoBootLine(profileJson, r.global, r.startFn, serialNames, !!p.nativeAes);
          const file = path.join(outDir, `${r.role}-${p.name}.js`);
          fs.writeFileSync(file, code);
          check(`${r.role}-${p.name}`, file, code, ['espruino'], undefined, { allow: ESPRUINO_BOOT_GLOBALS });
        } else if (p.engine === 'xs') {
          const dir = path.join(outDir, 'moddable', r.role);
          fs.mkdirSync(dir, { recursive: true });
          const code = app + texts.get('moddable-adapter')! + moddableBootModule(profileJson, r.global, r.startFn);
          const file = path.join(dir, 'main.js');
          fs.writeFileSync(file, code);
          fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(moddableManifest(), null, 2) + '\n');
          check(`${r.role}-${p.name}`, file, code, ['xs'], undefined, { module: true });
        }
      }
    }
  }
  for (const b of report.bundles) {
    log(`${b.name.padEnd(28)} ${String(b.raw).padStart(7)} B raw ${String(b.gzip).padStart(6)} B gzip  [${b.engines.join(', ')}] ${b.violations.length ? `${b.violations.length} violation(s)` : 'ok'}`);
  }
  for (const b of report.bundles) {
    if (b.mangle) log(`${b.name}: ${Object.keys(b.mangle.renamed).length} property names shortened, ${b.mangle.plan.kept.size} of its own kept (see ${b.name}.props.json)`);
  }
  // Where an application bundle's bytes come from, to aim size work at the right module.
  for (const b of report.bundles) {
    if ((b.name === 'meter' || b.name === 'concentrator') && b.modules) {
      log(`${b.name} largest modules: ` + b.modules.slice(0, Number(process.env.VAKT_MODULES ?? 8)).map((m) => `${m.path.replace(/^.*?((?:shared|firmware|boards)\/)/, '$1')} ${m.bytes}`).join(', '));
    }
  }
  for (const m of report.missing) log(`skipped: ${m} does not exist yet`);
  return report;
}

/** The profile as the device sees it: only what the adapter reads (keeps the flashed file small). */
function profileForDevice(p: BoardProfile): Partial<BoardProfile> {
  return { name: p.name, engine: p.engine, serial: p.serial, pins: p.pins, nativeAes: p.nativeAes };
}

/** mcconfig manifest: ECMA-419 IO, Preference and Timer on top of Moddable's base manifest. */
function moddableManifest(): unknown {
  return {
    include: [
      '$(MODDABLE)/examples/manifest_base.json',
      '$(MODDABLE)/modules/io/manifest.json',
      '$(MODDABLE)/modules/files/preference/manifest.json',
    ],
    modules: { '*': ['./main'] },
    creation: { stack: 512 },
  };
}

async function main(argv: string[]): Promise<number> {
  let outDir: string | undefined;
  let json = false;
  let only: string[] | undefined;
  let mangle = true;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') outDir = argv[++i];
    else if (argv[i] === '--json') json = true;
    else if (argv[i] === '--only') only = (argv[++i] ?? '').split(',');
    else if (argv[i] === '--no-mangle') mangle = false;
    else if (argv[i] === '--help' || argv[i] === '-h') {
      process.stdout.write('usage: tsx scripts/build-firmware.ts [--out dir] [--only core,meter,concentrator,adapters,deliverables] [--json] [--no-mangle]\n');
      return 0;
    } else { process.stderr.write(`build-firmware: unknown argument ${argv[i]} (see --help)\n`); return 2; }
  }
  const report = await buildFirmware({ outDir, only, mangle, log: json ? undefined : (l) => process.stdout.write(l + '\n') });
  for (const b of report.bundles) {
    for (const e of ['espruino', 'xs'] as CheckEngine[]) {
      const vs = b.violations.filter((v) => v.engine === e);
      if (vs.length) process.stderr.write(`\n${b.name} cannot run on ${e}:\n` + formatViolations(path.relative(ROOT, vs[0].file), vs) + '\n');
    }
  }
  if (json) process.stdout.write(JSON.stringify({ ok: report.ok, missing: report.missing, bundles: report.bundles.map((b) => ({ name: b.name, raw: b.raw, gzip: b.gzip, violations: b.violations.length })) }) + '\n');
  if (!report.ok) process.stderr.write('\nbuild:firmware failed: bundles use features their engine lacks (see above)\n');
  return report.ok ? 0 : 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then((c) => process.exit(c), (e) => { process.stderr.write(`build-firmware: ${e instanceof Error ? e.message : String(e)}\n`); process.exit(2); });
}
