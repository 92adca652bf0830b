/**
 * Host-speed AES-128 and CCM for JIT engines (V8 on the HES, the concentrator bridge, the CLI):
 * the same cipher and the same bytes as aes.ts / ccm.ts, laid out for a JIT rather than for RAM.
 *
 * - AES with the four classic T-tables (4 KiB of Int32Array) and the state as four signed 32-bit
 *   words from the first round to the last: no byte rotations, and the final round's S-box bytes
 *   masked out of the same tables (T2 holds S[x] in its top byte, T3 in the next, T0 in the third,
 *   T1 in the low byte: OpenSSL aes_core.c). The schedule of the call is copied into a closure
 *   constant first, so V8 reads round keys at fixed addresses, and every value stays int32 in
 *   every tier (no heap numbers: see scripts/bench-core.ts on the slow path this avoids).
 * - CCM on 32-bit words: the CBC-MAC chaining value and the counter blocks A_i live in locals
 *   (A_i and B0 from three nonce words), the associated data is copied once into a preallocated
 *   block-aligned buffer behind its 2-byte length, and payload blocks are read and written a
 *   word at a time. Same checks, results and wiping as ccm.ts's _ccm; a call _ccm would refuse is
 *   handed to _ccm, so errors are exactly the soft path's.
 *
 * Two blocks per call interleaved (the CBC-MAC block with a key-stream block) measured no faster
 * on V8 (x64): the round is bound by instruction throughput (four table loads, each with V8's
 * bounds check, per state word), not by the latency of one dependency chain.
 *
 * Nothing here allocates after createFastCryptoCtx; no Node APIs. It is not part of the meter
 * bundle (4 KiB of tables and ~3 KB of code: RAM and flash an Espruino board cannot spare): a host
 * selects it with createFastCryptoCtx(), the embedded default stays createCryptoCtx().
 * Tests: test/core/fastccm.test.ts (node:crypto, RFC 3610 / SP 800-38C vectors, the soft path).
 */
import { AES128_SCHEDULE_WORDS, AES_BLOCK_LEN, SBOX } from './aes.ts';
import type { BlockCipher, SoftBlock } from './aes.ts';
import { CCM_MAX_AAD, CCM_MAX_PAYLOAD, CCM_MAX_TAG_LEN, CCM_MIN_TAG_LEN, CCM_NONCE_LEN, _ccm } from './ccm.ts';
import type { CryptoCtx } from './ctx.ts';
import { createCryptoCtx } from './ctx.ts';
import { checkRange, validRange } from './utils.ts';

const GF_POLY = 0x1b; // x^8 + x^4 + x^3 + x + 1 reduced into a byte (as aes.ts)
const L_PRIME = 1; // CCM flags bits 0-2: L' = L - 1, L = 2 (as ccm.ts)
const FLAG_ADATA = 0x40; // B0 flag bit 6: associated data present
const AAD_LEN_BYTES = 2; // RFC 3610 §2.2: AAD shorter than 2^16 - 2^8 is prefixed with its 2-byte length
// The AAD buffer: the length prefix, the longest AAD, zero padding to a whole block.
const AAD_BUF_LEN = AAD_LEN_BYTES + CCM_MAX_AAD + AES_BLOCK_LEN;

/** The CCM of ccm.ts (_ccm's parameters and results), as a CryptoCtx carries it. */
export type CcmFn = typeof _ccm;

/** The host AES and CCM (internal; built once per program by _fastCrypto). */
export interface Fast {
  /** One block, bytes to bytes, no range checks (fastAes checks them). */
  readonly block: SoftBlock;
  /** CCM with _ccm's contract (CryptoCtx.ccm_). */
  readonly ccm: CcmFn;
}

let fast: Fast | null = null;

/** The four-table block function and the word-wise CCM (internal; tables built on the first call). */
export function _fastCrypto(): Fast {
  if (fast === null) fast = buildFast();
  return fast;
}

// Builds the tables, the scratch and the functions around them: the tables are constants of the
// closure, which V8 compiles to fixed addresses (a module variable costs a load and a check).
function buildFast(): Fast {
  // The module's constants as constants of this closure: V8 compiles these as literals, a module
  // binding as a context load and a type check at every use (seen in the optimised code).
  const SCHED = AES128_SCHEDULE_WORDS;
  const BLOCK = AES_BLOCK_LEN;
  const LEN_BYTES = AAD_LEN_BYTES;
  const LP = L_PRIME;
  const ADATA = FLAG_ADATA;
  const MIN_TAG = CCM_MIN_TAG_LEN;
  const MAX_TAG = CCM_MAX_TAG_LEN;
  const NONCE_LEN = CCM_NONCE_LEN;
  const MAX_AAD = CCM_MAX_AAD;
  const MAX_PAYLOAD = CCM_MAX_PAYLOAD;
  const AAD_BUF = AAD_BUF_LEN;
  // T0[x] = column (2·S, S, S, 3·S) big-endian: SubBytes + MixColumns for one byte in row 0;
  // T1..T3 are T0 rotated right by 8, 16, 24 bits (rows 1..3).
  const T0 = new Int32Array(256);
  const T1 = new Int32Array(256);
  const T2 = new Int32Array(256);
  const T3 = new Int32Array(256);
  for (let x = 0; x < 256; x++) {
    const s = SBOX[x];
    const s2 = ((s << 1) ^ (s & 0x80 ? GF_POLY : 0)) & 0xff;
    const t = (s2 << 24) | (s << 16) | (s << 8) | (s2 ^ s);
    T0[x] = t;
    T1[x] = (t >>> 8) | (t << 24);
    T2[x] = (t >>> 16) | (t << 16);
    T3[x] = (t >>> 24) | (t << 8);
  }
  const RK = new Int32Array(SCHED); // the schedule of the current call
  const RKU = new Uint32Array(RK.buffer); // the same words, for a copy from a Uint32Array schedule
  const OUT = new Int32Array(4); // enc's result; the tag's words at the end of a call
  // The bytes of OUT: big-endian byte j of the word OUT[j >> 2] is OUTB[j ^ BYTE_SWAP] on a
  // little-endian host (every V8 target), OUTB[j] on a big-endian one.
  const OUTB = new Uint8Array(OUT.buffer);
  const BYTE_SWAP = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 3 : 0;
  const AAD = new Uint8Array(AAD_BUF); // length ‖ AAD ‖ zeros; its first block also pads a short payload block
  const AADV = new DataView(AAD.buffer);

  // A schedule of exactly SCHED words (expandKey's) is one block copy (~40 ns less per seal + open
  // than the loop, scratch harness); a longer one is copied four words per iteration.
  function loadKey(rk: Uint32Array): void {
    if (rk.length === SCHED) {
      RKU.set(rk);
      return;
    }
    for (let i = 0; i < SCHED; i += 4) {
      RK[i] = rk[i];
      RK[i + 1] = rk[i + 1];
      RK[i + 2] = rk[i + 2];
      RK[i + 3] = rk[i + 3];
    }
  }

  // Encrypts the block (a0..a3) (big-endian column words, FIPS-197 §3.4) under RK into OUT.
  function enc(a0: number, a1: number, a2: number, a3: number): void {
    a0 ^= RK[0];
    a1 ^= RK[1];
    a2 ^= RK[2];
    a3 ^= RK[3];
    // Rounds 1-9 written out: constant round-key indices (no index checks, no loop) measured
    // ~9 % faster per block than the loop on V8; code size does not matter on a host.
    let x0, x1, x2;
    // Round 1
    x0 = T0[a0 >>> 24] ^ T1[(a1 >>> 16) & 0xff] ^ T2[(a2 >>> 8) & 0xff] ^ T3[a3 & 0xff] ^ RK[4];
    x1 = T0[a1 >>> 24] ^ T1[(a2 >>> 16) & 0xff] ^ T2[(a3 >>> 8) & 0xff] ^ T3[a0 & 0xff] ^ RK[5];
    x2 = T0[a2 >>> 24] ^ T1[(a3 >>> 16) & 0xff] ^ T2[(a0 >>> 8) & 0xff] ^ T3[a1 & 0xff] ^ RK[6];
    a3 = T0[a3 >>> 24] ^ T1[(a0 >>> 16) & 0xff] ^ T2[(a1 >>> 8) & 0xff] ^ T3[a2 & 0xff] ^ RK[7];
    a0 = x0;
    a1 = x1;
    a2 = x2;
    // Round 2
    x0 = T0[a0 >>> 24] ^ T1[(a1 >>> 16) & 0xff] ^ T2[(a2 >>> 8) & 0xff] ^ T3[a3 & 0xff] ^ RK[8];
    x1 = T0[a1 >>> 24] ^ T1[(a2 >>> 16) & 0xff] ^ T2[(a3 >>> 8) & 0xff] ^ T3[a0 & 0xff] ^ RK[9];
    x2 = T0[a2 >>> 24] ^ T1[(a3 >>> 16) & 0xff] ^ T2[(a0 >>> 8) & 0xff] ^ T3[a1 & 0xff] ^ RK[10];
    a3 = T0[a3 >>> 24] ^ T1[(a0 >>> 16) & 0xff] ^ T2[(a1 >>> 8) & 0xff] ^ T3[a2 & 0xff] ^ RK[11];
    a0 = x0;
    a1 = x1;
    a2 = x2;
    // Round 3
    x0 = T0[a0 >>> 24] ^ T1[(a1 >>> 16) & 0xff] ^ T2[(a2 >>> 8) & 0xff] ^ T3[a3 & 0xff] ^ RK[12];
    x1 = T0[a1 >>> 24] ^ T1[(a2 >>> 16) & 0xff] ^ T2[(a3 >>> 8) & 0xff] ^ T3[a0 & 0xff] ^ RK[13];
    x2 = T0[a2 >>> 24] ^ T1[(a3 >>> 16) & 0xff] ^ T2[(a0 >>> 8) & 0xff] ^ T3[a1 & 0xff] ^ RK[14];
    a3 = T0[a3 >>> 24] ^ T1[(a0 >>> 16) & 0xff] ^ T2[(a1 >>> 8) & 0xff] ^ T3[a2 & 0xff] ^ RK[15];
    a0 = x0;
    a1 = x1;
    a2 = x2;
    // Round 4
    x0 = T0[a0 >>> 24] ^ T1[(a1 >>> 16) & 0xff] ^ T2[(a2 >>> 8) & 0xff] ^ T3[a3 & 0xff] ^ RK[16];
    x1 = T0[a1 >>> 24] ^ T1[(a2 >>> 16) & 0xff] ^ T2[(a3 >>> 8) & 0xff] ^ T3[a0 & 0xff] ^ RK[17];
    x2 = T0[a2 >>> 24] ^ T1[(a3 >>> 16) & 0xff] ^ T2[(a0 >>> 8) & 0xff] ^ T3[a1 & 0xff] ^ RK[18];
    a3 = T0[a3 >>> 24] ^ T1[(a0 >>> 16) & 0xff] ^ T2[(a1 >>> 8) & 0xff] ^ T3[a2 & 0xff] ^ RK[19];
    a0 = x0;
    a1 = x1;
    a2 = x2;
    // Round 5
    x0 = T0[a0 >>> 24] ^ T1[(a1 >>> 16) & 0xff] ^ T2[(a2 >>> 8) & 0xff] ^ T3[a3 & 0xff] ^ RK[20];
    x1 = T0[a1 >>> 24] ^ T1[(a2 >>> 16) & 0xff] ^ T2[(a3 >>> 8) & 0xff] ^ T3[a0 & 0xff] ^ RK[21];
    x2 = T0[a2 >>> 24] ^ T1[(a3 >>> 16) & 0xff] ^ T2[(a0 >>> 8) & 0xff] ^ T3[a1 & 0xff] ^ RK[22];
    a3 = T0[a3 >>> 24] ^ T1[(a0 >>> 16) & 0xff] ^ T2[(a1 >>> 8) & 0xff] ^ T3[a2 & 0xff] ^ RK[23];
    a0 = x0;
    a1 = x1;
    a2 = x2;
    // Round 6
    x0 = T0[a0 >>> 24] ^ T1[(a1 >>> 16) & 0xff] ^ T2[(a2 >>> 8) & 0xff] ^ T3[a3 & 0xff] ^ RK[24];
    x1 = T0[a1 >>> 24] ^ T1[(a2 >>> 16) & 0xff] ^ T2[(a3 >>> 8) & 0xff] ^ T3[a0 & 0xff] ^ RK[25];
    x2 = T0[a2 >>> 24] ^ T1[(a3 >>> 16) & 0xff] ^ T2[(a0 >>> 8) & 0xff] ^ T3[a1 & 0xff] ^ RK[26];
    a3 = T0[a3 >>> 24] ^ T1[(a0 >>> 16) & 0xff] ^ T2[(a1 >>> 8) & 0xff] ^ T3[a2 & 0xff] ^ RK[27];
    a0 = x0;
    a1 = x1;
    a2 = x2;
    // Round 7
    x0 = T0[a0 >>> 24] ^ T1[(a1 >>> 16) & 0xff] ^ T2[(a2 >>> 8) & 0xff] ^ T3[a3 & 0xff] ^ RK[28];
    x1 = T0[a1 >>> 24] ^ T1[(a2 >>> 16) & 0xff] ^ T2[(a3 >>> 8) & 0xff] ^ T3[a0 & 0xff] ^ RK[29];
    x2 = T0[a2 >>> 24] ^ T1[(a3 >>> 16) & 0xff] ^ T2[(a0 >>> 8) & 0xff] ^ T3[a1 & 0xff] ^ RK[30];
    a3 = T0[a3 >>> 24] ^ T1[(a0 >>> 16) & 0xff] ^ T2[(a1 >>> 8) & 0xff] ^ T3[a2 & 0xff] ^ RK[31];
    a0 = x0;
    a1 = x1;
    a2 = x2;
    // Round 8
    x0 = T0[a0 >>> 24] ^ T1[(a1 >>> 16) & 0xff] ^ T2[(a2 >>> 8) & 0xff] ^ T3[a3 & 0xff] ^ RK[32];
    x1 = T0[a1 >>> 24] ^ T1[(a2 >>> 16) & 0xff] ^ T2[(a3 >>> 8) & 0xff] ^ T3[a0 & 0xff] ^ RK[33];
    x2 = T0[a2 >>> 24] ^ T1[(a3 >>> 16) & 0xff] ^ T2[(a0 >>> 8) & 0xff] ^ T3[a1 & 0xff] ^ RK[34];
    a3 = T0[a3 >>> 24] ^ T1[(a0 >>> 16) & 0xff] ^ T2[(a1 >>> 8) & 0xff] ^ T3[a2 & 0xff] ^ RK[35];
    a0 = x0;
    a1 = x1;
    a2 = x2;
    // Round 9
    x0 = T0[a0 >>> 24] ^ T1[(a1 >>> 16) & 0xff] ^ T2[(a2 >>> 8) & 0xff] ^ T3[a3 & 0xff] ^ RK[36];
    x1 = T0[a1 >>> 24] ^ T1[(a2 >>> 16) & 0xff] ^ T2[(a3 >>> 8) & 0xff] ^ T3[a0 & 0xff] ^ RK[37];
    x2 = T0[a2 >>> 24] ^ T1[(a3 >>> 16) & 0xff] ^ T2[(a0 >>> 8) & 0xff] ^ T3[a1 & 0xff] ^ RK[38];
    a3 = T0[a3 >>> 24] ^ T1[(a0 >>> 16) & 0xff] ^ T2[(a1 >>> 8) & 0xff] ^ T3[a2 & 0xff] ^ RK[39];
    a0 = x0;
    a1 = x1;
    a2 = x2;
    // Final round (keys 40-43): SubBytes + ShiftRows + AddRoundKey, S[x] masked out of the T-tables.
    OUT[0] =
      ((T2[a0 >>> 24] & 0xff000000) | (T3[(a1 >>> 16) & 0xff] & 0xff0000) | (T0[(a2 >>> 8) & 0xff] & 0xff00) | (T1[a3 & 0xff] & 0xff)) ^
      RK[40];
    OUT[1] =
      ((T2[a1 >>> 24] & 0xff000000) | (T3[(a2 >>> 16) & 0xff] & 0xff0000) | (T0[(a3 >>> 8) & 0xff] & 0xff00) | (T1[a0 & 0xff] & 0xff)) ^
      RK[41];
    OUT[2] =
      ((T2[a2 >>> 24] & 0xff000000) | (T3[(a3 >>> 16) & 0xff] & 0xff0000) | (T0[(a0 >>> 8) & 0xff] & 0xff00) | (T1[a1 & 0xff] & 0xff)) ^
      RK[42];
    OUT[3] =
      ((T2[a3 >>> 24] & 0xff000000) | (T3[(a0 >>> 16) & 0xff] & 0xff0000) | (T0[(a1 >>> 8) & 0xff] & 0xff00) | (T1[a2 & 0xff] & 0xff)) ^
      RK[43];
  }

  // Zeroes the copies of key, key stream and MAC state this module holds after a call.
  function wipe(): void {
    for (let i = 0; i < SCHED; i += 4) RK[i] = RK[i + 1] = RK[i + 2] = RK[i + 3] = 0;
    OUT[0] = OUT[1] = OUT[2] = OUT[3] = 0;
  }

  function block(rk: Uint32Array, src: Uint8Array, so: number, dst: Uint8Array, d: number): void {
    loadKey(rk);
    enc(
      (src[so] << 24) | (src[so + 1] << 16) | (src[so + 2] << 8) | src[so + 3],
      (src[so + 4] << 24) | (src[so + 5] << 16) | (src[so + 6] << 8) | src[so + 7],
      (src[so + 8] << 24) | (src[so + 9] << 16) | (src[so + 10] << 8) | src[so + 11],
      (src[so + 12] << 24) | (src[so + 13] << 16) | (src[so + 14] << 8) | src[so + 15],
    );
    for (let i = 0; i < 4; i++) {
      const w = OUT[i];
      dst[d++] = w >>> 24;
      dst[d++] = w >>> 16;
      dst[d++] = w >>> 8;
      dst[d++] = w;
    }
    wipe();
  }

  function ccm(
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
    // _ccm's checks; whatever it would refuse, it answers (a throw, or false with out zeroed).
    if (!(
      validRange(out, outOff, len) &&
      rk instanceof Uint32Array &&
      rk.length >= SCHED &&
      validRange(tag, tagOff, tagLen) &&
      tagLen >= MIN_TAG &&
      tagLen <= MAX_TAG &&
      (tagLen & 1) === 0 &&
      validRange(nonce, nonceOff, NONCE_LEN) &&
      validRange(pre, 0, preLen) &&
      validRange(aad, aadOff, aadLen) &&
      preLen + aadLen <= MAX_AAD &&
      validRange(src, srcOff, len) &&
      len <= MAX_PAYLOAD
    )) {
      return _ccm(ctx, rk, nonce, nonceOff, pre, preLen, aad, aadOff, aadLen, src, srcOff, len, tag, tagOff, tagLen, out, outOff, opening);
    }
    loadKey(rk);
    const aTotal = preLen + aadLen;
    // Nonce words: B0 = flags ‖ nonce ‖ len and A_i = L' ‖ nonce ‖ i differ only in the first
    // byte and the last two.
    const n = nonceOff;
    const nw0 = (nonce[n] << 16) | (nonce[n + 1] << 8) | nonce[n + 2];
    const nw1 = (nonce[n + 3] << 24) | (nonce[n + 4] << 16) | (nonce[n + 5] << 8) | nonce[n + 6];
    const nw2 = (nonce[n + 7] << 24) | (nonce[n + 8] << 16) | (nonce[n + 9] << 8) | nonce[n + 10];
    const nw3 = (nonce[n + 11] << 24) | (nonce[n + 12] << 16);
    const a0 = (LP << 24) | nw0;
    // CBC-MAC: x = E(B0), flags = Adata, M' = (tagLen - 2) / 2 in bits 3-5, L'.
    enc((((aTotal > 0 ? ADATA : 0) | ((tagLen - 2) << 2) | LP) << 24) | nw0, nw1, nw2, nw3 | len);
    let x0 = OUT[0];
    let x1 = OUT[1];
    let x2 = OUT[2];
    let x3 = OUT[3];
    if (aTotal > 0) {
      // The AAD blocks: 2-byte length ‖ pre ‖ aad ‖ zeros to a whole block.
      AAD[0] = aTotal >>> 8;
      AAD[1] = aTotal;
      let p = LEN_BYTES;
      // The prefix is usually a whole array (seal.ts's R): one block copy, not a byte loop.
      if (preLen === pre.length) {
        AAD.set(pre, p);
        p += preLen;
      } else for (let i = 0; i < preLen; i++) AAD[p++] = pre[i];
      for (let i = 0; i < aadLen; i++) AAD[p++] = aad[aadOff + i];
      while ((p & (BLOCK - 1)) !== 0) AAD[p++] = 0;
      for (let o = 0; o < p; o += BLOCK) {
        enc(x0 ^ AADV.getInt32(o), x1 ^ AADV.getInt32(o + 4), x2 ^ AADV.getInt32(o + 8), x3 ^ AADV.getInt32(o + 12));
        x0 = OUT[0];
        x1 = OUT[1];
        x2 = OUT[2];
        x3 = OUT[3];
      }
    }
    // CTR and the CBC-MAC of the plaintext (src when sealing, out when opening) in one pass; each
    // block of src is read before the same block of out is written (out may equal src).
    for (let pos = 0, ctr = 1; pos < len; pos += BLOCK, ctr++) {
      enc(a0, nw1, nw2, nw3 | ctr);
      const s0 = OUT[0];
      const s1 = OUT[1];
      const s2 = OUT[2];
      const s3 = OUT[3];
      const rest = len - pos;
      let m0: number, m1: number, m2: number, m3: number;
      if (rest >= BLOCK) {
        let i = srcOff + pos;
        const c0 = (src[i] << 24) | (src[i + 1] << 16) | (src[i + 2] << 8) | src[i + 3];
        const c1 = (src[i + 4] << 24) | (src[i + 5] << 16) | (src[i + 6] << 8) | src[i + 7];
        const c2 = (src[i + 8] << 24) | (src[i + 9] << 16) | (src[i + 10] << 8) | src[i + 11];
        const c3 = (src[i + 12] << 24) | (src[i + 13] << 16) | (src[i + 14] << 8) | src[i + 15];
        const p0 = c0 ^ s0;
        const p1 = c1 ^ s1;
        const p2 = c2 ^ s2;
        const p3 = c3 ^ s3;
        i = outOff + pos;
        out[i] = p0 >>> 24;
        out[i + 1] = p0 >>> 16;
        out[i + 2] = p0 >>> 8;
        out[i + 3] = p0;
        out[i + 4] = p1 >>> 24;
        out[i + 5] = p1 >>> 16;
        out[i + 6] = p1 >>> 8;
        out[i + 7] = p1;
        out[i + 8] = p2 >>> 24;
        out[i + 9] = p2 >>> 16;
        out[i + 10] = p2 >>> 8;
        out[i + 11] = p2;
        out[i + 12] = p3 >>> 24;
        out[i + 13] = p3 >>> 16;
        out[i + 14] = p3 >>> 8;
        out[i + 15] = p3;
        m0 = opening ? p0 : c0;
        m1 = opening ? p1 : c1;
        m2 = opening ? p2 : c2;
        m3 = opening ? p3 : c3;
      } else {
        // The last, partial block, byte by byte through the AAD buffer's first block (that AAD
        // was absorbed already): key stream in, MAC input (zero-padded) out, then wiped.
        AADV.setInt32(0, s0);
        AADV.setInt32(4, s1);
        AADV.setInt32(8, s2);
        AADV.setInt32(12, s3);
        for (let j = 0; j < rest; j++) {
          const c = src[srcOff + pos + j];
          const p = c ^ AAD[j];
          out[outOff + pos + j] = p;
          AAD[j] = opening ? p : c;
        }
        for (let j = rest; j < BLOCK; j++) AAD[j] = 0;
        m0 = AADV.getInt32(0);
        m1 = AADV.getInt32(4);
        m2 = AADV.getInt32(8);
        m3 = AADV.getInt32(12);
        for (let j = 0; j < BLOCK; j++) AAD[j] = 0;
      }
      enc(x0 ^ m0, x1 ^ m1, x2 ^ m2, x3 ^ m3);
      x0 = OUT[0];
      x1 = OUT[1];
      x2 = OUT[2];
      x3 = OUT[3];
    }
    // T = MAC ^ S_0; sealing writes it, opening compares every byte in constant time.
    enc(a0, nw1, nw2, nw3);
    x0 ^= OUT[0];
    x1 ^= OUT[1];
    x2 ^= OUT[2];
    x3 ^= OUT[3];
    OUT[0] = x0;
    OUT[1] = x1;
    OUT[2] = x2;
    OUT[3] = x3;
    let diff = 0;
    if (opening) for (let j = 0; j < tagLen; j++) diff |= OUTB[j ^ BYTE_SWAP] ^ tag[tagOff + j];
    else for (let j = 0; j < tagLen; j++) tag[tagOff + j] = OUTB[j ^ BYTE_SWAP];
    wipe();
    if (diff !== 0) {
      out.fill(0, outOff, outOff + len);
      return false;
    }
    return true;
  }

  return { block, ccm };
}

/** The four-table AES as a BlockCipher (checks ranges once per call, like softAes). */
export const fastAes: BlockCipher = {
  encryptBlock(rk: Uint32Array, src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number): void {
    checkRange(src, srcOff, AES_BLOCK_LEN, 'aes src');
    checkRange(dst, dstOff, AES_BLOCK_LEN, 'aes dst');
    if (!(rk instanceof Uint32Array) || rk.length < AES128_SCHEDULE_WORDS) throw new Error('vakt: bad key schedule');
    _fastCrypto().block(rk, src, srcOff, dst, dstOff);
  },
};

/**
 * A CryptoCtx for hosts: the four-table AES as its block cipher (CMAC, KDF: through the checked
 * fastAes.encryptBlock, off the frame path) and the word-wise CCM for sealFrame / openFrame. The first call builds the tables and ~66 KB of scratch, shared by
 * every such context of the program; nothing is allocated per call after that.
 */
export function createFastCryptoCtx(): CryptoCtx {
  const f = _fastCrypto();
  return createCryptoCtx(fastAes, f.ccm);
}
