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
//              + every word (identifier, keyword, or word inside a string; not comments) of every file
//                that talks to a bundle: boards/src/**, boards/profiles/**, test/xs/**, and every file
//                under test/ or scripts/ that names a bundle global or the build (plus the files those
//                import relatively), so Board methods, app methods, options and stats read by
//                harnesses, provisioning/profile JSON keys are all kept
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
 * Files whose code touches a bundle's objects by name: all of boards/src and boards/profiles and
 * test/xs, every file under test/ and scripts/ that mentions one of `markers` (bundle globals, the
 * build function, the output directory) or a global those always-included files set (harnesses),
 * and the files those import relatively; `exclude` are
 * the bundle's own sources and the build tooling (whose words are not names a bundle is called by).
 */
export function consumerFiles(root: string, markers: string[], exclude: Set<string>): string[] {
  const always = [...listFiles(path.join(root, 'boards', 'src')), ...listFiles(path.join(root, 'boards', 'profiles')), ...listFiles(path.join(root, 'test', 'xs'))];
  const found = new Set<string>();
  const queue: string[] = [];
  const add = (f: string): void => { if (!found.has(f) && !exclude.has(f)) { found.add(f); queue.push(f); } };
  // The globals those files set (VaktHarness, ...) mark their callers too: a test that drives a
  // harness may call the app object the harness hands back.
  const marks = new Set(markers);
  for (const f of always) {
    add(f);
    const text = fs.readFileSync(f, 'utf8');
    for (const m of text.matchAll(/globalThis\.([A-Za-z_$][\w$]*)\s*=[^=]/g)) marks.add(m[1]);
  }
  for (const f of [...listFiles(path.join(root, 'test')), ...listFiles(path.join(root, 'scripts'))]) {
    const text = fs.readFileSync(f, 'utf8');
    if ([...marks].some((m) => text.includes(m))) add(f);
  }
  while (queue.length) {
    const f = queue.pop()!;
    const inRepo = (p: string) => /^(test|scripts|boards)\//.test(path.relative(root, p));
    for (const d of relativeImports(f, fs.readFileSync(f, 'utf8'))) if (inRepo(d)) add(d);
  }
  return [...found].sort();
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
 * Plans the property renaming of one bundle from its source files (absolute paths, e.g. the
 * esbuild metafile inputs), the files that talk to bundles (see consumerFiles) and the names the
 * generated entry code exposes (start functions, globals). Never renames a name it has any reason to keep.
 */
export function planPropertyMangling(root: string, sources: string[], consumers: string[], entryNames: string[]): ManglePlan {
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
  for (const c of consumers) for (const w of codeWords(c, fs.readFileSync(c, 'utf8'))) reserve(w, `consumer ${rel(c)}`);
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
