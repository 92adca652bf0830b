// Compact SHA-256 (FIPS 180-4) for the firmware-update image digest (PROTOCOL.md §10).
// Why our own: @noble/hashes uses features outside the Espruino subset and builds tables at import.
// A hasher lives only while an image is checked: its constants and state are allocated when it is
// created, so a meter that is not activating firmware holds nothing of it but the code.
import { writeBE } from './records.ts';

/** Size of a SHA-256 digest in bytes. */
export const SHA256_LEN = 32;
const BLOCK_LEN = 64;
/** Where the 64-bit message length goes in the last block (FIPS 180-4 §5.1.1). */
const LEN_AT = 56; // BLOCK_LEN - 8, as a literal so the bundle inlines it

/** One SHA-256 digest: create, update any number of times, finish once. */
export class Sha256 {
  /** The round constants K (FIPS 180-4 §4.2.2). */
  private k = new Uint32Array(64);
  /** The hash value H, starting at H(0) (§5.3.3). */
  private h = new Uint32Array(8);
  /** The current block as 16 big-endian words, then the message schedule W[t] at index t mod 16. */
  private w = new Uint32Array(16);
  /** Bytes of the current block received so far. */
  private n = 0;
  /** Bytes hashed so far (< 2^53, far beyond any firmware image). */
  private total = 0;

  constructor() {
    // K[t]: the first 32 bits of the fractional part of the cube root of the t-th prime (§4.2.2);
    // H(0)[j] the same of the square root of the j-th prime (§5.3.3). Computed rather than spelt
    // out as a 576-digit literal: 53-bit doubles leave over 20 bits of margin below the 32 kept.
    for (let p = 2, i = 0; i < 64; p++) {
      let q = 2;
      while (p % q !== 0) q++;
      if (q < p) continue; // p is not a prime
      this.k[i] = Math.floor((Math.pow(p, 1 / 3) % 1) * 0x100000000);
      if (i < 8) this.h[i] = Math.floor((Math.sqrt(p) % 1) * 0x100000000);
      i++;
    }
  }

  /** Absorbs data[off..off+len). */
  update(data: Uint8Array, off: number, len: number): void {
    const w = this.w;
    const k = this.k;
    const h = this.h;
    /** The working variables a..h of §6.2.2 as v[0..7]. */
    const v = new Uint32Array(8);
    /** ROTR^n(x) (§3.2); a closure of this call only, so it costs no RAM while nothing is hashed. */
    const rotr = (x: number, n: number): number => (x >>> n) | (x << (32 - n));
    this.total += len;
    for (let i = off; i < off + len; i++) {
      const n = this.n;
      // Byte n of the block is byte n mod 4 of word n / 4, most significant first (§3.1).
      const b = data[i] << (24 - 8 * (n & 3));
      w[n >> 2] = (n & 3) === 0 ? b : w[n >> 2] | b;
      this.n = n + 1;
      if (n + 1 < BLOCK_LEN) continue;
      // A full block: the 64 rounds of §6.2.2, the schedule computed in place over 16 words.
      this.n = 0;
      v.set(h);
      for (let t = 0; t < 64; t++) {
        if (t >= 16) {
          const x = w[(t - 15) & 15];
          const y = w[(t - 2) & 15];
          w[t & 15] += (rotr(x, 7) ^ rotr(x, 18) ^ (x >>> 3)) + w[(t - 7) & 15] + (rotr(y, 17) ^ rotr(y, 19) ^ (y >>> 10)) | 0;
        }
        const a = v[0];
        const e = v[4];
        const t1 = (v[7] + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & v[5]) ^ (~e & v[6])) + k[t] + w[t & 15]) | 0;
        const t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & v[1]) ^ (a & v[2]) ^ (v[1] & v[2]));
        // h = g, g = f, ..., b = a; then e = d + T1 and a = T1 + T2.
        for (let j = 7; j > 0; j--) v[j] = v[j - 1];
        v[4] = (v[4] + t1) | 0;
        v[0] = (t1 + t2) | 0;
      }
      for (let j = 0; j < 8; j++) h[j] += v[j];
    }
  }

  /** Writes the 32-byte digest to out[outOff..]; the hasher is used up. */
  finish(out: Uint8Array, outOff: number): void {
    // Padding (§5.1.1): 0x80, zeros up to LEN_AT mod 64, then the message length in bits.
    const bits = this.total * 8;
    const padLen = ((LEN_AT - 1 - this.n) & (BLOCK_LEN - 1)) + 1;
    const pad = new Uint8Array(padLen + 8);
    pad[0] = 0x80;
    writeBE(pad, padLen, 8, bits);
    this.update(pad, 0, pad.length);
    for (let j = 0; j < 8; j++) writeBE(out, outOff + 4 * j, 4, this.h[j]);
  }
}
