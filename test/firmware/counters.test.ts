// Counter exhaustion on the meter (PROTOCOL.md §6): near the end of a key's counter space the
// meter reports EVENT 19 (detail = op) once, and after 2^32-1 it refuses to seal under that key
// instead of wrapping. The 'ctr' record is crafted from its documented layout (docs/FIRMWARE.md).
import { describe, it, expect } from 'vitest';
import { OP_EVENT, OP_READING } from '@vakt/shared/policy';
import { Rig } from './harness.ts';
import type { CborValue } from '@vakt/shared/cbor';

const T0 = 1_800_000_000;

function ctrRecord(op: number, limit: number): Uint8Array {
  const r = new Uint8Array(1 + 12 * 10);
  r[0] = 1;
  const o = 1 + op * 10;
  r[o] = 0; // generation 0
  r[o + 1] = 0;
  const hi = Math.floor(limit / 2 ** 32);
  const lo = limit - hi * 2 ** 32;
  new DataView(r.buffer).setUint32(o + 2, hi);
  new DataView(r.buffer).setUint32(o + 6, lo);
  return r;
}

describe('meter counter exhaustion', () => {
  it('warns once near the end, sends the last value 2^32-1, then refuses instead of wrapping', () => {
    const start = 0xffffffff - 2;
    const rig = new Rig(T0, { intervalS: 900, retryS: 100000 }, {}, (r) => {
      r.meterStorage.recs.set('ctr', ctrRecord(OP_READING, start));
    });
    rig.hes.autoAck = true;
    rig.advance(5 * 900);
    const readings = rig.hes.take(OP_READING);
    expect(readings.map((u) => u.counter)).toEqual([start, start + 1, start + 2]);
    const warn = rig.hes
      .take(OP_EVENT)
      .map((u) => u.body as CborValue[])
      .filter((e) => e[1] === 19);
    expect(warn.length).toBeGreaterThanOrEqual(1);
    expect(warn.every((e) => e[3] === OP_READING)).toBe(true);
    expect(rig.meter.stats.sendErrors).toBeGreaterThanOrEqual(2);
    expect(rig.meterWitness.reused).toEqual([]);
    // The readings are kept for when the HES renews the key.
    expect(rig.meter.profile.pending()).toBe(2);
  });
});
