/**
 * The analysis: baseline consistency check (who can read and who originates each element when
 * every agent is honest), one Dolev-Yao closure per attack model (with honest agents as oracles),
 * and protocol checks beyond secrecy (replay, substitution/reflection, forward secrecy of key
 * updates, authenticated key transport). Every verdict is computed from the model's terms.
 */
import { ADV, occurs, replace, subterms, type Term } from './term.ts';
import { Knowledge } from './dy.ts';
import type { AttackModel, Model, Msg, Requirement } from './model.ts';
import { Prepared, accepted, agentOfLastHop, forgedVariant, originOf, solutionsDeliverable } from './prepared.ts';
import { forwardSecrecyChecks, keyTransportChecks, substitutionChecks } from './checks.ts';
import { replayFindings } from './replay.ts';

export { Prepared } from './prepared.ts';

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

const MAX_ORACLE_ROUNDS = 4;
const MAX_ORACLE_TERM = 400;

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
          // the honest sender seals its reply under fresh values of every counter it seals itself
          // (end to end and link alike; a relayed sealed part keeps its sender's counter)
          for (const c of countersIn(prep, m.term)) if (!map.has(c) && !occurs(c, trig.term)) map.set(c, ADV);
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
            for (const u of prep.relayedParts(m)) if (u !== blob && u.name === blob.name && !fillers.includes(u) && K.known.has(u)) fillers.push(u);
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

/** The counter atoms occurring in t. */
function countersIn(prep: Prepared, t: Term): Term[] {
  return [...subterms(t)].filter((u) => prep.model.atoms.get(u)?.type === 'counter');
}

function forge(prep: Prepared, K: Knowledge, element: Term, canInject: (m: Msg) => boolean, oracleOut: Map<Term, string>, comp: Set<string>): { detail: string; trace: Trace } | undefined {
  for (const m of prep.model.messages) {
    if (comp.has(m.to)) continue;
    const pat = prep.patterns.get(m.id)!;
    let x: Term | undefined;
    for (const [vx, orig] of pat.origin) if (orig === element) x = vx;
    if (!x) continue;
    for (const s of solutionsDeliverable(prep, K, m, pat, canInject(m), oracleOut)) {
      if (!accepted(prep, m, s)) continue;
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
