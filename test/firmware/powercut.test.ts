// Power-cut fault injection. A long scenario (readings and ACKs, relay, config, firmware download,
// an operation-key update and a master-key update) is replayed once per storage write index of the
// meter and per cut mode: power dies before that write, during it (torn: the Board contract makes
// writes atomic per record, so the old record survives), or right after it. The meter then reboots
// from what storage holds and the scenario's recovery runs. After every reboot we assert:
//  - no (key, counter) pair was ever put on the wire twice, at either layer, across the whole run;
//  - no key was lost: the HES still reaches the meter and the meter's uplinks still verify.
import { describe, it, expect } from 'vitest';
import { OP_ACK, OP_CONFIG, OP_FIRMWARE, OP_KEY_UPDATE, OP_READ, OP_READING, OP_RELAY } from '@vakt/shared/policy';
import { Rig, PowerCut } from './harness.ts';
import type { CutMode } from './harness.ts';
import type { CborValue } from '@vakt/shared/cbor';

const T0 = 1_800_000_000;
// Small reservation step so counter-limit writes happen often within the scenario.
const METER_OPTS = { intervalS: 900, retryS: 600, reserve: 3 };

const IMAGE = new Uint8Array(1500).map((_, i) => (i * 13 + 7) & 0xff);
const KEY_RELAY = new Uint8Array(16).fill(0x5a);
const KEY_MASTER = new Uint8Array(16).fill(0xa5);

/** The scenario as steps; each is run to completion (network settled) before the next. */
const STEPS: ((rig: Rig) => void)[] = [
  (rig) => {
    rig.hes.autoAck = true;
    rig.advance(1800);
  },
  (rig) => {
    rig.hes.command(OP_RELAY, [rig.hes.nextReq(), 0]);
    rig.net.run();
  },
  (rig) => {
    rig.hes.command(OP_CONFIG, [rig.hes.nextReq(), { 1: 5 }]);
    rig.net.run();
  },
  (rig) => {
    rig.hes.transport(OP_RELAY, 1, KEY_RELAY);
    rig.net.run();
  },
  (rig) => {
    rig.hes.activate();
    rig.net.run();
  },
  (rig) => {
    rig.hes.command(OP_RELAY, [rig.hes.nextReq(), 1]);
    rig.net.run();
  },
  (rig) => {
    rig.hes.command(OP_FIRMWARE, [7, 1, IMAGE.length, rig.hes.imageMac(IMAGE), 9]);
    rig.net.run();
  },
  (rig) => {
    for (let off = 0; off < IMAGE.length; off += 500) {
      rig.hes.command(OP_FIRMWARE, [7, 2, off, IMAGE.subarray(off, off + 500)]);
      rig.net.run();
    }
  },
  (rig) => {
    rig.hes.command(OP_FIRMWARE, [7, 3]);
    rig.net.run();
  },
  (rig) => {
    rig.advance(1800);
  },
  (rig) => {
    rig.hes.transport(0, 2, KEY_MASTER);
    rig.net.run();
  },
  (rig) => {
    rig.hes.activate();
    rig.net.run();
  },
  (rig) => {
    rig.advance(1800);
  },
  (rig) => {
    rig.hes.command(OP_READ, [rig.hes.nextReq(), 1]);
    rig.net.run();
  },
];

/** Runs the scenario with power cut at meter write `cutAt` (mode), reboots, recovers; returns the rig. */
function run(cutAt: number, mode: CutMode): { rig: Rig; cut: boolean } {
  const rig = new Rig(T0, METER_OPTS, {}, (r) => {
    r.meterStorage.cutAt = cutAt;
    r.meterStorage.mode = mode;
  });
  let cut = rig.meterStorage.dead;
  for (const step of STEPS) {
    if (cut) break;
    step(rig);
    cut = rig.meterStorage.dead;
  }
  if (cut) {
    // Reboot: storage keeps what was durable; the dead app instance is abandoned.
    rig.meterStorage.revive();
    rig.bootMeter();
    rig.net.run();
    // The HES resumes whatever key update it had pending (PROTOCOL.md §8 HES rules).
    const p = rig.hes.pendingKu;
    if (p !== null && !p.confirmed) {
      rig.hes.transport(p.scope, p.gen, p.key);
      rig.net.run();
    }
    if (p !== null && p.confirmed) {
      rig.hes.activate();
      rig.net.run();
    }
  }
  return { rig, cut };
}

function reachable(rig: Rig): void {
  rig.hes.inbox.length = 0;
  const req = rig.hes.nextReq();
  rig.hes.command(OP_READ, [req, 1]);
  rig.net.run();
  const reads = rig.hes.take(OP_READ).map((u) => (u.body as CborValue[])[0]);
  expect(reads).toEqual([req]);
  const req2 = rig.hes.nextReq();
  rig.hes.command(OP_RELAY, [req2, 1]);
  rig.net.run();
  expect(rig.hes.take(OP_RELAY).map((u) => (u.body as CborValue[])[0])).toEqual([req2]);
  // Readings keep flowing and verify.
  rig.hes.autoAck = true;
  rig.advance(1800);
  expect(rig.hes.take(OP_READING).length).toBeGreaterThan(0);
  rig.hes.command(OP_ACK, [0, OP_READING, 1]);
  rig.net.run();
}

describe('meter power-cut fault injection', () => {
  it('the storage fake cuts where told and keeps the old record on a torn write', () => {
    const rig = new Rig(T0, METER_OPTS);
    const n = rig.meterStorage.writes;
    expect(n).toBeGreaterThan(0);
    const st = rig.meterStorage;
    st.recs.set('x', new Uint8Array([1]));
    st.cutAt = st.writes;
    st.mode = 'torn';
    expect(() => st.write('x', new Uint8Array([2]))).toThrow(PowerCut);
    expect(st.read('x')).toEqual(new Uint8Array([1]));
    expect(() => st.write('y', new Uint8Array([2]))).toThrow(PowerCut);
    st.revive();
    st.cutAt = st.writes;
    st.mode = 'after';
    expect(() => st.write('x', new Uint8Array([3]))).toThrow(PowerCut);
    expect(st.read('x')).toEqual(new Uint8Array([3]));
  });

  it('an uninterrupted run has no counter reuse and completes every step', () => {
    const { rig, cut } = run(-1, 'before');
    expect(cut).toBe(false);
    expect(rig.meterWitness.reused).toEqual([]);
    expect(rig.meter.config.fwVersion).toBe(9);
    expect(rig.meter.keys.gen[OP_RELAY]).toBe(2);
    expect(rig.hes.e2eFailures).toEqual([]);
    // Each ACTIVATE was answered by ACK [req, 7, newGen] (PROTOCOL.md §8 step 4), under the ACK key's own counter.
    expect(rig.hes.take(OP_ACK).map((u) => (u.body as CborValue[]).slice(1))).toEqual([
      [OP_KEY_UPDATE, 1],
      [OP_KEY_UPDATE, 2],
    ]);
    reachable(rig);
  });

  // Count the writes of the uninterrupted scenario, then cut at every one of them in every mode.
  const total = (() => {
    const rig = new Rig(T0, METER_OPTS, {}, (r) => {
      r.meterStorage.cutAt = -1;
    });
    for (const step of STEPS) step(rig);
    return rig.meterStorage.writes;
  })();

  for (const mode of ['before', 'torn', 'after'] as CutMode[]) {
    it(`cut ${mode} each of the ${total} meter writes: no counter reuse, no key lost`, () => {
      let cuts = 0;
      for (let i = 0; i < total; i++) {
        const { rig, cut } = run(i, mode);
        expect(cut, 'write ' + i).toBe(true);
        cuts++;
        try {
          expect(rig.meterWitness.reused, 'write ' + i).toEqual([]);
          reachable(rig);
          expect(rig.meterWitness.reused, 'write ' + i).toEqual([]);
          expect(rig.hes.e2eFailures, 'write ' + i).toEqual([]);
        } catch (e) {
          throw new Error(`cut ${mode} at write ${i}: ${(e as Error).message}`);
        }
      }
      expect(cuts).toBe(total);
    });
  }
});
