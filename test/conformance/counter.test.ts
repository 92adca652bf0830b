// Reserve-ahead sender counters (PROTOCOL.md §6, D-5): simulated power loss at every point of the
// sequence, including inside the persist callback before and after the durable write, must never
// make a counter value go out twice.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as core from '@vakt/shared';

/** A flash cell holding the persisted limit, and a radio log of every value that went on air. */
class Device {
  disk = 0; // persisted limit
  aired: number[] = [];
  persists = 0;
  failNext: 'none' | 'before-write' | 'after-write' | 'refuse' = 'none';
  boot(reserve: number): core.SendCounter {
    return core.createSendCounter(this.disk, reserve, (limit) => {
      const mode = this.failNext;
      this.failNext = 'none';
      if (mode === 'refuse') return false;
      if (mode === 'before-write') throw new Error('power loss before the write');
      this.disk = limit;
      this.persists++;
      if (mode === 'after-write') throw new Error('power loss after the write');
      return true;
    });
  }
}

describe('SendCounter', () => {
  it('starts at 1, persists 1 + R before handing out 1, then once per R values', () => {
    const d = new Device();
    const c = d.boot(4);
    expect(core.takeCounter(c)).toBe(1);
    expect(d.disk).toBe(5);
    for (let v = 2; v <= 4; v++) expect(core.takeCounter(c)).toBe(v);
    expect(d.persists).toBe(1);
    expect(core.takeCounter(c)).toBe(5);
    expect(d.disk).toBe(9);
    expect(d.persists).toBe(2);
  });

  it('a persist failure hands nothing out and changes nothing; a retry works', () => {
    const d = new Device();
    const c = d.boot(8);
    d.failNext = 'refuse';
    expect(core.takeCounter(c)).toBe(core.ERR_STORAGE);
    expect([c.next, c.limit, d.disk]).toEqual([1, 0, 0]);
    d.failNext = 'before-write';
    expect(core.takeCounter(c)).toBe(core.ERR_STORAGE);
    expect(core.takeCounter(c)).toBe(1);
  });

  it('resumes at the persisted limit after a reboot', () => {
    const d = new Device();
    let c = d.boot(10);
    for (let i = 0; i < 3; i++) core.takeCounter(c);
    c = d.boot(10);
    expect(core.takeCounter(c)).toBe(11);
    expect(d.disk).toBe(21);
  });

  it('refuses at exhaustion, also after a reboot, and caps the limit at 2^32', () => {
    const d = new Device();
    d.disk = core.COUNTER_MAX - 1;
    let c = d.boot(64);
    expect(core.takeCounter(c)).toBe(core.COUNTER_MAX - 1);
    expect(d.disk).toBe(core.LIMIT_MAX);
    expect(core.takeCounter(c)).toBe(core.COUNTER_MAX);
    expect(core.countersLeft(c)).toBe(0);
    expect(core.takeCounter(c)).toBe(core.ERR_COUNTER_EXHAUSTED);
    expect(core.takeCounter(c)).toBe(core.ERR_COUNTER_EXHAUSTED);
    c = d.boot(64);
    expect(core.takeCounter(c)).toBe(core.ERR_COUNTER_EXHAUSTED);
  });

  it('garbage persisted limits fall back safely (never below what was stored)', () => {
    expect(core.createSendCounter(-5, 3, () => true).next).toBe(1);
    expect(core.createSendCounter(1.5, 3, () => true).next).toBe(1);
    expect(core.createSendCounter(2 ** 40, 3, () => true).next).toBe(core.LIMIT_MAX);
    expect(core.createSendCounter(7, 0, () => true).reserve).toBe(core.DEFAULT_RESERVE);
  });

  // Exhaustive: power loss after every possible number of operations, at every point of a persist.
  for (const R of [1, 2, 3, 7]) {
    it('R = ' + R + ': power loss at every point never reuses a value and skips at most R per reboot', () => {
      const STEPS = 4 * R + 5;
      for (let crashAt = 0; crashAt <= STEPS; crashAt++) {
        for (const mode of ['between', 'before-write', 'after-write'] as const) {
          const d = new Device();
          let c = d.boot(R);
          let ops = 0;
          for (let round = 0; round < 3; round++) {
            // Run until the crash point of this round, then reboot.
            const lastBefore = d.aired.length ? d.aired[d.aired.length - 1] : 0;
            for (; ops < crashAt * (round + 1); ops++) {
              const willPersist = c.next >= c.limit;
              if (willPersist && mode !== 'between' && ops === crashAt * (round + 1) - 1) d.failNext = mode;
              const v = core.takeCounter(c);
              if (v > 0) {
                expect(v).toBeLessThan(d.disk); // every value on air is covered by the persisted limit
                d.aired.push(v);
              } else {
                expect(v).toBe(core.ERR_STORAGE);
                break;
              }
            }
            c = d.boot(R);
            const first = core.takeCounter(c);
            expect(first).toBeGreaterThan(d.aired.length ? d.aired[d.aired.length - 1] : 0);
            const prev = d.aired.length ? d.aired[d.aired.length - 1] : lastBefore;
            expect(first - prev - 1).toBeLessThanOrEqual(R);
            d.aired.push(first);
            ops++;
          }
          for (let i = 1; i < d.aired.length; i++) expect(d.aired[i]).toBeGreaterThan(d.aired[i - 1]);
        }
      }
    });
  }

  it('random schedules of sends, persist failures and reboots never reuse a value', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }),
        fc.array(fc.constantFrom('send', 'send', 'send', 'reboot', 'refuse', 'before-write', 'after-write'), { maxLength: 200 }),
        (R, script) => {
          const d = new Device();
          let c = d.boot(R);
          for (const step of script) {
            if (step === 'reboot') c = d.boot(R);
            else if (step === 'send') {
              const v = core.takeCounter(c);
              if (v > 0) d.aired.push(v);
            } else d.failNext = step;
          }
          const seen = new Set(d.aired);
          expect(seen.size).toBe(d.aired.length);
          for (const v of d.aired) expect(v).toBeLessThan(d.disk);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a sealed frame never goes out under an unpersisted counter, and failures leave out untouched', () => {
    const ctx = core.createCryptoCtx();
    const a = new Uint8Array(8).fill(1);
    const b = new Uint8Array(8).fill(2);
    const slot = core.createKeySlot(core.E2E_VERSION, core.OP_READING, core.DIR_UP, 0, a, b);
    const d = new Device();
    slot.ctr = d.boot(2);
    const out = new Uint8Array(100).fill(0xee);
    const body = new Uint8Array(10);
    d.failNext = 'refuse';
    expect(core.sealFrame(ctx, slot, core.OP_READING, body, 0, 10, out, 0)).toBe(core.ERR_STORAGE);
    expect(out.every((x) => x === 0xee)).toBe(true);
    expect(core.sealFrame(ctx, slot, core.OP_READING, body, 0, 10, out, 0)).toBe(core.E2E_HDR_FULL + 10 + 8); // the first frame of a key: full counter
    expect(d.disk).toBe(3);
    slot.ctr = core.createSendCounter(core.LIMIT_MAX, 2, () => true);
    out.fill(0xee);
    expect(core.sealFrame(ctx, slot, core.OP_READING, body, 0, 10, out, 0)).toBe(core.ERR_COUNTER_EXHAUSTED);
    expect(out.every((x) => x === 0xee)).toBe(true);
    slot.ctr = null;
    expect(core.sealFrame(ctx, slot, core.OP_READING, body, 0, 10, out, 0)).toBe(core.ERR_KEY_STATE);
  });
});
