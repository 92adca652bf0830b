/**
 * Consistent Overhead Byte Stuffing (Cheshire & Baker, IEEE/ACM ToN 1999): removes every 0x00 from a
 * packet so that 0x00 can delimit packets on a byte stream. The encoded form is a sequence of
 * blocks; a block is a code byte c (1 … 255) followed by c − 1 non-zero data bytes, and every block
 * with c < 255 stands for its data followed by one 0x00, except at the very end of the packet.
 * Neither function writes the 0x00 delimiter; serial.ts adds and strips it.
 */

import { ERR_BUFFER, ERR_FRAMING } from './errors.ts';

/** Largest code byte: a block of 254 data bytes and no implied zero. */
export const COBS_MAX_CODE = 0xff;
/** Data bytes in a full (0xFF) block. */
export const COBS_BLOCK_DATA = 254; // COBS_MAX_CODE - 1 (a literal: the firmware build inlines only literals)
/** The delimiter that COBS output never contains. */
export const COBS_DELIMITER = 0x00;

/** Returns the largest encoded length of n input bytes: n + ⌊n / 254⌋ + 1 (delimiter not included). */
export function cobsMaxEncodedLen(n: number): number {
  return n + Math.floor(n / COBS_BLOCK_DATA) + 1;
}

/**
 * Index of the first 0x00 in b[from..end), or end if there is none. TypedArray indexOf is native
 * on every engine: on the Espruino interpreter one call per COBS block costs what two bytes of a
 * JavaScript byte loop cost (~7 k instructions).
 */
export function zeroIndex(b: Uint8Array, from: number, end: number): number {
  var z = b.indexOf(COBS_DELIMITER, from);
  return z < 0 || z > end ? end : z;
}

/**
 * Copies src[a..b) to dst[w..) and returns w + (b - a). A plain loop, not set(subarray()): the core
 * allocates nothing in steady state (a view per block would). On the Espruino interpreter it is
 * ~3.8 k instructions per byte, against ~26-46 k per byte of the byte-at-a-time COBS and serial
 * encoders it replaces. dst may be src with w <= a.
 */
export function copyBytes(src: Uint8Array, a: number, b: number, dst: Uint8Array, w: number): number {
  while (a < b) dst[w++] = src[a++];
  return w;
}

/**
 * COBS-encodes src[off..off+len) into out[outOff..); returns the encoded length (without delimiter),
 * or ERR_BUFFER (out untouched) when out has fewer than cobsMaxEncodedLen(len) bytes left. Output
 * must not overlap the input. The encoding never contains 0x00. Block by block: each block's end
 * is found with one native search, its data copied by copyBytes.
 */
export function cobsEncode(src: Uint8Array, off: number, len: number, out: Uint8Array, outOff: number): number {
  if (off < 0 || len < 0 || off + len > src.length) return ERR_BUFFER;
  if (outOff < 0 || out.length - outOff < cobsMaxEncodedLen(len)) return ERR_BUFFER;
  var end = off + len;
  var w = outOff;
  var i = off;
  for (;;) {
    // Block data src[i..j): up to the next zero, at most COBS_BLOCK_DATA bytes, or to the end.
    var j = zeroIndex(src, i, end - i > COBS_BLOCK_DATA ? i + COBS_BLOCK_DATA : end);
    out[w] = j - i + 1;
    w = copyBytes(src, i, j, out, w + 1);
    if (j === end) break;
    // A zero ended the block: the code byte implies it. A full block implies no zero, and input
    // ending on a full block gets no trailing 0x01 block (as in the paper's examples).
    i = j - i === COBS_BLOCK_DATA ? j : j + 1;
  }
  return w - outOff;
}

/**
 * Decodes the COBS packet src[off..off+len) (no delimiter) into out[outOff..); returns the decoded
 * length, ERR_FRAMING when the input contains 0x00, is empty, or a code byte runs past the end, or
 * ERR_BUFFER when out is too small. May decode in place (out === src, outOff <= off): the output
 * never overtakes the input. Never throws.
 */
export function cobsDecode(src: Uint8Array, off: number, len: number, out: Uint8Array, outOff: number): number {
  if (off < 0 || len < 0 || off + len > src.length || outOff < 0 || outOff > out.length) return ERR_BUFFER;
  if (len === 0) return ERR_FRAMING;
  var end = off + len;
  var outEnd = out.length;
  var r = off;
  var w = outOff;
  while (r < end) {
    var code = src[r++];
    if (code === COBS_DELIMITER) return ERR_FRAMING;
    var blockEnd = r + code - 1;
    if (blockEnd > end) return ERR_FRAMING;
    if (w + (code - 1) > outEnd) return ERR_BUFFER;
    if (zeroIndex(src, r, blockEnd) < blockEnd) return ERR_FRAMING;
    // In place, w <= r: a front-to-back copy never overwrites a byte before it is read.
    w = copyBytes(src, r, blockEnd, out, w);
    r = blockEnd;
    if (code !== COBS_MAX_CODE && r < end) {
      if (w >= outEnd) return ERR_BUFFER;
      out[w++] = 0;
    }
  }
  return w - outOff;
}
