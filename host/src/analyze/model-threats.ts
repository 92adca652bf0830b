/**
 * The model's security sections: requirements (who may read and write each element, and the impact
 * when someone else does), attack models (network power, links, phases, compromised agents, leaked
 * terms, likelihood) and the risk scale (labels, acceptance, likelihood of the protocol checks).
 */
import { app, type Term } from './term.ts';
import {
  CHECK_KINDS,
  NETWORK,
  RISK_SCALE_MAX,
  type AttackModel,
  type Link,
  type Model,
  type Network,
  type Requirement,
} from './model-types.ts';
import { isScaleValue, type Ctx } from './model-reader.ts';
import type { TermResolver } from './model-terms.ts';
import type { GenericLinks } from './model-declarations.ts';

/** Likelihood or impact when the file gives none: the middle of the scale ("possible", "moderate"). */
const DEFAULT_SCALE_VALUE = 3;
/** Highest acceptable likelihood × impact when the file gives no acceptance. */
const DEFAULT_MAX_SCORE = 6;
const DEFAULT_LIKELIHOOD = ['rare', 'unlikely', 'possible', 'likely', 'almost certain'];
const DEFAULT_IMPACT = ['negligible', 'minor', 'moderate', 'major', 'severe'];
/** One row of the acceptance grid: a letter per impact, A (acceptable) or U (unacceptable). */
const GRID_ROW_RE = new RegExp(`^[AU]{${RISK_SCALE_MAX}}$`);

/** The read/write impact of a requirement (DEFAULT_SCALE_VALUE each when not given). */
function requirementImpact(r: TermResolver, o: Record<string, unknown>, p: string): Requirement['impact'] {
  let impact = { read: DEFAULT_SCALE_VALUE, write: DEFAULT_SCALE_VALUE };
  if (o.impact !== undefined) {
    const im = r.obj(o.impact, `${p}.impact`);
    if (im) {
      for (const k of ['read', 'write'] as const)
        if (!isScaleValue(im[k])) r.issue(`${p}.impact.${k}`, `impact.${k} must be an integer 1…${RISK_SCALE_MAX}`);
      impact = { read: Number(im.read) || DEFAULT_SCALE_VALUE, write: Number(im.write) || DEFAULT_SCALE_VALUE };
    }
  }
  return impact;
}

/** `requirements`: one per element instance (a per-agent element once per instance of its agent). */
export function parseRequirements(r: TermResolver, root: Record<string, unknown>): Requirement[] {
  const requirements: Requirement[] = [];
  r.eachObject(root, 'requirements', false, (o, p) => {
    r.onlyFields(o, ['element', 'read', 'write', 'impact'], p);
    const el = r.str(o, 'element', p);
    const read = r.strList(o, 'read', p, false);
    const write = r.strList(o, 'write', p, false);
    read.forEach((x, j) => x === '*' || r.genericAgent(x, `${p}.read[${j}]`));
    write.forEach((x, j) => x === '*' || r.genericAgent(x, `${p}.write[${j}]`));
    const impact = requirementImpact(r, o, p);
    if (!el) return;
    const d = r.atomDecl.get(el);
    if (!d) return r.issue(`${p}.element`, `unknown atom "${el}"`);
    if (d.type === 'const' || d.type === 'counter') r.issue(`${p}.element`, `"${el}" is a ${d.type}: public, nothing to protect`);
    const gens = new Set<string>();
    if (d.per && r.replicated(d.per)) gens.add(d.per);
    for (const c of r.contexts(gens)) {
      const t = d.type === 'keypair' ? app('sk', [r.atomTerm(el, c)!]) : r.atomTerm(el, c);
      if (!t) continue;
      if (d.type === 'keypair') r.names.set(t, `sk(${el})`);
      const all = [...r.agentsGeneric.keys()];
      const expand = (gs: string[]): string[] =>
        (gs.includes('*') ? all : gs).flatMap((g) => (d.per === g && c.has(g) ? [c.get(g)!] : r.instancesOf(g)));
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
  return requirements;
}

/** The link instances an attack's `links` names: '*' every public link, a generic link all its instances, or one instance. */
function attackLinks(r: TermResolver, o: Record<string, unknown>, p: string, links: Link[], linkGeneric: GenericLinks): string[] {
  const ls = o.links === undefined ? ['*'] : r.strList(o, 'links', p);
  const linkNames: string[] = [];
  ls.forEach((l, j) => {
    if (l === '*') linkNames.push(...links.filter((L) => !L.private).map((L) => L.name));
    else if (linkGeneric.has(l)) linkNames.push(...links.filter((L) => L.generic === l).map((L) => L.name));
    else if (links.some((L) => L.name === l)) linkNames.push(l);
    else r.issue(`${p}.links[${j}]`, `unknown link "${l}"`);
  });
  return [...new Set(linkNames)];
}

/** The compromised agents of an attack (a generic agent stands for its first instance). */
function compromisedAgents(r: TermResolver, o: Record<string, unknown>, p: string): string[] {
  const allInstances = [...r.agentsGeneric.keys()].flatMap((g) => r.instancesOf(g));
  const comp: string[] = [];
  r.strList(o, 'compromised', p).forEach((x, j) => {
    if (allInstances.includes(x)) comp.push(x);
    else if (r.agentsGeneric.has(x)) comp.push(r.instancesOf(x)[0]);
    else r.issue(`${p}.compromised[${j}]`, `unknown agent "${x}"`);
  });
  return comp;
}

/** `attacks`: the attacker models, their leaked terms resolved at the first instance of every replicated agent. */
export function parseAttacks(
  r: TermResolver,
  root: Record<string, unknown>,
  phases: string[],
  links: Link[],
  linkGeneric: GenericLinks,
  firstCtx: Ctx,
): AttackModel[] {
  const attacks: AttackModel[] = [];
  r.eachObject(root, 'attacks', false, (o, p) => {
    r.onlyFields(o, ['id', 'name', 'network', 'links', 'phases', 'compromised', 'leaks', 'likelihood', 'note'], p);
    const id = r.str(o, 'id', p);
    const nm = r.str(o, 'name', p);
    const network = (o.network as Network) ?? 'none';
    if (!(NETWORK as readonly string[]).includes(network)) r.issue(`${p}.network`, `network must be one of ${NETWORK.join(', ')}`);
    const linkNames = attackLinks(r, o, p, links, linkGeneric);
    const ph = o.phases === undefined ? phases : r.strList(o, 'phases', p);
    ph.forEach((x, j) => phases.includes(x) || r.issue(`${p}.phases[${j}]`, `unknown phase "${x}"`));
    const comp = compromisedAgents(r, o, p);
    const leaks: Term[] = [];
    r.strList(o, 'leaks', p).forEach((x, j) => {
      const t = r.resolve(x, `${p}.leaks[${j}]`, firstCtx);
      if (t) leaks.push(t);
    });
    const lk = o.likelihood ?? DEFAULT_SCALE_VALUE;
    if (!isScaleValue(lk)) r.issue(`${p}.likelihood`, `likelihood must be an integer 1…${RISK_SCALE_MAX}`);
    if (id && nm)
      attacks.push({
        id,
        name: nm,
        network,
        links: linkNames,
        phases: ph,
        compromised: comp,
        leaks,
        likelihood: Number(lk) || DEFAULT_SCALE_VALUE,
        note: o.note as string | undefined,
      });
  });
  return attacks;
}

/** `risk.checks`: likelihood (and impact) of each protocol check kind. */
function parseRiskChecks(r: TermResolver, rk: Record<string, unknown>, risk: Model['risk']): void {
  const ch = rk.checks !== undefined ? r.obj(rk.checks, 'risk.checks') : undefined;
  for (const [k, v] of Object.entries(ch ?? {})) {
    const cp = `risk.checks.${k}`;
    if (!(CHECK_KINDS as readonly string[]).includes(k)) r.issue(cp, `unknown check "${k}" (checks: ${CHECK_KINDS.join(', ')})`);
    const o = r.obj(v, cp);
    if (!o) continue;
    r.onlyFields(o, ['likelihood', 'impact'], cp);
    const lk = o.likelihood;
    if (!isScaleValue(lk)) r.issue(`${cp}.likelihood`, `likelihood must be an integer 1…${RISK_SCALE_MAX}`);
    if (o.impact !== undefined && !isScaleValue(o.impact)) r.issue(`${cp}.impact`, `impact must be an integer 1…${RISK_SCALE_MAX}`);
    risk.checks[k] = { likelihood: Number(lk) || DEFAULT_SCALE_VALUE, impact: o.impact as number | undefined };
  }
}

/** `risk.acceptance`: the highest acceptable score, or a grid of acceptable cells. */
function parseAcceptance(r: TermResolver, rk: Record<string, unknown>, risk: Model['risk']): void {
  const acc = rk.acceptance !== undefined ? r.obj(rk.acceptance, 'risk.acceptance') : undefined;
  if (!acc) return;
  r.onlyFields(acc, ['maxScore', 'grid'], 'risk.acceptance');
  if (acc.maxScore !== undefined) {
    if (typeof acc.maxScore !== 'number' || acc.maxScore < 1 || acc.maxScore > RISK_SCALE_MAX ** 2)
      r.issue('risk.acceptance.maxScore', `maxScore must be a number 1…${RISK_SCALE_MAX ** 2} (likelihood × impact)`);
    else risk.maxScore = acc.maxScore;
  }
  if (acc.grid !== undefined) {
    const g = r.strList(acc, 'grid', 'risk.acceptance');
    if (g.length !== RISK_SCALE_MAX || g.some((row) => !GRID_ROW_RE.test(row)))
      r.issue(
        'risk.acceptance.grid',
        'grid is 5 strings of 5 letters A (acceptable) / U (unacceptable), likelihood 5 first, impact 1…5 left to right',
      );
    else risk.grid = g;
  }
}

/** `risk`: the scale's labels, the acceptance and the checks' likelihoods, over the defaults. */
export function parseRisk(r: TermResolver, root: Record<string, unknown>): Model['risk'] {
  const risk: Model['risk'] = {
    maxScore: DEFAULT_MAX_SCORE,
    grid: undefined,
    likelihoodLabels: DEFAULT_LIKELIHOOD,
    impactLabels: DEFAULT_IMPACT,
    checks: {},
  };
  if (root.risk === undefined) return risk;
  const rk = r.obj(root.risk, 'risk');
  if (!rk) return risk;
  r.onlyFields(rk, ['acceptance', 'likelihoodLabels', 'impactLabels', 'checks'], 'risk');
  parseRiskChecks(r, rk, risk);
  parseAcceptance(r, rk, risk);
  for (const k of ['likelihoodLabels', 'impactLabels'] as const) {
    if (rk[k] !== undefined) {
      const l = r.strList(rk, k, 'risk');
      if (l.length !== RISK_SCALE_MAX) r.issue(`risk.${k}`, `${k} needs exactly ${RISK_SCALE_MAX} labels`);
      else risk[k] = l;
    }
  }
  return risk;
}
