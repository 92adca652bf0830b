/**
 * The attacker's knowledge under one attack model: what it is given (leaks, compromised agents'
 * knowledge), what it observes on the links it taps, and what honest agents send when the attacker
 * gets their trigger accepted (oracles). A counterfactual leaves out messages that never happen
 * (for correspondence properties: the run in which the required event did not take place).
 */
import { ADV, replace, type Term } from './term.ts';
import { Knowledge } from './dy.ts';
import type { AttackModel, Msg } from './model.ts';
import { accepted, agentOfLastHop, forgedVariant, solutionsDeliverable, type Prepared } from './prepared.ts';

const MAX_ORACLE_ROUNDS = 4;
const MAX_ORACLE_TERM = 400;

export interface Closure {
  K: Knowledge;
  comp: Set<string>;
  canInject: (m: Msg) => boolean;
  /** oracle output → the message an honest agent sent with it */
  oracleOut: Map<Term, string>;
  /** the attacker can send (active network or a compromised agent) */
  active: boolean;
  /** honest agents have been used as oracles (the closure is complete) */
  oraclesRun: boolean;
}

/** Messages that do not happen in a counterfactual run. */
export interface Counterfactual {
  /** never sent (not recorded) */
  absent: Set<string>;
  /** never sent as an oracle either */
  silent: Set<string>;
  /** sent as an oracle only when guard accepts the values taken from the trigger (original → value) */
  guarded: Set<string>;
  guard: (map: Map<Term, Term>) => boolean;
  /** identifies the guard (closures with equal counterfactuals are shared) */
  guardKey: string;
}

/** Knowledge closure with honest agents as oracles. */
export function closure(prep: Prepared, attack: AttackModel, cf?: Counterfactual, oracles = true): Closure {
  const model = prep.model;
  const absent = (m: Msg): boolean => cf?.absent.has(m.id) ?? false;
  const K = new Knowledge(model.atoms, prep.isTuple);
  const comp = new Set(attack.compromised);
  for (const t of attack.leaks) K.add(t, { kind: 'init', note: 'leaked (attack model)' });
  for (const a of comp) {
    // everything the agent holds or learned — in a counterfactual, not from messages that never happen
    const known = cf ? prep.knowledgeOf(a, cf.absent) : prep.agentK.get(a)!.known;
    for (const t of known) K.add(t, { kind: 'init', note: `known to compromised ${a}` });
  }
  const observed = (m: Msg): boolean =>
    attack.phases.includes(m.phase) &&
    ((attack.network !== 'none' && m.links.some((l) => attack.links.includes(l))) || [m.from, ...m.via, m.to].some((a) => comp.has(a)));
  for (const m of model.messages) if (observed(m) && !absent(m)) K.add(m.term, { kind: 'msg', msg: m.id });
  K.saturate();
  const canInject = (m: Msg): boolean => {
    if (!attack.phases.includes(m.phase)) return false;
    if (comp.has(agentOfLastHop(m))) return true;
    const last = m.links[m.links.length - 1];
    return attack.network === 'active' && last !== undefined && attack.links.includes(last);
  };
  const active = attack.network === 'active' || comp.size > 0;

  const c: Closure = { K, comp, canInject, oracleOut: new Map(), active, oraclesRun: false };
  if (oracles) runOracles(prep, c, cf);
  return c;
}

/** Honest agents as oracles: an accepted trigger built by the attacker makes them send their reply. */
export function runOracles(prep: Prepared, c: Closure, cf?: Counterfactual): void {
  const { K, comp, canInject, oracleOut, active } = c;
  const model = prep.model;
  c.oraclesRun = true;
  if (active) {
    for (let round = 0; round < MAX_ORACLE_ROUNDS; round++) {
      let grew = false;
      for (const m of model.messages) {
        if (!m.trigger || comp.has(m.from) || cf?.silent.has(m.id)) continue;
        const trig = prep.byId.get(m.trigger);
        if (!trig) continue;
        const pat = prep.patterns.get(trig.id)!;
        for (const s of solutionsDeliverable(prep, K, trig, pat, canInject(trig), oracleOut)) {
          if (!accepted(prep, trig, s)) continue;
          const map = new Map<Term, Term>();
          let blob: Term | undefined;
          for (const [x, val] of s.sigma) {
            const orig = pat.origin.get(x);
            if (!orig || orig === val) continue;
            map.set(orig, val);
            if (val === ADV && orig.kind === 'fn') blob = orig;
          }
          if (!map.size) continue;
          if (cf?.guarded.has(m.id) && !cf.guard(map)) continue;
          // the honest sender seals its reply under fresh values of every counter it seals itself
          // (end to end and link alike; a relayed sealed part keeps its sender's counter)
          for (const c of prep.countersOf(m)) if (!map.has(c) && !prep.partsOf(trig).has(c)) map.set(c, ADV);
          // an opaque part the relay passes on unread: the attacker fills it with its own version
          // of any sealed part that travels on the same channel (its data and counters), if it can
          // build one, with a recorded part another relayed message carried there (a replay
          // through the relay), or with an arbitrary value
          const fillers: Term[] = [ADV];
          if (blob) {
            for (const u of [blob, ...prep.channelUnits(m)]) {
              if (u.name !== blob.name) continue;
              const own = forgedVariant(prep, u);
              if (!fillers.includes(own) && K.canDerive(own)) fillers.push(own);
            }
            for (const u of prep.relayedParts(m))
              if (u !== blob && u.name === blob.name && !fillers.includes(u) && K.known.has(u)) fillers.push(u);
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
}
