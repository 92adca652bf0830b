// Decides which property names of a firmware bundle esbuild may shorten (`mangleProps`), at build
// time, from the sources as they are now. Used by scripts/build-firmware.ts (see its header for
// the scheme in one paragraph); this file is the mechanism.
//
// Why: on Espruino a property name longer than 8 characters costs an extra variable on every object
// that holds it (and every class method name is such a property), and names are most of a minified
// bundle's remaining text. Why it is delicate: a bundle talks to code built separately (board
// adapters, test and bench harnesses, the engine itself) purely by property names, so a renamed
// name that crosses that boundary breaks the device silently. Rather than a hand-kept list (which
// rots while the firmware is edited), the set is computed on every build:
//
//   candidates = property names the bundle's own source files *define* (class fields, methods and
//                accessors, object-literal keys, constructor parameter properties); an interface or
//                type-literal member alone does not count (it may describe an object made elsewhere)
//   reserved   = every standard built-in property name, enumerated from a fresh V8 context
//              + names engines read from objects they are handed (iterator/thenable/descriptor
//                protocols, Espruino's Object.prototype event methods)
//              + the words of every file that talks to a bundle (consumerFiles), by how it talks:
//                - all its words (identifiers, keywords, words inside strings; not comments) for code
//                  that shares objects or a global scope with a bundle: boards/src/**, boards/profiles/**
//                  and the engine harnesses test/xs/*.js|mjs (with what they import), and a file under
//                  test/ or scripts/ that evaluates code in its own process (new Function, eval, vm)
//                  and reaches a firmware bundle (espruino-board.test.ts runs the deliverable in vm;
//                  the helpers it imports count as text: they touch objects only by property syntax)
//                - only its text words for a file under test/ or scripts/ that names a bundle global,
//                  a harness global or the build, and for what it or an in-process evaluator imports: it runs in
//                  Node and reaches a bundle through an engine in another process, by code sent as
//                  text and JSON sent or read back. Text words = every word in a string or template
//                  literal (`var app = VaktMeter.startMeter(b, {..}); app.stats.commands`) + every
//                  property name it writes or reads (object keys, members, `x.name`, destructured
//                  keys: a Node object may be JSON.stringify'd into engine text, and a harness may
//                  print a bundle object's keys as JSON, as conc-harness.js does with app.stats);
//                  its bindings (variables, parameters, functions, imports) never reach an engine,
//                  so reference.ts's `meterId` parameter or harness.ts's `pending` local do not count
//                So Board methods, app methods, options and stats read by harnesses, provisioning/profile
//                JSON keys are all kept
//              + every word inside a string or template literal of the bundle's own sources
//                (`o['x']`, `'x' in o`, code built as text are not renamed by esbuild, so the
//                unquoted uses must not be either)
//              + every property name declared or accessed in a bundle source file that enumerates
//                keys (Object.keys/entries/values/assign/getOwnPropertyNames, for-in, `in`,
//                hasOwnProperty, JSON, Reflect) or that imports a function which does: those
//                objects' keys can be data (CBOR maps, JSON), and a renamed key would reach the wire
//   mangled    = candidates − reserved
// Every reserved name is also handed to esbuild as `false` in mangleCache, so no generated short
// name can equal a built-in or any name an adapter or harness uses. Ambiguity is always resolved
// by reserving; the cost of a wrongly reserved name is a few bytes, of a wrongly mangled one a
// broken meter.
import ts from 'typescript';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';

/** Why a name is kept as it is (first reason found), for the report and the tests. */
export type ReserveReason = 'builtin' | 'engine' | 'entry' | `consumer ${string}` | `quoted ${string}` | `reflective ${string}`;

/** What the build hands to esbuild, and why. */
export interface ManglePlan {
  /** Names esbuild renames, sorted. */
  mangled: string[];
  /** Names declared by the bundle's sources that stay as they are, with the reason. */
  kept: Map<string, ReserveReason>;
  /** esbuild options; undefined when nothing is to be renamed. */
  esbuild: { mangleProps: RegExp; mangleCache: Record<string, string | false> } | undefined;
}

/**
 * Names an engine reads or calls on objects a program hands it, which no built-in prototype lists:
 * iterator and thenable protocols, property descriptors, Error options, and Espruino's event methods
 * (Espruino adds on/emit/... to Object.prototype; absent on V8, so the enumeration misses them).
 */
export const ENGINE_PROTOCOL_NAMES = [
  'next', 'done', 'value', 'return', 'throw', 'then', 'catch', 'finally', 'toJSON', 'toString', 'valueOf',
  'length', 'constructor', 'prototype', '__proto__', 'name', 'message', 'stack', 'cause', 'errors',
  'get', 'set', 'enumerable', 'configurable', 'writable', 'raw', 'callee', 'caller', 'arguments', 'default',
  'lastIndex', 'index', 'input', 'groups', 'handleEvent',
  'on', 'emit', 'removeListener', 'removeAllListeners', 'prependListener', 'addListener', 'replaceWith',
];

let builtinCache: Set<string> | undefined;

/** Every own property name of the standard built-ins (globals, their prototypes, and typical instances) of a fresh V8 context. */
export function standardBuiltinNames(): Set<string> {
  if (builtinCache) return builtinCache;
  // A vm context holds only ECMAScript built-ins (no Node globals such as process or Buffer).
  const names = vm.runInNewContext(`(function () {
    var out = new Set(), seen = new Set();
    function visit(v, depth) {
      while (v !== null && (typeof v === 'object' || typeof v === 'function') && !seen.has(v)) {
        seen.add(v);
        var ks = Object.getOwnPropertyNames(v);
        for (var i = 0; i < ks.length; i++) {
          out.add(ks[i]);
          if (depth > 0) { var c; try { c = v[ks[i]]; } catch (e) { c = undefined; } visit(c, depth - 1); }
        }
        v = Object.getPrototypeOf(v);
      }
    }
    visit(globalThis, 3);
    var samples = [
      [].values(), [].values().next(), new Map().entries(), new Set().values(), ''[Symbol.iterator](),
      /a/g.exec('a'), new Error('e', { cause: 1 }), new AggregateError([]),
      Object.getOwnPropertyDescriptor({ a: 1 }, 'a'),
      Object.getOwnPropertyDescriptor({ get a() { return 1; }, set a(x) {} }, 'a'),
      (function () { return arguments; })(), function () {}, async function () {}, function* () {}, class {},
      new Uint8Array(1), new DataView(new ArrayBuffer(1)), Promise.resolve(), Object(''), Object(1),
      Promise.withResolvers ? Promise.withResolvers() : {}, Object.groupBy ? Object.groupBy([], function () { return 0; }) : {},
    ];
    for (var j = 0; j < samples.length; j++) visit(samples[j], 2);
    return Array.from(out).filter(function (k) { return typeof k === 'string'; });
  })()`) as string[];
  builtinCache = new Set(names);
  return builtinCache;
}

const WORD = /[A-Za-z_$][\w$]*/g;
const wordsOf = (text: string): string[] => text.match(WORD) ?? [];

/**
 * Every word of a file's code: identifiers, keywords, and every identifier-shaped word inside its
 * string and template literals (code run on an engine is often written as a string). Comments are
 * skipped (read by the parser, so a `//` inside a string is not taken for one); JSON is taken whole.
 */
export function codeWords(file: string, text: string): string[] {
  if (file.endsWith('.json')) return wordsOf(text);
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, /\.[mc]?ts$/.test(file) ? ts.ScriptKind.TS : ts.ScriptKind.JS);
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if (n.kind >= ts.SyntaxKind.FirstToken && n.kind <= ts.SyntaxKind.LastToken || ts.isIdentifier(n) || ts.isPrivateIdentifier(n)) {
      for (const w of wordsOf(n.getText(sf))) out.push(w);
      return;
    }
    for (const c of n.getChildren(sf)) visit(c);
  };
  visit(sf);
  return out;
}
const SOURCE_EXT = /\.(ts|mts|cts|js|mjs|cjs|json)$/;

function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p));
    else if (SOURCE_EXT.test(e.name)) out.push(p);
  }
  return out;
}

/** Relative imports (`from './x.ts'`, `import('./x')`, `require('./x')`) of a file that exist. */
function relativeImports(file: string, text: string): string[] {
  const out: string[] = [];
  const re = /(?:from\s*|import\s*\(\s*|require\s*\(\s*|import\s+)['"](\.\.?\/[^'"]+)['"]/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const p = path.resolve(path.dirname(file), m[1]);
    for (const c of [p, p + '.ts', p + '.js']) if (fs.existsSync(c) && fs.statSync(c).isFile()) { out.push(c); break; }
  }
  return out;
}

/**
 * Every word a file can hand an engine as data or read back from one, while its own bindings run only
 * in Node: the words of its string and template literals (code sent to an engine as text) and every
 * *property* name it writes or reads (object-literal keys, class and type members, parameter
 * properties, `x.name` accesses, destructured keys, qualified names), because an object it builds may
 * reach an engine through JSON.stringify and engine output comes back as JSON whose keys the file
 * reads (a harness may enumerate a bundle object: test/xs/conc-harness.js copies `app.stats` with
 * for-in). Left out: names that only bind (variables, parameters, functions, classes, imports, type
 * names), keywords and import/export module specifiers; no engine ever sees those. Comments are
 * skipped; JSON is taken whole.
 */
export function textWords(file: string, text: string): string[] {
  if (file.endsWith('.json')) return wordsOf(text);
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, /\.[mc]?ts$/.test(file) ? ts.ScriptKind.TS : ts.ScriptKind.JS);
  const out: string[] = [];
  const prop = (n: ts.Node | undefined): void => { if (n && (ts.isIdentifier(n) || ts.isPrivateIdentifier(n))) out.push(...wordsOf(n.text)); };
  const visit = (n: ts.Node): void => {
    if (ts.isStringLiteralLike(n) || ts.isTemplateHead(n) || ts.isTemplateMiddle(n) || ts.isTemplateTail(n)) {
      // A module specifier (`from '@vakt/shared/counter'`) is a path resolved in Node, never engine code or data.
      if (!(ts.isImportDeclaration(n.parent) || ts.isExportDeclaration(n.parent))) for (const w of wordsOf(n.text)) out.push(w);
    } else if (ts.isPropertyAccessExpression(n) || ts.isQualifiedName(n)) {
      prop(ts.isQualifiedName(n) ? n.right : n.name);
    } else if (ts.isPropertyAssignment(n) || ts.isShorthandPropertyAssignment(n) || ts.isPropertyDeclaration(n) || ts.isMethodDeclaration(n)
      || ts.isGetAccessorDeclaration(n) || ts.isSetAccessorDeclaration(n) || ts.isPropertySignature(n) || ts.isMethodSignature(n)
      || ts.isEnumMember(n)) {
      prop(n.name);
    } else if (ts.isBindingElement(n) && ts.isObjectBindingPattern(n.parent)) {
      prop(n.propertyName ?? n.name);
    } else if (ts.isParameter(n) && n.modifiers?.some((m) => m.kind === ts.SyntaxKind.PublicKeyword || m.kind === ts.SyntaxKind.PrivateKeyword
      || m.kind === ts.SyntaxKind.ProtectedKeyword || m.kind === ts.SyntaxKind.ReadonlyKeyword)) {
      prop(n.name);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** How much of a consumer file's text reserves names: `all` its words, `text` only textWords. */
export type ConsumerKind = 'all' | 'text';
/** A file that talks to a bundle, and how (see consumerFiles). */
export interface ConsumerFile { file: string; kind: ConsumerKind }

/**
 * True if the file can evaluate code text inside its own process: it names `eval` or `Function` as
 * code (an identifier, a property name or a type: `new Function`, `(0, eval)(s)`, `globalThis.eval`,
 * a Worker's `eval: true`; words inside strings such as runEngine's '--eval' do not count) or loads
 * node:vm. Read by the parser, so comments do not count either.
 */
export function evaluatesCode(file: string, text: string): boolean {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, /\.[mc]?ts$/.test(file) ? ts.ScriptKind.TS : ts.ScriptKind.JS);
  const VM = /^(?:node:)?vm$/;
  const hit = (n: ts.Node): boolean => {
    if (ts.isIdentifier(n) && (n.text === 'eval' || n.text === 'Function')) return true;
    if (ts.isStringLiteralLike(n) && VM.test(n.text)) return true;
    return ts.forEachChild(n, hit) ?? false;
  };
  return hit(sf);
}

/**
 * Files whose code touches a bundle's objects by name, and how much of each file's text counts
 * (ambiguity is resolved by reserving: a file reached in several ways gets the widest kind):
 *   1. all   boards/src/**, boards/profiles/** (Board adapters and profiles call the apps and the
 *            core directly) and the engine-side harnesses, the JavaScript files of test/xs
 *            (`.js`/`.mjs`: code an engine runs in one global scope with a bundle), with every file
 *            they import relatively;
 *   2. all   every file under test/ or scripts/ that evaluates code text inside its own process
 *            (evaluatesCode: `new Function`, `eval`, node:vm) and can reach a firmware bundle: it is a
 *            consumer by rule 3, or it or a file it imports relatively mentions a marker. It may load
 *            a bundle there and touch its objects from TypeScript;
 *   3. text  every other file under test/ or scripts/ that mentions one of `markers` (bundle globals,
 *            the build function, the output directory) or a global the rule-1 files set
 *            (VaktHarness, ...), and every file a rule-2 or rule-3 file imports relatively. Such a
 *            file runs in Node, apart from any bundle: it reaches one only through an engine in
 *            another process (code sent as text, JSON sent and read back) or, as a helper of a
 *            rule-2 file, through objects handed to it, which it can touch only by property syntax.
 *            So only textWords count: string and template literal words and property names, not
 *            its bindings (test/conformance/reference.ts's `meterId` parameter).
 * A file that evaluates only its own text and reaches no marker (bundle-inline.test.ts, and
 * codec/engines.test.ts, which bundles shared/src itself without renaming) touches no renamed name
 * and is no consumer. `exclude` are the bundle's own sources and the build tooling (whose words are
 * not names a bundle is called by).
 */
export function consumerFiles(root: string, markers: string[], exclude: Set<string>): ConsumerFile[] {
  const found = new Map<string, ConsumerKind>();
  const inRepo = (p: string) => /^(test|scripts|boards)\//.test(path.relative(root, p));
  const texts = new Map<string, string>();
  const read = (f: string): string => { let t = texts.get(f); if (t === undefined) texts.set(f, (t = fs.readFileSync(f, 'utf8'))); return t; };
  const importsOf = (f: string): string[] => relativeImports(f, read(f)).filter(inRepo);
  /** Adds `f` as `kind` and its relative imports as `importKind`, transitively; `all` is never lowered. */
  const add = (f: string, kind: ConsumerKind, importKind: ConsumerKind): void => {
    const queue: [string, ConsumerKind][] = [[f, kind]];
    while (queue.length) {
      const [g, k] = queue.pop()!;
      if (exclude.has(g) || found.get(g) === 'all' || found.get(g) === k) continue;
      found.set(g, k);
      for (const d of importsOf(g)) queue.push([d, importKind === 'all' && k === 'all' ? 'all' : 'text']);
    }
  };
  const engineSide = (f: string): boolean => /\.m?js$/.test(f);
  const always = [...listFiles(path.join(root, 'boards', 'src')), ...listFiles(path.join(root, 'boards', 'profiles')),
    ...listFiles(path.join(root, 'test', 'xs')).filter(engineSide)];
  // The globals those files set (VaktHarness, ...) mark their callers too: a test that drives a
  // harness may call the app object the harness hands back.
  const marks = new Set(markers);
  for (const f of always) {
    add(f, 'all', 'all');
    for (const m of read(f).matchAll(/globalThis\.([A-Za-z_$][\w$]*)\s*=[^=]/g)) marks.add(m[1]);
  }
  const marked = (f: string): boolean => [...marks].some((m) => read(f).includes(m));
  const local = [...listFiles(path.join(root, 'test')), ...listFiles(path.join(root, 'scripts'))].filter((f) => !exclude.has(f));
  for (const f of local) if (marked(f)) add(f, 'text', 'text');
  /** True if `f` or a file it imports relatively (transitively) mentions a marker. */
  const reachesMarker = (f: string): boolean => {
    const seen = new Set<string>([f]);
    const queue = [f];
    while (queue.length) {
      const g = queue.pop()!;
      if (marked(g)) return true;
      for (const d of importsOf(g)) if (!seen.has(d)) { seen.add(d); queue.push(d); }
    }
    return false;
  };
  for (const f of local) if (evaluatesCode(f, read(f)) && (found.has(f) || reachesMarker(f))) add(f, 'all', 'text');
  return [...found].map(([file, kind]) => ({ file, kind })).sort((x, y) => (x.file < y.file ? -1 : x.file > y.file ? 1 : 0));
}

/** Static name of a property-like node (identifier or private name only; quoted and computed keys are not mangled by esbuild). */
function identName(n: ts.Node | undefined): string | undefined {
  return n && ts.isIdentifier(n) ? n.text : undefined;
}

const REFLECTIVE_OBJECT_METHODS = new Set(['keys', 'entries', 'values', 'assign', 'getOwnPropertyNames', 'getOwnPropertyDescriptor',
  'getOwnPropertyDescriptors', 'defineProperty', 'defineProperties', 'fromEntries', 'hasOwn', 'create']);

/** True if the node enumerates or tests keys by value, or (de)serialises whole objects. */
function isReflective(n: ts.Node): boolean {
  if (ts.isForInStatement(n)) return true;
  if (ts.isBinaryExpression(n) && n.operatorToken.kind === ts.SyntaxKind.InKeyword) return true;
  if (ts.isSpreadAssignment(n)) return true;
  if (ts.isPropertyAccessExpression(n)) {
    const obj = n.expression;
    const prop = n.name.text;
    if (prop === 'hasOwnProperty' || prop === 'propertyIsEnumerable') return true;
    if (ts.isIdentifier(obj) && (obj.text === 'JSON' || obj.text === 'Reflect')) return true;
    if (ts.isIdentifier(obj) && obj.text === 'Object' && REFLECTIVE_OBJECT_METHODS.has(prop)) return true;
  }
  return false;
}

interface SourceFacts {
  declared: Set<string>;
  /** Every property name the file declares or accesses (for a reflective file). */
  touched: Set<string>;
  quotedWords: Set<string>;
  /** Top-level functions (by name) whose body is reflective or calls one that is (same file). */
  reflectiveFns: Set<string>;
  /** Names this file imports from other modules. */
  imports: Set<string>;
  reflective: boolean;
}

function factsOf(file: string): SourceFacts {
  const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true,
    file.endsWith('.ts') ? ts.ScriptKind.TS : ts.ScriptKind.JS);
  const f: SourceFacts = { declared: new Set(), touched: new Set(), quotedWords: new Set(), reflectiveFns: new Set(), imports: new Set(), reflective: false };
  const fnReflective = new Map<string, boolean>();
  const fnCalls = new Map<string, Set<string>>();
  let currentFn: string | undefined;

  const visit = (n: ts.Node): void => {
    let name: string | undefined;
    // Only value-level declarations make a candidate: an interface or type-literal member may describe
    // an object the engine or a caller made, whose names the bundle does not choose.
    if (ts.isPropertySignature(n) || ts.isMethodSignature(n)) {
      const t = identName(n.name);
      if (t !== undefined) f.touched.add(t);
    } else if (ts.isPropertyDeclaration(n) || ts.isMethodDeclaration(n) || ts.isGetAccessorDeclaration(n) || ts.isSetAccessorDeclaration(n)
      || ts.isPropertyAssignment(n) || ts.isShorthandPropertyAssignment(n)) {
      name = identName(n.name);
    } else if (ts.isParameter(n) && n.modifiers?.some((m) => m.kind === ts.SyntaxKind.PublicKeyword || m.kind === ts.SyntaxKind.PrivateKeyword
      || m.kind === ts.SyntaxKind.ProtectedKeyword || m.kind === ts.SyntaxKind.ReadonlyKeyword)) {
      name = identName(n.name);
    }
    if (name !== undefined) { f.declared.add(name); f.touched.add(name); }
    if (ts.isPropertyAccessExpression(n) && ts.isIdentifier(n.name)) f.touched.add(n.name.text);
    if (ts.isStringLiteralLike(n) || ts.isTemplateHead(n) || ts.isTemplateMiddle(n) || ts.isTemplateTail(n)) {
      // Import specifiers are paths, not property names.
      if (!(ts.isImportDeclaration(n.parent) || ts.isExportDeclaration(n.parent))) for (const w of wordsOf(n.text)) f.quotedWords.add(w);
    }
    if (ts.isImportSpecifier(n)) f.imports.add((n.propertyName ?? n.name).text);
    if (ts.isNamespaceImport(n)) f.imports.add('*');
    if (isReflective(n)) {
      f.reflective = true;
      if (currentFn !== undefined) fnReflective.set(currentFn, true);
    }
    if (currentFn !== undefined && ts.isCallExpression(n) && ts.isIdentifier(n.expression)) {
      let s = fnCalls.get(currentFn);
      if (!s) fnCalls.set(currentFn, (s = new Set()));
      s.add(n.expression.text);
    }
    // Top-level functions, classes and consts are the units a reflective function is tracked by.
    const fnName = (ts.isFunctionDeclaration(n) || ts.isClassDeclaration(n)) && n.parent === sf && n.name ? n.name.text
      : ts.isVariableDeclaration(n) && ts.isVariableStatement(n.parent.parent) && n.parent.parent.parent === sf && ts.isIdentifier(n.name) ? n.name.text
        : undefined;
    if (fnName !== undefined) {
      const prev = currentFn;
      currentFn = fnName;
      if (!fnReflective.has(fnName)) fnReflective.set(fnName, false);
      ts.forEachChild(n, visit);
      currentFn = prev;
      return;
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  // A function that calls a reflective function of the same file is reflective too (fixpoint).
  for (let changed = true; changed;) {
    changed = false;
    for (const [fn, calls] of fnCalls) {
      if (fnReflective.get(fn)) continue;
      for (const c of calls) if (fnReflective.get(c)) { fnReflective.set(fn, true); changed = true; break; }
    }
  }
  for (const [fn, r] of fnReflective) if (r) f.reflectiveFns.add(fn);
  return f;
}

/**
 * Member names of every interface and type literal an app's entry module exports (MeterApp,
 * MeterOptions, MeterStats, ...): the app's documented interface, which a user's own code on the
 * device (a power-fail comparator calling onPowerFail, a prompt reading stats) uses by name
 * although no file in this repository does. The build reserves them as entry names.
 */
export function publicApiNames(file: string): string[] {
  const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const names = new Set<string>();
  const members = (ms: ts.NodeArray<ts.TypeElement>): void => {
    for (const m of ms) if (m.name !== undefined && (ts.isIdentifier(m.name) || ts.isStringLiteral(m.name))) names.add(m.name.text);
  };
  for (const st of sf.statements) {
    const exported = ts.canHaveModifiers(st) && (ts.getModifiers(st) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    if (!exported) continue;
    if (ts.isInterfaceDeclaration(st)) members(st.members);
    else if (ts.isTypeAliasDeclaration(st) && ts.isTypeLiteralNode(st.type)) members(st.type.members);
  }
  return [...names].sort();
}

/**
 * Plans the property renaming of one bundle from its source files (absolute paths, e.g. the
 * esbuild metafile inputs), the files that talk to bundles (see consumerFiles) and the names the
 * generated entry code exposes (start functions, globals). Never renames a name it has any reason to keep.
 */
export function planPropertyMangling(root: string, sources: string[], consumers: (string | ConsumerFile)[], entryNames: string[]): ManglePlan {
  const kept = new Map<string, ReserveReason>();
  const keep = (n: string, why: ReserveReason): void => { if (!kept.has(n)) kept.set(n, why); };
  const builtins = standardBuiltinNames();
  const rel = (p: string) => path.relative(root, p);

  const facts = sources.filter((s) => /\.(ts|js|mjs)$/.test(s)).map((s) => ({ file: s, f: factsOf(s) }));
  const declared = new Set<string>();
  for (const { f } of facts) for (const n of f.declared) declared.add(n);

  const reserved = new Map<string, ReserveReason>();
  const reserve = (n: string, why: ReserveReason): void => { if (!reserved.has(n)) reserved.set(n, why); };
  for (const n of builtins) reserve(n, 'builtin');
  for (const n of ENGINE_PROTOCOL_NAMES) reserve(n, 'engine');
  for (const n of entryNames) reserve(n, 'entry');
  // A plain path is a consumer of kind `all`.
  for (const c of consumers) {
    const { file, kind } = typeof c === 'string' ? { file: c, kind: 'all' as ConsumerKind } : c;
    const text = fs.readFileSync(file, 'utf8');
    if (kind === 'all') for (const w of codeWords(file, text)) reserve(w, `consumer ${rel(file)}`);
    else for (const w of textWords(file, text)) reserve(w, `consumer ${rel(file)} (text)`);
  }
  for (const { file, f } of facts) for (const w of f.quotedWords) reserve(w, `quoted ${rel(file)}`);
  const reflectiveFns = new Set<string>();
  for (const { f } of facts) for (const fn of f.reflectiveFns) reflectiveFns.add(fn);
  for (const { file, f } of facts) {
    const importsReflective = f.imports.has('*') ? facts.some((o) => o.f.reflectiveFns.size > 0) : [...f.imports].some((i) => reflectiveFns.has(i));
    if (f.reflective || importsReflective) for (const n of f.touched) reserve(n, `reflective ${rel(file)}`);
  }

  const mangled: string[] = [];
  for (const n of [...declared].sort()) {
    const why = reserved.get(n);
    if (why !== undefined) keep(n, why);
    else mangled.push(n);
  }
  if (mangled.length === 0) return { mangled, kept, esbuild: undefined };
  const mangleCache: Record<string, string | false> = {};
  for (const n of reserved.keys()) if (/^[A-Za-z_$][\w$]*$/.test(n)) mangleCache[n] = false;
  const escape = (s: string) => s.replace(/\$/g, '\\$');
  return { mangled, kept, esbuild: { mangleProps: new RegExp('^(?:' + mangled.map(escape).join('|') + ')$'), mangleCache } };
}
