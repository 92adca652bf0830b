/**
 * Operation ids, link types, directions and the two policy tables of PROTOCOL.md §5 and §7.
 * The receiver takes the tag length, the allowed directions and the ENC flag from these tables,
 * never from the frame (D-4).
 */

// Directions (header flags bit 0).
export const DIR_UP = 0; // toward the HES
export const DIR_DOWN = 1; // toward the meter

// End-to-end operations (header op byte, version 0x01).
export const OP_READING = 0x01;
export const OP_READ = 0x02;
export const OP_RELAY = 0x03;
export const OP_CONFIG = 0x04;
export const OP_CLOCK = 0x05;
export const OP_FIRMWARE = 0x06;
export const OP_KEY_UPDATE = 0x07;
export const OP_EVENT = 0x08;
export const OP_ACK = 0x09;
/** Highest end-to-end operation id. */
export const OP_MAX = 0x09;

// Link frame types (header op byte, version 0x81).
export const LINK_DATA = 0x01;
export const LINK_JOIN = 0x02;
export const LINK_LEAVE = 0x03;
export const LINK_ACK = 0x04;
/** Highest link frame type. */
export const LINK_MAX = 0x04;
/** Every link frame carries an 8-byte MIC (D-7). */
export const LINK_TAG_LEN = 8;

// Bits of the "allowed directions" tables.
export const ALLOW_UP = 1;
export const ALLOW_DOWN = 2;
const BOTH = ALLOW_UP | ALLOW_DOWN;

/** Largest tag of any policy; scratch buffers are sized by it. */
export const MAX_TAG_LEN = 16;

// Tables indexed by op id; index 0 is unused (0 is not an op), an entry 0 in *_ALLOW means unknown.
/** Allowed directions per end-to-end op (ALLOW_UP | ALLOW_DOWN bits). */
export const E2E_ALLOW = new Uint8Array([0, ALLOW_UP, BOTH, BOTH, BOTH, BOTH, BOTH, BOTH, ALLOW_UP, BOTH]);
/** ENC flag required per end-to-end op (1 encrypted body, 0 MIC only). */
export const E2E_ENC = new Uint8Array([0, 1, 1, 1, 1, 0, 0, 1, 1, 0]);
/** Tag length in bytes per end-to-end op. */
export const E2E_TAG = new Uint8Array([0, 12, 12, 16, 16, 12, 16, 16, 12, 8]);

/** Allowed directions per link type. */
export const LINK_ALLOW = new Uint8Array([0, BOTH, ALLOW_DOWN, ALLOW_DOWN, BOTH]);
/** ENC flag required per link type. */
export const LINK_ENC = new Uint8Array([0, 0, 1, 1, 0]);

// A packed policy word (policyOf): tag length in the low bits, then the ENC flag, then the
// allowed-direction bits. One lookup gives the receiver everything the tables say about an op.
/** Mask of the tag length in a policy word. */
export const POLICY_TAG_MASK = 0x1f;
/** ENC flag of a policy word: the op's body is encrypted. */
export const POLICY_ENC = 0x20;
/** Shift of the ALLOW_UP | ALLOW_DOWN bits in a policy word. */
export const POLICY_ALLOW_SHIFT = 6;

/**
 * Packed policy of (version byte, op): tag length | POLICY_ENC when encrypted | allowed directions
 * << POLICY_ALLOW_SHIFT; 0 when the version or op is unknown (every known op has a tag).
 */
export function policyOf(version: number, op: number): number {
  if (version === 0x01 && op >= 1 && op <= OP_MAX) {
    return E2E_TAG[op] | (E2E_ENC[op] === 1 ? POLICY_ENC : 0) | (E2E_ALLOW[op] << POLICY_ALLOW_SHIFT);
  }
  if (version === 0x81 && op >= 1 && op <= LINK_MAX) {
    return LINK_TAG_LEN | (LINK_ENC[op] === 1 ? POLICY_ENC : 0) | (LINK_ALLOW[op] << POLICY_ALLOW_SHIFT);
  }
  return 0;
}

/** Tag length of (version byte, op) per policy, or 0 when the version or op is unknown. */
export function policyTagLen(version: number, op: number): number {
  return policyOf(version, op) & POLICY_TAG_MASK;
}

/** ENC flag (0/1) required for (version byte, op), or -1 when unknown. */
export function policyEnc(version: number, op: number): number {
  const p = policyOf(version, op);
  return p === 0 ? -1 : (p & POLICY_ENC) !== 0 ? 1 : 0;
}

/** True when direction `dir` (DIR_UP/DIR_DOWN) is allowed for (version byte, op). */
export function policyAllows(version: number, op: number, dir: number): boolean {
  const bit = dir === DIR_DOWN ? ALLOW_DOWN : dir === DIR_UP ? ALLOW_UP : 0;
  return ((policyOf(version, op) >>> POLICY_ALLOW_SHIFT) & bit) !== 0;
}
