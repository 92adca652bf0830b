// Opt-in soak (npm run test:soak, or npx vitest run test/codec/codec.soak.test.ts): the codec
// properties of the regular suite with two orders of magnitude more runs and larger inputs.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SerialDeframer, encodeSerialFrame, serialEncodedMaxLen } from '../../shared/src/serial.ts';
import { createCborReader, cborReaderInit, decodeValue, skipItem } from '../../shared/src/cbor.ts';
import { MAX_LINK_FRAME } from '../../shared/src/frame.ts';
import { OK } from '../../shared/src/errors.ts';
import { concat, hex, refSerialFrame } from './helpers.ts';

const RUNS = 20_000;

describe('codec soak', () => {
  it('deframer: any frames, any chunking, with random noise bursts ending at a delimiter', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.uint8Array({ maxLength: MAX_LINK_FRAME, size: 'max' }), fc.uint8Array({ maxLength: 64, size: 'max' })), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.array(fc.nat(), { maxLength: 30, size: 'max' }),
        (items, cuts) => {
          const parts: Uint8Array[] = [];
          for (const [f, noise] of items) parts.push(noise, new Uint8Array([0]), refSerialFrame(f));
          const wire = concat(...parts);
          const got: string[] = [];
          const d = new SerialDeframer(MAX_LINK_FRAME, (b, o, l) => got.push(hex(b.subarray(o, o + l))));
          const pts = [0, ...cuts.map((c) => c % (wire.length + 1)).sort((a, b) => a - b), wire.length];
          for (let i = 1; i < pts.length; i++) if (pts[i] > pts[i - 1]) d.push(wire, pts[i - 1], pts[i] - pts[i - 1]);
          // Every real frame arrives, in order; noise may (rarely, 2^-16 per burst) add a frame.
          const want = items.map(([f]) => hex(f));
          let k = 0;
          for (const g of got) if (k < want.length && g === want[k]) k++;
          expect(k).toBe(want.length);
          expect(got.length - want.length).toBeLessThanOrEqual(items.length);
          expect(d.buf.length).toBe(MAX_LINK_FRAME + 2);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('encodeSerialFrame agrees with the reference on every length up to MAX_LINK_FRAME', () => {
    const out = new Uint8Array(serialEncodedMaxLen(MAX_LINK_FRAME));
    for (let n = 0; n <= MAX_LINK_FRAME; n++) {
      const f = new Uint8Array(n).map((_, i) => ((i * 7 + n) % 5 === 0 ? 0 : (i * 13 + n) & 0xff));
      const m = encodeSerialFrame(f, 0, n, out, 0);
      expect(hex(out.subarray(0, m))).toBe(hex(refSerialFrame(f)));
    }
  });

  it('CBOR decoders never throw and agree on arbitrary bytes', () => {
    const r = createCborReader();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400, size: 'max' }), (b) => {
        const d = decodeValue(b, 0, b.length);
        cborReaderInit(r, b, 0, b.length);
        const s = skipItem(r);
        if (d.err === OK) return s === OK && r.pos === b.length;
        return d.value === null;
      }),
      { numRuns: RUNS * 25 },
    );
  });
});
