/**
 * Byte helpers shared by the security core. Written for the Espruino subset: no default
 * parameters, no spread, no Array.from, no TypedArray.slice (it returns a plain Array there).
 */

/** True when [off, off + len) is a valid integer range inside a buffer of length `bufLen`. */
export function inRange(bufLen: number, off: number, len: number): boolean {
  // x >>> 0 === x: x is an integer in [0, 2^32) (false for NaN, fractions, negatives, non-numbers).
  return off >>> 0 === off && len >>> 0 === len && off + len <= bufLen;
}

/** True when buf is a Uint8Array and [off, off + len) is a valid integer range inside it. */
export function validRange(buf: unknown, off: number, len: number): boolean {
  return buf instanceof Uint8Array && inRange(buf.length, off, len);
}

/** Throws (a caller bug, never attacker input) unless [off, off + len) lies inside buf. */
export function checkRange(buf: Uint8Array, off: number, len: number, what: string): void {
  if (!validRange(buf, off, len)) throw new Error('vakt: ' + what + ' range out of bounds');
}

/**
 * Compares a[aOff..aOff+len) with b[bOff..bOff+len) in time that depends only on len;
 * false (not a throw) for any out-of-bounds range.
 */
export function equalBytes(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number, len: number): boolean {
  if (!inRange(a.length, aOff, len) || !inRange(b.length, bOff, len)) return false;
  let diff = 0;
  for (let i = 0; i < len; i++) diff |= a[aOff + i] ^ b[bOff + i];
  return diff === 0;
}

/** Overwrites every element of buf with zero (key material, plaintext scratch). */
export function wipe(buf: Uint8Array | Uint32Array): void {
  buf.fill(0);
}

/** Reads an unsigned 32-bit big-endian integer at b[off..off+4). */
export function readU32BE(b: Uint8Array, off: number): number {
  return ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
}

/** Writes v (taken modulo 2^32) big-endian to b[off..off+4). */
export function writeU32BE(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = v >>> 16;
  b[off + 2] = v >>> 8;
  b[off + 3] = v;
}

/** Reads an unsigned 16-bit big-endian integer at b[off..off+2). */
export function readU16BE(b: Uint8Array, off: number): number {
  return (b[off] << 8) | b[off + 1];
}

/** Writes v (taken modulo 2^16) big-endian to b[off..off+2). */
export function writeU16BE(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 8;
  b[off + 1] = v;
}

const HEX_RE = /^[0-9a-f]*$/i;

/** Decodes an even-length hex string (either case, no separators) into new bytes; throws on bad input. Not for hot paths. */
export function hexToBytes(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !HEX_RE.test(hex)) throw new Error('vakt: bad hex string');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
  return out;
}

/** Encodes b[off..off+len) (default: all of b) as lowercase hex. Not for hot paths. */
export function bytesToHex(b: Uint8Array, off?: number, len?: number): string {
  const o = off === undefined ? 0 : off;
  const n = len === undefined ? b.length - o : len;
  checkRange(b, o, n, 'hex');
  let s = '';
  for (let i = o; i < o + n; i++) s += (b[i] < 16 ? '0' : '') + b[i].toString(16);
  return s;
}
