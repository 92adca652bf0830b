/**
 * The analysis: baseline consistency check (who can read and who originates each element when
 * every agent is honest), one Dolev-Yao closure per attack model (with honest agents as oracles),
 * and protocol checks beyond secrecy (replay, substitution/reflection, forward secrecy of key
 * updates, authenticated key transport). Every verdict is computed from the model's terms.
 */
import { ADV, type Term } from './term.ts';
import { Knowledge } from './dy.ts';
import type { AttackModel, Model, Msg, Requirement } from './model.ts';
import { Prepared, accepted, originOf, solutionsDeliverable } from './prepared.ts';
import { closure } from './closure.ts';
import { forwardSecrecyChecks, keyTransportChecks, substitutionChecks } from './checks.ts';
import { replayFindings } from './replay.ts';
import { propertyChecks, type PropertyResult } from './properties.ts';

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
  cells: {
    agent: string;
    readReq: boolean;
    read: boolean;
    writeReq: boolean;
    write: boolean;
    readStatus: CellStatus;
    writeStatus: CellStatus;
    trace?: Trace;
  }[];
}

export interface AttackElement {
  element: string;
  read: ReadStatus;
  write: WriteStatus;
  readTrace?: Trace;
  writeTrace?: Trace;
  /** the messages through which a receiver accepts an attacker's value for it */
  forgedVia?: string[];
}

export interface Finding {
  kind: 'confidentiality' | 'integrity' | 'replay' | 'substitution' | 'reflection' | 'forward-secrecy' | 'key-transport' | 'agreement';
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
  /** correspondence properties that fail under this attack model (by design or by attack) */
  brokenProperties: string[];
}

export interface Analysis {
  model: Model;
  baseline: BaselineRow[];
  attacks: AttackResult[];
  checks: Finding[];
  /** correspondence properties: verdict per instance and attack model */
  properties: PropertyResult[];
  ms: number;
}

/** Runs one attack model: closure, oracles, then per-element verdicts with traces. */
export function runAttack(prep: Prepared, attack: AttackModel): AttackResult {
  const model = prep.model;
  const { K, comp, canInject, oracleOut, active } = closure(prep, attack);
  const elements: AttackElement[] = [];
  const findings: Finding[] = [];
  // what the attack model hands the attacker directly is a premise, not a finding
  const allowed = (req: Requirement, which: 'read' | 'write'): boolean =>
    [...comp].some((a) => req[which].includes(a)) || (which === 'read' && attack.leaks.includes(req.element));
  for (const req of model.requirements) {
    const el: AttackElement = { element: prep.show(req.element), read: 'held', write: 'held' };
    if (K.canDerive(req.element)) {
      const ex = K.explain(req.element, prep.show);
      el.readTrace = { steps: ex.steps, messages: [...ex.msgs] };
      el.read = req.readPublic ? 'public' : allowed(req, 'read') ? 'exposed' : 'leaked';
      if (el.read === 'leaked')
        findings.push({
          kind: 'confidentiality',
          attack: attack.id,
          verdict: 'fails',
          subject: el.element,
          detail: `attacker derives ${el.element}`,
          trace: el.readTrace,
          likelihood: attack.likelihood,
          impact: req.impact.read,
        });
    }
    if (active) {
      const w = forge(prep, K, req.element, canInject, oracleOut, comp);
      if (w) {
        el.writeTrace = w.trace;
        el.forgedVia = w.via;
        el.write = req.writePublic ? 'public' : allowed(req, 'write') ? 'exposed' : 'forgeable';
        if (el.write === 'forgeable')
          findings.push({
            kind: 'integrity',
            attack: attack.id,
            verdict: 'fails',
            subject: el.element,
            detail: w.detail,
            trace: w.trace,
            likelihood: attack.likelihood,
            impact: req.impact.write,
          });
      }
    }
    elements.push(el);
  }
  if (active) findings.push(...replayFindings(prep, K, attack, canInject, oracleOut));
  return {
    attack,
    elements,
    findings,
    verdict: findings.some((f) => f.verdict === 'fails') ? 'fails' : 'holds',
    knownTerms: K.known.size,
    brokenProperties: [],
  };
}

/** The first way to make a receiver accept a value of the attacker's for `element`, and every message that allows one. */
function forge(
  prep: Prepared,
  K: Knowledge,
  element: Term,
  canInject: (m: Msg) => boolean,
  oracleOut: Map<Term, string>,
  comp: Set<string>,
): { detail: string; trace: Trace; via: string[] } | undefined {
  let first: { detail: string; trace: Trace; via: string[] } | undefined;
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
      if (first) {
        first.via.push(m.id);
        break;
      }
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
      first = {
        detail: `${m.to} accepts ${prep.show(element)} := ${what} in ${m.id}`,
        trace: { steps: dedupeSteps(steps), messages: [...msgs] },
        via: [m.id],
      };
      break;
    }
  }
  return first;
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
      const readStatus: CellStatus = req.readPublic
        ? read
          ? 'ok'
          : 'none'
        : read && !readReq
          ? 'leaked'
          : !read && readReq
            ? 'unavailable'
            : read
              ? 'ok'
              : 'none';
      const writeStatus: CellStatus = req.writePublic
        ? write
          ? 'ok'
          : 'none'
        : write && !writeReq
          ? 'forgeable'
          : !write && writeReq
            ? 'unavailable'
            : write
              ? 'ok'
              : 'none';
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
  const activeAll: AttackModel = {
    id: 'design',
    name: 'active attacker on every link',
    network: 'active',
    links: allLinks,
    phases: model.phases,
    compromised: [],
    leaks: [],
    likelihood: 3,
  };
  const props = propertyChecks(prep);
  for (const f of props.findings) attacks.find((x) => x.attack.id === f.attack)?.findings.push(f);
  // a property broken by design fails under every attack model too (its finding is listed once, as a check)
  for (const p of props.results) {
    for (const v of p.attacks) {
      if (v.verdict !== 'fails') continue;
      const r = attacks.find((x) => x.attack.id === v.attack)!;
      r.verdict = 'fails';
      r.brokenProperties.push(`${p.id}@${p.instance}`);
    }
  }
  const checks = [
    ...substitutionChecks(prep),
    ...forwardSecrecyChecks(prep),
    ...keyTransportChecks(prep, activeAll),
    ...props.findings.filter((f) => f.attack === 'design'),
  ];
  return { model, baseline: baseline(prep), attacks, checks, properties: props.results, ms: performance.now() - t0 };
}
