// Differential tests of shared/src/ccm.ts against OpenSSL (node:crypto aes-128-ccm): random keys,
// nonces, AAD lengths 0-64, payload lengths 0-300, every allowed tag length, unaligned offsets,
// in-place operation, and tampering (tag, ciphertext, AAD, nonce) that must fail and zero the output.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { expandKey } from '../../shared/src/aes.ts';
import { CCM_MAX_AAD, ccmOpen, ccmSeal } from '../../shared/src/ccm.ts';
import { createCryptoCtx } from '../../shared/src/ctx.ts';
import { bytesToHex } from '../../shared/src/utils.ts';
import { nodeCcmOpen, nodeCcmSeal } from './core-ref.ts';

const TAG_LENS = [4, 6, 8, 10, 12, 14, 16];
const ITERATIONS = 3000;
const ctx = createCryptoCtx();
const rk = new Uint32Array(44);

// Deterministic small PRNG for the shape of each case (lengths, offsets); the bytes come from randomBytes.
let seed = 0x9e3779b9;
function rnd(n: number): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
}

// Payload lengths biased to block edges, where CCM bugs live.
function payloadLen(): number {
  if (rnd(4) !== 0) return rnd(301);
  const edge = 16 * rnd(19) + rnd(3) - 1; // 16k - 1, 16k, 16k + 1
  return edge < 0 ? 0 : edge > 300 ? 300 : edge;
}

function allZero(b: Uint8Array, off: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (b[off + i] !== 0) return false;
  return true;
}

describe('CCM vs OpenSSL aes-128-ccm', () => {
  it(`seal/open agree on ${ITERATIONS} random cases at odd offsets, in and out of place`, () => {
    for (let it = 0; it < ITERATIONS; it++) {
      const key = new Uint8Array(randomBytes(16));
      const nonce = new Uint8Array(randomBytes(13));
      const aadLen = rnd(65);
      const ptLen = payloadLen();
      const tagLen = TAG_LENS[it % TAG_LENS.length];
      const aad = new Uint8Array(randomBytes(aadLen));
      const pt = new Uint8Array(randomBytes(ptLen));
      const want = nodeCcmSeal(key, nonce, aad, pt, tagLen);

      // Everything at odd offsets inside larger buffers, canaries around the output.
      const nOff = 1 + rnd(5),
        aOff = 1 + rnd(7),
        pOff = 1 + rnd(9),
        oOff = 1 + rnd(11);
      const keyBuf = new Uint8Array(16 + 3);
      keyBuf.set(key, 3);
      expandKey(keyBuf, 3, rk);
      const nBuf = new Uint8Array(13 + nOff + 2);
      nBuf.set(nonce, nOff);
      const aBuf = new Uint8Array(aadLen + aOff + 2);
      aBuf.set(aad, aOff);
      const pBuf = new Uint8Array(ptLen + pOff + 2);
      pBuf.set(pt, pOff);
      const oBuf = new Uint8Array(ptLen + tagLen + oOff + 2).fill(0xcc);
      ccmSeal(ctx, rk, nBuf, nOff, aBuf, aOff, aadLen, pBuf, pOff, ptLen, tagLen, oBuf, oOff);
      expect(bytesToHex(oBuf, oOff, ptLen + tagLen)).toBe(bytesToHex(want));
      expect(oBuf[oOff - 1]).toBe(0xcc);
      expect(oBuf[oOff + ptLen + tagLen]).toBe(0xcc);
      expect(bytesToHex(pBuf, pOff, ptLen)).toBe(bytesToHex(pt)); // input untouched

      // In-place seal: out === pt at the same offset (buffer has room for the tag).
      const ip = new Uint8Array(ptLen + tagLen + pOff + 1);
      ip.set(pt, pOff);
      ccmSeal(ctx, rk, nBuf, nOff, aBuf, aOff, aadLen, ip, pOff, ptLen, tagLen, ip, pOff);
      expect(bytesToHex(ip, pOff, ptLen + tagLen)).toBe(bytesToHex(want));

      // OpenSSL opens what we sealed.
      const back = nodeCcmOpen(key, nonce, aad, want.subarray(0, ptLen), want.subarray(ptLen));
      expect(back && bytesToHex(back)).toBe(bytesToHex(pt));

      // Our open, out of place, tag read from a separate odd offset.
      const dec = new Uint8Array(ptLen + 3).fill(0xcc);
      expect(ccmOpen(ctx, rk, nBuf, nOff, aBuf, aOff, aadLen, oBuf, oOff, ptLen, oBuf, oOff + ptLen, tagLen, dec, 1)).toBe(true);
      expect(bytesToHex(dec, 1, ptLen)).toBe(bytesToHex(pt));
      expect(dec[0]).toBe(0xcc);
      expect(dec[ptLen + 1]).toBe(0xcc);

      // Our open, in place (ciphertext overwritten by plaintext, tag right after it).
      expect(ccmOpen(ctx, rk, nBuf, nOff, aBuf, aOff, aadLen, ip, pOff, ptLen, ip, pOff + ptLen, tagLen, ip, pOff)).toBe(true);
      expect(bytesToHex(ip, pOff, ptLen)).toBe(bytesToHex(pt));
    }
  });

  it('tampered tag, ciphertext, AAD or nonce fails, zeroes exactly the output region, and OpenSSL agrees', () => {
    for (let it = 0; it < 1500; it++) {
      const key = new Uint8Array(randomBytes(16));
      const nonce = new Uint8Array(randomBytes(13));
      const aadLen = rnd(65);
      const ptLen = payloadLen();
      const tagLen = TAG_LENS[it % TAG_LENS.length];
      const aad = new Uint8Array(randomBytes(aadLen));
      const pt = new Uint8Array(randomBytes(ptLen));
      expandKey(key, 0, rk);
      const sealed = new Uint8Array(ptLen + tagLen);
      ccmSeal(ctx, rk, nonce, 0, aad, 0, aadLen, pt, 0, ptLen, tagLen, sealed, 0);

      const what = it % 4;
      const s2 = new Uint8Array(sealed);
      const a2 = new Uint8Array(aad);
      const n2 = new Uint8Array(nonce);
      if (what === 0 || (what === 1 && ptLen === 0) || (what === 2 && aadLen === 0)) s2[ptLen + rnd(tagLen)] ^= 1 << rnd(8);
      else if (what === 1) s2[rnd(ptLen)] ^= 1 << rnd(8);
      else if (what === 2) a2[rnd(aadLen)] ^= 1 << rnd(8);
      else n2[rnd(13)] ^= 1 << rnd(8);

      expect(nodeCcmOpen(key, n2, a2, s2.subarray(0, ptLen), s2.subarray(ptLen))).toBe(null);
      const out = new Uint8Array(ptLen + 2).fill(0xcc);
      expect(ccmOpen(ctx, rk, n2, 0, a2, 0, aadLen, s2, 0, ptLen, s2, ptLen, tagLen, out, 1)).toBe(false);
      expect(allZero(out, 1, ptLen)).toBe(true);
      expect(out[0]).toBe(0xcc);
      expect(out[ptLen + 1]).toBe(0xcc);
      // In place: the ciphertext region is zeroed, the tag left as it was.
      const tagBefore = bytesToHex(s2, ptLen, tagLen);
      expect(ccmOpen(ctx, rk, n2, 0, a2, 0, aadLen, s2, 0, ptLen, s2, ptLen, tagLen, s2, 0)).toBe(false);
      expect(allZero(s2, 0, ptLen)).toBe(true);
      expect(bytesToHex(s2, ptLen, tagLen)).toBe(tagBefore);
    }
  });

  it('a tag verified under a different tag length fails (tag length is a parameter, not data)', () => {
    const key = new Uint8Array(randomBytes(16));
    const nonce = new Uint8Array(randomBytes(13));
    expandKey(key, 0, rk);
    const pt = new Uint8Array(randomBytes(40));
    const sealed = new Uint8Array(40 + 16);
    ccmSeal(ctx, rk, nonce, 0, pt, 0, 0, pt, 0, 40, 16, sealed, 0);
    const out = new Uint8Array(40);
    for (const t of [4, 8, 12, 14]) expect(ccmOpen(ctx, rk, nonce, 0, pt, 0, 0, sealed, 0, 40, sealed, 40, t, out, 0)).toBe(false);
  });

  it('AAD up to CCM_MAX_AAD (2-byte length encoding) matches OpenSSL; longer AAD is refused, never mis-encoded', () => {
    const key = new Uint8Array(randomBytes(16));
    const nonce = new Uint8Array(randomBytes(13));
    expandKey(key, 0, rk);
    const pt = new Uint8Array(randomBytes(20));
    const out = new Uint8Array(20 + 8);
    for (const aadLen of [255, 256, 4096, CCM_MAX_AAD]) {
      const aad = new Uint8Array(randomBytes(aadLen));
      ccmSeal(ctx, rk, nonce, 0, aad, 0, aadLen, pt, 0, 20, 8, out, 0);
      expect(bytesToHex(out)).toBe(bytesToHex(nodeCcmSeal(key, nonce, aad, pt, 8)));
    }
    const big = new Uint8Array(CCM_MAX_AAD + 1);
    expect(() => ccmSeal(ctx, rk, nonce, 0, big, 0, big.length, pt, 0, 20, 8, out, 0)).toThrow();
    const dec = new Uint8Array(20).fill(1);
    expect(ccmOpen(ctx, rk, nonce, 0, big, 0, big.length, out, 0, 20, out, 20, 8, dec, 0)).toBe(false);
    expect(dec.every((b) => b === 0)).toBe(true);
  });
});
