// Property renaming of the firmware bundles (scripts/mangle-props.ts, applied by build:firmware).
// The planner on small fixtures (each reason to keep a name, each kind of consumer file, and that nothing else is kept), then
// the real bundles: no name the board adapters, the harnesses or the engine rely on is renamed,
// no generated name is a built-in on Node, XS or Espruino, and the renamed meter bundle transmits
// byte for byte what the unrenamed one does.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { buildFirmware } from '../../scripts/build-firmware.ts';
import type { BuildReport } from '../../scripts/build-firmware.ts';
import { planPropertyMangling, consumerFiles, standardBuiltinNames, ENGINE_PROTOCOL_NAMES, publicApiNames } from '../../scripts/mangle-props.ts';
import { scenario, checkScenario } from '../xs/meter-scenario.ts';
import { runEngine, parseSteps, espruinoBin, xsAvailable } from '../xs/engine-run.ts';

const ROOT = path.resolve(__dirname, '..', '..');
const harness = path.join(ROOT, 'test', 'xs', 'meter-harness.js');

/** Names the meter harnesses call the app by (test/xs/*-harness.js), written out here independently of the planner. */
const METER_APP_NAMES = ['tick', 'onSerial', 'onPulse', 'relayClosed', 'stats', 'framesIn', 'notForMe', 'linkErrors', 'badTag',
  'replay', 'policy', 'commands', 'sendErrors', 'eventsSent', 'attach'];

/** Every member name of every interface in boards/src/types.ts (the Board contract), read with the TypeScript parser. */
function boardInterfaceMembers(): string[] {
  const file = path.join(ROOT, 'boards', 'src', 'types.ts');
  const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if ((ts.isPropertySignature(n) || ts.isMethodSignature(n)) && ts.isIdentifier(n.name)) out.push(n.name.text);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

describe('planPropertyMangling on fixtures', () => {
  let dir: string;
  const w = (rel: string, text: string): string => {
    const f = path.join(dir, rel);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, text);
    return f;
  };
  beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vakt-mangle-')); });
  afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  it('renames only declared names that nothing outside, no string, no built-in and no key enumeration uses', () => {
    const a = w('src/a.ts', [
      'export const opts = { privateLongName: 1, callMeByName: 2 };',
      'export interface EngineMemory { usage: number; free: number }',
      'export class K {',
      '  counterTable = new Uint8Array(4);',
      '  constructor(private readonly slotCount: number) {}',
      '  boardWrite(): void {}',
      '  toString(): string { return "K"; }',
      '  next(): number { return this.counterTable.length; }',
      '  quotedKey = 1;',
      '}',
      'export const o = { literalKey: 1, keyedByString: 2 };',
      "export const q = (k: K) => k['quotedKey'] + (o as Record<string, number>)['keyedBy' + 'String'];",
      "export const tpl = `keyedByString`;",
      'export function readsOnly(x: EngineMemory): number { return x.usage + x.free; }',
    ].join('\n'));
    const b = w('src/b.ts', 'export function dump(v: object): string[] { const r: string[] = []; for (const k in v) r.push(k); return r; }\n');
    const c = w('src/c.ts', "import { dump } from './b.ts';\nexport const sent = dump({ wireKey: 1, alsoOnWire: 2 });\n");
    const d = w('src/d.ts', "import { helper } from './e.ts';\nexport const e = { notTouchedByReflection: helper() };\n");
    const e = w('src/e.ts', 'export function helper(): number { return 1; }\n');
    const consumer = w('test/harness.js', 'board.boardWrite(1); opts.callMeByName = 2;\n');
    const plan = planPropertyMangling(dir, [a, b, c, d, e], [consumer], ['startIt']);
    expect(plan.mangled).toEqual(['counterTable', 'literalKey', 'notTouchedByReflection', 'privateLongName', 'slotCount']);
    const why = Object.fromEntries(plan.kept);
    expect(why.boardWrite).toBe('consumer test/harness.js');
    expect(why.callMeByName).toBe('consumer test/harness.js');
    expect(why.quotedKey).toBe('quoted src/a.ts');
    expect(why.keyedByString).toBe('quoted src/a.ts');
    expect(why.toString).toBe('builtin');
    expect(why.next).toBe('builtin');
    expect(why.wireKey).toBe('reflective src/c.ts');
    expect(why.alsoOnWire).toBe('reflective src/c.ts');
    // Only typed by an interface and read (an engine's or caller's object): not even a candidate.
    expect(why.usage).toBeUndefined();
    expect(why.free).toBeUndefined();
    // esbuild gets exactly these names, and every reserved name as a name it must not generate.
    const re = plan.esbuild!.mangleProps;
    for (const n of plan.mangled) expect(re.test(n), n).toBe(true);
    for (const n of ['boardWrite', 'quotedKey', 'counterTableX', 'xcounterTable', 'usage']) expect(re.test(n), n).toBe(false);
    expect(plan.esbuild!.mangleCache.boardWrite).toBe(false);
    expect(plan.esbuild!.mangleCache.startIt).toBe(false);
    expect(plan.esbuild!.mangleCache.length).toBe(false);
  });

  it('reserves all words of harnesses, adapters and in-process evaluators, only text words of a test that drives an engine by text', () => {
    // The bundle's own source declares every name below; the consumers decide which stay.
    const src = w('kinds/shared/src/app.ts', 'export const app = { tickCount: 1, commandCount: 2, joinCount: 3, frameBudget: 4, refParam: 5, '
      + 'helperKey: 6, harnessName: 7, evalTouched: 8, boardName: 9, ownEvalOnly: 10, refKeyed: 11 };\n');
    w('kinds/boards/src/adapter.ts', 'export function attach(app: { boardName: number }) { return app.boardName; }\n');
    w('kinds/test/xs/h.js', 'globalThis.KindHarness = { run: function (a) { var harnessName = a; return harnessName; } };\n');
    // Drives the bundle on an engine in another process, by text: a binding stays free, template and
    // property words are kept; the word eval inside a string does not make it an in-process evaluator.
    w('kinds/test/a/drive.test.ts', [
      "import { refSeal } from './ref.ts';",
      'const frameBudget = 3;',
      "const steps: { stats: Record<string, number> }[] = JSON.parse(runOn('--eval', `var app = VaktMeter.startMeter(board, {}); print(app.stats.commandCount);`));",
      'export const joins = steps[0].stats.joinCount + frameBudget + refSeal(1);',
      "declare function runOn(flag: string, code: string): string; // another process: '--eval' is text",
    ].join('\n'));
    // Imported by the driver: its parameter is a binding, its object key a property name.
    w('kinds/test/a/ref.ts', 'export function refSeal(refParam: number): number { const h = { refKeyed: refParam }; return h.refKeyed; }\n');
    // Evaluates a bundle in its own process: everything it writes counts.
    w('kinds/test/b/eval.test.ts', "import { helper } from './helper.ts';\nconst m = new Function('return VaktMeter')();\nconst evalTouched = m;\nhelper(evalTouched);\n");
    w('kinds/test/b/helper.ts', 'export function helper(x: { helperKey: number }) { const tickCount = x.helperKey; return tickCount; }\n');
    // Evaluates only its own text and names no bundle: not a consumer.
    const own = w('kinds/test/c/own.test.ts', "const ownEvalOnly = new Function('return 1')();\nexport default ownEvalOnly;\n");
    const root = path.join(dir, 'kinds');
    const consumers = consumerFiles(root, ['VaktMeter'], new Set([src]));
    const kinds = Object.fromEntries(consumers.map((c) => [path.relative(root, c.file), c.kind]));
    expect(kinds).toEqual({
      'boards/src/adapter.ts': 'all', 'test/xs/h.js': 'all', 'test/b/eval.test.ts': 'all',
      'test/a/drive.test.ts': 'text', 'test/a/ref.ts': 'text', 'test/b/helper.ts': 'text',
    });
    expect(consumers.map((c) => c.file)).not.toContain(own);
    const plan = planPropertyMangling(root, [src], consumers, []);
    const why = Object.fromEntries(plan.kept);
    // A category-3 file's own identifiers (a const, an imported function's parameter, a helper's local) are renamed.
    expect(plan.mangled).toEqual(['frameBudget', 'ownEvalOnly', 'refParam', 'tickCount']);
    // Words inside its template literal, property names it reads (engine output) or writes are kept.
    expect(why.commandCount).toBe('consumer test/a/drive.test.ts (text)');
    expect(why.joinCount).toBe('consumer test/a/drive.test.ts (text)');
    expect(why.refKeyed).toBe('consumer test/a/ref.ts (text)');
    expect(why.helperKey).toBe('consumer test/b/helper.ts (text)');
    // Harnesses, adapters and in-process evaluators keep every word, bindings included.
    expect(why.harnessName).toBe('consumer test/xs/h.js');
    expect(why.boardName).toBe('consumer boards/src/adapter.ts');
    expect(why.evalTouched).toBe('consumer test/b/eval.test.ts');
  });

  it('enumerates the standard built-ins (prototype methods, iterator results, descriptors) and nothing from Node', () => {
    const b = standardBuiltinNames();
    for (const n of ['subarray', 'set', 'fill', 'byteOffset', 'charCodeAt', 'getUint32', 'fromCharCode', 'done', 'value', 'writable', 'cause', 'PI', 'E']) {
      expect(b.has(n), n).toBe(true);
    }
    for (const n of ['process', 'Buffer', 'readFileSync']) expect(b.has(n), n).toBe(false);
  });
});

describe('firmware bundles with renamed properties', () => {
  let dir: string;
  let plain: string;
  let report: BuildReport;
  let plainReport: BuildReport;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vakt-mangle-fw-'));
    plain = fs.mkdtempSync(path.join(os.tmpdir(), 'vakt-plain-fw-'));
    report = await buildFirmware({ outDir: dir, only: ['core', 'meter', 'concentrator'] });
    plainReport = await buildFirmware({ outDir: plain, only: ['meter'], mangle: false });
  }, 60_000);
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(plain, { recursive: true, force: true });
  });
  const piece = (name: string) => report.bundles.find((b) => b.name === name)!;

  it('builds every piece cleanly and renames a substantial set in each', () => {
    expect(report.ok).toBe(true);
    for (const name of ['core', 'meter', 'concentrator']) {
      const m = piece(name).mangle;
      expect(m, name).toBeDefined();
      expect(Object.keys(m!.renamed).length, name).toBeGreaterThan(20);
      // The map written next to the bundle is the one esbuild applied.
      expect(JSON.parse(fs.readFileSync(path.join(dir, name + '.props.json'), 'utf8'))).toEqual(m!.renamed);
    }
    const meter = piece('meter');
    const unrenamed = plainReport.bundles.find((b) => b.name === 'meter')!;
    expect(unrenamed.mangle).toBeUndefined();
    expect(meter.raw).toBeLessThan(unrenamed.raw);
  });

  it('never renames a Board interface member or a name the harnesses call the apps by', () => {
    const board = boardInterfaceMembers();
    expect(board).toEqual(expect.arrayContaining(['write', 'onData', 'read', 'erase', 'now', 'every', 'relay', 'onPulse', 'onTamper', 'serial', 'storage', 'clock', 'pins', 'aes', 'log', 'profile', 'nativeAes']));
    for (const name of ['core', 'meter', 'concentrator']) {
      const renamed = piece(name).mangle!.renamed;
      for (const n of [...board, ...METER_APP_NAMES, 'startMeter', 'startConcentrator', 'VaktMeter', 'VaktConcentrator', 'VaktCore']) {
        expect(renamed[n], `${name}: ${n}`).toBeUndefined();
        expect(Object.values(renamed), `${name}: generated ${n}`).not.toContain(n);
      }
    }
    // Not vacuous: the meter's sources define these names (the app object and its stats) and keep them.
    const kept = piece('meter').mangle!.plan.kept;
    for (const n of METER_APP_NAMES) if (n !== 'attach') expect(kept.has(n), n).toBe(true);
    // The meter declares a Board-facing object of its own (serial handler, storage calls) only through these names.
    const text = fs.readFileSync(path.join(dir, 'meter.js'), 'utf8');
    for (const n of ['startMeter', 'onData', 'write', 'relayClosed', 'onSerial', 'framesIn']) expect(text, n).toContain(n);
  });

  it("keeps every member of the interfaces an app's entry module exports (its documented API)", () => {
    for (const [name, entry, must] of [
      ['meter', 'firmware/src/meter/index.ts', ['onPowerFail', 'onPulse', 'onTamper', 'onSerial', 'tick', 'meterId', 'stats', 'config', 'relayClosed', 'attach', 'framesIn']],
      ['concentrator', 'firmware/src/concentrator/index.ts', ['onHes', 'onMeterLine', 'tick', 'stats']],
    ] as const) {
      const api = publicApiNames(path.join(ROOT, entry));
      expect(api, name).toEqual(expect.arrayContaining([...must]));
      const m = piece(name).mangle!;
      for (const n of api) {
        expect(m.renamed[n], `${name}: ${n}`).toBeUndefined();
        expect(Object.values(m.renamed), `${name}: generated ${n}`).not.toContain(n);
      }
      // Not vacuous: onPowerFail, which no file of the repository calls, is declared by the app and kept as API.
      if (name === 'meter') expect(m.plan.kept.get('onPowerFail')).toBe('entry');
    }
  });

  it('generates no name that is a standard built-in or an engine protocol name', () => {
    const reserved = new Set([...standardBuiltinNames(), ...ENGINE_PROTOCOL_NAMES]);
    for (const name of ['core', 'meter', 'concentrator']) {
      const renamed = piece(name).mangle!.renamed;
      for (const [from, to] of Object.entries(renamed)) {
        expect(reserved.has(from), `${name}: ${from}`).toBe(false);
        expect(reserved.has(to), `${name}: ${from} -> ${to}`).toBe(false);
      }
    }
  });

  it('the renamed meter bundle transmits byte for byte what the unrenamed one does (Node vm)', async () => {
    const scn = JSON.stringify(scenario());
    const run = async (bundle: string) => {
      const r = await runEngine('node', [bundle, harness, '--eval', `VaktHarness.run(${scn});`]);
      expect(r.code, r.stderr).toBe(0);
      return parseSteps(r.stdout);
    };
    const renamed = await run(path.join(dir, 'meter.js'));
    const unrenamed = await run(path.join(plain, 'meter.js'));
    checkScenario(renamed);
    expect(renamed.length).toBeGreaterThan(3);
    expect(renamed).toEqual(unrenamed);
  });

  // The generated names must not shadow anything the engines themselves give objects (Espruino adds
  // on/emit/replaceWith... to every object; XS and Espruino differ from V8 in places). Espruino does
  // not list its built-in methods with getOwnPropertyNames, so each name is looked up on a fresh
  // object of every kind the bundles put properties on or call methods of.
  for (const engine of ['node', 'xs', 'espruino'] as const) {
    const available = engine === 'node' ? true : engine === 'xs' ? xsAvailable() : !!espruinoBin();
    it.skipIf(!available)(`generates no name that a fresh object, array, function, typed array or error has on ${engine}`, async () => {
      const generated = [...new Set(['core', 'meter', 'concentrator'].flatMap((n) => Object.values(piece(n).mangle!.renamed)))];
      const probe = `(function(){var names=${JSON.stringify([...generated, 'subarray', 'hasOwnProperty'])};
        // Espruino throws on reading a missing field of a typed array: that counts as absent.
        var s=[{},[],function(){},new Uint8Array(1),new Float64Array(1),new Uint32Array(1),new DataView(new ArrayBuffer(1)),new ArrayBuffer(1),'',new Error('e'),Math,JSON,Object,Uint8Array];
        var hit=[];for(var i=0;i<names.length;i++)for(var j=0;j<s.length;j++){var v;try{v=s[j][names[i]];}catch(e){v=undefined;}if(v!==undefined){hit.push(names[i]+'@'+j);break;}}
        print('@@hits '+JSON.stringify(hit));})();`;
      const r = await runEngine(engine, ['--eval', probe]);
      const line = r.stdout.split('\n').find((l) => l.startsWith('@@hits '));
      expect(line, r.stderr + r.stdout.slice(-2000)).toBeDefined();
      const hits = JSON.parse(line!.slice(7)) as string[];
      // The probe itself works on this engine: the two known names are found.
      expect(hits.map((h) => h.split('@')[0]).sort()).toEqual(['hasOwnProperty', 'subarray']);
    });
  }
});
