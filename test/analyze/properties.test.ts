// Correspondence (agreement) properties: key confirmation ("the HES activates K only after the
// meter accepted K") and command origin ("a meter executes a command only if the HES sent it for
// that meter"). A design that breaks them is flagged even when no secret or datum changes hands.
import { describe, expect, it } from 'vitest';
import { parseModel, type Model } from '../../host/src/analyze/model.ts';
import { VAKT, analysisOf, fixture } from './helpers.ts';
import { readFileSync } from 'node:fs';

const prop = (path: string, id: string, instance = 'Meter1') => {
  const r = analysisOf(path).properties.find((p) => p.id === id && p.instance === instance);
  if (!r) throw new Error(`no property ${id} at ${instance}`);
  return r;
};
const verdicts = (path: string, id: string, instance = 'Meter1') =>
  Object.fromEntries(prop(path, id, instance).attacks.map((a) => [a.attack, a.verdict]));

describe('key confirmation', () => {
  const broken = fixture('activate-before-confirm');
  it('a HES that activates without waiting for CONFIRM breaks key confirmation, by design', () => {
    for (const inst of ['Meter1', 'Meter2']) expect(prop(broken, 'key-confirmation', inst).design).toBe('fails');
    const f = analysisOf(broken).checks.filter((c) => c.kind === 'agreement' && c.verdict === 'fails');
    expect(f.map((x) => x.subject).sort()).toEqual(['key-confirmation@Meter1', 'key-confirmation@Meter2']);
    expect(f[0].detail).toContain('unprompted');
    expect(f[0].trace.messages).toContain('KU_ACTIVATE.1@Meter1');
  });
  it('the broken model is no longer reported as identical to the correct one', () => {
    const verdict = (path: string) =>
      analysisOf(path)
        .attacks.map((r) => `${r.attack.id}:${r.verdict}`)
        .join(' ');
    expect(verdict(broken)).not.toEqual(verdict(VAKT));
    expect(analysisOf(broken).attacks.find((r) => r.attack.id === 'A2')!.verdict).toBe('fails');
  });
  it('only key confirmation breaks: the CONFIRM the HES receives still needs the meter', () => {
    expect(prop(broken, 'confirm-origin').design).toBe('holds');
    expect(verdicts(broken, 'confirm-origin')).toMatchObject({ A1: 'holds', A2: 'holds', A3: 'holds', A8: 'holds' });
  });
  it('Vakt: the HES activates only after the meter accepted the key, under every attack model but a leaked HES key', () => {
    for (const inst of ['Meter1', 'Meter2']) {
      const v = verdicts(VAKT, 'key-confirmation', inst);
      expect(prop(VAKT, 'key-confirmation', inst).design).toBe('holds');
      expect(v).toMatchObject({ A1: 'holds', A2: 'holds', A3: 'holds', A5: 'holds', A6: 'holds', A7: 'fails', A8: 'holds' });
      expect(v.A4).toBe(inst === 'Meter1' ? 'n/a' : 'holds'); // a compromised meter may confirm anything
    }
  });
  it("one shared master key lets a compromised meter confirm the other meter's key update", () => {
    expect(verdicts(fixture('shared-key'), 'key-confirmation', 'Meter2').A4).toBe('fails');
  });
});

describe('command origin', () => {
  it('Vakt: every meter executes only commands the HES sent for that meter (A1–A6, A8)', () => {
    const a = analysisOf(VAKT);
    const cmds = a.properties.filter((p) => p.id.startsWith('cmd-'));
    expect(cmds.length).toBeGreaterThanOrEqual(14);
    for (const p of cmds)
      for (const x of p.attacks)
        if (x.attack !== 'A7')
          expect([p.id, p.instance, x.attack, x.verdict]).toEqual([p.id, p.instance, x.attack, x.verdict === 'n/a' ? 'n/a' : 'holds']);
    expect(a.attacks.flatMap((r) => r.findings.filter((f) => f.kind === 'agreement' && r.attack.id !== 'A7'))).toEqual([]);
  });
  it('constant associated data: a meter executes a RELAY the HES never sent (a READ read as RELAY)', () => {
    const a2 = verdicts(fixture('const-ad'), 'cmd-RELAY');
    expect(a2.A2).toBe('fails');
    const f = analysisOf(fixture('const-ad'))
      .attacks.find((r) => r.attack.id === 'A2')!
      .findings.find((x) => x.subject === 'cmd-RELAY@Meter1')!;
    expect(f.detail).toContain('never sent RELAY_DOWN.1@Meter1');
    expect(f.trace.messages.some((m) => !m.startsWith('RELAY'))).toBe(true);
  });
  it('the control (full header as AD) keeps every command origin', () => {
    for (const id of ['cmd-READ', 'cmd-RELAY', 'cmd-CONFIG', 'cmd-KU_TRANSPORT'])
      expect(verdicts(fixture('one-key-control'), id).A2).toBe('holds');
  });
});

describe('property format', () => {
  const withProps = (props: unknown[]): Model => {
    const v = JSON.parse(readFileSync(VAKT, 'utf8'));
    v.properties = props;
    return parseModel(JSON.stringify(v, null, 1), 'm.json');
  };
  it('reports bad events, unknown messages, hops and atoms with their field path', () => {
    let msg = '';
    try {
      withProps([
        { id: 'x', event: 'sent(KU_ACTIVATE)', requires: 'accept(NOPE)', agree: ['MK9'] },
        { id: 'y', event: 'accept(READ_DOWN.3)', requires: 'send(READ_DOWN)', impact: 9 },
      ]);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toContain('properties[0].event: write send(MESSAGE) or accept(MESSAGE)');
    expect(msg).toContain('properties[0].requires: unknown message "NOPE"');
    expect(msg).toContain('properties[0].agree[0]: unknown atom "MK9"');
    expect(msg).toContain('properties[1].event: "READ_DOWN" has no hop 3');
    expect(msg).toContain('properties[1].impact: impact must be an integer 1…5');
  });
  it('send(X) names the first hop, accept(X) the last', () => {
    const m = withProps([{ id: 'p', event: 'accept(RELAY_DOWN)', requires: 'send(RELAY_DOWN)' }]);
    expect(m.properties[0].event).toEqual({ kind: 'accept', hop: 'RELAY_DOWN.2' });
    expect(m.properties[0].requires).toEqual({ kind: 'send', hop: 'RELAY_DOWN.1' });
  });
});
