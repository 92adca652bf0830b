/**
 * Operation ids, link types, directions and the two policy tables of PROTOCOL.md §5 and §7.
 * The receiver takes the tag length, the allowed directions and the ENC flag from these tables,
 * never from the frame (D-4).
 */

// Directions (header flags bit 0).
export const DIR_UP = 0; // toward the HES
export const DIR_DOWN = 1; // toward the meter
/** Direction byte of the firmware image key KF (PROTOCOL.md §4, D-10): a KDF context value no frame key uses, never in a header. */
export const DIR_IMAGE = 2;

// End-to-end operations (low 4 bits of the e2e first byte, PROTOCOL.md §3).
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

// Link frame types (low 4 bits of the hop first byte; type byte of the backhaul header).
export const LINK_DATA = 0x01;
export const LINK_JOIN = 0x02;
export const LINK_LEAVE = 0x03;
export const LINK_ACK = 0x04;
/** Highest link frame type. */
export const LINK_MAX = 0x04;
/** Every backhaul link frame (concentrator ↔ HES, TCP) carries an 8-byte MIC (D-7). */
export const LINK_TAG_LEN = 8;
/** Every radio link frame (meter ↔ concentrator) carries a 4-byte MIC (D-12). */
export const HOP_TAG_LEN = 4;

// Bits of the "allowed directions" tables.
export const ALLOW_UP = 1;
export const ALLOW_DOWN = 2;

/** Largest tag of any policy; scratch buffers are sized by it. */
export const MAX_TAG_LEN = 16;

// A packed policy word (policyOf): tag length in the low bits, then the ENC flag, then the
// allowed-direction bits. One lookup gives the receiver everything the tables say about an op.
/** Mask of the tag length in a policy word. */
export const POLICY_TAG_MASK = 0x1f;
/** ENC flag of a policy word: the op's body is encrypted. */
export const POLICY_ENC = 0x20;
/** Shift of the ALLOW_UP | ALLOW_DOWN bits in a policy word. */
export const POLICY_ALLOW_SHIFT = 6;
/** ALLOW_UP in place in a policy word (ALLOW_UP << POLICY_ALLOW_SHIFT): one AND tests the direction. */
export const POLICY_UP = 0x40;
/** ALLOW_DOWN in place in a policy word (ALLOW_DOWN << POLICY_ALLOW_SHIFT). */
export const POLICY_DOWN = 0x80;
const P_UP = POLICY_UP;
const P_DOWN = POLICY_DOWN;
const P_ENC = POLICY_ENC;
const ENC_SHIFT = 5; // POLICY_ENC = 1 << ENC_SHIFT
const ALLOW_MASK = 3; // ALLOW_UP | ALLOW_DOWN

// The policy tables, one packed word per op, indexed by op id; index 0 is unused (0 is not an op)
// and a word 0 means unknown. Two small arrays instead of five (~20 Espruino variables less).
/** Policy word per end-to-end op (PROTOCOL.md §5): tag length | P_ENC | allowed directions. */
export const E2E_POLICY = new Uint8Array([
  0,
  8 | P_ENC | P_UP, // READING (D-13: 64 bits, the floor)
  12 | P_ENC | P_UP | P_DOWN, // READ
  16 | P_ENC | P_UP | P_DOWN, // RELAY
  16 | P_ENC | P_UP | P_DOWN, // CONFIG
  12 | P_UP | P_DOWN, // CLOCK
  12 | P_UP | P_DOWN, // FIRMWARE (D-13: the image has its own 128-bit CMAC, D-10)
  16 | P_ENC | P_UP | P_DOWN, // KEY_UPDATE
  12 | P_ENC | P_UP, // EVENT
  8 | P_UP | P_DOWN, // ACK
]);
/** Policy word per backhaul link type (PROTOCOL.md §7): every backhaul frame carries a LINK_TAG_LEN-byte MIC. */
export const LINK_POLICY = new Uint8Array([
  0,
  LINK_TAG_LEN | P_UP | P_DOWN, // DATA
  LINK_TAG_LEN | P_ENC | P_DOWN, // JOIN
  LINK_TAG_LEN | P_ENC | P_DOWN, // LEAVE
  LINK_TAG_LEN | P_UP | P_DOWN, // ACK
]);
/** Policy word per radio link type (PROTOCOL.md §7): DATA and LINK_ACK only, HOP_TAG_LEN-byte MIC. */
export const HOP_POLICY = new Uint8Array([
  0,
  HOP_TAG_LEN | P_UP | P_DOWN, // DATA
  0, // JOIN: backhaul only
  0, // LEAVE: backhaul only
  HOP_TAG_LEN | P_UP | P_DOWN, // ACK
]);

// One field of every word of a policy table, as its own table (the per-field views below).
function policyField(words: Uint8Array, shift: number, mask: number): Uint8Array {
  const t = new Uint8Array(words.length);
  for (let i = 0; i < words.length; i++) t[i] = (words[i] >>> shift) & mask;
  return t;
}

// Per-field tables, derived from the words above. Marked pure: a bundle that does not read them
// (the meter) does not build them.
/** Allowed directions per end-to-end op (ALLOW_UP | ALLOW_DOWN bits; 0 = unknown op). */
export const E2E_ALLOW = /* @__PURE__ */ policyField(E2E_POLICY, POLICY_ALLOW_SHIFT, ALLOW_MASK);
/** ENC flag required per end-to-end op (1 encrypted body, 0 MIC only). */
export const E2E_ENC = /* @__PURE__ */ policyField(E2E_POLICY, ENC_SHIFT, 1);
/** Tag length in bytes per end-to-end op. */
export const E2E_TAG = /* @__PURE__ */ policyField(E2E_POLICY, 0, POLICY_TAG_MASK);
/** Allowed directions per link type. */
export const LINK_ALLOW = /* @__PURE__ */ policyField(LINK_POLICY, POLICY_ALLOW_SHIFT, ALLOW_MASK);
/** ENC flag required per link type. */
export const LINK_ENC = /* @__PURE__ */ policyField(LINK_POLICY, ENC_SHIFT, 1);

/**
 * Packed policy of (layer code, op): tag length | POLICY_ENC when encrypted | allowed directions
 * << POLICY_ALLOW_SHIFT; 0 when the layer or op is unknown (every known op has a tag). Layer codes
 * (frame.ts): 0x02 end to end, 0x42 radio link, 0x82 backhaul link.
 */
export function policyOf(version: number, op: number): number {
  if (version === 0x02 && op >= 1 && op <= OP_MAX) return E2E_POLICY[op] | 0;
  if (version === 0x42 && op >= 1 && op <= LINK_MAX) return HOP_POLICY[op] | 0;
  if (version === 0x82 && op >= 1 && op <= LINK_MAX) return LINK_POLICY[op] | 0;
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
