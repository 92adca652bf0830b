/**
 * The model's declarations, parsed in file order: agents (with their instance counts), phases,
 * tuple names, links between agents (one per pair of instances), atoms and lets. Atoms are
 * declared first and resolved afterwards, so a derivation may refer to an atom declared later.
 */
import { isCrypto } from './term.ts';
import { ATOM_TYPES, type AtomType, type CheckSpec, type FrameSpec, type Link } from './model-types.ts';
import type { TermResolver } from './model-terms.ts';
import type { ModelReader, PlacedCheck } from './model-reader.ts';

/** Most instances of one agent. */
const MAX_INSTANCES = 16;

/** A link as declared: between two generic agents. */
export type GenericLinks = Map<string, { a: string; b: string; private: boolean }>;

/** `agents`, then `phases` and `tuples`; returns the phases. */
export function parseAgents(r: ModelReader, root: Record<string, unknown>): string[] {
  r.eachObject(root, 'agents', false, (o, p) => {
    r.onlyFields(o, ['name', 'instances', 'label'], p);
    const n = r.str(o, 'name', p);
    const inst = o.instances ?? 1;
    if (typeof inst !== 'number' || !Number.isInteger(inst) || inst < 1 || inst > MAX_INSTANCES)
      r.issue(`${p}.instances`, `instances must be an integer 1…${MAX_INSTANCES}`);
    if (n) {
      if (r.agentsGeneric.has(n)) r.issue(`${p}.name`, `agent "${n}" declared twice`);
      r.agentsGeneric.set(n, { instances: typeof inst === 'number' ? inst : 1, label: o.label as string | undefined });
    }
  });
  const phases = r.strList(root, 'phases', '', false);
  for (const t of r.strList(root, 'tuples', '')) {
    if (isCrypto(t)) r.issue('tuples', `"${t}" is a crypto function, not a tuple name`);
    r.tuples.add(t);
  }
  return phases;
}

/** `links`: each declared link instantiated once per instance pair of its agents. */
export function parseLinks(r: ModelReader, root: Record<string, unknown>): { links: Link[]; linkGeneric: GenericLinks } {
  const links: Link[] = [];
  const linkGeneric: GenericLinks = new Map();
  r.eachObject(root, 'links', false, (o, p) => {
    r.onlyFields(o, ['name', 'a', 'b', 'private'], p);
    const n = r.str(o, 'name', p);
    const a = r.str(o, 'a', p);
    const b = r.str(o, 'b', p);
    if (!n || !a || !b) return;
    if (!r.genericAgent(a, `${p}.a`) || !r.genericAgent(b, `${p}.b`)) return;
    linkGeneric.set(n, { a, b, private: o.private === true });
    const gens = new Set([a, b].filter((x) => r.replicated(x)));
    for (const c of r.contexts(gens)) {
      const ia = r.inst(a, c);
      const ib = r.inst(b, c);
      links.push({ name: gens.size ? `${n}@${[...c.values()].join(',')}` : n, generic: n, a: ia, b: ib, private: o.private === true });
    }
  });
  return { links, linkGeneric };
}

/** `atoms`: declared (checked, not yet resolved); only fields of the right type are kept. */
function declareAtoms(r: ModelReader, root: Record<string, unknown>): void {
  r.eachObject(root, 'atoms', false, (o, p) => {
    r.onlyFields(o, ['name', 'type', 'per', 'holders', 'derive', 'abstract', 'label'], p);
    const n = r.str(o, 'name', p);
    const ty = r.str(o, 'type', p);
    if (ty && !(ATOM_TYPES as readonly string[]).includes(ty)) r.issue(`${p}.type`, `type must be one of ${ATOM_TYPES.join(', ')}`);
    const per = r.str(o, 'per', p, true);
    if (per !== undefined) r.genericAgent(per, `${p}.per`);
    const holders = o.holders === undefined ? undefined : r.strList(o, 'holders', p);
    for (const [j, h] of (holders ?? []).entries()) r.genericAgent(h, `${p}.holders[${j}]`);
    const derive = typeof o.derive === 'string' ? o.derive : undefined;
    if (o.derive !== undefined && derive === undefined) r.issue(`${p}.derive`, 'derive must be a term string');
    if (o.derive !== undefined && ty !== 'symkey') r.issue(`${p}.derive`, 'only symmetric keys can be derived');
    if (o.derive !== undefined && o.holders !== undefined)
      r.issue(`${p}.holders`, 'a derived key has no holders: whoever can compute it holds it');
    const abstract = r.str(o, 'abstract', p, true);
    const label = r.str(o, 'label', p, true);
    if (!n) return;
    if (r.atomDecl.has(n) || r.agentsGeneric.has(n)) r.issue(`${p}.name`, `name "${n}" already used`);
    r.atomDecl.set(n, { name: n, type: ty as AtomType, per, holders, derive, abstract, label });
    r.atomPath.set(n, p);
  });
}

/** `lets`: named terms, maybe with parameters, a frame (for the code agreement test) and checks for the messages they wrap. */
function declareLets(r: ModelReader, root: Record<string, unknown>): void {
  r.eachObject(root, 'lets', true, (o, p) => {
    r.onlyFields(o, ['name', 'params', 'term', 'frame', 'checks'], p);
    const n = r.str(o, 'name', p);
    const t = r.str(o, 'term', p);
    const params = r.strList(o, 'params', p);
    const lchecks = readChecks(r, o, p);
    if (o.frame !== undefined) checkFrame(r, o.frame, `${p}.frame`);
    if (!n || !t) return;
    if (r.atomDecl.has(n) || r.agentsGeneric.has(n) || r.letDecl.has(n)) r.issue(`${p}.name`, `name "${n}" already used`);
    r.letDecl.set(n, { term: t, path: `${p}.term`, frame: o.frame as FrameSpec | undefined, params, checks: lchecks });
  });
}

/** `atoms` and `lets` declared, then every atom resolved at every instance so holders and types are known. */
export function parseAtomsAndLets(r: TermResolver, root: Record<string, unknown>): void {
  declareAtoms(r, root);
  declareLets(r, root);
  for (const [n, d] of r.atomDecl) {
    const gens = new Set<string>();
    if (d.per && r.replicated(d.per)) gens.add(d.per);
    if (d.derive) r.deps(d.derive, `${r.atomPath.get(n)}.derive`, gens);
    for (const c of r.contexts(gens)) r.atomTerm(n, c);
  }
}

/** The atom type each kind of check names. */
const CHECK_ATOM = {
  counter: ['counter', 'a counter atom'],
  sig: ['keypair', 'a key pair atom'],
  tag: ['symkey', 'a symmetric key atom'],
} as const;

/** `checks` of a message or let (`p`): the well-formed ones, each with its path; an issue for the others. */
export function readChecks(r: ModelReader, o: Record<string, unknown>, p: string): PlacedCheck[] {
  const placed: PlacedCheck[] = [];
  r.arr(o, 'checks', p, true).forEach((c, j) => {
    const spec = readCheck(r, c, `${p}.checks[${j}]`);
    if (spec) placed.push({ spec, path: `${p}.checks[${j}]` });
  });
  return placed;
}

/** One check: exactly one of counter (with atomic), sig, tag, naming an atom of the right type; undefined (with issues) otherwise. */
function readCheck(r: ModelReader, c: unknown, cp: string): CheckSpec | undefined {
  const co = r.obj(c, cp);
  if (!co) return undefined;
  let ok = r.onlyFields(co, ['counter', 'atomic', 'sig', 'tag'], cp);
  const bad = (path: string, message: string): void => {
    r.issue(path, message);
    ok = false;
  };
  const kinds = ['counter', 'sig', 'tag'].filter((k) => co[k] !== undefined);
  if (kinds.length !== 1) bad(cp, 'a check is exactly one of {"counter": c, "atomic": bool}, {"sig": keypair}, {"tag": key}');
  for (const k of ['counter', 'sig', 'tag'] as const) {
    const [type, what] = CHECK_ATOM[k];
    if (co[k] !== undefined && (typeof co[k] !== 'string' || r.atomDecl.get(co[k])?.type !== type))
      bad(`${cp}.${k}`, `"${String(co[k])}" is not ${what}`);
  }
  if (co.atomic !== undefined && typeof co.atomic !== 'boolean') bad(`${cp}.atomic`, 'atomic must be true or false');
  return ok ? (co as CheckSpec) : undefined;
}

/** The frame of a let: which wire frame of the code its term stands for. */
function checkFrame(r: ModelReader, v: unknown, p: string): void {
  const o = r.obj(v, p);
  if (!o) return;
  r.onlyFields(o, ['layer', 'op', 'dir', 'enc', 'tag'], p);
  if (o.layer !== 'e2e' && o.layer !== 'link') r.issue(`${p}.layer`, 'layer must be "e2e" or "link"');
  if (typeof o.op !== 'string') r.issue(`${p}.op`, 'op must be the operation/link type name, e.g. "READING"');
  if (o.dir !== 'UP' && o.dir !== 'DOWN') r.issue(`${p}.dir`, 'dir must be "UP" or "DOWN"');
  if (o.enc !== 0 && o.enc !== 1) r.issue(`${p}.enc`, 'enc must be 0 or 1');
  if (typeof o.tag !== 'number') r.issue(`${p}.tag`, 'tag must be the tag length in bytes');
}
