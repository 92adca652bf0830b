/**
 * CRC-16/CCITT-FALSE (catalogue name CRC-16/IBM-3740): width 16, poly 0x1021, init 0xFFFF, no
 * reflection, xorout 0. Check value of ASCII "123456789" is 0x29B1; residue 0x0000, so a message
 * followed by its own CRC (big-endian) has CRC 0. Used as the serial-frame trailer (PROTOCOL.md §9).
 *
 * Two bytes per step, without a table: the polynomial x¹⁶ + x¹² + x⁵ + 1 is sparse enough that the
 * remainder of a 16-bit word can be written as a few shifts (see crc16Update), so there is neither
 * a bit loop nor a table in RAM, and half as many loop trips as byte-wise (the Espruino interpreter
 * pays per token executed: ~24 k instructions per byte instead of ~47 k).
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
  var c = crc & MASK16;
  var end = off + len;
  var t, k;
  while (off < end) {
    // Two bytes: the register xor the next 16 input bits is t, and the new register is
    // t·x^16 mod P. Write t·x^16 = q·P + r: then r = q·(x^12 + x^5 + 1) mod x^16, where the
    // quotient q solves t = q ^ q>>>4 ^ q>>>11 (the part of q·P above x^16). With N = >>>4 ^ >>>11,
    // N² = >>>8 and N³ = >>>12 on 16 bits (N⁴ = 0), so q = (1 + N + N² + N³)·t, as below.
    // An odd last byte b: the register becomes (c ^ b<<8)·x^8 mod P, i.e. the same reduction of
    // its top byte t, plus its low byte k moved up (with k = 0, the two-byte case).
    t = c ^ (buf[off++] << 8);
    if (off < end) {
      t ^= buf[off++];
      k = 0;
    } else {
      k = (t & 0xff) << 8;
      t >>>= 8;
    }
    t ^= (t >>> 4) ^ (t >>> 8) ^ (t >>> 11) ^ (t >>> 12);
    c = ((t << POLY_X12) ^ (t << POLY_X5) ^ t ^ k) & MASK16;
  }
  return c;
}

/** Returns the CRC-16/CCITT-FALSE of buf[off..off+len) (0 … 0xFFFF); reads only inside that range. */
export function crc16(buf: Uint8Array, off: number, len: number): number {
  return crc16Update(CRC16_INIT, buf, off, len);
}
