// End-to-end Node scenario: KPE-style provisioning images (PROTOCOL.md §11, encoded with cbor-x)
// -> meter + concentrator apps -> a minimal HES written in the test on the core API.
import { describe, it, expect, beforeAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import {
  OP_ACK,
  OP_CLOCK,
  OP_CONFIG,
  OP_EVENT,
  OP_FIRMWARE,
  OP_KEY_UPDATE,
  OP_READ,
  OP_READING,
  OP_RELAY,
  LINK_DATA,
  LINK_ACK,
  DIR_DOWN,
  DIR_UP,
} from '@vakt/shared/policy';
import { BACKHAUL_VERSION, E2E_VERSION, LINK_VERSION } from '@vakt/shared/frame';
import { METER_EMITS, CONCENTRATOR_EMITS } from '@vakt/firmware';
import { Rig, classify, linkFrameOf } from './harness.ts';
import { refCmac, refE2eKey, refOpRoot } from '../conformance/reference.ts';
import { SerialDeframer } from '@vakt/shared/serial';
import { decodeValue } from '@vakt/shared/cbor';
import { HOP_CTR_WINDOW, MAX_LINK_FRAME } from '@vakt/shared/frame';
import { MAX_FW_CHUNK, METER_MAX_RX_FRAME, READ_MAX_INTERVALS } from '@vakt/firmware/meter/index';

function deframe(b: Uint8Array): Uint8Array {
  const d = new SerialDeframer(MAX_LINK_FRAME);
  d.push(b, 0, b.length);
  return d.buf.slice(0, Math.max(0, d.frameLen));
}
import type { CborValue } from '@vakt/shared/cbor';

const T0 = 1_800_000_000; // aligned to 900 s
type Arr = CborValue[];

function bodies(rig: Rig, op: number): Arr[] {
  return rig.hes.take(op).map((u) => u.body as Arr);
}

describe('meter + concentrator + HES scenario', () => {
  let rig: Rig;
  beforeAll(() => {
    rig = new Rig(T0, { intervalS: 900, retryS: 300 });
  });

  it('boots from the provisioning images and reports the power restore', () => {
    const ev = bodies(rig, OP_EVENT);
    expect(ev).toHaveLength(1);
    expect(ev[0][0]).toBe(0);
    expect(ev[0][1]).toBe(2); // power restore
    expect(ev[0][3]).toBe(1); // boot count
    expect(rig.relay[rig.relay.length - 1]).toBe(true);
    expect(rig.conc.table.count()).toBe(1);
    expect(rig.hes.e2eFailures).toEqual([]);
  });

  it('pushes one reading per interval; an ACK stops the re-push', () => {
    rig.advance(900);
    let r = bodies(rig, OP_READING);
    expect(r).toHaveLength(1);
    expect(r[0][1]).toBe(1);
    expect(r[0][2]).toBe(T0 + 900);
    expect(r[0][3]).toBeGreaterThan(0);
    expect(rig.meter.profile.pending()).toBe(1);
    // Unacknowledged: re-pushed after retryS.
    rig.advance(300);
    r = bodies(rig, OP_READING);
    expect(r.map((x) => x[1])).toEqual([1]);
    rig.hes.command(OP_ACK, [0, OP_READING, 1]);
    rig.net.run();
    expect(rig.meter.profile.pending()).toBe(0);
    rig.advance(600 - 60); // up to just before the next boundary: no re-push
    expect(bodies(rig, OP_READING)).toHaveLength(0);
    rig.hes.autoAck = true;
    rig.advance(60);
    expect(bodies(rig, OP_READING).map((x) => x[1])).toEqual([2]);
    expect(rig.meter.profile.pending()).toBe(0);
  });

  it('keeps readings while the HES link is down and fills the gap on request', () => {
    const before = rig.meter.profile.nextSeq_;
    rig.net.drop = (tag) => tag === 'conc-up' || tag === 'hes';
    rig.advance(3 * 3600);
    rig.net.drop = null;
    expect(rig.meter.profile.pending()).toBe(12);
    // The concentrator held what it accepted and never exceeded its capacity, nor this meter its share.
    expect(rig.conc.upQueue.size()).toBeLessThanOrEqual(rig.conc.upQueue.perOwner);
    // The link is back: the concentrator forwards its backlog on its next tick, which frees the
    // meter's share of the queue for the answer below.
    rig.conc.tick(rig.clock.t + 60);
    rig.net.run();
    rig.hes.autoAck = false;
    rig.hes.inbox.length = 0;
    // Gap fill: the HES asks for the missing range.
    const req = rig.hes.nextReq();
    rig.hes.command(OP_READ, [req, 2, before, before + 20]);
    rig.net.run();
    const resp = bodies(rig, OP_READ);
    expect(resp).toHaveLength(1);
    expect(resp[0][0]).toBe(req);
    expect(resp[0][1]).toBe(2);
    const ivs = resp[0][2] as number[][];
    expect(ivs.map((x) => x[0])).toEqual(Array.from({ length: 12 }, (_, i) => before + i));
    for (let i = 1; i < ivs.length; i++) {
      expect(ivs[i][1] - ivs[i - 1][1]).toBe(900);
      expect(ivs[i][2]).toBeGreaterThanOrEqual(ivs[i - 1][2]);
    }
    rig.hes.command(OP_ACK, [0, OP_READING, before + 11]);
    rig.net.run();
    expect(rig.meter.profile.pending()).toBe(0);
  });

  it('answers an on-demand register read', () => {
    const req = rig.hes.nextReq();
    rig.hes.command(OP_READ, [req, 1]);
    rig.net.run();
    const r = bodies(rig, OP_READ);
    expect(r).toHaveLength(1);
    expect(r[0]).toEqual([req, 1, rig.clock.t, rig.meter.register.wh, rig.meter.register.w]);
    expect(rig.meter.register.wh).toBeGreaterThan(1000);
  });

  it('opens and closes the relay', () => {
    let req = rig.hes.nextReq();
    rig.hes.command(OP_RELAY, [req, 0]);
    rig.net.run();
    expect(bodies(rig, OP_RELAY)).toEqual([[req, 0, 0]]);
    expect(rig.relay[rig.relay.length - 1]).toBe(false);
    expect(rig.meter.relayClosed()).toBe(false);
    req = rig.hes.nextReq();
    rig.hes.command(OP_RELAY, [req, 7]);
    rig.net.run();
    expect(bodies(rig, OP_RELAY)).toEqual([[req, 7, 2]]);
    req = rig.hes.nextReq();
    rig.hes.command(OP_RELAY, [req, 1]);
    rig.net.run();
    expect(bodies(rig, OP_RELAY)).toEqual([[req, 1, 0]]);
    expect(rig.relay[rig.relay.length - 1]).toBe(true);
  });

  it('writes configuration and refuses unknown keys', () => {
    let req = rig.hes.nextReq();
    rig.hes.command(OP_CONFIG, [req, { 1: 7, 2: 1800 }]);
    rig.net.run();
    expect(bodies(rig, OP_CONFIG)).toEqual([[req, 0]]);
    expect(rig.meter.config.tariff).toBe(7);
    expect(rig.meter.config.interval).toBe(1800);
    req = rig.hes.nextReq();
    rig.hes.command(OP_CONFIG, [req, { 1: 8, 99: 1 }]);
    rig.net.run();
    expect(bodies(rig, OP_CONFIG)).toEqual([[req, 2]]);
    expect(rig.meter.config.tariff).toBe(7);
    req = rig.hes.nextReq();
    rig.hes.command(OP_CONFIG, [req, { 2: 900 }]);
    rig.net.run();
    expect(bodies(rig, OP_CONFIG)).toEqual([[req, 0]]);
  });

  it('syncs the clock and reports the time before', () => {
    const req = rig.hes.nextReq();
    const before = rig.clock.t;
    rig.hes.command(OP_CLOCK, [req, before + 42]);
    rig.net.run();
    expect(bodies(rig, OP_CLOCK)).toEqual([[req, 0, before]]);
    expect(rig.clock.t).toBe(before + 42);
  });

  function fwSend(image: Uint8Array, mac: Uint8Array, version: number, chunk: number, skip: Set<number>): Arr[] {
    const req = rig.hes.nextReq();
    rig.hes.command(OP_FIRMWARE, [req, 1, image.length, mac, version]);
    rig.net.run();
    const out: Arr[] = bodies(rig, OP_FIRMWARE);
    for (let off = 0, i = 0; off < image.length; off += chunk, i++) {
      if (skip.has(i)) continue; // lost on the radio
      rig.hes.command(OP_FIRMWARE, [req, 2, off, image.subarray(off, Math.min(image.length, off + chunk))]);
      rig.net.run();
      out.push(...bodies(rig, OP_FIRMWARE));
    }
    return out;
  }

  it('downloads a firmware image in chunks, resumes after a lost chunk and a reboot, checks the image MAC, activates', () => {
    const image = new Uint8Array(randomBytes(5000));
    const mac = rig.hes.imageMac(image); // CMAC under KF[0] by the node:crypto reference
    // Chunk 3 is lost: every later chunk is refused with nextOffset = where the meter stands.
    const st = fwSend(image, mac, 2, MAX_FW_CHUNK, new Set([3]));
    expect(st[0]).toEqual([expect.any(Number), 0, 0]);
    expect(st.slice(1, 4).map((x) => x[1])).toEqual([0, 0, 0]);
    expect(st.slice(4).every((x) => x[1] === 2 && x[2] === 3 * MAX_FW_CHUNK)).toBe(true);
    // Reboot the meter mid-download: BEGIN with the same image resumes at the stored offset.
    rig.bootMeter();
    rig.net.run();
    rig.hes.inbox.length = 0;
    const req = rig.hes.nextReq();
    rig.hes.command(OP_FIRMWARE, [req, 1, image.length, mac, 2]);
    rig.net.run();
    const resumed = bodies(rig, OP_FIRMWARE);
    expect(resumed).toEqual([[req, 0, 3 * MAX_FW_CHUNK]]);
    for (let off = 3 * MAX_FW_CHUNK; off < image.length; off += MAX_FW_CHUNK) {
      rig.hes.command(OP_FIRMWARE, [req, 2, off, image.subarray(off, Math.min(image.length, off + MAX_FW_CHUNK))]);
      rig.net.run();
    }
    const last = bodies(rig, OP_FIRMWARE).pop()!;
    expect(last).toEqual([req, 0, 5000]);
    rig.hes.command(OP_FIRMWARE, [req, 3]);
    rig.net.run();
    expect(bodies(rig, OP_FIRMWARE)).toEqual([[req, 0, 0]]);
    expect(rig.meter.config.fwVersion).toBe(2);
  });

  it('rolls back a corrupted image: MAC mismatch at activation keeps the running version', () => {
    const image = new Uint8Array(randomBytes(3000));
    const mac = rig.hes.imageMac(image);
    const corrupted = new Uint8Array(image);
    corrupted[1234] ^= 0x01; // one bit flipped in transit/at the source, frames themselves authentic
    const st = fwSend(corrupted, mac, 3, MAX_FW_CHUNK, new Set());
    expect(st.every((x) => x[1] === 0)).toBe(true);
    const req = rig.hes.nextReq();
    rig.hes.command(OP_FIRMWARE, [req, 3]);
    rig.net.run();
    expect(bodies(rig, OP_FIRMWARE)).toEqual([[req, 1, 0]]);
    expect(rig.meter.config.fwVersion).toBe(2);
    expect(rig.meter.firmware.rejected).toBe(1);
    expect([...rig.meterStorage.recs.keys()].filter((k) => /^fw\d+$/.test(k))).toEqual([]);
    expect(rig.logs.some((l) => l.includes('rolled back'))).toBe(true);
  });

  it('accepts FIRMWARE chunks of at most 512 bytes: a longer one is answered bad request or, past the receive buffer, dropped as oversize; the download goes on', () => {
    const r2 = new Rig(T0, { intervalS: 900, retryS: 300 });
    const image = new Uint8Array(randomBytes(3 * MAX_FW_CHUNK));
    const mac = r2.hes.imageMac(image);
    const req = r2.hes.nextReq();
    r2.hes.command(OP_FIRMWARE, [req, 1, image.length, mac, 6]);
    r2.net.run();
    expect(bodies(r2, OP_FIRMWARE)).toEqual([[req, 0, 0]]);
    // One byte over the limit: the frame fits the meter's receive buffer, the chunk is refused and nothing is held.
    r2.hes.command(OP_FIRMWARE, [req, 2, 0, image.subarray(0, MAX_FW_CHUNK + 1)]);
    r2.net.run();
    expect(bodies(r2, OP_FIRMWARE)).toEqual([[req, 2, 0]]);
    // A chunk whose link frame exceeds METER_MAX_RX_FRAME: dropped at the deframer (ERR_OVERSIZE, counted), no answer.
    const oversize = r2.meter.rx.oversize;
    const framesIn = r2.meter.stats.framesIn;
    r2.hes.command(OP_FIRMWARE, [req, 2, 0, image.subarray(0, METER_MAX_RX_FRAME)]);
    r2.net.run();
    expect(r2.meter.rx.oversize).toBe(oversize + 1);
    expect(r2.meter.stats.framesIn).toBe(framesIn);
    expect(bodies(r2, OP_FIRMWARE)).toEqual([]);
    expect(r2.meter.firmware.received_).toBe(0);
    // Chunks of the limit go on as before.
    for (let off = 0; off < image.length; off += MAX_FW_CHUNK) {
      r2.hes.command(OP_FIRMWARE, [req, 2, off, image.subarray(off, off + MAX_FW_CHUNK)]);
      r2.net.run();
    }
    expect(bodies(r2, OP_FIRMWARE).map((x) => x[2])).toEqual([MAX_FW_CHUNK, 2 * MAX_FW_CHUNK, 3 * MAX_FW_CHUNK]);
    r2.hes.command(OP_FIRMWARE, [req, 3]);
    r2.net.run();
    expect(bodies(r2, OP_FIRMWARE)).toEqual([[req, 0, 0]]);
    expect(r2.meter.config.fwVersion).toBe(6);
  });

  it('refuses a download whose FIRMWARE key changed between BEGIN and ACTIVATE; a BEGIN under the new generation succeeds', () => {
    const r3 = new Rig(T0, { intervalS: 900, retryS: 300 });
    const image = new Uint8Array(randomBytes(2 * MAX_FW_CHUNK + 100));
    const send = (mac: Uint8Array, version: number): number => {
      const req = r3.hes.nextReq();
      r3.hes.command(OP_FIRMWARE, [req, 1, image.length, mac, version]);
      r3.net.run();
      for (let off = 0; off < image.length; off += MAX_FW_CHUNK) {
        r3.hes.command(OP_FIRMWARE, [req, 2, off, image.subarray(off, Math.min(image.length, off + MAX_FW_CHUNK))]);
        r3.net.run();
      }
      expect(bodies(r3, OP_FIRMWARE).every((x) => x[1] === 0)).toBe(true);
      return req;
    };
    // The MAC of another generation (KF[1] from the same master key, announced under generation 0) never verifies.
    const id = r3.w.id.meter;
    let req = send(new Uint8Array(refCmac(refE2eKey(refOpRoot(r3.w.mk, id, OP_FIRMWARE, 1), id, OP_FIRMWARE, 2, 1), image)), 4);
    r3.hes.command(OP_FIRMWARE, [req, 3]);
    r3.net.run();
    expect(bodies(r3, OP_FIRMWARE)).toEqual([[req, 1, 0]]);
    // A download under generation 0, then a key update of OK[FIRMWARE] to generation 1 before ACTIVATE.
    req = send(r3.hes.imageMac(image), 4);
    r3.hes.transport(OP_FIRMWARE, 1, new Uint8Array(randomBytes(16)));
    r3.net.run();
    expect(r3.hes.pendingKu!.confirmed).toBe(true);
    r3.hes.activate();
    r3.net.run();
    expect(r3.meter.keys.gen[OP_FIRMWARE]).toBe(1);
    r3.hes.take(OP_ACK);
    r3.hes.command(OP_FIRMWARE, [req, 3]); // under generation 1: authentic, but the image key was KF[0]
    r3.net.run();
    expect(bodies(r3, OP_FIRMWARE)).toEqual([[req, 1, 0]]);
    expect(r3.meter.config.fwVersion).toBe(0);
    expect(r3.meter.firmware.rejected).toBe(2);
    expect([...r3.meterStorage.recs.keys()].filter((k) => /^fw\d+$/.test(k))).toEqual([]);
    // The HES begins again under generation 1 with the MAC under KF[1].
    req = send(r3.hes.imageMac(image), 4);
    r3.hes.command(OP_FIRMWARE, [req, 3]);
    r3.net.run();
    expect(bodies(r3, OP_FIRMWARE)).toEqual([[req, 0, 0]]);
    expect(r3.meter.config.fwVersion).toBe(4);
  });

  it('answers a READ of 16 intervals whose every field has its longest encoding (the transmit buffer holds the largest uplink)', () => {
    const r2 = new Rig(T0, { intervalS: 900, retryS: 300 });
    // Sixteen stored intervals with the largest values the records hold and CBOR carries (lph, lp<n>: FIRMWARE.md).
    const MAX_U32 = 0xffffffff;
    const whMax = Number.MAX_SAFE_INTEGER;
    const rec = (seq: number): Uint8Array => {
      const b = new Uint8Array(21);
      const v = new DataView(b.buffer);
      b[0] = 1;
      v.setUint32(1, seq);
      v.setUint32(5, MAX_U32);
      v.setBigUint64(9, BigInt(whMax));
      v.setUint32(17, MAX_U32);
      return b;
    };
    const n = READ_MAX_INTERVALS;
    // seq values of 5-byte CBOR (>= 2^16) so every field is at its longest; nextSeq just above, all acknowledged.
    const first = 0x10000;
    for (let seq = first; seq < first + n; seq++) r2.meterStorage.recs.set('lp' + (seq % 96), rec(seq));
    const head = new Uint8Array(9);
    head[0] = 1;
    new DataView(head.buffer).setUint32(1, first + n);
    new DataView(head.buffer).setUint32(5, first + n - 1);
    r2.meterStorage.recs.set('lph', head);
    r2.bootMeter();
    r2.net.run();
    r2.hes.inbox.length = 0;
    const req = 0xffffffff; // the largest request id of the body table (u32, PROTOCOL.md §10)
    r2.hes.command(OP_READ, [req, 2, first, first + n - 1]);
    r2.net.run();
    const got = bodies(r2, OP_READ);
    expect(got).toHaveLength(1);
    expect(got[0][0]).toBe(req);
    expect(got[0][1]).toBe(2);
    const ivs = got[0][2] as number[][];
    expect(ivs).toHaveLength(n);
    ivs.forEach((iv, i) => expect(iv).toEqual([first + i, MAX_U32, whMax, MAX_U32]));
    expect(r2.meter.stats.sendErrors).toBe(0);
  });

  function dropOnce(pred: (c: ReturnType<typeof classify>, tag: string) => boolean): () => number {
    let dropped = 0;
    rig.net.drop = (tag, b) => {
      if (dropped === 0 && pred(classify(b), tag)) {
        dropped++;
        return true;
      }
      return false;
    };
    return () => dropped;
  }

  it('key update of one operation key survives each of its three messages being lost once', () => {
    const newKey = new Uint8Array(randomBytes(16));
    const isKu = (c: ReturnType<typeof classify>, tag: string, dir: number) =>
      c.op === OP_KEY_UPDATE && c.dir === dir && (tag === 'hes' || tag === 'conc-up');
    // 1. TRANSPORT lost.
    let lost = dropOnce((c, tag) => isKu(c, tag, DIR_DOWN));
    rig.hes.transport(OP_RELAY, 1, newKey);
    rig.net.run();
    expect(lost()).toBe(1);
    expect(rig.meter.keys.stPresent_).toBe(false);
    expect(rig.hes.pendingKu!.confirmed).toBe(false);
    // 2. Retried TRANSPORT arrives, CONFIRM lost.
    lost = dropOnce((c, tag) => isKu(c, tag, DIR_UP));
    rig.hes.transport(OP_RELAY, 1, newKey);
    rig.net.run();
    expect(lost()).toBe(1);
    expect(rig.meter.keys.stPresent_).toBe(true);
    expect(rig.hes.pendingKu!.confirmed).toBe(false);
    // The meter still works under the old generation meanwhile.
    let req = rig.hes.nextReq();
    rig.hes.command(OP_RELAY, [req, 1]);
    rig.net.run();
    expect(rig.hes.take(OP_RELAY).map((u) => u.gen)).toEqual([0]);
    // 3. TRANSPORT repeated: a new CONFIRM for the same staged key.
    rig.net.drop = null;
    rig.hes.transport(OP_RELAY, 1, newKey);
    rig.net.run();
    expect(rig.hes.pendingKu!.confirmed).toBe(true);
    const confirms = rig.hes.take(OP_KEY_UPDATE);
    expect(confirms).toHaveLength(1);
    expect(confirms[0].kc).toBe(true);
    expect(confirms[0].gen).toBe(1);
    // 4. ACTIVATE (under the unchanged key-update key) lost: the next command under gen 1 activates instead.
    lost = dropOnce((c, tag) => isKu(c, tag, DIR_DOWN));
    rig.hes.activate();
    rig.net.run();
    expect(lost()).toBe(1);
    expect(rig.meter.keys.stPresent_).toBe(true);
    req = rig.hes.nextReq();
    rig.hes.command(OP_RELAY, [req, 1]); // HES already uses gen 1 for downlink
    rig.net.run();
    const rel = rig.hes.take(OP_RELAY);
    expect(rel.map((u) => [u.gen, (u.body as Arr)[0]])).toEqual([[1, req]]);
    expect(rig.meter.keys.stPresent_).toBe(false);
    expect(rig.meter.keys.gen[OP_RELAY]).toBe(1);
    // A late ACTIVATE is harmless; old-generation RELAY frames are now refused (policy event).
    rig.net.drop = null;
    rig.hes.activate();
    rig.net.run();
    const pol = rig.meter.stats.policy;
    rig.hes.command(OP_RELAY, [rig.hes.nextReq(), 1], 0);
    rig.net.run();
    expect(rig.meter.stats.policy).toBe(pol + 1);
    expect(rig.hes.take(OP_RELAY)).toHaveLength(0);
  });

  it('master-key update (scope 0) moves every operation to the new generation', () => {
    const newMk = new Uint8Array(randomBytes(16));
    rig.hes.transport(0, 2, newMk);
    rig.net.run();
    expect(rig.hes.pendingKu!.confirmed).toBe(true);
    rig.hes.activate(); // under K[KEY_UPDATE, DOWN, 2]: the first downlink under the staged generation
    rig.net.run();
    expect(rig.meter.keys.stPresent_).toBe(false);
    for (let op = 1; op <= 9; op++) expect(rig.meter.keys.gen[op]).toBe(2);
    const req = rig.hes.nextReq();
    rig.hes.command(OP_READ, [req, 1]);
    rig.net.run();
    const r = rig.hes.take(OP_READ);
    expect(r.map((u) => u.gen)).toEqual([2]);
    // Keys survive a reboot.
    rig.bootMeter();
    rig.net.run();
    rig.hes.command(OP_READ, [rig.hes.nextReq(), 1]);
    rig.net.run();
    expect(rig.hes.take(OP_READ).map((u) => u.gen)).toEqual([2]);
    expect(rig.hes.e2eFailures).toEqual([]);
  });

  it('reports bad tags, replays and policy violations, rate-limited but fully counted', () => {
    rig.hes.inbox.length = 0;
    rig.advance(3600, 600); // refill the event bucket
    rig.hes.inbox.length = 0;
    // Replay of an authentic, older frame (the last one again would be a harmless duplicate). With the
    // full counter on the wire it is a replay; with the short one its counter reconstructs above the
    // last accepted value, so nonce and associated data differ and the tag fails (PROTOCOL.md §6).
    rig.hes.command(OP_RELAY, [rig.hes.nextReq(), 1], undefined, true);
    rig.net.run();
    const recorded = rig.hes.lastE2e();
    rig.hes.command(OP_RELAY, [rig.hes.nextReq(), 1]);
    rig.net.run();
    const recordedShort = rig.hes.lastE2e();
    rig.hes.command(OP_RELAY, [rig.hes.nextReq(), 1]);
    rig.net.run();
    rig.hes.forward(recorded);
    rig.net.run();
    expect(rig.meter.stats.replay).toBe(1);
    expect(rig.meter.stats.badTag).toBe(0);
    rig.hes.forward(recordedShort);
    rig.net.run();
    expect(rig.meter.stats.badTag).toBe(1);
    // Forgeries: 40 frames with a flipped tag bit.
    for (let i = 0; i < 40; i++) {
      rig.hes.command(OP_CLOCK, [rig.hes.nextReq(), rig.clock.t]);
      const f = rig.hes.lastE2e();
      rig.net.q.pop(); // do not deliver the good one
      f[f.length - 1] ^= 0x80;
      rig.hes.forward(f);
      rig.net.run();
    }
    expect(rig.meter.stats.badTag).toBe(41);
    expect(rig.meter.stats.commands).toBeGreaterThan(0);
    let ev = bodies(rig, OP_EVENT);
    // Bucket of 4: replay + 3 bad-tag reports at most, the rest only counted.
    expect(ev.length).toBeLessThanOrEqual(4);
    expect(rig.meter.stats.eventsSuppressed).toBeGreaterThan(30);
    // A READING (uplink-only op) sent downward is already refused by the concentrator's header check.
    const bad = rig.conc.stats.badInner;
    const f = rig.hes.lastE2e();
    f[0] = (f[0] & 0xf0) | OP_READING; // the op is the low 4 bits of the e2e first byte
    rig.hes.forward(f);
    rig.net.run();
    expect(rig.conc.stats.badInner).toBe(bad + 1);
    // Policy violation at the meter: a command under a retired generation (downgrade attempt).
    const pol = rig.meter.stats.policy;
    rig.hes.command(OP_CONFIG, [rig.hes.nextReq(), { 1: 1 }], 0);
    rig.net.run();
    expect(rig.meter.stats.policy).toBe(pol + 1);
    // Time passes: the suppressed counts are reported as sums.
    rig.advance(3600, 60);
    ev = ev.concat(bodies(rig, OP_EVENT));
    const sum = (code: number) => ev.filter((e) => e[1] === code).reduce((a, e) => a + (e[3] as number), 0);
    expect(sum(17)).toBe(1);
    expect(sum(16)).toBe(41);
    expect(sum(18)).toBe(1);
  });

  it('an alarm raised while the radio link is down is retransmitted until the concentrator holds it', () => {
    rig.advance(3600, 600); // fresh limiter tokens
    rig.hes.inbox.length = 0;
    rig.net.drop = (tag) => tag === 'meter'; // the meter's transmitter reaches nobody
    rig.meter.onTamper();
    rig.net.run();
    rig.advance(600, 60);
    expect(rig.hes.take(OP_EVENT)).toHaveLength(0);
    // Link back, but the LINK_ACK for the first retransmission is lost: the meter sends it again.
    let lostAck = 0;
    let eventCounter = -1;
    rig.net.drop = (tag, b) => {
      const f = deframe(b);
      if (tag === 'meter' && classify(b).op === OP_EVENT && eventCounter < 0) eventCounter = linkFrameOf(f).counter % HOP_CTR_WINDOW;
      if (tag === 'conc-down' && classify(b).link === LINK_ACK && lostAck === 0) {
        const lb = linkFrameOf(f).body;
        const acked = (decodeValue(lb, 0, lb.length).value as number[])[0]!;
        // LINK_ACK names the full counter; the meter's frame may carry only its low bits.
        if (acked % HOP_CTR_WINDOW === eventCounter) {
          lostAck++;
          return true;
        }
      }
      return false;
    };
    rig.advance(900, 60);
    rig.net.drop = null;
    rig.advance(900, 60);
    const ev = bodies(rig, OP_EVENT).filter((e) => e[1] === 3);
    expect(lostAck).toBe(1);
    expect(ev.length).toBe(2);
    // Duplicates are recognisable: same t, same detail.
    expect(ev[1]).toEqual(ev[0]);
    rig.advance(1800, 60);
    expect(bodies(rig, OP_EVENT).filter((e) => e[1] === 3)).toHaveLength(0);
  });

  it('a command retransmitted after a lost LINK_ACK is a duplicate, not a replay attack', () => {
    const replays = rig.meter.stats.replay;
    const dups = rig.meter.stats.duplicates;
    let lost = 0;
    rig.net.drop = (tag, b) => {
      if (tag === 'meter' && classify(b).link === LINK_ACK && lost === 0) {
        lost++;
        return true;
      }
      return false;
    };
    const req = rig.hes.nextReq();
    rig.hes.command(OP_RELAY, [req, 1]);
    rig.net.run();
    rig.net.drop = null;
    expect(lost).toBe(1);
    expect(bodies(rig, OP_RELAY)).toEqual([[req, 1, 0]]);
    rig.conc.tick(rig.clock.t + 60); // the concentrator's retry
    rig.net.run();
    expect(rig.meter.stats.duplicates).toBe(dups + 1);
    expect(rig.meter.stats.replay).toBe(replays);
    expect(rig.conc.downQueue.size()).toBe(0);
    expect(bodies(rig, OP_RELAY)).toEqual([]);
  });

  it('replay protection holds per operation across other operations and a reboot', () => {
    const replays = rig.meter.stats.replay;
    rig.hes.command(OP_RELAY, [rig.hes.nextReq(), 1], undefined, true); // full counter on the wire: a replay is ERR_REPLAY (§6)
    rig.net.run();
    const a = rig.hes.lastE2e();
    rig.hes.command(OP_RELAY, [rig.hes.nextReq(), 1]); // a is no longer the last RELAY (not a mere duplicate)
    rig.hes.command(OP_CLOCK, [rig.hes.nextReq(), rig.clock.t]);
    rig.hes.command(OP_READ, [rig.hes.nextReq(), 1]);
    rig.net.run();
    rig.hes.inbox.length = 0;
    rig.hes.forward(a);
    rig.net.run();
    expect(rig.meter.stats.replay).toBe(replays + 1);
    expect(rig.hes.take(OP_RELAY)).toHaveLength(0);
    rig.bootMeter();
    rig.net.run();
    rig.hes.inbox.length = 0;
    rig.hes.forward(a);
    rig.net.run();
    expect(rig.meter.stats.replay).toBe(1); // counted by the rebooted instance
    expect(rig.hes.take(OP_RELAY)).toHaveLength(0);
  });

  it('exports the frames each app emits, and every frame seen on the wires is in the list', () => {
    const key = (l: number, o: number, d: number) => l + ':' + o + ':' + d;
    const meterSet = new Set(METER_EMITS.map((f) => key(f.layer, f.op, f.dir)));
    const concSet = new Set(CONCENTRATOR_EMITS.map((f) => key(f.layer, f.op, f.dir)));
    expect(meterSet.has(key(E2E_VERSION, OP_READING, DIR_UP))).toBe(true);
    expect([...concSet].every((k) => k.startsWith(LINK_VERSION + ':') || k.startsWith(BACKHAUL_VERSION + ':'))).toBe(true);
    // Replay a fresh rig through most operations while tapping the wires.
    const r2 = new Rig(T0, { intervalS: 900 });
    const seen = { meter: new Set<string>(), conc: new Set<string>() };
    r2.net.taps.push((tag, b) => {
      const c = classify(b);
      if (tag === 'meter') {
        seen.meter.add(key(c.layer, c.link, c.dir));
        if (c.link === LINK_DATA) seen.meter.add(key(E2E_VERSION, c.op, c.dir));
      } else if (tag === 'conc-up' || tag === 'conc-down') seen.conc.add(key(c.layer, c.link, c.dir));
    });
    r2.hes.autoAck = true;
    r2.advance(1800);
    r2.hes.command(OP_READ, [1, 1]);
    r2.hes.command(OP_RELAY, [2, 1]);
    r2.hes.command(OP_CONFIG, [3, { 1: 1 }]);
    r2.hes.command(OP_CLOCK, [4, r2.clock.t]);
    r2.hes.command(OP_FIRMWARE, [5, 3]);
    r2.hes.transport(OP_CONFIG, 1, new Uint8Array(16).fill(5));
    r2.meter.onTamper();
    r2.net.run();
    r2.hes.activate(); // answered by ACK [req, 7, 1] (PROTOCOL.md §8 step 4)
    r2.net.run();
    for (const k of seen.meter) expect(meterSet.has(k)).toBe(true);
    for (const k of seen.conc) expect(concSet.has(k)).toBe(true);
    expect(seen.meter.size).toBe(meterSet.size);
    expect(seen.conc.size).toBe(concSet.size);
  });
});
