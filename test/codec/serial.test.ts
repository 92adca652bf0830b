import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SerialDeframer, encodeSerialFrame, serialEncodedMaxLen } from '../../shared/src/serial.ts';
import { cobsDecode } from '../../shared/src/cobs.ts';
import { ERR_BUFFER, ERR_CRC, ERR_FRAMING, ERR_LENGTH, ERR_OVERSIZE, OK } from '../../shared/src/errors.ts';
import { MAX_LINK_FRAME, createHeader, isResidueEscape, parseHeader } from '../../shared/src/frame.ts';
import fs from 'node:fs';
import path from 'node:path';
import { concat, hex, refCrc16, refSerialFrame, unhex } from './helpers.ts';

const MAX = 300; // small limit for fast property runs; one test uses the real MAX_LINK_FRAME

function encode(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(serialEncodedMaxLen(frame.length));
  const n = encodeSerialFrame(frame, 0, frame.length, out, 0);
  expect(n).toBeGreaterThan(0);
  return out.subarray(0, n);
}

/** Collects delivered frames (copied: the deframer's buffer is reused) and the deframer. */
function collector(max: number) {
  const got: string[] = [];
  const d = new SerialDeframer(max, (buf, off, len) => {
    got.push(hex(buf.subarray(off, off + len)));
  });
  return { d, got };
}

/** Feeds `wire` split at the given cut points. */
function feed(d: SerialDeframer, wire: Uint8Array, cuts: number[]): void {
  const pts = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
  let prev = 0;
  for (const p of [...pts, wire.length]) {
    if (p > prev) expect(d.push(wire, prev, p - prev)).toBe(p - prev);
    prev = Math.max(prev, p);
  }
}

/** Poll-mode driver: pushes chunks, collecting frames whenever push stops early. */
function feedPoll(d: SerialDeframer, chunks: Uint8Array[]): string[] {
  const got: string[] = [];
  for (const c of chunks) {
    let off = 0;
    while (off < c.length) {
      const n = d.push(c, off, c.length - off);
      expect(n).toBeGreaterThan(0);
      off += n;
      if (d.frameLen >= 0) got.push(hex(d.buf.subarray(0, d.frameLen)));
      else expect(off).toBe(c.length);
    }
  }
  return got;
}

/** True if `bytes` (one packet, no delimiter) happens to be a valid frame encoding by itself. */
function isValidPacket(bytes: Uint8Array): boolean {
  if (bytes.length === 0) return false;
  const out = new Uint8Array(bytes.length);
  const n = cobsDecode(bytes, 0, bytes.length, out, 0);
  if (n < 2) return false;
  return refCrc16(out.subarray(0, n - 2)) === ((out[n - 2] << 8) | out[n - 1]);
}

const frameArb = (max: number) =>
  fc.oneof(
    fc.uint8Array({ maxLength: max, size: 'max' }),
    fc.uint8Array({ maxLength: max, size: 'max' }).map((a) => a.map((b) => (b < 64 ? 0 : b))),
    fc.uint8Array({ minLength: Math.min(250, max), maxLength: max, size: 'max' }).map((a) => a.map((b) => b | 1)),
  );

describe('encodeSerialFrame', () => {
  it('produces COBS(frame ‖ CRC16 big-endian) ‖ 0x00 exactly as the reference pieces do', () => {
    fc.assert(
      fc.property(frameArb(MAX_LINK_FRAME), (f) => hex(encode(f)) === hex(refSerialFrame(f))),
      { numRuns: 200 },
    );
  });

  it('refuses a short output buffer or bad range with ERR_BUFFER and writes nothing', () => {
    const f = unhex('83 00 01 18 2a');
    const out = new Uint8Array(serialEncodedMaxLen(f.length) - 1).fill(0xee);
    expect(encodeSerialFrame(f, 0, f.length, out, 0)).toBe(ERR_BUFFER);
    expect(out.every((b) => b === 0xee)).toBe(true);
    expect(encodeSerialFrame(f, 3, 5, new Uint8Array(64), 0)).toBe(ERR_BUFFER);
    expect(encodeSerialFrame(f, 0, 5, new Uint8Array(64), -1)).toBe(ERR_BUFFER);
  });
});

describe('SerialDeframer', () => {
  it('delivers back-to-back frames, empty frames included, in order', () => {
    const frames = [unhex('01 02 03'), new Uint8Array(0), unhex('00 00 00'), unhex('ff'), new Uint8Array(0)];
    const { d, got } = collector(MAX);
    const wire = concat(...frames.map(encode));
    expect(d.push(wire, 0, wire.length)).toBe(wire.length);
    expect(got).toEqual(frames.map(hex));
    expect([d.frames, d.crcErrors, d.framingErrors, d.oversize, d.lastError]).toEqual([5, 0, 0, 0, OK]);
  });

  it('round-trips every frame up to the limit under any chunking (callback and poll mode)', () => {
    fc.assert(
      fc.property(fc.array(frameArb(MAX), { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 12, size: 'max' }), (frames, cuts) => {
        const wire = concat(...frames.map(encode));
        const { d, got } = collector(MAX);
        feed(d, wire, cuts);
        expect(got).toEqual(frames.map(hex));
        expect(d.crcErrors + d.framingErrors + d.oversize).toBe(0);
        // Poll mode over the same chunking.
        const p = new SerialDeframer(MAX);
        const pts = [0, ...cuts.map((c) => c % (wire.length + 1)).sort((a, b) => a - b), wire.length];
        const chunks = [];
        for (let i = 1; i < pts.length; i++) if (pts[i] > pts[i - 1]) chunks.push(wire.subarray(pts[i - 1], pts[i]));
        expect(feedPoll(p, chunks)).toEqual(frames.map(hex));
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips frames of any length up to MAX_LINK_FRAME under any chunking', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb(MAX_LINK_FRAME), { minLength: 1, maxLength: 3 }),
        fc.array(fc.nat(), { maxLength: 20, size: 'max' }),
        (frames, cuts) => {
          const wire = concat(...frames.map(encode));
          const { d, got } = collector(MAX_LINK_FRAME);
          feed(d, wire, cuts);
          expect(got).toEqual(frames.map(hex));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('handles frames of exactly MAX_LINK_FRAME bytes and refuses one byte more', () => {
    const big = new Uint8Array(MAX_LINK_FRAME).map((_, i) => (i % 7 === 0 ? 0 : i & 0xff));
    const over = new Uint8Array(MAX_LINK_FRAME + 1).fill(0x55);
    const { d, got } = collector(MAX_LINK_FRAME);
    const wire = concat(encode(big), encode(over), encode(big));
    d.push(wire, 0, wire.length);
    expect(got).toEqual([hex(big), hex(big)]);
    expect(d.oversize).toBe(1);
    expect(d.lastError).toBe(ERR_OVERSIZE);
  });

  it('drops line noise between frames, counts it, and resynchronises at the next 0x00', () => {
    const noiseArb = fc
      .uint8Array({ minLength: 1, maxLength: 80, size: 'max' })
      .map((a) => a.map((b) => (b === 0 ? 1 : b)))
      .filter((n) => !isValidPacket(n));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(frameArb(120), noiseArb), { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 8, size: 'max' }),
        (items, cuts) => {
          // noise ‖ 0x00 ‖ frame ‖ ... : each noise burst ends at a delimiter (as a silent line does).
          const parts: Uint8Array[] = [];
          for (const [f, n] of items) parts.push(n, new Uint8Array([0]), encode(f));
          const wire = concat(...parts);
          const { d, got } = collector(MAX);
          feed(d, wire, cuts);
          expect(got).toEqual(items.map(([f]) => hex(f)));
          expect(d.crcErrors + d.framingErrors + d.oversize).toBe(items.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('classifies bad packets: ERR_CRC for a wrong checksum, ERR_FRAMING for broken COBS or no room for a CRC', () => {
    const { d, got } = collector(MAX);
    const good = encode(unhex('10 20 30'));
    const badCrc = good.slice();
    badCrc[2] ^= 0x01; // a data byte
    d.push(badCrc, 0, badCrc.length);
    expect([d.crcErrors, d.lastError]).toEqual([1, ERR_CRC]);
    const truncated = unhex('05 11 22 00'); // block announces 4 data bytes, delimiter after 2
    d.push(truncated, 0, truncated.length);
    expect([d.framingErrors, d.lastError]).toEqual([1, ERR_FRAMING]);
    const tooShort = unhex('02 11 00'); // decodes to one byte: no CRC
    d.push(tooShort, 0, tooShort.length);
    expect(d.framingErrors).toBe(2);
    const idle = unhex('00 00 00'); // empty packets are idle line, not errors
    d.push(idle, 0, idle.length);
    expect(d.framingErrors + d.crcErrors).toBe(3);
    d.push(good, 0, good.length);
    expect(got).toEqual(['102030']);
  });

  it('never accepts a different frame after any single bit flip on the line', () => {
    const frames = [
      unhex('01'),
      new Uint8Array(0),
      new Uint8Array(40).map((_, i) => (i % 5 === 0 ? 0 : 0x40 + i)),
      new Uint8Array(300).map((_, i) => (i * 29 + 3) & 0xff),
    ];
    const before = encode(unhex('aa bb'));
    const after = encode(unhex('cc dd'));
    for (const f of frames) {
      const mid = encode(f);
      for (let bit = 0; bit < mid.length * 8; bit++) {
        const flipped = mid.slice();
        flipped[bit >> 3] ^= 1 << (bit & 7);
        const wire = concat(before, flipped, after);
        const { d, got } = collector(MAX);
        d.push(wire, 0, wire.length);
        // The frame before is untouched; the flipped frame is never delivered, neither as itself
        // nor as anything else; only the frame after may be lost (when the delimiter was hit).
        expect(got[0]).toBe('aabb');
        for (const g of got.slice(1)) expect(g).toBe('ccdd');
        expect(d.crcErrors + d.framingErrors + d.oversize).toBeGreaterThan(0);
      }
    }
  });

  it('after a single bit flip followed by idle line, only the residue-0 escape gets through, and the receiver tells it from a forgery', () => {
    // CRC-16/CCITT-FALSE has residue 0: frame ‖ CRC ‖ 0x00 checks again. Flipping bit 0 of the
    // delimiter (0x00 -> 0x01) and then an idle 0x00 on the line delivers frame ‖ CRC-high-byte.
    // Every other single-bit flip must be refused. A backhaul escape is longer than its header says,
    // so parseHeader refuses it with ERR_LENGTH before any cryptography; a radio frame has no length
    // field, so its escape is recognised by its last byte (isResidueEscape, PROTOCOL.md §9).
    const load = (f: string) => JSON.parse(fs.readFileSync(path.resolve(__dirname, '../vectors/' + f), 'utf8'));
    const radio: Uint8Array[] = load('link.json').frames.map((v: { frame: string }) => unhex(v.frame));
    const backhaul: Uint8Array[] = load('backhaul.json').frames.map((v: { frame: string }) => unhex(v.frame));
    const frames: Uint8Array[] = [...radio, ...backhaul];
    const linkFrames = frames.length;
    frames.push(
      new Uint8Array(0),
      unhex('01'),
      new Uint8Array(300).map((_, i) => (i * 29 + 3) & 0xff),
    );
    const hdr = createHeader();
    for (let fi = 0; fi < frames.length; fi++) {
      const f = frames[fi];
      const mid = encode(f);
      const crcHi = refCrc16(f) >> 8;
      const escape = hex(concat(f, new Uint8Array([crcHi])));
      for (let bit = 0; bit < mid.length * 8; bit++) {
        const flipped = mid.slice();
        flipped[bit >> 3] ^= 1 << (bit & 7);
        const { d, got } = collector(MAX_LINK_FRAME);
        const wire = concat(flipped, new Uint8Array([0]));
        d.push(wire, 0, wire.length);
        if (bit === (mid.length - 1) * 8) {
          expect(got).toEqual([escape]);
          if (fi < linkFrames) {
            expect(parseHeader(f, 0, f.length, hdr)).toBe(OK);
            const esc = unhex(escape);
            if (fi >= radio.length) expect(parseHeader(esc, 0, f.length + 1, hdr)).toBe(ERR_LENGTH);
            else expect(isResidueEscape(esc, 0, esc.length)).toBe(true);
            expect(isResidueEscape(f, 0, f.length)).toBe(false); // (these vectors' last byte is not their CRC's high byte)
          }
        } else {
          expect(got).toEqual([]);
          expect(d.crcErrors + d.framingErrors + d.oversize).toBeGreaterThan(0);
        }
      }
    }
  });

  it('never grows its buffer under an oversize flood and recovers right after it', () => {
    const { d, got } = collector(MAX);
    const buf = d.buf;
    const flood = new Uint8Array(1 << 20).fill(0x7f); // 1 MiB without a delimiter
    for (let i = 0; i < 4; i++) d.push(flood, 0, flood.length);
    expect(d.buf).toBe(buf);
    expect(d.buf.length).toBe(MAX + 2);
    expect(d.oversize).toBe(1); // one packet, counted once
    const tail = concat(new Uint8Array([0]), encode(unhex('42')));
    d.push(tail, 0, tail.length);
    expect(got).toEqual(['42']);
    // A flood of random bytes (with delimiters) also leaves the buffer as it was.
    const rnd = new Uint8Array(1 << 18);
    for (let i = 0; i < rnd.length; i++) rnd[i] = (Math.imul(i, 2654435761) >>> 24) & 0xff;
    d.push(rnd, 0, rnd.length);
    expect(d.buf).toBe(buf);
  });

  it('never throws and keeps consistent counters on arbitrary bytes in arbitrary chunks', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 400, size: 'max' }), { maxLength: 8 }), fc.boolean(), (chunks, poll) => {
        const d = poll ? new SerialDeframer(64) : new SerialDeframer(64, () => {});
        let delivered = 0;
        for (const c of chunks) {
          let off = 0;
          while (off < c.length) {
            const n = d.push(c, off, c.length - off);
            if (n <= 0) return false;
            off += n;
            if (d.frameLen >= 0) {
              delivered++;
              if (d.frameLen > 64) return false;
            }
          }
        }
        const zeros = chunks.reduce((s, c) => s + c.filter((b) => b === 0).length, 0);
        if (poll && delivered !== d.frames) return false;
        // Each packet is counted at most once: packets end at a 0x00, except the last one, which may
        // already have been counted as oversize while still open.
        return d.frames + d.crcErrors + d.framingErrors + d.oversize <= zeros + 1 && d.buf.length === 66;
      }),
      { numRuns: 500 },
    );
  });

  it('ignores invalid push ranges and drops a partial packet on reset()', () => {
    const { d, got } = collector(MAX);
    const w = encode(unhex('0102'));
    expect(d.push(w, 0, 0)).toBe(0);
    expect(d.push(w, -1, 2)).toBe(0);
    expect(d.push(w, 2, w.length)).toBe(0);
    d.push(w, 0, 3);
    d.reset();
    d.push(w, 3, w.length - 3); // the rest of a packet whose start was dropped: refused, not delivered
    d.push(w, 0, w.length);
    expect(got).toEqual(['0102']);
    expect(d.crcErrors + d.framingErrors).toBe(1);
  });
});
