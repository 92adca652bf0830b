/**
 * The model parser's terms: a term string of the file (`enc(k_e2e, pair(ctr, reading))`) resolved
 * against the declarations into a hash-consed Term at one instantiation, lets expanded (with their
 * parameters bound), atoms per replicated agent named `atom@instance`, derived keys resolved to
 * their derivation. Every misuse becomes an issue at the column of the name in the term.
 */
import { ARITY, CRYPTO_FNS, TermSyntaxError, app, atom, isCrypto, parseTerm, type CryptoFn, type RawTerm, type Term } from './term.ts';
import { ModelReader, type Ctx } from './model-reader.ts';
import type { AtomInfo, Msg } from './model-types.ts';

type CallNode = Extract<RawTerm, { kind: 'call' }>;
type NameNode = Extract<RawTerm, { kind: 'name' }>;

/** One resolution of a raw term: where issues go, the instantiation, the frames it collects, bound let parameters. */
interface Resolution {
  path: string;
  ctx: Ctx;
  frames: Msg['frames'] | undefined;
  env: Map<string, Term> | undefined;
  /** False once anything failed: the term is then not returned. */
  ok: boolean;
}

export class TermResolver extends ModelReader {
  private readonly raw = new Map<string, RawTerm | null>();
  /** Every atom term met so far, with what it is. */
  readonly atoms = new Map<Term, AtomInfo>();
  /** Display names of terms (instance-qualified atoms and lets). */
  readonly names = new Map<Term, string>();
  /** Lets and derived atoms being resolved (a definition in terms of itself is an issue). */
  private readonly resolving = new Set<string>();

  private rawTerm(src: string, path: string): RawTerm | null {
    const key = path + '\u0000' + src;
    if (this.raw.has(key)) return this.raw.get(key)!;
    let t: RawTerm | null = null;
    try {
      t = parseTerm(src);
    } catch (e) {
      if (e instanceof TermSyntaxError) this.issue(path, `term syntax: ${e.message} (at column ${e.col + 1} of the term)`, e.col + 1);
      else throw e;
    }
    this.raw.set(key, t);
    return t;
  }

  /** Generic replicated agents a raw term depends on (through names, atoms, lets, derivations). */
  deps(src: string, path: string, out: Set<string>, seen = new Set<string>()): void {
    const r = this.rawTerm(src, path);
    if (!r) return;
    const walk = (n: RawTerm): void => {
      if (n.kind === 'call') {
        const l = this.letDecl.get(n.name);
        if (l && !seen.has(n.name)) {
          seen.add(n.name);
          this.deps(l.term, l.path, out, seen);
        }
        return n.args.forEach(walk);
      }
      if (n.kind !== 'name') return;
      if (seen.has(n.name)) return;
      seen.add(n.name);
      if (this.replicated(n.name)) out.add(n.name);
      const a = this.atomDecl.get(n.name);
      if (a?.per && this.replicated(a.per)) out.add(a.per);
      if (a?.derive) this.deps(a.derive, `${this.atomPath.get(n.name)}.derive`, out, seen);
      const l = this.letDecl.get(n.name);
      if (l) this.deps(l.term, l.path, out, seen);
    };
    walk(r);
  }

  /** The term `src` at instantiation `ctx`; null (with issues) when it does not resolve. Lets with a frame add it to `frames`. */
  resolve(src: string, path: string, ctx: Ctx, frames?: Msg['frames'], env?: Map<string, Term>): Term | null {
    const r = this.rawTerm(src, path);
    if (!r) return null;
    const res: Resolution = { path, ctx, frames, env, ok: true };
    const t = this.node(r, res);
    return res.ok ? t : null;
  }

  /** Marks the resolution failed (with an issue at `col`, when a message is given); the placeholder term. */
  private failed(res: Resolution, message?: string, col?: number): Term {
    if (message !== undefined) this.issue(res.path, message, col);
    res.ok = false;
    return atom('?');
  }

  private node(n: RawTerm, res: Resolution): Term {
    if (n.kind === 'const') return atom(`'${n.name}'`);
    if (n.kind === 'name' && res.env?.has(n.name)) return res.env.get(n.name)!;
    const params = this.letDecl.get(n.name)?.params.length;
    if (n.kind === 'name' && params) return this.failed(res, `"${n.name}" takes ${params} argument(s): write ${n.name}(...)`, n.col + 1);
    if (n.kind === 'call' && params) return this.letCall(n, res);
    if (n.kind === 'name') return this.name(n, res);
    if (isCrypto(n.name)) return this.cryptoCall(n.name, n, res);
    if (this.tuples.has(n.name))
      return app(
        n.name,
        n.args.map((a) => this.node(a, res)),
      );
    return this.failed(
      res,
      `unknown function "${n.name}" (crypto: ${CRYPTO_FNS.join(', ')}; tuples: ${[...this.tuples].join(', ')} — declare new tuple names in "tuples")`,
      n.col + 1,
    );
  }

  /** A let with parameters, applied: its body resolved with the arguments bound. */
  private letCall(n: CallNode, res: Resolution): Term {
    const l = this.letDecl.get(n.name)!;
    if (n.args.length !== l.params.length)
      return this.failed(res, `${n.name}(...) takes ${l.params.length} argument(s), got ${n.args.length}`, n.col + 1);
    const env2 = new Map(l.params.map((x, i) => [x, this.node(n.args[i], res)] as [string, Term]));
    const t = this.resolve(l.term, l.path, res.ctx, res.frames, env2);
    if (!t) return this.failed(res);
    this.addFrame(n.name, t, res);
    return t;
  }

  /** Records the frame of let `name` (when it has one) for the term it resolved to. */
  private addFrame(name: string, t: Term, res: Resolution): void {
    const frame = this.letDecl.get(name)!.frame;
    if (frame && res.frames && !res.frames.some((x) => x.term === t)) res.frames.push({ let: name, frame, term: t });
  }

  /** A plain name: an agent (at its instance), an atom, or a let without parameters. */
  private name(n: NameNode, res: Resolution): Term {
    if (this.agentsGeneric.has(n.name)) return atom(res.ctx.get(n.name) ?? n.name);
    const a = this.atomDecl.get(n.name);
    if (a) {
      if (a.type === 'keypair') return this.failed(res, `"${n.name}" is a key pair: write pk(${n.name}) or sk(${n.name})`, n.col + 1);
      return this.atomTerm(n.name, res.ctx) ?? this.failed(res);
    }
    const l = this.letDecl.get(n.name);
    if (!l) return this.failed(res, `unknown name "${n.name}" (not an agent, atom or let)`, n.col + 1);
    const key = `let:${n.name}`;
    if (this.resolving.has(key)) return this.failed(res, `"${n.name}" is defined in terms of itself`, n.col + 1);
    this.resolving.add(key);
    const t = this.resolve(l.term, l.path, res.ctx, res.frames);
    this.resolving.delete(key);
    if (!t) return this.failed(res);
    this.names.set(t, this.instName(n.name, res.ctx));
    this.addFrame(n.name, t, res);
    return t;
  }

  /** A crypto function: its arity checked; pk/sk take the name of a key pair atom. */
  private cryptoCall(fn: CryptoFn, n: CallNode, res: Resolution): Term {
    if (n.args.length !== ARITY[fn]) return this.failed(res, `${fn}(...) takes ${ARITY[fn]} argument(s), got ${n.args.length}`, n.col + 1);
    if (fn === 'pk' || fn === 'sk') {
      const a0 = n.args[0];
      const d = a0.kind === 'name' ? this.atomDecl.get(a0.name) : undefined;
      if (!d || d.type !== 'keypair') return this.failed(res, `${fn}(...) takes the name of a key pair atom`, a0.col + 1);
      return app(fn, [this.atomTerm(d.name, res.ctx) ?? atom('?')]);
    }
    return app(
      fn,
      n.args.map((a) => this.node(a, res)),
    );
  }

  /** `generic@instances` for a let resolved at an instantiation with replicated agents, else `generic`. */
  private instName(generic: string, ctx: Ctx): string {
    const inst = [...ctx.keys()].map((g) => ctx.get(g)).filter((x): x is string => !!x && x !== undefined);
    return inst.length ? `${generic}@${inst.join(',')}` : generic;
  }

  /** The term of atom `name` at `ctx` (`name@owner` when it is per a replicated agent), recorded in `atoms`. */
  atomTerm(name: string, ctx: Ctx): Term | null {
    const d = this.atomDecl.get(name)!;
    const replicated = d.per ? this.replicated(d.per) : false;
    const owner = d.per ? (ctx.get(d.per) ?? (replicated ? this.instancesOf(d.per)[0] : d.per)) : undefined;
    const display = replicated ? `${name}@${owner}` : name;
    if (d.derive) return this.derivedAtom(name, display, owner, ctx);
    const t = atom(display);
    if (!this.atoms.has(t)) {
      const holders: string[] = [];
      for (const h of d.holders ?? []) {
        if (d.per && h === d.per && owner) holders.push(owner);
        else holders.push(...this.instancesOf(h));
      }
      this.atoms.set(t, {
        term: t,
        generic: name,
        type: d.type,
        owner,
        holders,
        derived: false,
        abstract: d.abstract ?? name,
        label: d.label,
      });
    }
    return t;
  }

  /** A derived key: its derivation resolved at its owner's instance; it has no holders. */
  private derivedAtom(name: string, display: string, owner: string | undefined, ctx: Ctx): Term | null {
    const d = this.atomDecl.get(name)!;
    const path = this.atomPath.get(name)!;
    const key = `atom:${display}`;
    if (this.resolving.has(key)) {
      this.issue(`${path}.derive`, `"${name}" is derived from itself`);
      return null;
    }
    this.resolving.add(key);
    const c2 = new Map(ctx);
    if (d.per && owner) c2.set(d.per, owner);
    const t = this.resolve(d.derive!, `${path}.derive`, c2);
    this.resolving.delete(key);
    if (!t) return null;
    if (!this.names.has(t)) this.names.set(t, display);
    if (!this.atoms.has(t))
      this.atoms.set(t, {
        term: t,
        generic: name,
        type: d.type,
        owner,
        holders: [],
        derived: true,
        abstract: d.abstract ?? name,
        label: d.label,
      });
    return t;
  }

  /** The term of atom `name` at `c`, or null when no such atom is declared. */
  atomTermIn(name: string, c: Ctx): Term | null {
    if (!this.atomDecl.has(name)) return null;
    return this.atomTerm(name, c);
  }

  occursIn(sub: Term, t: Term): boolean {
    if (sub === t) return true;
    return t.args.some((a) => this.occursIn(sub, a));
  }
}
