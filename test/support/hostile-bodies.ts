// fast-check generators of hostile application bodies for every (op, direction) of the body table
// (shared/src/bodies.ts): a valid body of the shape, then one mutation — an item replaced by a float,
// a tag, an indefinite-length item, an out-of-range or huge integer, a wrong type, invalid UTF-8,
// deep nesting or an over-long count; trailing bytes; a wrong item count; duplicate map keys;
// an indefinite or tagged outer array; oversize. Used by the HES and the meter hostile-body suites.
import fc from 'fast-check';
import { BODY_SHAPES, U32_MAX } from '@vakt/shared/bodies';
import type { BodyField, BodyShape, UintField } from '@vakt/shared/bodies';

const cat = (...parts: (Uint8Array | number[])[]): Uint8Array => {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

/** The shortest CBOR head of major type `major` with argument v (v ≤ 2⁵³ − 1). */
export function head(major: number, v: number): Uint8Array {
  const m = major << 5;
  if (v < 24) return new Uint8Array([m | v]);
  if (v < 0x100) return new Uint8Array([m | 24, v]);
  if (v < 0x10000) return new Uint8Array([m | 25, v >> 8, v & 0xff]);
  if (v <= U32_MAX) return new Uint8Array([m | 26, v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]);
  const b = new Uint8Array(9);
  b[0] = m | 27;
  new DataView(b.buffer).setBigUint64(1, BigInt(v));
  return b;
}

const f64 = (x: number): Uint8Array => {
  const b = new Uint8Array(9);
  b[0] = 0xfb;
  new DataView(b.buffer).setFloat64(1, x);
  return b;
};

/** Single items outside the subset or of the wrong type for any field of the table. */
export const HOSTILE_ITEMS: { name: string; bytes: Uint8Array }[] = [
  { name: 'float16 1.0', bytes: new Uint8Array([0xf9, 0x3c, 0x00]) },
  { name: 'float16 NaN', bytes: new Uint8Array([0xf9, 0x7e, 0x00]) },
  { name: 'float32', bytes: new Uint8Array([0xfa, 0x47, 0xc3, 0x50, 0x00]) },
  { name: 'float64 5.0', bytes: f64(5) },
  { name: 'float64 1e18', bytes: f64(1e18) },
  { name: 'float64 2^60', bytes: f64(2 ** 60) },
  { name: 'float64 1e300', bytes: f64(1e300) },
  { name: 'tag 2 bignum', bytes: new Uint8Array([0xc2, 0x48, 1, 2, 3, 4, 5, 6, 7, 8]) },
  { name: 'tag 55799 self-describe', bytes: new Uint8Array([0xd9, 0xd9, 0xf7, 0x01]) },
  { name: 'tag 258 set', bytes: new Uint8Array([0xd9, 0x01, 0x02, 0x80]) },
  { name: 'tag 1 epoch time', bytes: new Uint8Array([0xc1, 0x1a, 0x65, 0x00, 0x00, 0x00]) },
  { name: 'indefinite array', bytes: new Uint8Array([0x9f, 0x01, 0x02, 0xff]) },
  { name: 'indefinite map', bytes: new Uint8Array([0xbf, 0x01, 0x02, 0xff]) },
  { name: 'indefinite bytes', bytes: new Uint8Array([0x5f, 0x41, 0x00, 0xff]) },
  { name: 'indefinite text', bytes: new Uint8Array([0x7f, 0x61, 0x61, 0xff]) },
  { name: 'uint 2^64-1', bytes: new Uint8Array([0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]) },
  { name: 'uint 2^53', bytes: new Uint8Array([0x1b, 0x00, 0x20, 0, 0, 0, 0, 0, 0]) },
  { name: 'uint 2^53-1', bytes: head(0, Number.MAX_SAFE_INTEGER) },
  { name: 'uint 2^32', bytes: head(0, 2 ** 32) },
  { name: 'negative -1', bytes: new Uint8Array([0x20]) },
  { name: 'negative -2^53', bytes: new Uint8Array([0x3b, 0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]) },
  { name: 'undefined', bytes: new Uint8Array([0xf7]) },
  { name: 'simple 16', bytes: new Uint8Array([0xf0]) },
  { name: 'simple 255', bytes: new Uint8Array([0xf8, 0xff]) },
  { name: 'true', bytes: new Uint8Array([0xf5]) },
  { name: 'null', bytes: new Uint8Array([0xf6]) },
  { name: 'text "1"', bytes: new Uint8Array([0x61, 0x31]) },
  { name: 'invalid UTF-8', bytes: new Uint8Array([0x62, 0xc3, 0x28]) },
  { name: 'UTF-8 surrogate', bytes: new Uint8Array([0x63, 0xed, 0xa0, 0x80]) },
  { name: 'bytes', bytes: new Uint8Array([0x41, 0x00]) },
  { name: 'deep nesting', bytes: cat(new Array(40).fill(0x81), [0x00]) },
  { name: 'array count beyond the bytes', bytes: new Uint8Array([0x9a, 0x7f, 0xff, 0xff, 0xff, 0x00]) },
  { name: 'map count beyond the bytes', bytes: new Uint8Array([0xba, 0x7f, 0xff, 0xff, 0xff, 0x00]) },
  { name: 'bytes length beyond the bytes', bytes: new Uint8Array([0x5a, 0x7f, 0xff, 0xff, 0xff, 0x00]) },
  { name: 'reserved additional info', bytes: new Uint8Array([0x1c]) },
  { name: 'lone break', bytes: new Uint8Array([0xff]) },
  { name: 'map with duplicate keys', bytes: new Uint8Array([0xa2, 0x01, 0x05, 0x01, 0x06]) },
];

function uintArb(f: UintField): fc.Arbitrary<number> {
  if (f.max - f.min < 1000) return fc.integer({ min: f.min, max: f.max });
  return fc.oneof(fc.constantFrom(f.min, f.max), fc.integer({ min: f.min, max: Math.min(f.max, U32_MAX) }));
}

/** A valid encoding of one field, as bytes. */
function fieldArb(f: BodyField): fc.Arbitrary<Uint8Array> {
  if (f.type === 'uint') return uintArb(f).map((v) => head(0, v));
  if (f.type === 'bytes') return fc.uint8Array({ minLength: f.min, maxLength: Math.min(f.max, 48) }).map((b) => cat(head(2, b.length), b));
  if (f.type === 'rows') {
    const row = fc.tuple(...f.row.map((c) => uintArb(c).map((v) => head(0, v)))).map((items) => cat(head(4, items.length), ...items));
    return fc.array(row, { maxLength: Math.min(f.max, 3) }).map((rows) => cat(head(4, rows.length), ...rows));
  }
  return fc
    .subarray([...f.entries])
    .chain((es) =>
      fc
        .tuple(...es.map((e) => fc.integer({ min: e.min, max: Math.min(e.max, U32_MAX) }).map((v) => cat(head(0, e.key), head(0, v)))))
        .map((pairs) => cat(head(5, pairs.length), ...pairs)),
    );
}

/** Item encodings of a valid body of the shape. */
export function validItems(s: BodyShape): fc.Arbitrary<Uint8Array[]> {
  return fc.tuple(...s.fields.map(fieldArb));
}

export const encodeItems = (items: Uint8Array[]): Uint8Array => cat(head(4, items.length), ...items);

/** One mutation of a valid body; the result is almost always outside the table (the suites check with decodeBody). */
export function hostileBody(s: BodyShape, maxLen: number): fc.Arbitrary<{ how: string; body: Uint8Array }> {
  const hostile = fc.constantFrom(...HOSTILE_ITEMS);
  return validItems(s).chain((items) =>
    fc.oneof(
      fc.tuple(fc.nat(items.length - 1), hostile).map(([i, h]) => {
        const c = items.slice();
        c[i] = h.bytes;
        return { how: `item ${i} (${s.fields[i]!.name}) := ${h.name}`, body: encodeItems(c) };
      }),
      fc.uint8Array({ minLength: 1, maxLength: 8 }).map((t) => ({ how: 'trailing bytes', body: cat(encodeItems(items), t) })),
      fc.constantFrom(-1, 1).map((d) => ({ how: `item count ${d > 0 ? '+1' : '-1'}`, body: cat(head(4, items.length + d), ...items) })),
      fc.constant({ how: 'indefinite outer array', body: cat([0x9f], ...items, [0xff]) }),
      fc.constant({ how: 'outer array inside tag 55799', body: cat([0xd9, 0xd9, 0xf7], encodeItems(items)) }),
      fc.constant({ how: 'outer array as a map', body: cat(head(5, items.length), ...items, ...items) }),
      fc.constant({
        how: 'oversize: trailing zeros to the body limit',
        body: cat(encodeItems(items), new Uint8Array(Math.max(1, maxLen - encodeItems(items).length))),
      }),
      fc.uint8Array({ minLength: 0, maxLength: 64 }).map((b) => ({ how: 'random bytes', body: b })),
      ...(s.fields.some((f) => f.type === 'map')
        ? [
            fc.integer({ min: 1, max: 2 }).map((k) => {
              const c = items.slice();
              const i = s.fields.findIndex((f) => f.type === 'map');
              c[i] = cat(head(5, 2), head(0, k), head(0, 100), head(0, k), head(0, 200));
              return { how: `duplicate map key ${k}`, body: encodeItems(c) };
            }),
          ]
        : []),
    ),
  );
}

/** Every shape of one direction (for suites over "every operation"). */
export const shapesIn = (dir: number): BodyShape[] => BODY_SHAPES.filter((s) => s.dir === dir);
