import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CRC16_INIT, crc16, crc16Update } from '../../shared/src/crc16.ts';
import { refCrc16 } from './helpers.ts';

describe('CRC-16/CCITT-FALSE', () => {
  // Catalogue of parametrised CRC algorithms (Greg Cook, reveng.sourceforge.io/crc-catalogue/16.htm),
  // entry CRC-16/IBM-3740 (alias CRC-16/AUTOSAR, CRC-16/CCITT-FALSE):
  // width=16 poly=0x1021 init=0xffff refin=false refout=false xorout=0x0000 check=0x29b1 residue=0x0000
  it('has the catalogue check value 0x29B1 for ASCII "123456789"', () => {
    const msg = new TextEncoder().encode('123456789');
    expect(crc16(msg, 0, msg.length)).toBe(0x29b1);
    expect(refCrc16(msg)).toBe(0x29b1); // the test's bitwise reference agrees with the catalogue too
  });

  it('has the catalogue residue 0x0000: a message followed by its CRC (big-endian) checks to zero', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300, size: 'max' }), (m) => {
        const c = crc16(m, 0, m.length);
        const w = new Uint8Array(m.length + 2);
        w.set(m);
        w[m.length] = c >>> 8;
        w[m.length + 1] = c & 0xff;
        return crc16(w, 0, w.length) === 0;
      }),
    );
  });

  it('of no bytes is the initial value', () => {
    expect(crc16(new Uint8Array(0), 0, 0)).toBe(CRC16_INIT);
  });

  it('matches a bit-by-bit implementation of the catalogue parameters on random data and offsets', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600, size: 'max' }), fc.nat(), fc.nat(), (m, a, b) => {
        const off = m.length === 0 ? 0 : a % m.length;
        const len = m.length - off === 0 ? 0 : b % (m.length - off + 1);
        return crc16(m, off, len) === refCrc16(m.subarray(off, off + len));
      }),
      { numRuns: 300 },
    );
  });

  it('can be computed incrementally over any split', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200, size: 'max' }), fc.nat(), (m, s) => {
        const cut = m.length === 0 ? 0 : s % (m.length + 1);
        const part = crc16Update(CRC16_INIT, m, 0, cut);
        return crc16Update(part, m, cut, m.length - cut) === crc16(m, 0, m.length);
      }),
    );
  });

  it('detects every single-bit error in a 64-byte message', () => {
    const m = new Uint8Array(64).map((_, i) => (i * 37 + 11) & 0xff);
    const good = crc16(m, 0, m.length);
    for (let bit = 0; bit < m.length * 8; bit++) {
      m[bit >> 3] ^= 1 << (bit & 7);
      expect(crc16(m, 0, m.length)).not.toBe(good);
      m[bit >> 3] ^= 1 << (bit & 7);
    }
  });
});
