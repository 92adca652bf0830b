// Vakt's own model: the analyser must say "holds" where the design holds and name the real weak spots
// (leaked keys, no forward secrecy on key transport) with traces naming the messages used.
import { describe, expect, it } from 'vitest';
import { VAKT, analysisOf, attack, element, failing } from './helpers.ts';

const a = analysisOf(VAKT);

describe('Vakt model: baseline requirement table', () => {
  it('no element is readable or writable beyond its requirement, and every required access exists', () => {
    const bad = a.baseline.flatMap((r) =>
      r.cells
        .filter(
          (c) =>
            ['leaked', 'forgeable', 'unavailable'].includes(c.readStatus) || ['leaked', 'forgeable', 'unavailable'].includes(c.writeStatus),
        )
        .map((c) => `${r.element}/${c.agent}`),
    );
    expect(bad).toEqual([]);
  });
  it('the HES reads readings, the concentrator does not (D-8)', () => {
    const row = a.baseline.find((r) => r.element === 'reading@Meter1')!;
    expect(row.cells.find((c) => c.agent === 'HES')!.read).toBe(true);
    expect(row.cells.find((c) => c.agent === 'Conc')!.read).toBe(false);
    expect(row.cells.find((c) => c.agent === 'Meter2')!.read).toBe(false);
    expect(row.cells.find((c) => c.agent === 'Meter1')!.write).toBe(true);
  });
  it("the concentrator holds the meters' link keys (learned by JOIN) but no master key", () => {
    const lk = a.baseline.find((r) => r.element === 'LK_m@Meter1')!;
    expect(lk.cells.find((c) => c.agent === 'Conc')!.read).toBe(true);
    const mk = a.baseline.find((r) => r.element === 'MK@Meter1')!;
    expect(mk.cells.find((c) => c.agent === 'Conc')!.read).toBe(false);
  });
});

describe('Vakt model: attack models', () => {
  it.each(['A1', 'A2', 'A3', 'A4', 'A8'])('%s holds', (id) => {
    const r = attack(a, id);
    expect(r.findings.map((f) => `${f.kind} ${f.subject}`)).toEqual([]);
    expect(r.verdict).toBe('holds');
  });
  it("A4: a compromised meter exposes only its own data, never the other meter's", () => {
    const r = attack(a, 'A4');
    expect(element(a, 'A4', 'reading@Meter1').read).toBe('exposed');
    for (const e of r.elements.filter((x) => x.element.endsWith('@Meter2'))) {
      expect([e.element, e.read === 'public' ? 'held' : e.read, e.write]).toEqual([e.element, 'held', 'held']);
    }
  });
  it('A3: a compromised concentrator can neither read nor forge meter data or commands', () => {
    for (const el of ['reading@Meter1', 'relayCmd@Meter1', 'configCmd@Meter2', 'event@Meter2']) {
      expect(element(a, 'A3', el).read).toBe('held');
      expect(element(a, 'A3', el).write).toBe('held');
    }
  });
  it('A5: a leaked RELAY key exposes relay traffic of that meter only', () => {
    const r = attack(a, 'A5');
    expect(r.verdict).toBe('fails');
    const subjects = r.findings.map((f) => f.subject).sort();
    expect(subjects).toEqual(['relayCmd@Meter1', 'relayRes@Meter1']);
    const f = r.findings.find((x) => x.subject === 'relayCmd@Meter1')!;
    expect(f.trace.messages.some((m) => m.startsWith('RELAY_DOWN'))).toBe(true);
    expect(f.trace.steps.join('\n')).toContain('OK_RELAY@Meter1');
  });
  it('A6: a leaked master key exposes that meter (including its next master key) but not the other', () => {
    const r = attack(a, 'A6');
    expect(element(a, 'A6', 'reading@Meter1').read).toBe('leaked');
    expect(element(a, 'A6', 'MK2@Meter1').read).toBe('leaked');
    expect(element(a, 'A6', 'reading@Meter2').read).toBe('held');
    expect(r.findings.every((f) => !f.subject.includes('Meter2'))).toBe(true);
    const mk2 = r.findings.find((f) => f.subject === 'MK2@Meter1')!;
    expect(mk2.trace.messages.some((m) => m.startsWith('KU_TRANSPORT'))).toBe(true);
  });
  it('A7: a leaked HES private key plus a recorded shipment exposes every meter', () => {
    expect(element(a, 'A7', 'reading@Meter2').read).toBe('leaked');
    expect(element(a, 'A7', 'relayCmd@Meter2').write).toBe('forgeable');
    const f = attack(a, 'A7').findings.find((x) => x.subject === 'MK@Meter2')!;
    expect(f.trace.messages.some((m) => m.startsWith('D1'))).toBe(true);
  });
});

describe('Vakt model: protocol checks', () => {
  it('no substitution, reflection, unauthenticated key transport or replay', () => {
    expect(failing(a, 'substitution')).toEqual([]);
    expect(failing(a, 'reflection')).toEqual([]);
    expect(failing(a, 'key-transport')).toEqual([]);
    expect(a.checks.filter((c) => c.kind === 'key-transport').length).toBeGreaterThanOrEqual(5);
    expect(a.attacks.flatMap((r) => r.findings.filter((f) => f.kind === 'replay'))).toEqual([]);
  });
  it('key update gives no forward secrecy: leaking the old master key reveals the new one', () => {
    const fs = a.checks.filter((c) => c.kind === 'forward-secrecy');
    expect(fs.length).toBe(2);
    expect(fs.every((f) => f.verdict === 'fails')).toBe(true);
    expect(fs[0].trace.messages.some((m) => m.startsWith('KU_TRANSPORT'))).toBe(true);
  });
});

describe('Vakt model: availability (A3/A4)', () => {
  it('derives who can delay whose traffic and shows the recorded findings, whose evidence exists', async () => {
    const { buildReport } = await import('../../host/src/analyze/report.ts');
    const { existsSync } = await import('node:fs');
    const { join } = await import('node:path');
    const r = buildReport(a);
    const a4 = r.attacks.find((x) => x.id === 'A4')!.availability!;
    expect(a4.ownOnly).toBe(true);
    expect(a4.statement).toContain('Meter1 can delay only its own traffic');
    const a3 = r.attacks.find((x) => x.id === 'A3')!.availability!;
    expect(a3.relayedFor).toEqual(['HES', 'Meter1', 'Meter2']);
    expect(r.attacks.find((x) => x.id === 'A2')!.availability).toBeUndefined();
    for (const rec of a.model.availability) {
      expect(['A3', 'A4']).toContain(rec.attack);
      for (const f of (rec.evidence ?? '').match(/test\/[\w/.-]+\.test\.ts/g) ?? [])
        expect(existsSync(join(__dirname, '..', '..', f)), f).toBe(true);
    }
    expect(a4.recorded.map((x) => x.verdict)).toEqual(['holds']);
  });
});
