// The ProVerif export: every function, name and event it uses is declared, parentheses balance,
// and it carries the secrecy and correspondence queries the analyser's verdicts correspond to.
// (Running ProVerif itself is optional and done by hand; see docs/ANALYSIS.md.)
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../host/src/analyze/model.ts';
import { exportProverif } from '../../host/src/analyze/proverif.ts';
import { VAKT, fixture } from './helpers.ts';

const KEYWORDS = new Set([
  'set',
  'passive',
  'free',
  'const',
  'fun',
  'reduc',
  'forall',
  'event',
  'query',
  'attacker',
  'process',
  'in',
  'out',
  'let',
  'if',
  'then',
  'else',
  'new',
  'channel',
  'bitstring',
  'private',
  'data',
  'x',
  'set',
]);

function check(pv: string): string[] {
  const problems: string[] = [];
  const body = pv.replace(/\(\*[\s\S]*?\*\)/g, ' ');
  let depth = 0;
  for (const ch of body) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (depth < 0) problems.push('unbalanced )');
  }
  if (depth !== 0) problems.push(`unbalanced parentheses (${depth})`);
  const declared = new Set<string>();
  for (const m of body.matchAll(/\b(?:free|const|fun|event)\s+([A-Za-z_][A-Za-z0-9_]*)/g)) declared.add(m[1]);
  for (const m of body.matchAll(/\breduc\s+forall[^;]*;\s*([A-Za-z_][A-Za-z0-9_]*)/g)) declared.add(m[1]);
  const bound = new Set<string>();
  for (const m of body.matchAll(/\b(y\d+|d\d+|[a-z])\b/g)) bound.add(m[1]);
  for (const m of body.matchAll(/\b([A-Za-z_][A-Za-z0-9_]*)\b/g)) {
    const id = m[1];
    if (KEYWORDS.has(id) || declared.has(id) || bound.has(id)) continue;
    problems.push(`undeclared ${id}`);
  }
  return [...new Set(problems)];
}

describe('ProVerif export', () => {
  const pv = exportProverif(loadModel(VAKT));
  it('declares everything it uses and balances its parentheses', () => {
    expect(check(pv)).toEqual([]);
  });
  it('asks for the secrecy of every confidential element and for authentication of what receivers accept', () => {
    expect(pv).toContain('query attacker(reading_Meter1).');
    expect(pv).toContain('query attacker(MK_Meter2).');
    expect(pv).not.toContain('query attacker(clockCmd_Meter1).'); // no read requirement ("*")
    expect(pv).toMatch(/event\(accept_RELAY_DOWN_Meter1\(ev1\(d0\)\)\) ==> event\(send_RELAY_DOWN_Meter1\(ev1\(d0\)\)\)/);
    expect(pv).toContain('sig_verify(pk(KPEKP_sk)');
  });
  it('the unsigned-shipment fixture has the HES accept the shipment without a signature check', () => {
    const broken = exportProverif(loadModel(fixture('unsigned-shipment')));
    expect(check(broken)).toEqual([]);
    expect(broken).not.toContain('sig_verify(pk(KPEKP_sk)');
    expect(broken).toContain('pdec(HESKP_sk');
  });
  it('an attack model adds its leaked keys to the attacker and drops their secrecy queries', () => {
    const m = loadModel(VAKT);
    const a6 = m.attacks.find((a) => a.id === 'A6')!;
    const leaked = exportProverif(m, a6);
    expect(leaked).toContain('out(net, MK_Meter1)');
    expect(leaked).not.toContain('query attacker(MK_Meter1).');
    expect(check(leaked)).toEqual([]);
  });
  it('A1 is exported with a passive attacker, the others with an active one', () => {
    const m = loadModel(VAKT);
    const a1 = exportProverif(
      m,
      m.attacks.find((a) => a.id === 'A1'),
    );
    expect(a1).toMatch(/^set attacker = passive\.$/m);
    expect(check(a1)).toEqual([]);
    expect(
      exportProverif(
        m,
        m.attacks.find((a) => a.id === 'A2'),
      ),
    ).not.toContain('set attacker');
  });
  it('A8 taps the shipment link only: every other hop travels on a private channel', () => {
    const m = loadModel(VAKT);
    const a8 = exportProverif(
      m,
      m.attacks.find((a) => a.id === 'A8'),
    );
    expect(check(a8)).toEqual([]);
    // the public channels are exactly those of the shipment hops (D0, D1, D2)
    const onNet = [...a8.matchAll(/^free net_(\w+): channel\.$/gm)].map((m) => m[1]);
    expect(onNet.length).toBeGreaterThan(0);
    for (const id of onNet) expect(id).toMatch(/^D[012]/);
    expect(a8).toContain('free ch_READING_UP_1_Meter1: channel [private].');
  });
  it('says in the output what it approximates', () => {
    const pv = exportProverif(loadModel(VAKT), loadModel(VAKT).attacks[1]);
    expect(pv).toContain('Approximated (not exported faithfully):');
    expect(pv).toContain('counters are public constants');
    expect(pv).toContain('phases (production, deployment, operations) run concurrently');
  });
  it('exports each correspondence property as an event pair and a query', () => {
    const broken = exportProverif(loadModel(fixture('activate-before-confirm')));
    expect(check(broken)).toEqual([]);
    expect(broken).toContain('query x: bitstring; event(P_key_confirmation_Meter1_e(x)) ==> event(P_key_confirmation_Meter1_r(x)).');
    // the HES sends ACTIVATE unprompted: the event stands in the untriggered sender process
    expect(broken).toMatch(/!\(\s*event P_key_confirmation_Meter1_e\(/);
    const ok = exportProverif(loadModel(VAKT));
    expect(ok).not.toMatch(/!\(\s*event P_key_confirmation_Meter1_e\(/);
  });
});
