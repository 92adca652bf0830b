// Mechanical check that a JavaScript bundle only uses what its engine can run.
//
// esbuild cannot lower to ES5, and the Espruino interpreter lacks a long list of ES2015+ syntax
// and built-ins (../shared/notes/engine-features.md, measured on the real interpreter). Rather than
// hoping the sources stay inside the subset, every bundle is parsed with acorn and its AST is
// walked against the engine's rule set. A rule names the feature and says what to write instead.
//
// usage: tsx scripts/engine-check.ts --engine espruino|xs [--allow G1,G2] file.js...
import { parse } from 'acorn';
import type { Node as AcornNode } from 'acorn';
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';

export type CheckEngine = 'espruino' | 'xs';

/** One construct the engine cannot run, located in the checked source. */
export interface Violation {
  rule: string;
  message: string;
  line: number;
  column: number;
  /** The offending source text (trimmed), for the report. */
  snippet: string;
  /** The module the code came from, when the bundle carries esbuild's `// path` comments. */
  module?: string;
}

export interface CheckOptions {
  /** Parse as an ES module (import/export allowed); default: script. */
  module?: boolean;
  /** Extra free globals this bundle may use (e.g. the Espruino adapter's Serial1, require). */
  allowGlobals?: readonly string[];
  /**
   * Run the no-hoisting analysis (default true). It resolves names per statement list, not per
   * scope, so on minified code (short names reused in every scope) it would report false alarms:
   * the build runs it on the readable bundle, which has the same statement order.
   */
  hoisting?: boolean;
}

// Globals every engine here provides (ES2015 core that Espruino also implements).
const COMMON_GLOBALS = [
  'Array',
  'ArrayBuffer',
  'Boolean',
  'DataView',
  'Date',
  'Error',
  'EvalError',
  'Float32Array',
  'Float64Array',
  'Function',
  'Infinity',
  'Int8Array',
  'Int16Array',
  'Int32Array',
  'JSON',
  'Math',
  'NaN',
  'Number',
  'Object',
  'Promise',
  'ReferenceError',
  'RegExp',
  'String',
  'SyntaxError',
  'TypeError',
  'Uint8Array',
  'Uint8ClampedArray',
  'Uint16Array',
  'Uint32Array',
  'decodeURIComponent',
  'encodeURIComponent',
  'globalThis',
  'isFinite',
  'isNaN',
  'parseFloat',
  'parseInt',
  'undefined',
  'print',
  'arguments',
];

// Moddable XS implements the full ES2023 library; xsnap adds print. No host (Node) globals, and the
// xsnap test worker has no console or timers, so portable bundles may not use them either.
const XS_EXTRA_GLOBALS = [
  'AggregateError',
  'Atomics',
  'BigInt',
  'BigInt64Array',
  'BigUint64Array',
  'FinalizationRegistry',
  'Map',
  'Proxy',
  'RangeError',
  'Reflect',
  'Set',
  'SharedArrayBuffer',
  'Symbol',
  'URIError',
  'WeakMap',
  'WeakRef',
  'WeakSet',
  'decodeURI',
  'encodeURI',
  'escape',
  'unescape',
  'harden',
  'trace',
];

/** Why a well-known global is missing, in words a firmware author can act on. */
const ESPRUINO_MISSING_GLOBALS: Record<string, string> = {
  Map: 'Espruino has no Map: use an object keyed by string or parallel arrays',
  Set: 'Espruino has no Set: use an object or an array',
  WeakMap: 'Espruino has no WeakMap',
  WeakSet: 'Espruino has no WeakSet',
  WeakRef: 'Espruino has no WeakRef',
  Symbol: 'Espruino has no Symbol (and so no iterator protocol for custom objects)',
  BigInt: 'Espruino has no BigInt: split into two 32-bit numbers',
  BigInt64Array: 'Espruino has no BigInt64Array',
  BigUint64Array: 'Espruino has no BigUint64Array',
  Proxy: 'Espruino has no Proxy',
  Reflect: 'Espruino has no Reflect',
  RangeError: 'Espruino has no RangeError: throw a TypeError or Error',
  TextEncoder: 'Espruino has no TextEncoder: encode ASCII by charCodeAt',
  TextDecoder: 'Espruino has no TextDecoder: decode ASCII by String.fromCharCode',
  queueMicrotask: 'Espruino has no queueMicrotask',
  structuredClone: 'Espruino has no structuredClone',
  Atomics: 'Espruino has no Atomics',
  SharedArrayBuffer: 'Espruino has no SharedArrayBuffer',
};

/** Host-only globals a portable firmware bundle must never touch (boards provide the hardware). */
const HOST_GLOBALS: Record<string, string> = {
  process: 'process is a Node global: firmware gets everything through the Board',
  require: 'require is a host/CommonJS global: firmware imports modules and gets the Board',
  Buffer: 'Buffer is a Node global: use Uint8Array',
  console: 'XS (xsnap, Moddable) has no console: log through board.log',
  setTimeout: 'no timers on xsnap: use board.clock.every or drive app.tick',
  setInterval: 'no timers on xsnap: use board.clock.every or drive app.tick',
  setImmediate: 'setImmediate is Node-only',
  clearTimeout: 'no timers on xsnap',
  clearInterval: 'no timers on xsnap',
  __dirname: 'Node-only',
  __filename: 'Node-only',
  module: 'CommonJS-only',
  exports: 'CommonJS-only',
};

/** Static members missing on Espruino: `Object.member`. */
const ESPRUINO_MISSING_MEMBERS: Record<string, string[]> = {
  Math: ['imul', 'clz32', 'trunc', 'sign', 'fround', 'cbrt', 'log2', 'log10', 'hypot', 'expm1', 'log1p', 'sinh', 'cosh', 'tanh'],
  Object: ['freeze', 'isFrozen', 'seal', 'hasOwn', 'fromEntries', 'getOwnPropertySymbols'],
  Array: ['from', 'of'],
  Number: ['isSafeInteger', 'isInteger', 'EPSILON', 'MAX_SAFE_INTEGER', 'MIN_SAFE_INTEGER'],
  ArrayBuffer: ['isView'],
  Error: ['captureStackTrace'],
  Uint8Array: ['from', 'of'],
  Uint16Array: ['from', 'of'],
  Uint32Array: ['from', 'of'],
  Int8Array: ['from', 'of'],
  Int16Array: ['from', 'of'],
  Int32Array: ['from', 'of'],
  Float32Array: ['from', 'of'],
  Float64Array: ['from', 'of'],
  Uint8ClampedArray: ['from', 'of'],
  String: ['raw'],
  Promise: ['allSettled', 'any'],
};
/** Missing on XS too (V8 extensions). */
const XS_MISSING_MEMBERS: Record<string, string[]> = { Error: ['captureStackTrace'] };

type N = AcornNode & Record<string, any>;

/** Children of a node in source order (generic over ESTree node shapes). */
export function children(node: N): N[] {
  const out: N[] = [];
  for (const key of Object.keys(node)) {
    if (key === 'type' || key === 'start' || key === 'end' || key === 'loc' || key === 'range') continue;
    const v = node[key];
    if (Array.isArray(v)) {
      for (const c of v) if (c && typeof c.type === 'string') out.push(c);
    } else if (v && typeof v.type === 'string') out.push(v);
  }
  return out;
}

const isFunction = (n: N): boolean =>
  n.type === 'FunctionDeclaration' || n.type === 'FunctionExpression' || n.type === 'ArrowFunctionExpression';

/**
 * Calls add(name) once per binding in the tree: variable declarators (every name of a pattern),
 * function and class names, parameters, catch parameters, import specifiers, and labels when
 * withLabels is set. Shared by the checker and scripts/inline-consts.ts.
 */
export function forEachBinding(root: N, add: (name: string) => void, withLabels: boolean): void {
  const addPattern = (p: N | null): void => {
    if (!p) return;
    if (p.type === 'Identifier') add(p.name);
    else if (p.type === 'AssignmentPattern') addPattern(p.left);
    else if (p.type === 'RestElement') addPattern(p.argument);
    else if (p.type === 'ArrayPattern') for (const e of p.elements) addPattern(e);
    else if (p.type === 'ObjectPattern') for (const pr of p.properties) addPattern(pr.type === 'RestElement' ? pr : pr.value);
  };
  const visit = (n: N): void => {
    if (n.type === 'VariableDeclarator') addPattern(n.id);
    if (
      (n.type === 'FunctionDeclaration' ||
        n.type === 'FunctionExpression' ||
        n.type === 'ClassDeclaration' ||
        n.type === 'ClassExpression') &&
      n.id
    )
      add(n.id.name);
    if (isFunction(n)) for (const p of n.params) addPattern(p);
    if (n.type === 'CatchClause') addPattern(n.param);
    if (n.type === 'ImportSpecifier' || n.type === 'ImportDefaultSpecifier' || n.type === 'ImportNamespaceSpecifier') add(n.local.name);
    if (withLabels && n.type === 'LabeledStatement') add(n.label.name);
    for (const c of children(n)) visit(c);
  };
  visit(root);
}

/** Every name bound anywhere in the program: a free reference to one of these is not a global. */
function boundNames(root: N): Set<string> {
  const names = new Set<string>();
  forEachBinding(
    root,
    (name) => {
      names.add(name);
    },
    false,
  );
  return names;
}

/** True when this Identifier node is a reference (not a property key, label or declaration name). */
function isReference(id: N, parent: N | undefined): boolean {
  if (!parent) return true;
  switch (parent.type) {
    case 'MemberExpression':
      return parent.object === id || parent.computed;
    case 'Property':
      return parent.value === id || (parent.computed && parent.key === id);
    case 'PropertyDefinition':
    case 'MethodDefinition':
      return (parent.computed && parent.key === id) || parent.value === id;
    case 'LabeledStatement':
    case 'BreakStatement':
    case 'ContinueStatement':
      return false;
    case 'ExportSpecifier':
      return parent.local === id;
    case 'ImportSpecifier':
    case 'ImportDefaultSpecifier':
    case 'ImportNamespaceSpecifier':
      return false;
    case 'MetaProperty':
      return false;
    default:
      return true;
  }
}

/** Names referenced in one subtree, optionally not descending into function bodies. */
function referencedNames(n: N, intoFunctions: boolean, out: Set<string>, callsOnly: boolean, parent?: N): Set<string> {
  if (n.type === 'Identifier' && isReference(n, parent)) {
    if (!callsOnly || (parent && (parent.type === 'CallExpression' || parent.type === 'NewExpression') && parent.callee === n))
      out.add(n.name);
  }
  for (const c of children(n)) {
    if (!intoFunctions && isFunction(c)) {
      // An IIFE's body runs now: `(function(){...})()` / `(() => ...)()`.
      if (!(n.type === 'CallExpression' && n.callee === c)) continue;
    }
    if (!intoFunctions && (c.type === 'ClassDeclaration' || c.type === 'ClassExpression')) {
      // Class bodies (methods) run later; only `extends` runs now.
      if (c.superClass) referencedNames(c.superClass, intoFunctions, out, callsOnly, c);
      continue;
    }
    referencedNames(c, intoFunctions, out, callsOnly, n);
  }
  return out;
}

/** Collects the statement lists (program, function bodies, blocks) of a tree. */
function statementLists(root: N): N[][] {
  const lists: N[][] = [];
  const visit = (n: N): void => {
    if (n.type === 'Program' || n.type === 'BlockStatement' || n.type === 'StaticBlock') lists.push(n.body);
    if (n.type === 'SwitchCase') lists.push(n.consequent);
    for (const c of children(n)) visit(c);
  };
  visit(root);
  return lists;
}

/** Espruino does not hoist: calling a function (or reading a var) before its declaration ran throws. */
function checkHoisting(root: N, report: (node: N, rule: string, message: string) => void): void {
  for (const list of statementLists(root)) {
    const fnIndex = new Map<string, number>();
    const fnNode = new Map<string, N>();
    const varIndex = new Map<string, number>();
    list.forEach((s, i) => {
      if (s.type === 'FunctionDeclaration' && s.id) {
        fnIndex.set(s.id.name, i);
        fnNode.set(s.id.name, s);
      }
      const decl =
        s.type === 'VariableDeclaration'
          ? s
          : s.type === 'ExportNamedDeclaration' && s.declaration && s.declaration.type === 'VariableDeclaration'
            ? s.declaration
            : null;
      if (decl && decl.kind === 'var') {
        for (const d of decl.declarations) if (d.id.type === 'Identifier' && !varIndex.has(d.id.name)) varIndex.set(d.id.name, i);
      }
    });
    if (fnIndex.size === 0 && varIndex.size === 0) continue;
    // What calling each function declared in this list would, transitively, call in this list.
    const bodyCalls = new Map<string, Set<string>>();
    for (const [name, fn] of fnNode) bodyCalls.set(name, referencedNames(fn.body, true, new Set(), false));
    list.forEach((s, i) => {
      if (s.type === 'FunctionDeclaration') return;
      const eager = referencedNames(s, false, new Set(), false);
      const eagerCalls = referencedNames(s, false, new Set(), true);
      // Expand through functions already declared (they run now, and so does what they call).
      const seen = new Set<string>();
      const stack = [...eagerCalls];
      while (stack.length) {
        const name = stack.pop()!;
        if (seen.has(name)) continue;
        seen.add(name);
        const idx = fnIndex.get(name);
        if (idx !== undefined && idx > i) {
          report(
            s,
            'hoisting',
            `'${name}' is called before its function declaration ran (Espruino does not hoist): move the declaration up`,
          );
        }
        const inner = bodyCalls.get(name);
        if (inner && idx !== undefined && idx < i)
          for (const m of inner) {
            stack.push(m);
            eager.add(m);
          }
      }
      for (const name of eager) {
        const vi = varIndex.get(name);
        if (vi !== undefined && vi > i && !fnIndex.has(name)) {
          report(s, 'hoisting', `var '${name}' is used before its declaration ran (Espruino does not hoist): declare it first`);
        }
      }
    });
  }
}

/** Regular-expression features Espruino's regex engine lacks. */
function checkRegex(n: N, report: (node: N, rule: string, message: string) => void): void {
  const { pattern, flags } = n.regex as { pattern: string; flags: string };
  if (/\(\?<[=!]/.test(pattern)) report(n, 'regex-lookbehind', 'regex lookbehind is not supported on Espruino');
  if (/\(\?<[A-Za-z_$]/.test(pattern)) report(n, 'regex-named-group', 'named capture groups are not supported on Espruino');
  if (/[yusdv]/.test(flags)) report(n, 'regex-flags', `regex flags '${flags}': only g, i, m work on Espruino`);
}

/** Checks one source text against an engine's rule set; returns every violation found (none = runs). */
export function checkSource(code: string, engine: CheckEngine, opts: CheckOptions = {}): Violation[] {
  const violations: Violation[] = [];
  let ast: N;
  try {
    ast = parse(code, { ecmaVersion: 'latest', sourceType: opts.module ? 'module' : 'script', locations: true }) as N;
  } catch (e) {
    const err = e as Error & { loc?: { line: number; column: number } };
    return [{ rule: 'parse', message: err.message, line: err.loc?.line ?? 0, column: err.loc?.column ?? 0, snippet: '' }];
  }
  // esbuild's non-minified output marks each module with a `// path/to/file.ts` comment line.
  const moduleMarks: { pos: number; path: string }[] = [];
  const markRe = /^\s*\/\/ ((?:[\w@.-]+\/)+[\w.-]+\.[cm]?[jt]sx?)\s*$/gm;
  for (let m = markRe.exec(code); m; m = markRe.exec(code)) moduleMarks.push({ pos: m.index, path: m[1] });
  const moduleAt = (pos: number): string | undefined => {
    let found: string | undefined;
    for (const mk of moduleMarks) {
      if (mk.pos <= pos) found = mk.path;
      else break;
    }
    return found;
  };
  const seen = new Set<string>();
  const report = (node: N, rule: string, message: string): void => {
    const key = rule + '@' + node.start;
    if (seen.has(key)) return;
    seen.add(key);
    const text = code
      .slice(node.start, Math.min(node.end, node.start + 80))
      .replace(/\s+/g, ' ')
      .trim();
    const v: Violation = { rule, message, line: node.loc!.start.line, column: node.loc!.start.column, snippet: text };
    const mod = moduleAt(node.start);
    if (mod) v.module = mod;
    violations.push(v);
  };

  const bound = boundNames(ast);
  const allowed = new Set<string>([...COMMON_GLOBALS, ...(opts.allowGlobals ?? [])]);
  if (engine === 'xs') for (const g of XS_EXTRA_GLOBALS) allowed.add(g);
  const missingMembers = engine === 'espruino' ? ESPRUINO_MISSING_MEMBERS : XS_MISSING_MEMBERS;
  const esp = engine === 'espruino';

  const visit = (n: N, parent: N | undefined, ancestors: N[]): void => {
    switch (n.type) {
      case 'Identifier':
        if (isReference(n, parent) && !bound.has(n.name) && !allowed.has(n.name)) {
          const why = (esp ? ESPRUINO_MISSING_GLOBALS[n.name] : undefined) ?? HOST_GLOBALS[n.name];
          report(n, 'global', why ?? `global '${n.name}' is not known to exist on ${engine}`);
        }
        break;
      case 'MemberExpression':
        if (!n.computed && n.object.type === 'Identifier' && !bound.has(n.object.name) && n.property.type === 'Identifier') {
          const miss = missingMembers[n.object.name];
          if (miss && miss.includes(n.property.name))
            report(n, 'member', `${n.object.name}.${n.property.name} does not exist on ${engine}`);
        }
        if (n.property.type === 'PrivateIdentifier' && esp) report(n, 'private-field', 'private #fields are not supported on Espruino');
        break;
      case 'MetaProperty':
        if (esp) report(n, 'new-target', `${n.meta.name}.${n.property.name} is not supported on Espruino`);
        break;
      case 'PropertyDefinition':
      case 'MethodDefinition':
        if (esp && n.key.type === 'PrivateIdentifier') report(n, 'private-field', 'private #fields are not supported on Espruino');
        if (esp && n.computed) report(n, 'computed-key', 'computed class member keys are not supported on Espruino');
        break;
      case 'LabeledStatement':
        if (esp) report(n, 'label', 'labelled statements are not supported on Espruino: use a flag or a function with return');
        break;
      case 'ChainExpression':
        if (esp) report(n, 'optional-chaining', 'optional chaining ?. is not supported on Espruino');
        break;
      case 'TaggedTemplateExpression':
        if (esp) report(n, 'tagged-template', 'tagged template literals are not supported on Espruino');
        break;
      case 'AwaitExpression':
      case 'YieldExpression':
        if (esp) report(n, 'async-generator', `${n.type === 'AwaitExpression' ? 'await' : 'yield'} is not supported on Espruino`);
        break;
      case 'SpreadElement':
        if (esp) report(n, 'spread', 'spread (...x) is not supported on Espruino: copy with a loop or set()');
        break;
      case 'RestElement':
        if (esp) report(n, 'rest', 'rest parameters/elements are not supported on Espruino: use arguments or explicit parameters');
        break;
      case 'ArrayPattern':
      case 'ObjectPattern':
        if (esp) report(n, 'destructuring', 'destructuring is not supported on Espruino: read fields one by one');
        break;
      case 'AssignmentPattern':
        if (esp) report(n, 'default-param', 'default parameter values are not supported on Espruino: test for undefined in the body');
        break;
      case 'Property':
        if (esp && n.computed)
          report(n, 'computed-key', 'computed object keys are not supported on Espruino: assign after creating the object');
        break;
      case 'BinaryExpression':
        if (esp && n.operator === '**') report(n, 'exponent', '** is not supported on Espruino: use Math.pow');
        break;
      case 'AssignmentExpression':
        if (esp && (n.operator === '**=' || n.operator === '||=' || n.operator === '&&=' || n.operator === '??=')) {
          report(n, 'logical-assign', `${n.operator} is not supported on Espruino`);
        }
        break;
      case 'Literal':
        if (esp && typeof n.bigint === 'string') report(n, 'bigint', 'BigInt literals are not supported on Espruino');
        if (esp && n.regex) checkRegex(n, report);
        break;
      case 'FunctionDeclaration':
      case 'FunctionExpression':
      case 'ArrowFunctionExpression':
        if (esp && n.generator) report(n, 'async-generator', 'generators are not supported on Espruino');
        if (esp && n.async) report(n, 'async-generator', 'async functions are not supported on Espruino: use callbacks or Promise then()');
        if (
          esp &&
          n.type === 'FunctionDeclaration' &&
          parent &&
          parent.type !== 'Program' &&
          !(parent.type === 'BlockStatement' && ancestors.length >= 2 && isFunction(ancestors[ancestors.length - 2])) &&
          parent.type !== 'ExportNamedDeclaration' &&
          parent.type !== 'ExportDefaultDeclaration'
        ) {
          report(
            n,
            'block-function',
            'a function declared inside a block is not visible as expected on Espruino: declare it at function or program level',
          );
        }
        break;
      case 'ClassDeclaration':
      case 'ClassExpression':
        if (
          esp &&
          n.superClass &&
          n.superClass.type === 'Identifier' &&
          /Error$/.test(n.superClass.name) &&
          !bound.has(n.superClass.name)
        ) {
          report(n, 'extends-error', `class extends ${n.superClass.name} breaks on Espruino: throw plain Error objects with a code field`);
        }
        break;
      case 'ForStatement':
      case 'ForInStatement':
      case 'ForOfStatement': {
        // Espruino's `let` in a for head is one binding for the whole loop: closures see the last value.
        const init = n.type === 'ForStatement' ? n.init : n.left;
        if (esp && init && init.type === 'VariableDeclaration' && init.kind !== 'var') {
          const names = new Set<string>();
          for (const d of init.declarations) if (d.id.type === 'Identifier') names.add(d.id.name);
          const captured = (m: N): boolean => {
            if (isFunction(m)) {
              const refs = referencedNames(m.body, true, new Set(), false);
              for (const nm of names) if (refs.has(nm)) return true;
              return false;
            }
            return children(m).some(captured);
          };
          if (captured(n.body))
            report(
              n,
              'for-let-closure',
              "a closure captures the for loop's let variable: Espruino does not create one binding per iteration; copy it into a const inside the body of a helper function",
            );
        }
        break;
      }
      default:
        break;
    }
    ancestors.push(n);
    for (const c of children(n)) visit(c, n, ancestors);
    ancestors.pop();
  };
  visit(ast, undefined, []);
  if (esp && opts.hoisting !== false) checkHoisting(ast, report);
  violations.sort((a, b) => a.line - b.line || a.column - b.column);
  return violations;
}

/** One line per violation: `file:line:col rule: message [module] — snippet`. */
export function formatViolations(file: string, vs: readonly Violation[]): string {
  return vs
    .map((v) => `${file}:${v.line}:${v.column} ${v.rule}: ${v.message}${v.module ? ` [${v.module}]` : ''} — ${v.snippet}`)
    .join('\n');
}

async function main(argv: string[]): Promise<number> {
  let engine: CheckEngine | undefined;
  let allow: string[] = [];
  let module = false;
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--engine') engine = argv[++i] as CheckEngine;
    else if (a === '--allow') allow = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a === '--module') module = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: tsx scripts/engine-check.ts --engine espruino|xs [--module] [--allow G1,G2] file.js...\n');
      return 0;
    } else files.push(a);
  }
  if ((engine !== 'espruino' && engine !== 'xs') || files.length === 0) {
    process.stderr.write('engine-check: need --engine espruino|xs and at least one file (see --help)\n');
    return 2;
  }
  let bad = 0;
  for (const f of files) {
    const vs = checkSource(fs.readFileSync(f, 'utf8'), engine, { allowGlobals: allow, module });
    if (vs.length) {
      bad++;
      process.stderr.write(formatViolations(f, vs) + '\n');
    } else process.stdout.write(`${f}: ok for ${engine}\n`);
  }
  return bad ? 1 : 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then(
    (c) => process.exit(c),
    (e) => {
      process.stderr.write(String(e) + '\n');
      process.exit(2);
    },
  );
}
