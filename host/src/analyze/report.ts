/**
 * Turns an Analysis into the report the CLI prints: Table 1 beside the paper's, the requirement
 * table, one verdict per attack model, the catalogue of threats and the 5×5 risk matrix.
 */
import type { Analysis, Finding, Trace } from './analysis.ts';
import type { Model } from './model.ts';
import { availabilityOf, type AvailabilityResult } from './availability.ts';
import type { PropertyResult } from './properties.ts';

/** Table 1 of the seed white paper (Kamstrup AMS model). */
export const PAPER_TABLE1 = {
  entities: 4,
  messages: 28,
  symmetricKeys: 9,
  keyPairs: 1,
  counters: 7,
  nonces: 0,
  dataElements: 2,
  phases: 3,
} as const;
export type Table1 = { [K in keyof typeof PAPER_TABLE1]: number };

/** Table 1 counts of a model abstracted as the paper does: one generic meter/concentrator/HES, atoms and messages grouped by their `abstract` label. */
export function table1(model: Model): { abstracted: Table1; detailed: Table1; groups: Record<string, string[]> } {
  const f = model.file;
  const atomsOf = (ty: string) => f.atoms.filter((a) => a.type === ty);
  const uniq = (xs: string[]) => [...new Set(xs)].sort();
  const hops = f.messages.flatMap((m) =>
    m.wrap?.length ? m.wrap.map((_, i) => `${m.abstract ?? m.id} (hop ${i + 1})`) : [m.abstract ?? m.id],
  );
  const groups: Record<string, string[]> = {
    messages: uniq(hops),
    symmetricKeys: uniq(atomsOf('symkey').map((a) => a.abstract ?? a.name)),
    keyPairs: uniq(atomsOf('keypair').map((a) => a.abstract ?? a.name)),
    counters: uniq(atomsOf('counter').map((a) => a.abstract ?? a.name)),
    nonces: uniq(atomsOf('nonce').map((a) => a.abstract ?? a.name)),
    dataElements: uniq(atomsOf('data').map((a) => a.abstract ?? a.name)),
  };
  const abstracted: Table1 = {
    entities: f.agents.length,
    messages: groups.messages.length,
    symmetricKeys: groups.symmetricKeys.length,
    keyPairs: groups.keyPairs.length,
    counters: groups.counters.length,
    nonces: groups.nonces.length,
    dataElements: groups.dataElements.length,
    phases: f.phases.length,
  };
  const wireMsgs = f.messages.reduce((n, m) => n + (m.wrap?.length || 1), 0);
  const detailed: Table1 = {
    entities: f.agents.length,
    messages: wireMsgs,
    symmetricKeys: atomsOf('symkey').length,
    keyPairs: atomsOf('keypair').length,
    counters: atomsOf('counter').length,
    nonces: atomsOf('nonce').length,
    dataElements: atomsOf('data').length,
    phases: f.phases.length,
  };
  return { abstracted, detailed, groups };
}

export interface ThreatEntry {
  id: string;
  threat: string;
  kind: Finding['kind'];
  subject: string;
  detail: string;
  likelihood: number;
  impact: number;
  score: number;
  acceptable: boolean;
  trace: Trace;
}

/** Threats of one attack model (or protocol check) in one risk-matrix cell. */
export interface RiskCellGroup {
  label: string;
  ids: string[];
}

export interface Report {
  model: string;
  description?: string;
  stats: { agents: number; messages: number; atoms: number; ms: number };
  table1: { paper: Table1; vakt: Table1; detailed: Table1; groups: Record<string, string[]> };
  agents: string[];
  requirements: Analysis['baseline'];
  attacks: {
    id: string;
    name: string;
    verdict: 'holds' | 'fails';
    likelihood: number;
    note?: string;
    knownTerms: number;
    network: string;
    compromised: number;
    elements: Analysis['attacks'][number]['elements'];
    findings: Finding[];
    /** correspondence properties failing under this attack model */
    brokenProperties: string[];
    /** what the model says about availability (attack models with a compromised agent) */
    availability?: AvailabilityResult;
  }[];
  properties: PropertyResult[];
  checks: Finding[];
  catalogue: ThreatEntry[];
  risk: {
    maxScore: number;
    grid?: string[];
    likelihoodLabels: string[];
    impactLabels: string[];
    /** cells[l-1][i-1] = threats placed at likelihood l, impact i, grouped by attack model or check */
    cells: RiskCellGroup[][][];
    acceptable: boolean[][];
  };
  verdict: 'holds' | 'fails';
}

/** True when a risk at (likelihood, impact) is acceptable under the model's criteria. */
export function acceptable(model: Model, likelihood: number, impact: number): boolean {
  if (model.risk.grid) return model.risk.grid[5 - likelihood][impact - 1] === 'A';
  return likelihood * impact <= model.risk.maxScore;
}

/** Builds the report object (also the --json output). */
export function buildReport(a: Analysis): Report {
  const model = a.model;
  const t1 = table1(model);
  const catalogue: ThreatEntry[] = [];
  let n = 0;
  const push = (threat: string, f: Finding): void => {
    catalogue.push({
      id: `T${++n}`,
      threat,
      kind: f.kind,
      subject: f.subject,
      detail: f.detail,
      likelihood: f.likelihood,
      impact: f.impact,
      score: f.likelihood * f.impact,
      acceptable: acceptable(model, f.likelihood, f.impact),
      trace: f.trace,
    });
  };
  for (const r of a.attacks) for (const f of r.findings) push(`${r.attack.id} ${r.attack.name}`, f);
  for (const f of a.checks) if (f.verdict === 'fails') push(`protocol check: ${f.kind}`, f);
  const cells: RiskCellGroup[][][] = Array.from({ length: 5 }, () => Array.from({ length: 5 }, () => [] as RiskCellGroup[]));
  const acc: boolean[][] = Array.from({ length: 5 }, (_, l) => Array.from({ length: 5 }, (_, i) => acceptable(model, l + 1, i + 1)));
  for (const t of catalogue) {
    const label = t.threat.startsWith('protocol check') ? t.kind : t.threat.split(' ')[0];
    const cell = cells[t.likelihood - 1][t.impact - 1];
    const group = cell.find((g) => g.label === label);
    if (group) group.ids.push(t.id);
    else cell.push({ label, ids: [t.id] });
  }
  const attacks = a.attacks.map((r) => ({
    id: r.attack.id,
    name: r.attack.name,
    verdict: r.verdict,
    likelihood: r.attack.likelihood,
    note: r.attack.note,
    knownTerms: r.knownTerms,
    network: r.attack.network,
    compromised: r.attack.compromised.length,
    elements: r.elements,
    findings: r.findings,
    brokenProperties: r.brokenProperties,
    availability: availabilityOf(model, r.attack),
  }));
  const verdict =
    attacks.some((x) => x.verdict === 'fails') ||
    a.checks.some((c) => c.verdict === 'fails') ||
    a.baseline.some((r) =>
      r.cells.some(
        (c) =>
          c.readStatus === 'leaked' || c.writeStatus === 'forgeable' || c.readStatus === 'unavailable' || c.writeStatus === 'unavailable',
      ),
    )
      ? 'fails'
      : 'holds';
  return {
    model: model.name,
    description: model.description,
    stats: { agents: model.agents.length, messages: model.messages.length, atoms: model.atoms.size, ms: Math.round(a.ms * 10) / 10 },
    table1: { paper: { ...PAPER_TABLE1 }, vakt: t1.abstracted, detailed: t1.detailed, groups: t1.groups },
    agents: model.agents.map((x) => x.name),
    requirements: a.baseline,
    attacks,
    properties: a.properties,
    checks: a.checks,
    catalogue,
    risk: {
      maxScore: model.risk.maxScore,
      grid: model.risk.grid,
      likelihoodLabels: model.risk.likelihoodLabels,
      impactLabels: model.risk.impactLabels,
      cells,
      acceptable: acc,
    },
    verdict,
  };
}

// ------------------------------------------------------------------ text

/** Findings beyond secrecy and integrity listed per attack model in the text report. */
const MAX_LISTED = 6;

/** An ANSI colour/attribute sequence (ESC [ … m), as C below writes them. */
// eslint-disable-next-line no-control-regex -- matching the escape character is the point
const ANSI_SGR = /\x1b\[[0-9;]*m/g;
const C = {
  red: '\x1b[31m',
  green: '\x1b[32m',
  yellow: '\x1b[33m',
  magenta: '\x1b[35m',
  dim: '\x1b[2m',
  bold: '\x1b[1m',
  reset: '\x1b[0m',
};

/** Plain-text report; `color` adds ANSI colours (green held, red leaked, magenta forgeable, yellow unavailable). */
export function renderText(r: Report, color: boolean): string {
  const c = (k: keyof typeof C, s: string) => (color ? C[k] + s + C.reset : s);
  const out: string[] = [];
  out.push(
    c('bold', `${r.model}`) +
      ` — ${r.stats.messages} messages, ${r.stats.agents} agents, ${r.stats.atoms} atoms; analysed in ${r.stats.ms} ms`,
  );
  out.push('');
  out.push(c('bold', 'Table 1 (abstracted as the paper: one generic meter, concentrator, HES, operation key)'));
  out.push('  aspect            paper  this model  (unabstracted)');
  for (const k of Object.keys(r.table1.paper) as (keyof Table1)[]) {
    const p = r.table1.paper[k];
    const v = r.table1.vakt[k];
    out.push(
      `  ${k.padEnd(17)} ${String(p).padStart(5)}  ${(v === p ? String(v) : c('yellow', String(v))).padStart(color && v !== p ? 19 : 10)}  (${r.table1.detailed[k]})`,
    );
  }
  out.push('');
  out.push(
    c('bold', 'Requirement table (honest agents)') +
      '  R/W required · ' +
      c('green', 'ok') +
      ' · ' +
      c('red', 'LEAK') +
      ' · ' +
      c('magenta', 'FORGE') +
      ' · ' +
      c('yellow', 'MISSING'),
  );
  const w = Math.max(...r.requirements.map((x) => x.element.length), 8);
  out.push('  ' + 'element'.padEnd(w) + r.agents.map((a) => '  ' + a.padEnd(10)).join(''));
  const cellText = (s: string, req: boolean, has: boolean, letter: string): string => {
    if (s === 'leaked') return c('red', `${letter}:LEAK`);
    if (s === 'forgeable') return c('magenta', `${letter}:FORGE`);
    if (s === 'unavailable') return c('yellow', `${letter}:MISSING`);
    if (req && has) return c('green', letter);
    return has ? letter.toLowerCase() : '';
  };
  for (const row of r.requirements) {
    const cells = row.cells.map((x) => {
      const parts = [cellText(x.readStatus, x.readReq, x.read, 'R'), cellText(x.writeStatus, x.writeReq, x.write, 'W')].filter(Boolean);
      const raw = parts.join(' ');
      const visible = raw.replace(ANSI_SGR, '');
      return '  ' + raw + ' '.repeat(Math.max(0, 10 - visible.length));
    });
    out.push('  ' + row.element.padEnd(w) + cells.join(''));
  }
  out.push('');
  out.push(c('bold', 'Attack models'));
  for (const a of r.attacks) {
    const v = a.verdict === 'holds' ? c('green', 'holds') : c('red', 'FAILS');
    // availability is not what "holds" covers: say so on the verdict's own line
    const scope = a.availability ? ` for confidentiality, integrity, replay and agreement; ${a.availability.statement}` : '';
    out.push(`  ${a.id} ${a.name}: ${v}${scope}`);
    const byDesign = a.brokenProperties.filter((p) => !a.findings.some((f) => f.kind === 'agreement' && f.subject === p));
    if (byDesign.length) out.push(`     ${c('red', 'agreement')} broken by design (see protocol checks): ${byDesign.join(', ')}`);
    const bad = a.elements.filter((e) => e.read === 'leaked' || e.write === 'forgeable');
    const exposed = a.elements.filter((e) => e.read === 'exposed' || e.write === 'exposed');
    if (bad.length)
      out.push(
        '     ' +
          bad
            .map(
              (e) => `${e.element}${e.read === 'leaked' ? c('red', ' read') : ''}${e.write === 'forgeable' ? c('magenta', ' write') : ''}`,
            )
            .join(', '),
      );
    if (exposed.length)
      out.push(
        c(
          'dim',
          "     given by the attack model itself (compromised agent's rights or leaked key): " + exposed.map((e) => e.element).join(', '),
        ),
      );
    const others = a.findings.filter((f) => f.kind !== 'confidentiality' && f.kind !== 'integrity');
    for (const f of others.slice(0, MAX_LISTED)) out.push(`     ${c('red', f.kind)}: ${f.detail}`);
    if (others.length > MAX_LISTED)
      out.push(
        c(
          'dim',
          `     … ${others.length - MAX_LISTED} more (${[...new Set(others.slice(MAX_LISTED).map((f) => f.kind))].join(', ')}; see --json / --html)`,
        ),
      );
    const first = a.findings[0];
    if (first)
      out.push(
        c(
          'dim',
          `     e.g. ${first.subject}: ${first.trace.steps.slice(-4).join(' ⇒ ')}  [messages: ${first.trace.messages.slice(0, 6).join(', ')}]`,
        ),
      );
  }
  out.push('');
  out.push(c('bold', 'Protocol checks'));
  const byKind = new Map<string, Finding[]>();
  for (const f of r.checks) byKind.set(f.kind, [...(byKind.get(f.kind) ?? []), f]);
  for (const k of ['substitution', 'reflection', 'forward-secrecy', 'key-transport', 'agreement']) {
    const list = byKind.get(k) ?? [];
    const fails = list.filter((f) => f.verdict === 'fails');
    const underAttack = r.properties.filter((p) => p.design === 'holds' && p.attacks.some((x) => x.verdict === 'fails')).length;
    const checked =
      k === 'agreement'
        ? ` in the honest run — ${r.properties.length} properties × instances${underAttack ? `; ${underAttack} fail under some attack model (listed there)` : ''}`
        : list.length
          ? ` — ${list.length} checked`
          : '';
    out.push(`  ${k}: ${fails.length ? c('red', `FAILS (${fails.length})`) : c('green', 'holds')}${checked}`);
    for (const f of fails.slice(0, 4)) out.push(`     ${f.detail}`);
    if (fails.length > 4) out.push(c('dim', `     … ${fails.length - 4} more (see --json / --html)`));
  }
  const replays = r.attacks.flatMap((a) => a.findings.filter((f) => f.kind === 'replay'));
  const activeModels = r.attacks.filter((a) => (a.network !== 'passive' && a.network !== 'none') || a.compromised > 0).length;
  out.push(
    `  replay: ${replays.length ? c('red', `FAILS (${replays.length})`) : activeModels ? c('green', 'holds') + ` — under ${activeModels} active attack models` : c('yellow', 'not checked (no active attack model)')}`,
  );
  out.push('');
  out.push(
    c('bold', `Catalogue of threats (${r.catalogue.length})`) +
      `  score = likelihood × impact; acceptable ≤ ${r.risk.grid ? 'grid' : r.risk.maxScore}`,
  );
  for (const t of r.catalogue.slice(0, 40)) {
    out.push(
      `  ${t.id.padEnd(4)} L${t.likelihood} I${t.impact} ${String(t.score).padStart(2)} ${t.acceptable ? c('green', 'accept') : c('red', 'TREAT ')} ${t.threat.split(' ')[0]} ${t.kind}: ${t.subject}`,
    );
  }
  if (r.catalogue.length > 40) out.push(c('dim', `  … ${r.catalogue.length - 40} more (see --json / --html)`));
  out.push('');
  out.push(c('bold', 'Risk matrix') + ' (rows likelihood 5→1, columns impact 1→5; cells: attack model or check × number of threats)');
  for (let l = 5; l >= 1; l--) {
    const row = [];
    for (let i = 1; i <= 5; i++) {
      const ids = r.risk.cells[l - 1][i - 1];
      const txt = (
        ids.length
          ? ids
              .slice(0, 3)
              .map((g) => `${g.label}×${g.ids.length}`)
              .join(',') + (ids.length > 3 ? '…' : '')
          : '·'
      )
        .slice(0, 16)
        .padEnd(16);
      row.push(r.risk.acceptable[l - 1][i - 1] ? c('green', txt) : ids.length ? c('red', txt) : c('yellow', txt));
    }
    out.push(`  L${l} ${r.risk.likelihoodLabels[l - 1].padEnd(15)} ${row.join(' ')}`);
  }
  out.push('     ' + ' '.repeat(15) + ' ' + r.risk.impactLabels.map((x, i) => `I${i + 1} ${x}`.padEnd(16)).join(' '));
  out.push('');
  out.push(
    `Verdict: ${r.verdict === 'holds' ? c('green', 'every requirement holds under every attack model') : c('red', 'some requirements fail (see above); accepted/treated per the risk criteria')}`,
  );
  return out.join('\n') + '\n';
}
