// Power-cut fault injection for the concentrator: its sender counters (HES link UP, each meter's
// link DOWN) and its meter table. A scenario of forwarding in both directions plus a LEAVE and a
// re-JOIN of the same meter under the same link key is replayed with power cut before, during
// (torn = old record survives) and after every concentrator storage write; after the reboot no
// (key, counter) pair may repeat on its wires and the HES must still reach the meter through it.
import { describe, it, expect } from 'vitest';
import { OP_READ, OP_READING, OP_RELAY } from '@vakt/shared/policy';
import { Rig, CounterWitness } from './harness.ts';
import type { CutMode } from './harness.ts';
import type { CborValue } from '@vakt/shared/cbor';

const T0 = 1_800_000_000;
const CONC_OPTS = { reserve: 3, retryS: 30 };
const OTHER_METER = new Uint8Array([0x4d, 9, 8, 7, 6, 5, 4, 3]);
const OTHER_KEY = new Uint8Array(16).fill(0x77);

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
    rig.hes.command(OP_READ, [rig.hes.nextReq(), 1]);
    rig.net.run();
  },
  (rig) => {
    rig.hes.leave(rig.w.id.meter);
    rig.net.run();
  },
  // Another meter takes the freed table slot (and its counter entry) before ours comes back.
  (rig) => {
    rig.hes.join(OTHER_METER, OTHER_KEY, 0);
    rig.net.run();
  },
  (rig) => {
    rig.hes.join(rig.w.id.meter, rig.w.meterLk, 0);
    rig.net.run();
  },
  (rig) => {
    rig.hes.command(OP_RELAY, [rig.hes.nextReq(), 1]);
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

function witness(rig: Rig): CounterWitness {
  const w = new CounterWitness();
  rig.net.taps.push((tag, b) => {
    if (tag === 'conc-up' || tag === 'conc-down') w.push(b);
  });
  return w;
}

function run(cutAt: number, mode: CutMode): { rig: Rig; w: CounterWitness; cut: boolean } {
  const rig = new Rig(T0, { intervalS: 900 }, CONC_OPTS);
  const w = witness(rig);
  rig.concStorage.cutAt = cutAt < 0 ? -1 : rig.concStorage.writes + cutAt;
  rig.concStorage.mode = mode;
  let cut = false;
  for (const step of STEPS) {
    step(rig);
    if (rig.concStorage.dead) {
      cut = true;
      break;
    }
  }
  if (cut) {
    rig.net.q.length = 0; // whatever was in flight to or from the dead concentrator is gone
    rig.concStorage.revive();
    rig.bootConcentrator();
    rig.net.run();
    // The HES re-provisions the meter if the table lost it (JOIN was not acknowledged).
    if (rig.conc.table.find(rig.w.id.meter, 0) < 0) {
      rig.hes.join(rig.w.id.meter, rig.w.meterLk, 0);
      rig.net.run();
    }
  }
  return { rig, w, cut };
}

function reachable(rig: Rig): void {
  rig.hes.inbox.length = 0;
  const req = rig.hes.nextReq();
  rig.hes.command(OP_READ, [req, 1]);
  rig.net.run();
  expect(rig.hes.take(OP_READ).map((u) => (u.body as CborValue[])[0])).toEqual([req]);
  rig.hes.autoAck = true;
  rig.advance(1800);
  expect(rig.hes.take(OP_READING).length).toBeGreaterThan(0);
}

describe('concentrator power-cut fault injection', () => {
  it('uninterrupted: LEAVE, another meter in the slot, re-JOIN under the same key: the downlink counter never restarts', () => {
    const { rig, w, cut } = run(-1, 'before');
    expect(cut).toBe(false);
    expect(w.frames).toBeGreaterThan(20);
    expect(w.reused).toEqual([]);
    expect(rig.conc.stats.joins).toBe(3);
    expect(rig.conc.table.count()).toBe(2);
    expect(rig.conc.stats.leaves).toBe(1);
    reachable(rig);
    expect(w.reused).toEqual([]);
  });

  const total = (() => {
    const rig = new Rig(T0, { intervalS: 900 }, CONC_OPTS);
    const start = rig.concStorage.writes;
    for (const step of STEPS) step(rig);
    return rig.concStorage.writes - start;
  })();

  for (const mode of ['before', 'torn', 'after'] as CutMode[]) {
    it(`cut ${mode} each of the ${total} concentrator writes: no counter reuse, still forwards`, () => {
      expect(total).toBeGreaterThan(10);
      for (let i = 0; i < total; i++) {
        const { rig, w, cut } = run(i, mode);
        try {
          expect(cut).toBe(true);
          expect(w.reused).toEqual([]);
          reachable(rig);
          expect(w.reused).toEqual([]);
          expect(rig.hes.e2eFailures).toEqual([]);
        } catch (e) {
          throw new Error(`cut ${mode} at concentrator write ${i}: ${(e as Error).message}`);
        }
      }
    });
  }
});
