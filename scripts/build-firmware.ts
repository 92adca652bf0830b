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
// Property names: a property whose name ends in `_` (e.g. `seq_`) is private to the bundle; esbuild
// shortens it (mangleProps). Nothing else is renamed, so every name a harness, adapter or user's
// device code reads is the source's. Never name such a property from outside the bundle.
// Espruino: a long property name costs an extra variable per object holding it; use the suffix on
// properties of objects the meter keeps many of, where that matters.
//
// Native AES: a board profile with `nativeAes: true` (Puck.js) gets a deliverable without the
// software AES (`meter-<board>.js`); it refuses to start on a board without native AES. A board
// whose firmware has the crypto module only in some builds (Pico) gets both: `meter-<board>.js`
// (software AES) and `meter-<board>-native-aes.js` (see NATIVE_AES_SUFFIX, docs/BOARDS.md).
//
// usage: tsx scripts/build-firmware.ts [--out dir] [--json] [--only core]
import { build } from 'esbuild';
import type { Plugin } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { checkSource, formatViolations } from './engine-check.ts';
import { inlineTopLevelConstants } from './inline-consts.ts';
import type { CheckEngine, Violation } from './engine-check.ts';
import { profiles } from '../boards/profiles/index.ts';
import type { BoardProfile } from '../boards/src/types.ts';
import { espruinoBootLine } from '../boards/src/espruino/index.ts';
import { MODEM_BOOT_GLOBALS, MODEM_FACTORIES, MODEM_GLOBAL, MODEM_MODULES, modemBootSerial } from '../boards/src/espruino/modem-boot.ts';
import { moddableBootModule } from '../boards/src/moddable/index.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** esbuild's oldest target; it lowers ??, ?., **, class fields, logical assignment. The rest is the checker's job. */
const ESBUILD_TARGET = 'es2015';
const GZIP_LEVEL = 9;

/** Globals the Espruino boot line reads from the interpreter (the adapter itself reads none). */
export const ESPRUINO_BOOT_GLOBALS = [
  'require',
  'Serial1',
  'Serial2',
  'Serial3',
  'getTime',
  'setTime',
  'setInterval',
  'digitalWrite',
  'setWatch',
  'Pin',
  'E',
  // A concentrator's HES line on a Pico, and the firmware-side modem driver (modem-e32.ts).
  'USB',
  ...MODEM_BOOT_GLOBALS,
];

/** Property names esbuild shortens: the bundle-private ones, by the trailing-underscore convention. */
export const PRIVATE_PROPS = /_$/;

/** File-name suffix of an application piece and deliverable built without the software AES. */
export const NATIVE_AES_SUFFIX = '-native-aes';
/** The message a native-AES-only build throws when the board offers no AES provider. */
export const NO_SOFT_AES = 'this firmware build has no software AES: the board must provide native AES';
const AES_MODULE = path.join(ROOT, 'shared', 'src', 'aes.ts');
/**
 * The software-AES exports of shared/src/aes.ts replaced by stubs in a native-AES-only build; the
 * rest of the module (key expansion, S-box) stays. test/firmware/bundle-budget.test.ts proves the
 * result cannot encrypt without a native provider, so a new software-AES entry point fails it.
 */
const SOFT_AES_EXPORTS = ['softAes', '_softBlock'];

/** esbuild plugin: every import of shared/src/aes.ts sees the stubs above instead of the software AES. */
const withoutSoftAes: Plugin = {
  name: 'vakt-without-soft-aes',
  setup(b) {
    b.onResolve({ filter: /aes/ }, async (args) => {
      // The stub module's own `export *` (and this plugin's look-up below) resolve as usual.
      if (args.namespace !== 'file' || (args.pluginData as { inner?: boolean } | undefined)?.inner) return undefined;
      const r = await b.resolve(args.path, {
        resolveDir: args.resolveDir,
        kind: args.kind,
        importer: args.importer,
        pluginData: { inner: true },
      });
      return r.path === AES_MODULE ? { path: AES_MODULE, namespace: 'vakt-native-aes' } : undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'vakt-native-aes' }, () => ({
      resolveDir: ROOT,
      loader: 'ts',
      contents:
        `export * from ${JSON.stringify(AES_MODULE)};\n` +
        `function noSoftAes(): never { throw new Error(${JSON.stringify(NO_SOFT_AES)}); }\n` +
        SOFT_AES_EXPORTS.map((n) =>
          n === 'softAes'
            ? 'export const softAes = { encryptBlock: noSoftAes };\n'
            : `export function ${n}(): never { return noSoftAes(); }\n`,
        ).join(''),
    }));
  },
};

/** An application role: its entry module, the function it exports and the global the bundle sets. */
export interface Role {
  role: 'meter' | 'concentrator';
  entry: string;
  startFn: string;
  global: string;
}
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
  /** Bundle-private property names (PRIVATE_PROPS) and what each became; pieces only. */
  renamed?: Record<string, string>;
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
  log?: (line: string) => void;
}

/** Bundles generated entry code (which imports absolute paths) into one IIFE script, with bytes per source module. */
async function bundle(
  code: string,
  minify: boolean,
  nativeAesOnly: boolean,
): Promise<{ text: string; modules: { path: string; bytes: number }[]; renamed: Record<string, string> }> {
  const r = await build({
    // The readable twin keeps every source name; the minified bundle shortens the private ones.
    ...(minify ? { mangleProps: PRIVATE_PROPS, mangleCache: {} } : {}),
    plugins: nativeAesOnly ? [withoutSoftAes] : [],
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
  const modules = Object.entries(out ? out.inputs : {})
    .map(([p, v]) => ({ path: p, bytes: v.bytesInOutput }))
    .sort((a, b) => b.bytes - a.bytes);
  const renamed: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.mangleCache ?? {})) if (typeof v === 'string') renamed[k] = v;
  return { text: r.outputFiles[0].text, modules, renamed };
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

  const check = (
    name: string,
    file: string,
    code: string,
    engines: CheckEngine[],
    readable: string | undefined,
    extra: { allow?: string[]; module?: boolean },
  ): BundleReport => {
    const b: BundleReport = { name, file, raw: Buffer.byteLength(code), gzip: gz(code), engines, violations: [] };
    for (const engine of engines) {
      const opt = { allowGlobals: extra.allow, module: extra.module };
      // The readable twin is checked in full (hoisting included: same statement order, unambiguous
      // names) and its positions are reported; the minified text adds only what the minifier introduced.
      const seenRules = new Set<string>();
      if (readable !== undefined) {
        const dbg = file.replace(/\.js$/, '.debug.js');
        for (const v of checkSource(readable, engine, { ...opt, hoisting: true })) {
          seenRules.add(v.rule);
          b.violations.push({ ...v, engine, file: dbg });
        }
      }
      for (const v of checkSource(code, engine, { ...opt, hoisting: false }))
        if (!seenRules.has(v.rule)) b.violations.push({ ...v, engine, file });
    }
    if (b.violations.length) report.ok = false;
    report.bundles.push(b);
    return b;
  };

  /** One piece: minified (private names shortened, constants inlined) and its readable twin, checked. */
  const piece = async (name: string, entryCode: string, engines: CheckEngine[], nativeAesOnly = false): Promise<void> => {
    const minB = await bundle(entryCode, true, nativeAesOnly);
    // Each module's own numeric constants become literals: on Espruino every top-level var costs RAM.
    const min = inlineTopLevelConstants(minB.text).code;
    const readable = (await bundle(entryCode, false, nativeAesOnly)).text;
    const file = path.join(outDir, name + '.js');
    fs.writeFileSync(file, min);
    fs.writeFileSync(path.join(outDir, name + '.debug.js'), readable);
    // The renaming, to read a private property name in an error from the device back into the source's.
    const propsFile = path.join(outDir, name + '.props.json');
    if (Object.keys(minB.renamed).length) fs.writeFileSync(propsFile, JSON.stringify(minB.renamed, null, 1) + '\n');
    else fs.rmSync(propsFile, { force: true });
    texts.set(name, min);
    const b = check(name, file, min, engines, readable, {});
    b.modules = minB.modules;
    b.renamed = minB.renamed;
  };
  const writeDeliverable = (
    name: string,
    file: string,
    code: string,
    engine: CheckEngine,
    extra: { allow?: string[]; module?: boolean },
  ): void => {
    fs.writeFileSync(file, code);
    check(name, file, code, [engine], undefined, extra);
  };

  const both: CheckEngine[] = ['espruino', 'xs'];
  if (want('core')) {
    await piece('core', `import * as core from ${imp('shared/src/index.ts')};\nglobalThis.VaktCore = core;\n`, both);
  }
  const espruinoRoles = new Set(profiles.filter((p) => p.engine === 'espruino').flatMap((p) => p.roles ?? []));
  const roles: Role[] = [];
  for (const r of ROLES) {
    const nativeName = r.role + NATIVE_AES_SUFFIX;
    if (!want(r.role) && !want(nativeName) && !want('deliverables')) continue;
    if (!fs.existsSync(path.join(ROOT, r.entry))) {
      report.missing.push(r.entry);
      continue;
    }
    roles.push(r);
    const entryCode = `import { ${r.startFn} } from ${imp(r.entry)};\nglobalThis.${r.global} = { ${r.startFn} };\n`;
    if (want(r.role) || want('deliverables')) await piece(r.role, entryCode, both);
    if (opts.only?.includes(nativeName) || (want('deliverables') && espruinoRoles.has(r.role)))
      await piece(nativeName, entryCode, both, true);
  }
  if (want('adapters') || want('deliverables')) {
    await piece(
      'espruino-adapter',
      `import { createEspruinoBoard, createEspruinoAes } from ${imp('boards/src/espruino/index.ts')};\nglobalThis.VaktEspruino = { createEspruinoBoard, createEspruinoAes };\n`,
      both,
    );
    // The firmware-side modem drivers: each appended only to deliverables whose profile has that modem.
    for (const kind of Object.keys(MODEM_FACTORIES)) {
      const f = MODEM_FACTORIES[kind];
      await piece(
        `espruino-modem-${kind}`,
        `import { ${f} } from ${imp(MODEM_MODULES[kind])};\nglobalThis.${MODEM_GLOBAL} = { ${f} };\n`,
        both,
      );
    }
    await piece(
      'moddable-adapter',
      `import { createModdableBoard } from ${imp('boards/src/moddable/index.ts')};\nglobalThis.VaktModdable = { createModdableBoard };\n`,
      ['xs'],
    );
  }
  if (want('deliverables')) {
    for (const p of profiles) {
      for (const r of roles) {
        if (!p.roles || !p.roles.includes(r.role)) continue;
        if (p.engine === 'espruino') {
          for (const v of espruinoVariants(p)) {
            // The native variant of a board without native AES in its profile is for boards built with the crypto module.
            const profileJson = JSON.stringify({ ...profileForDevice(p), nativeAes: v.nativeAes });
            const app = texts.get(v.nativeAes ? r.role + NATIVE_AES_SUFFIX : r.role)!;
            // The modem lines of a board whose modem has a firmware-side driver get it around their UART.
            const modem = p.modem !== undefined && MODEM_FACTORIES[p.modem.kind] !== undefined ? p.modem : undefined;
            const code =
              app +
              texts.get('espruino-adapter')! +
              (modem === undefined ? '' : texts.get(`espruino-modem-${modem.kind}`)!) +
              espruinoBootLine(
                profileJson,
                r.global,
                r.startFn,
                (p.serial ?? []).map((s) =>
                  modem !== undefined && s.role === 'modem' ? modemBootSerial(modem.kind, s.name, JSON.stringify(modem)) : s.name,
                ),
                v.nativeAes,
              );
            const name = `${r.role}-${p.name}${v.suffix}`;
            writeDeliverable(name, path.join(outDir, name + '.js'), code, 'espruino', { allow: ESPRUINO_BOOT_GLOBALS });
          }
        } else if (p.engine === 'xs') {
          const dir = path.join(outDir, 'moddable', r.role);
          fs.mkdirSync(dir, { recursive: true });
          const profileJson = JSON.stringify(profileForDevice(p));
          const code = texts.get(r.role)! + texts.get('moddable-adapter')! + moddableBootModule(profileJson, r.global, r.startFn);
          fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(moddableManifest(), null, 2) + '\n');
          writeDeliverable(`${r.role}-${p.name}`, path.join(dir, 'main.js'), code, 'xs', { module: true });
        }
      }
    }
  }
  for (const b of report.bundles) {
    log(
      `${b.name.padEnd(32)} ${String(b.raw).padStart(7)} B raw ${String(b.gzip).padStart(6)} B gzip  [${b.engines.join(', ')}] ${b.violations.length ? `${b.violations.length} violation(s)` : 'ok'}`,
    );
  }
  for (const b of report.bundles) {
    const n = Object.keys(b.renamed ?? {}).length;
    if (n) log(`${b.name}: ${n} private property name(s) shortened (see ${b.name}.props.json)`);
  }
  // Where an application bundle's bytes come from, to aim size work at the right module.
  for (const b of report.bundles) {
    if ((b.name === 'meter' || b.name === 'concentrator') && b.modules) {
      log(
        `${b.name} largest modules: ` +
          b.modules
            .slice(0, Number(process.env.VAKT_MODULES ?? 8))
            .map((m) => `${m.path.replace(/^.*?((?:shared|firmware|boards)\/)/, '$1')} ${m.bytes}`)
            .join(', '),
      );
    }
  }
  for (const m of report.missing) log(`skipped: ${m} does not exist yet`);
  return report;
}

/**
 * The Espruino deliverables of a profile: a board with native AES gets only the build without the
 * software AES; one whose firmware may lack the crypto module (Pico) gets both, the native one
 * named `<role>-<board>-native-aes.js`.
 */
export function espruinoVariants(p: BoardProfile): { nativeAes: boolean; suffix: string }[] {
  return p.nativeAes
    ? [{ nativeAes: true, suffix: '' }]
    : [
        { nativeAes: false, suffix: '' },
        { nativeAes: true, suffix: NATIVE_AES_SUFFIX },
      ];
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
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') outDir = argv[++i];
    else if (argv[i] === '--json') json = true;
    else if (argv[i] === '--only') only = (argv[++i] ?? '').split(',');
    else if (argv[i] === '--help' || argv[i] === '-h') {
      process.stdout.write(
        'usage: tsx scripts/build-firmware.ts [--out dir] [--only core,meter,concentrator,adapters,deliverables] [--json]\n',
      );
      return 0;
    } else {
      process.stderr.write(`build-firmware: unknown argument ${argv[i]} (see --help)\n`);
      return 2;
    }
  }
  const report = await buildFirmware({ outDir, only, log: json ? undefined : (l) => process.stdout.write(l + '\n') });
  for (const b of report.bundles) {
    for (const e of ['espruino', 'xs'] as CheckEngine[]) {
      const vs = b.violations.filter((v) => v.engine === e);
      if (vs.length)
        process.stderr.write(`\n${b.name} cannot run on ${e}:\n` + formatViolations(path.relative(ROOT, vs[0].file), vs) + '\n');
    }
  }
  if (json)
    process.stdout.write(
      JSON.stringify({
        ok: report.ok,
        missing: report.missing,
        bundles: report.bundles.map((b) => ({ name: b.name, raw: b.raw, gzip: b.gzip, violations: b.violations.length })),
      }) + '\n',
    );
  if (!report.ok) process.stderr.write('\nbuild:firmware failed: bundles use features their engine lacks (see above)\n');
  return report.ok ? 0 : 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then(
    (c) => process.exit(c),
    (e) => {
      process.stderr.write(`build-firmware: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(2);
    },
  );
}
