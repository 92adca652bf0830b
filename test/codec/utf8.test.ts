// The hand-written UTF-8 of cbor.ts (Espruino has no TextEncoder/TextDecoder) against Node's
// Buffer and its strict (fatal) TextDecoder.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { utf8Decode, utf8Encode, utf8Length, utf8Validate } from '../../shared/src/cbor.ts';
import { ERR_CBOR, OK } from '../../shared/src/errors.ts';
import { hex } from './helpers.ts';

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function strictOk(b: Uint8Array): boolean {
  try {
    strict.decode(b);
    return true;
  } catch {
    return false;
  }
}

describe('UTF-8', () => {
  it('encodes well-formed strings exactly as Buffer does', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60, size: 'max' }), (s) => {
        const ref = Buffer.from(s, 'utf8');
        expect(utf8Length(s)).toBe(ref.length);
        const out = new Uint8Array(ref.length + 2);
        expect(utf8Encode(s, out, 2)).toBe(ref.length + 2);
        expect(hex(out.subarray(2))).toBe(ref.toString('hex'));
      }),
      { numRuns: 1000 },
    );
  });

  it('decodes what Buffer encodes back to the same string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60, size: 'max' }), (s) => {
        const b = new Uint8Array(Buffer.from(s, 'utf8'));
        expect(utf8Validate(b, 0, b.length)).toBe(OK);
        expect(utf8Decode(b, 0, b.length)).toBe(s);
      }),
      { numRuns: 1000 },
    );
  });

  it('accepts exactly the byte strings a strict decoder accepts, and decodes them identically', () => {
    const bytesArb = fc.oneof(
      fc.uint8Array({ maxLength: 24, size: 'max' }),
      // Bias toward multi-byte lead and continuation bytes, where the edge cases are.
      fc
        .array(
          fc.constantFrom(0x41, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff),
          { maxLength: 12, size: 'max' },
        )
        .map((a) => new Uint8Array(a)),
    );
    fc.assert(
      fc.property(bytesArb, (b) => {
        const ok = strictOk(b);
        expect(utf8Validate(b, 0, b.length) === OK).toBe(ok);
        if (ok) expect(utf8Decode(b, 0, b.length)).toBe(strict.decode(b));
      }),
      { numRuns: 5000 },
    );
  });

  it('refuses lone surrogates, which have no UTF-8 form', () => {
    for (const s of ['\ud800', 'a\udc00', '\ud83d', '\ud83dx', '\ude00\ud83d']) {
      expect(utf8Length(s)).toBe(ERR_CBOR);
      expect(utf8Encode(s, new Uint8Array(16), 0)).toBe(ERR_CBOR);
    }
    expect(utf8Length('\ud83d\ude00')).toBe(4);
  });
});
