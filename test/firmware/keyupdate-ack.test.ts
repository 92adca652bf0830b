// PROTOCOL.md §8 step 4: the meter answers every authentic ACTIVATE naming the generation now in
// force with ACK UP [req, 7, newGen]. The HES side here is the core's key-update state machine
// (shared/src/keyupdate.ts: hesBeginUpdate / hesOnConfirm / hesOnActivated) driven by what the
// test HES (harness MiniHes, which seals and opens frames on the core API) receives.
import { describe, it, expect } from 'vitest';
import { randomBytes } from 'node:crypto';
import { DIR_UP, OP_ACK, OP_KEY_UPDATE, OP_RELAY } from '@vakt/shared/policy';
import {
  KU_CHANGED,
  KU_NOCHANGE,
  KX_CONFIRMED,
  KX_NONE,
  createKeyRing,
  hesBeginUpdate,
  hesOnActivated,
  hesOnConfirm,
  sendGen,
} from '@vakt/shared/keyupdate';
import type { KeyRing } from '@vakt/shared/keyupdate';
import type { CborValue } from '@vakt/shared/cbor';
import { Rig, classify } from './harness.ts';

const T0 = 1_800_000_000;
type Arr = CborValue[];
const persist = (): boolean => true;

/** A rig plus the core HES key ring of its meter, at generation 0. */
function setup(): { rig: Rig; ring: KeyRing } {
  const rig = new Rig(T0, { intervalS: 900, retryS: 300 });
  const ring = createKeyRing(rig.hes.ctx, rig.w.id.meter, rig.w.mk, 0, 0);
  rig.hes.inbox.length = 0;
  return { rig, ring };
}

/** TRANSPORT until CONFIRM: the core ring and the test HES both switch downlink to newGen. */
function stageAndConfirm(rig: Rig, ring: KeyRing, scope: number, newGen: number): void {
  const key = new Uint8Array(randomBytes(16));
  expect(hesBeginUpdate(ring, scope, newGen, key, 0, persist)).toBe(KU_CHANGED);
  rig.hes.transport(scope, newGen, key);
  rig.net.run();
  const confirms = rig.hes.take(OP_KEY_UPDATE).map((u) => u.body as Arr);
  expect(confirms.map((b) => b.slice(1))).toEqual([[2, scope, newGen]]);
  expect(hesOnConfirm(rig.hes.ctx, ring, scope, newGen, persist)).toBe(KU_CHANGED);
  expect(ring.xState).toBe(KX_CONFIRMED);
  // The test HES seals ACTIVATE under the key-update generation the core says is in force.
  expect(rig.hes.gen[OP_KEY_UPDATE]).toBe(sendGen(ring, OP_KEY_UPDATE));
}

/** Feeds every ACK UP the HES received to hesOnActivated; returns the ACK bodies and results. */
function deliverAcks(rig: Rig, ring: KeyRing): { bodies: Arr[]; results: number[]; gens: number[]; counters: number[] } {
  const acks = rig.hes.take(OP_ACK);
  const bodies = acks.map((u) => u.body as Arr);
  const results = bodies.map((b) => (b[1] === OP_KEY_UPDATE ? hesOnActivated(ring, b[2] as number, persist) : -1));
  return { bodies, results, gens: acks.map((u) => u.gen), counters: acks.map((u) => u.counter) };
}

describe('key update: the meter acknowledges ACTIVATE (PROTOCOL.md §8 step 4)', () => {
  for (const scope of [OP_KEY_UPDATE, OP_RELAY, 0]) {
    it(`scope ${scope}: ACTIVATE is answered by ACK [req, 7, newGen] and the core HES retires the old generation`, () => {
      const { rig, ring } = setup();
      stageAndConfirm(rig, ring, scope, 1);
      rig.hes.activate();
      rig.net.run();
      expect(rig.meter.keys.stPresent_).toBe(false);
      expect(rig.meter.keys.inForce(scope, 1)).toBe(true);
      const a = deliverAcks(rig, ring);
      expect(a.bodies).toEqual([[rig.hes.pendingKu!.req, OP_KEY_UPDATE, 1]]);
      // Sealed under the ACK key in force: unchanged for scopes 7 and RELAY, the new one for scope 0.
      expect(a.gens).toEqual([scope === 0 ? 1 : 0]);
      expect(a.counters).toEqual([1]);
      expect(a.results).toEqual([KU_CHANGED]);
      expect(ring.xState).toBe(KX_NONE);
      expect(rig.hes.e2eFailures).toEqual([]);
    });
  }

  it('a lost ACK is recovered by a repeated ACTIVATE: the meter acknowledges again and does not re-stage', () => {
    const { rig, ring } = setup();
    stageAndConfirm(rig, ring, OP_KEY_UPDATE, 1);
    let dropped = 0;
    rig.net.drop = (tag, b) => {
      const c = classify(b);
      if (tag === 'meter' && c.op === OP_ACK && c.dir === DIR_UP) {
        dropped++;
        return true;
      }
      return false;
    };
    rig.hes.activate();
    rig.net.run();
    expect(dropped).toBe(1);
    expect(deliverAcks(rig, ring).bodies).toEqual([]);
    expect(ring.xState).toBe(KX_CONFIRMED); // the HES can only retry ACTIVATE
    expect(rig.meter.keys.gen[OP_KEY_UPDATE]).toBe(1);
    rig.net.drop = null;
    const writes = rig.meterStorage.writes;
    rig.hes.activate();
    rig.net.run();
    expect(rig.meter.keys.stPresent_).toBe(false);
    expect(rig.meter.keys.gen[OP_KEY_UPDATE]).toBe(1);
    expect(rig.hes.take(OP_KEY_UPDATE)).toEqual([]); // no new CONFIRM: nothing was staged again
    const a = deliverAcks(rig, ring);
    expect(a.bodies.map((b) => b.slice(1))).toEqual([[OP_KEY_UPDATE, 1]]);
    expect(a.counters).toEqual([2]); // the lost ACK used counter 1; never reused
    expect(a.results).toEqual([KU_CHANGED]);
    expect(ring.xState).toBe(KX_NONE);
    // Only the replay state (and, with the default reserve, no counter limit) was written.
    expect(rig.meterStorage.writes - writes).toBeLessThanOrEqual(2);
    expect(rig.meter.stats.policy + rig.meter.stats.badTag + rig.meter.stats.replay).toBe(0);
  });

  it('a forged or replayed ACTIVATE, or one naming a generation not in force, is refused without an ACK', () => {
    const { rig, ring } = setup();
    stageAndConfirm(rig, ring, OP_KEY_UPDATE, 1);
    rig.hes.activate();
    rig.net.run();
    const first = rig.hes.lastE2e();
    expect(deliverAcks(rig, ring).results).toEqual([KU_CHANGED]);
    rig.hes.activate(); // a second (authentic) ACTIVATE, so the first is now an old counter
    rig.net.run();
    expect(deliverAcks(rig, ring).bodies).toHaveLength(1);
    const s = rig.meter.stats;
    // Forged: one tag bit flipped.
    const forged = rig.hes.lastE2e();
    forged[forged.length - 1] ^= 1;
    rig.hes.forward(forged);
    rig.net.run();
    expect(s.badTag).toBe(1);
    // Replayed: the first ACTIVATE again.
    rig.hes.forward(first);
    rig.net.run();
    expect(s.replay).toBe(1);
    // Authentic but for a generation neither staged nor in force.
    rig.hes.command(OP_KEY_UPDATE, [rig.hes.nextReq(), 3, OP_KEY_UPDATE, 5]);
    rig.net.run();
    expect(s.policy).toBe(1);
    expect(rig.hes.take(OP_ACK)).toEqual([]);
    expect(rig.meter.keys.gen[OP_KEY_UPDATE]).toBe(1);
    expect(hesOnActivated(ring, 1, persist)).toBe(KU_NOCHANGE);
  });
});
