// The meter under a hostile key holder (issue 10): authentic downlink commands — sealed under the
// meter's real keys by the test HES and carried by the real concentrator app — whose bodies are
// outside the body table (shared/src/bodies.ts). Each is answered "bad request" (status 2; KEY_UPDATE
// and ACK: no answer) and changes nothing — relay, configuration, clock, firmware download, key
// state, unacknowledged readings — and the next honest command is served.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { decodeBody } from '@vakt/shared/bodies';
import { DIR_DOWN, OK, OP_ACK, OP_CONFIG, OP_KEY_UPDATE, OP_READ, OP_RELAY } from '@vakt/shared';
import type { CborValue } from '@vakt/shared/cbor';
import { Rig } from './harness.ts';
import { head, encodeItems, hostileBody, shapesIn } from '../support/hostile-bodies.ts';

const T0 = 1_800_000_000;
const ST_BAD = 2;

function snapshot(rig: Rig): unknown {
  const m = rig.meter;
  const fw = m.firmware;
  return {
    relay: m.relayClosed(),
    config: { ...m.config },
    clock: rig.clock.t,
    fw: [fw.active_, fw.size, fw.version, fw.received_, fw.chunks_],
    staged: m.keys.stPresent_,
    pending: m.profile.pending(),
  };
}

/** Status item of a meter answer: RELAY [req, state, status], every other [req, status, …]. */
const statusOf = (op: number, body: CborValue[]) => (op === OP_RELAY && body.length === 3 ? body[2] : body[1]);

function rig(): Rig {
  const r = new Rig(T0, { intervalS: 900 });
  r.advance(3 * 900); // unacknowledged readings, so that a hostile ACK would show
  r.hes.inbox.length = 0;
  return r;
}

describe('meter: authentic hostile bodies', () => {
  it('RELAY with a trailing byte and CONFIG {1: 5, 1: 6} are refused (status 2) and not executed', () => {
    const r = rig();
    const before = snapshot(r);
    const pinWrites = r.relay.length;
    r.hes.commandRaw(OP_RELAY, new Uint8Array([...encodeItems([head(0, 41), head(0, 0)]), 0x00]));
    r.hes.commandRaw(OP_CONFIG, encodeItems([head(0, 42), new Uint8Array([0xa2, 0x01, 0x05, 0x01, 0x06])]));
    r.net.run();
    expect(r.hes.take(OP_RELAY).map((u) => u.body)).toEqual([[41, 0, ST_BAD]]);
    expect(r.hes.take(OP_CONFIG).map((u) => u.body)).toEqual([[42, ST_BAD]]);
    expect(snapshot(r)).toEqual(before);
    expect(r.relay.length).toBe(pinWrites); // the relay pin was not driven
  });

  it('every downlink body outside the table: status 2 or no answer, no effect, the next honest command served (fast-check)', () => {
    const r = rig();
    let cases = 0;
    fc.assert(
      fc.property(
        fc.constantFrom(...shapesIn(DIR_DOWN)).chain((s) => hostileBody(s, 500).map((h) => ({ s, ...h }))),
        ({ s, how, body }) => {
          fc.pre(decodeBody(s.op, DIR_DOWN, body, 0, body.length).err !== OK);
          cases++;
          const before = snapshot(r);
          r.hes.commandRaw(s.op, body);
          r.net.run();
          const answers = r.hes.take(s.op);
          if (s.op === OP_KEY_UPDATE || s.op === OP_ACK) expect(answers, how).toEqual([]);
          else {
            expect(answers.length, `${s.name}: ${how}`).toBe(1);
            expect(statusOf(s.op, answers[0]!.body as CborValue[]), `${s.name}: ${how}`).toBe(ST_BAD);
          }
          expect(snapshot(r), `${s.name}: ${how}`).toEqual(before);
          const req = r.hes.nextReq();
          r.hes.command(OP_READ, [req, 1]);
          r.net.run();
          expect(r.hes.take(OP_READ).map((u) => (u.body as CborValue[]).slice(0, 2))).toEqual([[req, 1]]);
          r.hes.inbox.length = 0;
        },
      ),
      { numRuns: 300 },
    );
    expect(cases).toBeGreaterThan(200);
  });
});
