// Unit tests of the firmware building blocks: load-profile ring, rate limiter, store-and-forward
// queue, energy register, provisioning-image parser, firmware download state machine.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { encode as cborEncode } from 'cbor-x';
import { createCryptoCtx } from '@vakt/shared/ctx';
import { expandKey } from '@vakt/shared/aes';
import { refCmac, refE2eKey } from '../conformance/reference.ts';
import { LoadProfile, createInterval } from '@vakt/firmware/common/loadprofile';
import { RateLimiter } from '@vakt/firmware/common/ratelimit';
import { EnergyRegister, PULSES_PER_KWH } from '@vakt/firmware/common/metering';
import { parseMeterProv, parseConcentratorProv } from '@vakt/firmware/common/prov';
import { FrameQueue, DEST_HES } from '@vakt/firmware/concentrator/queue';
import { FirmwareDownload, ACT_OK, ACT_REJECTED, ACT_INCOMPLETE, FW_OK, FW_BAD_REQUEST, FW_REFUSED } from '@vakt/firmware/meter/fwupdate';
import { FakeStorage } from './harness.ts';

describe('load-profile ring', () => {
  it('stores, reads back, survives a re-open, acknowledges', () => {
    const st = new FakeStorage();
    const lp = new LoadProfile(st, 8);
    for (let i = 0; i < 5; i++) expect(lp.append(1000 + i * 900, 10 * i, 100 + i)).toBe(i + 1);
    const iv = createInterval();
    expect(lp.get(3, iv)).toBe(true);
    expect(iv).toEqual({ seq: 3, t: 2800, wh: 20, w: 102 });
    expect(lp.pending()).toBe(5);
    expect(lp.ack(3)).toBe(true);
    expect(lp.ack(2)).toBe(false); // stale
    expect(lp.ack(9)).toBe(false); // never recorded
    const again = new LoadProfile(st, 8);
    expect(again.nextSeq_).toBe(6);
    expect(again.acked_).toBe(3);
    expect(again.pending()).toBe(2); // 4 and 5: the oldest unacknowledged is nextSeq - pending() = 4
    expect(again.get(5, iv) && iv.wh).toBe(40);
    expect(again.get(0, iv)).toBe(false);
    expect(again.get(6, iv)).toBe(false);
  });

  it('keeps the last N intervals when full and counts what it overwrote', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 100 }), (slots, n) => {
        const st = new FakeStorage();
        const lp = new LoadProfile(st, slots);
        for (let i = 0; i < n; i++) lp.append(i, 2 ** 40 + i, i); // wh beyond 32 bits
        const iv = createInterval();
        for (let s = 1; s <= n; s++) {
          const held = s > n - slots;
          expect(lp.get(s, iv)).toBe(held);
          if (held) expect(iv.wh).toBe(2 ** 40 + s - 1);
        }
        expect(lp.overwritten).toBe(Math.max(0, n - slots));
        expect(lp.pending()).toBe(Math.min(n, slots));
        expect(st.recs.size).toBe(Math.min(n, slots) + (n > 0 ? 1 : 0));
      }),
    );
  });

  it('ignores corrupt head records', () => {
    const st = new FakeStorage();
    st.recs.set('lph', new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0, 5])); // acked >= next: impossible
    const lp = new LoadProfile(st, 8);
    expect(lp.nextSeq_).toBe(1);
    st.recs.set('lph', new Uint8Array([9, 9]));
    expect(new LoadProfile(st, 8).nextSeq_).toBe(1);
  });
});

describe('rate limiter', () => {
  it('allows a burst, then one per period; a clock stepped back grants nothing extra', () => {
    const rl = new RateLimiter(3, 60, 1000);
    expect([rl.take(1000), rl.take(1000), rl.take(1000), rl.take(1000)]).toEqual([true, true, true, false]);
    expect(rl.take(1059)).toBe(false);
    expect(rl.take(1060)).toBe(true);
    expect(rl.take(1060)).toBe(false);
    expect(rl.take(500)).toBe(false); // backwards
    expect(rl.take(559)).toBe(false);
    expect(rl.take(560)).toBe(true);
    expect(rl.available(100000)).toBe(3); // capped
  });

  it('never grants more than capacity + elapsed/period over any schedule', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 200 }), { maxLength: 300 }), (steps) => {
        const rl = new RateLimiter(4, 30, 0);
        let t = 0;
        let granted = 0;
        for (const d of steps) {
          t += d;
          if (rl.take(t)) granted++;
        }
        expect(granted).toBeLessThanOrEqual(4 + Math.floor(t / 30));
      }),
    );
  });
});

describe('store-and-forward queue', () => {
  it('refuses when full or oversize, frees on ack, keeps arrival order', () => {
    const q = new FrameQueue(3, 10);
    const f = (b: number) => new Uint8Array([b, b, b]);
    expect(q.push(f(1), 0, 3, DEST_HES)).toBe(true);
    expect(q.push(f(2), 0, 3, 0)).toBe(true);
    expect(q.push(f(3), 0, 3, DEST_HES)).toBe(true);
    expect(q.push(f(4), 0, 3, DEST_HES)).toBe(false);
    expect(q.push(new Uint8Array(11), 0, 11, DEST_HES)).toBe(false);
    expect(q.refused).toBe(2);
    const e1 = q.nextDue(100, 30)!;
    expect(e1.buf[0]).toBe(1);
    e1.sentCounter = 7;
    e1.sentAt = 100;
    e1.tries = 1;
    expect(q.nextDue(110, 30)!.buf[0]).toBe(2); // e1 not due yet
    expect(q.ack(0, 7)).toBe(false); // wrong destination
    expect(q.ack(DEST_HES, 7)).toBe(true);
    expect(q.size()).toBe(2);
    expect(q.dropDest(0)).toBe(1);
    expect(q.size()).toBe(1);
    expect(q.entries.length).toBe(3);
    expect(q.entries.every((e) => e.buf.length === 10)).toBe(true);
  });
});

describe('energy register', () => {
  it('counts pulses as 1 Wh each and refuses nonsense counts', () => {
    const p = new EnergyRegister(0, 0);
    p.pulse(5);
    p.pulse(-3);
    p.pulse(NaN);
    p.pulse(2_000_000);
    p.advance(60);
    expect(p.wh).toBe(5);
    expect(p.w).toBe(300); // 5 Wh in 60 s
    expect(PULSES_PER_KWH).toBe(1000);
  });

  it('computes power only over windows of at least 60 s', () => {
    const r = new EnergyRegister(100, 1000);
    r.pulse(3);
    r.advance(1059);
    expect(r.w).toBe(0); // window not complete yet
    r.pulse(1);
    r.advance(1120); // 4 Wh in 120 s
    expect(r.w).toBe(120);
    expect(r.wh).toBe(104);
    r.pulse(10);
    r.advance(1180); // next window: 10 Wh in 60 s
    expect(r.w).toBe(600);
  });

  it('does not turn a clock jump into a power value; the pulses still count as energy', () => {
    const r = new EnergyRegister(100, 1_800_000_000);
    r.pulse(7);
    r.advance(1_900_000_000); // forward jump: the window's rate means nothing
    expect(r.wh).toBe(107);
    expect(r.w).toBe(0);
    r.pulse(2);
    r.advance(1_900_000_060);
    expect(r.w).toBe(120); // the window restarted at the jump: 2 Wh in 60 s
    r.pulse(4);
    r.advance(1_800_000_000); // backwards: the window restarts, no power from it
    expect(r.w).toBe(120);
    r.pulse(1);
    r.advance(1_800_000_060);
    expect(r.w).toBe(60);
    expect(r.wh).toBe(114);
  });
});

describe('provisioning images (PROTOCOL.md §11, encoded with cbor-x)', () => {
  const id = Buffer.alloc(8, 1);
  const key = Buffer.alloc(16, 2);
  const good = [1, 1, id, key, key, 3, id, id, 7];
  it('parses a meter and a concentrator image', () => {
    const m = parseMeterProv(new Uint8Array(cborEncode(good)))!;
    expect(m.linkGen).toBe(3);
    expect(m.shortAddr).toBe(7);
    expect([...m.masterKey]).toEqual([...key]);
    const c = parseConcentratorProv(new Uint8Array(cborEncode([1, 2, id, key, 0, id])))!;
    expect(c.hesLinkGen).toBe(0);
  });
  it('refuses wrong versions, kinds, lengths, generations and trailing bytes', () => {
    const bad: unknown[] = [
      [2, 1, id, key, key, 3, id, id, 7],
      [1, 2, id, key, key, 3, id, id, 7],
      [1, 1, Buffer.alloc(7), key, key, 3, id, id, 7],
      [1, 1, id, Buffer.alloc(15), key, 3, id, id, 7],
      [1, 1, id, key, key, 256, id, id, 7],
      [1, 1, id, key, key, -1, id, id, 7],
      [1, 1, id, key, key, 3, id, 7],
      [1, 1, id, key, key, 3, id, 'x', 7],
      [1, 1, id, key, key, 3, id, id], // no short address (a wire v1 image)
      [1, 1, id, key, key, 3, id, id, 0], // reserved short addresses
      [1, 1, id, key, key, 3, id, id, 0xffff],
    ];
    for (const b of bad) expect(parseMeterProv(new Uint8Array(cborEncode(b)))).toBeUndefined();
    const trailing = new Uint8Array([...cborEncode(good), 0]);
    expect(parseMeterProv(trailing)).toBeUndefined();
    expect(parseMeterProv(undefined)).toBeUndefined();
    expect(parseMeterProv(new Uint8Array(0))).toBeUndefined();
    expect(parseConcentratorProv(new Uint8Array(cborEncode(good)))).toBeUndefined();
    // prov.ts checks the end of the image itself (r.pos !== r.end), for both kinds.
    expect(parseConcentratorProv(new Uint8Array([...cborEncode([1, 2, id, key, 0, id]), 0]))).toBeUndefined();
  });
  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (b) => {
        expect(() => parseMeterProv(b)).not.toThrow();
        expect(() => parseConcentratorProv(b)).not.toThrow();
      }),
    );
  });
});

describe('firmware download', () => {
  const img = new Uint8Array(2000).map((_, i) => (i * 7) & 0xff);
  // KF[g] and the image MAC by the node:crypto reference (test/conformance/reference.ts), PROTOCOL.md §10, D-10.
  const meterId = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  const ok = new Uint8Array(16).map((_, i) => 0xa0 + i); // OK[FIRMWARE, g] (TEST)
  const kf = (g: number) => refE2eKey(ok, meterId, 6, 2, g);
  const mac = new Uint8Array(refCmac(kf(3), img));
  const ctx = createCryptoCtx();
  // What MeterKeys.imageKey does, with the reference's KF: the expanded key while gen is in force.
  const source = (inForce: number) => ({
    imageKey(gen: number): Uint32Array | null {
      if (gen !== inForce) return null;
      const rk = new Uint32Array(44);
      expandKey(kf(gen), 0, rk);
      return rk;
    },
  });
  it('accepts only the next offset, resumes after a re-open, verifies the MAC', () => {
    const st = new FakeStorage();
    let fw = new FirmwareDownload(st);
    expect(fw.chunk(0, img, 0, 10)).toBe(FW_REFUSED); // no BEGIN
    expect(fw.begin(0, mac, 0, 1, 3)).toBe(FW_BAD_REQUEST);
    expect(fw.begin(img.length, mac, 0, 1, 3)).toBe(FW_OK);
    expect(fw.chunk(0, img, 0, 600)).toBe(FW_OK);
    expect(fw.chunk(0, img, 0, 600)).toBe(FW_OK); // repeat
    expect(fw.chunk(1200, img, 1200, 600)).toBe(FW_BAD_REQUEST); // gap
    expect(fw.activate(ctx, source(3))).toBe(ACT_INCOMPLETE);
    fw = new FirmwareDownload(st); // reboot: the MAC and generation 3 come back from 'fws'
    expect(fw.begin(img.length, mac, 0, 1, 3)).toBe(FW_OK);
    expect(fw.received_).toBe(600);
    expect(fw.chunk(600, img, 600, 1400)).toBe(FW_OK);
    expect(fw.chunk(2000, img, 0, 1)).toBe(FW_BAD_REQUEST); // beyond the announced size
    expect(fw.activate(ctx, source(3))).toBe(ACT_OK);
  });
  it('discards a mismatching image and its chunk records', () => {
    const st = new FakeStorage();
    const fw = new FirmwareDownload(st);
    fw.begin(img.length, mac, 0, 1, 3);
    const bad = new Uint8Array(img);
    bad[5] ^= 1;
    fw.chunk(0, bad, 0, 1000);
    fw.chunk(1000, bad, 1000, 1000);
    expect(fw.activate(ctx, source(3))).toBe(ACT_REJECTED);
    expect(fw.active_).toBe(false);
    expect(fw.rejected).toBe(1);
    expect([...st.recs.keys()]).toEqual(['fws']);
  });
  it('refuses the MAC of another generation, and a download whose FIRMWARE key changed since BEGIN', () => {
    const st = new FakeStorage();
    const fw = new FirmwareDownload(st);
    // A MAC under KF[2] announced in a BEGIN under generation 3 (an intact image): rejected.
    fw.begin(img.length, new Uint8Array(refCmac(kf(2), img)), 0, 1, 3);
    fw.chunk(0, img, 0, 2000);
    expect(fw.activate(ctx, source(3))).toBe(ACT_REJECTED);
    // The right MAC, but the key went from generation 3 to 4 before ACTIVATE: rejected and discarded.
    expect(fw.begin(img.length, mac, 0, 1, 3)).toBe(FW_OK);
    fw.chunk(0, img, 0, 2000);
    expect(fw.activate(ctx, source(4))).toBe(ACT_REJECTED);
    expect([fw.active_, fw.received_, fw.rejected]).toEqual([false, 0, 2]);
    expect([...st.recs.keys()]).toEqual(['fws']);
    // A BEGIN for the same image under another generation is a new download, not a resume.
    expect(fw.begin(img.length, mac, 0, 1, 3)).toBe(FW_OK);
    fw.chunk(0, img, 0, 700);
    expect(fw.begin(img.length, mac, 0, 1, 4)).toBe(FW_OK);
    expect(fw.received_).toBe(0);
  });
});

describe('concentrator meter table', () => {
  it('refuses a JOIN when full, counts it, and takes the meter once a slot is free', async () => {
    const { Rig } = await import('./harness.ts');
    const rig = new Rig(1_800_000_000, { intervalS: 900 }, { maxMeters: 2 });
    expect(rig.conc.table.count()).toBe(1);
    rig.hes.join(new Uint8Array([1, 1, 1, 1, 1, 1, 1, 1]), new Uint8Array(16).fill(1), 0);
    rig.hes.join(new Uint8Array([2, 2, 2, 2, 2, 2, 2, 2]), new Uint8Array(16).fill(2), 0);
    rig.net.run();
    expect(rig.conc.table.count()).toBe(2);
    expect(rig.conc.stats.joinsRefused).toBe(1);
    rig.hes.leave(new Uint8Array([1, 1, 1, 1, 1, 1, 1, 1]));
    rig.hes.join(new Uint8Array([2, 2, 2, 2, 2, 2, 2, 2]), new Uint8Array(16).fill(2), 0);
    rig.net.run();
    expect(rig.conc.table.find(new Uint8Array([2, 2, 2, 2, 2, 2, 2, 2]), 0)).toBeGreaterThanOrEqual(0);
    expect(rig.conc.table.count()).toBe(2);
  });

  it('refuses a JOIN whose short address another meter holds (never ambiguous, PROTOCOL.md §7); the holder keeps working', async () => {
    const { Rig, METER_ADDR } = await import('./harness.ts');
    const rig = new Rig(1_800_000_000, { intervalS: 900 });
    const other = new Uint8Array([3, 3, 3, 3, 3, 3, 3, 3]);
    rig.hes.join(other, new Uint8Array(16).fill(3), 0, METER_ADDR); // the rig meter's address
    rig.net.run();
    expect(rig.conc.stats.joinsRefused).toBe(1);
    expect(rig.conc.table.find(other, 0)).toBe(-1);
    expect(rig.conc.table.findAddr(METER_ADDR)).toBe(rig.conc.table.find(rig.w.id.meter, 0));
    // A re-JOIN of the holder itself under its own address is no collision.
    rig.hes.join(rig.w.id.meter, rig.w.meterLk, 0, METER_ADDR);
    rig.hes.join(other, new Uint8Array(16).fill(3), 0, METER_ADDR + 1);
    rig.net.run();
    expect(rig.conc.stats.joinsRefused).toBe(1);
    expect(rig.conc.table.count()).toBe(2);
    rig.hes.autoAck = true;
    rig.advance(900);
    expect(rig.hes.e2eFailures).toEqual([]);
    expect(rig.hes.inbox.some((u) => u.op === 1)).toBe(true);
  });
});

describe('meter key and firmware-download records', () => {
  // The offsets in keystore.ts and fwupdate.ts are literal numbers (the bundle inlines only
  // literals): check them against the layouts of docs/FIRMWARE.md "Storage records".
  it('have the documented sizes, versions and field offsets', async () => {
    const { Rig } = await import('./harness.ts');
    const rig = new Rig(1_800_000_000, { intervalS: 900, reserve: 3 });
    rig.hes.autoAck = true;
    rig.advance(1800);
    rig.hes.command(3, [rig.hes.nextReq(), 0]); // RELAY open: an accepted downlink writes 'rx'
    rig.net.run();
    const newKey = new Uint8Array(16).map((_, i) => 0xc0 + i);
    rig.hes.transport(3, 5, newKey); // stage OK[RELAY] at generation 5
    rig.net.run();
    rig.hes.command(3, [rig.hes.nextReq(), 1], 0); // still under generation 0: 'rx' now names the staged one too
    rig.net.run();
    const recs = rig.meterStorage.recs;
    const keys = recs.get('keys')!;
    // v1, mkGen, MK(16), gen[9], own[9], OK[9×16], staged flag, scope, gen, key(16)
    expect([keys.length, keys[0]]).toEqual([199, 1]);
    expect([keys[180], keys[181], keys[182]]).toEqual([1, 3, 5]);
    expect(keys.subarray(183, 199)).toEqual(newKey);
    const ctr = recs.get('ctr')!;
    // v1, 12 × (gen, aux, limit u64): READING (index 1) has reserved values by now.
    expect([ctr.length, ctr[0]]).toEqual([121, 1]);
    expect(ctr[11 + 9]).toBeGreaterThan(0);
    const rx = recs.get('rx')!;
    // v1, 10 × (gen, last u32, stagedGen, stagedLast u32): RELAY (op 3) accepted counter 1 or more.
    expect([rx.length, rx[0]]).toEqual([101, 1]);
    expect((rx[32] << 24) | (rx[33] << 16) | (rx[34] << 8) | rx[35]).toBeGreaterThan(0);
    expect([rx[31], rx[36]]).toEqual([0, 5]); // RELAY's generation in force and staged generation

    const st = new FakeStorage();
    const fw = new FirmwareDownload(st);
    const mac = new Uint8Array(16).map((_, i) => i + 1);
    fw.begin(1000, mac, 0, 0x01020304, 7);
    fw.chunk(0, new Uint8Array(300), 0, 300);
    const fws = st.recs.get('fws')!;
    // v1, active, size u32, mac(16), gen, version u32, received u32, chunks u32
    expect([fws.length, fws[0], fws[1]]).toEqual([35, 1, 1]);
    expect(Array.from(fws.subarray(2, 6))).toEqual([0, 0, 0x03, 0xe8]);
    expect(fws.subarray(6, 22)).toEqual(mac);
    expect(fws[22]).toBe(7);
    expect(Array.from(fws.subarray(23, 27))).toEqual([1, 2, 3, 4]);
    expect(Array.from(fws.subarray(27, 31))).toEqual([0, 0, 0x01, 0x2c]);
    expect(Array.from(fws.subarray(31, 35))).toEqual([0, 0, 0, 1]);
  });
});
