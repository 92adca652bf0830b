// Replay beyond data: every state-changing message is checked, whether or not it carries data
// (LEAVE, LINK_ACK, ACTIVATE); a relay that cannot see inside a frame is not a replay oracle for an
// outsider; a replay is scored by what it achieves, not by every key its frame was derived from.
import { describe, expect, it } from 'vitest';
import { VAKT, analysisOf, attack, fixture } from './helpers.ts';

const replays = (path: string, id: string) => attack(analysisOf(path), id).findings.filter((f) => f.kind === 'replay');
const generic = (subject: string) => subject.replace(/@.*$/, '');

describe('replay of data-free messages', () => {
  it('a LEAVE whose counter is outside the protected data is replayed by an active outsider', () => {
    const f = replays(fixture('leave-counter-unprotected'), 'A2');
    expect(f.map((x) => x.subject)).toEqual(['LEAVE@Meter1']);
    expect(f[0].detail).toContain('not bound by its tag');
    expect(f[0].trace.messages).toContain('LEAVE@Meter1');
  });
  it('counter-unprotected: LEAVE and every LINK_ACK are replayed like JOIN, ACTIVATE by the concentrator', () => {
    const a2 = new Set(replays(fixture('counter-unprotected'), 'A2').map((x) => generic(x.subject)));
    for (const id of ['JOIN', 'LEAVE', 'LACK_C_DOWN', 'LACK_C_UP', 'LACK_M_DOWN', 'LACK_M_UP']) expect(a2).toContain(id);
    const a3 = new Set(replays(fixture('counter-unprotected'), 'A3').map((x) => generic(x.subject)));
    expect(a3.has('KU_ACTIVATE.2')).toBe(true);
    expect(a3.has('KU_CONFIRM.2')).toBe(true);
  });
  it('Vakt and the control fixtures replay nothing', () => {
    for (const path of [VAKT, fixture('one-key-control'), fixture('unsigned-shipment'), fixture('shared-key')]) {
      expect(
        analysisOf(path)
          .attacks.flatMap((r) => r.findings.filter((f) => f.kind === 'replay'))
          .map((f) => f.subject),
      ).toEqual([]);
    }
  });
});

describe('replay through a relay that cannot see inside the frame', () => {
  const model = fixture('event-link-counter-only');
  it('an outsider without link keys cannot replay an EVENT through the concentrator', () => {
    for (const id of ['A2', 'A5', 'A6']) expect(replays(model, id).map((f) => f.subject)).toEqual([]);
  });
  it('a compromised concentrator re-wraps a recorded EVENT under a fresh counter (genuine)', () => {
    expect(replays(model, 'A3').map((f) => f.subject)).toEqual(['EVENT_UP.2@Meter1']);
  });
  it("a compromised meter wraps another meter's recorded EVENT in its own link frame (genuine)", () => {
    expect(replays(model, 'A4').map((f) => f.subject)).toEqual(['EVENT_UP.2@Meter2']);
  });
});

describe('replay impact is what the replay achieves', () => {
  it("a replayed EVENT scores the event's own write impact (4), not the master key's (5)", () => {
    const f = replays(fixture('event-link-counter-only'), 'A3')[0];
    expect(f.impact).toBe(4);
  });
  it('a replayed LEAVE scores the impact the model gives the message, a LINK_ACK its own', () => {
    const leave = replays(fixture('leave-counter-unprotected'), 'A2')[0];
    expect(leave.impact).toBe(3);
    const lack = replays(fixture('counter-unprotected'), 'A2').find((f) => f.subject === 'LACK_C_UP')!;
    expect(lack.impact).toBe(2);
  });
  it("a relay forwarding a replayed frame once more is negligible (the end receiver's own counter decides)", () => {
    const hop = replays(fixture('counter-unprotected'), 'A2').find((f) => f.subject === 'READING_UP.1@Meter1')!;
    expect(hop.impact).toBe(1);
    expect(replays(fixture('counter-unprotected'), 'A2').some((f) => f.subject.startsWith('READING_UP.2'))).toBe(false);
  });
});
