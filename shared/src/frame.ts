/**
 * The 26-byte frame header shared by end-to-end and link frames (PROTOCOL.md §3).
 * parseHeader fills a caller-owned, reusable FrameHeader in place and checks everything that can be
 * checked before any cryptography: length, version, flags, op and policy.
 */
import { ERR_BUFFER, ERR_FLAGS, ERR_LENGTH, ERR_OP, ERR_POLICY, ERR_VERSION } from './errors.ts';
import { POLICY_ENC, POLICY_TAG_MASK, POLICY_UP, policyOf } from './policy.ts';
import { equalBytes, readU32BE, validRange } from './utils.ts';

export const HEADER_LEN = 26;
export const E2E_VERSION = 0x01;
export const LINK_VERSION = 0x81;
export const MAX_BODY = 1024;
export const ID_LEN = 8;
export const NONCE_LEN = 13;
/** Flags bit 0: direction (set = DOWN). */
export const FLAG_DOWN = 0x01;
/** Flags bit 1: body encrypted. */
export const FLAG_ENC = 0x02;
const FLAGS_RESERVED = 0xfc;
// Derived sizes are written as literals (their formula beside them, checked by the conformance
// suite): the firmware build inlines only literal constants, and every constant it cannot inline
// stays an Espruino variable for the program's life.
/** Largest end-to-end frame: header + MAX_BODY + 16-byte tag. */
export const MAX_E2E_FRAME = 1066; // HEADER_LEN + MAX_BODY + 16
/** Largest link frame: header + MAX_BODY + 8-byte tag. */
export const MAX_LINK_FRAME = 1058; // HEADER_LEN + MAX_BODY + 8
/** Largest end-to-end body that still fits, as a whole frame, in a link DATA body (MAX_BODY). */
export const MAX_E2E_BODY_FORWARDED = 982; // MAX_BODY - HEADER_LEN - 16

// Header field offsets.
export const OFF_VERSION = 0;
export const OFF_FLAGS = 1;
export const OFF_OP = 2;
export const OFF_GEN = 3;
export const OFF_SENDER = 4;
export const OFF_RECEIVER = 12;
export const OFF_COUNTER = 20;
export const OFF_BODY_LEN = 24;
/** Low byte of the body length, as a literal (the build inlines constants after minifying, so
 *  OFF_BODY_LEN + 1 would stay a sum in the bundle). */
export const OFF_BODY_LEN_LO = 25;
const OFF_OP_IN_NONCE = 12; // ID_LEN + 4: the op byte after sender and counter
const NONCE_COUNTER_SHIFT = 12; // OFF_COUNTER - ID_LEN: header offset of nonce byte i for i >= ID_LEN

/** A parsed header; one object is reused for every frame (no allocation per frame). */
export interface FrameHeader {
  version: number; // E2E_VERSION or LINK_VERSION
  flags: number;
  dir: number; // DIR_UP or DIR_DOWN
  enc: number; // 1 body encrypted, 0 MIC only
  op: number; // operation id (e2e) or link type (link)
  gen: number; // key generation
  sender: Uint8Array; // 8 bytes, owned by the header, overwritten by each parse
  receiver: Uint8Array; // 8 bytes, owned by the header
  counter: number; // 1 .. 2^32-1 (0 is never accepted)
  bodyLen: number;
  tagLen: number; // from policy, not from the frame
  frameLen: number; // HEADER_LEN + bodyLen + tagLen
}

/** Allocates one reusable header (call once at start-up, not per frame). */
export function createHeader(): FrameHeader {
  return {
    version: 0,
    flags: 0,
    dir: 0,
    enc: 0,
    op: 0,
    gen: 0,
    sender: new Uint8Array(ID_LEN),
    receiver: new Uint8Array(ID_LEN),
    counter: 0,
    bodyLen: 0,
    tagLen: 0,
    frameLen: 0,
  };
}

/**
 * Checks frame[off..off+len) as one whole frame and fills hdr. Returns 0, or ERR_BUFFER /
 * ERR_LENGTH / ERR_VERSION / ERR_FLAGS / ERR_OP / ERR_POLICY (in that order of checking) and
 * leaves hdr untouched. Never throws; does no cryptography. With verify = true (openFrame's
 * check) hdr is only compared, never written: 0 when it already holds exactly what these bytes
 * parse to (every field, ids included), otherwise ERR_BUFFER or the parse error.
 */
export function parseHeader(frame: Uint8Array, off: number, len: number, hdr: FrameHeader, verify?: boolean): number {
  if (!validRange(frame, off, len)) return ERR_BUFFER;
  if (len < HEADER_LEN) return ERR_LENGTH;
  const version = frame[off]; // OFF_VERSION = 0
  if (version !== E2E_VERSION && version !== LINK_VERSION) return ERR_VERSION;
  const flags = frame[off + OFF_FLAGS];
  if ((flags & FLAGS_RESERVED) !== 0) return ERR_FLAGS;
  const op = frame[off + OFF_OP];
  const policy = policyOf(version, op);
  if (policy === 0) return ERR_OP;
  // Flags bit 0 is the direction itself (DIR_UP 0, DIR_DOWN 1, §3); POLICY_UP << dir is then
  // POLICY_UP or POLICY_DOWN, the policy bit of that direction.
  const dir = flags & FLAG_DOWN;
  // The ENC bit as 0/1, in the flags and in the policy word.
  const enc = (flags & FLAG_ENC) / FLAG_ENC;
  if ((policy & (POLICY_UP << dir)) === 0 || (policy & POLICY_ENC) / POLICY_ENC !== enc) return ERR_POLICY;
  const bodyLen = (frame[off + OFF_BODY_LEN] << 8) | frame[off + OFF_BODY_LEN_LO];
  const tagLen = policy & POLICY_TAG_MASK;
  if (bodyLen > MAX_BODY || len !== HEADER_LEN + bodyLen + tagLen) return ERR_LENGTH;
  const gen = frame[off + OFF_GEN];
  const counter = readU32BE(frame, off + OFF_COUNTER);
  if (verify === true) {
    return hdr.version === version && hdr.flags === flags && hdr.dir === dir && hdr.enc === enc && hdr.op === op &&
      hdr.gen === gen && hdr.counter === counter && hdr.bodyLen === bodyLen && hdr.tagLen === tagLen && hdr.frameLen === len &&
      equalBytes(frame, off + OFF_SENDER, hdr.sender, 0, ID_LEN) && equalBytes(frame, off + OFF_RECEIVER, hdr.receiver, 0, ID_LEN)
      ? 0
      : ERR_BUFFER;
  }
  hdr.version = version;
  hdr.flags = flags;
  hdr.dir = dir;
  hdr.enc = enc;
  hdr.op = op;
  hdr.gen = gen;
  for (let i = 0; i < ID_LEN; i++) {
    hdr.sender[i] = frame[off + OFF_SENDER + i];
    hdr.receiver[i] = frame[off + OFF_RECEIVER + i];
  }
  hdr.counter = counter;
  hdr.bodyLen = bodyLen;
  hdr.tagLen = tagLen;
  hdr.frameLen = len;
  return 0;
}

/**
 * Writes a 26-byte header at out[off..]. The caller guarantees the range and field values
 * (sealFrame checks them); sender and receiver are exactly 8-byte ids (createKeySlot checks that).
 */
export function writeHeader(
  out: Uint8Array,
  off: number,
  version: number,
  flags: number,
  op: number,
  gen: number,
  sender: Uint8Array,
  receiver: Uint8Array,
  counter: number,
  bodyLen: number,
): void {
  // Byte stores keep the low 8 bits (Uint8Array conversion), so no masks are needed.
  out[off + OFF_VERSION] = version;
  out[off + OFF_FLAGS] = flags;
  out[off + OFF_OP] = op;
  out[off + OFF_GEN] = gen;
  // Whole-array native copies (no view allocated).
  out.set(sender, off + OFF_SENDER);
  out.set(receiver, off + OFF_RECEIVER);
  // Counter big-endian, most significant byte first.
  for (let i = 0; i < 4; i++) out[off + OFF_COUNTER + i] = counter >>> (24 - 8 * i);
  out[off + OFF_BODY_LEN] = bodyLen >>> 8;
  out[off + OFF_BODY_LEN_LO] = bodyLen;
}

/** Writes the 13-byte CCM nonce sender(8) ‖ counter(4) ‖ op(1) of a header at frame[off..] into out[outOff..]. */
export function writeNonce(frame: Uint8Array, off: number, out: Uint8Array, outOff: number): void {
  // Sender (header bytes 4..11) then counter (20..23): one loop, the source jumps after the id.
  for (let i = 0; i < OFF_OP_IN_NONCE; i++) out[outOff + i] = frame[off + i + (i < ID_LEN ? OFF_SENDER : NONCE_COUNTER_SHIFT)];
  out[outOff + OFF_OP_IN_NONCE] = frame[off + OFF_OP];
}
