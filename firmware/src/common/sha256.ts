// Compact SHA-256 (FIPS 180-4) for the firmware-update image digest (PROTOCOL.md §10).
// Why our own: @noble/hashes uses features outside the Espruino subset and builds tables at import;
// this one keeps one 64-word schedule and one 64-byte block buffer per hasher, allocated once.

/** Size of a SHA-256 digest in bytes. */
export const SHA256_LEN = 32;
const BLOCK_LEN = 64;

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV = new Uint32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

/** A reusable SHA-256 state: create once, then reset/update/finish any number of times without allocating. */
export class Sha256 {
  private h = new Uint32Array(8);
  private w = new Uint32Array(64);
  private buf = new Uint8Array(BLOCK_LEN);
  private bufLen = 0;
  private total = 0; // bytes hashed so far (< 2^53, far beyond any firmware image)

  constructor() {
    this.reset();
  }

  /** Starts a new digest. */
  reset(): void {
    this.h.set(IV);
    this.bufLen = 0;
    this.total = 0;
  }

  /** Absorbs data[off..off+len). */
  update(data: Uint8Array, off: number, len: number): void {
    this.total += len;
    let i = off;
    const end = off + len;
    while (i < end) {
      this.buf[this.bufLen++] = data[i++];
      if (this.bufLen === BLOCK_LEN) {
        this.compress();
        this.bufLen = 0;
      }
    }
  }

  /** Writes the 32-byte digest to out[outOff..] and leaves the state needing reset(). */
  finish(out: Uint8Array, outOff: number): void {
    const bits = this.total * 8;
    const buf = this.buf;
    buf[this.bufLen++] = 0x80;
    if (this.bufLen > BLOCK_LEN - 8) {
      buf.fill(0, this.bufLen);
      this.compress();
      this.bufLen = 0;
    }
    buf.fill(0, this.bufLen);
    const hi = Math.floor(bits / 0x100000000);
    const lo = bits >>> 0;
    buf[56] = hi >>> 24; buf[57] = hi >>> 16; buf[58] = hi >>> 8; buf[59] = hi;
    buf[60] = lo >>> 24; buf[61] = lo >>> 16; buf[62] = lo >>> 8; buf[63] = lo;
    this.compress();
    for (let j = 0; j < 8; j++) {
      const v = this.h[j];
      out[outOff + 4 * j] = v >>> 24;
      out[outOff + 4 * j + 1] = v >>> 16;
      out[outOff + 4 * j + 2] = v >>> 8;
      out[outOff + 4 * j + 3] = v;
    }
  }

  private compress(): void {
    const w = this.w;
    const b = this.buf;
    for (let t = 0; t < 16; t++) {
      w[t] = (b[4 * t] << 24) | (b[4 * t + 1] << 16) | (b[4 * t + 2] << 8) | b[4 * t + 3];
    }
    for (let t = 16; t < 64; t++) {
      const x = w[t - 15];
      const y = w[t - 2];
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
    }
    const h = this.h;
    let a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K[t] + w[t]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & bb) ^ (a & c) ^ (bb & c);
      const t2 = (S0 + maj) | 0;
      hh = g; g = f; f = e; e = (d + t1) | 0;
      d = c; c = bb; bb = a; a = (t1 + t2) | 0;
    }
    h[0] = h[0] + a; h[1] = h[1] + bb; h[2] = h[2] + c; h[3] = h[3] + d;
    h[4] = h[4] + e; h[5] = h[5] + f; h[6] = h[6] + g; h[7] = h[7] + hh;
  }
}
