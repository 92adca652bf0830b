/**
 * Attack-independent preparation shared by every check: each agent's honest knowledge, each
 * receiver's pattern (what it checks and what it learns), and the rules for when a receiver accepts
 * a way of building a message (counter freshness) and how an attacker gets it delivered.
 */
import { ADV, app as appOf, atom as atomOf, occurs, replace, show as showTerm, subterms, variable, type Term } from './term.ts';
import { Knowledge, match, type Solution } from './dy.ts';
import type { Model, Msg } from './model.ts';

export interface Pattern {
  pat: Term;
  /** variable → the ground subterm it stands for in the honest message */
  origin: Map<Term, Term>;
}

/** Shared, attack-independent preparation: per-agent honest knowledge and receiver patterns. */
export class Prepared {
  readonly isTuple: (n: string) => boolean;
  readonly patterns = new Map<string, Pattern>();
  readonly agentK = new Map<string, Knowledge>();
  readonly byId = new Map<string, Msg>();
  readonly show: (t: Term) => string;

  constructor(readonly model: Model) {
    const tuples = new Set(['tuple', ...(model.file.tuples ?? [])]);
    this.isTuple = (n) => tuples.has(n);
    this.show = (t) => showTerm(t, (u) => model.names.get(u));
    for (const a of model.agents) {
      const k = new Knowledge(model.atoms, this.isTuple);
      for (const info of model.atoms.values()) {
        if (!info.holders.includes(a.name)) continue;
        k.add(info.type === 'keypair' ? appOf('sk', [info.term]) : info.term, { kind: 'init', note: `held by ${a.name} from the start` });
      }
      k.saturate();
      this.agentK.set(a.name, k);
    }
    for (const m of model.messages) {
      this.byId.set(m.id, m);
      this.patterns.set(m.id, this.pattern(m, this.agentK.get(m.to)!));
      for (const a of [m.from, ...m.via, m.to]) {
        const k = this.agentK.get(a)!;
        k.add(m.term, { kind: 'msg', msg: m.id });
        k.saturate();
      }
    }
  }

  /** What agent a holds and learns in the run without the `absent` messages. */
  knowledgeOf(a: string, absent: Set<string>): Set<Term> {
    const k = new Knowledge(this.model.atoms, this.isTuple);
    for (const info of this.model.atoms.values())
      if (info.holders.includes(a))
        k.add(info.type === 'keypair' ? appOf('sk', [info.term]) : info.term, { kind: 'init', note: `held by ${a} from the start` });
    for (const m of this.model.messages)
      if (!absent.has(m.id) && [m.from, ...m.via, m.to].includes(a)) k.add(m.term, { kind: 'msg', msg: m.id });
    k.saturate();
    return k.known;
  }

  private units = new Map<string, Term[]>();

  /** The channel a message arrives on: last-hop sender, receiver and link. */
  channelOf(m: Msg): string {
    return `${m.via.length ? m.via[m.via.length - 1] : m.from}>${m.to}:${m.links[m.links.length - 1] ?? ''}`;
  }

  /** Every sealed unit (aead, mac, senc, wrap, sign, penc) inside messages sent on the channel of m. */
  channelUnits(m: Msg): Term[] {
    const key = this.channelOf(m);
    let list = this.units.get(key);
    if (!list) {
      const set = new Set<Term>();
      const walk = (t: Term): void => {
        if (['aead', 'mac', 'senc', 'wrap', 'sign', 'penc'].includes(t.name) && t.kind === 'fn') set.add(t);
        t.args.forEach(walk);
      };
      for (const x of this.model.messages) if (this.channelOf(x) === key) walk(x.term);
      this.units.set(key, (list = [...set]));
    }
    return list;
  }

  /** memo of forgedVariant */
  readonly forged = new Map<Term, Term>();
  forgedMap?: Map<Term, Term>;
  private parts = new Map<string, Set<Term>>();
  /** Every subterm of m's term (memoised). */
  partsOf(m: Msg): Set<Term> {
    let set = this.parts.get(m.id);
    if (!set) this.parts.set(m.id, (set = subterms(m.term)));
    return set;
  }
  private counterParts = new Map<string, Term[]>();
  /** The counter atoms occurring in m's term (memoised). */
  countersOf(m: Msg): Term[] {
    let list = this.counterParts.get(m.id);
    if (!list) this.counterParts.set(m.id, (list = [...this.partsOf(m)].filter((u) => this.model.atoms.get(u)?.type === 'counter')));
    return list;
  }

  private honest?: Set<Term>;
  /** True for a term that is (part of) a message some honest agent sends in the model's run. */
  recorded(t: Term): boolean {
    if (!this.honest) {
      this.honest = new Set();
      for (const m of this.model.messages) subterms(m.term, this.honest);
    }
    return this.honest.has(t);
  }

  private relayed = new Map<string, Term[]>();
  /** The opaque parts relays pass on unread in the messages sent on the channel of m. */
  relayedParts(m: Msg): Term[] {
    const key = this.channelOf(m);
    let list = this.relayed.get(key);
    if (!list) {
      const set = new Set<Term>();
      for (const x of this.model.messages) {
        const trig = x.trigger ? this.byId.get(x.trigger) : undefined;
        if (!trig || this.channelOf(x) !== key) continue;
        for (const orig of this.patterns.get(trig.id)!.origin.values())
          if (orig.kind === 'fn' && !this.model.atoms.has(orig)) set.add(orig);
      }
      this.relayed.set(key, (list = [...set]));
    }
    return list;
  }

  private views = new Map<string, Term>();
  /** The receiver's view of m with what it cannot interpret (counters, opaque parts) blanked out. */
  viewOf(m: Msg): Term {
    let v = this.views.get(m.id);
    if (!v) {
      const pat = this.patterns.get(m.id)!;
      const blank = new Map<Term, Term>();
      for (const [x, orig] of pat.origin) {
        const info = this.model.atoms.get(orig);
        blank.set(x, info && info.type !== 'counter' ? atomOf(`?${info.generic}`) : atomOf('?'));
      }
      this.views.set(m.id, (v = replace(pat.pat, blank)));
    }
    return v;
  }

  private twins = new Map<string, Msg[]>();
  /** m and the messages its receiver accepts under counter c that it cannot tell from m. */
  sameFrameAs(m: Msg, c: Term): Msg[] {
    const key = `${m.id}\u0000${c.id}`;
    let list = this.twins.get(key);
    if (!list) {
      const view = this.viewOf(m);
      list = [m, ...this.model.messages.filter((x) => x !== m && x.to === m.to && x.counters.includes(c) && this.viewOf(x) === view)];
      this.twins.set(key, list);
    }
    return list;
  }

  /** What the receiver accepts: the message with learned values as variables, unverifiable parts opaque. */
  pattern(m: Msg, k: Knowledge): Pattern {
    const origin = new Map<Term, Term>();
    const v = (name: string, t: Term): Term => {
      const x = variable(name);
      origin.set(x, t);
      return x;
    };
    const go = (t: Term, keyPos: boolean): Term => {
      const info = this.model.atoms.get(t);
      if (t.kind === 'atom') {
        if (!info) return t;
        if (info.type === 'counter' || info.type === 'data' || info.type === 'nonce') return v(t.name, t);
        if ((info.type === 'symkey' || info.type === 'keypair') && !keyPos && !k.canDerive(t)) return v(t.name, t);
        return t;
      }
      if (info && !keyPos && !k.canDerive(t)) return v(this.show(t), t); // a transported derived key
      const n = t.name;
      if (n === 'aead' || n === 'senc' || n === 'wrap' || n === 'mac') {
        if (!k.canDerive(t.args[0])) return v(`blob#${t.id}`, t);
        return rebuild(t, [t.args[0], ...t.args.slice(1).map((a) => go(a, false))]);
      }
      if (n === 'penc') {
        const opener = Knowledge.openingKey(t);
        if (!opener || !k.canDerive(opener)) return v(`blob#${t.id}`, t);
        return rebuild(t, [t.args[0], go(t.args[1], false)]);
      }
      if (n === 'sign') {
        const kp = t.args[0].args[0];
        if (m.sigs.includes(kp)) return rebuild(t, [t.args[0], go(t.args[1], false)]);
        return rebuild(t, [v(`anysigner#${t.id}`, t.args[0]), go(t.args[1], false)]);
      }
      if (n === 'pk' || n === 'sk') return t;
      if (n === 'kdf' || n === 'hash') return k.canDerive(t) ? t : v(`blob#${t.id}`, t);
      return rebuild(
        t,
        t.args.map((a) => go(a, false)),
      );
    };
    return { pat: go(m.term, false), origin };
  }
}

function rebuild(t: Term, args: Term[]): Term {
  return args.every((a, i) => a === t.args[i]) ? t : appOf(t.name, args);
}

/**
 * The receiver accepts this way of building the message (every checked counter is fresh). A
 * recorded counter value is stale when the sealed unit that binds it was recorded from this very
 * message (a replay), or from another message the same receiver accepts under the same counter and
 * cannot tell apart from this one (a relay that cannot see inside a frame: to it both are the same
 * frame, used up at its first delivery). A frame of another message the receiver does interpret
 * differently is its first delivery under that interpretation — which is how substitution shows up.
 */
export function accepted(prep: Prepared, m: Msg, s: Solution): boolean {
  if (!m.atomic) return true;
  for (const c of m.counters) {
    if (s.sigma.get(variable(c.name)) !== c) continue;
    if (s.uses.length === 0) return false;
    const twins = prep.sameFrameAs(m, c);
    for (const u of s.uses) for (const v of sealedAround(c, u)) if (twins.some((t) => prep.partsOf(t).has(v))) return false;
  }
  return true;
}

export const SEALS = new Set(['aead', 'mac', 'senc', 'wrap', 'sign', 'penc']);
/** The sealed units inside t that contain c (the protection a counter value is bound by). */
function sealedAround(c: Term, t: Term, out: Term[] = []): Term[] {
  if (!occurs(c, t)) return out;
  if (SEALS.has(t.name) && t.kind === 'fn') out.push(t);
  for (const a of t.args) sealedAround(c, a, out);
  return out;
}

export function agentOfLastHop(m: Msg): string {
  return m.via.length ? m.via[m.via.length - 1] : m.from;
}

/** The term with every datum, counter and nonce replaced by the attacker's own value. */
export function forgedVariant(prep: Prepared, t: Term): Term {
  let v = prep.forged.get(t);
  if (!v) {
    if (!prep.forgedMap) {
      prep.forgedMap = new Map();
      for (const [term, info] of prep.model.atoms)
        if (info.type === 'data' || info.type === 'counter' || info.type === 'nonce') prep.forgedMap.set(term, ADV);
    }
    prep.forged.set(t, (v = replace(t, prep.forgedMap)));
  }
  return v;
}

/** Solutions for a receiver pattern the attacker can actually get delivered. */
export function solutionsDeliverable(
  prep: Prepared,
  K: Knowledge,
  m: Msg,
  pat: Pattern,
  inject: boolean,
  oracleOut: Map<Term, string>,
): Solution[] {
  if (inject) return K.solutions(pat.pat);
  // Without access to the last hop, only an honest relay's output on that channel reaches the receiver.
  const out: Solution[] = [];
  const channel = prep.channelOf(m);
  for (const [t, id] of oracleOut) {
    if (prep.channelOf(prep.byId.get(id)!) !== channel) continue;
    const s = match(pat.pat, t, new Map());
    if (s) out.push({ sigma: s, uses: [t] });
  }
  return out;
}

/** Replay impact of a message nothing in the model rates: "moderate" on the 1…5 scale. */
export const DEFAULT_MESSAGE_IMPACT = 3;

/**
 * What making the receiver act on m achieves: the impact the model gives the message, else the
 * highest write impact of what the receiver takes out of it (its data and keys — not every key the
 * frame's keys were derived from), else DEFAULT_MESSAGE_IMPACT.
 */
export function impactOf(prep: Prepared, m: Msg): number {
  if (m.impact !== undefined) return m.impact;
  const learned = new Set(prep.patterns.get(m.id)!.origin.values());
  const rated = prep.model.requirements.filter((r) => learned.has(r.element)).map((r) => r.impact.write);
  return rated.length ? Math.max(...rated) : DEFAULT_MESSAGE_IMPACT;
}

/** The agent that first put `el` into the chain of relayed messages ending in m. */
export function originOf(prep: Prepared, m: Msg, el: Term): string {
  let src = m;
  for (let hop = 0; hop < 16 && src.trigger; hop++) {
    const t = prep.byId.get(src.trigger);
    if (!t || !occurs(el, t.term)) break;
    src = t;
  }
  return src.from;
}
