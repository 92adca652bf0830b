/**
 * The model format: a JSON file (schema below, documented in docs/ANALYSIS.md) is validated with
 * errors that name the line and the field, then resolved into hash-consed terms and instantiated
 * (an agent with `instances: n` and every atom `per` that agent are copied n times).
 */
import { readFileSync } from 'node:fs';
import { ARITY, CRYPTO_FNS, TermSyntaxError, app, atom, isCrypto, parseTerm, type RawTerm, type Term } from './term.ts';
import { JsonSyntaxError, parseJsonWithLocs, type Loc } from './jsonloc.ts';

import { applyExtends } from './variants.ts';
import { parseAvailability, parseProperties } from './model-extras.ts';
import {
  ATOM_TYPES,
  CHECK_KINDS,
  ModelError,
  NETWORK,
  type Agent,
  type AtomInfo,
  type AttackModel,
  type CheckSpec,
  type FrameSpec,
  type Link,
  type Model,
  type ModelFile,
  type ModelIssue,
  type Msg,
  type Network,
  type Requirement,
} from './model-types.ts';

export * from './model-types.ts';

const DEFAULT_LIKELIHOOD = ['rare', 'unlikely', 'possible', 'likely', 'almost certain'];
const DEFAULT_IMPACT = ['negligible', 'minor', 'moderate', 'major', 'severe'];
const RISK_SCALE_MAX = 5;

/** Reads, validates and resolves a model file; throws ModelError listing every issue. */
export function loadModel(path: string): Model {
  return parseModel(readFileSync(path, 'utf8'), path);
}

/** Validates and resolves model JSON text; `file` names it in errors. Throws ModelError. */
export function parseModel(src: string, file = 'model'): Model {
  let parsed;
  try {
    parsed = parseJsonWithLocs(src);
  } catch (e) {
    if (e instanceof JsonSyntaxError)
      throw new ModelError(file, [
        { path: '', line: e.loc.line, col: e.loc.col, message: e.message.replace(/^line \d+, column \d+: /, '') },
      ]);
    throw e;
  }
  const v = parsed.value as Record<string, unknown>;
  if (v && typeof v === 'object' && !Array.isArray(v) && typeof v.extends === 'string') {
    const issues: ModelIssue[] = [];
    const merged = applyExtends(v, file, issues);
    if (issues.length) throw new ModelError(file, issues);
    // paths of a merged model no longer match a single file's lines: report fields only
    return new Resolver(merged, new Map(), `${file} (extends ${v.extends})`).run();
  }
  return new Resolver(parsed.value, parsed.locs, file).run();
}

type Ctx = Map<string, string>; // generic replicated agent → instance name

class Resolver {
  private issues: ModelIssue[] = [];
  private f!: ModelFile;
  private agentsGeneric = new Map<string, { instances: number; label?: string }>();
  private atomDecl = new Map<string, ModelFile['atoms'][number]>();
  private atomPath = new Map<string, string>();
  private letDecl = new Map<string, { term: string; path: string; frame?: FrameSpec; params: string[]; checks: CheckSpec[] }>();
  private tuples = new Set<string>(['tuple']);
  private raw = new Map<string, RawTerm | null>();
  private atoms = new Map<Term, AtomInfo>();
  private names = new Map<Term, string>();
  private resolving = new Set<string>();

  constructor(
    private value: unknown,
    private locs: Map<string, Loc>,
    private file: string,
  ) {}

  private issue(path: string, message: string, colOffset?: number): void {
    const loc = this.locs.get(path);
    this.issues.push({ path, line: loc?.line, col: loc ? loc.col + (colOffset ?? 0) : undefined, message });
  }

  private str(obj: Record<string, unknown>, key: string, path: string, optional = false): string | undefined {
    const v = obj[key];
    if (v === undefined) {
      if (!optional) this.issue(path, `missing required field "${key}"`);
      return undefined;
    }
    if (typeof v !== 'string' || v === '') {
      this.issue(`${path}.${key}`, `"${key}" must be a non-empty string`);
      return undefined;
    }
    return v;
  }

  private arr(obj: Record<string, unknown>, key: string, path: string, optional = false): unknown[] {
    const v = obj[key];
    if (v === undefined) {
      if (!optional) this.issue(path, `missing required field "${key}"`);
      return [];
    }
    if (!Array.isArray(v)) {
      this.issue(`${path}.${key}`, `"${key}" must be an array`);
      return [];
    }
    return v;
  }

  private strList(obj: Record<string, unknown>, key: string, path: string, optional = true): string[] {
    const out: string[] = [];
    this.arr(obj, key, path, optional).forEach((v, i) => {
      if (typeof v === 'string' && v) out.push(v);
      else this.issue(`${path}.${key}[${i}]`, 'must be a non-empty string');
    });
    return out;
  }

  private onlyFields(obj: Record<string, unknown>, allowed: string[], path: string): void {
    for (const k of Object.keys(obj))
      if (!allowed.includes(k)) this.issue(`${path}.${k}`, `unknown field "${k}" (allowed: ${allowed.join(', ')})`);
  }

  private obj(v: unknown, path: string): Record<string, unknown> | undefined {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      this.issue(path, 'must be an object');
      return undefined;
    }
    return v as Record<string, unknown>;
  }

  private genericAgent(name: string, path: string): boolean {
    if (this.agentsGeneric.has(name)) return true;
    this.issue(path, `unknown agent "${name}" (agents: ${[...this.agentsGeneric.keys()].join(', ')})`);
    return false;
  }

  private instancesOf(generic: string): string[] {
    const a = this.agentsGeneric.get(generic);
    if (!a) return [];
    if (a.instances <= 1) return [generic];
    return Array.from({ length: a.instances }, (_, i) => `${generic}${i + 1}`);
  }

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
  private deps(src: string, path: string, out: Set<string>, seen = new Set<string>()): void {
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
      const ag = this.agentsGeneric.get(n.name);
      if (ag && ag.instances > 1) out.add(n.name);
      const a = this.atomDecl.get(n.name);
      if (a?.per && (this.agentsGeneric.get(a.per)?.instances ?? 1) > 1) out.add(a.per);
      if (a?.derive) this.deps(a.derive, `${this.atomPath.get(n.name)}.derive`, out, seen);
      const l = this.letDecl.get(n.name);
      if (l) this.deps(l.term, l.path, out, seen);
    };
    walk(r);
  }

  private resolve(src: string, path: string, ctx: Ctx, frames?: Msg['frames'], env?: Map<string, Term>): Term | null {
    const r = this.rawTerm(src, path);
    if (!r) return null;
    let ok = true;
    const go = (n: RawTerm): Term => {
      if (n.kind === 'const') return atom(`'${n.name}'`);
      if (n.kind === 'name' && env?.has(n.name)) return env.get(n.name)!;
      if (n.kind === 'name' && this.letDecl.get(n.name)?.params.length) {
        this.issue(path, `"${n.name}" takes ${this.letDecl.get(n.name)!.params.length} argument(s): write ${n.name}(...)`, n.col + 1);
        ok = false;
        return atom('?');
      }
      if (n.kind === 'call' && this.letDecl.get(n.name)?.params.length) {
        const l = this.letDecl.get(n.name)!;
        if (n.args.length !== l.params.length) {
          this.issue(path, `${n.name}(...) takes ${l.params.length} argument(s), got ${n.args.length}`, n.col + 1);
          ok = false;
          return atom('?');
        }
        const env2 = new Map(l.params.map((x, i) => [x, go(n.args[i])] as [string, Term]));
        const t = this.resolve(l.term, l.path, ctx, frames, env2);
        if (!t) {
          ok = false;
          return atom('?');
        }
        if (l.frame && frames && !frames.some((x) => x.term === t)) frames.push({ let: n.name, frame: l.frame, term: t });
        return t;
      }
      if (n.kind === 'name') {
        if (this.agentsGeneric.has(n.name)) return atom(ctx.get(n.name) ?? n.name);
        const a = this.atomDecl.get(n.name);
        if (a) {
          if (a.type === 'keypair') {
            this.issue(path, `"${n.name}" is a key pair: write pk(${n.name}) or sk(${n.name})`, n.col + 1);
            ok = false;
            return atom('?');
          }
          return this.atomTerm(n.name, ctx) ?? ((ok = false), atom('?'));
        }
        const l = this.letDecl.get(n.name);
        if (l) {
          const key = `let:${n.name}`;
          if (this.resolving.has(key)) {
            this.issue(path, `"${n.name}" is defined in terms of itself`, n.col + 1);
            ok = false;
            return atom('?');
          }
          this.resolving.add(key);
          const t = this.resolve(l.term, l.path, ctx, frames);
          this.resolving.delete(key);
          if (!t) {
            ok = false;
            return atom('?');
          }
          this.names.set(t, this.instName(n.name, ctx, t));
          if (l.frame && frames && !frames.some((x) => x.term === t)) frames.push({ let: n.name, frame: l.frame, term: t });
          return t;
        }
        this.issue(path, `unknown name "${n.name}" (not an agent, atom or let)`, n.col + 1);
        ok = false;
        return atom('?');
      }
      if (isCrypto(n.name)) {
        if (n.args.length !== ARITY[n.name]) {
          this.issue(path, `${n.name}(...) takes ${ARITY[n.name]} argument(s), got ${n.args.length}`, n.col + 1);
          ok = false;
          return atom('?');
        }
        if (n.name === 'pk' || n.name === 'sk') {
          const a0 = n.args[0];
          const d = a0.kind === 'name' ? this.atomDecl.get(a0.name) : undefined;
          if (!d || d.type !== 'keypair') {
            this.issue(path, `${n.name}(...) takes the name of a key pair atom`, a0.col + 1);
            ok = false;
            return atom('?');
          }
          return app(n.name, [this.atomTerm(d.name, ctx) ?? atom('?')]);
        }
        return app(n.name, n.args.map(go));
      }
      if (this.tuples.has(n.name)) return app(n.name, n.args.map(go));
      this.issue(
        path,
        `unknown function "${n.name}" (crypto: ${CRYPTO_FNS.join(', ')}; tuples: ${[...this.tuples].join(', ')} — declare new tuple names in "tuples")`,
        n.col + 1,
      );
      ok = false;
      return atom('?');
    };
    const t = go(r);
    return ok ? t : null;
  }

  private instName(generic: string, ctx: Ctx, _t: Term, per?: string): string {
    const owners = per ? [per] : [...ctx.keys()];
    const inst = owners.map((g) => ctx.get(g)).filter((x): x is string => !!x && x !== undefined);
    return inst.length && (per ? (this.agentsGeneric.get(per)?.instances ?? 1) > 1 : true) ? `${generic}@${inst.join(',')}` : generic;
  }

  private atomTerm(name: string, ctx: Ctx): Term | null {
    const d = this.atomDecl.get(name)!;
    const path = this.atomPath.get(name)!;
    const replicated = d.per ? (this.agentsGeneric.get(d.per)?.instances ?? 1) > 1 : false;
    const owner = d.per ? (ctx.get(d.per) ?? (replicated ? this.instancesOf(d.per)[0] : d.per)) : undefined;
    const display = replicated ? `${name}@${owner}` : name;
    if (d.derive) {
      const key = `atom:${display}`;
      if (this.resolving.has(key)) {
        this.issue(`${path}.derive`, `"${name}" is derived from itself`);
        return null;
      }
      this.resolving.add(key);
      const c2 = new Map(ctx);
      if (d.per && owner) c2.set(d.per, owner);
      const t = this.resolve(d.derive, `${path}.derive`, c2);
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

  /** Every assignment of instances to the replicated agents in `gens`. */
  private contexts(gens: Set<string>): Ctx[] {
    let out: Ctx[] = [new Map()];
    for (const g of gens) {
      const next: Ctx[] = [];
      for (const c of out) for (const i of this.instancesOf(g)) next.push(new Map(c).set(g, i));
      out = next;
    }
    return out;
  }

  private inst(name: string, ctx: Ctx): string {
    return ctx.get(name) ?? name;
  }

  run(): Model {
    const root = this.obj(this.value, '');
    if (!root) throw new ModelError(this.file, this.issues);
    this.f = root as unknown as ModelFile;
    this.onlyFields(
      root,
      [
        'extends',
        'name',
        'description',
        'agents',
        'phases',
        'tuples',
        'links',
        'atoms',
        'lets',
        'messages',
        'requirements',
        'attacks',
        'properties',
        'availability',
        'risk',
        '$schema',
      ],
      '',
    );
    const name = this.str(root, 'name', '') ?? 'model';

    // agents
    this.arr(root, 'agents', '').forEach((v, i) => {
      const p = `agents[${i}]`;
      const o = this.obj(v, p);
      if (!o) return;
      this.onlyFields(o, ['name', 'instances', 'label'], p);
      const n = this.str(o, 'name', p);
      const inst = o.instances ?? 1;
      if (typeof inst !== 'number' || !Number.isInteger(inst) || inst < 1 || inst > 16)
        this.issue(`${p}.instances`, 'instances must be an integer 1…16');
      if (n) {
        if (this.agentsGeneric.has(n)) this.issue(`${p}.name`, `agent "${n}" declared twice`);
        this.agentsGeneric.set(n, { instances: typeof inst === 'number' ? inst : 1, label: o.label as string | undefined });
      }
    });
    const phases = this.strList(root, 'phases', '', false);
    for (const t of this.strList(root, 'tuples', '')) {
      if (isCrypto(t)) this.issue('tuples', `"${t}" is a crypto function, not a tuple name`);
      this.tuples.add(t);
    }

    // links
    const links: Link[] = [];
    const linkGeneric = new Map<string, { a: string; b: string; private: boolean }>();
    this.arr(root, 'links', '').forEach((v, i) => {
      const p = `links[${i}]`;
      const o = this.obj(v, p);
      if (!o) return;
      this.onlyFields(o, ['name', 'a', 'b', 'private'], p);
      const n = this.str(o, 'name', p);
      const a = this.str(o, 'a', p);
      const b = this.str(o, 'b', p);
      if (!n || !a || !b) return;
      if (!this.genericAgent(a, `${p}.a`) || !this.genericAgent(b, `${p}.b`)) return;
      linkGeneric.set(n, { a, b, private: o.private === true });
      const gens = new Set([a, b].filter((x) => (this.agentsGeneric.get(x)?.instances ?? 1) > 1));
      for (const c of this.contexts(gens)) {
        const ia = this.inst(a, c);
        const ib = this.inst(b, c);
        links.push({ name: gens.size ? `${n}@${[...c.values()].join(',')}` : n, generic: n, a: ia, b: ib, private: o.private === true });
      }
    });

    // atoms (declarations first, terms resolved lazily so derivations may refer forward)
    const atomsArr = this.arr(root, 'atoms', '');
    atomsArr.forEach((v, i) => {
      const p = `atoms[${i}]`;
      const o = this.obj(v, p);
      if (!o) return;
      this.onlyFields(o, ['name', 'type', 'per', 'holders', 'derive', 'abstract', 'label'], p);
      const n = this.str(o, 'name', p);
      const ty = this.str(o, 'type', p);
      if (ty && !(ATOM_TYPES as readonly string[]).includes(ty)) this.issue(`${p}.type`, `type must be one of ${ATOM_TYPES.join(', ')}`);
      if (o.per !== undefined && typeof o.per === 'string') this.genericAgent(o.per, `${p}.per`);
      for (const [j, h] of this.strList(o, 'holders', p).entries()) this.genericAgent(h, `${p}.holders[${j}]`);
      if (o.derive !== undefined && typeof o.derive !== 'string') this.issue(`${p}.derive`, 'derive must be a term string');
      if (o.derive !== undefined && ty !== 'symkey') this.issue(`${p}.derive`, 'only symmetric keys can be derived');
      if (o.derive !== undefined && o.holders !== undefined)
        this.issue(`${p}.holders`, 'a derived key has no holders: whoever can compute it holds it');
      if (!n) return;
      if (this.atomDecl.has(n) || this.agentsGeneric.has(n)) this.issue(`${p}.name`, `name "${n}" already used`);
      this.atomDecl.set(n, o as unknown as ModelFile['atoms'][number]);
      this.atomPath.set(n, p);
    });
    this.arr(root, 'lets', '', true).forEach((v, i) => {
      const p = `lets[${i}]`;
      const o = this.obj(v, p);
      if (!o) return;
      this.onlyFields(o, ['name', 'params', 'term', 'frame', 'checks'], p);
      const n = this.str(o, 'name', p);
      const t = this.str(o, 'term', p);
      const params = this.strList(o, 'params', p);
      const lchecks = this.arr(o, 'checks', p, true) as CheckSpec[];
      lchecks.forEach((c, j) => this.checkCheck(c, `${p}.checks[${j}]`));
      if (o.frame !== undefined) this.checkFrame(o.frame, `${p}.frame`);
      if (!n || !t) return;
      if (this.atomDecl.has(n) || this.agentsGeneric.has(n) || this.letDecl.has(n)) this.issue(`${p}.name`, `name "${n}" already used`);
      this.letDecl.set(n, { term: t, path: `${p}.term`, frame: o.frame as FrameSpec | undefined, params, checks: lchecks });
    });
    // resolve every atom at every instance so holders and types are known
    for (const [n, d] of this.atomDecl) {
      const gens = new Set<string>();
      if (d.per && (this.agentsGeneric.get(d.per)?.instances ?? 1) > 1) gens.add(d.per);
      if (d.derive) this.deps(d.derive, `${this.atomPath.get(n)}.derive`, gens);
      for (const c of this.contexts(gens)) this.atomTerm(n, c);
    }

    // messages
    const messages: Msg[] = [];
    const genericIds = new Map<string, string>();
    const msgArr = this.arr(root, 'messages', '');
    msgArr.forEach((v, i) => {
      const p = `messages[${i}]`;
      const o = this.obj(v, p);
      if (o?.id && typeof o.id === 'string') genericIds.set(o.id, p);
    });
    msgArr.forEach((v, i) => {
      const p = `messages[${i}]`;
      const o = this.obj(v, p);
      if (!o) return;
      this.onlyFields(
        o,
        ['id', 'phase', 'from', 'to', 'via', 'term', 'label', 'trigger', 'checks', 'abstract', 'idempotent', 'keyUpdate', 'wrap', 'impact'],
        p,
      );
      const id = this.str(o, 'id', p);
      const phase = this.str(o, 'phase', p);
      const from = this.str(o, 'from', p);
      const to = this.str(o, 'to', p);
      const src = this.str(o, 'term', p);
      const via = this.strList(o, 'via', p);
      const wrap = this.strList(o, 'wrap', p);
      if (phase && !phases.includes(phase)) this.issue(`${p}.phase`, `unknown phase "${phase}" (phases: ${phases.join(', ')})`);
      if (from) this.genericAgent(from, `${p}.from`);
      if (to) this.genericAgent(to, `${p}.to`);
      via.forEach((x, j) => this.genericAgent(x, `${p}.via[${j}]`));
      if (from && to && from === to) this.issue(`${p}.to`, 'a message needs two different agents');
      if (id && [...genericIds.entries()].some(([k, q]) => k === id && q !== p)) this.issue(`${p}.id`, `message id "${id}" used twice`);
      if (wrap.length && wrap.length !== via.length + 1)
        this.issue(`${p}.wrap`, `wrap names one let per hop: ${via.length + 1} expected, ${wrap.length} given`);
      wrap.forEach((w, j) => {
        if (this.letDecl.get(w)?.params.length !== 1) this.issue(`${p}.wrap[${j}]`, `"${w}" is not a let with exactly one parameter`);
      });
      if (
        o.impact !== undefined &&
        (typeof o.impact !== 'number' || !Number.isInteger(o.impact) || o.impact < 1 || o.impact > RISK_SCALE_MAX)
      )
        this.issue(`${p}.impact`, `impact must be an integer 1…${RISK_SCALE_MAX}`);
      const trigger = o.trigger as string | undefined;
      if (trigger !== undefined) {
        const ti = this.triggerInfo(trigger, msgArr, genericIds);
        if (!ti) this.issue(`${p}.trigger`, `unknown message "${trigger}" (a relayed message is named by its hop: "ID.1", "ID.2", …)`);
        else if (ti.receiver !== from)
          this.issue(`${p}.trigger`, `trigger "${trigger}" is received by ${ti.receiver}, not by the sender ${from}`);
      }
      const path = [from ?? '', ...via, to ?? ''];
      const hopLinks: string[] = [];
      for (let h = 0; h + 1 < path.length; h++) {
        const x = path[h];
        const y = path[h + 1];
        const l = [...linkGeneric.entries()].find(([, L]) => (L.a === x && L.b === y) || (L.a === y && L.b === x));
        if (!l) this.issue(p, `no link between ${x} and ${y} (declare it in "links")`);
        else hopLinks.push(l[0]);
      }
      const checks = this.arr(o, 'checks', p, true) as CheckSpec[];
      checks.forEach((c, j) => this.checkCheck(c, `${p}.checks[${j}]`));
      const ku = o.keyUpdate !== undefined ? this.obj(o.keyUpdate, `${p}.keyUpdate`) : undefined;
      if (!id || !phase || !from || !to || !src || (wrap.length && wrap.length !== via.length + 1)) return;
      // A wrapped relay becomes one message per hop; each relay agent is an oracle for the next hop.
      const hops: {
        id: string;
        from: string;
        to: string;
        via: string[];
        src: string;
        links: string[];
        trigger?: string;
        checks: { spec: CheckSpec; path: string }[];
      }[] = [];
      const own = checks.map((c, j) => ({ spec: c, path: `${p}.checks[${j}]` }));
      if (wrap.length) {
        for (let h = 0; h < wrap.length; h++) {
          const l = this.letDecl.get(wrap[h])!;
          const hc = l.checks.map((c, j) => ({ spec: c, path: `${l.path.replace(/\.term$/, '')}.checks[${j}]` }));
          hops.push({
            id: `${id}.${h + 1}`,
            from: path[h],
            to: path[h + 1],
            via: [],
            src: `${wrap[h]}(${src})`,
            links: hopLinks[h] ? [hopLinks[h]] : [],
            trigger: h === 0 ? trigger : `${id}.${h}`,
            checks: h === wrap.length - 1 ? [...hc, ...own] : hc,
          });
        }
      } else hops.push({ id, from, to, via, src, links: hopLinks, trigger, checks: own });
      for (const hop of hops) {
        const gens = new Set<string>();
        for (const a of [from, to, ...via]) if ((this.agentsGeneric.get(a)?.instances ?? 1) > 1) gens.add(a);
        this.deps(src, `${p}.term`, gens);
        for (const w of wrap) this.deps(this.letDecl.get(w)!.term, this.letDecl.get(w)!.path, gens);
        for (const c of this.contexts(gens)) {
          const frames: Msg['frames'] = [];
          const term = this.resolve(hop.src, `${p}.term`, c, frames);
          if (!term) continue;
          const suffix = gens.size ? `@${[...c.values()].join(',')}` : '';
          const m: Msg = {
            id: hop.id + suffix,
            generic: hop.id,
            phase,
            phaseIndex: phases.indexOf(phase),
            from: this.inst(hop.from, c),
            to: this.inst(hop.to, c),
            via: hop.via.map((x) => this.inst(x, c)),
            term,
            label: (o.label as string) ?? id,
            counters: [],
            atomic: true,
            sigs: [],
            tags: [],
            links: [],
            idempotent: o.idempotent === true,
            impact: typeof o.impact === 'number' ? o.impact : undefined,
            abstract: (o.abstract as string) ?? id,
            frames,
          };
          const allAgents = [m.from, ...m.via, m.to];
          for (let h = 0; h < hop.links.length; h++) {
            const cand = links.filter(
              (L) =>
                L.generic === hop.links[h] &&
                ((L.a === allAgents[h] && L.b === allAgents[h + 1]) || (L.b === allAgents[h] && L.a === allAgents[h + 1])),
            );
            if (cand[0]) m.links.push(cand[0].name);
          }
          if (hop.trigger)
            m.trigger = hop.trigger + (hop.trigger.startsWith(id + '.') ? suffix : this.triggerSuffix(hop.trigger, msgArr, genericIds, c));
          for (const { spec: co, path: cp } of hop.checks) {
            if (co.counter) {
              const ct = this.atomTermIn(co.counter, c);
              if (ct && !this.occursIn(ct, term)) this.issue(`${cp}.counter`, `counter "${co.counter}" does not occur in the term`);
              if (ct) m.counters.push(ct);
              if (co.atomic === false) m.atomic = false;
            }
            if (co.sig) {
              const kp = this.atomTermIn(co.sig, c);
              if (kp) m.sigs.push(kp);
            }
            if (co.tag) {
              const k = this.atomTermIn(co.tag, c);
              if (k && !this.occursIn(k, term)) this.issue(`${cp}.tag`, `key "${co.tag}" does not protect anything in the term`);
              if (k) m.tags.push(k);
            }
          }
          if (ku && hop === hops[hops.length - 1]) {
            const oldT = typeof ku.old === 'string' ? this.atomTermIn(ku.old, c) : null;
            const newT = typeof ku.new === 'string' ? this.atomTermIn(ku.new, c) : null;
            if (!oldT) this.issue(`${p}.keyUpdate.old`, 'must name a key atom');
            if (!newT) this.issue(`${p}.keyUpdate.new`, 'must name a key atom');
            if (oldT && newT) m.keyUpdate = { old: oldT, new: newT };
          }
          messages.push(m);
        }
      }
    });
    messages.sort((a, b) => a.phaseIndex - b.phaseIndex);

    // requirements
    const requirements: Requirement[] = [];
    this.arr(root, 'requirements', '').forEach((v, i) => {
      const p = `requirements[${i}]`;
      const o = this.obj(v, p);
      if (!o) return;
      this.onlyFields(o, ['element', 'read', 'write', 'impact'], p);
      const el = this.str(o, 'element', p);
      const read = this.strList(o, 'read', p, false);
      const write = this.strList(o, 'write', p, false);
      read.forEach((x, j) => x === '*' || this.genericAgent(x, `${p}.read[${j}]`));
      write.forEach((x, j) => x === '*' || this.genericAgent(x, `${p}.write[${j}]`));
      let impact = { read: 3, write: 3 };
      if (o.impact !== undefined) {
        const im = this.obj(o.impact, `${p}.impact`);
        if (im) {
          for (const k of ['read', 'write'] as const) {
            const x = im[k];
            if (typeof x !== 'number' || !Number.isInteger(x) || x < 1 || x > RISK_SCALE_MAX)
              this.issue(`${p}.impact.${k}`, `impact.${k} must be an integer 1…${RISK_SCALE_MAX}`);
          }
          impact = { read: Number(im.read) || 3, write: Number(im.write) || 3 };
        }
      }
      if (!el) return;
      const d = this.atomDecl.get(el);
      if (!d) return this.issue(`${p}.element`, `unknown atom "${el}"`);
      if (d.type === 'const' || d.type === 'counter') this.issue(`${p}.element`, `"${el}" is a ${d.type}: public, nothing to protect`);
      const gens = new Set<string>();
      if (d.per && (this.agentsGeneric.get(d.per)?.instances ?? 1) > 1) gens.add(d.per);
      for (const c of this.contexts(gens)) {
        const t = d.type === 'keypair' ? app('sk', [this.atomTerm(el, c)!]) : this.atomTerm(el, c);
        if (!t) continue;
        if (d.type === 'keypair') this.names.set(t, `sk(${el})`);
        const all = [...this.agentsGeneric.keys()];
        const expand = (gs: string[]): string[] =>
          (gs.includes('*') ? all : gs).flatMap((g) => (d.per === g && c.has(g) ? [c.get(g)!] : this.instancesOf(g)));
        requirements.push({
          element: t,
          generic: el,
          read: expand(read),
          write: expand(write),
          readPublic: read.includes('*'),
          writePublic: write.includes('*'),
          impact,
        });
      }
    });

    // attacks
    const allInstances = [...this.agentsGeneric.keys()].flatMap((g) => this.instancesOf(g));
    const attacks: AttackModel[] = [];
    const firstCtx: Ctx = new Map(
      [...this.agentsGeneric.entries()].filter(([, a]) => a.instances > 1).map(([g]) => [g, this.instancesOf(g)[0]]),
    );
    this.arr(root, 'attacks', '').forEach((v, i) => {
      const p = `attacks[${i}]`;
      const o = this.obj(v, p);
      if (!o) return;
      this.onlyFields(o, ['id', 'name', 'network', 'links', 'phases', 'compromised', 'leaks', 'likelihood', 'note'], p);
      const id = this.str(o, 'id', p);
      const nm = this.str(o, 'name', p);
      const network = (o.network as Network) ?? 'none';
      if (!(NETWORK as readonly string[]).includes(network)) this.issue(`${p}.network`, `network must be one of ${NETWORK.join(', ')}`);
      const ls = o.links === undefined ? ['*'] : this.strList(o, 'links', p);
      const linkNames: string[] = [];
      ls.forEach((l, j) => {
        if (l === '*') linkNames.push(...links.filter((L) => !L.private).map((L) => L.name));
        else if (linkGeneric.has(l)) linkNames.push(...links.filter((L) => L.generic === l).map((L) => L.name));
        else if (links.some((L) => L.name === l)) linkNames.push(l);
        else this.issue(`${p}.links[${j}]`, `unknown link "${l}"`);
      });
      const ph = o.phases === undefined ? phases : this.strList(o, 'phases', p);
      ph.forEach((x, j) => phases.includes(x) || this.issue(`${p}.phases[${j}]`, `unknown phase "${x}"`));
      const comp: string[] = [];
      this.strList(o, 'compromised', p).forEach((x, j) => {
        if (allInstances.includes(x)) comp.push(x);
        else if (this.agentsGeneric.has(x)) comp.push(this.instancesOf(x)[0]);
        else this.issue(`${p}.compromised[${j}]`, `unknown agent "${x}"`);
      });
      const leaks: Term[] = [];
      this.strList(o, 'leaks', p).forEach((x, j) => {
        const t = this.resolve(x, `${p}.leaks[${j}]`, firstCtx);
        if (t) leaks.push(t);
      });
      const lk = o.likelihood ?? 3;
      if (typeof lk !== 'number' || !Number.isInteger(lk) || lk < 1 || lk > RISK_SCALE_MAX)
        this.issue(`${p}.likelihood`, `likelihood must be an integer 1…${RISK_SCALE_MAX}`);
      if (id && nm)
        attacks.push({
          id,
          name: nm,
          network,
          links: [...new Set(linkNames)],
          phases: ph,
          compromised: comp,
          leaks,
          likelihood: Number(lk) || 3,
          note: o.note as string | undefined,
        });
    });

    // risk
    const risk: Model['risk'] = {
      maxScore: 6,
      grid: undefined,
      likelihoodLabels: DEFAULT_LIKELIHOOD,
      impactLabels: DEFAULT_IMPACT,
      checks: {},
    };
    if (root.risk !== undefined) {
      const r = this.obj(root.risk, 'risk');
      if (r) {
        this.onlyFields(r, ['acceptance', 'likelihoodLabels', 'impactLabels', 'checks'], 'risk');
        const ch = r.checks !== undefined ? this.obj(r.checks, 'risk.checks') : undefined;
        for (const [k, v] of Object.entries(ch ?? {})) {
          const cp = `risk.checks.${k}`;
          if (!(CHECK_KINDS as readonly string[]).includes(k)) this.issue(cp, `unknown check "${k}" (checks: ${CHECK_KINDS.join(', ')})`);
          const o = this.obj(v, cp);
          if (!o) continue;
          this.onlyFields(o, ['likelihood', 'impact'], cp);
          const lk = o.likelihood;
          if (typeof lk !== 'number' || !Number.isInteger(lk) || lk < 1 || lk > RISK_SCALE_MAX)
            this.issue(`${cp}.likelihood`, `likelihood must be an integer 1…${RISK_SCALE_MAX}`);
          if (
            o.impact !== undefined &&
            (typeof o.impact !== 'number' || !Number.isInteger(o.impact) || o.impact < 1 || o.impact > RISK_SCALE_MAX)
          )
            this.issue(`${cp}.impact`, `impact must be an integer 1…${RISK_SCALE_MAX}`);
          risk.checks[k] = { likelihood: Number(lk) || 3, impact: o.impact as number | undefined };
        }
        const acc = r.acceptance !== undefined ? this.obj(r.acceptance, 'risk.acceptance') : undefined;
        if (acc) {
          this.onlyFields(acc, ['maxScore', 'grid'], 'risk.acceptance');
          if (acc.maxScore !== undefined) {
            if (typeof acc.maxScore !== 'number' || acc.maxScore < 1 || acc.maxScore > 25)
              this.issue('risk.acceptance.maxScore', 'maxScore must be a number 1…25 (likelihood × impact)');
            else risk.maxScore = acc.maxScore;
          }
          if (acc.grid !== undefined) {
            const g = this.strList(acc, 'grid', 'risk.acceptance');
            if (g.length !== RISK_SCALE_MAX || g.some((row) => !/^[AU]{5}$/.test(row)))
              this.issue(
                'risk.acceptance.grid',
                'grid is 5 strings of 5 letters A (acceptable) / U (unacceptable), likelihood 5 first, impact 1…5 left to right',
              );
            else risk.grid = g;
          }
        }
        for (const k of ['likelihoodLabels', 'impactLabels'] as const) {
          if (r[k] !== undefined) {
            const l = this.strList(r, k, 'risk');
            if (l.length !== RISK_SCALE_MAX) this.issue(`risk.${k}`, `${k} needs exactly ${RISK_SCALE_MAX} labels`);
            else risk[k] = l;
          }
        }
      }
    }

    const properties = parseProperties(root, new Set(this.atomDecl.keys()), (path, msg) => this.issue(path, msg));
    const availability = parseAvailability(root, new Set(attacks.map((a) => a.id)), (path, msg) => this.issue(path, msg));

    // frames of every let, resolved at the first instance (for the code agreement test)
    const frames: Model['frames'] = [];
    for (const [n, l] of this.letDecl) {
      if (!l.frame) continue;
      const env = new Map(l.params.map((x) => [x, atom(`'${x}'`)] as [string, Term]));
      const t = this.resolve(l.term, l.path, firstCtx, undefined, env);
      if (t) frames.push({ let: n, frame: l.frame, term: t });
    }
    if (this.issues.length) throw new ModelError(this.file, this.issues);
    const agents: Agent[] = [...this.agentsGeneric.entries()].flatMap(([g, a]) =>
      this.instancesOf(g).map((n) => ({ name: n, generic: g, label: a.label })),
    );
    return {
      name,
      description: this.f.description,
      agents,
      phases,
      links,
      atoms: this.atoms,
      names: this.names,
      messages,
      requirements,
      attacks,
      properties,
      availability,
      risk,
      file: this.f,
      frames,
    };
  }

  /** The message a trigger names (a plain id, or ID.n for hop n of a wrapped relay) and who receives it. */
  private triggerInfo(
    trigger: string,
    msgArr: unknown[],
    ids: Map<string, string>,
  ): { tm: Record<string, unknown>; receiver: string } | undefined {
    const direct = ids.get(trigger);
    const hop = /^(.*)\.(\d+)$/.exec(trigger);
    const p = direct ?? (hop ? ids.get(hop[1]) : undefined);
    if (!p) return undefined;
    const tm = msgArr[Number(p.slice(9, -1))] as Record<string, unknown>;
    const wrap = Array.isArray(tm.wrap) ? tm.wrap : [];
    const path = [tm.from, ...(Array.isArray(tm.via) ? tm.via : []), tm.to] as string[];
    if (direct) return wrap.length ? undefined : { tm, receiver: String(tm.to) };
    const n = Number(hop![2]);
    if (!wrap.length || n < 1 || n > wrap.length) return undefined;
    return { tm, receiver: path[n] };
  }

  private triggerSuffix(trigger: string, msgArr: unknown[], ids: Map<string, string>, c: Ctx): string {
    const tm = this.triggerInfo(trigger, msgArr, ids)!.tm;
    const gens = new Set<string>();
    for (const a of [tm.from, tm.to, ...((tm.via as string[]) ?? [])])
      if (typeof a === 'string' && (this.agentsGeneric.get(a)?.instances ?? 1) > 1) gens.add(a);
    if (typeof tm.term === 'string') this.deps(tm.term, `trigger ${trigger}`, gens);
    return gens.size ? `@${[...gens].map((g) => c.get(g) ?? this.instancesOf(g)[0]).join(',')}` : '';
  }

  private checkCheck(c: unknown, cp: string): void {
    const co = this.obj(c, cp);
    if (!co) return;
    this.onlyFields(co, ['counter', 'atomic', 'sig', 'tag'], cp);
    const kinds = ['counter', 'sig', 'tag'].filter((k) => co[k] !== undefined);
    if (kinds.length !== 1) this.issue(cp, 'a check is exactly one of {"counter": c, "atomic": bool}, {"sig": keypair}, {"tag": key}');
    if (co.counter !== undefined && this.atomDecl.get(String(co.counter))?.type !== 'counter')
      this.issue(`${cp}.counter`, `"${String(co.counter)}" is not a counter atom`);
    if (co.sig !== undefined && this.atomDecl.get(String(co.sig))?.type !== 'keypair')
      this.issue(`${cp}.sig`, `"${String(co.sig)}" is not a key pair atom`);
    if (co.tag !== undefined && this.atomDecl.get(String(co.tag))?.type !== 'symkey')
      this.issue(`${cp}.tag`, `"${String(co.tag)}" is not a symmetric key atom`);
    if (co.atomic !== undefined && typeof co.atomic !== 'boolean') this.issue(`${cp}.atomic`, 'atomic must be true or false');
  }

  private atomTermIn(name: string, c: Ctx): Term | null {
    if (!this.atomDecl.has(name)) return null;
    return this.atomTerm(name, c);
  }

  private occursIn(sub: Term, t: Term): boolean {
    if (sub === t) return true;
    return t.args.some((a) => this.occursIn(sub, a));
  }

  private checkFrame(v: unknown, p: string): void {
    const o = this.obj(v, p);
    if (!o) return;
    this.onlyFields(o, ['layer', 'op', 'dir', 'enc', 'tag'], p);
    if (o.layer !== 'e2e' && o.layer !== 'link') this.issue(`${p}.layer`, 'layer must be "e2e" or "link"');
    if (typeof o.op !== 'string') this.issue(`${p}.op`, 'op must be the operation/link type name, e.g. "READING"');
    if (o.dir !== 'UP' && o.dir !== 'DOWN') this.issue(`${p}.dir`, 'dir must be "UP" or "DOWN"');
    if (o.enc !== 0 && o.enc !== 1) this.issue(`${p}.enc`, 'enc must be 0 or 1');
    if (typeof o.tag !== 'number') this.issue(`${p}.tag`, 'tag must be the tag length in bytes');
  }
}
