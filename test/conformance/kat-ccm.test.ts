// Known answers for AES-CCM (shared/src/ccm.ts).
// Sources: RFC 3610 §8 packet vectors #1-#24 (M = 8 and 10, L = 2, 13-byte nonce; the RFC lists
// each packet as header || payload, split here into AAD and message at the stated header length);
// IEEE 802.15.4-2006 Annex C.2.1 (beacon, MIC-64) and C.2.3 (MAC command, ENC-MIC-64), as
// reproduced in OpenThread tests/unit/test_aes.cpp (shared/notes/vectors.md §5).
// Every vector is additionally re-derived with OpenSSL aes-128-ccm to catch transcription slips.
import { describe, expect, it } from 'vitest';
import { expandKey } from '../../shared/src/aes.ts';
import { ccmOpen, ccmSeal, ccmTagLenOk } from '../../shared/src/ccm.ts';
import { createCryptoCtx } from '../../shared/src/ctx.ts';
import { bytesToHex, hexToBytes } from '../../shared/src/utils.ts';
import { nodeCcmSeal } from './core-ref.ts';
import { IEEE802154, KA, RFC3610 } from './kat-vectors.ts';
import type { CcmVector } from './kat-vectors.ts';

const ctx = createCryptoCtx();
const rk = new Uint32Array(44);

function check(v: CcmVector): void {
  const key = hexToBytes(v.key);
  const nonce = hexToBytes(v.nonce);
  const aad = hexToBytes(v.aad);
  const msg = hexToBytes(v.msg);
  // Transcription guard: OpenSSL must agree with the published bytes.
  expect(bytesToHex(nodeCcmSeal(key, nonce, aad, msg, v.tagLen))).toBe(v.out.toLowerCase());
  expandKey(key, 0, rk);
  const out = new Uint8Array(msg.length + v.tagLen);
  ccmSeal(ctx, rk, nonce, 0, aad, 0, aad.length, msg, 0, msg.length, v.tagLen, out, 0);
  expect(bytesToHex(out)).toBe(v.out.toLowerCase());
  const back = new Uint8Array(msg.length);
  expect(ccmOpen(ctx, rk, nonce, 0, aad, 0, aad.length, out, 0, msg.length, out, msg.length, v.tagLen, back, 0)).toBe(true);
  expect(bytesToHex(back)).toBe(v.msg.toLowerCase());
  // One flipped bit in the tag must fail and zero the plaintext.
  out[out.length - 1] ^= 1;
  expect(ccmOpen(ctx, rk, nonce, 0, aad, 0, aad.length, out, 0, msg.length, out, msg.length, v.tagLen, back, 0)).toBe(false);
  expect(back.every((b) => b === 0)).toBe(true);
}

describe('AES-CCM, RFC 3610 §8 packet vectors', () => {
  it('has all 24 vectors', () => expect(RFC3610.length).toBe(24));
  for (const v of RFC3610) it(`Packet Vector ${v.name} (M = ${v.tagLen})`, () => check(v));
});

describe('CCM*, IEEE 802.15.4-2006 Annex C.2', () => {
  for (const v of IEEE802154) it(v.name, () => check(v));
});

describe('CCM parameter rules', () => {
  it('allows exactly the even tag lengths 4..16', () => {
    const ok = [];
    for (let t = -1; t <= 18; t++) if (ccmTagLenOk(t)) ok.push(t);
    expect(ok).toEqual([4, 6, 8, 10, 12, 14, 16]);
    expect(ccmTagLenOk(8.5)).toBe(false);
  });

  it('seal throws on caller bugs; open returns false on hostile lengths without throwing', () => {
    expandKey(hexToBytes(KA), 0, rk);
    const n = new Uint8Array(13);
    const buf = new Uint8Array(40);
    expect(() => ccmSeal(ctx, rk, n, 0, buf, 0, 0, buf, 0, 16, 3, buf, 0)).toThrow();
    expect(() => ccmSeal(ctx, rk, n, 1, buf, 0, 0, buf, 0, 16, 8, buf, 0)).toThrow();
    expect(() => ccmSeal(ctx, rk, n, 0, buf, 0, 0, buf, 0, 16, 8, buf, 20)).toThrow();
    buf.fill(7);
    // Tag region past the end of the buffer: refused, output zeroed.
    expect(ccmOpen(ctx, rk, n, 0, buf, 0, 0, buf, 0, 16, buf, 36, 8, buf, 0)).toBe(false);
    expect(buf.subarray(0, 16).every((b) => b === 0)).toBe(true);
    expect(buf[16]).toBe(7);
    expect(ccmOpen(ctx, rk, n, 0, buf, 0, 0, buf, 0, 16, buf, 16, 5, buf, 0)).toBe(false);
    expect(ccmOpen(ctx, rk, n, 0, buf, 0, -1, buf, 0, 16, buf, 16, 8, buf, 0)).toBe(false);
    expect(ccmOpen(ctx, rk, n, 0, buf, 0, 0, buf, 0, 41, buf, 16, 8, buf, 0)).toBe(false);
  });
});
