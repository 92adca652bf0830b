import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { cobsDecode, cobsEncode, cobsMaxEncodedLen } from '../../shared/src/cobs.ts';
import { ERR_BUFFER, ERR_FRAMING } from '../../shared/src/errors.ts';
import { hex, refCobsEncode, unhex } from './helpers.ts';

/** Expands the "a b ... z" notation of the examples (inclusive byte ranges) into bytes. */
function expand(spec: string): Uint8Array {
  const toks = spec.trim().split(/\s+/);
  const out: number[] = [];
  for (let i = 0; i < toks.length; i++) {
    if (toks[i] === '...') {
      const from = out[out.length - 1] + 1;
      const to = parseInt(toks[++i], 16);
      for (let v = from; v <= to; v++) out.push(v);
    } else out.push(parseInt(toks[i], 16));
  }
  return new Uint8Array(out);
}

// Encoding examples of the Wikipedia article "Consistent Overhead Byte Stuffing" (section
// "Encoding examples"), which follow Cheshire & Baker, "Consistent Overhead Byte Stuffing",
// IEEE/ACM Transactions on Networking 7(2), 1999. The encoded column includes the 0x00 delimiter.
const EXAMPLES: Array<[string, string]> = [
  ['00', '01 01 00'],
  ['00 00', '01 01 01 00'],
  ['00 11 00', '01 02 11 01 00'],
  ['11 22 00 33', '03 11 22 02 33 00'],
  ['11 22 33 44', '05 11 22 33 44 00'],
  ['11 00 00 00', '02 11 01 01 01 00'],
  ['01 02 ... FE', 'FF 01 02 ... FE 00'],
  ['00 01 02 ... FE', '01 FF 01 02 ... FE 00'],
  ['01 02 ... FE FF', 'FF 01 02 ... FE 02 FF 00'],
  ['02 03 ... FE FF 00', 'FF 02 03 ... FE FF 01 01 00'],
  ['03 04 ... FE FF 00 01', 'FE 03 04 ... FE FF 02 01 00'],
];

describe('COBS', () => {
  it.each(EXAMPLES.map((e, i) => [i + 1, e[0], e[1]] as const))('example %i encodes and decodes as published', (_n, raw, enc) => {
    const data = expand(raw);
    const wire = expand(enc);
    const body = wire.subarray(0, wire.length - 1); // our functions leave the delimiter to serial.ts
    expect(wire[wire.length - 1]).toBe(0);
    const out = new Uint8Array(cobsMaxEncodedLen(data.length));
    const n = cobsEncode(data, 0, data.length, out, 0);
    expect(hex(out.subarray(0, n))).toBe(hex(body));
    const back = new Uint8Array(data.length);
    expect(cobsDecode(body, 0, body.length, back, 0)).toBe(data.length);
    expect(hex(back)).toBe(hex(data));
    // The test's reference encoder agrees with the published examples as well.
    expect(hex(refCobsEncode(data))).toBe(hex(body));
  });

  it('round-trips arbitrary data, matches the reference encoder, never emits 0x00 and respects the size bound', () => {
    const zeroHeavy = fc.uint8Array({ maxLength: 800, size: 'max' }).map((a) => a.map((b) => (b < 100 ? 0 : b)));
    const noZero = fc.uint8Array({ minLength: 200, maxLength: 800, size: 'max' }).map((a) => a.map((b) => b | 1));
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 800, size: 'max' }), zeroHeavy, noZero), fc.nat(16), (data, pad) => {
        const out = new Uint8Array(pad + cobsMaxEncodedLen(data.length));
        const n = cobsEncode(data, 0, data.length, out, pad);
        expect(n).toBeGreaterThan(0);
        expect(n).toBeLessThanOrEqual(cobsMaxEncodedLen(data.length));
        const enc = out.subarray(pad, pad + n);
        expect(enc.includes(0)).toBe(false);
        expect(hex(enc)).toBe(hex(refCobsEncode(data)));
        const back = new Uint8Array(data.length + 3);
        expect(cobsDecode(enc, 0, n, back, 3)).toBe(data.length);
        expect(hex(back.subarray(3))).toBe(hex(data));
      }),
      { numRuns: 300 },
    );
  });

  it('decodes in place', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600, size: 'max' }), (data) => {
        const buf = new Uint8Array(cobsMaxEncodedLen(data.length));
        const n = cobsEncode(data, 0, data.length, buf, 0);
        const m = cobsDecode(buf, 0, n, buf, 0);
        return m === data.length && hex(buf.subarray(0, m)) === hex(data);
      }),
    );
  });

  it('refuses malformed input with ERR_FRAMING', () => {
    const out = new Uint8Array(64);
    expect(cobsDecode(new Uint8Array(0), 0, 0, out, 0)).toBe(ERR_FRAMING); // empty: not even a code byte
    expect(cobsDecode(unhex('00'), 0, 1, out, 0)).toBe(ERR_FRAMING); // delimiter as code byte
    expect(cobsDecode(unhex('03 11 00'), 0, 3, out, 0)).toBe(ERR_FRAMING); // delimiter inside a block
    expect(cobsDecode(unhex('05 11 22'), 0, 3, out, 0)).toBe(ERR_FRAMING); // block runs past the end
    expect(cobsDecode(unhex('02 11 04 22'), 0, 4, out, 0)).toBe(ERR_FRAMING); // second block truncated
    expect(cobsDecode(unhex('ff'), 0, 1, out, 0)).toBe(ERR_FRAMING);
  });

  it('reports ERR_BUFFER for a short output or a bad range, and encode leaves out untouched', () => {
    const data = unhex('11 22 00 33');
    const small = new Uint8Array(4).fill(0xaa);
    expect(cobsEncode(data, 0, 4, small, 0)).toBe(ERR_BUFFER);
    expect(hex(small)).toBe('aaaaaaaa');
    expect(cobsEncode(data, 2, 4, new Uint8Array(16), 0)).toBe(ERR_BUFFER);
    expect(cobsDecode(unhex('03 11 22 02 33'), 0, 5, new Uint8Array(3), 0)).toBe(ERR_BUFFER);
    expect(cobsDecode(unhex('03 11 22'), 0, 9, new Uint8Array(8), 0)).toBe(ERR_BUFFER);
    expect(cobsDecode(unhex('03 11 22'), -1, 2, new Uint8Array(8), 0)).toBe(ERR_BUFFER);
  });

  it('never throws on arbitrary input and decodes only what it can re-encode', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600, size: 'max' }), fc.nat(700), (junk, outLen) => {
        const out = new Uint8Array(outLen);
        const n = cobsDecode(junk, 0, junk.length, out, 0);
        if (n < 0) return n === ERR_FRAMING || n === ERR_BUFFER;
        // Accepted input is a valid encoding of what it decoded to (up to the optional trailing
        // 0x01 after a final full block, the only redundancy COBS has).
        const re = refCobsEncode(out.subarray(0, n));
        return hex(re) === hex(junk) || hex(re) + '01' === hex(junk);
      }),
      { numRuns: 500 },
    );
  });
});
