// Inlines the numeric constants of a minified IIFE bundle.
//
// esbuild inlines constants imported from another module, but keeps each module's own top-level
// `const X = 16` as a `var` in the bundle (133 of them in the meter bundle). On Espruino every
// top-level variable is a name plus a value held in RAM for the program's life, so these cost
// variables that a board with ~2,500 of them cannot spare, and bytes of code. This pass replaces
// every read of such a variable by its literal and drops the declaration.
//
// It is deliberately conservative. A variable is inlined only when it meets all of these:
// - it is declared once, at the top level of the IIFE body, as `var name = <number literal>`,
//   `var name = -<number literal>`, or `var name = <constant expression>` (below);
// - its name is bound nowhere else in the bundle, so every identifier with that name is this
//   variable (esbuild's minifier gives top-level symbols names that nested scopes do not reuse);
// - it is never assigned, updated or used as a for-in/of target;
// - top-level code outside functions does not name it above its declaration (it would read undefined).
// A constant expression is what esbuild leaves of `const X = 2 * BLOCK + 3`: number literals and
// names of constants declared before it that are themselves inlined, joined by + - * / % << >> >>>
// | & ^, unary - and ~, and parentheses. It is folded here, at build time, and inlined only when the
// fold is exact and means the same on every engine: every operand and every intermediate and final
// value is a safe integer (so + - * / % are exact in IEEE doubles, and no decimal has to be parsed
// back), never -0, bit operands fit an int32 and shift counts are 0..31 (an engine whose bit ops
// saturate rather than wrap cannot disagree). Anything else (a call, another name, a string, 1/0,
// 7/2) leaves the variable as it is. Folding repeats until nothing more folds. Any other expression
// that is constant once the names are inlined (`new Uint8Array(8+3)`) is folded by the same rules.
// The bundle is re-parsed after the edit, so a mistake shows up as a parse error.
import { parse } from 'acorn';
import type { Node as AcornNode } from 'acorn';
import { children, forEachBinding } from './engine-check.ts';

type N = AcornNode & Record<string, any>;

/** The statements of `(() => { ... })()` / `(function () { ... })()`, or undefined for other shapes. */
function iifeBody(ast: N): N[] | undefined {
  if (ast.body.length < 1) return undefined;
  const s = ast.body[0];
  if (s.type !== 'ExpressionStatement' || s.expression.type !== 'CallExpression') return undefined;
  const f = s.expression.callee;
  if ((f.type !== 'ArrowFunctionExpression' && f.type !== 'FunctionExpression') || f.body.type !== 'BlockStatement') return undefined;
  return f.body.body;
}

/** Number of bindings per name anywhere in the tree (labels included: a label must not be rewritten either). */
function bindingCounts(root: N): Map<string, number> {
  const counts = new Map<string, number>();
  forEachBinding(
    root,
    (name) => {
      counts.set(name, (counts.get(name) ?? 0) + 1);
    },
    true,
  );
  return counts;
}

/** Literal text for a candidate's initialiser, or undefined if it is not a plain number. */
function numberText(code: string, init: N | null): string | undefined {
  if (!init) return undefined;
  if (init.type === 'Literal' && typeof init.value === 'number' && Number.isFinite(init.value)) return code.slice(init.start, init.end);
  if (
    init.type === 'UnaryExpression' &&
    init.operator === '-' &&
    init.argument.type === 'Literal' &&
    typeof init.argument.value === 'number'
  ) {
    return '(-' + code.slice(init.argument.start, init.argument.end) + ')';
  }
  return undefined;
}

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const SHIFT_MAX = 31;

const isInt32 = (v: number): boolean => Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX;
/** A value every engine computes and prints the same: a safe integer other than -0. */
const isExact = (v: number): boolean => Number.isSafeInteger(v) && !Object.is(v, -0);

/** The binary operators folded, each with the operand check that keeps its result engine-independent. */
const BINARY: Record<string, (a: number, b: number) => number | undefined> = {
  '+': (a, b) => a + b,
  '-': (a, b) => a - b,
  '*': (a, b) => a * b,
  '/': (a, b) => a / b,
  '%': (a, b) => a % b,
  '<<': (a, b) => (isInt32(a) && b >= 0 && b <= SHIFT_MAX ? a << b : undefined),
  '>>': (a, b) => (isInt32(a) && b >= 0 && b <= SHIFT_MAX ? a >> b : undefined),
  '>>>': (a, b) => (isInt32(a) && b >= 0 && b <= SHIFT_MAX ? a >>> b : undefined),
  '|': (a, b) => (isInt32(a) && isInt32(b) ? a | b : undefined),
  '&': (a, b) => (isInt32(a) && isInt32(b) ? a & b : undefined),
  '^': (a, b) => (isInt32(a) && isInt32(b) ? a ^ b : undefined),
};

/**
 * Value of a constant expression (see the file comment) given the constants folded so far, or
 * undefined when it is not one or its value is not exact. `known` holds only names declared earlier.
 */
function foldConstant(n: N, known: Map<string, number>): number | undefined {
  let v: number | undefined;
  if (n.type === 'Literal') v = typeof n.value === 'number' ? n.value : undefined;
  else if (n.type === 'Identifier') v = known.get(n.name);
  else if (n.type === 'UnaryExpression' && (n.operator === '-' || n.operator === '~')) {
    const a = foldConstant(n.argument, known);
    if (a === undefined) return undefined;
    v = n.operator === '-' ? -a : isInt32(a) ? ~a : undefined;
  } else if (n.type === 'BinaryExpression' && Object.hasOwn(BINARY, n.operator)) {
    const a = foldConstant(n.left, known);
    const b = a === undefined ? undefined : foldConstant(n.right, known);
    if (a === undefined || b === undefined) return undefined;
    v = BINARY[n.operator](a, b);
  }
  return v !== undefined && isExact(v) ? v : undefined;
}

/** Literal text for a folded value (negative in parentheses, as numberText gives it). */
const foldedText = (v: number): string => (v < 0 ? '(' + String(v) + ')' : String(v));

/** Whether identifier `n` is a property name (`o.n`, `{n: 1}`, a method `n()`) rather than a variable. */
function isPropertyName(n: N, parent: N | undefined): boolean {
  if (!parent) return false;
  if (parent.type === 'MemberExpression') return parent.property === n && !parent.computed;
  if (parent.type === 'Property' || parent.type === 'MethodDefinition' || parent.type === 'PropertyDefinition')
    return parent.key === n && !parent.computed;
  return false;
}

/** Result of the pass: the new code and how many variables were inlined. */
export interface InlineResult {
  code: string;
  inlined: number;
  names: string[];
}

/** Inlines top-level numeric `var`s of a minified IIFE bundle (see the file comment); returns the code unchanged if unsure. */
export function inlineTopLevelConstants(code: string): InlineResult {
  const ast = parse(code, { ecmaVersion: 'latest', sourceType: 'script' }) as N;
  const body = iifeBody(ast);
  if (!body) return { code, inlined: 0, names: [] };
  const counts = bindingCounts(ast);
  // Candidates: top-level declarators bound once, in source order.
  const candidates = new Map<string, N>();
  for (const s of body) {
    if (s.type !== 'VariableDeclaration' || s.kind !== 'var') continue;
    for (const d of s.declarations) {
      if (d.id.type === 'Identifier' && counts.get(d.id.name) === 1 && d.init) candidates.set(d.id.name, d);
    }
  }
  // Drop any candidate that is written to anywhere.
  const visitWrites = (n: N): void => {
    if (n.type === 'AssignmentExpression' && n.left.type === 'Identifier') candidates.delete(n.left.name);
    if (n.type === 'UpdateExpression' && n.argument.type === 'Identifier') candidates.delete(n.argument.name);
    if ((n.type === 'ForInStatement' || n.type === 'ForOfStatement') && n.left.type === 'Identifier') candidates.delete(n.left.name);
    for (const c of children(n)) visitWrites(c);
  };
  visitWrites(ast);
  // Drop any candidate named by top-level code (outside every function) above its declaration:
  // there it reads `undefined`, which a literal would change.
  const visitEarly = (n: N, parent: N | undefined, inFunction: boolean): void => {
    if (
      !inFunction &&
      n.type === 'Identifier' &&
      candidates.has(n.name) &&
      n.start < candidates.get(n.name)!.start &&
      !isPropertyName(n, parent)
    )
      candidates.delete(n.name);
    const deferred =
      inFunction || n.type === 'FunctionDeclaration' || n.type === 'FunctionExpression' || n.type === 'ArrowFunctionExpression';
    for (const c of children(n)) visitEarly(c, n, deferred);
  };
  for (const s of body) visitEarly(s, undefined, false);
  const value = new Map<string, string>();
  const folded = new Map<string, number>(); // numeric value of every inlined constant, for later folds
  for (const [name, d] of candidates) {
    const text = numberText(code, d.init);
    if (text === undefined) continue;
    value.set(name, text);
    folded.set(name, d.init.type === 'Literal' ? d.init.value : -d.init.argument.value);
  }
  // Fold constant expressions until nothing more folds; a name is usable only below its declaration.
  for (let more = true; more;) {
    more = false;
    for (const [name, d] of candidates) {
      if (value.has(name)) continue;
      const before = new Map([...folded].filter(([k]) => candidates.get(k)!.start < d.start));
      const v = foldConstant(d.init, before);
      if (v === undefined) continue;
      value.set(name, foldedText(v));
      folded.set(name, v);
      more = true;
    }
  }
  if (value.size === 0) return { code, inlined: 0, names: [] };

  const edits: { start: number; end: number; text: string }[] = [];
  const visitReads = (n: N, parent: N | undefined): void => {
    // `{w}` is `{w: w}` (acorn gives key and value the same range): keep the key, inline the value.
    if (n.type === 'Property' && n.shorthand && n.value.type === 'Identifier' && value.has(n.value.name)) {
      edits.push({ start: n.start, end: n.end, text: n.value.name + ':' + value.get(n.value.name)! });
      return;
    }
    // An expression that is constant once the names are inlined (`8+3`, `X*2`) becomes its value, by
    // the same exact rules; acorn's range excludes any parentheses around it, so they stay.
    if (
      n.type === 'BinaryExpression' ||
      (n.type === 'UnaryExpression' && (n.argument.type === 'BinaryExpression' || n.argument.type === 'UnaryExpression'))
    ) {
      const v = foldConstant(n, folded);
      if (v !== undefined) {
        edits.push({ start: n.start, end: n.end, text: foldedText(v) });
        return;
      }
    }
    if (n.type === 'Identifier' && value.has(n.name) && parent) {
      const v = value.get(n.name)!;
      if (parent.type === 'VariableDeclarator' && parent.id === n) return; // the declaration itself
      if (isPropertyName(n, parent)) return;
      // A number followed by `.` would parse as a decimal point: `(16).toString()`.
      const text = parent.type === 'MemberExpression' && parent.object === n && !v.startsWith('(') ? '(' + v + ')' : v;
      edits.push({ start: n.start, end: n.end, text });
      return;
    }
    for (const c of children(n)) visitReads(c, n);
  };
  visitReads(ast, undefined);
  // Remove the declarators (whole statement if all of its declarators go).
  for (const s of body) {
    if (s.type !== 'VariableDeclaration' || s.kind !== 'var') continue;
    const keep = s.declarations.filter((d: N) => !(d.id.type === 'Identifier' && value.has(d.id.name)));
    if (keep.length === s.declarations.length) continue;
    // Edits inside kept declarators (reads of other constants) are applied to their text here.
    const inner = (d: N): string => {
      let t = code.slice(d.start, d.end);
      const mine = edits.filter((e) => e.start >= d.start && e.end <= d.end).sort((a, b) => b.start - a.start);
      for (const e of mine) t = t.slice(0, e.start - d.start) + e.text + t.slice(e.end - d.start);
      return t;
    };
    const text = keep.length === 0 ? '' : 'var ' + keep.map(inner).join(',') + ';';
    for (let i = edits.length - 1; i >= 0; i--) if (edits[i].start >= s.start && edits[i].end <= s.end) edits.splice(i, 1);
    edits.push({ start: s.start, end: s.end, text });
  }
  edits.sort((a, b) => b.start - a.start);
  let out = code;
  for (const e of edits) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  parse(out, { ecmaVersion: 'latest', sourceType: 'script' }); // throws if the edit broke the syntax
  return { code: out, inlined: value.size, names: [...value.keys()] };
}
