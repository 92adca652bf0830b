// readHead (the meter's only CBOR reader, with its own copy of the head rules) against an
// independent head parser written here from RFC 8949 §3 and the subset rules of PROTOCOL.md §10,
// on every initial byte with chosen argument tails and on random and hostile byte strings.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  CBOR_ARRAY,
  CBOR_BYTES,
  CBOR_MAP,
  CBOR_MAX_INT,
  CBOR_TEXT,
  CBOR_UINT,
  createCborReader,
  cborReaderInit,
  readHead,
} from '../../shared/src/cbor.ts';
import { ERR_CBOR } from '../../shared/src/errors.ts';

/** The five major types readHead serves, plus ones it must refuse. */
const MAJORS = [CBOR_UINT, 1, CBOR_BYTES, CBOR_TEXT, CBOR_ARRAY, CBOR_MAP, 6, 7];

interface Expect {
  ret: number;
  pos: number;
  value?: number;
  dataOff?: number;
}

/**
 * RFC 8949 §3.1: initial byte = major (3 bits) ‖ additional info (5 bits); ai < 24 is the argument,
 * 24/25/26/27 announce 1/2/4/8 big-endian argument bytes, 28–31 are reserved or indefinite (not in
 * the subset). The subset takes arguments up to 2^53 − 1 and only majors 0, 2, 3, 4, 5 here; a
 * string needs its content, an array one byte per item, a map two per pair.
 */
function oracle(buf: Uint8Array, off: number, len: number, major: number): Expect {
  const end = off + len;
  const fail: Expect = { ret: ERR_CBOR, pos: off };
  if (len < 1) return fail;
  const ib = buf[off];
  if (ib >> 5 !== major || ![0, 2, 3, 4, 5].includes(major)) return fail;
  const ai = ib & 0x1f;
  let p = off + 1;
  let arg: bigint;
  if (ai < 24) arg = BigInt(ai);
  else if (ai <= 27) {
    const n = { 24: 1, 25: 2, 26: 4, 27: 8 }[ai]!;
    if (end - p < n) return fail;
    arg = 0n;
    for (let i = 0; i < n; i++) arg = (arg << 8n) | BigInt(buf[p + i]);
    p += n;
  } else return fail;
  if (arg > BigInt(CBOR_MAX_INT)) return fail;
  const a = Number(arg);
  const need = major === 0 ? 0 : major === 5 ? 2 * a : a;
  if (need > end - p) return fail;
  if (major === 0) return { ret: a, pos: p, value: a };
  if (major === 2 || major === 3) return { ret: a, pos: p + a, dataOff: p };
  return { ret: a, pos: p };
}

function check(buf: Uint8Array, off: number, len: number): void {
  const r = createCborReader();
  for (const major of MAJORS) {
    expect(cborReaderInit(r, buf, off, len)).toBe(0);
    r.value = -7;
    r.dataOff = -7;
    const want = oracle(buf, off, len, major);
    const got = readHead(r, major);
    // Compare first, call expect only on a mismatch (hundreds of thousands of cases).
    const same =
      got === want.ret &&
      r.pos === want.pos &&
      (want.value === undefined || r.value === want.value) &&
      (want.dataOff === undefined || r.dataOff === want.dataOff);
    if (!same) {
      const where = `major ${major} on ${Buffer.from(buf.subarray(off, off + len)).toString('hex')}`;
      expect({ ret: got, pos: r.pos, value: r.value, dataOff: r.dataOff }, where).toMatchObject(want);
    }
  }
}

describe('readHead against an independent RFC 8949 head parser', () => {
  it('every initial byte, with argument tails at the size limits and cut short', () => {
    const tails = [
      [],
      [0],
      [0xff],
      [0, 0],
      [0xff, 0xff],
      [0, 0, 0, 1],
      [0xff, 0xff, 0xff, 0xff],
      [0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // 2^53 − 1
      [0, 0x20, 0, 0, 0, 0, 0, 0], // 2^53
      [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
      [0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6],
    ];
    for (let ib = 0; ib < 256; ib++) {
      for (const t of tails) {
        for (let cut = 0; cut <= t.length; cut++) {
          const b = new Uint8Array([0xaa, ib, ...t.slice(0, cut), 0xbb]);
          check(b, 1, 1 + cut); // region excludes the guard bytes on both sides
        }
      }
    }
  });

  it('random and hostile byte strings in a region of a larger buffer', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 40 }), fc.nat(4), fc.nat(4), (bytes, pre, post) => {
        const b = new Uint8Array(pre + bytes.length + post).fill(0x18);
        b.set(bytes, pre);
        check(b, pre, bytes.length);
      }),
      { numRuns: 5000 },
    );
  });
});
