/**
 * Replay: a receiver accepts an old message again — no counter check, a non-atomic check (the race
 * of D-6), or a counter outside what the tag protects.
 */
import { ADV, variable, type Term } from './term.ts';
import type { Knowledge } from './dy.ts';
import type { AttackModel, Msg } from './model.ts';
import type { Finding } from './analysis.ts';
import { SEALS, accepted, impactOf, solutionsDeliverable, type Prepared } from './prepared.ts';

/** The data and keys a receiver takes out of a message (variables of its pattern). */
function learnedVars(prep: Prepared, m: Msg): Term[] {
  return [...prep.patterns.get(m.id)!.origin.entries()]
    .filter(([, o]) => ['data', 'symkey'].includes(prep.model.atoms.get(o)?.type ?? ''))
    .map(([x]) => x);
}

/**
 * Replay: an old message accepted again (no counter, non-atomic check, or counter outside the
 * protection). Every state-changing message counts, whether or not it carries data (LEAVE,
 * LINK_ACK, ACTIVATE); only messages marked idempotent are exempt. A data-free message the attacker
 * composes from nothing it recorded is reported as an integrity failure of that message.
 */
export function replayFindings(
  prep: Prepared,
  K: Knowledge,
  attack: AttackModel,
  canInject: (m: Msg) => boolean,
  oracleOut: Map<Term, string>,
): Finding[] {
  const out: Finding[] = [];
  const seen = new Set<string>();
  const comp = new Set(attack.compromised);
  for (const m of prep.model.messages) {
    // a compromised receiver is the attacker; a compromised origin may send whatever it likes
    if (!K.known.has(m.term) || comp.has(m.to) || m.idempotent || comp.has(originSender(prep, m))) continue;
    const f = (detail: string, steps: string[], kind: Finding['kind'] = 'replay'): void => {
      if (seen.has(m.generic)) return;
      seen.add(m.generic);
      out.push({
        kind,
        attack: attack.id,
        verdict: 'fails',
        subject: m.id,
        detail,
        trace: { steps: [`observe ${m.id}`, ...steps], messages: [m.id] },
        likelihood: attack.likelihood,
        impact: replayImpact(prep, m),
      });
    };
    if (!canInject(m) && ![...oracleOut.values()].includes(m.id)) continue;
    if (!m.counters.length) {
      if (canInject(m)) f(`${m.to} checks no counter: a recorded ${m.id} is accepted again`, [`resend ${m.id} unchanged`]);
      continue;
    }
    if (!m.atomic) {
      f(`${m.to} checks the counter of ${m.id} and records it in separate steps: two deliveries racing both pass`, [
        `deliver ${m.id} twice concurrently`,
      ]);
      continue;
    }
    const pat = prep.patterns.get(m.id)!;
    const learned = learnedVars(prep, m);
    // a forgery that could also change the content is reported as an integrity failure instead
    const forgeable =
      learned.length > 0 && K.solutions(pat.pat).some((t) => accepted(prep, m, t) && learned.some((x) => t.sigma.get(x) === ADV));
    if (forgeable) continue;
    for (const s of solutionsDeliverable(prep, K, m, pat, canInject(m), oracleOut)) {
      if (!accepted(prep, m, s)) continue;
      // every learned value is the recorded one: only the counter changed
      if (!learned.every((x) => s.sigma.get(x) === pat.origin.get(x))) continue;
      if (s.uses.length === 0) {
        f(
          `${m.to} accepts a ${m.id} the attacker composed itself: it carries no data and nothing in it needs a key the attacker lacks`,
          [`compose ${m.id} and deliver it to ${m.to}`],
          'integrity',
        );
        break;
      }
      // a replay re-delivers a recorded sealed unit under a new counter value (directly or inside
      // what an honest relay forwarded); a fresh frame an honest agent sent is a first delivery
      if (!m.counters.some((c) => s.sigma.get(variable(c.name)) !== c) || !s.uses.some((u) => carriesRecordedSeal(prep, u))) continue;
      const fresh = m.counters.map((c) => prep.show(c)).join(', ');
      f(`the counter of ${m.id} is not bound by its tag: the recorded content is accepted again under a new ${fresh}`, [
        `replace ${fresh} by a higher value and resend`,
      ]);
      break;
    }
  }
  return out;
}

/**
 * What a replay of m achieves: a relay hop whose receiver learns nothing only makes the relay
 * forward the frame again (the end receiver's own check decides, reported on that hop); anything
 * else is rated as making the receiver act on the message (impactOf).
 */
function replayImpact(prep: Prepared, m: Msg): number {
  const relayHop =
    m.impact === undefined &&
    learnedVars(prep, m).length === 0 &&
    prep.model.messages.some((x) => x.trigger === m.id && x.generic.replace(/\.\d+$/, '') === m.generic.replace(/\.\d+$/, ''));
  return relayHop ? RELAY_HOP_IMPACT : impactOf(prep, m);
}
/** A relay forwarding a frame once more: negligible on the 1…5 scale (air time). */
const RELAY_HOP_IMPACT = 1;

/** True when t is or contains a sealed unit some honest agent sent in the model's run. */
function carriesRecordedSeal(prep: Prepared, t: Term): boolean {
  return (SEALS.has(t.name) && t.kind === 'fn' && prep.recorded(t)) || t.args.some((a) => carriesRecordedSeal(prep, a));
}

/** The agent that first sent the chain of relayed hops ending in m. */
function originSender(prep: Prepared, m: Msg): string {
  let src = m;
  for (let hop = 0; hop < 16 && src.trigger && /\.\d+(@|$)/.test(src.id); hop++) {
    const t = prep.byId.get(src.trigger);
    if (!t || t.generic.replace(/\.\d+$/, '') !== m.generic.replace(/\.\d+$/, '')) break;
    src = t;
  }
  return src.from;
}
