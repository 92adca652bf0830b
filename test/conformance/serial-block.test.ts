// writeSerialFrame (block-wise serial encoder) against encodeSerialFrame: the concatenation of its
// writes must be byte-identical for every frame length up to MAX_LINK_FRAME and every scratch size
// from SERIAL_BLOCK_MIN up; each write but the last fills scratch; a frame whose encoding fits goes
// out in one write. encodeSerialFrame itself is checked against an independent COBS reference and
// a CRC reference in test/codec (serial.test.ts, codec.soak.test.ts); the round trip through
// SerialDeframer below checks the block-wise output end to end as well.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAX_LINK_FRAME } from '../../shared/src/frame.ts';
import { crc16 } from '../../shared/src/crc16.ts';
import { ERR_BUFFER } from '../../shared/src/errors.ts';
import { SERIAL_BLOCK_MIN, SerialDeframer, encodeSerialFrame, serialEncodedMaxLen, writeSerialFrame } from '../../shared/src/serial.ts';

/** Encodes with writeSerialFrame, recording a copy of every chunk handed to out.write. */
function blockwise(frame: Uint8Array, off: number, len: number, scratch: Uint8Array) {
  const chunks: Uint8Array[] = [];
  const r = writeSerialFrame(frame, off, len, scratch, { write: (d) => void chunks.push(d.slice()) });
  const all = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let p = 0;
  for (const c of chunks) {
    all.set(c, p);
    p += c.length;
  }
  return { r, chunks, all };
}

function reference(frame: Uint8Array, off: number, len: number): Uint8Array {
  const out = new Uint8Array(serialEncodedMaxLen(len));
  const n = encodeSerialFrame(frame, off, len, out, 0);
  expect(n).toBeGreaterThan(0);
  return out.subarray(0, n);
}

/** Checks one (frame, scratch size) case completely. */
function check(frame: Uint8Array, off: number, len: number, cap: number): void {
  const want = reference(frame, off, len);
  const scratch = new Uint8Array(cap);
  const { r, chunks, all } = blockwise(frame, off, len, scratch);
  expect(r).toBe(want.length);
  if (Buffer.compare(all, want) !== 0) expect(all).toEqual(want); // toEqual only to show the diff
  // Every write but the last is a full scratch; none is empty.
  let notFull = 0;
  for (let k = 0; k < chunks.length - 1; k++) if (chunks[k].length !== cap) notFull++;
  expect(notFull).toBe(0);
  expect(chunks[chunks.length - 1].length).toBeGreaterThan(0);
  expect(chunks.length).toBe(Math.ceil(want.length / cap));
  if (want.length <= cap) expect(chunks.length).toBe(1);
}

/** Frames that stress COBS: zero runs, long non-zero runs across the 254-byte block limit, random. */
function patterned(len: number, kind: number, seed: number): Uint8Array {
  const f = new Uint8Array(len);
  let x = seed | 1;
  for (let i = 0; i < len; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    const r = x >>> 24;
    if (kind === 0)
      f[i] = r; // random: a zero about every 256 bytes
    else if (kind === 1) f[i] = 0;
    else if (kind === 2)
      f[i] = (r % 255) + 1; // no zero at all: full 0xFF blocks
    else f[i] = r < 40 ? 0 : r; // dense zeros
  }
  return f;
}

const BLOCK_MIN_SIZES = [SERIAL_BLOCK_MIN, SERIAL_BLOCK_MIN + 1, 7, 64, 253, 254, 255, 256, 257, 509, 1100];

describe('writeSerialFrame', () => {
  it('SERIAL_BLOCK_MIN is a small positive size', () => {
    expect(SERIAL_BLOCK_MIN).toBeGreaterThanOrEqual(1);
    expect(SERIAL_BLOCK_MIN).toBeLessThanOrEqual(256);
  });

  it('equals encodeSerialFrame on every length 0..MAX_LINK_FRAME (four data patterns, several scratch sizes)', () => {
    for (let len = 0; len <= MAX_LINK_FRAME; len++) {
      const kind = len & 3;
      const f = patterned(len, kind, len * 7919 + 1);
      // Rotate through the scratch sizes so every length meets several sizes without a quadratic run.
      for (let s = 0; s < 3; s++) check(f, 0, len, BLOCK_MIN_SIZES[(len + s * 4) % BLOCK_MIN_SIZES.length]);
      // The whole encoding in exactly one write.
      check(f, 0, len, serialEncodedMaxLen(len));
    }
  });

  it('equals encodeSerialFrame for random frames, offsets and scratch sizes (property)', () => {
    const frameArb = fc.oneof(
      fc.uint8Array({ minLength: 0, maxLength: MAX_LINK_FRAME, size: 'max' }),
      fc.uint8Array({ minLength: 0, maxLength: 600 }),
      // Mostly zeros / mostly non-zero, to hit short and full COBS blocks.
      fc.array(fc.constantFrom(0, 0, 0, 1, 0xff), { minLength: 0, maxLength: MAX_LINK_FRAME, size: 'max' }).map((a) => Uint8Array.from(a)),
      fc.array(fc.integer({ min: 1, max: 255 }), { minLength: 0, maxLength: MAX_LINK_FRAME, size: 'max' }).map((a) => Uint8Array.from(a)),
    );
    fc.assert(
      fc.property(frameArb, fc.nat(40), fc.nat(40), fc.integer({ min: SERIAL_BLOCK_MIN, max: 1300 }), (body, pre, post, cap) => {
        // Place the frame at an offset inside a larger buffer with guard bytes around it.
        const buf = new Uint8Array(pre + body.length + post).fill(0xa5);
        buf.set(body, pre);
        check(buf, pre, body.length, cap);
      }),
      { numRuns: 300 },
    );
  });

  it('handles CRC bytes that are zero right after a full block and at the very end', () => {
    // Find frames of non-zero bytes whose CRC has a zero high or low byte, at lengths around the
    // 254-byte block limit, so the CRC's zero lands on or right after a block boundary.
    let found = 0;
    for (const len of [0, 1, 252, 253, 254, 255, 507, 508]) {
      for (const which of [0, 1]) {
        const f = patterned(len + 1, 2, len + 17 * which).subarray(0, len + 1);
        // Vary the first byte (non-zero) until the wanted CRC byte is zero; the last data byte keeps its place.
        let hit = false;
        for (let a = 1; a < 256 && !hit; a++) {
          for (let b = 1; b < 256 && !hit; b++) {
            f[0] = a;
            if (len >= 1) f[1] = b;
            const c = crc16(f, 0, len + 1);
            hit = which === 0 ? c >>> 8 === 0 : (c & 0xff) === 0;
          }
        }
        if (!hit) continue;
        found++;
        for (const cap of BLOCK_MIN_SIZES) check(f, 0, len + 1, cap);
      }
    }
    expect(found).toBeGreaterThanOrEqual(12);
  });

  it('round-trips through SerialDeframer chunk by chunk', () => {
    const de = new SerialDeframer(MAX_LINK_FRAME);
    const f = patterned(MAX_LINK_FRAME, 0, 99);
    let got = -1;
    const r = writeSerialFrame(f, 0, f.length, new Uint8Array(100), {
      write: (d) => {
        const used = de.push(d, 0, d.length);
        if (de.frameLen >= 0) {
          got = de.frameLen;
          expect(used).toBe(d.length); // the delimiter is the last byte of the last chunk
        }
      },
    });
    expect(r).toBe(reference(f, 0, f.length).length);
    expect(got).toBe(f.length);
    expect(de.buf.subarray(0, got)).toEqual(f);
  });

  it('refuses a bad range or a too small scratch with ERR_BUFFER and writes nothing', () => {
    const f = new Uint8Array(10).fill(3);
    const cases: [number, number, number][] = [
      [-1, 5, 16],
      [0, -1, 16],
      [3, 8, 16],
      [0, 11, 16],
      [NaN, 1, 16],
      [0, NaN, 16],
      [0.5, 1, 16],
      [0, 1.5, 16],
      [Infinity, 0, 16],
      [0, Infinity, 16],
      [0, 5, SERIAL_BLOCK_MIN - 1],
    ];
    for (const [off, len, cap] of cases) {
      let calls = 0;
      expect(writeSerialFrame(f, off, len, new Uint8Array(Math.max(cap, 0)), { write: () => void calls++ })).toBe(ERR_BUFFER);
      expect(calls).toBe(0);
    }
  });
});

describe('writeSerialFrame when the CRC has a zero byte', () => {
  // The block after a zero CRC-high byte starts inside the CRC trailer; a version that searched the
  // frame for it moved backwards there and never returned (seen: this test hung on 88092e2).
  it('equals encodeSerialFrame for frames whose CRC-16 high or low byte is 0, every scratch size', () => {
    let highZero = 0;
    let lowZero = 0;
    for (let seed = 0; highZero < 3 || lowZero < 3; seed++) {
      const frame = new Uint8Array(20 + (seed % 50));
      for (let i = 0; i < frame.length; i++) frame[i] = (seed * 131 + i * 29 + ((i * i) % 7)) & 0xff;
      const c = crc16(frame, 0, frame.length);
      if ((c >>> 8 !== 0 || highZero >= 3) && ((c & 0xff) !== 0 || lowZero >= 3)) continue;
      if (c >>> 8 === 0) highZero++;
      else lowZero++;
      const want = new Uint8Array(serialEncodedMaxLen(frame.length));
      const n = encodeSerialFrame(frame, 0, frame.length, want, 0);
      for (let cap = 1; cap <= n + 1; cap++) {
        const got: number[] = [];
        let writes = 0;
        const r = writeSerialFrame(frame, 0, frame.length, new Uint8Array(cap), {
          write(d) {
            if (++writes > 4 * n) throw new Error('no progress');
            got.push(...d);
          },
        });
        expect(r).toBe(n);
        expect(Buffer.from(got).equals(Buffer.from(want.subarray(0, n)))).toBe(true);
      }
    }
  });
});
