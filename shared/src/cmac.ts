/**
 * AES-CMAC (NIST SP 800-38B, RFC 4493) over a caller-supplied block cipher, streaming so that the
 * KDF can MAC a concatenation without building it in memory.
 */
import { AES_BLOCK_LEN, checkSchedule } from './aes.ts';
import type { CryptoCtx } from './ctx.ts';
import { checkRange } from './utils.ts';

/** Bytes in a CMAC tag. */
export const CMAC_TAG_LEN = 16;
const RB = 0x87; // RFC 4493 §2.3: R_128 = 0^120 || 10000111
const PAD_BIT = 0x80; // 10* padding of an incomplete last block

// A CMAC in ctx starts from x_ = 0 and n_ = 0: _cmacFinish leaves it so, and createCryptoCtx
// creates it so; cmac and kdf reset it anyway in case an earlier call threw half-way.

/** Absorbs src[off..off+len) into the CMAC in ctx; ranges are the caller's responsibility (internal). */
export function _cmacAbsorb(ctx: CryptoCtx, rk: Uint32Array, src: Uint8Array, off: number, len: number): void {
  var x = ctx.x_;
  var n = ctx.n_;
  // Written for the Espruino interpreter, which pays per token executed and per local (this runs
  // at the meter's deepest call, where RAM peaks): var only, len turned into the end, one index
  // moving, and the block test once per byte.
  len += off;
  while (off < len) {
    // A full block is encrypted only once more data follows: the last block gets K1/K2 first.
    if (n === AES_BLOCK_LEN) {
      ctx.enc_(rk, x, 0, x, 0);
      n = 0;
    }
    x[n++] ^= src[off++];
  }
  ctx.n_ = n;
}

/** Finishes the CMAC in ctx and writes the 16-byte tag to out[outOff..] (internal). */
export function _cmacFinish(ctx: CryptoCtx, rk: Uint32Array, out: Uint8Array, outOff: number): void {
  const x = ctx.x_;
  const k = ctx.s_; // CCM's key-stream block, free while a CMAC runs
  const n = ctx.n_;
  k.fill(0);
  ctx.enc_(rk, k, 0, k, 0); // L = E(K, 0^128)
  // K1 = dbl(L), and K2 = dbl(K1) for an incomplete last block (RFC 4493 Generate_Subkey):
  // doubling in GF(2^128), with a mask instead of a branch on the secret bit.
  if (n < AES_BLOCK_LEN) x[n] ^= PAD_BIT;
  for (let d = n < AES_BLOCK_LEN ? 2 : 1; d > 0; d--) {
    // One bit left, from the last byte up, each byte taking the top bit of the one after it; the
    // bit shifted out of byte 0 comes back as RB into the last (Uint8Array keeps the low 8 bits).
    var carry = RB & -(k[0] >>> 7);
    for (var i = AES_BLOCK_LEN - 1; i >= 0; i--) {
      var b = k[i];
      k[i] = (b << 1) ^ carry;
      carry = b >>> 7;
    }
  }
  for (let i = 0; i < AES_BLOCK_LEN; i++) x[i] ^= k[i];
  ctx.enc_(rk, x, 0, out, outOff);
  k.fill(0);
  x.fill(0);
  ctx.n_ = 0;
}

/** Writes the 16-byte AES-CMAC (RFC 4493) of msg[off..off+len) under rk to out[outOff..]; out may overlap msg. */
export function cmac(ctx: CryptoCtx, rk: Uint32Array, msg: Uint8Array, off: number, len: number, out: Uint8Array, outOff: number): void {
  checkSchedule(rk, ctx.rkWords_);
  checkRange(msg, off, len, 'cmac msg');
  checkRange(out, outOff, CMAC_TAG_LEN, 'cmac out');
  ctx.x_.fill(0);
  ctx.n_ = 0;
  _cmacAbsorb(ctx, rk, msg, off, len);
  _cmacFinish(ctx, rk, out, outOff);
}
