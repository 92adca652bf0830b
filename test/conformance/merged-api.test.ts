// The single entry points that replaced several small functions on the meter's path (fewer
// function objects on Espruino): policyOf (policy lookups), loadSlotKey (the four key loaders) and
// readHead (the CBOR cursor readers). Each is checked against the independent reference of
// reference.ts (PROTOCOL.md §4, §5, §7 on node:crypto) and against the functions it stands behind.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as core from '@vakt/shared';
import { refE2eKey, refKcKey, refLinkKey, refOpRoot, refPolicy } from './reference.ts';

const ctx = core.createCryptoCtx();

describe('policyOf', () => {
  it('packs exactly the reference policy of every (version, op), 0 when unknown', () => {
    for (const version of [0, 1, 2, 0x7f, 0x80, 0x81, 0x82, 0xc1, 0xff]) {
      for (let op = 0; op < 256; op++) {
        const p = core.policyOf(version, op);
        const ref = refPolicy(version, op);
        if (ref === undefined) {
          expect(p).toBe(0);
          expect(core.policyTagLen(version, op)).toBe(0);
          expect(core.policyEnc(version, op)).toBe(-1);
          expect(core.policyAllows(version, op, core.DIR_UP) || core.policyAllows(version, op, core.DIR_DOWN)).toBe(false);
          continue;
        }
        const allow = (ref.up ? core.ALLOW_UP : 0) | (ref.down ? core.ALLOW_DOWN : 0);
        expect(p & core.POLICY_TAG_MASK).toBe(ref.tag);
        expect((p & core.POLICY_ENC) !== 0 ? 1 : 0).toBe(ref.enc);
        expect(p >>> core.POLICY_ALLOW_SHIFT).toBe(allow);
        expect(core.policyTagLen(version, op)).toBe(ref.tag);
        expect(core.policyEnc(version, op)).toBe(ref.enc);
        expect(core.policyAllows(version, op, core.DIR_UP)).toBe(ref.up);
        expect(core.policyAllows(version, op, core.DIR_DOWN)).toBe(ref.down);
        expect(core.policyAllows(version, op, 2)).toBe(false);
        // The per-field tables are views of the same words.
        const e2e = version === core.E2E_VERSION;
        expect((e2e ? core.E2E_ALLOW : core.LINK_ALLOW)[op]).toBe(allow);
        expect((e2e ? core.E2E_ENC : core.LINK_ENC)[op]).toBe(ref.enc);
        if (e2e) expect(core.E2E_TAG[op]).toBe(ref.tag);
      }
    }
  });

  it('is 0 (unknown, no direction) for non-integer or out-of-range ops', () => {
    for (const op of [0.5, 1.5, -1, NaN, Infinity, 10, 5.0000001]) {
      for (const version of [core.E2E_VERSION, core.LINK_VERSION]) {
        expect(core.policyOf(version, op)).toBe(0);
        expect(core.policyAllows(version, op, core.DIR_UP) || core.policyAllows(version, op, core.DIR_DOWN)).toBe(false);
      }
    }
  });
});

describe('loadSlotKey', () => {
  const expanded = (raw: Uint8Array) => {
    const rk = new Uint32Array(core.AES128_SCHEDULE_WORDS);
    core.expandKey(raw, 0, rk);
    return rk;
  };

  it('loads each kind exactly as the reference derivation, and the four loaders equal it', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 8, maxLength: 8 }),
        fc.integer({ min: 1, max: core.OP_MAX }),
        fc.constantFrom(core.DIR_UP, core.DIR_DOWN),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: core.OP_MAX }),
        fc.nat(8),
        (key, id, op, dir, gen, scope, keyOff) => {
          const other = new Uint8Array(8).fill(0x5a);
          const buf = new Uint8Array(keyOff + 16 + 3).fill(0xee);
          buf.set(key, keyOff);
          const e2e = core.createKeySlot(core.E2E_VERSION, op, dir, gen, id, other);
          const link = core.createKeySlot(core.LINK_VERSION, 0, dir, gen, id, other, 1);
          const kc = core.createKeySlot(core.E2E_VERSION, core.OP_KEY_UPDATE, core.DIR_UP, gen, id, other);
          const want: [core.KeySlot, number, Uint8Array, number][] = [
            [e2e, core.LOAD_E2E, refE2eKey(key, id, op, dir, gen), 0],
            [e2e, core.LOAD_E2E_FROM_MASTER, refE2eKey(refOpRoot(key, id, op, gen), id, op, dir, gen), 0],
            [link, core.LOAD_LINK, refLinkKey(key, id, dir, gen), 0],
            [kc, core.LOAD_KC, refKcKey(key, id, scope, gen), scope],
          ];
          for (const [slot, kind, raw, sc] of want) {
            slot.rk.fill(0);
            core.loadSlotKey(ctx, slot, kind, buf, keyOff, id, sc);
            expect(slot.rk).toEqual(expanded(raw));
          }
          // The named loaders give the same schedules.
          const s = core.createKeySlot(core.E2E_VERSION, op, dir, gen, id, other);
          core.loadE2eKey(ctx, s, buf, keyOff, id);
          expect(s.rk).toEqual(expanded(want[0][2]));
          core.loadE2eKeyFromMaster(ctx, s, buf, keyOff, id);
          expect(s.rk).toEqual(expanded(want[1][2]));
          const l = core.createKeySlot(core.LINK_VERSION, 0, dir, gen, id, other, 1);
          core.loadLinkKey(ctx, l, buf, keyOff, id);
          expect(l.rk).toEqual(expanded(want[2][2]));
          const k = core.createKeySlot(core.E2E_VERSION, core.OP_KEY_UPDATE, core.DIR_UP, gen, id, other);
          core.loadKcKey(ctx, k, buf, keyOff, id, scope);
          expect(k.rk).toEqual(expanded(want[3][2]));
          // The raw derive* functions agree with the reference too.
          const out = new Uint8Array(16);
          core.deriveOpRoot(ctx, key, 0, id, op, gen, out, 0);
          expect(out).toEqual(new Uint8Array(refOpRoot(key, id, op, gen)));
          core.deriveE2eKey(ctx, key, 0, id, op, dir, gen, out, 0);
          expect(out).toEqual(new Uint8Array(want[0][2]));
          core.deriveLinkKey(ctx, key, 0, id, dir, gen, out, 0);
          expect(out).toEqual(new Uint8Array(want[2][2]));
          core.deriveKcKey(ctx, key, 0, id, scope, gen, out, 0);
          expect(out).toEqual(new Uint8Array(want[3][2]));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('throws on an unknown kind or a bad id, and leaves the slot untouched', () => {
    const id = new Uint8Array(8).fill(1);
    const slot = core.createKeySlot(core.E2E_VERSION, core.OP_READ, core.DIR_DOWN, 0, id, id);
    slot.rk.fill(7);
    const key = new Uint8Array(16);
    for (const kind of [-1, 4, 0.5, NaN]) expect(() => core.loadSlotKey(ctx, slot, kind, key, 0, id, 0)).toThrow();
    expect(() => core.loadSlotKey(ctx, slot, core.LOAD_LINK, key, 0, new Uint8Array(7), 0)).toThrow();
    expect(slot.rk.every((w) => w === 7)).toBe(true);
  });
});

describe('readHead', () => {
  const enc = (v: unknown) => {
    const out = new Uint8Array(64);
    return out.subarray(0, core.encodeValue(v, out, 0));
  };
  const values: unknown[] = [
    0,
    23,
    24,
    255,
    256,
    65535,
    65536,
    2 ** 32,
    2 ** 53 - 1,
    -1,
    -500,
    new Uint8Array([1, 2, 3]),
    new Uint8Array(0),
    'hé',
    '',
    [1, 2],
    [],
    { 1: 2 },
    {},
    true,
    false,
    null,
  ];
  const majors = [core.CBOR_UINT, core.CBOR_NINT, core.CBOR_BYTES, core.CBOR_TEXT, core.CBOR_ARRAY, core.CBOR_MAP, 6, 7, -1];

  it('equals the named reader of each major type on every kind of item, and refuses the others without moving', () => {
    const named: Record<number, (r: core.CborReader) => number> = {
      [core.CBOR_UINT]: core.readUint,
      [core.CBOR_BYTES]: core.readBytes,
      [core.CBOR_TEXT]: core.readText,
      [core.CBOR_ARRAY]: core.readArrayHead,
      [core.CBOR_MAP]: core.readMapHead,
    };
    const r = core.createCborReader();
    const q = core.createCborReader();
    for (const v of values) {
      const bytes = enc(v);
      for (const major of majors) {
        core.cborReaderInit(r, bytes, 0, bytes.length);
        const got = core.readHead(r, major);
        const fn = named[major];
        if (fn === undefined) {
          expect(got).toBe(core.ERR_CBOR);
          expect(r.pos).toBe(0);
          continue;
        }
        core.cborReaderInit(q, bytes, 0, bytes.length);
        expect(got).toBe(fn(q));
        expect([r.pos, r.dataOff, r.value]).toEqual([q.pos, q.dataOff, q.value]);
        if (got < 0) expect(r.pos).toBe(0);
      }
    }
  });

  it('readText refuses invalid UTF-8 with pos and dataOff unchanged; readBytes takes the same bytes', () => {
    const bad = new Uint8Array([0x62, 0xc3, 0x28]); // text(2) with a broken 2-byte sequence
    const r = core.createCborReader();
    core.cborReaderInit(r, bad, 0, bad.length);
    r.dataOff = 99;
    expect(core.readText(r)).toBe(core.ERR_CBOR);
    expect([r.pos, r.dataOff]).toEqual([0, 99]);
    const asBytes = new Uint8Array([0x42, 0xc3, 0x28]);
    core.cborReaderInit(r, asBytes, 0, asBytes.length);
    expect(core.readBytes(r)).toBe(2);
    expect([r.pos, r.dataOff]).toEqual([3, 1]);
  });
});

describe('derived sizes written as literals', () => {
  it('equal their formulas (PROTOCOL.md §3, §9; FIPS-197 block; RFC 3610 counter field)', () => {
    expect(core.MAX_E2E_FRAME).toBe(core.E2E_HDR_FULL + core.MAX_BODY + core.MAX_TAG_LEN);
    expect(core.MAX_LINK_FRAME).toBe(core.HEADER_LEN + core.MAX_BODY + core.LINK_TAG_LEN);
    expect(core.MAX_E2E_BODY_FORWARDED).toBe(core.MAX_BODY - core.ID_LEN - core.E2E_HDR_FULL - core.MAX_TAG_LEN);
    expect(core.COBS_BLOCK_DATA).toBe(core.COBS_MAX_CODE - 1);
    // The policy words' direction bits.
    expect(core.POLICY_ENC).toBe(core.POLICY_TAG_MASK + 1);
    expect(core.policyOf(core.LINK_VERSION, core.LINK_DATA) >>> core.POLICY_ALLOW_SHIFT).toBe(core.ALLOW_UP | core.ALLOW_DOWN);
  });
});
