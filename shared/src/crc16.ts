/**
 * CRC-16/CCITT-FALSE (catalogue name CRC-16/IBM-3740): width 16, poly 0x1021, init 0xFFFF, no
 * reflection, xorout 0. Check value of ASCII "123456789" is 0x29B1; residue 0x0000, so a message
 * followed by its own CRC (big-endian) has CRC 0. Used as the serial-frame trailer (PROTOCOL.md §9).
 *
 * Nibble-table implementation: a 16-entry table (32 bytes) instead of the usual 256-entry one,
 * two lookups per byte, so it stays small on a microcontroller and 4x fewer steps than bitwise.
 */

/** Initial register value of CRC-16/CCITT-FALSE. */
export const CRC16_INIT = 0xffff;
/** Generator polynomial x^16 + x^12 + x^5 + 1 (top bit implicit). */
export const CRC16_POLY = 0x1021;
/** Bytes of the CRC trailer on the line. */
export const CRC16_LEN = 2;
const NIBBLE_COUNT = 16;
const TOP_BIT = 0x8000;
const MASK16 = 0xffff;

// Built once at load by an IIFE, so no function object stays in RAM afterwards.
const NIBBLE_TABLE = (function buildNibbleTable(): Uint16Array {
  const t = new Uint16Array(NIBBLE_COUNT);
  for (let n = 0; n < NIBBLE_COUNT; n++) {
    // CRC of a single nibble n placed at the top of the register, shifted through 4 bit steps.
    let c = n << 12;
    for (let b = 0; b < 4; b++) c = c & TOP_BIT ? ((c << 1) ^ CRC16_POLY) & MASK16 : (c << 1) & MASK16;
    t[n] = c;
  }
  return t;
})();

/** Continues a CRC-16/CCITT-FALSE over buf[off..off+len) from register value crc; returns the new 16-bit register. */
export function crc16Update(crc: number, buf: Uint8Array, off: number, len: number): number {
  const t = NIBBLE_TABLE;
  let c = crc & MASK16;
  const end = off + len;
  for (let i = off; i < end; i++) {
    const b = buf[i];
    c = (t[(c >>> 12) ^ (b >>> 4)] ^ (c << 4)) & MASK16;
    c = (t[(c >>> 12) ^ (b & 0x0f)] ^ (c << 4)) & MASK16;
  }
  return c;
}

/** Returns the CRC-16/CCITT-FALSE of buf[off..off+len) (0 … 0xFFFF); reads only inside that range. */
export function crc16(buf: Uint8Array, off: number, len: number): number {
  return crc16Update(CRC16_INIT, buf, off, len);
}
