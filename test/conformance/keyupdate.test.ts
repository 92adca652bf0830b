// Key update (PROTOCOL.md §8) end to end over real sealed frames between a simulated meter and
// HES: lost TRANSPORT / CONFIRM / ACTIVATE, repeated messages, power loss (reboots and failed
// persists) at every step. Invariant after every step: the HES can reach the meter and the meter
// the HES (with the old or the new key, never neither), and once messages flow the update completes.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as core from '@vakt/shared';

const ctx = core.createCryptoCtx();
const METER = new Uint8Array(Buffer.from('4d45544552303031', 'hex'));
const HES = new Uint8Array(Buffer.from('4845532d30303031', 'hex'));
const MK = new Uint8Array(Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'));
const { OP_KEY_UPDATE, OP_RELAY, OP_READING, DIR_UP, DIR_DOWN } = core;

/** One end: a ring persisted to "flash", send-counter limits and replay state also in flash. */
class End {
  flash: Uint8Array;
  ring: core.KeyRing;
  limits = new Map<string, number>(); // durable
  lasts = new Map<string, number>(); // durable replay state
  ctrs = new Map<string, core.SendCounter>(); // volatile
  failPersist = 0; // number of next ring persists that fail (power loss during the write)
  events: string[] = [];
  constructor(
    readonly meterSide: boolean,
    readonly self: Uint8Array,
    readonly peer: Uint8Array,
  ) {
    this.ring = core.createKeyRing(ctx, METER, MK, 0, 0);
    this.flash = new Uint8Array(core.RING_LEN);
    core.encodeKeyRing(this.ring, this.flash, 0);
  }
  persist = (r: core.KeyRing): boolean => {
    if (this.failPersist > 0) {
      this.failPersist--;
      return false;
    }
    const rec = new Uint8Array(core.RING_LEN);
    core.encodeKeyRing(r, rec, 0);
    this.flash = rec; // write-new-then-switch: the record is replaced whole
    return true;
  };
  reboot(): void {
    this.ring = core.createKeyRing(ctx, METER, new Uint8Array(16), 0, 0);
    expect(core.decodeKeyRing(this.flash, 0, this.flash.length, this.ring)).toBe(0);
    this.ctrs.clear();
  }
  seal(op: number, dir: number, gen: number, body: Uint8Array, kc: boolean): Uint8Array {
    const slot = core.createKeySlot(core.E2E_VERSION, op, dir, gen, this.self, this.peer);
    expect(kc ? core.loadRingKcSlot(ctx, this.ring, slot) : core.loadRingSlot(ctx, this.ring, slot)).toBe(0);
    const k = (kc ? 'kc' : 'k') + '/' + op + '/' + dir + '/' + gen;
    let c = this.ctrs.get(k);
    if (c === undefined) {
      c = core.createSendCounter(this.limits.get(k) ?? 0, 4, (l) => {
        this.limits.set(k, l);
        return true;
      });
      this.ctrs.set(k, c);
    }
    slot.ctr = c;
    const out = new Uint8Array(core.MAX_E2E_FRAME);
    const n = core.sealFrame(ctx, slot, op, body, 0, body.length, out, 0);
    expect(n).toBeGreaterThan(0);
    return out.slice(0, n);
  }
  /** Opens a frame with the key the ring says; returns the body or a negative error. */
  open(frame: Uint8Array): { err: number; hdr: core.FrameHeader; body: Uint8Array } {
    const hdr = core.createHeader();
    const body = new Uint8Array(core.MAX_BODY);
    let err = core.parseHeader(frame, 0, frame.length, hdr);
    if (err < 0) return { err, hdr, body };
    // An e2e frame carries no direction: it is the receiver's (a meter receives DOWN, the HES UP).
    const dir = this.meterSide ? DIR_DOWN : DIR_UP;
    const slot = core.createKeySlot(core.E2E_VERSION, hdr.op, dir, hdr.gen, this.self, this.peer);
    const kcFrame = !this.meterSide && hdr.op === OP_KEY_UPDATE;
    const k = (kcFrame ? 'kc' : 'k') + '/' + hdr.op + '/' + dir + '/' + hdr.gen;
    if (kcFrame) err = core.loadRingKcSlot(ctx, this.ring, slot);
    else if (!core.acceptsGen(this.ring, hdr.op, hdr.gen, this.meterSide)) err = core.ERR_GENERATION;
    else err = core.loadRingSlot(ctx, this.ring, slot);
    if (err < 0) return { err, hdr, body };
    slot.last = this.lasts.get(k) ?? 0;
    const n = core.openFrame(ctx, hdr, slot, frame, 0, body, 0);
    if (n < 0) return { err: n, hdr, body };
    this.lasts.set(k, slot.last);
    return { err: 0, hdr, body: body.slice(0, n) };
  }
}

const kuBody = (kind: number, scope: number, gen: number, key: Uint8Array | null): Uint8Array => {
  const out = new Uint8Array(64);
  const n = core.writeKeyUpdate(out, 0, 7, kind, scope, gen, key, 0);
  expect(n).toBeGreaterThan(0);
  return out.slice(0, n);
};

const ackBody = (req: number, op: number, upTo: number): Uint8Array => {
  const out = new Uint8Array(32);
  let p = core.writeArrayHead(out, 0, 3);
  p = core.writeUint(out, p, req);
  p = core.writeUint(out, p, op);
  p = core.writeUint(out, p, upTo);
  return out.slice(0, p);
};

class World {
  meter = new End(true, METER, HES);
  hes = new End(false, HES, METER);
  down: Uint8Array[] = [];
  up: Uint8Array[] = [];
  msg = core.createKeyUpdateMsg();
  constructor(
    readonly scope: number,
    readonly newGen: number,
    readonly newKey: Uint8Array,
  ) {}
  start(): number {
    const r = core.hesBeginUpdate(this.hes.ring, this.scope, this.newGen, this.newKey, 0, this.hes.persist);
    if (r === core.KU_CHANGED) this.poll();
    return r;
  }
  /** The HES's periodic retry: TRANSPORT while unconfirmed, ACTIVATE while confirmed. */
  poll(): void {
    const r = this.hes.ring;
    const g = core.sendGen(r, OP_KEY_UPDATE);
    if (r.xState === core.KX_STAGED)
      this.down.push(this.hes.seal(OP_KEY_UPDATE, DIR_DOWN, g, kuBody(core.KU_TRANSPORT, r.xScope, r.xGen, r.xKey), false));
    else if (r.xState === core.KX_CONFIRMED)
      this.down.push(this.hes.seal(OP_KEY_UPDATE, DIR_DOWN, g, kuBody(core.KU_ACTIVATE, r.xScope, r.xGen, null), false));
  }
  meterReceive(frame: Uint8Array): number {
    const m = this.meter;
    const o = m.open(frame);
    if (o.err < 0) return o.err;
    const a = core.meterOnAuthentic(ctx, m.ring, o.hdr.op, o.hdr.gen, m.persist);
    if (a < 0) return a;
    if (o.hdr.op !== OP_KEY_UPDATE) return 0;
    expect(core.parseKeyUpdate(o.body, 0, o.body.length, this.msg)).toBe(0);
    const msg = this.msg;
    if (msg.kind === core.KU_TRANSPORT) {
      const r = core.meterOnTransport(m.ring, msg.scope, msg.gen, o.body, msg.keyOff, m.persist);
      if (r === core.KU_CHANGED || r === core.KU_REPEAT) {
        this.up.push(m.seal(OP_KEY_UPDATE, DIR_UP, msg.gen, kuBody(core.KU_CONFIRM, msg.scope, msg.gen, null), true));
      }
      return r;
    }
    if (msg.kind === core.KU_ACTIVATE) {
      const r = core.meterOnActivate(ctx, m.ring, msg.scope, msg.gen, m.persist);
      // Acknowledge every ACTIVATE that names the generation now in force: [req, OP_KEY_UPDATE, newGen].
      if (r >= 0)
        this.up.push(m.seal(core.OP_ACK, DIR_UP, core.sendGen(m.ring, core.OP_ACK), ackBody(msg.req, OP_KEY_UPDATE, msg.gen), false));
      return r;
    }
    return core.ERR_KEY_STATE;
  }
  hesReceive(frame: Uint8Array): number {
    const h = this.hes;
    const o = h.open(frame);
    if (o.err < 0) return o.err;
    if (o.hdr.op === OP_KEY_UPDATE) {
      expect(core.parseKeyUpdate(o.body, 0, o.body.length, this.msg)).toBe(0);
      if (this.msg.kind !== core.KU_CONFIRM) return core.ERR_KEY_STATE;
      const r = core.hesOnConfirm(ctx, h.ring, this.msg.scope, this.msg.gen, h.persist);
      if (r === core.KU_CHANGED) this.poll(); // ACTIVATE
      return r;
    }
    if (o.hdr.op === core.OP_ACK) {
      const rd = core.createCborReader();
      core.cborReaderInit(rd, o.body, 0, o.body.length);
      core.readArrayHead(rd);
      core.readUint(rd);
      if (core.readUint(rd) === OP_KEY_UPDATE) return core.hesOnActivated(h.ring, core.readUint(rd), h.persist);
    }
    return core.hesOnUplink(h.ring, o.hdr.op, o.hdr.gen, h.persist);
  }
  deliverDown(drop: boolean): void {
    const f = this.down.shift();
    if (f !== undefined && !drop) this.meterReceive(f);
  }
  deliverUp(drop: boolean): void {
    const f = this.up.shift();
    if (f !== undefined && !drop) this.hesReceive(f);
  }
  /** Both directions work right now, with whatever keys each side holds: a RELAY down and a READING up open. */
  assertReachable(): void {
    const d = this.hes.seal(OP_RELAY, DIR_DOWN, core.sendGen(this.hes.ring, OP_RELAY), new Uint8Array([0x82, 1, 1]), false);
    expect(this.meter.open(d).err).toBe(0);
    const u = this.meter.seal(OP_READING, DIR_UP, core.sendGen(this.meter.ring, OP_READING), new Uint8Array([0x81, 0]), false);
    expect(this.hes.open(u).err).toBe(0);
    // Also the op in scope upward (its generation is what changes).
    const u2 = this.meter.seal(OP_RELAY, DIR_UP, core.sendGen(this.meter.ring, OP_RELAY), new Uint8Array([0x81, 0]), false);
    expect(this.hes.open(u2).err).toBe(0);
  }
  /** Reliable delivery until quiet, with HES retries and one ordinary downlink + uplink each round. */
  heal(): void {
    for (let round = 0; round < 6; round++) {
      this.poll();
      while (this.down.length || this.up.length) {
        this.deliverDown(false);
        this.deliverUp(false);
      }
      // Ordinary traffic: the HES sends under its key in force; the meter answers under its own.
      this.meterReceive(this.hes.seal(OP_RELAY, DIR_DOWN, core.sendGen(this.hes.ring, OP_RELAY), new Uint8Array([0x82, 1, 1]), false));
      this.hesReceive(this.meter.seal(OP_RELAY, DIR_UP, core.sendGen(this.meter.ring, OP_RELAY), new Uint8Array([0x81, 0]), false));
      this.down.length = 0;
      this.up.length = 0;
    }
  }
  assertDone(): void {
    for (const e of [this.meter, this.hes]) {
      expect(e.ring.xState).toBe(core.KX_NONE);
      for (let op = 1; op <= core.OP_MAX; op++) {
        const inScope = this.scope === 0 || this.scope === op;
        expect(e.ring.gens[op]).toBe(inScope ? this.newGen : 0);
      }
    }
    expect(Buffer.from(this.meter.ring.roots).equals(Buffer.from(this.hes.ring.roots))).toBe(true);
  }
}

const NEWKEY = new Uint8Array(Buffer.from('303132333435363738393a3b3c3d3e3f', 'hex'));

describe('key update, meter and HES state', () => {
  for (const scope of [OP_RELAY, OP_KEY_UPDATE, 0]) {
    it('scope ' + scope + ': clean run TRANSPORT -> CONFIRM -> ACTIVATE switches both sides to gen 1', () => {
      const w = new World(scope, 1, NEWKEY);
      expect(w.start()).toBe(core.KU_CHANGED);
      w.assertReachable();
      expect(w.meterReceive(w.down.shift()!)).toBe(core.KU_CHANGED); // staged
      expect(w.meter.ring.xState).toBe(core.KX_STAGED);
      w.assertReachable();
      expect(w.hesReceive(w.up.shift()!)).toBe(core.KU_CHANGED); // confirmed
      expect(w.hes.ring.xState).toBe(core.KX_CONFIRMED);
      w.assertReachable();
      expect(w.meterReceive(w.down.shift()!)).toBeGreaterThanOrEqual(0); // ACTIVATE
      expect(w.meter.ring.xState).toBe(core.KX_NONE);
      expect(w.meter.ring.gens[scope === 0 ? 1 : scope]).toBe(1);
      w.assertReachable();
      expect(w.hesReceive(w.up.shift()!)).toBe(core.KU_CHANGED); // the ACK of ACTIVATE retires the previous generation
      expect(w.hes.ring.xState).toBe(core.KX_NONE);
      w.heal();
      w.assertDone();
    });
  }

  it('KC confirms possession: CONFIRM under KC[scope, gen], header gen = new generation', () => {
    const w = new World(OP_RELAY, 1, NEWKEY);
    w.start();
    w.meterReceive(w.down.shift()!);
    const c = w.up[0];
    const hdr = core.createHeader();
    expect(core.parseHeader(c, 0, c.length, hdr)).toBe(0);
    expect([hdr.op, hdr.gen]).toEqual([OP_KEY_UPDATE, 1]); // (no direction on the e2e wire)
    // Under the KU uplink key (not KC) it does not verify.
    const slot = core.createKeySlot(core.E2E_VERSION, OP_KEY_UPDATE, DIR_UP, 1, HES, METER);
    core.loadE2eKeyFromMaster(ctx, slot, MK, 0, METER);
    expect(core.openFrame(ctx, hdr, slot, c, 0, new Uint8Array(64), 0)).toBe(core.ERR_TAG);
  });

  it('lost TRANSPORT: nothing changes; the retry stages', () => {
    const w = new World(OP_RELAY, 1, NEWKEY);
    w.start();
    w.deliverDown(true);
    expect(w.meter.ring.xState).toBe(core.KX_NONE);
    w.assertReachable();
    w.heal();
    w.assertDone();
  });

  it('lost CONFIRM: the repeated TRANSPORT is answered with a new CONFIRM (new counter), then completes', () => {
    const w = new World(OP_RELAY, 1, NEWKEY);
    w.start();
    w.deliverDown(false);
    const first = w.up[0];
    w.deliverUp(true);
    w.assertReachable();
    w.poll();
    expect(w.meterReceive(w.down.shift()!)).toBe(core.KU_REPEAT);
    const second = w.up[0];
    expect(Buffer.from(second).equals(Buffer.from(first))).toBe(false);
    expect(w.hesReceive(w.up.shift()!)).toBe(core.KU_CHANGED);
    w.heal();
    w.assertDone();
  });

  it('lost ACTIVATE: the meter stays staged and reachable; any authentic downlink under the new generation activates', () => {
    const w = new World(OP_RELAY, 1, NEWKEY);
    w.start();
    w.deliverDown(false);
    w.deliverUp(false);
    w.deliverDown(true); // ACTIVATE lost
    expect(w.meter.ring.xState).toBe(core.KX_STAGED);
    w.assertReachable();
    // The HES's next RELAY command is under gen 1: its authentic arrival activates the meter.
    expect(w.meterReceive(w.hes.seal(OP_RELAY, DIR_DOWN, 1, new Uint8Array([0x82, 1, 1]), false))).toBe(0);
    expect(w.meter.ring.xState).toBe(core.KX_NONE);
    // The meter's first RELAY result under gen 1 retires gen 0 at the HES.
    expect(w.hesReceive(w.meter.seal(OP_RELAY, DIR_UP, 1, new Uint8Array([0x81, 0]), false))).toBe(core.KU_CHANGED);
    expect(w.hes.ring.xState).toBe(core.KX_NONE);
    expect(w.meter.ring.gens[OP_RELAY]).toBe(1);
    w.heal();
    w.assertDone();
  });

  it('a different key for the staged generation is refused; a downgrade TRANSPORT is refused', () => {
    const w = new World(OP_RELAY, 2, NEWKEY);
    w.start();
    w.deliverDown(false);
    const other = new Uint8Array(16).fill(0x55);
    expect(core.meterOnTransport(w.meter.ring, OP_RELAY, 2, other, 0, w.meter.persist)).toBe(core.ERR_KEY_STATE);
    expect(core.meterOnTransport(w.meter.ring, OP_RELAY, 1, other, 0, w.meter.persist)).toBe(core.ERR_KEY_STATE);
    w.heal();
    w.assertDone();
    expect(core.meterOnTransport(w.meter.ring, OP_RELAY, 2, other, 0, w.meter.persist)).toBe(core.ERR_GENERATION);
    expect(core.meterOnTransport(w.meter.ring, OP_RELAY, 1, other, 0, w.meter.persist)).toBe(core.ERR_GENERATION);
    expect(core.meterOnTransport(w.meter.ring, 0, 2, other, 0, w.meter.persist)).toBe(core.ERR_GENERATION);
    expect(core.hesBeginUpdate(w.hes.ring, OP_RELAY, 2, other, 0, w.hes.persist)).toBe(core.ERR_GENERATION);
    expect(core.meterOnTransport(w.meter.ring, 12, 9, other, 0, w.meter.persist)).toBe(core.ERR_KEY_STATE);
  });

  it('after the update a frame under the old generation is refused (ERR_GENERATION), even with a valid tag', () => {
    const w = new World(OP_RELAY, 1, NEWKEY);
    const oldHes = new End(false, HES, METER); // keeps generation 0 keys
    w.start();
    w.heal();
    w.assertDone();
    const f = oldHes.seal(OP_RELAY, DIR_DOWN, 0, new Uint8Array([0x82, 1, 0]), false);
    expect(w.meter.open(f).err).toBe(core.ERR_GENERATION);
  });

  it('a failed persist changes nothing on either side', () => {
    const w = new World(0, 1, NEWKEY);
    w.hes.failPersist = 1;
    const before = Buffer.from(w.hes.flash);
    expect(w.start()).toBe(core.ERR_STORAGE);
    expect(w.hes.ring.xState).toBe(core.KX_NONE);
    const enc = new Uint8Array(core.RING_LEN);
    core.encodeKeyRing(w.hes.ring, enc, 0);
    expect(Buffer.from(enc).equals(before)).toBe(true);
    expect(w.start()).toBe(core.KU_CHANGED);
    w.meter.failPersist = 1;
    expect(w.meterReceive(w.down.shift()!)).toBe(core.ERR_STORAGE);
    expect(w.meter.ring.xState).toBe(core.KX_NONE);
    expect(w.up.length).toBe(0); // no CONFIRM for a key that is not stored
    w.heal();
    w.assertDone();
  });

  it('decodeKeyRing refuses malformed records and leaves the ring untouched', () => {
    const r = core.createKeyRing(ctx, METER, MK, 0, 0);
    const rec = new Uint8Array(core.RING_LEN);
    core.encodeKeyRing(r, rec, 0);
    const target = core.createKeyRing(ctx, METER, new Uint8Array(16), 0, 3);
    const snap = new Uint8Array(core.RING_LEN);
    core.encodeKeyRing(target, snap, 0);
    expect(core.decodeKeyRing(rec, 0, rec.length - 1, target)).toBe(core.ERR_BUFFER);
    const bad = rec.slice();
    bad[0] = 9;
    expect(core.decodeKeyRing(bad, 0, bad.length, target)).toBe(core.ERR_KEY_STATE);
    const after = new Uint8Array(core.RING_LEN);
    core.encodeKeyRing(target, after, 0);
    expect(Buffer.from(after).equals(Buffer.from(snap))).toBe(true);
  });

  it('parseKeyUpdate accepts exactly the three shapes', () => {
    const m = core.createKeyUpdateMsg();
    const t = kuBody(core.KU_TRANSPORT, 3, 1, NEWKEY);
    expect(core.parseKeyUpdate(t, 0, t.length, m)).toBe(0);
    expect([m.req, m.kind, m.scope, m.gen]).toEqual([7, 1, 3, 1]);
    expect(Buffer.from(t.subarray(m.keyOff, m.keyOff + 16)).equals(Buffer.from(NEWKEY))).toBe(true);
    for (let n = 0; n < t.length; n++) expect(core.parseKeyUpdate(t, 0, n, m)).toBeLessThan(0);
    const c = kuBody(core.KU_CONFIRM, 3, 1, null);
    expect(core.parseKeyUpdate(c, 0, c.length, m)).toBe(0);
    const bad = c.slice();
    bad[2] = 9; // kind 9
    expect(core.parseKeyUpdate(bad, 0, bad.length, m)).toBe(core.ERR_CBOR);
  });

  // Power loss between each step of the clean sequence (and a failed write inside the next step),
  // on the meter, on the HES, or both: reachable right after the reboot, and the update completes.
  for (const scope of [OP_RELAY, OP_KEY_UPDATE, 0]) {
    it('scope ' + scope + ': power loss between every step, on either or both sides', () => {
      const sequence = ['start', 'down', 'up', 'down', 'up'] as const;
      for (let cut = 0; cut <= sequence.length; cut++) {
        for (const who of ['meter', 'hes', 'both', 'failMeter', 'failHes'] as const) {
          const w = new World(scope, 1, NEWKEY);
          for (let i = 0; i < sequence.length; i++) {
            if (i === cut) {
              if (who === 'meter' || who === 'both') {
                w.meter.reboot();
                w.down.length = 0;
              }
              if (who === 'hes' || who === 'both') {
                w.hes.reboot();
                w.up.length = 0;
              }
              if (who === 'failMeter') w.meter.failPersist = 1;
              if (who === 'failHes') w.hes.failPersist = 1;
              const fm = w.meter.failPersist;
              const fh = w.hes.failPersist;
              w.meter.failPersist = 0;
              w.hes.failPersist = 0;
              w.assertReachable();
              w.meter.failPersist = fm;
              w.hes.failPersist = fh;
            }
            const st = sequence[i];
            if (st === 'start') w.start();
            else if (st === 'down') w.deliverDown(false);
            else w.deliverUp(false);
            const fm = w.meter.failPersist;
            const fh = w.hes.failPersist;
            w.meter.failPersist = 0;
            w.hes.failPersist = 0;
            w.assertReachable();
            w.meter.failPersist = fm;
            w.hes.failPersist = fh;
          }
          w.meter.failPersist = 0;
          w.hes.failPersist = 0;
          if (w.hes.ring.xState === core.KX_NONE && w.hes.ring.gens[scope === 0 ? 1 : scope] === 0) w.start();
          w.heal();
          w.assertDone();
        }
      }
    });
  }

  // Power loss and loss of any message at every step: random schedules, then healing.
  it('random schedules of loss, duplication, reboots and failed persists: always reachable, always completes', () => {
    type Step = 'down' | 'dropDown' | 'dupDown' | 'up' | 'dropUp' | 'poll' | 'rebootMeter' | 'rebootHes' | 'failMeter' | 'failHes';
    const steps: Step[] = ['down', 'dropDown', 'dupDown', 'up', 'dropUp', 'poll', 'rebootMeter', 'rebootHes', 'failMeter', 'failHes'];
    fc.assert(
      fc.property(fc.constantFrom(OP_RELAY, OP_KEY_UPDATE, 0), fc.array(fc.constantFrom(...steps), { maxLength: 25 }), (scope, script) => {
        const w = new World(scope, 1, NEWKEY);
        w.start();
        for (const s of script) {
          if (s === 'down') w.deliverDown(false);
          else if (s === 'dropDown') w.deliverDown(true);
          else if (s === 'dupDown') {
            if (w.down.length) w.down.unshift(w.down[0]);
            w.deliverDown(false);
          } else if (s === 'up') w.deliverUp(false);
          else if (s === 'dropUp') w.deliverUp(true);
          else if (s === 'poll') w.poll();
          else if (s === 'rebootMeter') {
            w.meter.reboot();
            w.down.length = 0; // a rebooting meter misses what was in flight
          } else if (s === 'rebootHes') w.hes.reboot();
          else if (s === 'failMeter') w.meter.failPersist = 1;
          else w.hes.failPersist = 1;
          // Never neither: both ends, as they are now (and after a reboot from flash), reach each other.
          const fm = w.meter.failPersist;
          const fh = w.hes.failPersist;
          w.meter.failPersist = 0;
          w.hes.failPersist = 0;
          w.assertReachable();
          w.meter.failPersist = fm;
          w.hes.failPersist = fh;
        }
        if (w.hes.ring.xState === core.KX_NONE && w.hes.ring.gens[scope === 0 ? 1 : scope] === 0) w.start(); // begin failed: retry
        w.meter.failPersist = 0;
        w.hes.failPersist = 0;
        w.heal();
        w.assertDone();
      }),
      { numRuns: 100 },
    );
  });
});
