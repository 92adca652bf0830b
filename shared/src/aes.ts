/**
 * Compact forward-only AES-128 (FIPS-197). CCM and CMAC need only the forward cipher (PROTOCOL.md
 * D-1), so there is no inverse S-box and no decryption round.
 *
 * Tables: the S-box (256 bytes, built at module load: expandKey needs it) and ONE 256-word round
 * table T (built on the first software block, see _softBlock), both from GF(2^8) arithmetic (no
 * table literals in the source). The other three classic T-tables are
 * byte rotations of T, done inline; 4 tables would cost 4 KiB, which an Espruino board with a
 * ~2,500-variable budget cannot spare, and measured no faster on V8 (the rotations compile to
 * rotate instructions; table loads dominate). Fully unrolled rounds gained ~5 % for ~4 KB of code.
 *
 * State is held as four big-endian column words (FIPS-197 §3.4 column order), so the expanded key
 * words rk[0..3] are the raw key bytes big-endian and a native provider can recover the key.
 */
import { checkRange, readU32BE } from './utils.ts';

/** Bytes in an AES block. */
export const AES_BLOCK_LEN = 16;
/** Bytes in an AES-128 key. */
export const AES128_KEY_LEN = 16;
/** 32-bit words in an expanded AES-128 key: 4 * (rounds + 1). */
export const AES128_SCHEDULE_WORDS = 44;
/** 32-bit words of the raw AES-128 key: rk[0..3] of every schedule (the key bytes big-endian). */
export const AES128_KEY_WORDS = 4;

/** A block-cipher provider: encrypts one 16-byte block under an expanded key (see expandKey). */
export interface BlockCipher {
  encryptBlock(rk: Uint32Array, src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number): void;
  /**
   * How many words of rk the provider reads. AES128_KEY_WORDS for a provider that takes the raw key
   * (a native AES: rk[0..3]); absent means the whole schedule (AES128_SCHEDULE_WORDS, as softAes).
   * createCryptoCtx turns it into the key-slot size (CryptoCtx.rkWords_), so a meter on native AES
   * holds 4 words per slot instead of 44.
   */
  readonly keyWords?: number;
}

const FINAL_KEY = 40; // rk index of the last round key: 4 words x 10 rounds (AES-128)
const GF_POLY = 0x1b; // x^8 + x^4 + x^3 + x + 1 reduced into a byte
const SBOX_AFFINE = 0x63; // FIPS-197 §5.1.1 affine constant
const SBOX_INV3_FIX = 0x09; // keeps "divide by 3" inside GF(2^8) in the generator below

/** The AES S-box (FIPS-197 §5.1.1), built at load (internal: fastccm.ts builds its tables from it). */
export const SBOX = new Uint8Array(256);

// Walks the multiplicative group with generator 3 and its inverse in step: q = p^-1, so
// the S-box (affine(p^-1)) is built without a log/exp table. Runs once at load as an IIFE, so
// no function object stays in RAM afterwards.
(function buildSbox(): void {
  let p = 1;
  let q = 1;
  let r; // rotations of q as a byte read off a doubled copy
  do {
    p = (p ^ (p << 1) ^ (p & 0x80 ? GF_POLY : 0)) & 0xff;
    q ^= q << 1;
    q ^= q << 2;
    q ^= q << 4;
    q &= 0xff;
    if (q & 0x80) q ^= SBOX_INV3_FIX;
    r = q | (q << 8);
    SBOX[p] = (q ^ (r >>> 7) ^ (r >>> 6) ^ (r >>> 5) ^ (r >>> 4) ^ SBOX_AFFINE) & 0xff;
  } while (p !== 1);
  SBOX[0] = SBOX_AFFINE;
})();

/**
 * Throws unless rk is a Uint32Array of at least `words` words (the words its provider reads: see
 * BlockCipher.keyWords); a caller bug, never attacker input.
 */
export function checkSchedule(rk: Uint32Array, words: number): void {
  if (!(rk instanceof Uint32Array) || rk.length < words) throw new Error('vakt: bad key schedule');
}

/**
 * Expands a 16-byte AES-128 key into rk, as far as rk reaches: the 44-word schedule, or only the
 * AES128_KEY_WORDS key words in a 4-word slot (a provider that takes the raw key; see
 * BlockCipher.keyWords). A schedule shorter than its provider needs is refused where it is used
 * (softAes, and ccm / cmac / kdf against CryptoCtx.rkWords_). Words rk[0..3] are the key bytes
 * big-endian (FIPS-197), so a native provider (Espruino require("crypto").AES) can recover the raw
 * key from rk[0..3].
 */
export function expandKey(key: Uint8Array, keyOff: number, rk: Uint32Array): void {
  checkRange(key, keyOff, AES128_KEY_LEN, 'aes key');
  checkSchedule(rk, AES128_KEY_WORDS);
  for (let i = 0; i < AES128_KEY_WORDS; i++) rk[i] = readU32BE(key, keyOff + 4 * i);
  let rcon = 1;
  let t;
  for (let i = AES128_KEY_WORDS; i < rk.length && i < AES128_SCHEDULE_WORDS; i++) {
    t = rk[i - 1];
    if ((i & 3) === 0) {
      // SubWord(RotWord(t)) ^ Rcon
      t = ((SBOX[(t >>> 16) & 0xff] << 24) | (SBOX[(t >>> 8) & 0xff] << 16) | (SBOX[t & 0xff] << 8) | SBOX[t >>> 24]) ^ (rcon << 24);
      rcon = ((rcon << 1) ^ (rcon & 0x80 ? GF_POLY : 0)) & 0xff;
    }
    rk[i] = rk[i - 4] ^ t;
  }
}

/** The unchecked software block function: one AES block, no range checks (internal). */
export type SoftBlock = (rk: Uint32Array, src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number) => void;

let softBlock: SoftBlock | null = null;

/**
 * Returns the software block function, creating it with its round table on the first call
 * (internal: createCryptoCtx for softAes, and softAes itself). A board with native AES never
 * calls it, so never holds the 1 KiB table (71 Espruino variables). The table is a constant of
 * the closure, which V8 compiles as tightly as a module constant (a table read through a
 * mutable module variable measured ~15 % slower).
 */
export function _softBlock(): SoftBlock {
  if (softBlock !== null) return softBlock;
  // T[x] = column (2·S[x], S[x], S[x], 3·S[x]) big-endian: SubBytes + MixColumns for one byte.
  // Int32Array, not Uint32Array: every entry then reads as a 32-bit signed integer, which V8 keeps
  // unboxed in every tier; a uint32 of 2^31 or more is a heap number in unoptimised code (see
  // scripts/bench-core.ts: a run whose AES is not re-optimised must not allocate per block).
  const T = new Int32Array(256);
  let s, s2;
  for (let x = 0; x < 256; x++) {
    s = SBOX[x];
    s2 = ((s << 1) ^ (s & 0x80 ? GF_POLY : 0)) & 0xff;
    T[x] = (s2 << 24) | (s << 16) | (s << 8) | (s2 ^ s);
  }
  // One AES block. No bounds checks here: callers (cmac, ccm, softAes.encryptBlock) check once.
  // src and dst may be the same bytes: all of src is read before dst is written.
  softBlock = function encrypt(rk: Uint32Array, src: Uint8Array, so: number, dst: Uint8Array, d: number): void {
    // State words as signed 32-bit integers (no >>> 0: only xor, shifts and masks follow).
    let s0 = ((src[so] << 24) | (src[so + 1] << 16) | (src[so + 2] << 8) | src[so + 3]) ^ rk[0];
    let s1 = ((src[so + 4] << 24) | (src[so + 5] << 16) | (src[so + 6] << 8) | src[so + 7]) ^ rk[1];
    let s2 = ((src[so + 8] << 24) | (src[so + 9] << 16) | (src[so + 10] << 8) | src[so + 11]) ^ rk[2];
    let s3 = ((src[so + 12] << 24) | (src[so + 13] << 16) | (src[so + 14] << 8) | src[so + 15]) ^ rk[3];
    // Loop temporaries declared once (a let in a loop body is a scope per iteration on Espruino).
    let a, b, c, e, t0, t1, t2, w, t;
    for (let k = 4; k < FINAL_KEY; k += 4) {
      // Te1..Te3 of the 4-table design are T rotated right by 8, 16, 24: nest the rotations.
      a = T[s3 & 0xff];
      a = T[(s2 >>> 8) & 0xff] ^ ((a >>> 8) | (a << 24));
      a = T[(s1 >>> 16) & 0xff] ^ ((a >>> 8) | (a << 24));
      t0 = T[s0 >>> 24] ^ ((a >>> 8) | (a << 24)) ^ rk[k];
      b = T[s0 & 0xff];
      b = T[(s3 >>> 8) & 0xff] ^ ((b >>> 8) | (b << 24));
      b = T[(s2 >>> 16) & 0xff] ^ ((b >>> 8) | (b << 24));
      t1 = T[s1 >>> 24] ^ ((b >>> 8) | (b << 24)) ^ rk[k + 1];
      c = T[s1 & 0xff];
      c = T[(s0 >>> 8) & 0xff] ^ ((c >>> 8) | (c << 24));
      c = T[(s3 >>> 16) & 0xff] ^ ((c >>> 8) | (c << 24));
      t2 = T[s2 >>> 24] ^ ((c >>> 8) | (c << 24)) ^ rk[k + 2];
      e = T[s2 & 0xff];
      e = T[(s1 >>> 8) & 0xff] ^ ((e >>> 8) | (e << 24));
      e = T[(s0 >>> 16) & 0xff] ^ ((e >>> 8) | (e << 24));
      s3 = T[s3 >>> 24] ^ ((e >>> 8) | (e << 24)) ^ rk[k + 3];
      s0 = t0;
      s1 = t1;
      s2 = t2;
    }
    // Final round: SubBytes + ShiftRows + AddRoundKey, no MixColumns, one output column (round-key
    // word) at a time. Column c takes its four bytes from state words c, c+1, c+2, c+3 (mod 4):
    // rotating the words after each column lines them up for the next.
    for (let i = FINAL_KEY; i < AES128_SCHEDULE_WORDS; i++) {
      w = rk[i];
      dst[d++] = SBOX[s0 >>> 24] ^ (w >>> 24);
      dst[d++] = SBOX[(s1 >>> 16) & 0xff] ^ (w >>> 16);
      dst[d++] = SBOX[(s2 >>> 8) & 0xff] ^ (w >>> 8);
      dst[d++] = SBOX[s3 & 0xff] ^ w;
      t = s0;
      s0 = s1;
      s1 = s2;
      s2 = s3;
      s3 = t;
    }
  };
  return softBlock;
}

/** Compact pure-JS forward AES-128 (round table built once, on first use; no per-call allocation); checks ranges once per call. */
export const softAes: BlockCipher = {
  encryptBlock(rk: Uint32Array, src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number): void {
    checkRange(src, srcOff, AES_BLOCK_LEN, 'aes src');
    checkRange(dst, dstOff, AES_BLOCK_LEN, 'aes dst');
    checkSchedule(rk, AES128_SCHEDULE_WORDS);
    _softBlock()(rk, src, srcOff, dst, dstOff);
  },
};
