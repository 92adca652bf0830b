/**
 * Cross-check with ProVerif: read the RESULT lines of a ProVerif run on an exported model and
 * compare each query with the analyser's verdict under the same attack model.
 *   not attacker(X)              ⇔ X is not leaked
 *   accept_M(d) ==> send_M(d)    ⇔ nothing the final receiver of M takes out of it is forgeable
 *   P_id_e(x) ==> P_id_r(x)      ⇔ the correspondence property holds
 * Counters are constants in the export, so replay findings have no ProVerif counterpart.
 */
import type { Analysis } from './analysis.ts';
import { show, type Term } from './term.ts';

export type PvVerdict = 'true' | 'false' | 'unknown';
export interface PvResult {
  query: string;
  result: PvVerdict;
}
export interface Comparison {
  query: string;
  proverif: PvVerdict;
  /** the analyser's verdict for the same question ('?' when the query maps to nothing it checks) */
  analyser: 'holds' | 'fails' | '?';
  agree: boolean;
}

const ident = (s: string): string =>
  s
    .replace(/^'|'$/g, '')
    .replace(/[^A-Za-z0-9_]/g, '_')
    .replace(/^([0-9_])/, 'n$1');

/** The RESULT lines of ProVerif's output. */
export function parseProverif(out: string): PvResult[] {
  const res: PvResult[] = [];
  for (const m of out.matchAll(/^RESULT (.*) (is true|is false|cannot be proved)\.$/gm))
    res.push({ query: m[1], result: m[2] === 'is true' ? 'true' : m[2] === 'is false' ? 'false' : 'unknown' });
  return res;
}

/** How ProVerif prints a term of the export (names, s_constants, tupleN, a key pair's NAME_sk). */
function pvExpr(t: Term, isTuple: (n: string) => boolean): string {
  if (t.kind !== 'fn') return t.name.startsWith("'") ? `s_${ident(t.name)}` : ident(t.name);
  if (t.name === 'sk') return `${ident(t.args[0].name)}_sk`;
  const args = t.args.map((x) => pvExpr(x, isTuple)).join(',');
  return `${isTuple(t.name) ? ident(t.name) + t.args.length : t.name}(${args})`;
}

/** Each ProVerif result beside the analyser's verdict under attack `attackId`. */
export function compare(a: Analysis, attackId: string, results: PvResult[]): Comparison[] {
  const r = a.attacks.find((x) => x.attack.id === attackId);
  if (!r) throw new Error(`no attack model ${attackId}`);
  const base = (id: string): string => ident(id.replace(/\.\d+(?=@|$)/, ''));
  // messages (by ProVerif's event name) through which a receiver accepts a forged element
  const forgedIn = new Set(
    r.elements
      .filter((e) => e.write === 'forgeable')
      .flatMap((e) => e.forgedVia ?? [])
      .map(base),
  );
  return results.map(({ query, result }) => {
    let analyser: Comparison['analyser'] = '?';
    const sec = /^not attacker\((.*)\)$/.exec(query.replace(/\[\]/g, ''));
    const acc = /^event\(accept_(\w+)\(/.exec(query);
    const prop = /^event\((P_\w+)_e\(/.exec(query);
    if (sec) {
      const tuples = new Set(['tuple', ...(a.model.file.tuples ?? [])]);
      const req = a.model.requirements.find((q) => pvExpr(q.element, (n) => tuples.has(n)) === sec[1].replace(/\s+/g, ''));
      const el = req && r.elements.find((e) => e.element === show(req.element, (u) => a.model.names.get(u)));
      if (el) analyser = el.read === 'leaked' ? 'fails' : 'holds';
    } else if (acc) {
      if (a.model.messages.some((m) => base(m.id) === acc[1])) analyser = forgedIn.has(acc[1]) ? 'fails' : 'holds';
    } else if (prop) {
      const p = a.properties.find((x) => `P_${ident(x.id)}${x.instance !== '—' ? '_' + ident(x.instance) : ''}` === prop[1]);
      const v = p?.attacks.find((x) => x.attack === attackId)?.verdict;
      if (v === 'holds' || v === 'fails') analyser = v;
    }
    const agree = analyser !== '?' && result !== 'unknown' && (result === 'true') === (analyser === 'holds');
    return { query, proverif: result, analyser, agree };
  });
}
