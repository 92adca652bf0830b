// Property tests (fast-check): hostile input never throws and never opens. parseHeader, openFrame,
// parseKeyUpdate and decodeKeyRing are total on arbitrary input; mutated or spliced valid frames
// are refused without touching replay state; honest frames always round-trip.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as core from '@vakt/shared';
import { ctx, ID_A, ID_C, ID_H, lasts, makeWorld, receive, seal } from './frames-fixture.ts';
import { hdrOf } from './frames-hdrs.ts';

const E2E = core.E2E_VERSION;
const LINK = core.LINK_VERSION;
const BH = core.BACKHAUL_VERSION;
const RUNS = { numRuns: 400 };
// fast-check's default size caps generated arrays at about 10 elements whatever maxLength says, so
// half the draws use size 'max' (lengths spread over the whole range): bodies spanning many CCM
// blocks and lengths near MAX_BODY get tested, and short inputs stay well covered.
const bytes = (max: number) =>
  fc.oneof(fc.uint8Array({ minLength: 0, maxLength: max }), fc.uint8Array({ minLength: 0, maxLength: max, size: 'max' }));
const anyIndex = fc.oneof(fc.integer({ min: -5, max: 1200 }), fc.constantFrom(NaN, Infinity, -Infinity, 0.5, 2 ** 31, -(2 ** 31), 2 ** 53));

/** A pool of valid frames (every op and link type the fixture can send), and the device each is addressed to. */
function pool() {
  const w = makeWorld();
  const list: { f: Uint8Array; rx: typeof w.A }[] = [];
  const body = (n: number) => new Uint8Array(n).map((_, i) => (i * 29 + 3) & 255);
  for (let op = 1; op <= core.OP_MAX; op++) {
    if (core.policyAllows(E2E, op, core.DIR_UP)) list.push({ f: seal(w.A, E2E, op, ID_H, body(op * 3)), rx: w.H });
    if (core.policyAllows(E2E, op, core.DIR_DOWN)) list.push({ f: seal(w.H, E2E, op, ID_A, body(op * 5)), rx: w.A });
  }
  for (let t = 1; t <= core.LINK_MAX; t++) {
    if (core.policyAllows(LINK, t, core.DIR_UP)) list.push({ f: seal(w.A, LINK, t, ID_C, body(t * 7)), rx: w.C });
    if (core.policyAllows(LINK, t, core.DIR_DOWN)) list.push({ f: seal(w.C, LINK, t, ID_A, body(t * 9)), rx: w.A });
    if (core.policyAllows(BH, t, core.DIR_UP)) list.push({ f: seal(w.C, BH, t, ID_H, body(t * 13)), rx: w.H });
    if (core.policyAllows(BH, t, core.DIR_DOWN)) list.push({ f: seal(w.H, BH, t, ID_C, body(t * 11)), rx: w.C });
  }
  return { w, list };
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.from(a).equals(Buffer.from(b));

describe('totality on arbitrary input', () => {
  it('parseHeader never throws, and on error leaves the header untouched', () => {
    const hdr = core.createHeader();
    fc.assert(
      fc.property(bytes(1200), anyIndex, anyIndex, (buf, off, len) => {
        hdr.counter = 0xdead;
        hdr.frameLen = -1;
        const r = core.parseHeader(buf, off, len, hdr);
        expect(typeof r).toBe('number');
        if (r < 0) {
          expect(hdr.counter).toBe(0xdead);
          expect(hdr.frameLen).toBe(-1);
        } else {
          expect(r).toBe(0);
          expect(hdr.frameLen).toBe(len);
          expect(len).toBe(hdr.hdrLen + hdr.bodyLen + hdr.tagLen);
          expect(core.policyOf(hdr.version, hdr.op)).not.toBe(0);
          if (hdr.version !== E2E) expect(core.policyAllows(hdr.version, hdr.op, hdr.dir)).toBe(true); // e2e: the receiver's direction
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('e2e and radio frames: parse exactly when at least header + tag long (no length field, §3)', () => {
    const hdr = core.createHeader();
    fc.assert(
      fc.property(fc.constantFrom(0x20, 0x30, 0x40, 0x50, 0x60, 0x70), fc.integer({ min: 0, max: 15 }), bytes(1100), (mark, op, rest) => {
        const f = new Uint8Array(1 + rest.length);
        f.set(rest, 1);
        f[0] = mark | op;
        const r = core.parseHeader(f, 0, f.length, hdr);
        const layer = mark < 0x40 ? E2E : LINK;
        const p = core.policyOf(layer, op);
        if (p === 0)
          expect([core.ERR_OP, core.ERR_LENGTH]).toContain(r); // shorter than the header: ERR_LENGTH first
        else if (r === 0) expect(f.length).toBe(hdr.hdrLen + hdr.bodyLen + (p & core.POLICY_TAG_MASK));
        else expect([core.ERR_LENGTH, core.ERR_POLICY]).toContain(r);
      }),
      RUNS,
    );
  });

  it('backhaul frames with a plausible header and random rest: only exact lengths parse', () => {
    const hdr = core.createHeader();
    fc.assert(
      fc.property(
        fc.constantFrom(BH),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 10 }),
        bytes(1100),
        (v, flags, op, rest) => {
          const f = new Uint8Array(core.HEADER_LEN + rest.length);
          f.set(rest, core.HEADER_LEN);
          f[0] = v;
          f[1] = flags;
          f[2] = op;
          const n = rest.length > 1 ? ((rest[0] << 8) | rest[1]) % 1100 : 0;
          f[24] = n >> 8;
          f[25] = n & 255;
          const r = core.parseHeader(f, 0, f.length, hdr);
          if (r === 0) expect(f.length).toBe(core.HEADER_LEN + n + core.policyTagLen(v, op));
        },
      ),
      RUNS,
    );
  });

  it('random bytes never open at any device, and touch no replay state', () => {
    const { w } = pool();
    const devs = [w.A, w.B, w.C, w.H];
    const before = devs.map(lasts);
    const out = new Uint8Array(core.MAX_BODY);
    fc.assert(
      fc.property(bytes(1100), fc.integer({ min: 0, max: 3 }), (buf, d) => {
        expect(receive(devs[d], buf, out)).toBeLessThan(0);
      }),
      RUNS,
    );
    // Random bytes behind a header that passes every structural check: they reach the tag check and fail there.
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 60 }), bytes(80), fc.integer({ min: 0, max: 0xffffffff }), (n, junk, ctr) => {
        const f = seal(w.H, E2E, core.OP_RELAY, ID_A, new Uint8Array(n));
        const hl = hdrOf(f).hdrLen;
        const m = f.slice();
        m.set(junk.subarray(0, Math.min(junk.length, f.length - hl)), hl);
        // Any counter on the wire (its low 16 bits, or all 32).
        if (hl === core.E2E_HDR_FULL) new DataView(m.buffer).setUint32(2, ctr);
        else new DataView(m.buffer).setUint16(2, ctr & 0xffff);
        if (same(m, f)) return;
        out.fill(0x77);
        const r = receive(w.A, m, out);
        expect([core.ERR_TAG, core.ERR_REPLAY]).toContain(r);
        for (let i = 0; i < n; i++) expect(out[i]).toBe(0);
      }),
      RUNS,
    );
    expect(devs.map(lasts)).toEqual(before);
  });

  it('openFrame never throws on bad offsets, lengths, stale headers or short outputs', () => {
    const { list } = pool();
    const hdr = core.createHeader();
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: list.length - 1 }),
        fc.integer({ min: 0, max: list.length - 1 }),
        anyIndex,
        anyIndex,
        fc.integer({ min: 0, max: 64 }),
        (i, j, off, outOff, outLen) => {
          const a = list[i].f;
          const b = list[j].f;
          expect(core.parseHeader(a, 0, a.length, hdr)).toBe(0);
          const slot = list[j].rx.rx[0];
          const last = slot.last;
          const r = core.openFrame(ctx, hdr, slot, b, off, new Uint8Array(outLen), outOff);
          expect(typeof r).toBe('number');
          if (r >= 0) {
            // Only possible when b is a frame for that slot, parsed at a valid offset: it must then be a fresh authentic frame.
            expect(slot.last).toBeGreaterThan(last);
          }
        },
      ),
      RUNS,
    );
  });

  it('parseKeyUpdate and decodeKeyRing are total', () => {
    const m = core.createKeyUpdateMsg();
    const ring = core.createKeyRing(ctx, ID_A, new Uint8Array(16), 0, 0);
    fc.assert(
      fc.property(bytes(400), anyIndex, anyIndex, (buf, off, len) => {
        const r = core.parseKeyUpdate(buf, off, len, m);
        expect(typeof r).toBe('number');
        if (r === 0) expect([1, 2, 3]).toContain(m.kind);
        expect(typeof core.decodeKeyRing(buf, off, len, ring)).toBe('number');
      }),
      RUNS,
    );
  });
});

describe('mutated valid frames never open', () => {
  type Mut =
    | { kind: 'set'; at: number; v: number }
    | { kind: 'flip'; at: number; mask: number }
    | { kind: 'del'; at: number; n: number }
    | { kind: 'ins'; at: number; b: Uint8Array }
    | { kind: 'splice'; from: number; at: number; src: number; n: number };
  const mut: fc.Arbitrary<Mut> = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(1200), v: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(1200), mask: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('del' as const), at: fc.nat(1200), n: fc.integer({ min: 1, max: 40 }) }),
    fc.record({ kind: fc.constant('ins' as const), at: fc.nat(1200), b: fc.uint8Array({ minLength: 1, maxLength: 40, size: 'max' }) }),
    fc.record({
      kind: fc.constant('splice' as const),
      from: fc.nat(100),
      at: fc.nat(1200),
      src: fc.nat(1200),
      n: fc.integer({ min: 1, max: 64 }),
    }),
  );
  function apply(f: Uint8Array, m: Mut, others: Uint8Array[]): Uint8Array {
    const a = Array.from(f);
    if (m.kind === 'set') a[m.at % a.length] = m.v;
    else if (m.kind === 'flip') a[m.at % a.length] ^= m.mask;
    else if (m.kind === 'del') a.splice(m.at % a.length, m.n);
    else if (m.kind === 'ins') a.splice(m.at % (a.length + 1), 0, ...m.b);
    else {
      const o = others[m.from % others.length];
      const s = m.src % o.length;
      const seg = Array.from(o.subarray(s, s + m.n));
      a.splice(m.at % (a.length + 1), seg.length, ...seg);
    }
    return new Uint8Array(a);
  }

  it('random mutations and splices of every kind of frame are refused; the original then still opens', () => {
    fc.assert(
      fc.property(fc.nat(1000), fc.array(mut, { minLength: 1, maxLength: 4 }), (pick, muts) => {
        const { list } = pool();
        const { f, rx } = list[pick % list.length];
        let m = f;
        for (const x of muts)
          m = apply(
            m,
            x,
            list.map((e) => e.f),
          );
        if (list.some((e) => same(e.f, m))) return; // a mutation that recreated a valid frame is no forgery
        const before = lasts(rx);
        const out = new Uint8Array(core.MAX_BODY);
        expect(receive(rx, m, out)).toBeLessThan(0);
        expect(lasts(rx)).toEqual(before);
        expect(receive(rx, f, out)).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: 300 },
    );
  });

  it('honest frames always round-trip (any op, direction, body up to MAX_BODY), in place too', () => {
    const w = makeWorld();
    const ops = [] as [typeof w.A, number, number, Uint8Array, typeof w.A][];
    for (let op = 1; op <= core.OP_MAX; op++) {
      if (core.policyAllows(E2E, op, core.DIR_UP)) ops.push([w.A, E2E, op, ID_H, w.H]);
      if (core.policyAllows(E2E, op, core.DIR_DOWN)) ops.push([w.H, E2E, op, ID_A, w.A]);
    }
    for (let t = 1; t <= core.LINK_MAX; t++) if (core.policyAllows(BH, t, core.DIR_DOWN)) ops.push([w.H, BH, t, ID_C, w.C]);
    for (let t = 1; t <= core.LINK_MAX; t++) if (core.policyAllows(LINK, t, core.DIR_DOWN)) ops.push([w.C, LINK, t, ID_A, w.A]);
    let multiBlock = 0;
    let nearMax = 0;
    fc.assert(
      fc.property(fc.nat(100), bytes(core.MAX_BODY), fc.boolean(), (k, body, inPlace) => {
        const [tx, layer, op, peer, rx] = ops[k % ops.length];
        if (body.length > 4 * 16) multiBlock++;
        if (body.length > (3 * core.MAX_BODY) / 4) nearMax++;
        const f = seal(tx, layer, op, peer, body);
        const hl = hdrOf(f).hdrLen;
        expect(f.length).toBe(hl + body.length + core.policyTagLen(layer, op));
        if (inPlace) {
          const hdr = core.createHeader();
          expect(core.parseHeader(f, 0, f.length, hdr)).toBe(0);
          const i = core.findSlot(rx.rx, rx.rx.length, hdr);
          expect(i).toBeGreaterThanOrEqual(0);
          expect(core.openFrame(ctx, hdr, rx.rx[i], f, 0, f, hl)).toBe(body.length);
          expect(same(f.subarray(hl, hl + body.length), body)).toBe(true);
        } else {
          const out = new Uint8Array(core.MAX_BODY);
          expect(receive(rx, f, out)).toBe(body.length);
          expect(same(out.subarray(0, body.length), body)).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
    // The generator really produced bodies spanning several CCM blocks and bodies near MAX_BODY.
    expect(multiBlock).toBeGreaterThan(40);
    expect(nearMax).toBeGreaterThan(5);
  });
});

describe('sealFrame buffer overlap', () => {
  it('a body anywhere inside the output buffer seals to the same bytes as from a separate buffer', () => {
    const w = makeWorld();
    const slot = w.H.tx.find((s) => s.layer === E2E && s.op === core.OP_RELAY)!;
    const mic = w.H.tx.find((s) => s.layer === E2E && s.op === core.OP_CLOCK)!;
    const body = new Uint8Array(40).map((_, i) => i * 3 + 1);
    for (const [s, op] of [
      [slot, core.OP_RELAY],
      [mic, core.OP_CLOCK],
    ] as const) {
      for (let bodyOff = 0; bodyOff <= 120; bodyOff++) {
        const ctr = s.ctr!;
        const next = ctr.next;
        const sync = ctr.sync;
        const ref = new Uint8Array(200);
        const n = core.sealFrame(ctx, s, op, body, 0, body.length, ref, 10);
        ctr.next = next; // same counter (and counter form) again, to compare bytes (test only)
        ctr.sync = sync;
        const buf = new Uint8Array(200);
        buf.set(body, bodyOff);
        expect(core.sealFrame(ctx, s, op, buf, bodyOff, body.length, buf, 10)).toBe(n);
        expect(same(buf.subarray(10, 10 + n), ref.subarray(10, 10 + n))).toBe(true);
        ctr.next = next + 1;
      }
    }
  });
});
