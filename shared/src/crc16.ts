/**
 * CRC-16/CCITT-FALSE (catalogue name CRC-16/IBM-3740): width 16, poly 0x1021, init 0xFFFF, no
 * reflection, xorout 0. Check value of ASCII "123456789" is 0x29B1; residue 0x0000, so a message
 * followed by its own CRC (big-endian) has CRC 0. Used as the serial-frame trailer (PROTOCOL.md §9).
 *
 * Byte-wise without a table: the polynomial x¹⁶ + x¹² + x⁵ + 1 is sparse enough that the
 * remainder of one byte can be written as three shifts (see crc16Update), so there is neither
 * a bit loop nor a table in RAM.
 */

/** Initial register value of CRC-16/CCITT-FALSE. */
export const CRC16_INIT = 0xffff;
/** Generator polynomial x^16 + x^12 + x^5 + 1 (top bit implicit). */
export const CRC16_POLY = 0x1021;
/** Bytes of the CRC trailer on the line. */
export const CRC16_LEN = 2;
// The exponents of CRC16_POLY's middle terms: x^16 ≡ x^12 + x^5 + 1 (mod the polynomial).
const POLY_X12 = 12;
const POLY_X5 = 5;
const MASK16 = 0xffff;

/** Continues a CRC-16/CCITT-FALSE over buf[off..off+len) from register value crc; returns the new 16-bit register. */
export function crc16Update(crc: number, buf: Uint8Array, off: number, len: number): number {
  let c = crc & MASK16;
  const end = off + len;
  for (let i = off; i < end; i++) {
    // t = the register's top byte xor the input byte must be reduced as t·x^16 ≡ t·(x^12 + x^5 + 1).
    // t·x^12 reaches x^19: its top nibble h = t >>> 4 folds back the same way, h·(x^12 + x^5 + 1),
    // which stays below x^16. Both together are x·(x^12 + x^5 + 1) with x = t ^ h.
    var x = (c >>> 8) ^ buf[i];
    x ^= x >>> 4;
    c = ((c << 8) ^ (x << POLY_X12) ^ (x << POLY_X5) ^ x) & MASK16;
  }
  return c;
}

/** Returns the CRC-16/CCITT-FALSE of buf[off..off+len) (0 … 0xFFFF); reads only inside that range. */
export function crc16(buf: Uint8Array, off: number, len: number): number {
  return crc16Update(CRC16_INIT, buf, off, len);
}
