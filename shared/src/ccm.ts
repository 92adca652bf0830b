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
const CTR_HI = AES_BLOCK_LEN - 2; // the 2-byte length / counter field at the end of B0 / A_i
const CTR_LO = AES_BLOCK_LEN - 1;

/** True for the tag lengths CCM allows and Vakt accepts: even, 4..16. */
export function ccmTagLenOk(tagLen: number): boolean {
  return (tagLen | 0) === tagLen && tagLen >= CCM_MIN_TAG_LEN && tagLen <= CCM_MAX_TAG_LEN && (tagLen & 1) === 0;
}

// True when every range lies inside its buffer (shared boundary check of seal and open).
function argsOk(rk: Uint32Array, nonce: Uint8Array, nonceOff: number, aad: Uint8Array, aadOff: number, aadLen: number,
  src: Uint8Array, srcOff: number, len: number, tagLen: number, out: Uint8Array, outOff: number, outLen: number): boolean {
  return (
    rk instanceof Uint32Array && rk.length >= AES128_SCHEDULE_WORDS && ccmTagLenOk(tagLen) &&
    nonce instanceof Uint8Array && inRange(nonce.length, nonceOff, CCM_NONCE_LEN) &&
    aad instanceof Uint8Array && inRange(aad.length, aadOff, aadLen) && aadLen <= CCM_MAX_AAD &&
    src instanceof Uint8Array && inRange(src.length, srcOff, len) && len <= CCM_MAX_PAYLOAD &&
    out instanceof Uint8Array && inRange(out.length, outOff, outLen)
  );
}

// CBC-MAC and CTR in one pass. Leaves the unmasked tag T in ctx._x and S0 in ctx._s.
// out[i] = src[i] ^ S is the same formula for both directions; only the MAC input differs:
// the plaintext is src when sealing and out when opening. Each src byte is read before the
// same position of out is written, so out may equal src at the same offset.
function ccmCore(ctx: CryptoCtx, rk: Uint32Array, nonce: Uint8Array, nonceOff: number,
  aad: Uint8Array, aadOff: number, aadLen: number, src: Uint8Array, srcOff: number, len: number,
  tagLen: number, out: Uint8Array, outOff: number, opening: boolean): void {
  const x = ctx._x;
  const s = ctx._s;
  const a = ctx._a;
  // B0 = flags || nonce || message length.
  a[0] = (aadLen > 0 ? FLAG_ADATA : 0) | (((tagLen - 2) >>> 1) << 3) | (L_FIELD - 1);
  for (let i = 0; i < CCM_NONCE_LEN; i++) a[1 + i] = nonce[nonceOff + i];
  a[CTR_HI] = len >>> 8;
  a[CTR_LO] = len;
  _block(ctx, rk, a, 0, x, 0);
  if (aadLen > 0) {
    // 2-byte AAD length (RFC 3610 §2.2; longer AAD is refused by argsOk), then the AAD, block by
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
  _block(ctx, rk, a, 0, s, 0); // S0 masks the tag
}

// Wipes the MAC and key-stream scratch blocks (a loop: cheaper than two fill() calls on 16 bytes).
function clear(x: Uint8Array, s: Uint8Array): void {
  for (let j = 0; j < AES_BLOCK_LEN; j++) {
    x[j] = 0;
    s[j] = 0;
  }
}

/** Writes ciphertext (ptLen bytes) then tag (tagLen bytes) to out[outOff..]. out may equal pt (in place). */
export function ccmSeal(ctx: CryptoCtx, rk: Uint32Array, nonce: Uint8Array, nonceOff: number,
  aad: Uint8Array, aadOff: number, aadLen: number, pt: Uint8Array, ptOff: number, ptLen: number,
  tagLen: number, out: Uint8Array, outOff: number): void {
  if (!argsOk(rk, nonce, nonceOff, aad, aadOff, aadLen, pt, ptOff, ptLen, tagLen, out, outOff, ptLen + tagLen)) {
    throw new Error('vakt: ccmSeal range'); // a caller bug: seal never sees hostile lengths
  }
  ccmCore(ctx, rk, nonce, nonceOff, aad, aadOff, aadLen, pt, ptOff, ptLen, tagLen, out, outOff, false);
  const x = ctx._x;
  const s = ctx._s;
  const to = outOff + ptLen;
  for (let j = 0; j < tagLen; j++) out[to + j] = x[j] ^ s[j];
  clear(x, s);
}

/** Verifies the tag in constant time and decrypts to out[outOff..]; on failure returns false and zeroes out[outOff..outOff+ctLen). */
export function ccmOpen(ctx: CryptoCtx, rk: Uint32Array, nonce: Uint8Array, nonceOff: number,
  aad: Uint8Array, aadOff: number, aadLen: number, ct: Uint8Array, ctOff: number, ctLen: number,
  tag: Uint8Array, tagOff: number, tagLen: number, out: Uint8Array, outOff: number): boolean {
  // Lengths may come from a hostile frame: refuse without throwing, zeroing what may be touched.
  if (!argsOk(rk, nonce, nonceOff, aad, aadOff, aadLen, ct, ctOff, ctLen, tagLen, out, outOff, ctLen) ||
    !(tag instanceof Uint8Array) || !inRange(tag.length, tagOff, tagLen)) {
    if (out instanceof Uint8Array && inRange(out.length, outOff, ctLen)) out.fill(0, outOff, outOff + ctLen);
    return false;
  }
  ccmCore(ctx, rk, nonce, nonceOff, aad, aadOff, aadLen, ct, ctOff, ctLen, tagLen, out, outOff, true);
  const x = ctx._x;
  const s = ctx._s;
  // Constant time: every tag byte is compared whatever the earlier ones were.
  let diff = 0;
  for (let j = 0; j < tagLen; j++) diff |= x[j] ^ s[j] ^ tag[tagOff + j];
  clear(x, s);
  if (diff !== 0) {
    out.fill(0, outOff, outOff + ctLen);
    return false;
  }
  return true;
}
