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
    // K[0..63] then H(0)[0..7] as 8 hex digits each. A literal in this function stays in flash on
    // Espruino; at module level it would be a 576-character string in RAM.
    const hex =
      '428a2f9871374491b5c0fbcfe9b5dba53956c25b59f111f1923f82a4ab1c5ed5' +
      'd807aa9812835b01243185be550c7dc372be5d7480deb1fe9bdc06a7c19bf174' +
      'e49b69c1efbe47860fc19dc6240ca1cc2de92c6f4a7484aa5cb0a9dc76f988da' +
      '983e5152a831c66db00327c8bf597fc7c6e00bf3d5a7914706ca635114292967' +
      '27b70a852e1b21384d2c6dfc53380d13650a7354766a0abb81c2c92e92722c85' +
      'a2bfe8a1a81a664bc24b8b70c76c51a3d192e819d6990624f40e3585106aa070' +
      '19a4c1161e376c082748774c34b0bcb5391c0cb34ed8aa4a5b9cca4f682e6ff3' +
      '748f82ee78a5636f84c878148cc7020890befffaa4506cebbef9a3f7c67178f2' +
      '6a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19';
    for (let i = 0; i < 72; i++) {
      const v = parseInt(hex.substring(8 * i, 8 * i + 8), 16);
      if (i < 64) this.k[i] = v;
      else this.h[i - 64] = v;
    }
  }

  /** Absorbs data[off..off+len). */
  update(data: Uint8Array, off: number, len: number): void {
    const w = this.w;
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
      const k = this.k;
      const h = this.h;
      let a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
      for (let t = 0; t < 64; t++) {
        if (t >= 16) {
          const x = w[(t - 15) & 15];
          const y = w[(t - 2) & 15];
          const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
          const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
          w[t & 15] = (w[t & 15] + s0 + w[(t - 7) & 15] + s1) | 0;
        }
        const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        const ch = (e & f) ^ (~e & g);
        const t1 = (hh + S1 + ch + k[t] + w[t & 15]) | 0;
        const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        const maj = (a & bb) ^ (a & c) ^ (bb & c);
        hh = g; g = f; f = e; e = (d + t1) | 0;
        d = c; c = bb; bb = a; a = (t1 + S0 + maj) | 0;
      }
      h[0] += a; h[1] += bb; h[2] += c; h[3] += d;
      h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
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
