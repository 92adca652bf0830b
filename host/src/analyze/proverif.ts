/**
 * Export of a model as a ProVerif input file (applied pi calculus): the same terms, the honest
 * agents as replicated processes (senders output their messages, receivers check exactly what
 * the analyser's receiver pattern checks and, as relays and responders, send the triggered
 * message), secrecy queries for every element with a read requirement and correspondence queries
 * (accept ⇒ send) for every element a receiver takes out of a message. Counters are public
 * constants there: ProVerif has no counter state, so replay stays the analyser's job.
 */
import { Prepared } from './analysis.ts';
import type { AttackModel, Model, Msg } from './model.ts';
import type { Term } from './term.ts';

const PRIMITIVES = `(* primitives: the same equational theory the analyser's closure uses *)
fun aead(bitstring, bitstring, bitstring): bitstring.
reduc forall k: bitstring, m: bitstring, a: bitstring; aead_open(k, aead(k, m, a)) = m.
reduc forall k: bitstring, m: bitstring, a: bitstring; aead_ad(aead(k, m, a)) = a.
fun senc(bitstring, bitstring): bitstring.
reduc forall k: bitstring, m: bitstring; senc_open(k, senc(k, m)) = m.
fun wrap(bitstring, bitstring): bitstring.
reduc forall k: bitstring, m: bitstring; unwrap(k, wrap(k, m)) = m.
fun mac(bitstring, bitstring): bitstring.
reduc forall k: bitstring, m: bitstring; mac_msg(mac(k, m)) = m.
reduc forall k: bitstring, m: bitstring; mac_verify(k, mac(k, m)) = m.
fun kdf(bitstring, bitstring, bitstring): bitstring.
fun hash(bitstring): bitstring.
fun pk(bitstring): bitstring.
fun penc(bitstring, bitstring): bitstring.
reduc forall s: bitstring, m: bitstring; pdec(s, penc(pk(s), m)) = m.
fun sign(bitstring, bitstring): bitstring.
reduc forall s: bitstring, m: bitstring; sig_msg(sign(s, m)) = m.
reduc forall s: bitstring, m: bitstring; sig_verify(pk(s), sign(s, m)) = m.
`;

const ident = (s: string): string =>
  s
    .replace(/^'|'$/g, '')
    .replace(/[^A-Za-z0-9_]/g, '_')
    .replace(/^([0-9_])/, 'n$1');

/** What the export cannot say exactly as the analyser does (listed in the output's header). */
export function approximations(model: Model, attack?: AttackModel): string[] {
  const out = [
    "counters are public constants (ProVerif has no counter state): replay, and a race on a non-atomic counter check, are the analyser's findings only",
  ];
  if (model.phases.length > 1) out.push(`phases (${model.phases.join(', ')}) run concurrently, not in order`);
  out.push("availability (delay, resource exhaustion) is not expressed; see the analyser's availability section");
  if (attack && attack.network === 'none' && !attack.compromised.length && !attack.leaks.length)
    out.push('an attack model with no network access, no compromise and no leak leaves ProVerif nothing to attack');
  return out;
}

/** ProVerif text for a model; `attack` adds its leaked terms and compromised agents' keys to the attacker. */
export function exportProverif(model: Model, attack?: AttackModel): string {
  const prep = new Prepared(model);
  const decls = new Map<string, string>();
  const tuples = new Map<string, number>();
  const nm = (t: Term): string => {
    // constants and atoms become names; each declared once
    if (t.name.startsWith("'")) {
      const id = 's_' + ident(t.name);
      decls.set(id, `const ${id}: bitstring.`);
      return id;
    }
    const info = model.atoms.get(t);
    const id = ident(t.name);
    if (!info) decls.set(id, `const ${id}: bitstring.`);
    else if (info.type === 'keypair') {
      decls.set(`${id}_sk`, `free ${id}_sk: bitstring [private].`);
      return `${id}_sk`;
    } else if (info.type === 'counter' || info.type === 'const') decls.set(id, `free ${id}: bitstring.`);
    else decls.set(id, `free ${id}: bitstring [private].`);
    return id;
  };
  const tupleName = (t: Term): string => {
    const id = `${ident(t.name)}${t.args.length}`;
    tuples.set(id, t.args.length);
    return id;
  };
  const expr = (t: Term, vars: Map<Term, string>): string => {
    const v = vars.get(t);
    if (v) return v;
    if (t.kind !== 'fn') return nm(t);
    if (t.name === 'sk') return nm(t.args[0]);
    if (t.name === 'pk') return `pk(${nm(t.args[0])})`;
    const args = t.args.map((a) => expr(a, vars)).join(', ');
    if (prep.isTuple(t.name)) return `${tupleName(t)}(${args})`;
    return `${t.name}(${args})`;
  };
  let fresh = 0;
  /** Lines that take `input` apart as the receiver's pattern says; binds pattern variables. */
  const matcher = (p: Term, input: string, bound: Map<Term, string>, lines: string[]): void => {
    if (p.kind === 'var') {
      const b = bound.get(p);
      if (b) lines.push(`if ${input} = ${b} then`);
      else bound.set(p, input);
      return;
    }
    if (p.ground) {
      lines.push(`if ${input} = ${expr(p, new Map())} then`);
      return;
    }
    const y = () => `y${++fresh}`;
    if (prep.isTuple(p.name)) {
      const ys = p.args.map(() => y());
      lines.push(`let ${tupleName(p)}(${ys.join(', ')}) = ${input} in`);
      p.args.forEach((a, i) => matcher(a, ys[i], bound, lines));
      return;
    }
    const k = p.args[0];
    const key = k.kind === 'var' ? undefined : expr(k, bound);
    const m = y();
    switch (p.name) {
      case 'aead': {
        const ad = y();
        lines.push(`let ${ad} = aead_ad(${input}) in`);
        matcher(p.args[2], ad, bound, lines);
        lines.push(`let ${m} = aead_open(${key}, ${input}) in`);
        break;
      }
      case 'mac':
        lines.push(`let ${m} = mac_verify(${key}, ${input}) in`);
        break;
      case 'senc':
        lines.push(`let ${m} = senc_open(${key}, ${input}) in`);
        break;
      case 'wrap':
        lines.push(`let ${m} = unwrap(${key}, ${input}) in`);
        break;
      case 'penc':
        lines.push(`let ${m} = pdec(${nm(k.args[0])}, ${input}) in`);
        break;
      case 'sign':
        lines.push(key ? `let ${m} = sig_verify(pk(${nm(k.args[0])}), ${input}) in` : `let ${m} = sig_msg(${input}) in`);
        break;
      default:
        lines.push(`if ${input} = ${expr(p, bound)} then`);
        return;
    }
    matcher(p.args[1], m, bound, lines);
  };
  // channels follow the attack model: the attacker's channel net carries exactly the hops it taps
  // (its links in its phases, or a compromised endpoint's); every other hop is a private channel
  const tapped = (m: Msg): boolean => {
    const link = model.links.find((L) => L.name === m.links[m.links.length - 1]);
    if (!attack) return !!link && !link.private;
    const ends = [m.via.length ? m.via[m.via.length - 1] : m.from, m.to];
    if (ends.some((a) => attack.compromised.includes(a))) return true;
    return attack.network !== 'none' && !!link && attack.links.includes(link.name) && attack.phases.includes(m.phase);
  };
  const channel = (m: Msg): string => {
    if (tapped(m)) {
      // one public channel per hop: the honest network delivers each frame to its own receiver
      // (what a passive attacker cannot change); an active attacker reads and writes them all
      const id = `net_${ident(m.id)}`;
      decls.set(id, `free ${id}: channel.`);
      return id;
    }
    // private, and also one per hop: an honest network delivers each frame to its own receiver
    const id = `ch_${ident(m.id)}`;
    decls.set(id, `free ${id}: channel [private].`);
    return id;
  };
  const events = new Set<string>();
  const queries: string[] = [];
  const base = (id: string): string => ident(id.replace(/\.\d+(?=@|$)/, ''));
  const deliveredOf = (m: Msg): Term[] => {
    const pat = prep.patterns.get(m.id)!;
    return [...pat.origin.entries()]
      .filter(([, o]) => ['data', 'symkey'].includes(model.atoms.get(o)?.type ?? ''))
      .map(([x]) => x)
      .sort((a, b) => a.name.localeCompare(b.name));
  };
  const procs: string[] = [];
  const triggered = new Map<string, Msg[]>();
  for (const m of model.messages) if (m.trigger) triggered.set(m.trigger, [...(triggered.get(m.trigger) ?? []), m]);
  const originOf = (m: Msg): Msg => {
    let s = m;
    while (s.trigger && prep.byId.get(s.trigger) && /\.\d+(@|$)/.test(s.id) && base(prep.byId.get(s.trigger)!.id) === base(s.id))
      s = prep.byId.get(s.trigger)!;
    return s;
  };
  // correspondence properties: one event pair per property and instance, agreeing on the listed atoms
  const propSites = new Map<string, { kind: 'send' | 'accept'; name: string; agreed: Term[] }[]>();
  for (const p of model.properties) {
    for (const e of model.messages.filter((x) => x.generic === p.event.hop)) {
      const suffix = /@.*$/.exec(e.id)?.[0] ?? '';
      const r = prep.byId.get(p.requires.hop + suffix) ?? prep.byId.get(p.requires.hop);
      if (!r) continue;
      const at = (ev: typeof p.event, x: Msg) => (ev.kind === 'send' ? x.from : x.to);
      if (attack && (attack.compromised.includes(at(p.event, e)) || attack.compromised.includes(at(p.requires, r)))) continue;
      const agreed = [...model.atoms.values()]
        .filter((a) => p.agree.includes(a.generic) && (!a.owner || suffix.includes(a.owner)))
        .map((a) => a.term);
      const name = `P_${ident(p.id)}${suffix ? '_' + ident(suffix.slice(1)) : ''}`;
      for (const [site, ev, x] of [
        [`${p.event.kind}:${e.id}`, 'e', e],
        [`${p.requires.kind}:${r.id}`, 'r', r],
      ] as const) {
        propSites.set(site, [
          ...(propSites.get(site) ?? []),
          { kind: site.startsWith('send') ? 'send' : 'accept', name: `${name}_${ev}`, agreed },
        ]);
        events.add(`${name}_${ev}`);
        void x;
      }
      queries.push(`query x: bitstring; event(${name}_e(x)) ==> event(${name}_r(x)). (* ${p.id}: ${p.label} *)`);
    }
  }
  const propEvents = (kind: 'send' | 'accept', m: Msg, vars: Map<Term, string>): string[] =>
    (propSites.get(`${kind}:${m.id}`) ?? []).map(
      (x) =>
        `event ${x.name}(${x.agreed.length ? `${tupleName({ name: 'ev', args: x.agreed } as unknown as Term)}(${x.agreed.map((t) => vars.get(t) ?? expr(t, new Map())).join(', ')})` : 's_any'});`,
    );
  const sendLines = (m: Msg, vars: Map<Term, string>): string[] => {
    const lines: string[] = [];
    const origin = originOf(m);
    const final = [...model.messages].reverse().find((x) => base(x.id) === base(m.id))!;
    const data = deliveredOf(final);
    if (origin === m && data.length) {
      const ev = `send_${base(m.id)}`;
      events.add(ev);
      const orig = prep.patterns.get(final.id)!.origin;
      lines.push(
        `event ${ev}(${tupleName({ name: 'ev', args: data } as unknown as Term)}(${data.map((x) => expr(orig.get(x)!, vars)).join(', ')}));`,
      );
    }
    lines.push(...propEvents('send', m, vars));
    lines.push(`out(${channel(m)}, ${expr(m.term, vars)})`);
    return lines;
  };
  for (const m of model.messages) {
    const lines: string[] = [`in(${channel(m)}, x: bitstring);`];
    const bound = new Map<Term, string>();
    const pat = prep.patterns.get(m.id)!;
    fresh = 0;
    matcher(pat.pat, 'x', bound, lines);
    const data = deliveredOf(m);
    const accVars = new Map<Term, string>();
    for (const [x, orig] of pat.origin) if (bound.has(x)) accVars.set(orig, bound.get(x)!);
    lines.push(...propEvents('accept', m, accVars));
    const isFinal = ![...model.messages].some(
      (x) => x !== m && base(x.id) === base(m.id) && model.messages.indexOf(x) > model.messages.indexOf(m),
    );
    // a compromised receiver or origin makes accept/send meaningless: the analyser calls that "given"
    const compromised = (x: string): boolean => attack?.compromised.includes(x) ?? false;
    if (isFinal && data.length && !compromised(m.to) && !compromised(originOf(m).from)) {
      const ev = `accept_${base(m.id)}`;
      events.add(ev);
      lines.push(`event ${ev}(${tupleName({ name: 'ev', args: data } as unknown as Term)}(${data.map((x) => bound.get(x)!).join(', ')}));`);
      queries.push(
        `query ${data.map((_, i) => `d${i}: bitstring`).join(', ')}; event(${ev}(ev${data.length}(${data.map((_, i) => `d${i}`).join(', ')}))) ==> event(send_${base(m.id)}(ev${data.length}(${data.map((_, i) => `d${i}`).join(', ')}))).`,
      );
    }
    // as relay or responder the receiver sends what the trigger asks for, with the values it accepted
    const next = triggered.get(m.id) ?? [];
    const vars = new Map<Term, string>();
    for (const [x, orig] of pat.origin) if (bound.has(x)) vars.set(orig, bound.get(x)!);
    const tail = next.map((n) => sendLines(n, vars).join('\n      '));
    lines.push(tail.length ? tail.join(' |\n      ') : '0');
    procs.push(
      `(* ${m.id}: ${m.from} → ${m.to}${m.via.length ? ' via ' + m.via.join(', ') : ''} — ${m.label} *)\n  !(\n      ${lines.join('\n      ')}\n  )`,
    );
    if (!m.trigger) procs.push(`!(\n      ${sendLines(m, new Map()).join('\n      ')}\n  )`);
  }
  const leaks: string[] = [];
  if (attack) {
    for (const t of attack.leaks) leaks.push(`out(net, ${expr(t, new Map())})`);
    // a compromised agent hands over everything it holds or learned (keys and data), as in the analyser
    for (const a of attack.compromised) {
      for (const t of prep.agentK.get(a)!.known) {
        const info = model.atoms.get(t.name === 'sk' ? t.args[0] : t);
        if (!info || info.derived || !['symkey', 'keypair', 'data', 'nonce'].includes(info.type)) continue;
        if (info.type === 'keypair' && t.name !== 'sk') continue;
        leaks.push(`out(net, ${expr(t, new Map())})`);
      }
    }
  }
  const secrecy: string[] = [];
  for (const r of model.requirements) {
    if (r.readPublic) continue;
    if (attack && (attack.leaks.includes(r.element) || attack.compromised.some((a) => r.read.includes(a)))) continue;
    secrecy.push(`query attacker(${expr(r.element, new Map())}).`);
  }
  const approx = approximations(model, attack);
  const header = [
    `(* ${model.name}: exported by \`vakt analyze --export proverif\`${attack ? ` under attack model ${attack.id} (${attack.name})` : ' (no attack model: an active attacker on every public link)'}.`,
    attack
      ? `   Attacker: ${attack.network === 'passive' ? 'passive (set attacker = passive)' : attack.network === 'active' ? 'active' : 'none on the network'} on ${attack.network === 'none' ? 'no link' : attack.links.join(', ')}${attack.phases.length < model.phases.length ? ` in ${attack.phases.join(', ')}` : ''}${attack.compromised.length ? `; compromised ${attack.compromised.join(', ')} (their hops are public channels, their knowledge is sent to net)` : ''}${attack.leaks.length ? `; leaked keys are sent to net` : ''}.`
      : '   Public links are the channel net (Dolev-Yao attacker); private links are private channels.',
    '   Every other hop is a private channel the attacker cannot read or write.',
    '   Approximated (not exported faithfully):',
    ...approx.map((a) => `   - ${a}`),
    '*)',
    '',
    ...(attack?.network === 'passive' ? ['set attacker = passive.', ''] : []),
    'free net: channel.',
    'const s_any: bitstring.',
  ];
  const tupleDecls = [...tuples.entries()].map(([id, n]) => `fun ${id}(${Array(n).fill('bitstring').join(', ')}): bitstring [data].`);
  return [
    ...header,
    PRIMITIVES,
    '(* tuples *)',
    ...tupleDecls,
    '',
    '(* names: keys, data and key pairs are private; agents, constants and counters public *)',
    ...[...decls.values()].sort(),
    '',
    ...[...events].sort().map((e) => `event ${e}(bitstring).`),
    '',
    '(* secrecy: every element with a read requirement *)',
    ...secrecy,
    '',
    '(* authentication: whatever a receiver accepts was sent by its honest origin *)',
    ...queries,
    '',
    'process',
    '  ' + [...procs, ...(leaks.length ? [`(${leaks.join(' | ')})`] : [])].join('\n  | '),
    '',
  ].join('\n');
}
