// The engine checker must reject every construct the Espruino interpreter cannot run (facts from
// ../shared/notes/engine-features.md, measured on the real interpreter) and accept the subset
// that works there; the XS rule set accepts modern syntax but no host globals.
import { describe, it, expect } from 'vitest';
import { checkSource } from '../../scripts/engine-check.ts';

const rules = (code: string, engine: 'espruino' | 'xs' = 'espruino', module = false) =>
  checkSource(code, engine, { module }).map((v) => v.rule);

describe('engine-check: Espruino rejects', () => {
  const rejected: [string, string, string][] = [
    ['default parameter', 'function f(a, b = 2) { return a + b; }', 'default-param'],
    ['default parameter (arrow)', 'const f = (a = 1) => a;', 'default-param'],
    ['rest parameter', 'function f(...xs) { return xs.length; }', 'rest'],
    ['spread call', 'const a = [1]; Math.max(...a);', 'spread'],
    ['spread array', 'const a = [1]; const b = [0, ...a];', 'spread'],
    ['object spread', 'const o = {a: 1}; const p = {...o};', 'spread'],
    ['array destructuring', 'const [a, b] = [1, 2];', 'destructuring'],
    ['object destructuring', 'const {a} = {a: 1};', 'destructuring'],
    ['destructuring in params', 'function f({a}) { return a; }', 'destructuring'],
    ['computed key', 'const k = "x"; const o = {[k]: 1};', 'computed-key'],
    ['labelled loop', 'outer: for (;;) { break outer; }', 'label'],
    ['exponent', 'const x = 2 ** 10;', 'exponent'],
    ['exponent assignment', 'let x = 2; x **= 2;', 'logical-assign'],
    ['optional chaining', 'const o = {}; const y = o?.a;', 'optional-chaining'],
    ['logical assignment', 'let x = 0; x ||= 7;', 'logical-assign'],
    ['nullish assignment', 'let x = null; x ??= 7;', 'logical-assign'],
    ['tagged template', 'const t = (s) => s; t`x`;', 'tagged-template'],
    ['generator', 'function* g() { yield 1; }', 'async-generator'],
    ['async function', 'async function f() { await 1; }', 'async-generator'],
    ['new.target', 'function F() { return new.target; }', 'new-target'],
    ['private field', 'class A { #x = 1; get() { return this.#x; } }', 'private-field'],
    ['BigInt literal', 'const b = 1n;', 'bigint'],
    ['class extends Error', 'class E extends Error {}', 'extends-error'],
    ['Map', 'const m = new Map();', 'global'],
    ['Set', 'const s = new Set();', 'global'],
    ['Symbol', 'const s = Symbol("x");', 'global'],
    ['BigInt()', 'const b = BigInt(1);', 'global'],
    ['RangeError', 'throw new RangeError("r");', 'global'],
    ['TextEncoder', 'new TextEncoder();', 'global'],
    ['Math.imul', 'const x = Math.imul(3, 5);', 'member'],
    ['Math.trunc', 'const x = Math.trunc(3.5);', 'member'],
    ['Object.freeze', 'Object.freeze({});', 'member'],
    ['Array.from', 'Array.from([1]);', 'member'],
    ['Uint8Array.of', 'Uint8Array.of(1, 2);', 'member'],
    ['Number.isSafeInteger', 'Number.isSafeInteger(1);', 'member'],
    ['ArrayBuffer.isView', 'ArrayBuffer.isView(null);', 'member'],
    ['regex lookbehind', 'const r = /(?<=a)b/;', 'regex-lookbehind'],
    ['regex named group', 'const r = /(?<y>\\d+)/;', 'regex-named-group'],
    ['regex sticky flag', 'const r = /a/y;', 'regex-flags'],
    ['call before declaration', 'f(); function f() { return 1; }', 'hoisting'],
    ['transitive call before declaration', 'function a() { return b(); } a(); function b() { return 1; }', 'hoisting'],
    ['var read before declaration', 'function g() { return x; } g(); var x = 1;', 'hoisting'],
    ['let in for head captured by a closure', 'const fs = []; for (let i = 0; i < 3; i++) fs.push(() => i);', 'for-let-closure'],
    ['Node global', 'const b = Buffer.alloc(1);', 'global'],
    ['console (absent on XS)', 'console.log(1);', 'global'],
    ['unknown global', 'fooBarBaz(1);', 'global'],
  ];
  for (const [name, code, rule] of rejected) {
    it(name, () => expect(rules(code)).toContain(rule));
  }
});

describe('engine-check: Espruino accepts the working subset', () => {
  const accepted: [string, string][] = [
    ['let/const, arrows, template literals', 'const a = 1; let b = a + 1; const f = (x) => `v${x}`; f(b);'],
    [
      'classes with extends, static, getters',
      'class A { constructor(x) { this.x = x; } get y() { return this.x; } static z() { return 1; } } class B extends A {} new B(1).y;',
    ],
    ['for-of over typed arrays', 'let s = 0; for (const v of new Uint8Array(4)) s += v;'],
    ['nullish coalescing', 'const o = null; const x = o ?? 5;'],
    [
      'typed-array views and DataView',
      'const b = new Uint8Array(8); const w = new Uint32Array(b.buffer, 4, 1); new DataView(b.buffer).setUint32(0, 1); w[0] = b.subarray(0, 2).length;',
    ],
    ['32-bit ops', 'const x = (0xdeadbeef >>> 0) | 0; const y = x << 3 ^ (x >> 2);'],
    ['call after declaration', 'function f() { return 1; } f();'],
    ['function calling a later function, called later', 'function a() { return b(); } function b() { return 1; } a();'],
    ['closure reads a later function only when run later', 'const h = () => later(); function later() { return 1; } h();'],
    ['let in for head without closure', 'let s = 0; for (let i = 0; i < 3; i++) s += i;'],
    ['local named like a missing global', 'function f(Map) { return Map; } f(1);'],
    ['Math.pow, Object.assign, optional catch', 'const x = Math.pow(2, 3); Object.assign({}, {}); try { x(); } catch { }'],
    ['basic regexes', 'const r = /^[0-9a-f]*$/i; r.test("ab");'],
    ['IIFE bundle shape', '(() => { "use strict"; function f() { return 1; } globalThis.V = { f }; })();'],
  ];
  for (const [name, code] of accepted) {
    it(name, () => expect(checkSource(code, 'espruino')).toEqual([]));
  }
});

describe('engine-check: XS', () => {
  it('accepts modern syntax and the ES library', () => {
    const code =
      'const [a, ...r] = [1, 2, 3]; const m = new Map([[a, r]]); const o = {...{x: 1}, [a]: 2 ** 3}; o.x ??= BigInt(1); class E extends Error {} label: for (;;) break label;';
    expect(checkSource(code, 'xs')).toEqual([]);
  });
  it('rejects host globals and V8-only members', () => {
    expect(rules('console.log(1); setTimeout(() => 0, 1); process.exit(0); Error.captureStackTrace({});', 'xs')).toEqual([
      'global',
      'global',
      'global',
      'member',
    ]);
  });
  it('accepts imports in module mode and honours an allow list', () => {
    expect(checkSource('import Timer from "timer"; Timer.repeat(() => trace("x"), 10);', 'xs', { module: true })).toEqual([]);
    expect(
      checkSource('Serial1.write("x"); setInterval(f, 10); function f() {}', 'espruino', { allowGlobals: ['Serial1', 'setInterval'] }),
    ).toEqual([]);
  });
  it('reports a parse error as a violation instead of throwing', () => {
    expect(rules('const = ;', 'xs')).toEqual(['parse']);
  });
  it('locates a violation and names its module from esbuild comments', () => {
    const code = '(() => {\n  // shared/src/x.ts\n  const m = new Map();\n})();\n';
    const [v] = checkSource(code, 'espruino');
    expect(v).toMatchObject({ rule: 'global', line: 3, column: 16, module: 'shared/src/x.ts' });
  });
});
