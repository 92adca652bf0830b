// Deliberately broken variants of Vakt's model (test/analyze/fixtures/*.json, each `extends` vakt.json and
// changes one design decision). The analyser must flag each because of what changed, and must keep
// saying "holds" for the control variant and for what the change does not touch.
import { describe, expect, it } from 'vitest';
import { VAKT, analysisOf, attack, element, failing, fixture } from './helpers.ts';

const base = analysisOf(VAKT);

describe('constant associated data (D-2)', () => {
  const control = analysisOf(fixture('one-key-control'));
  const broken = analysisOf(fixture('const-ad'));
  it('control: one key for every op and direction is still safe while the full header is the AD', () => {
    expect(failing(control, 'substitution')).toEqual([]);
    expect(failing(control, 'reflection')).toEqual([]);
    expect(attack(control, 'A3').verdict).toBe('holds');
  });
  it("broken: the receiver accepts one operation's frame as another's (substitution) and its own frames back (reflection)", () => {
    const subst = failing(broken, 'substitution');
    const refl = failing(broken, 'reflection');
    expect(subst.length).toBeGreaterThan(0);
    expect(refl.length).toBeGreaterThan(0);
    // e.g. an uplink READING delivered to the meter as a RELAY command
    expect(refl.some((f) => /READING_UP/.test(f.subject) && /_DOWN/.test(f.subject))).toBe(true);
  });
  it('broken: an outsider who holds and re-delivers an honest frame has it read as another operation', () => {
    const f = attack(broken, 'A2').findings.find((x) => x.subject === 'readResp@Meter1')!;
    expect(f.kind).toBe('integrity');
    expect(f.detail).toBe('HES accepts readResp@Meter1 := reading@Meter1 in READ_UP.2@Meter1');
    expect(f.trace.messages).toEqual(expect.arrayContaining(['READING_UP.2@Meter1', 'READ_UP.2@Meter1']));
    expect(element(broken, 'A2', 'relayCmd@Meter1').read).toBe('held'); // secrecy is not what broke
  });
  it('broken: a compromised concentrator forges commands from recorded frames', () => {
    expect(element(broken, 'A3', 'relayCmd@Meter1').write).toBe('forgeable');
    expect(element(broken, 'A3', 'relayCmd@Meter1').read).toBe('held');
  });
  it('control: the same outsider gets nothing when the header is the associated data', () => {
    expect(attack(control, 'A2').verdict).toBe('holds');
  });
});

describe('counters outside the protected data', () => {
  const broken = analysisOf(fixture('counter-unprotected'));
  it('an active outsider replays recorded frames with a fresh counter', () => {
    const replays = attack(broken, 'A2').findings.filter((f) => f.kind === 'replay');
    expect(replays.length).toBeGreaterThan(0);
    expect(replays[0].detail).toContain('not bound by its tag');
    expect(replays[0].trace.messages.length).toBeGreaterThan(0);
  });
  it('secrecy is unaffected (passive eavesdropper still holds)', () => {
    expect(attack(broken, 'A1').verdict).toBe('holds');
  });
  it('the same analysis finds no replay in Vakt', () => {
    expect(base.attacks.flatMap((r) => r.findings.filter((f) => f.kind === 'replay'))).toEqual([]);
  });
});

describe('counter check and update not atomic (D-6)', () => {
  const broken = analysisOf(fixture('counter-race'));
  it('flags a replay race on exactly the changed message', () => {
    const replays = attack(broken, 'A2').findings.filter((f) => f.kind === 'replay');
    expect(replays.map((f) => f.subject)).toEqual(['READING_UP.2@Meter1']);
    expect(replays[0].detail).toContain('separate steps');
  });
});

describe('unsigned KPE shipment', () => {
  const broken = analysisOf(fixture('unsigned-shipment'));
  it('flags unauthenticated key transport into the HES', () => {
    const kt = failing(broken, 'key-transport');
    expect(kt.map((f) => f.subject)).toEqual(expect.arrayContaining(['MK@Meter1 in D1@Meter1', 'LK_c in D2']));
  });
  it('the shipment attacker (A8) can inject a master key of its choice', () => {
    expect(attack(broken, 'A8').verdict).toBe('fails');
    expect(element(broken, 'A8', 'MK@Meter1').write).toBe('forgeable');
    expect(element(broken, 'A8', 'MK@Meter1').read).toBe('held');
  });
  it("Vakt's signed shipment holds against the same attacker", () => {
    expect(attack(base, 'A8').verdict).toBe('holds');
    expect(element(base, 'A8', 'MK@Meter1').write).toBe('held');
  });
});

describe('link-only protection', () => {
  const broken = analysisOf(fixture('link-only'));
  it('baseline: the honest concentrator reads meter data it must not', () => {
    const row = broken.baseline.find((r) => r.element === 'reading@Meter1')!;
    expect(row.cells.find((c) => c.agent === 'Conc')!.readStatus).toBe('leaked');
  });
  it('a compromised concentrator reads and forges readings and commands', () => {
    expect(element(broken, 'A3', 'reading@Meter1').read).toBe('leaked');
    expect(element(broken, 'A3', 'reading@Meter1').write).toBe('forgeable');
    expect(element(broken, 'A3', 'relayCmd@Meter2').write).toBe('forgeable');
  });
  it('an outside eavesdropper still learns nothing (the links are encrypted)', () => {
    expect(attack(broken, 'A1').verdict).toBe('holds');
  });
});

describe('one master key shared by every meter', () => {
  const broken = analysisOf(fixture('shared-key'));
  it("a compromised meter reads the other meter's traffic and forges its uplink through the honest concentrator", () => {
    expect(attack(broken, 'A4').verdict).toBe('fails');
    expect(element(broken, 'A4', 'reading@Meter2').read).toBe('leaked');
    const w = element(broken, 'A4', 'reading@Meter2');
    expect(w.write).toBe('forgeable');
    expect(w.writeTrace!.steps.join('\n')).toContain('make an honest agent send READING_UP.2');
    const f = attack(broken, 'A4').findings.find((x) => x.subject === 'reading@Meter2')!;
    expect(f.trace.messages.some((m) => m.includes('@Meter2'))).toBe(true);
  });
  it('with per-meter keys (Vakt) the same attack holds', () => {
    expect(element(base, 'A4', 'reading@Meter2').read).toBe('held');
    expect(element(base, 'A4', 'reading@Meter2').write).toBe('held');
  });
});
