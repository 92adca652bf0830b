/**
 * AES-CCM (RFC 3610, NIST SP 800-38C) with the IEEE 802.15.4 CCM* parameters Vakt uses:
 * 13-byte nonce, L = 2 (payload up to 65535 bytes), even tag lengths 4..16.
 * Auth-only use (empty payload) yields a MIC over the associated data, as CCM* security levels 1-3.
 */
import { AES_BLOCK_LEN } from './aes.ts';
import { _cmacAbsorb } from './cmac.ts';
import type { CryptoCtx } from './ctx.ts';
import { validRange } from './utils.ts';

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

const L_PRIME = 1; // flags bits 0-2 of B0 and A_i: L' = L - 1, L = 2 bytes of length/counter field
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
 * CCM, both directions (internal; ccmSeal and ccmOpen are its public faces, sealFrame and
 * openFrame call it directly). Sealing (opening = false) writes the ciphertext to
 * out[outOff..+len) and the tag to tag[tagOff..+tagLen) (ccmSeal passes out just after the
 * ciphertext) and returns true; it throws on a bad range, a caller bug since seal never sees
 * hostile lengths. Opening verifies tag[tagOff..+tagLen) in constant time and returns true, or
 * returns false with out[outOff..+len) zeroed (bad ranges too: lengths may come from a hostile
 * frame). out may equal src at the same offset. The associated data is pre[0..preLen) ‖
 * aad[aadOff..+aadLen) (wire v2: the receiver's reconstructed header, then the bytes on the wire,
 * PROTOCOL.md §3); preLen 0 for one segment.
 */
export function _ccm(
  ctx: CryptoCtx,
  rk: Uint32Array,
  nonce: Uint8Array,
  nonceOff: number,
  pre: Uint8Array,
  preLen: number,
  aad: Uint8Array,
  aadOff: number,
  aadLen: number,
  src: Uint8Array,
  srcOff: number,
  len: number,
  tag: Uint8Array,
  tagOff: number,
  tagLen: number,
  out: Uint8Array,
  outOff: number,
  opening: boolean,
): boolean {
  // Every range inside its buffer (so every length a non-negative integer) and the tag length as
  // ccmTagLenOk, checked once here rather than per block.
  const outOk = validRange(out, outOff, len);
  if (!(
    outOk &&
    rk instanceof Uint32Array &&
    rk.length >= ctx.rkWords_ &&
    validRange(tag, tagOff, tagLen) &&
    tagLen >= CCM_MIN_TAG_LEN &&
    tagLen <= CCM_MAX_TAG_LEN &&
    (tagLen & 1) === 0 &&
    validRange(nonce, nonceOff, CCM_NONCE_LEN) &&
    validRange(pre, 0, preLen) &&
    validRange(aad, aadOff, aadLen) &&
    preLen + aadLen <= CCM_MAX_AAD &&
    validRange(src, srcOff, len) &&
    len <= CCM_MAX_PAYLOAD
  )) {
    if (!opening) throw new Error('vakt: ccmSeal range');
    if (outOk) out.fill(0, outOff, outOff + len);
    return false;
  }
  const x = ctx.x_;
  const s = ctx.s_;
  const a = ctx.a_;
  // CBC-MAC over B0, the AAD and the plaintext, each zero-padded to whole blocks (nothing to XOR).
  // B0 = flags || nonce || message length.
  // Flags: Adata, M' = (tagLen - 2) / 2 in bits 3-5 (tagLen is even, so (tagLen - 2) * 4), L'.
  const aTotal = preLen + aadLen;
  a[0] = (aTotal > 0 ? FLAG_ADATA : 0) | ((tagLen - 2) << 2) | L_PRIME;
  for (let i = 0; i < CCM_NONCE_LEN; i++) a[1 + i] = nonce[nonceOff + i];
  a[CTR_HI] = len >>> 8;
  a[CTR_LO] = len;
  ctx.enc_(rk, a, 0, x, 0);
  if (aTotal > 0) {
    // The 2-byte AAD length (RFC 3610 §2.2; longer AAD is refused above) starts the AAD blocks.
    x[0] ^= aTotal >>> 8;
    x[1] ^= aTotal;
    ctx.n_ = 2;
    _cmacAbsorb(ctx, rk, pre, 0, preLen);
    _cmacAbsorb(ctx, rk, aad, aadOff, aadLen);
    ctx.enc_(rk, x, 0, x, 0);
  }
  // CTR, one key-stream block S_i per 16 bytes with A_i = L' || nonce || i (B0 with its flags and
  // counter replaced), and the CBC-MAC of the plaintext in the same pass: the plaintext is src
  // when sealing and out when opening. Each src byte is read before the same position of out is
  // written, so out may equal src at the same offset. (srcOff and outOff advance below.)
  a[0] = L_PRIME;
  var ctr = 0;
  var end = srcOff + len;
  var j;
  var c;
  while (srcOff < end) {
    a[CTR_HI] = ++ctr >>> 8;
    a[CTR_LO] = ctr;
    ctx.enc_(rk, a, 0, s, 0);
    // One block: j runs over the block, srcOff and outOff over the message (var only and few
    // tokens per byte: the Espruino interpreter pays per token executed).
    for (j = 0; j < AES_BLOCK_LEN && srcOff < end; j++) {
      c = src[srcOff++];
      out[outOff++] = c ^= s[j];
      x[j] ^= opening ? c : c ^ s[j];
    }
    ctx.enc_(rk, x, 0, x, 0);
  }
  a[CTR_HI] = 0;
  a[CTR_LO] = 0;
  ctx.enc_(rk, a, 0, s, 0); // S0 masks the tag: T ^ S0
  // Sealing writes the masked tag; opening compares it in constant time (every tag byte is
  // compared whatever the earlier ones were).
  let diff = 0;
  for (let j = 0; j < tagLen; j++) {
    var t = x[j] ^ s[j];
    if (opening) diff |= t ^ tag[tagOff + j];
    else tag[tagOff + j] = t;
  }
  // Wipe the MAC and key-stream scratch blocks.
  x.fill(0);
  s.fill(0);
  ctx.n_ = 0;
  if (diff !== 0) {
    out.fill(0, outOff - len, outOff); // outOff has advanced over the message
    return false;
  }
  return true;
}

/** Writes ciphertext (ptLen bytes) then tag (tagLen bytes) to out[outOff..]. out may equal pt (in place). */
export function ccmSeal(
  ctx: CryptoCtx,
  rk: Uint32Array,
  nonce: Uint8Array,
  nonceOff: number,
  aad: Uint8Array,
  aadOff: number,
  aadLen: number,
  pt: Uint8Array,
  ptOff: number,
  ptLen: number,
  tagLen: number,
  out: Uint8Array,
  outOff: number,
): void {
  _ccm(ctx, rk, nonce, nonceOff, aad, 0, aad, aadOff, aadLen, pt, ptOff, ptLen, out, outOff + ptLen, tagLen, out, outOff, false);
}

/** Verifies the tag in constant time and decrypts to out[outOff..]; on failure returns false and zeroes out[outOff..outOff+ctLen). */
export function ccmOpen(
  ctx: CryptoCtx,
  rk: Uint32Array,
  nonce: Uint8Array,
  nonceOff: number,
  aad: Uint8Array,
  aadOff: number,
  aadLen: number,
  ct: Uint8Array,
  ctOff: number,
  ctLen: number,
  tag: Uint8Array,
  tagOff: number,
  tagLen: number,
  out: Uint8Array,
  outOff: number,
): boolean {
  return _ccm(ctx, rk, nonce, nonceOff, aad, 0, aad, aadOff, aadLen, ct, ctOff, ctLen, tag, tagOff, tagLen, out, outOff, true);
}
