/**
 * The model's messages: each checked (phase, agents, route, wrap, trigger, checks, key update),
 * then instantiated: a wrapped relay becomes one message per hop (ID.1, ID.2, …), and every hop once
 * per instantiation of the replicated agents its term depends on (`ID@Meter2`). Sorted by phase.
 */
import type { Term } from './term.ts';
import { RISK_SCALE_MAX, type Link, type Msg } from './model-types.ts';
import { isScaleValue, type Ctx, type PlacedCheck } from './model-reader.ts';
import type { TermResolver } from './model-terms.ts';
import { readChecks, type GenericLinks } from './model-declarations.ts';

/** Length of the `messages[` prefix of a message's path (its index follows). */
const MESSAGES_PATH_PREFIX = 'messages['.length;

/** What the message parser works against. */
interface MessageScope {
  r: TermResolver;
  /** `messages` as written. */
  msgArr: unknown[];
  /** Message id → its path (`messages[i]`). */
  genericIds: Map<string, string>;
  phases: string[];
  links: Link[];
  linkGeneric: GenericLinks;
}

/** A message as declared, every required field present. */
interface DeclaredMsg {
  o: Record<string, unknown>;
  p: string;
  id: string;
  phase: string;
  from: string;
  to: string;
  src: string;
  via: string[];
  wrap: string[];
  trigger: string | undefined;
  /** The generic link of each hop of the route. */
  hopLinks: string[];
  /** from, via…, to */
  route: string[];
  checks: PlacedCheck[];
  ku: Record<string, unknown> | undefined;
}

/** One hop to instantiate: the whole message, or one hop of a wrapped relay. */
interface Hop {
  id: string;
  from: string;
  to: string;
  via: string[];
  src: string;
  links: string[];
  trigger?: string;
  checks: PlacedCheck[];
}

/** `messages`, instantiated and sorted by phase. */
export function parseMessages(
  r: TermResolver,
  root: Record<string, unknown>,
  phases: string[],
  links: Link[],
  linkGeneric: GenericLinks,
): Msg[] {
  const messages: Msg[] = [];
  const genericIds = new Map<string, string>();
  const msgArr = r.arr(root, 'messages', '');
  msgArr.forEach((v, i) => {
    const id = (v as Record<string, unknown> | null)?.id;
    if (id && typeof id === 'string') genericIds.set(id, `messages[${i}]`);
  });
  const s: MessageScope = { r, msgArr, genericIds, phases, links, linkGeneric };
  msgArr.forEach((v, i) => {
    const p = `messages[${i}]`;
    const o = r.obj(v, p);
    if (!o) return;
    const d = declareMessage(s, o, p);
    if (!d) return;
    const hops = hopsOf(s, d);
    for (const hop of hops) messages.push(...instantiateHop(s, d, hop, hop === hops[hops.length - 1]));
  });
  messages.sort((a, b) => a.phaseIndex - b.phaseIndex);
  return messages;
}

/** Checks a message's fields; the declared message when everything instantiation needs is there. */
function declareMessage(s: MessageScope, o: Record<string, unknown>, p: string): DeclaredMsg | undefined {
  const r = s.r;
  r.onlyFields(
    o,
    ['id', 'phase', 'from', 'to', 'via', 'term', 'label', 'trigger', 'checks', 'abstract', 'idempotent', 'keyUpdate', 'wrap', 'impact'],
    p,
  );
  const id = r.str(o, 'id', p);
  const phase = r.str(o, 'phase', p);
  const from = r.str(o, 'from', p);
  const to = r.str(o, 'to', p);
  const src = r.str(o, 'term', p);
  const via = r.strList(o, 'via', p);
  const wrap = r.strList(o, 'wrap', p);
  if (phase && !s.phases.includes(phase)) r.issue(`${p}.phase`, `unknown phase "${phase}" (phases: ${s.phases.join(', ')})`);
  if (from) r.genericAgent(from, `${p}.from`);
  if (to) r.genericAgent(to, `${p}.to`);
  via.forEach((x, j) => r.genericAgent(x, `${p}.via[${j}]`));
  if (from && to && from === to) r.issue(`${p}.to`, 'a message needs two different agents');
  if (id && [...s.genericIds.entries()].some(([k, q]) => k === id && q !== p)) r.issue(`${p}.id`, `message id "${id}" used twice`);
  const wrapMismatch = wrap.length > 0 && wrap.length !== via.length + 1;
  if (wrapMismatch) r.issue(`${p}.wrap`, `wrap names one let per hop: ${via.length + 1} expected, ${wrap.length} given`);
  let wrapUnknown = false;
  wrap.forEach((w, j) => {
    if (r.letDecl.get(w)?.params.length === 1) return;
    r.issue(`${p}.wrap[${j}]`, `"${w}" is not a let with exactly one parameter`);
    wrapUnknown = true;
  });
  if (o.impact !== undefined && !isScaleValue(o.impact)) r.issue(`${p}.impact`, `impact must be an integer 1…${RISK_SCALE_MAX}`);
  const named = r.str(o, 'trigger', p, true);
  const trigger = named !== undefined && triggerResolves(s, named, from, p) ? named : undefined;
  const route = [from ?? '', ...via, to ?? ''];
  const hopLinks = routeLinks(s, route, p);
  const checks = readChecks(r, o, p);
  const ku = o.keyUpdate !== undefined ? r.obj(o.keyUpdate, `${p}.keyUpdate`) : undefined;
  if (!id || !phase || !from || !to || !src || wrapMismatch || wrapUnknown) return undefined;
  return { o, p, id, phase, from, to, src, via, wrap, trigger, hopLinks, route, checks, ku };
}

/** True when the trigger names a message (or a relay's hop) received by this message's sender; an issue otherwise. */
function triggerResolves(s: MessageScope, trigger: string, from: string | undefined, p: string): boolean {
  const ti = triggerInfo(s, trigger);
  if (!ti) s.r.issue(`${p}.trigger`, `unknown message "${trigger}" (a relayed message is named by its hop: "ID.1", "ID.2", …)`);
  else if (ti.receiver !== from) s.r.issue(`${p}.trigger`, `trigger "${trigger}" is received by ${ti.receiver}, not by the sender ${from}`);
  return ti !== undefined && ti.receiver === from;
}

/** The generic link of each hop of a route; an issue for a hop without one. */
function routeLinks(s: MessageScope, route: string[], p: string): string[] {
  const hopLinks: string[] = [];
  for (let h = 0; h + 1 < route.length; h++) {
    const x = route[h];
    const y = route[h + 1];
    const l = [...s.linkGeneric.entries()].find(([, L]) => (L.a === x && L.b === y) || (L.a === y && L.b === x));
    if (!l) s.r.issue(p, `no link between ${x} and ${y} (declare it in "links")`);
    else hopLinks.push(l[0]);
  }
  return hopLinks;
}

/** A wrapped relay becomes one message per hop; each relay agent is an oracle for the next hop. */
function hopsOf(s: MessageScope, d: DeclaredMsg): Hop[] {
  if (!d.wrap.length)
    return [{ id: d.id, from: d.from, to: d.to, via: d.via, src: d.src, links: d.hopLinks, trigger: d.trigger, checks: d.checks }];
  const hops: Hop[] = [];
  for (let h = 0; h < d.wrap.length; h++) {
    const l = s.r.letDecl.get(d.wrap[h])!; // a let with one parameter: declareMessage checked it
    hops.push({
      id: `${d.id}.${h + 1}`,
      from: d.route[h],
      to: d.route[h + 1],
      via: [],
      src: `${d.wrap[h]}(${d.src})`,
      links: d.hopLinks[h] ? [d.hopLinks[h]] : [],
      trigger: h === 0 ? d.trigger : `${d.id}.${h}`,
      checks: h === d.wrap.length - 1 ? [...l.checks, ...d.checks] : l.checks,
    });
  }
  return hops;
}

/** One hop at every instantiation of the replicated agents it depends on. */
function instantiateHop(s: MessageScope, d: DeclaredMsg, hop: Hop, lastHop: boolean): Msg[] {
  const r = s.r;
  const gens = new Set<string>();
  for (const a of [d.from, d.to, ...d.via]) if (r.replicated(a)) gens.add(a);
  r.deps(d.src, `${d.p}.term`, gens);
  for (const w of d.wrap) r.deps(r.letDecl.get(w)!.term, r.letDecl.get(w)!.path, gens);
  const out: Msg[] = [];
  for (const c of r.contexts(gens)) {
    const frames: Msg['frames'] = [];
    const term = r.resolve(hop.src, `${d.p}.term`, c, frames);
    if (!term) continue;
    const suffix = gens.size ? `@${[...c.values()].join(',')}` : '';
    const m = hopMessage(s, d, hop, c, term, frames, suffix);
    if (hop.trigger) m.trigger = hop.trigger + (hop.trigger.startsWith(d.id + '.') ? suffix : triggerSuffix(s, hop.trigger, c));
    applyChecks(s, m, hop.checks, c, term);
    if (d.ku && lastHop) applyKeyUpdate(s, m, d, c);
    out.push(m);
  }
  return out;
}

/** The message of one hop at instantiation `c`, with the link instance of each of its hops. */
function hopMessage(s: MessageScope, d: DeclaredMsg, hop: Hop, c: Ctx, term: Term, frames: Msg['frames'], suffix: string): Msg {
  const r = s.r;
  const o = d.o;
  const m: Msg = {
    id: hop.id + suffix,
    generic: hop.id,
    phase: d.phase,
    phaseIndex: s.phases.indexOf(d.phase),
    from: r.inst(hop.from, c),
    to: r.inst(hop.to, c),
    via: hop.via.map((x) => r.inst(x, c)),
    term,
    label: (o.label as string) ?? d.id,
    counters: [],
    atomic: true,
    sigs: [],
    tags: [],
    links: [],
    idempotent: o.idempotent === true,
    impact: typeof o.impact === 'number' ? o.impact : undefined,
    abstract: (o.abstract as string) ?? d.id,
    frames,
  };
  const allAgents = [m.from, ...m.via, m.to];
  for (let h = 0; h < hop.links.length; h++) {
    const cand = s.links.filter(
      (L) =>
        L.generic === hop.links[h] &&
        ((L.a === allAgents[h] && L.b === allAgents[h + 1]) || (L.b === allAgents[h] && L.a === allAgents[h + 1])),
    );
    if (cand[0]) m.links.push(cand[0].name);
  }
  return m;
}

/** The hop's checks at instantiation `c`: counters and tag keys must occur in the term. */
function applyChecks(s: MessageScope, m: Msg, checks: PlacedCheck[], c: Ctx, term: Term): void {
  const r = s.r;
  for (const { spec: co, path: cp } of checks) {
    if (co.counter) {
      const ct = r.atomTermIn(co.counter, c);
      if (ct && !r.occursIn(ct, term)) r.issue(`${cp}.counter`, `counter "${co.counter}" does not occur in the term`);
      if (ct) m.counters.push(ct);
      if (co.atomic === false) m.atomic = false;
    }
    if (co.sig) {
      const kp = r.atomTermIn(co.sig, c);
      if (kp) m.sigs.push(kp);
    }
    if (co.tag) {
      const k = r.atomTermIn(co.tag, c);
      if (k && !r.occursIn(k, term)) r.issue(`${cp}.tag`, `key "${co.tag}" does not protect anything in the term`);
      if (k) m.tags.push(k);
    }
  }
}

/** The key update a message carries (old and new key atoms), on its last hop. */
function applyKeyUpdate(s: MessageScope, m: Msg, d: DeclaredMsg, c: Ctx): void {
  const r = s.r;
  const ku = d.ku!;
  const oldT = typeof ku.old === 'string' ? r.atomTermIn(ku.old, c) : null;
  const newT = typeof ku.new === 'string' ? r.atomTermIn(ku.new, c) : null;
  if (!oldT) r.issue(`${d.p}.keyUpdate.old`, 'must name a key atom');
  if (!newT) r.issue(`${d.p}.keyUpdate.new`, 'must name a key atom');
  if (oldT && newT) m.keyUpdate = { old: oldT, new: newT };
}

/** A message a trigger names, as written (it may be malformed itself: its own issues say so). */
interface Triggering {
  /** Its path (`messages[i]`). */
  p: string;
  tm: Record<string, unknown>;
  /** Its `via` when that is an array (only strings in it are agents). */
  via: unknown[];
  /** Who receives the named message or hop. */
  receiver: unknown;
}

/** The message a trigger names (a plain id, or ID.n for hop n of a wrapped relay) and who receives it. */
function triggerInfo(s: MessageScope, trigger: string): Triggering | undefined {
  const direct = s.genericIds.get(trigger);
  const hop = /^(.*)\.(\d+)$/.exec(trigger);
  const p = direct ?? (hop ? s.genericIds.get(hop[1]) : undefined);
  if (!p) return undefined;
  const tm = s.msgArr[Number(p.slice(MESSAGES_PATH_PREFIX, -1))] as Record<string, unknown>;
  const wrap = Array.isArray(tm.wrap) ? tm.wrap : [];
  const via = Array.isArray(tm.via) ? tm.via : [];
  if (direct) return wrap.length ? undefined : { p, tm, via, receiver: tm.to };
  const n = Number(hop![2]);
  if (!wrap.length || n < 1 || n > wrap.length) return undefined;
  return { p, tm, via, receiver: [tm.from, ...via, tm.to][n] };
}

/** The instance suffix of the triggering message at instantiation `c` (its replicated agents at their instances here, else the first). */
function triggerSuffix(s: MessageScope, trigger: string, c: Ctx): string {
  const r = s.r;
  const ti = triggerInfo(s, trigger);
  if (!ti) throw new Error(`trigger "${trigger}" was checked when its message was declared`);
  const gens = new Set<string>();
  for (const a of [ti.tm.from, ti.tm.to, ...ti.via]) if (typeof a === 'string' && r.replicated(a)) gens.add(a);
  if (typeof ti.tm.term === 'string') r.deps(ti.tm.term, `${ti.p}.term`, gens);
  return gens.size ? `@${[...gens].map((g) => c.get(g) ?? r.instancesOf(g)[0]).join(',')}` : '';
}
