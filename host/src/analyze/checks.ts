/**
 * Protocol checks that are not tied to one attack model: substitution/reflection (design),
 * forward secrecy of key updates, authenticated key transport.
 */
import { ADV, type Term } from './term.ts';
import { Knowledge, match } from './dy.ts';
import type { AttackModel } from './model.ts';
import type { Finding } from './analysis.ts';
import { accepted, impactOf, originOf, type Prepared } from './prepared.ts';

/** Units a receiver verifies (key fixed in its pattern) paired with same-key units of other messages it would accept. */
export function substitutionChecks(prep: Prepared): Finding[] {
  const out: Finding[] = [];
  const seen = new Set<string>();
  const units = (t: Term, acc: Term[] = []): Term[] => {
    if (t.name === 'aead' || t.name === 'mac' || t.name === 'senc' || t.name === 'wrap' || t.name === 'sign' || t.name === 'penc')
      acc.push(t);
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
            kind: reflect ? 'reflection' : 'substitution',
            attack: 'design',
            verdict: 'fails',
            subject: `${m1.id} → ${m2.id}`,
            detail: `${m2.to} cannot tell ${prep.show(u1).slice(0, 80)} from ${m1.id} apart from what it expects in ${m2.id} (same key ${prep.show(u2.args[0])})`,
            trace: {
              steps: [`observe ${m1.id}`, `deliver its unit under ${prep.show(u2.args[0])} to ${m2.to} in place of ${m2.id}`],
              messages: [m1.id, m2.id],
            },
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
    for (const x of model.messages)
      if (x.links.some((l) => !model.links.find((L) => L.name === l)?.private)) K.add(x.term, { kind: 'msg', msg: x.id });
    K.saturate();
    const leaks = K.canDerive(m.keyUpdate.new);
    const ex = leaks
      ? K.explain(m.keyUpdate.new, prep.show)
      : {
          steps: [`${prep.show(m.keyUpdate.new)} not derivable from recorded traffic and ${prep.show(m.keyUpdate.old)}`],
          msgs: new Set([m.id]),
        };
    out.push({
      kind: 'forward-secrecy',
      attack: 'design',
      verdict: leaks ? 'fails' : 'holds',
      subject: m.id,
      detail: leaks
        ? `leaking the replaced key ${prep.show(m.keyUpdate.old)} reveals the new key ${prep.show(m.keyUpdate.new)} from a recording of ${m.id} (key transport, no forward secrecy)`
        : `the new key ${prep.show(m.keyUpdate.new)} stays secret when ${prep.show(m.keyUpdate.old)} leaks`,
      trace: { steps: ex.steps, messages: [...ex.msgs] },
      likelihood: model.risk.checks['forward-secrecy']?.likelihood ?? 2,
      impact:
        model.risk.checks['forward-secrecy']?.impact ??
        Math.max(1, ...model.requirements.filter((r) => r.element === m.keyUpdate!.new).map((r) => r.impact.read)),
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
      const sol = inject ? K.build(pat.pat).find((s) => accepted(prep, m, s) && s.sigma.get(x) === ADV) : undefined;
      out.push({
        kind: 'key-transport',
        attack: 'design',
        verdict: sol ? 'fails' : 'holds',
        subject: `${prep.show(orig)} in ${m.id}`,
        detail: sol
          ? `${m.to} accepts a ${prep.show(orig)} chosen by the attacker in ${m.id} (unauthenticated key transport)`
          : `${m.to} only accepts ${prep.show(orig)} in ${m.id} from ${originOf(prep, m, orig)} (authenticated transport)`,
        trace: sol
          ? {
              steps: [
                ...sol.uses.flatMap((u) => K.explain(u, prep.show).steps),
                `compose ${m.id} around an attacker key and deliver it to ${m.to}`,
              ],
              messages: [m.id],
            }
          : { steps: [`no accepted ${m.id} with an attacker key: its protection needs a key the attacker lacks`], messages: [m.id] },
        likelihood: model.risk.checks['key-transport']?.likelihood ?? activeAttack.likelihood,
        impact:
          model.risk.checks['key-transport']?.impact ??
          Math.max(1, ...model.requirements.filter((r) => r.element === orig).map((r) => r.impact.write)),
      });
    }
  }
  return out;
}
