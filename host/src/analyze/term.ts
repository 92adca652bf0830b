/**
 * Terms of the Dolev-Yao model: atoms, variables and function applications, hash-consed so that
 * two equal terms are the same object (set membership and equality are pointer comparisons).
 */

/** Cryptographic and structural function symbols the analyser understands. */
export const CRYPTO_FNS = ['aead', 'senc', 'wrap', 'mac', 'kdf', 'hash', 'penc', 'sign', 'pk', 'sk'] as const;
export type CryptoFn = (typeof CRYPTO_FNS)[number];

/** Arity of each crypto function (tuples are n-ary). */
export const ARITY: Record<CryptoFn, number> = {
  aead: 3,
  senc: 2,
  wrap: 2,
  mac: 2,
  kdf: 3,
  hash: 1,
  penc: 2,
  sign: 2,
  pk: 1,
  sk: 1,
};

export type TermKind = 'atom' | 'var' | 'fn';

export interface Term {
  readonly id: number;
  readonly kind: TermKind;
  /** atom name, variable name or function symbol */
  readonly name: string;
  readonly args: readonly Term[];
  /** true when no variable occurs inside */
  readonly ground: boolean;
  /** number of nodes, bounds oracle growth */
  readonly size: number;
}

const table = new Map<string, Term>();
let nextId = 1;

function intern(kind: TermKind, name: string, args: readonly Term[]): Term {
  let key = kind + ':' + name;
  if (args.length > 0) key += '(' + args.map((a) => a.id).join(',') + ')';
  const hit = table.get(key);
  if (hit) return hit;
  let ground = kind !== 'var';
  let size = 1;
  for (const a of args) {
    if (!a.ground) ground = false;
    size += a.size;
  }
  const t: Term = { id: nextId++, kind, name, args, ground, size };
  table.set(key, t);
  return t;
}

/** The unique atom named `name`. */
export function atom(name: string): Term {
  return intern('atom', name, []);
}

/** The unique variable named `name`. */
export function variable(name: string): Term {
  return intern('var', name, []);
}

/** The unique application of `fn` to `args`. */
export function app(fn: string, args: readonly Term[]): Term {
  return intern('fn', fn, args);
}

/** The attacker's own value for any position it may choose (a fresh datum, counter or key). */
export const ADV = atom('adv');

/** True for function symbols that are public n-ary constructors (tuples). */
export function isCrypto(name: string): name is CryptoFn {
  return (CRYPTO_FNS as readonly string[]).includes(name);
}

/** Replaces every occurrence of a key of `map` inside `t` (outermost first). */
export function replace(t: Term, map: Map<Term, Term>): Term {
  const hit = map.get(t);
  if (hit) return hit;
  if (t.args.length === 0) return t;
  let changed = false;
  const args = t.args.map((a) => {
    const r = replace(a, map);
    if (r !== a) changed = true;
    return r;
  });
  return changed ? app(t.name, args) : t;
}

/** True when `sub` occurs in `t`. */
export function occurs(sub: Term, t: Term): boolean {
  if (t === sub) return true;
  for (const a of t.args) if (occurs(sub, a)) return true;
  return false;
}

/** Every subterm of t, t included (each once). */
export function subterms(t: Term, out: Set<Term> = new Set()): Set<Term> {
  if (out.has(t)) return out;
  out.add(t);
  for (const a of t.args) subterms(a, out);
  return out;
}

/** Printable form, the same syntax the model file uses. */
export function show(t: Term, names?: (t: Term) => string | undefined): string {
  const n = names ? names(t) : undefined;
  if (n !== undefined) return n;
  if (t.kind === 'var') return '?' + t.name;
  if (t.kind === 'atom') return t.name;
  return t.name + '(' + t.args.map((a) => show(a, names)).join(', ') + ')';
}

// ---------------------------------------------------------------------------------------------
// Surface syntax of terms in a model file: name | 'constant' | f(t, …)

/** Parsed but unresolved term, with the column of each node for error messages. */
export type RawTerm =
  | { kind: 'name'; name: string; col: number }
  | { kind: 'const'; name: string; col: number }
  | { kind: 'call'; name: string; args: RawTerm[]; col: number };

/** A syntax error inside a term string, with its 0-based column. */
export class TermSyntaxError extends Error {
  constructor(
    message: string,
    readonly col: number,
  ) {
    super(message);
  }
}

const NAME_RE = /[A-Za-z_][A-Za-z0-9_.]*/y;

/** Parses one term string; throws TermSyntaxError with a column on malformed input. */
export function parseTerm(src: string): RawTerm {
  let pos = 0;
  const ws = (): void => {
    while (pos < src.length && /\s/.test(src[pos])) pos++;
  };
  const parse = (): RawTerm => {
    ws();
    const col = pos;
    if (src[pos] === "'") {
      const end = src.indexOf("'", pos + 1);
      if (end < 0) throw new TermSyntaxError('unterminated constant (missing closing quote)', col);
      pos = end + 1;
      return { kind: 'const', name: src.slice(col + 1, end), col };
    }
    NAME_RE.lastIndex = pos;
    const m = NAME_RE.exec(src);
    if (!m)
      throw new TermSyntaxError(
        `expected a name, a 'constant' or f(...) but found ${JSON.stringify(src.slice(pos, pos + 8) || 'end of term')}`,
        col,
      );
    pos += m[0].length;
    ws();
    if (src[pos] !== '(') return { kind: 'name', name: m[0], col };
    pos++;
    const args: RawTerm[] = [];
    ws();
    if (src[pos] === ')') throw new TermSyntaxError(`${m[0]}() needs at least one argument`, pos);
    for (;;) {
      args.push(parse());
      ws();
      if (src[pos] === ',') {
        pos++;
        continue;
      }
      if (src[pos] === ')') {
        pos++;
        break;
      }
      throw new TermSyntaxError(`expected ',' or ')' in ${m[0]}(...)`, pos);
    }
    return { kind: 'call', name: m[0], args, col };
  };
  const t = parse();
  ws();
  if (pos !== src.length) throw new TermSyntaxError('unexpected text after the term', pos);
  return t;
}
