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
 * COBS-encodes src[off..off+len) into out[outOff..); returns the encoded length (without delimiter),
 * or ERR_BUFFER (out untouched) when out has fewer than cobsMaxEncodedLen(len) bytes left. Output
 * must not overlap the input. The encoding never contains 0x00.
 */
export function cobsEncode(src: Uint8Array, off: number, len: number, out: Uint8Array, outOff: number): number {
  if (off < 0 || len < 0 || off + len > src.length) return ERR_BUFFER;
  if (outOff < 0 || out.length - outOff < cobsMaxEncodedLen(len)) return ERR_BUFFER;
  let codePos = outOff; // where the current block's code byte goes
  let w = outOff + 1;
  let code = 1;
  const end = off + len;
  for (let i = off; i < end; i++) {
    const b = src[i];
    if (b === 0) {
      out[codePos] = code;
      codePos = w++;
      code = 1;
    } else {
      out[w++] = b;
      code++;
      // A full block implies no zero; start the next block only if input remains, so a packet
      // ending on a full block is not followed by a redundant 0x01 (as in the paper's examples).
      if (code === COBS_MAX_CODE && i + 1 < end) {
        out[codePos] = code;
        codePos = w++;
        code = 1;
      }
    }
  }
  out[codePos] = code;
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
  const end = off + len;
  const outEnd = out.length;
  let r = off;
  let w = outOff;
  while (r < end) {
    const code = src[r++];
    if (code === COBS_DELIMITER) return ERR_FRAMING;
    const blockEnd = r + code - 1;
    if (blockEnd > end) return ERR_FRAMING;
    if (w + (code - 1) > outEnd) return ERR_BUFFER;
    while (r < blockEnd) {
      const b = src[r++];
      if (b === COBS_DELIMITER) return ERR_FRAMING;
      out[w++] = b;
    }
    if (code !== COBS_MAX_CODE && r < end) {
      if (w >= outEnd) return ERR_BUFFER;
      out[w++] = 0;
    }
  }
  return w - outOff;
}
