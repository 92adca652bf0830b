// Cross-check of shared/src/cbor.ts against an independent implementation (cbor-x), both ways, on
// fast-check-generated values of the PROTOCOL.md §10 subset.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Decoder, Encoder } from 'cbor-x';
import { CBOR_MAX_INT, cborEncodedLength, decodeValue, encodeValue } from '../../shared/src/cbor.ts';
import { hex } from './helpers.ts';

// Plain CBOR from cbor-x: no tag 64 on Uint8Array, no record extension, maps as plain objects.
const cx = new Encoder({ tagUint8Array: false, useRecords: false, mapsAsObjects: true });
const cxDec = new Decoder({ useRecords: false, mapsAsObjects: true });

const TWO_32 = 4294967296;

/** cbor-x writes numbers beyond 32 bits as float64; hand it BigInt so it writes integer heads. */
function forCborX(v: unknown): unknown {
  if (typeof v === 'number') return v >= TWO_32 || v < -TWO_32 ? BigInt(v) : v;
  if (v instanceof Uint8Array) return v;
  if (Array.isArray(v)) return v.map(forCborX);
  if (v !== null && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(v)) o[k] = forCborX((v as Record<string, unknown>)[k]);
    return o;
  }
  return v;
}

/** cbor-x decodes 8-byte heads to BigInt and byte strings to Buffer; bring both to our JS forms. */
function normalise(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Uint8Array) return new Uint8Array(v.buffer, v.byteOffset, v.length);
  if (Array.isArray(v)) return v.map(normalise);
  if (v !== null && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(v)) o[k] = normalise((v as Record<string, unknown>)[k]);
    return o;
  }
  return v;
}

function containsMap(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(containsMap);
  return v !== null && typeof v === 'object' && !(v instanceof Uint8Array);
}

const BOUNDARIES = [0, 23, 24, 255, 256, 65535, 65536, TWO_32 - 1, TWO_32, CBOR_MAX_INT];
const intArb = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.constantFrom(...BOUNDARIES, ...BOUNDARIES.map((b) => -b - 1).filter((b) => b >= -CBOR_MAX_INT), -CBOR_MAX_INT),
);
// Text keys other than the decimal form of an integer (those are written as integer keys, which
// both decoders turn back into the same object key anyway) and other than "__proto__".
const keyArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 8, size: 'max' }).filter((k) => k !== '__proto__'),
  fc.integer({ min: -100000, max: 100000 }).map(String),
);
const { value: valueArb } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    intArb,
    fc.string({ unit: 'binary', maxLength: 40, size: 'max' }),
    fc.uint8Array({ maxLength: 40, size: 'max' }),
    fc.constantFrom(true, false, null),
    fc.array(tie('value'), { maxLength: 6 }),
    fc.dictionary(keyArb, tie('value'), { maxKeys: 5 }),
  ),
}));

describe('CBOR against cbor-x', () => {
  it('ours → cbor-x: cbor-x decodes our encoding to the same value', () => {
    fc.assert(
      fc.property(valueArb, (v) => {
        const out = new Uint8Array(cborEncodedLength(v));
        const n = encodeValue(v, out, 0);
        expect(n).toBe(out.length);
        expect(normalise(cxDec.decode(out))).toEqual(v);
      }),
      { numRuns: 1500 },
    );
  });

  it('cbor-x → ours: we decode cbor-x output to the same value', () => {
    fc.assert(
      fc.property(valueArb, (v) => {
        const enc = cx.encode(forCborX(v));
        const d = decodeValue(enc, 0, enc.length);
        expect(d.err).toBe(0);
        expect(normalise(d.value)).toEqual(v);
      }),
      { numRuns: 1500 },
    );
  });

  it('byte-for-byte identical encodings for values without maps (cbor-x uses non-shortest map heads)', () => {
    fc.assert(
      fc.property(
        valueArb.filter((v) => !containsMap(v)),
        (v) => {
          const out = new Uint8Array(cborEncodedLength(v));
          encodeValue(v, out, 0);
          expect(hex(out)).toBe(hex(cx.encode(forCborX(v))));
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('decodes byte strings as views of the input (no copy)', () => {
    const enc = cx.encode([new Uint8Array([9, 8, 7])]);
    const d = decodeValue(enc, 0, enc.length);
    const b = (d.value as Uint8Array[])[0];
    expect(b.buffer).toBe(enc.buffer);
    expect(b.byteOffset).toBe(enc.byteOffset + 2);
  });
});
