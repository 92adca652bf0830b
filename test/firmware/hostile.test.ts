// Hostile input: garbage, oversize frames and floods on every line of both apps never throw, never
// grow memory (every bounded structure keeps its size), and the devices keep working afterwards.
// The concentrator's store-and-forward queue refuses explicitly when full and never loses a frame
// it accepted.
import { describe, it, expect } from 'vitest';
import { randomBytes } from 'node:crypto';
import { encodeSerialFrame, serialEncodedMaxLen } from '@vakt/shared/serial';
import { createCryptoCtx } from '@vakt/shared/ctx';
import { createKeySlot, loadLinkKey, setSlotKey } from '@vakt/shared/keys';
import { createSendCounter } from '@vakt/shared/counter';
import { sealFrame } from '@vakt/shared/seal';
import {
  BACKHAUL_VERSION,
  E2E_VERSION,
  HEADER_LEN,
  HOP_DOWN,
  HOP_HDR_SHORT,
  HOP_MARK,
  LINK_VERSION,
  MAX_LINK_FRAME,
} from '@vakt/shared/frame';
import { DIR_DOWN, DIR_UP, HOP_TAG_LEN, LINK_DATA, OP_EVENT, OP_READ, OP_READING } from '@vakt/shared/policy';
import { METER_ADDR, Rig } from './harness.ts';
import type { CborValue } from '@vakt/shared/cbor';

const T0 = 1_800_000_000;

function serial(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(serialEncodedMaxLen(frame.length));
  const n = encodeSerialFrame(frame, 0, frame.length, out, 0);
  return out.slice(0, n);
}

/**
 * Random frames of every flavour: raw noise, CRC-valid junk, link headers with junk, oversize runs.
 * sender/target null: radio-hop headers naming the rig meter's short address; else backhaul headers.
 */
function* hostileChunks(count: number, target: Uint8Array | null, sender: Uint8Array | null): Generator<Uint8Array> {
  for (let i = 0; i < count; i++) {
    const kind = i % 5;
    if (kind === 0) yield new Uint8Array(randomBytes(1 + (i % 300)));
    else if (kind === 1) yield serial(new Uint8Array(randomBytes(1 + ((i * 37) % 1100))));
    else if (kind === 2) {
      // A well-formed link header toward the target with a random body and tag: parses, fails the MIC.
      const body = 1 + (i % 60);
      if (target === null || sender === null) {
        // Radio hop: LB (direction varies, short counter) ‖ short address ‖ counter ‖ body ‖ 4-byte MIC.
        const f = new Uint8Array(randomBytes(HOP_HDR_SHORT + body + HOP_TAG_LEN));
        f[0] = HOP_MARK | ((i % 2) * HOP_DOWN) | LINK_DATA;
        f[1] = METER_ADDR >>> 8;
        f[2] = METER_ADDR & 0xff;
        yield serial(f);
        continue;
      }
      const f = new Uint8Array(randomBytes(HEADER_LEN + body + 8));
      f[0] = BACKHAUL_VERSION;
      f[1] = i % 2; // direction varies
      f[2] = LINK_DATA;
      f[3] = 0;
      f.set(sender, 4);
      f.set(target, 12);
      f[24] = 0;
      f[25] = body;
      yield serial(f);
    } else if (kind === 3) {
      // Oversize: a run without delimiter longer than any frame, then a delimiter.
      const b = new Uint8Array(MAX_LINK_FRAME * 2 + 17).fill(0x41);
      b[b.length - 1] = 0;
      yield b;
    } else yield new Uint8Array([0, 0, 0, 1, 0, 2, 2, 0]);
  }
}

describe('hostile input', () => {
  it('meter: noise, junk, forged and oversize frames never throw or grow memory; it keeps working', () => {
    const rig = new Rig(T0, { intervalS: 900, eventBurst: 4, eventPeriodS: 60 });
    // The meter's bounded structures: the deframer's buffer (every received frame lives there) and the load profile.
    const meterSizes = (): number[] => [rig.meter.rx.buf.length, rig.meter.rx.maxFrameLen, rig.meter.profile.pending()];
    const sizes = meterSizes();
    const recNames = [...rig.meterStorage.recs.keys()].sort();
    rig.hes.inbox.length = 0;
    for (const c of hostileChunks(2000, null, null)) {
      expect(() => rig.meter.onSerial(c)).not.toThrow();
    }
    rig.net.run();
    expect(meterSizes()).toEqual(sizes);
    expect(rig.meter.rx.oversize).toBeGreaterThan(0); // the oversize runs were refused (ERR_OVERSIZE) and counted
    expect(rig.meter.stats.badTag).toBeGreaterThan(100);
    // Forgeries were counted, and reported at most at the limiter's rate (4 at once).
    const ev = rig.hes.take(OP_EVENT);
    expect(ev.length).toBeLessThanOrEqual(4);
    // Storage: no new record kinds, only the counter/event bookkeeping that the limiter allows.
    expect([...rig.meterStorage.recs.keys()].sort()).toEqual(recNames);
    // Still serves the HES.
    rig.hes.command(OP_READ, [77, 1]);
    rig.net.run();
    expect(rig.hes.take(OP_READ).map((u) => (u.body as CborValue[])[0])).toEqual([77]);
  });

  it('meter: a flood of 5000 forged frames costs at most burst + rate events, all counted', () => {
    const rig = new Rig(T0, { intervalS: 900, eventBurst: 4, eventPeriodS: 60 });
    rig.hes.inbox.length = 0;
    const ctx = createCryptoCtx();
    // Authentic CRC, well-formed header, wrong key: the attacker does not know the link key.
    const slot = createKeySlot(LINK_VERSION, 0, DIR_DOWN, 0, rig.w.id.meter, rig.w.id.conc, METER_ADDR);
    slot.local = rig.w.id.conc; // sender field = concentrator
    slot.peer = rig.w.id.meter;
    setSlotKey(slot, new Uint8Array(16).fill(9), 0);
    slot.ctr = createSendCounter(0, 1000, () => true);
    const out = new Uint8Array(MAX_LINK_FRAME);
    const body = new Uint8Array(40);
    const writesBefore = rig.meterStorage.writes;
    for (let i = 0; i < 5000; i++) {
      const n = sealFrame(ctx, slot, LINK_DATA, body, 0, body.length, out, 0);
      rig.meter.onSerial(serial(out.subarray(0, n)));
      if (i % 500 === 0) rig.advance(60, 60); // ten minutes of flood in total
    }
    rig.net.run();
    // A forgery whose last byte happens to be the CRC high byte of the rest (1 in 256) is counted as
    // the serial residue-0 escape, i.e. line noise (PROTOCOL.md §9); every other one as a bad tag.
    const noise = rig.meter.stats.linkErrors;
    expect(rig.meter.stats.badTag + noise).toBe(5000);
    expect(noise).toBeLessThan(60);
    const ev = rig.hes.take(OP_EVENT).map((u) => u.body as number[]);
    // 4 at once + 1 per minute over ~10 minutes (+ the final flush).
    expect(ev.length).toBeLessThanOrEqual(4 + 11);
    const reported = ev.filter((e) => e[1] === 16).reduce((a, e) => a + e[3], 0);
    rig.advance(600, 60);
    const later = rig.hes
      .take(OP_EVENT)
      .map((u) => u.body as number[])
      .filter((e) => e[1] === 16)
      .reduce((a, e) => a + e[3], 0);
    expect(reported + later).toBe(5000 - noise);
    // Bounded flash wear: events cost counter reservations only (R = 64 by default), no per-frame write.
    expect(rig.meterStorage.writes - writesBefore).toBeLessThan(40);
  });

  it('concentrator: garbage on both lines never throws or grows memory', () => {
    const rig = new Rig(T0, { intervalS: 900 });
    const sizes = rig.conc.boundedSizes();
    const w = rig.w.id;
    for (const c of hostileChunks(1500, null, null)) expect(() => rig.conc.onMeterLine(1, c)).not.toThrow();
    for (const c of hostileChunks(1500, w.conc, w.hes)) expect(() => rig.conc.onHes(c)).not.toThrow();
    expect(() => rig.conc.onMeterLine(7, new Uint8Array([1, 2, 0]))).not.toThrow();
    rig.net.run();
    expect(rig.conc.boundedSizes()).toEqual(sizes);
    expect(rig.conc.stats.meterLinkFailures + rig.conc.stats.notForMe).toBeGreaterThan(100);
    expect(rig.conc.stats.hesLinkFailures).toBeGreaterThan(100);
    expect(rig.conc.table.count()).toBe(1);
    // Still forwards.
    rig.hes.autoAck = true;
    rig.advance(900);
    expect(rig.hes.take(OP_READING)).toHaveLength(1);
  });

  it('concentrator: a full queue refuses explicitly (no LINK_ACK) and every accepted frame reaches the HES', () => {
    // slotsPerMeter 16: this one meter may use the whole queue, so the test reaches the queue's own bound
    // (per-meter shares: queue-fairness.test.ts).
    const rig = new Rig(T0, { intervalS: 900 }, { upSlots: 16, retryS: 30, slotsPerMeter: 16 });
    const ctx = createCryptoCtx();
    const w = rig.w;
    // The meter's side of the link (the test holds the meter link key) and a dummy end-to-end frame.
    const link = createKeySlot(LINK_VERSION, 0, DIR_UP, 0, w.id.meter, w.id.conc, METER_ADDR);
    loadLinkKey(ctx, link, w.meterLk, 0, w.id.meter);
    link.ctr = createSendCounter(1000, 64, () => true); // past the counters the meter app used
    const e2e = createKeySlot(E2E_VERSION, OP_READING, DIR_UP, 0, w.id.meter, w.id.hes);
    setSlotKey(e2e, new Uint8Array(16).fill(3), 0);
    e2e.ctr = createSendCounter(0, 64, () => true);
    const inner = new Uint8Array(MAX_LINK_FRAME);
    const out = new Uint8Array(MAX_LINK_FRAME);
    let acks = 0;
    rig.net.taps.push((tag) => {
      if (tag === 'conc-down') acks++;
    });
    rig.net.drop = (tag) => tag === 'conc-up'; // HES link down
    const before = rig.hes.linkAcked;
    for (let i = 0; i < 40; i++) {
      const n = sealFrame(ctx, e2e, OP_READING, new Uint8Array([0x80 + 0]), 0, 1, inner, 0);
      const m = sealFrame(ctx, link, LINK_DATA, inner, 0, n, out, 0);
      rig.conc.onMeterLine(1, serial(out.subarray(0, m)));
      rig.net.run();
    }
    expect(rig.conc.upQueue.size()).toBe(16);
    expect(rig.conc.upQueue.refused).toBe(24);
    expect(acks).toBe(16); // only accepted frames were link-acknowledged
    rig.net.drop = null;
    rig.net.taps.pop();
    for (let t = 1; t <= 10; t++) {
      rig.conc.tick(T0 + 60 * t);
      rig.net.run();
    }
    expect(rig.conc.upQueue.size()).toBe(0);
    expect(rig.hes.linkAcked - before).toBe(16);
    expect(rig.conc.upQueue.expired).toBe(0);
  });
});
