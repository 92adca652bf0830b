/**
 * Correspondence (agreement) properties: "whenever EVENT happens, REQUIRED happened before, for the
 * same instance and agreeing on the listed values" — e.g. the HES activates a new key only after
 * the meter accepted it; a meter executes a command only if the HES sent it for that meter.
 *
 * Checked as a counterfactual: build the attacker's knowledge in the run where REQUIRED never takes
 * place (the required message is never sent, or never accepted with the agreed values, and nothing
 * it triggers happens), then ask whether EVENT can still happen there — an honest sender sending
 * its message unprompted, or after a trigger the attacker gets accepted; a receiver accepting a
 * message the attacker delivers. If it can, the property fails, with the trace of how.
 */
import type { Term } from './term.ts';
import type { AttackModel, Model, Msg, Property, PropertyEvent } from './model.ts';
import type { Finding, Trace } from './analysis.ts';
import { accepted, solutionsDeliverable, type Prepared } from './prepared.ts';
import { closure, runOracles, type Closure, type Counterfactual } from './closure.ts';

export type PropertyVerdict = 'holds' | 'fails' | 'n/a';

/** One property at one instance (e.g. for Meter1), with its verdict per attack model. */
export interface PropertyResult {
  id: string;
  label: string;
  instance: string;
  /** fails already in the honest run (no attacker): a design error, reported once */
  design: PropertyVerdict;
  attacks: { attack: string; verdict: PropertyVerdict }[];
}

/** The honest run: no attacker at all (for design errors such as an unprompted send). */
export function honestRun(model: Model): AttackModel {
  return {
    id: 'design',
    name: 'honest run (no attacker)',
    network: 'none',
    links: [],
    phases: model.phases,
    compromised: [],
    leaks: [],
    likelihood: model.risk.checks.agreement?.likelihood ?? 3,
  };
}

const suffixOf = (id: string): string => /@.*$/.exec(id)?.[0] ?? '';

/** The concrete messages an event names at one instance suffix (or the uninstantiated one). */
function hopAt(prep: Prepared, ev: PropertyEvent, suffix: string): Msg | undefined {
  return prep.byId.get(ev.hop + suffix) ?? prep.byId.get(ev.hop);
}

/** Every message transitively triggered by m (m excluded). */
function downstream(prep: Prepared, m: Msg): Set<string> {
  const out = new Set<string>();
  const todo = [m.id];
  while (todo.length) {
    const id = todo.pop()!;
    for (const x of prep.model.messages) {
      if (x.trigger !== id || out.has(x.id)) continue;
      out.add(x.id);
      todo.push(x.id);
    }
  }
  return out;
}

/** The agent at which an event happens. */
const agentOf = (ev: PropertyEvent, m: Msg): string => (ev.kind === 'send' ? m.from : m.to);

/** The run in which `req` (at message r) never happens. */
function counterfactual(prep: Prepared, p: Property, req: PropertyEvent, r: Msg): Counterfactual {
  const after = downstream(prep, r);
  if (req.kind === 'send') {
    // never sent: not this hop and nothing it leads to (as an oracle neither, with any values)
    const gone = new Set([r.id, ...after]);
    return { absent: gone, silent: new Set([r.id]), guarded: new Set(), guard: () => true, guardKey: '' };
  }
  // never accepted with the agreed values: what it triggers happens only for other values
  const agreed = agreedTerms(prep, p, r);
  const direct = new Set(prep.model.messages.filter((x) => x.trigger === r.id).map((x) => x.id));
  return {
    absent: after,
    silent: new Set(),
    guarded: direct,
    guard: (map) => agreed.length > 0 && agreed.some((t) => map.has(t) && map.get(t) !== t),
    guardKey: agreed.map((t) => t.id).join(','),
  };
}

/** The agreed atoms as terms at the instance of message m. */
function agreedTerms(prep: Prepared, p: Property, m: Msg): Term[] {
  const suffix = suffixOf(m.id);
  return [...prep.model.atoms.values()]
    .filter((a) => p.agree.includes(a.generic) && (!a.owner || suffix.includes(a.owner)))
    .map((a) => a.term);
}

/** Can `ev` (at message e) happen? Tried first without oracles (cheap; knowledge only grows with them). */
function canHappen(prep: Prepared, p: Property, ev: PropertyEvent, e: Msg, attack: AttackModel, cf: Counterfactual): Trace | undefined {
  if (ev.kind === 'send' && !e.trigger)
    return { steps: [`${e.from} sends ${e.id} unprompted: nothing in the model makes it wait`], messages: [e.id] };
  const c = cached(prep, attack, cf);
  const direct = c.oraclesRun ? undefined : happensIn(prep, p, ev, e, c);
  if (direct) return direct;
  if (!c.oraclesRun) runOracles(prep, c, cf);
  return happensIn(prep, p, ev, e, c);
}

/** Properties with the same counterfactual (key confirmation's two) share its closures. */
const closures = new WeakMap<Prepared, Map<string, Closure>>();
function cached(prep: Prepared, attack: AttackModel, cf: Counterfactual): Closure {
  let map = closures.get(prep);
  if (!map) closures.set(prep, (map = new Map()));
  const key = [attack.id, [...cf.absent].sort(), [...cf.silent].sort(), [...cf.guarded].sort(), cf.guardKey].join('|');
  let c = map.get(key);
  if (!c) map.set(key, (c = closure(prep, attack, cf, false)));
  return c;
}

function happensIn(prep: Prepared, p: Property, ev: PropertyEvent, e: Msg, c: Closure): Trace | undefined {
  const agreed = agreedTerms(prep, p, e);
  const target = ev.kind === 'send' ? prep.byId.get(e.trigger!)! : e;
  const pat = prep.patterns.get(target.id)!;
  for (const s of solutionsDeliverable(prep, c.K, target, pat, c.canInject(target), c.oracleOut)) {
    if (!accepted(prep, target, s)) continue;
    // the values the event agrees on must be the honest ones
    if ([...pat.origin].some(([x, o]) => agreed.includes(o) && s.sigma.has(x) && s.sigma.get(x) !== o)) continue;
    const steps: string[] = [];
    const msgs = new Set<string>();
    for (const u of s.uses) {
      const ex = c.K.explain(u, prep.show);
      steps.push(...ex.steps);
      ex.msgs.forEach((id) => msgs.add(id));
    }
    steps.push(`deliver a ${target.id} that ${target.to} accepts`);
    if (ev.kind === 'send') steps.push(`${e.from} then sends ${e.id}`);
    msgs.add(target.id);
    return { steps: [...new Set(steps)], messages: [...msgs] };
  }
  return undefined;
}

/** True when the attack model names no instance of a replicated agent (no compromised meter, no meter's key). */
export function symmetric(model: Model, a: AttackModel): boolean {
  const owned = (t: Term): boolean => !!model.atoms.get(t)?.owner || t.args.some(owned);
  return a.compromised.every((c) => model.agents.find((x) => x.name === c)?.generic === c) && !a.leaks.some(owned);
}

/** X is no stronger than Y: every capability of X is one of Y's (so X's failures are Y's, Y's successes X's). */
export function weaker(x: AttackModel, y: AttackModel): boolean {
  const rank = { none: 0, passive: 1, active: 2 } as const;
  const sub = <T>(a: T[], b: T[]) => a.every((v) => b.includes(v));
  return (
    rank[x.network] <= rank[y.network] &&
    (x.network === 'none' || sub(x.links, y.links)) &&
    sub(x.phases, y.phases) &&
    sub(x.compromised, y.compromised) &&
    sub(x.leaks, y.leaks)
  );
}

/** Every property at every instance, under the honest run and every attack model. */
export function propertyChecks(prep: Prepared): { results: PropertyResult[]; findings: Finding[] } {
  const model = prep.model;
  const results: PropertyResult[] = [];
  const findings: Finding[] = [];
  const honest = honestRun(model);
  const byId = new Map(model.attacks.map((a) => [a.id, a]));
  // strongest first, so that weaker ones are decided by dominance
  const order = [...model.attacks].sort((a, b) => Number(weaker(a, b)) - Number(weaker(b, a)));
  for (const p of model.properties) {
    const events = model.messages.filter((m) => m.generic === p.event.hop);
    for (const e of events) {
      const r = hopAt(prep, p.requires, suffixOf(e.id));
      if (!r) continue;
      const instance = suffixOf(e.id).slice(1) || '—';
      const cf = counterfactual(prep, p, p.requires, r);
      const say = (how: Trace): string =>
        `${agentOf(p.event, e)} ${p.event.kind === 'send' ? 'sends' : 'accepts'} ${e.id} although ${agentOf(p.requires, r)} never ${p.requires.kind === 'send' ? 'sent' : 'accepted'} ${r.id}${p.agree.length ? ` with the same ${p.agree.join(', ')}` : ''}: ${how.steps[how.steps.length - 1]}`;
      const res: PropertyResult = { id: p.id, label: p.label, instance, design: 'holds', attacks: [] };
      const designHow = canHappen(prep, p, p.event, e, honest, cf);
      if (designHow) {
        res.design = 'fails';
        findings.push({
          kind: 'agreement',
          attack: 'design',
          verdict: 'fails',
          subject: `${p.id}@${instance}`,
          detail: say(designHow),
          trace: designHow,
          likelihood: honest.likelihood,
          impact: p.impact,
        });
      }
      for (const a of order) {
        // a compromised agent at either end makes the property meaningless (it may do anything)
        if (a.compromised.includes(agentOf(p.event, e)) || a.compromised.includes(agentOf(p.requires, r))) {
          res.attacks.push({ attack: a.id, verdict: 'n/a' });
          continue;
        }
        if (designHow) {
          res.attacks.push({ attack: a.id, verdict: 'fails' });
          continue;
        }
        // a weaker attack that already fails, or a stronger one that holds, decides it
        const known = res.attacks.find(
          (x) =>
            x.verdict !== 'n/a' &&
            ((x.verdict === 'fails' && weaker(byId.get(x.attack)!, a)) || (x.verdict === 'holds' && weaker(a, byId.get(x.attack)!))),
        );
        if (known) {
          res.attacks.push({ attack: a.id, verdict: known.verdict });
          continue;
        }
        // an attack model that names no instance treats every instance alike: decided by the first
        const twin = symmetric(model, a) ? results.find((x) => x.id === p.id && x.instance !== instance) : undefined;
        const same = twin?.attacks.find((x) => x.attack === a.id);
        if (same) {
          res.attacks.push({ attack: a.id, verdict: same.verdict });
          continue;
        }
        const how = canHappen(prep, p, p.event, e, a, cf);
        res.attacks.push({ attack: a.id, verdict: how ? 'fails' : 'holds' });
        if (how)
          findings.push({
            kind: 'agreement',
            attack: a.id,
            verdict: 'fails',
            subject: `${p.id}@${instance}`,
            detail: say(how),
            trace: how,
            likelihood: a.likelihood,
            impact: p.impact,
          });
      }
      res.attacks.sort((x, y) => model.attacks.indexOf(byId.get(x.attack)!) - model.attacks.indexOf(byId.get(y.attack)!));
      results.push(res);
    }
  }
  return { results, findings };
}
