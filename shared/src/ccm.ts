/**
 * AES-CCM (RFC 3610, NIST SP 800-38C) with the IEEE 802.15.4 CCM* parameters Vakt uses:
 * 13-byte nonce, L = 2 (payload up to 65535 bytes), even tag lengths 4..16.
 * Auth-only use (empty payload) yields a MIC over the associated data, as CCM* security levels 1-3.
 */
import { AES_BLOCK_LEN, AES128_SCHEDULE_WORDS } from './aes.ts';
import { checkSchedule } from './cmac.ts';
import type { CryptoCtx } from './ctx.ts';
import { checkRange, inRange } from './utils.ts';

/** Nonce length: 15 - L with L = 2. */
export const CCM_NONCE_LEN = 13;
/** Shortest tag allowed (CCM* MIC-32). */
export const CCM_MIN_TAG_LEN = 4;
/** Longest tag allowed (a full block). */
export const CCM_MAX_TAG_LEN = 16;
/** Largest payload with a 2-byte length field (L = 2). */
export const CCM_MAX_PAYLOAD = 0xffff;

const L_FIELD = 2; // bytes of the length/counter field
const FLAG_ADATA = 0x40; // B0 flag bit 6: associated data present
const AAD_SHORT_MAX = 0xfeff; // RFC 3610 §2.2: below 2^16 - 2^8 the AAD length takes 2 bytes
const AAD_LONG_MARK_HI = 0xff; // ... otherwise 0xff 0xfe then 4 bytes
const AAD_LONG_MARK_LO = 0xfe;

/** True for the tag lengths CCM allows and Vakt accepts: even, 4..16. */
export function ccmTagLenOk(tagLen: number): boolean {
  return (tagLen | 0) === tagLen && tagLen >= CCM_MIN_TAG_LEN && tagLen <= CCM_MAX_TAG_LEN && (tagLen & 1) === 0;
}

// Fills ctx._a with flags || nonce || 0x0000: B0 (flags, then length) or A0 (counter blocks).
function setBlock(a: Uint8Array, flags: number, nonce: Uint8Array, nonceOff: number, len: number): void {
  a[0] = flags;
  for (let i = 0; i < CCM_NONCE_LEN; i++) a[1 + i] = nonce[nonceOff + i];
  a[AES_BLOCK_LEN - 2] = len >>> 8;
  a[AES_BLOCK_LEN - 1] = len;
}

// CBC-MAC over B0 and the encoded associated data; leaves the chaining value in ctx._x.
function macHeader(ctx: CryptoCtx, rk: Uint32Array, nonce: Uint8Array, nonceOff: number,
  aad: Uint8Array, aadOff: number, aadLen: number, msgLen: number, tagLen: number): void {
  const bc = ctx.bc;
  const x = ctx._x;
  const flags = (aadLen > 0 ? FLAG_ADATA : 0) | (((tagLen - 2) >>> 1) << 3) | (L_FIELD - 1);
  setBlock(ctx._a, flags, nonce, nonceOff, msgLen);
  bc.encryptBlock(rk, ctx._a, 0, x, 0);
  if (aadLen === 0) return;
  let n: number;
  if (aadLen <= AAD_SHORT_MAX) {
    x[0] ^= aadLen >>> 8;
    x[1] ^= aadLen & 0xff;
    n = 2;
  } else {
    x[0] ^= AAD_LONG_MARK_HI;
    x[1] ^= AAD_LONG_MARK_LO;
    x[2] ^= aadLen >>> 24;
    x[3] ^= (aadLen >>> 16) & 0xff;
    x[4] ^= (aadLen >>> 8) & 0xff;
    x[5] ^= aadLen & 0xff;
    n = 6;
  }
  for (let i = 0; i < aadLen; i++) {
    x[n++] ^= aad[aadOff + i];
    if (n === AES_BLOCK_LEN) {
      bc.encryptBlock(rk, x, 0, x, 0);
      n = 0;
    }
  }
  if (n > 0) bc.encryptBlock(rk, x, 0, x, 0); // zero padding is implicit: nothing XORed
}

function argsOk(rk: Uint32Array, nonce: Uint8Array, nonceOff: number, aad: Uint8Array, aadOff: number,
  aadLen: number, src: Uint8Array, srcOff: number, len: number, tagLen: number): boolean {
  return (
    rk instanceof Uint32Array && rk.length >= AES128_SCHEDULE_WORDS && ccmTagLenOk(tagLen) &&
    nonce instanceof Uint8Array && inRange(nonce.length, nonceOff, CCM_NONCE_LEN) &&
    aad instanceof Uint8Array && inRange(aad.length, aadOff, aadLen) &&
    src instanceof Uint8Array && inRange(src.length, srcOff, len) && len <= CCM_MAX_PAYLOAD
  );
}

/** Writes ciphertext (ptLen bytes) then tag (tagLen bytes) to out[outOff..]. out may equal pt (in place). */
export function ccmSeal(ctx: CryptoCtx, rk: Uint32Array, nonce: Uint8Array, nonceOff: number,
  aad: Uint8Array, aadOff: number, aadLen: number, pt: Uint8Array, ptOff: number, ptLen: number,
  tagLen: number, out: Uint8Array, outOff: number): void {
  checkSchedule(rk);
  if (!argsOk(rk, nonce, nonceOff, aad, aadOff, aadLen, pt, ptOff, ptLen, tagLen)) throw new Error('vakt: ccmSeal arguments out of range');
  checkRange(out, outOff, ptLen + tagLen, 'ccm out');
  const bc = ctx.bc;
  const x = ctx._x;
  const s = ctx._s;
  const a = ctx._a;
  macHeader(ctx, rk, nonce, nonceOff, aad, aadOff, aadLen, ptLen, tagLen);
  setBlock(a, L_FIELD - 1, nonce, nonceOff, 0);
  let ctr = 0;
  for (let pos = 0; pos < ptLen; pos += AES_BLOCK_LEN) {
    ctr++;
    a[AES_BLOCK_LEN - 2] = ctr >>> 8;
    a[AES_BLOCK_LEN - 1] = ctr;
    bc.encryptBlock(rk, a, 0, s, 0);
    const m = ptLen - pos < AES_BLOCK_LEN ? ptLen - pos : AES_BLOCK_LEN;
    const po = ptOff + pos;
    const oo = outOff + pos;
    // Each plaintext byte is read before the same position of out is written: in place is safe.
    for (let j = 0; j < m; j++) {
      const p = pt[po + j];
      x[j] ^= p;
      out[oo + j] = p ^ s[j];
    }
    bc.encryptBlock(rk, x, 0, x, 0);
  }
  a[AES_BLOCK_LEN - 2] = 0;
  a[AES_BLOCK_LEN - 1] = 0;
  bc.encryptBlock(rk, a, 0, s, 0); // S0 masks the tag
  const to = outOff + ptLen;
  for (let j = 0; j < tagLen; j++) out[to + j] = x[j] ^ s[j];
  x.fill(0);
  s.fill(0);
}

/** Verifies the tag in constant time and decrypts to out[outOff..]; on failure returns false and zeroes out[outOff..outOff+ctLen). */
export function ccmOpen(ctx: CryptoCtx, rk: Uint32Array, nonce: Uint8Array, nonceOff: number,
  aad: Uint8Array, aadOff: number, aadLen: number, ct: Uint8Array, ctOff: number, ctLen: number,
  tag: Uint8Array, tagOff: number, tagLen: number, out: Uint8Array, outOff: number): boolean {
  const outOk = out instanceof Uint8Array && inRange(out.length, outOff, ctLen);
  // Bad lengths may come from a hostile frame: refuse without throwing, zeroing what we may touch.
  if (!outOk || !argsOk(rk, nonce, nonceOff, aad, aadOff, aadLen, ct, ctOff, ctLen, tagLen) ||
    !(tag instanceof Uint8Array) || !inRange(tag.length, tagOff, tagLen)) {
    if (outOk) out.fill(0, outOff, outOff + ctLen);
    return false;
  }
  const bc = ctx.bc;
  const x = ctx._x;
  const s = ctx._s;
  const a = ctx._a;
  macHeader(ctx, rk, nonce, nonceOff, aad, aadOff, aadLen, ctLen, tagLen);
  setBlock(a, L_FIELD - 1, nonce, nonceOff, 0);
  let ctr = 0;
  for (let pos = 0; pos < ctLen; pos += AES_BLOCK_LEN) {
    ctr++;
    a[AES_BLOCK_LEN - 2] = ctr >>> 8;
    a[AES_BLOCK_LEN - 1] = ctr;
    bc.encryptBlock(rk, a, 0, s, 0);
    const m = ctLen - pos < AES_BLOCK_LEN ? ctLen - pos : AES_BLOCK_LEN;
    const co = ctOff + pos;
    const oo = outOff + pos;
    for (let j = 0; j < m; j++) {
      const p = ct[co + j] ^ s[j];
      out[oo + j] = p;
      x[j] ^= p;
    }
    bc.encryptBlock(rk, x, 0, x, 0);
  }
  a[AES_BLOCK_LEN - 2] = 0;
  a[AES_BLOCK_LEN - 1] = 0;
  bc.encryptBlock(rk, a, 0, s, 0);
  // Constant time: every tag byte is compared whatever the earlier ones were.
  let diff = 0;
  for (let j = 0; j < tagLen; j++) diff |= x[j] ^ s[j] ^ tag[tagOff + j];
  x.fill(0);
  s.fill(0);
  if (diff !== 0) {
    out.fill(0, outOff, outOff + ctLen);
    return false;
  }
  return true;
}
