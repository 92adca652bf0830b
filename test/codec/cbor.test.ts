import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  CBOR_ARRAY,
  CBOR_BOOL,
  CBOR_BYTES,
  CBOR_MAP,
  CBOR_MAX_DEPTH,
  CBOR_MAX_INT,
  CBOR_NINT,
  CBOR_NULL,
  CBOR_TEXT,
  CBOR_UINT,
  cborEncodedLength,
  cborHeadLen,
  cborPeek,
  cborReaderDone,
  cborReaderInit,
  createCborReader,
  decodeValue,
  encodeValue,
  readArrayHead,
  readBool,
  readBytes,
  readInt,
  readMapHead,
  readNull,
  readText,
  readUint,
  skipItem,
  writeArrayHead,
  writeBool,
  writeBytes,
  writeBytesHead,
  writeInt,
  writeMapHead,
  writeNull,
  writeText,
  writeUint,
} from '../../shared/src/cbor.ts';
import { ERR_BUFFER, ERR_CBOR, ERR_CBOR_DEPTH, OK } from '../../shared/src/errors.ts';
import { hex, unhex } from './helpers.ts';

function dec(h: string) {
  const b = unhex(h);
  return decodeValue(b, 0, b.length);
}

function skip(b: Uint8Array): { err: number; pos: number } {
  const r = createCborReader();
  cborReaderInit(r, b, 0, b.length);
  const err = skipItem(r);
  return { err, pos: r.pos };
}

describe('CBOR low-level writers', () => {
  it('write the §10 ACK body [req, op, upTo] and a §7 JOIN body with no allocation helpers', () => {
    const out = new Uint8Array(64);
    let o = writeArrayHead(out, 0, 3);
    o = writeUint(out, o, 0);
    o = writeUint(out, o, 1);
    o = writeUint(out, o, 42);
    expect(hex(out.subarray(0, o))).toBe('830001182a');

    const meterId = unhex('0011223344556677');
    const linkKey = unhex('000102030405060708090a0b0c0d0e0f');
    o = writeArrayHead(out, 0, 3);
    o = writeBytes(out, o, meterId, 0, 8);
    o = writeBytes(out, o, linkKey, 0, 16);
    o = writeUint(out, o, 300);
    expect(hex(out.subarray(0, o))).toBe('83' + '48' + hex(meterId) + '50' + hex(linkKey) + '19012c');
  });

  it('use the shortest head at every boundary', () => {
    const cases: Array<[number, string]> = [
      [0, '00'],
      [23, '17'],
      [24, '1818'],
      [255, '18ff'],
      [256, '190100'],
      [65535, '19ffff'],
      [65536, '1a00010000'],
      [4294967295, '1affffffff'],
      [4294967296, '1b0000000100000000'],
      [CBOR_MAX_INT, '1b001fffffffffffff'],
    ];
    const out = new Uint8Array(9);
    for (const [v, h] of cases) {
      expect(writeUint(out, 0, v)).toBe(h.length / 2);
      expect(hex(out.subarray(0, h.length / 2))).toBe(h);
      expect(cborHeadLen(v)).toBe(h.length / 2);
      // The negative of each boundary uses major type 1 with argument −1 − v.
      if (v > 0) {
        const n = writeInt(out, 0, -v);
        expect(decodeValue(out, 0, n).value).toBe(-v);
      }
    }
  });

  it('refuse values outside the subset with ERR_CBOR and report short buffers with ERR_BUFFER, writing nothing', () => {
    const out = new Uint8Array(4).fill(0xee);
    for (const v of [-1, 1.5, NaN, Infinity, CBOR_MAX_INT + 1, 2 ** 64]) expect(writeUint(out, 0, v)).toBe(ERR_CBOR);
    for (const v of [-(2 ** 53), 0.5, -Infinity]) expect(writeInt(out, 0, v)).toBe(ERR_CBOR);
    expect(writeUint(out, 0, 70000)).toBe(ERR_BUFFER); // needs 5 bytes
    expect(writeBytes(out, 0, new Uint8Array(4), 0, 4)).toBe(ERR_BUFFER);
    expect(writeBytesHead(out, 0, 4)).toBe(ERR_BUFFER);
    expect(writeText(out, 0, 'abcd')).toBe(ERR_BUFFER);
    expect(writeText(out, 0, '\ud800')).toBe(ERR_CBOR); // lone surrogate has no UTF-8 form
    expect(writeBytes(out, 0, new Uint8Array(2), 1, 2)).toBe(ERR_BUFFER); // source range
    expect(writeNull(out, 4)).toBe(ERR_BUFFER);
    expect(writeBool(out, 5, true)).toBe(ERR_BUFFER);
    expect(hex(out)).toBe('eeeeeeee');
  });

  it('pass a negative offset through, so a chain of writes keeps its first error', () => {
    const out = new Uint8Array(3);
    let o = writeArrayHead(out, 0, 2);
    o = writeUint(out, o, 1000); // does not fit: ERR_BUFFER
    o = writeUint(out, o, 1);
    o = writeText(out, o, 'x');
    o = writeBytes(out, o, new Uint8Array(1), 0, 1);
    o = writeMapHead(out, o, 0);
    o = writeNull(out, o);
    o = writeBool(out, o, false);
    o = writeInt(out, o, -5);
    o = writeBytesHead(out, o, 0);
    expect(o).toBe(ERR_BUFFER);
  });
});

describe('CBOR cursor reader', () => {
  it('reads a JOIN body without copying: byte strings are offsets into the buffer', () => {
    const body = unhex('8348' + '0011223344556677' + '50' + '000102030405060708090a0b0c0d0e0f' + '19012c');
    const framed = new Uint8Array(body.length + 10);
    framed.set(body, 7);
    const r = createCborReader();
    expect(cborReaderInit(r, framed, 7, body.length)).toBe(OK);
    expect(cborPeek(r)).toBe(CBOR_ARRAY);
    expect(readArrayHead(r)).toBe(3);
    expect(readBytes(r)).toBe(8);
    expect(r.dataOff).toBe(7 + 2);
    expect(r.buf).toBe(framed);
    expect(readBytes(r)).toBe(16);
    expect(hex(framed.subarray(r.dataOff, r.dataOff + 16))).toBe('000102030405060708090a0b0c0d0e0f');
    expect(readUint(r)).toBe(300);
    expect(cborReaderDone(r)).toBe(OK);
  });

  it('reports kinds, reads every scalar, and leaves pos unchanged on a type mismatch', () => {
    const b = unhex('88' + '00' + '20' + '3b001ffffffffffffe' + 'f5' + 'f4' + 'f6' + '63e282ac' + 'a1' + '01' + '40');
    const r = createCborReader();
    cborReaderInit(r, b, 0, b.length);
    expect(readMapHead(r)).toBe(ERR_CBOR);
    expect(r.pos).toBe(0);
    expect(readArrayHead(r)).toBe(8);
    expect(cborPeek(r)).toBe(CBOR_UINT);
    expect(readInt(r)).toBe(OK);
    expect(r.value).toBe(0);
    expect(cborPeek(r)).toBe(CBOR_NINT);
    expect(readUint(r)).toBe(ERR_CBOR);
    expect(readInt(r)).toBe(OK);
    expect(r.value).toBe(-1);
    expect(readInt(r)).toBe(OK);
    expect(r.value).toBe(-CBOR_MAX_INT);
    expect(cborPeek(r)).toBe(CBOR_BOOL);
    expect(readNull(r)).toBe(ERR_CBOR);
    expect(readBool(r)).toBe(1);
    expect(readBool(r)).toBe(0);
    expect(cborPeek(r)).toBe(CBOR_NULL);
    expect(readBool(r)).toBe(ERR_CBOR);
    expect(readNull(r)).toBe(OK);
    expect(cborPeek(r)).toBe(CBOR_TEXT);
    expect(readBytes(r)).toBe(ERR_CBOR);
    expect(readText(r)).toBe(3); // "€"
    expect(cborPeek(r)).toBe(CBOR_MAP);
    expect(readMapHead(r)).toBe(1);
    expect(readUint(r)).toBe(1);
    expect(cborPeek(r)).toBe(CBOR_BYTES);
    expect(readBytes(r)).toBe(0);
    expect(cborReaderDone(r)).toBe(OK);
    expect(cborPeek(r)).toBe(ERR_CBOR); // nothing left
    expect(readUint(r)).toBe(ERR_CBOR);
  });

  it('refuses a bad region with ERR_BUFFER', () => {
    const r = createCborReader();
    expect(cborReaderInit(r, new Uint8Array(4), 2, 3)).toBe(ERR_BUFFER);
    expect(cborReaderInit(r, new Uint8Array(4), -1, 1)).toBe(ERR_BUFFER);
    expect(readUint(r)).toBe(ERR_CBOR);
    expect(decodeValue(new Uint8Array(4), 3, 2).err).toBe(ERR_BUFFER);
  });
});

describe('CBOR hostile input', () => {
  it('refuses declared lengths and counts larger than the bytes present, without allocating for them', () => {
    for (const h of [
      '5b001fffffffffffff',
      '5bffffffffffffffff',
      '7affffffff41',
      '5a7fffffff00',
      '9b0000000100000000',
      '9affffffff00',
      'bbffffffffffffffff',
      'ba7fffffff0000',
      '9903e8' + '00'.repeat(999),
      'a2000000',
    ]) {
      expect(dec(h).err).toBe(ERR_CBOR);
      expect(skip(unhex(h)).err).toBe(ERR_CBOR);
    }
    expect(dec('9903e8' + '00'.repeat(1000)).err).toBe(OK); // the honest version of the previous case
  });

  it(`limits nesting to CBOR_MAX_DEPTH (${CBOR_MAX_DEPTH}) with ERR_CBOR_DEPTH, even 100,000 levels deep`, () => {
    const ok = unhex('81'.repeat(CBOR_MAX_DEPTH) + '00');
    expect(dec(hex(ok)).err).toBe(OK);
    expect(skip(ok)).toEqual({ err: OK, pos: ok.length });
    for (const h of ['81'.repeat(CBOR_MAX_DEPTH + 1) + '00', 'a101'.repeat(CBOR_MAX_DEPTH + 1) + '00', '81'.repeat(100000) + '00']) {
      expect(dec(h).err).toBe(ERR_CBOR_DEPTH);
      expect(skip(unhex(h))).toEqual({ err: ERR_CBOR_DEPTH, pos: 0 });
    }
    // The encoder refuses the same depth, and cycles end there instead of overflowing the stack.
    let deep: unknown = 0;
    for (let i = 0; i <= CBOR_MAX_DEPTH; i++) deep = [deep];
    expect(encodeValue(deep, new Uint8Array(64), 0)).toBe(ERR_CBOR_DEPTH);
    const cyc: unknown[] = [];
    cyc.push(cyc);
    expect(encodeValue(cyc, new Uint8Array(64), 0)).toBe(ERR_CBOR_DEPTH);
  });

  it('refuses reserved and indefinite additional information, a lone break, and long-form simple values', () => {
    for (const major of [0, 1, 2, 3, 4, 5, 6, 7]) {
      for (const ai of [28, 29, 30, 31]) expect(dec(((major << 5) | ai).toString(16).padStart(2, '0') + '00').err).toBe(ERR_CBOR);
    }
    expect(dec('ff').err).toBe(ERR_CBOR);
    expect(dec('f815').err).toBe(ERR_CBOR); // "true" in the 2-byte form RFC 8949 §3.3 forbids
    expect(dec('f820').err).toBe(ERR_CBOR);
  });

  it('refuses integers beyond ±(2^53−1) and accepts the boundaries', () => {
    expect(dec('1b001fffffffffffff').value).toBe(CBOR_MAX_INT);
    expect(dec('3b001ffffffffffffe').value).toBe(-CBOR_MAX_INT);
    expect(dec('1b0020000000000000').err).toBe(ERR_CBOR);
    expect(dec('3b001fffffffffffff').err).toBe(ERR_CBOR); // −2^53
    expect(skip(unhex('3b001fffffffffffff')).err).toBe(ERR_CBOR);
    // Non-shortest heads are well-formed CBOR and accepted (cbor-x writes 3-byte map heads).
    expect(dec('1b0000000000000001').value).toBe(1);
    expect(dec('b9000101f5').value).toEqual({ 1: true });
  });

  it('refuses trailing bytes, duplicate keys (including 1 vs "1") and keys that are not integers or text', () => {
    expect(dec('0000').err).toBe(ERR_CBOR);
    expect(dec('a201000100').err).toBe(ERR_CBOR);
    expect(dec('a20100613100').err).toBe(ERR_CBOR);
    expect(dec('a2616100616100').err).toBe(ERR_CBOR);
    for (const k of ['40', '80', 'a0', 'f5', 'f6']) expect(dec('a1' + k + '00').err).toBe(ERR_CBOR);
  });

  it('refuses malformed UTF-8 in text strings', () => {
    for (const h of [
      '62c080', // overlong "\0"
      '63e08080', // overlong 3-byte
      '64f0808080', // overlong 4-byte
      '63eda080', // UTF-16 surrogate D800
      '64f4908080', // U+110000
      '6180', // lone continuation byte
      '61c3', // sequence cut by the string end
      '62c341', // continuation missing
      '61ff',
      '61fe',
      '65f888808080',
    ]) {
      expect(dec(h).err).toBe(ERR_CBOR);
      expect(skip(unhex(h)).err).toBe(ERR_CBOR);
    }
  });

  it('keeps a "__proto__" key as data, never as the prototype', () => {
    const v = dec('a169' + Buffer.from('__proto__').toString('hex') + 'a1616101').value as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(v, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).a).toBeUndefined();
  });

  it('never throws on arbitrary bytes, and skipItem agrees with decodeValue', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200, size: 'max' }), (b) => {
        const d = decodeValue(b, 0, b.length);
        const s = skip(b);
        if (d.err === OK) return s.err === OK && s.pos === b.length;
        if (s.err < 0) return s.pos === 0 && d.err < 0;
        return true; // duplicate keys or trailing bytes: decodeValue refuses what skipItem allows
      }),
      { numRuns: 3000 },
    );
  });

  it('never throws on mutated valid encodings', () => {
    const out = new Uint8Array(64);
    const len = encodeValue([0, 1000, 1600000000, -65535, [{ 1: 'a', b: '\u20ac<' }, new Uint8Array([1, 2, 3, 4]), true, null]], out, 0);
    const body = out.subarray(0, len);
    expect(dec(hex(body)).err).toBe(OK);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }), fc.nat(), (muts, cut) => {
        const m = body.slice();
        for (const [i, v] of muts) m[i % m.length] = v;
        const n = cut % (m.length + 1);
        const d = decodeValue(m, 0, n);
        return d.err === OK || (d.err < 0 && d.value === null);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('encodeValue', () => {
  it('refuses values outside the subset with ERR_CBOR and writes nothing', () => {
    const out = new Uint8Array(16).fill(0xee);
    for (const v of [
      undefined,
      1.5,
      NaN,
      -0.25,
      () => 1,
      new Date(0),
      new Map(),
      new Set(),
      new Uint16Array(1),
      1n,
      Symbol('x'),
      [1, undefined],
      { a: 1.5 },
      '\udc00',
    ]) {
      expect(encodeValue(v, out, 0)).toBe(ERR_CBOR);
      expect(cborEncodedLength(v)).toBe(ERR_CBOR);
    }
    expect(encodeValue([1, 2, 3, 'long enough to overflow'], out, 0)).toBe(ERR_BUFFER);
    expect(hex(out)).toBe('ee'.repeat(16));
    expect(encodeValue(1, out, -7)).toBe(-7);
  });

  it('writes canonical-integer object keys as CBOR integers and other keys as text', () => {
    const out = new Uint8Array(64);
    const n = encodeValue({ 1: 'x', '-2': 0, '01': 0, '1e3': 0, '-0': 0 }, out, 0);
    expect(hex(out.subarray(0, n))).toBe('a5' + '016178' + '2100' + '62303100' + '6331653300' + '622d3000');
  });
});
