/**
 * Dolev-Yao knowledge: a set of ground terms closed under decomposition (split tuples, read what a
 * MAC or signature carries, decrypt with derivable keys), a derivability test for composition,
 * and `build`, which finds how an attacker could make a term matching a receiver's pattern.
 * Every known term keeps the reason it became known, so verdicts come with derivation traces.
 */
import { ADV, app, type Term } from './term.ts';
import type { AtomInfo } from './model.ts';

export type Reason =
  | { kind: 'init'; note: string }
  | { kind: 'msg'; msg: string }
  | { kind: 'dec'; from: Term; key?: Term }
  | { kind: 'oracle'; msg: string; via: Term[] };

/** Functions whose result an attacker can compute when it can compute every argument. */
const COMPOSABLE = new Set(['aead', 'senc', 'wrap', 'mac', 'kdf', 'hash', 'penc', 'sign', 'pk']);
/** Functions whose argument 0 is the key that opens them. */
const SYM_ENC = new Set(['aead', 'senc', 'wrap']);
const MAX_SOLUTIONS = 48;

/** A way to build a pattern: variable bindings (ADV = attacker's own value) and known terms reused. */
export interface Solution {
  sigma: Map<Term, Term>;
  uses: Term[];
}

/** What one party (an agent or the attacker) knows: closed under decomposition, with reasons. */
export class Knowledge {
  readonly known = new Set<Term>();
  readonly reasons = new Map<Term, Reason>();
  readonly byHead = new Map<string, Term[]>();
  /** known terms by symbol and first argument: the key of a crypto unit, the tag of a tuple */
  readonly byHeadArg = new Map<string, Term[]>();
  private pending: Term[] = [];
  private memo = new Map<Term, boolean>();
  private solved = new Map<Term, Solution[]>();

  constructor(
    readonly atoms: Map<Term, AtomInfo>,
    readonly isTuple: (name: string) => boolean,
  ) {}

  /** A copy that can grow independently. */
  clone(): Knowledge {
    const k = new Knowledge(this.atoms, this.isTuple);
    for (const t of this.known) k.known.add(t);
    for (const [t, r] of this.reasons) k.reasons.set(t, r);
    for (const [h, l] of this.byHead) k.byHead.set(h, l.slice());
    for (const [h, l] of this.byHeadArg) k.byHeadArg.set(h, l.slice());
    k.pending = this.pending.slice();
    return k;
  }

  /** True for atoms anyone can produce: agent names, constants, counters, the attacker's value. */
  isPublicAtom(t: Term): boolean {
    if (t === ADV) return true;
    if (t.name.startsWith("'")) return true;
    const info = this.atoms.get(t);
    if (!info) return true; // agent names are public constants
    return info.type === 'counter' || info.type === 'const';
  }

  /** Adds a term and everything it decomposes into; returns true when it was new. */
  add(t: Term, reason: Reason): boolean {
    if (this.known.has(t)) return false;
    this.known.add(t);
    this.reasons.set(t, reason);
    this.memo.clear();
    this.solved.clear();
    if (t.kind === 'fn') {
      let l = this.byHead.get(t.name);
      if (!l) this.byHead.set(t.name, (l = []));
      l.push(t);
      const hk = t.name + '#' + t.args[0].id;
      let l2 = this.byHeadArg.get(hk);
      if (!l2) this.byHeadArg.set(hk, (l2 = []));
      l2.push(t);
      this.decompose(t);
    }
    return true;
  }

  private decompose(t: Term): void {
    const n = t.name;
    if (this.isTuple(n)) {
      for (const a of t.args) this.add(a, { kind: 'dec', from: t });
    } else if (n === 'mac' || n === 'sign') {
      this.add(t.args[1], { kind: 'dec', from: t });
    } else if (n === 'aead') {
      this.add(t.args[2], { kind: 'dec', from: t });
      this.pending.push(t);
    } else if (SYM_ENC.has(n) || n === 'penc') {
      this.pending.push(t);
    } else if (n === 'sk') {
      this.add(app('pk', [t.args[0]]), { kind: 'dec', from: t });
    }
  }

  /** The key that opens an encryption, or undefined when none exists. */
  static openingKey(t: Term): Term | undefined {
    if (SYM_ENC.has(t.name)) return t.args[0];
    if (t.name === 'penc' && t.args[0].name === 'pk') return app('sk', [t.args[0].args[0]]);
    return undefined;
  }

  /** Repeats decryption of pending ciphertexts until nothing new opens. */
  saturate(): void {
    for (let changed = true; changed;) {
      changed = false;
      const still: Term[] = [];
      const list = this.pending;
      this.pending = [];
      for (const c of list) {
        const k = Knowledge.openingKey(c);
        const body = c.name === 'aead' ? c.args[1] : c.args[1];
        if (k && this.canDerive(k)) {
          if (this.add(body, { kind: 'dec', from: c, key: k })) changed = true;
        } else still.push(c);
      }
      this.pending.push(...still);
    }
  }

  /** True when the term is known or can be composed from known terms. */
  canDerive(t: Term): boolean {
    if (this.known.has(t)) return true;
    const m = this.memo.get(t);
    if (m !== undefined) return m;
    let r: boolean;
    if (t.kind === 'var') r = false;
    else if (t.kind === 'atom') r = this.isPublicAtom(t);
    else if (t.name === 'pk') r = true;
    else if (t.name === 'sk') r = false;
    else if (COMPOSABLE.has(t.name) || this.isTuple(t.name)) r = t.args.every((a) => this.canDerive(a));
    else r = false;
    this.memo.set(t, r);
    return r;
  }

  /** build(p) from no bindings, memoised until the knowledge grows. */
  solutions(p: Term): Solution[] {
    let s = this.solved.get(p);
    if (!s) this.solved.set(p, (s = this.build(p)));
    return s;
  }

  /**
   * Ways to make a term matching `p`: reuse a known term that matches, or compose it from parts.
   * A variable not bound by matching gets ADV (the attacker picks it).
   */
  build(p: Term, sigma: Map<Term, Term> = new Map()): Solution[] {
    // a known ground part is reused (listed in uses: it may be a recorded frame); otherwise composed
    if (p.ground) return this.known.has(p) ? [{ sigma, uses: [p] }] : this.canDerive(p) ? [{ sigma, uses: [] }] : [];
    if (p.kind === 'var') {
      if (sigma.has(p)) return [{ sigma, uses: [] }];
      return [{ sigma: new Map(sigma).set(p, ADV), uses: [] }];
    }
    const out: Solution[] = [];
    const cands = p.args[0].ground ? this.byHeadArg.get(p.name + '#' + p.args[0].id) : this.byHead.get(p.name);
    for (const t of cands ?? []) {
      const s = match(p, t, sigma);
      if (s) out.push({ sigma: s, uses: [t] });
      if (out.length >= MAX_SOLUTIONS) return out;
    }
    if (COMPOSABLE.has(p.name) || this.isTuple(p.name)) {
      let partial: Solution[] = [{ sigma, uses: [] }];
      for (const a of p.args) {
        const next: Solution[] = [];
        for (const s of partial) {
          for (const r of this.build(a, s.sigma)) {
            next.push({ sigma: r.sigma, uses: s.uses.concat(r.uses) });
            if (next.length >= MAX_SOLUTIONS) break;
          }
          if (next.length >= MAX_SOLUTIONS) break;
        }
        partial = next;
        if (!partial.length) break;
      }
      out.push(...partial);
    }
    return dedupe(out);
  }

  /** Human-readable derivation of `t` (known or composable) with the messages it used. */
  explain(t: Term, show: (t: Term) => string, depth = 0, seen = new Set<Term>()): { steps: string[]; msgs: Set<string> } {
    const steps: string[] = [];
    const msgs = new Set<string>();
    const walk = (u: Term, d: number): void => {
      if (seen.has(u) || d > 12) return;
      seen.add(u);
      if (u.kind === 'atom' && this.isPublicAtom(u)) return;
      const r = this.reasons.get(u);
      if (!r) {
        if (u.kind === 'atom' && this.isPublicAtom(u)) return;
        if (u.kind === 'fn' && this.canDerive(u)) {
          for (const a of u.args) walk(a, d + 1);
          if (u.name !== 'pk' && !this.isTuple(u.name)) steps.push(`compose ${show(u)}`);
        }
        return;
      }
      if (r.kind === 'init') steps.push(`${show(u)}: ${r.note}`);
      else if (r.kind === 'msg') {
        msgs.add(r.msg);
        steps.push(`observe ${r.msg}`);
      } else if (r.kind === 'oracle') {
        for (const v of r.via) walk(v, d + 1);
        msgs.add(r.msg);
        steps.push(`make an honest agent send ${r.msg} carrying attacker input`);
      } else {
        walk(r.from, d + 1);
        if (r.key) {
          walk(r.key, d + 1);
          steps.push(`open ${show(r.from)} with ${show(r.key)} → ${show(u)}`);
        } else if (!this.isTuple(r.from.name)) steps.push(`read ${show(u)} from ${show(r.from)}`);
      }
    };
    walk(t, depth);
    return { steps, msgs };
  }
}

/** One-way matching of pattern p against ground t, extending sigma; undefined when they differ. */
export function match(p: Term, t: Term, sigma: Map<Term, Term>): Map<Term, Term> | undefined {
  if (p.ground) return p === t ? sigma : undefined;
  if (p.kind === 'var') {
    const b = sigma.get(p);
    if (b !== undefined) return b === t ? sigma : undefined;
    return new Map(sigma).set(p, t);
  }
  if (t.kind !== 'fn' || t.name !== p.name || t.args.length !== p.args.length) return undefined;
  let s: Map<Term, Term> | undefined = sigma;
  for (let i = 0; i < p.args.length && s; i++) s = match(p.args[i], t.args[i], s);
  return s;
}

function dedupe(list: Solution[]): Solution[] {
  const seen = new Set<string>();
  const out: Solution[] = [];
  for (const s of list) {
    // bindings are made left to right in every path, so insertion order is canonical
    let key = '';
    for (const [k, v] of s.sigma) key += k.id + '=' + v.id + ',';
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(s);
    if (out.length >= MAX_SOLUTIONS) break;
  }
  return out;
}
