// RFC 8949 Appendix A ("Examples of Encoded CBOR Data Items"): every example, split into those
// inside the Vakt subset of PROTOCOL.md §10 (decoded to the published value and re-encoded to the
// published bytes) and those outside it (refused with a typed error, never thrown).
import { describe, expect, it } from 'vitest';
import {
  decodeValue,
  encodeValue,
  cborEncodedLength,
  createCborReader,
  cborReaderInit,
  skipItem,
  type CborValue,
} from '../../shared/src/cbor.ts';
import { ERR_CBOR } from '../../shared/src/errors.ts';
import { hex, unhex } from './helpers.ts';

const IN_SUBSET: Array<[string, CborValue]> = [
  ['00', 0],
  ['01', 1],
  ['0a', 10],
  ['17', 23],
  ['1818', 24],
  ['1819', 25],
  ['1864', 100],
  ['1903e8', 1000],
  ['1a000f4240', 1000000],
  ['1b000000e8d4a51000', 1000000000000],
  ['20', -1],
  ['29', -10],
  ['3863', -100],
  ['3903e7', -1000],
  ['f4', false],
  ['f5', true],
  ['f6', null],
  ['40', new Uint8Array(0)],
  ['4401020304', new Uint8Array([1, 2, 3, 4])],
  ['60', ''],
  ['6161', 'a'],
  ['6449455446', 'IETF'],
  ['62225c', '"\\'],
  ['62c3bc', '\u00fc'],
  ['63e6b0b4', '\u6c34'],
  ['64f0908591', '\ud800\udd51'],
  ['80', []],
  ['83010203', [1, 2, 3]],
  ['8301820203820405', [1, [2, 3], [4, 5]]],
  ['98190102030405060708090a0b0c0d0e0f101112131415161718181819', Array.from({ length: 25 }, (_, i) => i + 1)],
  ['a0', {}],
  ['a201020304', { 1: 2, 3: 4 }],
  ['a26161016162820203', { a: 1, b: [2, 3] }],
  ['826161a161626163', ['a', { b: 'c' }]],
  ['a56161614161626142616361436164614461656145', { a: 'A', b: 'B', c: 'C', d: 'D', e: 'E' }],
];

const OUTSIDE_SUBSET: Array<[string, string]> = [
  ['1bffffffffffffffff', '2^64-1: beyond 2^53-1'],
  ['c249010000000000000000', 'tag 2 bignum'],
  ['3bffffffffffffffff', '-2^64: beyond -(2^53-1)'],
  ['c349010000000000000000', 'tag 3 bignum'],
  ['f90000', 'half float 0.0'],
  ['f98000', 'half float -0.0'],
  ['f93c00', 'half float 1.0'],
  ['fb3ff199999999999a', 'double 1.1'],
  ['f93e00', 'half float 1.5'],
  ['f97bff', 'half float 65504.0'],
  ['fa47c35000', 'single 100000.0'],
  ['fa7f7fffff', 'single 3.4028234663852886e+38'],
  ['fb7e37e43c8800759c', 'double 1.0e+300'],
  ['f90001', 'half float 5.960464477539063e-8'],
  ['f90400', 'half float 0.00006103515625'],
  ['f9c400', 'half float -4.0'],
  ['fbc010666666666666', 'double -4.1'],
  ['f97c00', 'half Infinity'],
  ['f97e00', 'half NaN'],
  ['f9fc00', 'half -Infinity'],
  ['fa7f800000', 'single Infinity'],
  ['fa7fc00000', 'single NaN'],
  ['faff800000', 'single -Infinity'],
  ['fb7ff0000000000000', 'double Infinity'],
  ['fb7ff8000000000000', 'double NaN'],
  ['fbfff0000000000000', 'double -Infinity'],
  ['f7', 'undefined'],
  ['f0', 'simple(16)'],
  ['f8ff', 'simple(255)'],
  ['c074323031332d30332d32315432303a30343a30305a', 'tag 0 date string'],
  ['c11a514b67b0', 'tag 1 epoch'],
  ['c1fb41d452d9ec200000', 'tag 1 float epoch'],
  ['d74401020304', 'tag 23'],
  ['d818456449455446', 'tag 24'],
  ['d82076687474703a2f2f7777772e6578616d706c652e636f6d', 'tag 32 URI'],
  ['5f42010243030405ff', 'indefinite byte string'],
  ['7f657374726561646d696e67ff', 'indefinite text string'],
  ['9fff', 'indefinite empty array'],
  ['9f018202039f0405ffff', 'indefinite arrays'],
  ['9f01820203820405ff', 'indefinite array'],
  ['83018202039f0405ff', 'nested indefinite array'],
  ['83019f0203ff820405', 'nested indefinite array'],
  ['9f0102030405060708090a0b0c0d0e0f101112131415161718181819ff', 'indefinite array of 25'],
  ['bf61610161629f0203ffff', 'indefinite map'],
  ['826161bf61626163ff', 'nested indefinite map'],
  ['bf6346756ef563416d7421ff', 'indefinite map'],
];

describe('RFC 8949 Appendix A examples', () => {
  it.each(IN_SUBSET)('%s decodes to the published value and re-encodes to the same bytes', (h, value) => {
    const bytes = unhex(h);
    const d = decodeValue(bytes, 0, bytes.length);
    expect(d.err).toBe(0);
    expect(d.value).toEqual(value);
    expect(cborEncodedLength(value)).toBe(bytes.length);
    const out = new Uint8Array(bytes.length);
    expect(encodeValue(value, out, 0)).toBe(bytes.length);
    expect(hex(out)).toBe(h);
    const r = createCborReader();
    cborReaderInit(r, bytes, 0, bytes.length);
    expect(skipItem(r)).toBe(0);
    expect(r.pos).toBe(bytes.length);
  });

  it.each(OUTSIDE_SUBSET)('%s (%s) is refused with ERR_CBOR by every decoder', (h) => {
    const bytes = unhex(h);
    expect(decodeValue(bytes, 0, bytes.length).err).toBe(ERR_CBOR);
    const r = createCborReader();
    cborReaderInit(r, bytes, 0, bytes.length);
    expect(skipItem(r)).toBe(ERR_CBOR);
    expect(r.pos).toBe(0);
  });

  it('every proper prefix of an in-subset example is refused (truncation)', () => {
    for (const [h] of IN_SUBSET) {
      const bytes = unhex(h);
      for (let n = 0; n < bytes.length; n++) {
        expect(decodeValue(bytes, 0, n).err).toBe(ERR_CBOR);
      }
    }
  });
});
