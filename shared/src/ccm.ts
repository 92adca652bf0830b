/**
 * AES-CCM (RFC 3610, NIST SP 800-38C) with the IEEE 802.15.4 CCM* parameters Vakt uses:
 * 13-byte nonce, L = 2 (payload up to 65535 bytes), even tag lengths 4..16.
 * Auth-only use (empty payload) yields a MIC over the associated data, as CCM* security levels 1-3.
 */
import { AES_BLOCK_LEN, AES128_SCHEDULE_WORDS } from './aes.ts';
import { _block } from './ctx.ts';
import type { CryptoCtx } from './ctx.ts';
import { inRange } from './utils.ts';

/** Nonce length: 15 - L with L = 2. */
export const CCM_NONCE_LEN = 13;
/** Shortest tag allowed (CCM* MIC-32). */
export const CCM_MIN_TAG_LEN = 4;
/** Longest tag allowed (a full block). */
export const CCM_MAX_TAG_LEN = 16;
/** Largest payload with a 2-byte length field (L = 2). */
export const CCM_MAX_PAYLOAD = 0xffff;
/** Largest associated data accepted: the RFC 3610 2-byte AAD length encoding (2^16 - 2^8 - 1). Vakt's is <= 1050. */
export const CCM_MAX_AAD = 0xfeff;

const L_FIELD = 2; // bytes of the length/counter field
const FLAG_ADATA = 0x40; // B0 flag bit 6: associated data present
// The 2-byte length / counter field at the end of B0 / A_i: AES_BLOCK_LEN - 2 and - 1, as literals
// (the firmware build inlines only literal constants; others stay Espruino variables).
const CTR_HI = 14;
const CTR_LO = 15;

/** True for the tag lengths CCM allows and Vakt accepts: even, 4..16. */
export function ccmTagLenOk(tagLen: number): boolean {
  return (tagLen | 0) === tagLen && tagLen >= CCM_MIN_TAG_LEN && tagLen <= CCM_MAX_TAG_LEN && (tagLen & 1) === 0;
}

/**
 * CCM in one pass, both directions (internal; ccmSeal and ccmOpen are its public faces, sealFrame
 * and openFrame call it directly). Sealing (opening = false) writes the ciphertext to
 * out[outOff..+len) and the tag to tag[tagOff..+tagLen) (ccmSeal passes out just after the
 * ciphertext) and returns true; it throws on a bad range, a caller bug since seal never sees
 * hostile lengths. Opening verifies tag[tagOff..+tagLen) in constant time and returns true, or
 * returns false with out[outOff..+len) zeroed (bad ranges too: lengths may come from a hostile
 * frame). out may equal src at the same offset.
 */
export function _ccm(ctx: CryptoCtx, rk: Uint32Array, nonce: Uint8Array, nonceOff: number,
  aad: Uint8Array, aadOff: number, aadLen: number, src: Uint8Array, srcOff: number, len: number,
  tag: Uint8Array, tagOff: number, tagLen: number, out: Uint8Array, outOff: number, opening: boolean): boolean {
  // Every range inside its buffer and the tag length as ccmTagLenOk, checked once here rather than per block.
  if (!(
    rk instanceof Uint32Array && rk.length >= AES128_SCHEDULE_WORDS &&
    (tagLen | 0) === tagLen && tagLen >= CCM_MIN_TAG_LEN && tagLen <= CCM_MAX_TAG_LEN && (tagLen & 1) === 0 &&
    nonce instanceof Uint8Array && inRange(nonce.length, nonceOff, CCM_NONCE_LEN) &&
    aad instanceof Uint8Array && inRange(aad.length, aadOff, aadLen) && aadLen <= CCM_MAX_AAD &&
    src instanceof Uint8Array && inRange(src.length, srcOff, len) && len <= CCM_MAX_PAYLOAD &&
    out instanceof Uint8Array && inRange(out.length, outOff, len) &&
    tag instanceof Uint8Array && inRange(tag.length, tagOff, tagLen)
  )) {
    if (!opening) throw new Error('vakt: ccmSeal range');
    if (out instanceof Uint8Array && inRange(out.length, outOff, len)) out.fill(0, outOff, outOff + len);
    return false;
  }
  const x = ctx._x;
  const s = ctx._s;
  const a = ctx._a;
  // CBC-MAC and CTR together: out[i] = src[i] ^ S is the same formula for both directions; only
  // the MAC input differs: the plaintext is src when sealing and out when opening. Each src byte
  // is read before the same position of out is written, so out may equal src at the same offset.
  // B0 = flags || nonce || message length.
  a[0] = (aadLen > 0 ? FLAG_ADATA : 0) | (((tagLen - 2) >>> 1) << 3) | (L_FIELD - 1);
  for (let i = 0; i < CCM_NONCE_LEN; i++) a[1 + i] = nonce[nonceOff + i];
  a[CTR_HI] = len >>> 8;
  a[CTR_LO] = len;
  _block(ctx, rk, a, 0, x, 0);
  if (aadLen > 0) {
    // 2-byte AAD length (RFC 3610 §2.2; longer AAD is refused above), then the AAD, block by
    // block: the first block holds 14 AAD bytes, the last is zero-padded (nothing to XOR).
    x[0] ^= aadLen >>> 8;
    x[1] ^= aadLen;
    let n = 2;
    let i = 0;
    while (i < aadLen) {
      const m = aadLen - i < AES_BLOCK_LEN - n ? aadLen - i : AES_BLOCK_LEN - n;
      const ao = aadOff + i - n;
      for (let j = n; j < n + m; j++) x[j] ^= aad[ao + j];
      i += m;
      n = 0;
      _block(ctx, rk, x, 0, x, 0);
    }
  }
  // A_i = (L - 1) || nonce || i: B0 with its flags and counter replaced.
  a[0] = L_FIELD - 1;
  let ctr = 0;
  for (let pos = 0; pos < len; pos += AES_BLOCK_LEN) {
    ctr++;
    a[CTR_HI] = ctr >>> 8;
    a[CTR_LO] = ctr;
    _block(ctx, rk, a, 0, s, 0);
    const m = len - pos < AES_BLOCK_LEN ? len - pos : AES_BLOCK_LEN;
    const so = srcOff + pos;
    const oo = outOff + pos;
    // Two loops rather than a test per byte: the MAC input is the plaintext, which is the output
    // when opening and the input when sealing.
    if (opening) {
      for (let j = 0; j < m; j++) {
        const o = src[so + j] ^ s[j];
        out[oo + j] = o;
        x[j] ^= o;
      }
    } else {
      for (let j = 0; j < m; j++) {
        const c = src[so + j];
        out[oo + j] = c ^ s[j];
        x[j] ^= c;
      }
    }
    _block(ctx, rk, x, 0, x, 0);
  }
  a[CTR_HI] = 0;
  a[CTR_LO] = 0;
  _block(ctx, rk, a, 0, s, 0); // S0 masks the tag: T ^ S0
  // Sealing writes the masked tag; opening compares it in constant time (every tag byte is
  // compared whatever the earlier ones were).
  let diff = 0;
  if (opening) for (let j = 0; j < tagLen; j++) diff |= x[j] ^ s[j] ^ tag[tagOff + j];
  else for (let j = 0; j < tagLen; j++) tag[tagOff + j] = x[j] ^ s[j];
  // Wipe the MAC and key-stream scratch blocks (a loop: cheaper than two fill() calls on 16 bytes).
  for (let j = 0; j < AES_BLOCK_LEN; j++) {
    x[j] = 0;
    s[j] = 0;
  }
  if (diff !== 0) {
    out.fill(0, outOff, outOff + len);
    return false;
  }
  return true;
}

/** Writes ciphertext (ptLen bytes) then tag (tagLen bytes) to out[outOff..]. out may equal pt (in place). */
export function ccmSeal(ctx: CryptoCtx, rk: Uint32Array, nonce: Uint8Array, nonceOff: number,
  aad: Uint8Array, aadOff: number, aadLen: number, pt: Uint8Array, ptOff: number, ptLen: number,
  tagLen: number, out: Uint8Array, outOff: number): void {
  _ccm(ctx, rk, nonce, nonceOff, aad, aadOff, aadLen, pt, ptOff, ptLen, out, outOff + ptLen, tagLen, out, outOff, false);
}

/** Verifies the tag in constant time and decrypts to out[outOff..]; on failure returns false and zeroes out[outOff..outOff+ctLen). */
export function ccmOpen(ctx: CryptoCtx, rk: Uint32Array, nonce: Uint8Array, nonceOff: number,
  aad: Uint8Array, aadOff: number, aadLen: number, ct: Uint8Array, ctOff: number, ctLen: number,
  tag: Uint8Array, tagOff: number, tagLen: number, out: Uint8Array, outOff: number): boolean {
  return _ccm(ctx, rk, nonce, nonceOff, aad, aadOff, aadLen, ct, ctOff, ctLen, tag, tagOff, tagLen, out, outOff, true);
}
