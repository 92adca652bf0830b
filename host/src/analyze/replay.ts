/**
 * Replay: a receiver accepts an old message again — no counter check, a non-atomic check (the race
 * of D-6), or a counter outside what the tag protects.
 */
import { ADV, type Term } from './term.ts';
import type { Knowledge } from './dy.ts';
import type { AttackModel, Msg } from './model.ts';
import type { Finding } from './analysis.ts';
import { accepted, impactOf, solutionsDeliverable, type Prepared } from './prepared.ts';

/** Replay: an old message accepted again (no counter, non-atomic check, or counter outside the protection). */
export function replayFindings(prep: Prepared, K: Knowledge, attack: AttackModel, canInject: (m: Msg) => boolean, oracleOut: Map<Term, string>): Finding[] {
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
