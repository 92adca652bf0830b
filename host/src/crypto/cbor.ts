// Plain CBOR (RFC 8949) for host files and bodies: byte strings as major type 2 (no typed-array tags),
// maps as real maps, integers above 2^32 as major type 0/1 (cbor-x would write them as floats).
import { Encoder } from 'cbor-x';

const codec = new Encoder({
  tagUint8Array: false,
  useRecords: false,
  variableMapSize: true,
  useTag259ForMaps: false,
  mapsAsObjects: false,
  int64AsType: 'number',
} as ConstructorParameters<typeof Encoder>[0]);

/** A CBOR value as the host handles it. */
export type CborValue = number | bigint | string | boolean | null | Uint8Array | CborValue[] | Map<number | string, CborValue>;

function normalize(v: CborValue): unknown {
  if (typeof v === 'number') {
    if (Number.isInteger(v) && (v > 0xffffffff || v < -0x100000000)) return BigInt(v);
    return v;
  }
  if (Array.isArray(v)) return v.map(normalize);
  if (v instanceof Map) {
    const m = new Map<unknown, unknown>();
    for (const [k, x] of v) m.set(k, normalize(x));
    return m;
  }
  return v;
}

/** Encodes a value as plain CBOR (definite lengths, bstr for byte arrays, integers as integers). */
export function cborEncode(v: CborValue): Uint8Array {
  const b = codec.encode(normalize(v));
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength).slice();
}

/** Decodes one CBOR item; throws a TypeError on malformed input or trailing bytes. The caller validates the shape. */
export function cborDecode(b: Uint8Array): unknown {
  let v: unknown;
  try {
    v = codec.decode(b);
  } catch (e) {
    throw new TypeError(`malformed CBOR: ${(e as Error).message}`);
  }
  return fix(v);
}

function fix(v: unknown): unknown {
  if (typeof v === 'bigint') {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(-Number.MAX_SAFE_INTEGER)) throw new TypeError('CBOR integer beyond 2^53');
    return Number(v);
  }
  if (Array.isArray(v)) return v.map(fix);
  if (v instanceof Map) {
    const m = new Map<unknown, unknown>();
    for (const [k, x] of v) m.set(k, fix(x));
    return m;
  }
  if (v instanceof Uint8Array) return new Uint8Array(v);
  return v;
}
