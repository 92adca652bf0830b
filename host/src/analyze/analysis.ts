/**
 * The analysis: baseline consistency check (who can read and who originates each element when
 * every agent is honest), one Dolev-Yao closure per attack model (with honest agents as oracles),
 * and protocol checks beyond secrecy (replay, substitution/reflection, forward secrecy of key
 * updates, authenticated key transport). Every verdict is computed from the model's terms.
 */
import { ADV, app as appOf, occurs, replace, show as showTerm, variable, type Term } from './term.ts';
import { Knowledge, match, type Solution } from './dy.ts';
import type { AttackModel, Model, Msg, Requirement } from './model.ts';

/** held: attacker cannot; leaked/forgeable: it can, beyond what it was allowed; exposed: only through a compromised agent allowed to; public: no requirement */
export type ReadStatus = 'held' | 'leaked' | 'exposed' | 'public';
export type WriteStatus = 'held' | 'forgeable' | 'exposed' | 'public';
export type CellStatus = 'ok' | 'leaked' | 'forgeable' | 'unavailable' | 'none';

export interface Trace {
  steps: string[];
  messages: string[];
}

/** Baseline requirement table: per element and agent, required vs actual read/write. */
export interface BaselineRow {
  element: string;
  generic: string;
  cells: { agent: string; readReq: boolean; read: boolean; writeReq: boolean; write: boolean; readStatus: CellStatus; writeStatus: CellStatus; trace?: Trace }[];
}

export interface AttackElement {
  element: string;
  read: ReadStatus;
  write: WriteStatus;
  readTrace?: Trace;
  writeTrace?: Trace;
}

export interface Finding {
  kind: 'confidentiality' | 'integrity' | 'replay' | 'substitution' | 'reflection' | 'forward-secrecy' | 'key-transport';
  attack: string;
  verdict: 'fails' | 'holds';
  subject: string;
  detail: string;
  trace: Trace;
  likelihood: number;
  impact: number;
}

export interface AttackResult {
  attack: AttackModel;
  elements: AttackElement[];
  findings: Finding[];
  verdict: 'holds' | 'fails';
  knownTerms: number;
}

export interface Analysis {
  model: Model;
  baseline: BaselineRow[];
  attacks: AttackResult[];
  checks: Finding[];
  ms: number;
}

interface Pattern {
  pat: Term;
  /** variable → the ground subterm it stands for in the honest message */
  origin: Map<Term, Term>;
}

const MAX_ORACLE_ROUNDS = 4;
const MAX_ORACLE_TERM = 400;

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
      return rebuild(t, t.args.map((a) => go(a, false)));
    };
    return { pat: go(m.term, false), origin };
  }
}

function rebuild(t: Term, args: Term[]): Term {
  return args.every((a, i) => a === t.args[i]) ? t : appOf(t.name, args);
}

/** The receiver accepts this way of building the message (every checked counter is fresh). */
function accepted(m: Msg, s: Solution): boolean {
  if (!m.atomic) return true;
  for (const c of m.counters) {
    if (s.sigma.get(variable(c.name)) !== c) continue;
    // the recorded counter value: stale if it comes from this very message (a replay); a frame of
    // another message read as this one is its first delivery under this interpretation
    if (s.uses.length === 0 || s.uses.some((u) => sealedAround(c, u).some((v) => occurs(v, m.term)))) return false;
  }
  return true;
}

const SEALS = new Set(['aead', 'mac', 'senc', 'wrap', 'sign', 'penc']);
/** The sealed units inside t that contain c (the protection a counter value is bound by). */
function sealedAround(c: Term, t: Term, out: Term[] = []): Term[] {
  if (!occurs(c, t)) return out;
  if (SEALS.has(t.name) && t.kind === 'fn') out.push(t);
  for (const a of t.args) sealedAround(c, a, out);
  return out;
}

function agentOfLastHop(m: Msg): string {
  return m.via.length ? m.via[m.via.length - 1] : m.from;
}

/** Runs one attack model: closure, oracles, then per-element verdicts with traces. */
export function runAttack(prep: Prepared, attack: AttackModel): AttackResult {
  const model = prep.model;
  const K = new Knowledge(model.atoms, prep.isTuple);
  const comp = new Set(attack.compromised);
  for (const t of attack.leaks) K.add(t, { kind: 'init', note: 'leaked (attack model)' });
  for (const a of comp) for (const t of prep.agentK.get(a)!.known) K.add(t, { kind: 'init', note: `known to compromised ${a}` });
  const observed = (m: Msg): boolean =>
    attack.phases.includes(m.phase) && ((attack.network !== 'none' && m.links.some((l) => attack.links.includes(l))) || [m.from, ...m.via, m.to].some((a) => comp.has(a)));
  for (const m of model.messages) if (observed(m)) K.add(m.term, { kind: 'msg', msg: m.id });
  K.saturate();
  const canInject = (m: Msg): boolean => {
    if (!attack.phases.includes(m.phase)) return false;
    if (comp.has(agentOfLastHop(m))) return true;
    const last = m.links[m.links.length - 1];
    return attack.network === 'active' && last !== undefined && attack.links.includes(last);
  };
  const active = attack.network === 'active' || comp.size > 0;

  // Honest agents as oracles: an accepted trigger built by the attacker makes them send their reply.
  const oracleOut = new Map<Term, string>();
  if (active) {
    for (let round = 0; round < MAX_ORACLE_ROUNDS; round++) {
      let grew = false;
      for (const m of model.messages) {
        if (!m.trigger || comp.has(m.from)) continue;
        const trig = prep.byId.get(m.trigger);
        if (!trig) continue;
        const pat = prep.patterns.get(trig.id)!;
        for (const s of solutionsDeliverable(prep, K, trig, pat, canInject(trig), oracleOut)) {
          if (!accepted(trig, s)) continue;
          const map = new Map<Term, Term>();
          let blob: Term | undefined;
          for (const [x, val] of s.sigma) {
            const orig = pat.origin.get(x);
            if (!orig || orig === val) continue;
            map.set(orig, val);
            if (val === ADV && orig.kind === 'fn') blob = orig;
          }
          if (!map.size) continue;
          // the honest sender seals its reply under fresh values of its own counters
          // (only counters it seals itself: a relayed sealed part keeps its sender's counter)
          for (const c of m.counters) if (!map.has(c) && !occurs(c, trig.term)) map.set(c, ADV);
          // an opaque part the relay passes on unread: the attacker fills it with its own version
          // of any sealed part that travels on the same channel (its data and counters), if it can
          // build one, or with an arbitrary value
          const fillers: Term[] = [ADV];
          if (blob) {
            for (const u of [blob, ...prep.channelUnits(m)]) {
              if (u.name !== blob.name) continue;
              const own = forgedVariant(prep, u);
              if (!fillers.includes(own) && K.canDerive(own)) fillers.push(own);
            }
          }
          for (const filler of fillers) {
            if (blob) map.set(blob, filler);
            const out = replace(m.term, map);
            if (out === m.term || out.size > MAX_ORACLE_TERM || K.known.has(out)) continue;
            K.add(out, { kind: 'oracle', msg: m.id, via: s.uses });
            oracleOut.set(out, m.id);
            grew = true;
          }
        }
      }
      K.saturate();
      if (!grew) break;
    }
  }

  const elements: AttackElement[] = [];
  const findings: Finding[] = [];
  // what the attack model hands the attacker directly is a premise, not a finding
  const allowed = (req: Requirement, which: 'read' | 'write'): boolean => [...comp].some((a) => req[which].includes(a)) || (which === 'read' && attack.leaks.includes(req.element));
  for (const req of model.requirements) {
    const el: AttackElement = { element: prep.show(req.element), read: 'held', write: 'held' };
    if (K.canDerive(req.element)) {
      const ex = K.explain(req.element, prep.show);
      el.readTrace = { steps: ex.steps, messages: [...ex.msgs] };
      el.read = req.readPublic ? 'public' : allowed(req, 'read') ? 'exposed' : 'leaked';
      if (el.read === 'leaked')
        findings.push({ kind: 'confidentiality', attack: attack.id, verdict: 'fails', subject: el.element, detail: `attacker derives ${el.element}`, trace: el.readTrace, likelihood: attack.likelihood, impact: req.impact.read });
    }
    if (active) {
      const w = forge(prep, K, req.element, canInject, oracleOut, comp);
      if (w) {
        el.writeTrace = w.trace;
        el.write = req.writePublic ? 'public' : allowed(req, 'write') ? 'exposed' : 'forgeable';
        if (el.write === 'forgeable')
          findings.push({ kind: 'integrity', attack: attack.id, verdict: 'fails', subject: el.element, detail: w.detail, trace: w.trace, likelihood: attack.likelihood, impact: req.impact.write });
      }
    }
    elements.push(el);
  }
  if (active) findings.push(...replayFindings(prep, K, attack, canInject, oracleOut));
  return { attack, elements, findings, verdict: findings.some((f) => f.verdict === 'fails') ? 'fails' : 'holds', knownTerms: K.known.size };
}

/** The term with every datum, counter and nonce replaced by the attacker's own value. */
function forgedVariant(prep: Prepared, t: Term): Term {
  const map = new Map<Term, Term>();
  for (const [term, info] of prep.model.atoms) if (info.type === 'data' || info.type === 'counter' || info.type === 'nonce') map.set(term, ADV);
  return replace(t, map);
}

/** Solutions for a receiver pattern the attacker can actually get delivered. */
function solutionsDeliverable(prep: Prepared, K: Knowledge, m: Msg, pat: Pattern, inject: boolean, oracleOut: Map<Term, string>): Solution[] {
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

function forge(prep: Prepared, K: Knowledge, element: Term, canInject: (m: Msg) => boolean, oracleOut: Map<Term, string>, comp: Set<string>): { detail: string; trace: Trace } | undefined {
  for (const m of prep.model.messages) {
    if (comp.has(m.to)) continue;
    const pat = prep.patterns.get(m.id)!;
    let x: Term | undefined;
    for (const [vx, orig] of pat.origin) if (orig === element) x = vx;
    if (!x) continue;
    for (const s of solutionsDeliverable(prep, K, m, pat, canInject(m), oracleOut)) {
      if (!accepted(m, s)) continue;
      const val = s.sigma.get(x);
      if (val === undefined || val === element) continue;
      const steps: string[] = [];
      const msgs = new Set<string>();
      for (const u of s.uses) {
        const ex = K.explain(u, prep.show);
        steps.push(...ex.steps);
        ex.msgs.forEach((id) => msgs.add(id));
      }
      const what = val === ADV ? 'a value of its choice' : prep.show(val);
      steps.push(`deliver a ${m.id} that ${m.to} accepts with ${prep.show(element)} := ${what}`);
      msgs.add(m.id);
      return { detail: `${m.to} accepts ${prep.show(element)} := ${what} in ${m.id}`, trace: { steps: dedupeSteps(steps), messages: [...msgs] } };
    }
  }
  return undefined;
}

function dedupeSteps(steps: string[]): string[] {
  return [...new Set(steps)];
}

/** Replay: an old message accepted again (no counter, non-atomic check, or counter outside the protection). */
function replayFindings(prep: Prepared, K: Knowledge, attack: AttackModel, canInject: (m: Msg) => boolean, oracleOut: Map<Term, string>): Finding[] {
  const out: Finding[] = [];
  const seen = new Set<string>();
  for (const m of prep.model.messages) {
    if (!K.known.has(m.term) || attack.compromised.includes(m.to) || m.idempotent) continue;
    const impact = impactOf(prep, m);
    const f = (detail: string, steps: string[]): void => {
      if (seen.has(m.generic)) return;
      seen.add(m.generic);
      out.push({ kind: 'replay', attack: attack.id, verdict: 'fails', subject: m.id, detail, trace: { steps: [`observe ${m.id}`, ...steps], messages: [m.id] }, likelihood: attack.likelihood, impact });
    };
    if (!canInject(m) && ![...oracleOut.values()].includes(m.id)) continue;
    if (!m.counters.length) {
      if (canInject(m)) f(`${m.to} checks no counter: a recorded ${m.id} is accepted again`, [`resend ${m.id} unchanged`]);
      continue;
    }
    if (!m.atomic) {
      f(`${m.to} checks the counter of ${m.id} and records it in separate steps: two deliveries racing both pass`, [`deliver ${m.id} twice concurrently`]);
      continue;
    }
    const pat = prep.patterns.get(m.id)!;
    for (const s of solutionsDeliverable(prep, K, m, pat, canInject(m), oracleOut)) {
      if (!accepted(m, s)) continue;
      // every learned value is the recorded one: only the counter changed
      const stale = [...pat.origin.entries()].every(([x, orig]) => {
        const info = prep.model.atoms.get(orig);
        if (info?.type === 'counter') return true;
        return s.sigma.get(x) === orig || !(info?.type === 'data' || info?.type === 'symkey');
      });
      const hasData = [...pat.origin.values()].some((o) => prep.model.atoms.get(o)?.type === 'data' || prep.model.atoms.get(o)?.type === 'symkey');
      const forgeable = hasData && K.solutions(pat.pat).some((t) => accepted(m, t) && [...pat.origin.entries()].some(([x, o]) => ['data', 'symkey'].includes(prep.model.atoms.get(o)?.type ?? '') && t.sigma.get(x) === ADV));
      if (stale && hasData && !forgeable) {
        const fresh = m.counters.map((c) => prep.show(c)).join(', ');
        f(`the counter of ${m.id} is not bound by its tag: the recorded content is accepted again under a new ${fresh}`, [`replace ${fresh} by a higher value and resend`]);
        break;
      }
    }
  }
  return out;
}

const impactCache = new WeakMap<Msg, number>();
function impactOf(prep: Prepared, m: Msg): number {
  const hit = impactCache.get(m);
  if (hit !== undefined) return hit;
  let best = 1;
  for (const r of prep.model.requirements) if (occurs(r.element, m.term)) best = Math.max(best, r.impact.write);
  impactCache.set(m, best);
  return best;
}

/** Units a receiver verifies (key fixed in its pattern) paired with same-key units of other messages it would accept. */
export function substitutionChecks(prep: Prepared): Finding[] {
  const out: Finding[] = [];
  const seen = new Set<string>();
  const units = (t: Term, acc: Term[] = []): Term[] => {
    if (t.name === 'aead' || t.name === 'mac' || t.name === 'senc' || t.name === 'wrap' || t.name === 'sign' || t.name === 'penc') acc.push(t);
    for (const a of t.args) units(a, acc);
    return acc;
  };
  const msgs = prep.model.messages;
  const groundUnits = new Map(msgs.map((m) => [m.id, units(m.term)]));
  for (const m2 of msgs) {
    const pat = prep.patterns.get(m2.id)!;
    const own = new Set(groundUnits.get(m2.id)!);
    for (const u2 of units(pat.pat)) {
      if (!u2.args[0].ground) continue;
      for (const m1 of msgs) {
        if (m1.generic.replace(/\.\d+$/, '') === m2.generic.replace(/\.\d+$/, '')) continue;
        for (const u1 of groundUnits.get(m1.id)!) {
          if (own.has(u1) || u1.name !== u2.name || u1.args[0] !== u2.args[0]) continue;
          const s = match(u2, u1, new Map());
          if (!s) continue;
          // harmful only when the receiver takes a different datum or key out of it
          const changed = [...s].some(([x, val]) => {
            const orig = pat.origin.get(x);
            const ty = orig ? prep.model.atoms.get(orig)?.type : undefined;
            return (ty === 'data' || ty === 'symkey' || ty === 'nonce') && val !== orig;
          });
          if (!changed) continue;
          const reflect = m1.from === m2.to;
          const key = `${reflect}:${m1.generic.replace(/\.\d+$/, '')}>${m2.generic.replace(/\.\d+$/, '')}`;
          if (seen.has(key)) continue;
          seen.add(key);
          out.push({
            kind: reflect ? 'reflection' : 'substitution', attack: 'design', verdict: 'fails', subject: `${m1.id} → ${m2.id}`,
            detail: `${m2.to} cannot tell ${prep.show(u1).slice(0, 80)} from ${m1.id} apart from what it expects in ${m2.id} (same key ${prep.show(u2.args[0])})`,
            trace: { steps: [`observe ${m1.id}`, `deliver its unit under ${prep.show(u2.args[0])} to ${m2.to} in place of ${m2.id}`], messages: [m1.id, m2.id] },
            likelihood: prep.model.risk.checks[reflect ? 'reflection' : 'substitution']?.likelihood ?? 3,
            impact: prep.model.risk.checks[reflect ? 'reflection' : 'substitution']?.impact ?? impactOf(prep, m2),
          });
        }
      }
    }
  }
  return out;
}

/** Key updates: does leaking the replaced key reveal the new one from recorded traffic? */
export function forwardSecrecyChecks(prep: Prepared): Finding[] {
  const out: Finding[] = [];
  const model = prep.model;
  for (const m of model.messages) {
    if (!m.keyUpdate) continue;
    const K = new Knowledge(model.atoms, prep.isTuple);
    K.add(m.keyUpdate.old, { kind: 'init', note: 'old key leaked after the update' });
    for (const x of model.messages) if (x.links.some((l) => !model.links.find((L) => L.name === l)?.private)) K.add(x.term, { kind: 'msg', msg: x.id });
    K.saturate();
    const leaks = K.canDerive(m.keyUpdate.new);
    const ex = leaks ? K.explain(m.keyUpdate.new, prep.show) : { steps: [`${prep.show(m.keyUpdate.new)} not derivable from recorded traffic and ${prep.show(m.keyUpdate.old)}`], msgs: new Set([m.id]) };
    out.push({
      kind: 'forward-secrecy', attack: 'design', verdict: leaks ? 'fails' : 'holds', subject: m.id,
      detail: leaks
        ? `leaking the replaced key ${prep.show(m.keyUpdate.old)} reveals the new key ${prep.show(m.keyUpdate.new)} from a recording of ${m.id} (key transport, no forward secrecy)`
        : `the new key ${prep.show(m.keyUpdate.new)} stays secret when ${prep.show(m.keyUpdate.old)} leaks`,
      trace: { steps: ex.steps, messages: [...ex.msgs] },
      likelihood: model.risk.checks['forward-secrecy']?.likelihood ?? 2,
      impact: model.risk.checks['forward-secrecy']?.impact ?? Math.max(1, ...model.requirements.filter((r) => r.element === m.keyUpdate!.new).map((r) => r.impact.read)),
    });
  }
  return out;
}

/** Key transport: can an outsider active on every link make a receiver accept a key of its choosing? */
export function keyTransportChecks(prep: Prepared, activeAttack: AttackModel): Finding[] {
  const out: Finding[] = [];
  const model = prep.model;
  const K = new Knowledge(model.atoms, prep.isTuple);
  for (const m of model.messages) if (m.links.some((l) => activeAttack.links.includes(l))) K.add(m.term, { kind: 'msg', msg: m.id });
  K.saturate();
  const seen = new Set<string>();
  for (const m of model.messages) {
    const pat = prep.patterns.get(m.id)!;
    for (const [x, orig] of pat.origin) {
      const info = model.atoms.get(orig);
      if (!info || (info.type !== 'symkey' && info.type !== 'keypair')) continue;
      if (seen.has(`${m.generic}:${info.generic}`)) continue;
      seen.add(`${m.generic}:${info.generic}`);
      const inject = m.links.length > 0 && activeAttack.links.includes(m.links[m.links.length - 1]);
      const sol = inject ? K.build(pat.pat).find((s) => accepted(m, s) && s.sigma.get(x) === ADV) : undefined;
      out.push({
        kind: 'key-transport', attack: 'design', verdict: sol ? 'fails' : 'holds', subject: `${prep.show(orig)} in ${m.id}`,
        detail: sol ? `${m.to} accepts a ${prep.show(orig)} chosen by the attacker in ${m.id} (unauthenticated key transport)` : `${m.to} only accepts ${prep.show(orig)} in ${m.id} from ${originOf(prep, m, orig)} (authenticated transport)`,
        trace: sol ? { steps: [...sol.uses.flatMap((u) => K.explain(u, prep.show).steps), `compose ${m.id} around an attacker key and deliver it to ${m.to}`], messages: [m.id] } : { steps: [`no accepted ${m.id} with an attacker key: its protection needs a key the attacker lacks`], messages: [m.id] },
        likelihood: model.risk.checks['key-transport']?.likelihood ?? activeAttack.likelihood,
        impact: model.risk.checks['key-transport']?.impact ?? Math.max(1, ...model.requirements.filter((r) => r.element === orig).map((r) => r.impact.write)),
      });
    }
  }
  return out;
}

/** The agent that first put `el` into the chain of relayed messages ending in m. */
function originOf(prep: Prepared, m: Msg, el: Term): string {
  let src = m;
  for (let hop = 0; hop < 16 && src.trigger; hop++) {
    const t = prep.byId.get(src.trigger);
    if (!t || !occurs(el, t.term)) break;
    src = t;
  }
  return src.from;
}

/** Baseline consistency check: honest agents, required vs actual access. */
export function baseline(prep: Prepared): BaselineRow[] {
  const model = prep.model;
  const rows: BaselineRow[] = [];
  for (const req of model.requirements) {
    const originators = new Set<string>();
    for (const m of model.messages) {
      const pat = prep.patterns.get(m.id)!;
      if (![...pat.origin.values()].includes(req.element)) continue;
      // a relay forwards what it received: walk back to the agent that first put the element in
      originators.add(originOf(prep, m, req.element));
    }
    const row: BaselineRow = { element: prep.show(req.element), generic: req.generic, cells: [] };
    for (const a of model.agents) {
      const K = prep.agentK.get(a.name)!;
      const read = K.canDerive(req.element);
      const write = originators.has(a.name) && read;
      // "*" is no requirement at all: nobody is required, nobody is excluded
      const readReq = !req.readPublic && req.read.includes(a.name);
      const writeReq = !req.writePublic && req.write.includes(a.name);
      const readStatus: CellStatus = req.readPublic ? (read ? 'ok' : 'none') : read && !readReq ? 'leaked' : !read && readReq ? 'unavailable' : read ? 'ok' : 'none';
      const writeStatus: CellStatus = req.writePublic ? (write ? 'ok' : 'none') : write && !writeReq ? 'forgeable' : !write && writeReq ? 'unavailable' : write ? 'ok' : 'none';
      const cell: BaselineRow['cells'][number] = { agent: a.name, readReq, read, writeReq, write, readStatus, writeStatus };
      if (readStatus === 'leaked') {
        const ex = K.explain(req.element, prep.show);
        cell.trace = { steps: ex.steps, messages: [...ex.msgs] };
      }
      row.cells.push(cell);
    }
    rows.push(row);
  }
  return rows;
}

/** Runs everything on a model. */
export function analyze(model: Model): Analysis {
  const t0 = performance.now();
  const prep = new Prepared(model);
  const attacks = model.attacks.map((a) => runAttack(prep, a));
  const allLinks = model.links.filter((l) => !l.private).map((l) => l.name);
  const activeAll: AttackModel = { id: 'design', name: 'active attacker on every link', network: 'active', links: allLinks, phases: model.phases, compromised: [], leaks: [], likelihood: 3 };
  const checks = [...substitutionChecks(prep), ...forwardSecrecyChecks(prep), ...keyTransportChecks(prep, activeAll)];
  return { model, baseline: baseline(prep), attacks, checks, ms: performance.now() - t0 };
}
