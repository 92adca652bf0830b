// Known answers for the compact AES-128 of shared/src/aes.ts.
// Sources: FIPS-197 (NIST, 2001) Appendix A.1 (key expansion), Appendix B and Appendix C.1 (cipher).
import { describe, expect, it } from 'vitest';
import { AES128_KEY_WORDS, AES128_SCHEDULE_WORDS, expandKey, softAes } from '../../shared/src/aes.ts';
import { bytesToHex, hexToBytes } from '../../shared/src/utils.ts';
import { FIPS197_AES128 } from './provider-check.ts';

// FIPS-197 Appendix A.1: expansion of 2b7e1516 28aed2a6 abf71588 09cf4f3c, words w[0..43].
const A1_KEY = '2b7e151628aed2a6abf7158809cf4f3c';
const A1_WORDS = `
  2b7e1516 28aed2a6 abf71588 09cf4f3c  a0fafe17 88542cb1 23a33939 2a6c7605
  f2c295f2 7a96b943 5935807a 7359f67f  3d80477d 4716fe3e 1e237e44 6d7a883b
  ef44a541 a8525b7f b671253b db0bad00  d4d1c6f8 7c839d87 caf2b8bc 11f915bc
  6d88a37a 110b3efd dbf98641 ca0093fd  4e54f70e 5f5fc9f3 84a64fb2 4ea6dc4f
  ead27321 b58dbad2 312bf560 7f8d292f  ac7766f3 19fadc21 28d12941 575c006e
  d014f9a8 c9ee2589 e13f0cc8 b6630ca6`
  .trim()
  .split(/\s+/);

describe('AES-128 key expansion (FIPS-197 Appendix A.1)', () => {
  it('produces all 44 words', () => {
    expect(A1_WORDS.length).toBe(AES128_SCHEDULE_WORDS);
    const rk = new Uint32Array(AES128_SCHEDULE_WORDS);
    expandKey(hexToBytes(A1_KEY), 0, rk);
    expect(Array.from(rk, (w) => w.toString(16).padStart(8, '0'))).toEqual(A1_WORDS);
  });

  it('reads the key at an offset and keeps rk[0..3] = key big-endian', () => {
    const buf = new Uint8Array(19);
    buf.set(hexToBytes(A1_KEY), 3);
    const rk = new Uint32Array(AES128_SCHEDULE_WORDS);
    expandKey(buf, 3, rk);
    expect(rk[0].toString(16)).toBe('2b7e1516');
    expect(rk[43].toString(16)).toBe('b6630ca6');
  });

  it('fills a 4-word slot with the key words only (a provider that takes the raw key)', () => {
    const rk = new Uint32Array(AES128_KEY_WORDS);
    expandKey(hexToBytes(A1_KEY), 0, rk);
    expect(Array.from(rk, (w) => w.toString(16).padStart(8, '0'))).toEqual(A1_WORDS.slice(0, AES128_KEY_WORDS));
  });

  it('refuses short keys and schedules without the key words (caller bugs throw)', () => {
    expect(() => expandKey(new Uint8Array(15), 0, new Uint32Array(44))).toThrow();
    expect(() => expandKey(new Uint8Array(16), 1, new Uint32Array(44))).toThrow();
    expect(() => expandKey(new Uint8Array(16), 0, new Uint32Array(AES128_KEY_WORDS - 1))).toThrow();
    expect(() => expandKey(new Uint8Array(16), 0, [0, 0, 0, 0] as unknown as Uint32Array)).toThrow();
  });

  it('softAes refuses a schedule shorter than 44 words where it is used (a 4-word slot is for native AES)', () => {
    for (const n of [AES128_KEY_WORDS, AES128_SCHEDULE_WORDS - 1]) {
      const rk = new Uint32Array(n);
      expandKey(hexToBytes(A1_KEY), 0, rk);
      expect(() => softAes.encryptBlock(rk, new Uint8Array(16), 0, new Uint8Array(16), 0)).toThrow(/bad key schedule/);
    }
  });
});

describe('AES-128 cipher (FIPS-197 Appendix B, C.1)', () => {
  for (const v of FIPS197_AES128) {
    it(v.src, () => {
      const rk = new Uint32Array(AES128_SCHEDULE_WORDS);
      expandKey(hexToBytes(v.key), 0, rk);
      const out = new Uint8Array(16);
      softAes.encryptBlock(rk, hexToBytes(v.pt), 0, out, 0);
      expect(bytesToHex(out)).toBe(v.ct);
    });
  }

  it('works in place and at unaligned offsets', () => {
    const v = FIPS197_AES128[1];
    const rk = new Uint32Array(AES128_SCHEDULE_WORDS);
    expandKey(hexToBytes(v.key), 0, rk);
    const buf = new Uint8Array(23);
    buf.set(hexToBytes(v.pt), 5);
    softAes.encryptBlock(rk, buf, 5, buf, 5);
    expect(bytesToHex(buf, 5, 16)).toBe(v.ct);
    expect(buf[4]).toBe(0);
    expect(buf[21]).toBe(0);
  });

  it('throws on out-of-range blocks instead of reading undefined bytes', () => {
    const rk = new Uint32Array(AES128_SCHEDULE_WORDS);
    expect(() => softAes.encryptBlock(rk, new Uint8Array(16), 1, new Uint8Array(16), 0)).toThrow();
    expect(() => softAes.encryptBlock(rk, new Uint8Array(16), 0, new Uint8Array(16), 1)).toThrow();
  });
});
