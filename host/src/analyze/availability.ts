/**
 * Availability under compromise: what a symbolic model can say, and what it cannot.
 *
 * It can say who is on the path of whose traffic: a compromised agent can delay or drop every
 * message that passes through it, so the rule "a compromised meter or concentrator may delay only
 * its own traffic" holds structurally when no other agent's message passes through it. It cannot
 * say whether authentic but hostile input exhausts a receiver (CPU, memory, locks, queues): a
 * Dolev-Yao model has no resources. Such findings come from the implementation's tests and are
 * recorded in the model (`availability`), shown beside the derived part and marked as recorded.
 */
import type { AttackModel, AvailabilityRecord, Model, Msg } from './model.ts';

export interface AvailabilityResult {
  attack: string;
  /** agents whose traffic passes through a compromised agent without it being an endpoint */
  relayedFor: string[];
  /** the compromised agents can delay only traffic they send or receive themselves */
  ownOnly: boolean;
  recorded: AvailabilityRecord[];
  /** one plain sentence for the report, next to the verdict */
  statement: string;
}

/** The plain statement of what this analysis does not decide. */
export const NOT_EXPRESSIBLE =
  'resource exhaustion by authentic but hostile input (CPU, memory, locks, queues) is outside a symbolic model and not decided here';

/** Each end-to-end exchange once: its hops, first sender and final receiver. */
function exchanges(model: Model): { path: string[]; from: string; to: string }[] {
  const groups = new Map<string, Msg[]>();
  for (const m of model.messages) {
    const key = m.id.replace(/\.\d+(?=@|$)/, '');
    groups.set(key, [...(groups.get(key) ?? []), m]);
  }
  return [...groups.values()].map((hops) => ({
    path: [...new Set(hops.flatMap((h) => [h.from, ...h.via, h.to]))],
    from: hops[0].from,
    to: hops[hops.length - 1].to,
  }));
}

export function availabilityOf(model: Model, attack: AttackModel): AvailabilityResult | undefined {
  if (!attack.compromised.length) return undefined;
  const comp = new Set(attack.compromised);
  const relayed = new Set<string>();
  for (const x of exchanges(model)) {
    if (!x.path.some((a) => comp.has(a)) || comp.has(x.from) || comp.has(x.to)) continue;
    for (const a of [x.from, x.to]) relayed.add(a);
  }
  const recorded = model.availability.filter((r) => r.attack === attack.id);
  const who = attack.compromised.join(', ');
  const derived = relayed.size
    ? `${who} can delay or drop the traffic it relays between ${[...relayed].sort().join(', ')} (inherent to relaying: nothing in a protocol makes a relay forward)`
    : `${who} can delay only its own traffic (no other agent's message passes through it)`;
  const rec = recorded.length
    ? `; recorded from the implementation's tests: ${recorded.map((r) => `${r.verdict} — ${r.claim}${r.evidence ? ` (${r.evidence})` : ''}`).join('; ')}`
    : `; ${NOT_EXPRESSIBLE}`;
  return {
    attack: attack.id,
    relayedFor: [...relayed].sort(),
    ownOnly: relayed.size === 0,
    recorded,
    statement: `availability: ${derived}${rec}`,
  };
}
