/**
 * Wire v2 frame headers (PROTOCOL.md §3): three kinds, told apart by the first byte.
 *
 * | kind | first byte | header on the wire |
 * |---|---|---|
 * | end-to-end (e2e) | 0x20-0x3F: `0x20 | X<<4 | op` | op/X (1) ‖ gen (1) ‖ counter (2, or 4 when X) |
 * | radio link (hop), meter ↔ concentrator | 0x40-0x7F: `0x40 | X<<5 | dir<<4 | type` | type (1) ‖ short address (2) ‖ counter (1, or 4 when X) |
 * | backhaul link, concentrator ↔ HES (TCP) | 0x82 | the 26-byte v1 layout: 82 ‖ flags ‖ type ‖ gen ‖ sender (8) ‖ receiver (8) ‖ counter (4) ‖ body length (2) |
 *
 * What an e2e or hop header leaves out (ids, the full counter, gen on the hop, direction on e2e)
 * the receiver rebuilds from its key slot into the 26-byte reconstructed header R (the v1 layout
 * with the layer code), which leads the associated data (seal.ts). parseHeader checks everything
 * that can be checked before any key lookup: length, first byte, op and policy. It fills a
 * caller-owned, reusable FrameHeader; for e2e and hop frames the ids, the full counter (and, for
 * e2e, the direction) are filled in by openFrame once the frame verified.
 */
import { ERR_BUFFER, ERR_FLAGS, ERR_LENGTH, ERR_OP, ERR_POLICY, ERR_VERSION } from './errors.ts';
import { POLICY_ENC, POLICY_TAG_MASK, POLICY_UP, policyOf } from './policy.ts';
import { CRC16_INIT, crc16Update } from './crc16.ts';
import { equalBytes, readU32BE, validRange } from './utils.ts';

/** Length of the backhaul header and of the reconstructed header R; the largest header of any kind. */
export const HEADER_LEN = 26;
/** Layer code of end-to-end frames (slot.layer, R byte 0). */
export const E2E_VERSION = 0x02;
/** Layer code of radio link frames, meter ↔ concentrator (slot.layer, R byte 0). */
export const LINK_VERSION = 0x42;
/** Layer code and first byte of backhaul link frames, concentrator ↔ HES over TCP. */
export const BACKHAUL_VERSION = 0x82;
/** Wire v1 first bytes: refused everywhere (ERR_VERSION, a downgrade). */
export const V1_E2E_VERSION = 0x01;
export const V1_LINK_VERSION = 0x81;
export const MAX_BODY = 1024;
export const ID_LEN = 8;
export const NONCE_LEN = 13;

// First byte of an e2e frame: 001X oooo.
/** Top three bits of an e2e first byte (marker 001). */
export const E2E_MARK = 0x20;
const E2E_MARK_MASK = 0xe0;
/** X bit of an e2e first byte: the full 32-bit counter follows the gen byte. */
export const E2E_FULL = 0x10;
const OP_MASK = 0x0f;
// First byte of a hop frame: 01XD tttt.
/** Top two bits of a hop first byte (marker 01). */
export const HOP_MARK = 0x40;
const HOP_MARK_MASK = 0xc0;
/** X bit of a hop first byte: the full 32-bit counter follows the short address. */
export const HOP_FULL = 0x20;
/** Direction bit of a hop first byte (set = DOWN). */
export const HOP_DOWN = 0x10;
/** Wire header lengths, short and full counter form. */
export const E2E_HDR_SHORT = 4; // E0 ‖ gen ‖ counter low 16 bits
export const E2E_HDR_FULL = 6; // E0 ‖ gen ‖ counter
export const HOP_HDR_SHORT = 4; // LB ‖ addr(2) ‖ counter low 8 bits
export const HOP_HDR_FULL = 7; // LB ‖ addr(2) ‖ counter
/** Counter values distinguishable in the short form: 2^16 (e2e) and 2^8 (hop). */
export const E2E_CTR_WINDOW = 0x10000;
export const HOP_CTR_WINDOW = 0x100;
/** Short addresses on the radio hop: 1..0xFFFE (0 and 0xFFFF are reserved, never assigned). */
export const ADDR_MIN = 1;
export const ADDR_MAX = 0xfffe;
/** Backhaul flags bit 0: direction (set = DOWN); also R's flags. */
export const FLAG_DOWN = 0x01;
/** Backhaul flags bit 1: body encrypted; also R's flags. */
export const FLAG_ENC = 0x02;
const FLAGS_RESERVED = 0xfc;
// Derived sizes are written as literals (their formula beside them, checked by the conformance
// suite): the firmware build inlines only literal constants.
/** Largest end-to-end frame: full header + MAX_BODY + 16-byte tag. */
export const MAX_E2E_FRAME = 1046; // E2E_HDR_FULL + MAX_BODY + 16
/** Largest link frame of either kind (the backhaul one): header + MAX_BODY + 8-byte MIC. */
export const MAX_LINK_FRAME = 1058; // HEADER_LEN + MAX_BODY + 8
/** Largest end-to-end body that still fits, as a whole frame after the 8-byte meter id, in a backhaul DATA body. */
export const MAX_E2E_BODY_FORWARDED = 994; // MAX_BODY - ID_LEN - E2E_HDR_FULL - 16

// Offsets of the backhaul header and of R.
export const OFF_VERSION = 0;
export const OFF_FLAGS = 1;
export const OFF_OP = 2;
export const OFF_GEN = 3;
export const OFF_SENDER = 4;
export const OFF_RECEIVER = 12;
export const OFF_COUNTER = 20;
export const OFF_BODY_LEN = 24;
/** Low byte of the body length, as a literal. */
export const OFF_BODY_LEN_LO = 25;
// Nonce layout (writeNonce uses these as literals): sender 0..7 from R 4..11, counter 8..11 from
// R 20..23 (NONCE_COUNTER_SHIFT = OFF_COUNTER - ID_LEN), op at OFF_OP_IN_NONCE = ID_LEN + 4 from R 2.
/** Offsets in a hop header: short address, counter; in an e2e header: gen, counter. */
const HOP_OFF_ADDR = 1;
const HOP_OFF_CTR = 3;
const E2E_OFF_GEN = 1;
const E2E_OFF_CTR = 2;

/** A parsed header; one object is reused for every frame (no allocation per frame). */
export interface FrameHeader {
  version: number; // layer code: E2E_VERSION, LINK_VERSION or BACKHAUL_VERSION
  flags: number; // R's flags (dir | ENC << 1); e2e: set by openFrame
  dir: number; // DIR_UP or DIR_DOWN; e2e: -1 until openFrame (the receiver's own direction)
  enc: number; // 1 body encrypted, 0 MIC only (from policy)
  op: number; // operation id (e2e) or link type (link)
  gen: number; // key generation; hop: set by openFrame from the slot
  sender: Uint8Array; // 8 bytes; e2e/hop: set by openFrame from the slot
  receiver: Uint8Array; // 8 bytes; e2e/hop: set by openFrame from the slot
  counter: number; // full counter; e2e/hop: the wire value until openFrame reconstructs it
  full: number; // 1 when the wire carries the full counter (always on the backhaul)
  addr: number; // hop: the meter's short address; 0 otherwise
  hdrLen: number; // header bytes on the wire (the body starts there)
  bodyLen: number;
  tagLen: number; // from policy, not from the frame
  frameLen: number; // hdrLen + bodyLen + tagLen
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
    full: 0,
    addr: 0,
    hdrLen: 0,
    bodyLen: 0,
    tagLen: 0,
    frameLen: 0,
  };
}

/** Header length on the wire of a frame of `layer` with the short (full = 0) or full counter. */
export function headerLen(layer: number, full: number): number {
  if (layer === BACKHAUL_VERSION) return HEADER_LEN;
  if (layer === LINK_VERSION) return full ? HOP_HDR_FULL : HOP_HDR_SHORT;
  return full ? E2E_HDR_FULL : E2E_HDR_SHORT;
}

// What a parser read in verify mode, to compare with the caller's header (allocated once).
let scratch: FrameHeader | null = null;

/** Parses one whole frame into hdr (a parser below); returns 0 or an error code, hdr untouched on error. */
type HeaderParser = (frame: Uint8Array, off: number, len: number, hdr: FrameHeader) => number;

/**
 * Checks frame[off..off+len) as one whole frame and fills hdr, for all three kinds (the
 * concentrator and the HES). Returns 0, or ERR_BUFFER / ERR_LENGTH / ERR_VERSION / ERR_FLAGS /
 * ERR_OP / ERR_POLICY and leaves hdr untouched. Never throws; does no cryptography. With
 * verify = true (openFrame's check) hdr is only compared: 0 when every field these bytes
 * determine is what hdr holds (ids only on the backhaul, where they are on the wire), otherwise
 * ERR_BUFFER or the parse error.
 */
export function parseHeader(frame: Uint8Array, off: number, len: number, hdr: FrameHeader, verify?: boolean): number {
  if (verify !== true) return parseAny(frame, off, len, hdr);
  const r = verifyHeader(parseAny, frame, off, len, hdr);
  const v = scratch as FrameHeader;
  return r !== 0 ||
    v.version !== BACKHAUL_VERSION ||
    (equalBytes(v.sender, 0, hdr.sender, 0, ID_LEN) && equalBytes(v.receiver, 0, hdr.receiver, 0, ID_LEN))
    ? r
    : ERR_BUFFER;
}

/**
 * parseHeader for the two radio kinds only (e2e and hop: what a meter receives); a backhaul
 * frame is ERR_VERSION here. Kept apart so that a meter build carries no backhaul parser.
 */
export function parseRadioHeader(frame: Uint8Array, off: number, len: number, hdr: FrameHeader, verify?: boolean): number {
  return verify === true ? verifyHeader(parseRadio, frame, off, len, hdr) : parseRadio(frame, off, len, hdr);
}

// Verify mode: parses into the scratch header and compares every field the parsers set except
// the ids (no for-in: it allocates on XS); parseHeader compares the backhaul ids itself.
function verifyHeader(parse: HeaderParser, frame: Uint8Array, off: number, len: number, hdr: FrameHeader): number {
  if (scratch === null) scratch = createHeader();
  const v = scratch;
  const r = parse(frame, off, len, v);
  if (r !== 0) return r;
  return v.version === hdr.version &&
    v.flags === hdr.flags &&
    v.dir === hdr.dir &&
    v.enc === hdr.enc &&
    v.op === hdr.op &&
    v.gen === hdr.gen &&
    v.counter === hdr.counter &&
    v.full === hdr.full &&
    v.addr === hdr.addr &&
    v.hdrLen === hdr.hdrLen &&
    v.bodyLen === hdr.bodyLen &&
    v.tagLen === hdr.tagLen &&
    v.frameLen === hdr.frameLen
    ? 0
    : ERR_BUFFER;
}

function parseAny(frame: Uint8Array, off: number, len: number, hdr: FrameHeader): number {
  // parseRadio also reports the range and length errors of an empty or invalid range.
  return validRange(frame, off, len) && len >= 1 && frame[off] === BACKHAUL_VERSION
    ? parseBackhaul(frame, off, len, hdr)
    : parseRadio(frame, off, len, hdr);
}

/**
 * The policy of `op` on `layer` for a frame travelling in direction dir (e2e: -1, unknown until
 * openFrame), or ERR_OP (unknown op) / ERR_POLICY (not allowed in that direction).
 */
function policyFor(layer: number, op: number, dir: number): number {
  const policy = policyOf(layer, op);
  if (policy === 0) return ERR_OP;
  // POLICY_UP << dir is the policy bit of that direction (e2e: checked by openFrame, dir is the receiver's).
  return dir >= 0 && (policy & (POLICY_UP << dir)) === 0 ? ERR_POLICY : policy;
}

// The e2e and hop headers (module comment): the ids, the full short counter and (e2e) the direction are openFrame's.
function parseRadio(frame: Uint8Array, off: number, len: number, hdr: FrameHeader): number {
  if (!validRange(frame, off, len)) return ERR_BUFFER;
  if (len < 1) return ERR_LENGTH;
  const b0 = frame[off];
  let version = E2E_VERSION;
  let full = (b0 & E2E_FULL) / E2E_FULL;
  let dir = -1;
  const hop = (b0 & HOP_MARK_MASK) === HOP_MARK;
  if (hop) {
    version = LINK_VERSION;
    full = (b0 & HOP_FULL) / HOP_FULL;
    dir = (b0 & HOP_DOWN) / HOP_DOWN;
  } else if ((b0 & E2E_MARK_MASK) !== E2E_MARK) return ERR_VERSION;
  const hl = hop ? (full ? HOP_HDR_FULL : HOP_HDR_SHORT) : full ? E2E_HDR_FULL : E2E_HDR_SHORT;
  if (len < hl) return ERR_LENGTH;
  const op = b0 & OP_MASK;
  const policy = policyFor(version, op, dir);
  if (policy < 0) return policy;
  const enc = (policy & POLICY_ENC) / POLICY_ENC;
  const tagLen = policy & POLICY_TAG_MASK;
  const bodyLen = len - hl - tagLen;
  if (bodyLen < 0 || bodyLen > MAX_BODY) return ERR_LENGTH;
  hdr.version = version;
  hdr.flags = dir >= 0 ? dir | (enc * FLAG_ENC) : 0;
  hdr.dir = dir;
  hdr.enc = enc;
  hdr.op = op;
  // Gen: the e2e gen byte; the hop carries none.
  hdr.gen = hop ? 0 : frame[off + E2E_OFF_GEN];
  // The counter: all 32 bits after the e2e gen byte / the hop address, or its low bits, which end
  // at byte 3 in both short headers (e2e 16 bits, hop 8 bits).
  hdr.counter = full
    ? readU32BE(frame, off + (hop ? HOP_OFF_CTR : E2E_OFF_CTR))
    : (hop ? 0 : frame[off + E2E_OFF_CTR] << 8) | frame[off + HOP_OFF_CTR];
  hdr.full = full;
  hdr.addr = hop ? (frame[off + HOP_OFF_ADDR] << 8) | frame[off + HOP_OFF_ADDR + 1] : 0;
  hdr.hdrLen = hl;
  hdr.bodyLen = bodyLen;
  hdr.tagLen = tagLen;
  hdr.frameLen = len;
  return 0;
}

// The 26-byte backhaul header (module comment): everything is on the wire, the counter always in full.
function parseBackhaul(frame: Uint8Array, off: number, len: number, hdr: FrameHeader): number {
  if (len < HEADER_LEN) return ERR_LENGTH;
  const flags = frame[off + OFF_FLAGS];
  if ((flags & FLAGS_RESERVED) !== 0) return ERR_FLAGS;
  const op = frame[off + OFF_OP];
  const dir = flags & FLAG_DOWN;
  const policy = policyFor(BACKHAUL_VERSION, op, dir);
  if (policy < 0) return policy;
  const enc = (policy & POLICY_ENC) / POLICY_ENC;
  if ((flags & FLAG_ENC) / FLAG_ENC !== enc) return ERR_POLICY;
  const tagLen = policy & POLICY_TAG_MASK;
  const bodyLen = (frame[off + OFF_BODY_LEN] << 8) | frame[off + OFF_BODY_LEN_LO];
  if (bodyLen > MAX_BODY || len !== HEADER_LEN + bodyLen + tagLen) return ERR_LENGTH;
  hdr.version = BACKHAUL_VERSION;
  hdr.flags = flags;
  hdr.dir = dir;
  hdr.enc = enc;
  hdr.op = op;
  hdr.gen = frame[off + OFF_GEN];
  for (let i = 0; i < ID_LEN; i++) {
    hdr.sender[i] = frame[off + OFF_SENDER + i];
    hdr.receiver[i] = frame[off + OFF_RECEIVER + i];
  }
  hdr.counter = readU32BE(frame, off + OFF_COUNTER);
  hdr.full = 1;
  hdr.addr = 0;
  hdr.hdrLen = HEADER_LEN;
  hdr.bodyLen = bodyLen;
  hdr.tagLen = tagLen;
  hdr.frameLen = len;
  return 0;
}

/**
 * Writes the 26-byte v1-layout header (the backhaul header, and the reconstructed header R) at
 * out[off..]. The caller guarantees the range and field values; ids are exactly 8 bytes.
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
  // Byte stores keep the low 8 bits (Uint8Array conversion), so no masks are needed. The offsets
  // are OFF_VERSION..OFF_BODY_LEN_LO written as literals: V8 (Node 20) loads and type-checks a
  // module constant at every use, ~50 ns per frame over writeHeader and writeNonce on the HES;
  // the firmware build inlines them either way (same bundle bytes).
  out[off] = version; // OFF_VERSION
  out[off + 1] = flags; // OFF_FLAGS
  out[off + 2] = op; // OFF_OP
  out[off + 3] = gen; // OFF_GEN
  out.set(sender, off + 4); // OFF_SENDER
  out.set(receiver, off + 12); // OFF_RECEIVER
  writeU32(out, off + 20, counter); // OFF_COUNTER
  out[off + 24] = bodyLen >>> 8; // OFF_BODY_LEN
  out[off + 25] = bodyLen; // OFF_BODY_LEN_LO
}

function writeU32(out: Uint8Array, off: number, v: number): void {
  for (let i = 0; i < 4; i++) out[off + i] = v >>> (24 - 8 * i);
}

/**
 * Writes the wire header of an e2e or hop frame at out[off..] and returns its length: e2e
 * `0x20 | X<<4 | op ‖ gen ‖ counter`, hop `0x40 | X<<5 | dir<<4 | type ‖ addr ‖ counter`, the
 * counter as its low 16 / 8 bits (full = 0) or all 32 bits (full = 1), most significant byte first.
 */
export function writeWireHeader(
  out: Uint8Array,
  off: number,
  layer: number,
  full: number,
  dir: number,
  op: number,
  gen: number,
  addr: number,
  counter: number,
): number {
  const hop = layer === LINK_VERSION;
  out[off] = (hop ? HOP_MARK | (full ? HOP_FULL : 0) | (dir ? HOP_DOWN : 0) : E2E_MARK | (full ? E2E_FULL : 0)) | op;
  out[off + 1] = hop ? addr >>> 8 : gen;
  if (hop) out[off + 2] = addr;
  // Counter bytes: 4 (full), else 1 (hop) or 2 (e2e); they end the header.
  const n = full ? 4 : hop ? 1 : 2;
  const end = off + (hop ? HOP_OFF_CTR : E2E_OFF_CTR) + n;
  for (let i = 1; i <= n; i++) out[end - i] = counter >>> (8 * (i - 1));
  return end - off;
}

/** Writes the 13-byte CCM nonce sender(8) ‖ counter(4) ‖ op(1) of a 26-byte header (R) at frame[off..] into out[outOff..]. */
export function writeNonce(frame: Uint8Array, off: number, out: Uint8Array, outOff: number): void {
  // Sender (header bytes 4..11) then counter (20..23): one loop, the source jumps after the id.
  // Literals as in writeHeader: OFF_OP_IN_NONCE 12, ID_LEN 8, OFF_SENDER 4, NONCE_COUNTER_SHIFT 12, OFF_OP 2.
  for (let i = 0; i < 12; i++) out[outOff + i] = frame[off + i + (i < 8 ? 4 : 12)];
  out[outOff + 12] = frame[off + 2];
}

/**
 * True when frame[off..off+len) ends in the high byte of the CRC-16 of the bytes before it: the shape
 * of the serial line's residue-0 escape (PROTOCOL.md §9: a delimiter flipped to 0x01 and an idle
 * 0x00 deliver frame ‖ CRC-high-byte with a good CRC). e2e and radio-hop frames have no length
 * field, so such an escape reaches the tag check; a receiver asks this after ERR_TAG and counts the
 * frame as line noise, not as a forgery (D-9). A forgery has this shape with probability 1/256: it
 * is still refused, only counted as noise.
 */
export function isResidueEscape(frame: Uint8Array, off: number, len: number): boolean {
  return len >= 2 && validRange(frame, off, len) && frame[off + len - 1] === crc16Update(CRC16_INIT, frame, off, len - 1) >>> 8;
}
