// Byte helpers of shared/src/utils.ts, checked against Node's Buffer/DataView (independent code).
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bytesToHex, equalBytes, hexToBytes, readU16BE, readU32BE, wipe, writeU16BE, writeU32BE } from '../../shared/src/utils.ts';

describe('hex', () => {
  it('round-trips against Buffer', () => {
    for (let n = 0; n < 40; n++) {
      const b = new Uint8Array(randomBytes(n));
      const hex = Buffer.from(b).toString('hex');
      expect(bytesToHex(b)).toBe(hex);
      expect(Buffer.from(hexToBytes(hex.toUpperCase())).equals(Buffer.from(b))).toBe(true);
    }
    expect(bytesToHex(hexToBytes('00ff10ab'), 1, 2)).toBe('ff10');
  });
  it('rejects odd length and non-hex digits', () => {
    expect(() => hexToBytes('abc')).toThrow();
    expect(() => hexToBytes('0g')).toThrow();
    expect(() => hexToBytes('0 ')).toThrow();
  });
});

describe('big-endian integers', () => {
  it('match DataView', () => {
    const b = new Uint8Array(9);
    const dv = new DataView(b.buffer);
    for (const v of [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x12345678]) {
      writeU32BE(b, 3, v);
      expect(dv.getUint32(3)).toBe(v);
      expect(readU32BE(b, 3)).toBe(v);
    }
    for (const v of [0, 1, 0x80, 0xff00, 0xffff]) {
      writeU16BE(b, 5, v);
      expect(dv.getUint16(5)).toBe(v);
      expect(readU16BE(b, 5)).toBe(v);
    }
  });
});

describe('equalBytes / wipe', () => {
  it('compares ranges and never throws', () => {
    const a = hexToBytes('00010203040506');
    const b = hexToBytes('ff0203040506');
    expect(equalBytes(a, 2, b, 1, 5)).toBe(true);
    expect(equalBytes(a, 1, b, 1, 5)).toBe(false);
    expect(equalBytes(a, 0, b, 0, 0)).toBe(true);
    expect(equalBytes(a, 3, b, 0, 5)).toBe(false); // out of range: false, not a throw
    expect(equalBytes(a, -1, b, 0, 1)).toBe(false);
    for (let i = 0; i < 7; i++) {
      const c = new Uint8Array(a);
      c[i] ^= 0x80;
      expect(equalBytes(a, 0, c, 0, 7)).toBe(false);
    }
  });
  it('wipes both array kinds', () => {
    const u8 = new Uint8Array(randomBytes(20));
    const u32 = new Uint32Array([1, 2, 3]);
    wipe(u8);
    wipe(u32);
    expect(u8.every((x) => x === 0) && u32.every((x) => x === 0)).toBe(true);
  });
});
