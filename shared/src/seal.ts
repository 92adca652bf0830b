/**
 * sealFrame / openFrame: the one protection rule of PROTOCOL.md §3 for the three frame kinds.
 *   R     = the 26-byte reconstructed header layer ‖ flags ‖ op ‖ gen ‖ sender ‖ receiver ‖ counter ‖ bodyLen,
 *           built from the key slot (ids, gen, direction) and the full counter, never read from the air
 *   nonce = sender(8) ‖ counter(4) ‖ op(1)  (from R)
 *   a     = R ‖ wire header (e2e, radio hop) or the wire header alone (backhaul, whose header is R), ‖ body when MIC-only
 *   ENC = 1: CCM(K, nonce, a, m = body) -> ciphertext ‖ tag;  ENC = 0: CCM(K, nonce, a, m = empty) -> tag
 * The tag length comes from the policy table of the layer (D-4). openFrame reconstructs the
 * counter from the slot's last accepted value (e2e, hop short form), checks and records it in one
 * synchronous step after the tag verified (D-6); on any failure nothing changes and the output
 * region is zeroed.
 */
import { COUNTER_MAX, shortCounterOk, takeCounter } from './counter.ts';
import type { CryptoCtx } from './ctx.ts';
import {
  ERR_BUFFER,
  ERR_GENERATION,
  ERR_KEY_STATE,
  ERR_OP,
  ERR_POLICY,
  ERR_RECEIVER,
  ERR_REPLAY,
  ERR_TAG,
  ERR_TOO_LARGE,
  ERR_UNKNOWN_SENDER,
} from './errors.ts';
import {
  BACKHAUL_VERSION,
  E2E_CTR_WINDOW,
  E2E_VERSION,
  FLAG_ENC,
  HEADER_LEN,
  HOP_CTR_WINDOW,
  HOP_HDR_FULL,
  HOP_HDR_SHORT,
  E2E_HDR_FULL,
  ID_LEN,
  LINK_VERSION,
  MAX_BODY,
  NONCE_LEN,
  parseHeader,
  parseRadioHeader,
  writeHeader,
  writeNonce,
  writeWireHeader,
} from './frame.ts';
import type { FrameHeader } from './frame.ts';
import type { KeySlot } from './keys.ts';
import { DIR_DOWN, DIR_UP, POLICY_DOWN, POLICY_ENC, POLICY_TAG_MASK, POLICY_UP, policyOf } from './policy.ts';
import { isFresh, reconstructCounter } from './replay.ts';
import { equalBytes, inRange, validRange } from './utils.ts';

const NONCE = new Uint8Array(NONCE_LEN);
// The reconstructed header R of the frame being sealed or opened.
const R = new Uint8Array(HEADER_LEN);

// memmove: copies src[so..so+n) to dst[dOff..], backwards when dst lies after src (by byte
// offset: a direction that is right whether or not src and dst share memory — wire v2 headers are
// short, so a body placed after room for a long header overlaps where it goes); nothing to do when
// it is already in place. Whether src and dst share memory is asked only at equal offsets, by a
// write through dst that src would see. Not by src.buffer === dst.buffer: Espruino compares two
// ArrayBuffers as strings ("1,2,3,..."), ~200 variables and ~9 M instructions for a 592-byte
// receive buffer on a Puck.js-sized pool (it ran the meter out of memory, issue 12).
function move(src: Uint8Array, so: number, dst: Uint8Array, dOff: number, n: number): void {
  var s = src.byteOffset + so;
  var d = dst.byteOffset + dOff;
  var i;
  if (n > 0 && s === d) {
    var v = src[so];
    dst[dOff] ^= 1;
    if (src[so] !== v) {
      dst[dOff] ^= 1; // the same memory: restored, nothing to copy
      return;
    }
  }
  if (s >= d) for (i = 0; i < n; i++) dst[dOff + i] = src[so + i];
  else for (i = n - 1; i >= 0; i--) dst[dOff + i] = src[so + i];
}

/**
 * Seals body[bodyOff..+bodyLen) as one frame of type `op` under `slot` (its layer, direction,
 * generation, ids and short address) into out[outOff..]; returns the frame length. The counter is
 * taken from slot.ctr (persisting a new limit first when needed) and goes on the wire in the short
 * form while slot.ctr says the receiver is in step (shortCounterOk), else in full. out must have
 * room for the full-counter form. Errors: ERR_OP / ERR_POLICY (op not allowed for this slot),
 * ERR_TOO_LARGE, ERR_BUFFER, ERR_KEY_STATE (no sender counter), ERR_COUNTER_EXHAUSTED,
 * ERR_STORAGE; out is untouched on error. The body may lie anywhere, also inside out (it is read
 * before any byte of out that could hold it is written).
 */
export function sealFrame(
  ctx: CryptoCtx,
  slot: KeySlot,
  op: number,
  body: Uint8Array,
  bodyOff: number,
  bodyLen: number,
  out: Uint8Array,
  outOff: number,
): number {
  const layer = slot.layer;
  const dir = slot.dir;
  const policy = policyOf(layer, op);
  if (policy === 0 || (layer === E2E_VERSION && op !== slot.op)) return ERR_OP;
  if ((policy & (dir === DIR_DOWN ? POLICY_DOWN : dir === DIR_UP ? POLICY_UP : 0)) === 0) return ERR_POLICY;
  // An integer in 0..MAX_BODY is exactly a valid range [0, bodyLen) inside MAX_BODY.
  if (!inRange(MAX_BODY, 0, bodyLen)) return ERR_TOO_LARGE;
  const tagLen = policy & POLICY_TAG_MASK;
  const bh = layer === BACKHAUL_VERSION;
  // Room for the longest header of the layer (the full-counter form).
  if (!validRange(body, bodyOff, bodyLen) || !validRange(out, outOff, (bh ? HEADER_LEN : HOP_HDR_FULL) + bodyLen + tagLen))
    return ERR_BUFFER;
  const c = slot.ctr;
  if (c === null) return ERR_KEY_STATE;
  const counter = takeCounter(c);
  if (counter < 0) return counter;
  const enc = (policy & POLICY_ENC) !== 0;
  // Short counter form only while the receiver is known to be in step (§6); a full one resynchronises it.
  const full = bh || !shortCounterOk(c, counter, layer === LINK_VERSION ? HOP_CTR_WINDOW : E2E_CTR_WINDOW) ? 1 : 0;
  if (full === 1) c.sync = counter;
  // The wire header's length (as writeWireHeader writes it): backhaul 26, radio 4 / 7, e2e 4 / 6.
  const hl = bh ? HEADER_LEN : full ? (layer === LINK_VERSION ? HOP_HDR_FULL : E2E_HDR_FULL) : HOP_HDR_SHORT;
  const b = outOff + hl;
  // The body goes to its place first (memmove: it may lie where the header is written next), and
  // an encrypted one is then encrypted in place. Not "read it from body when body.buffer !==
  // out.buffer": Espruino compares two ArrayBuffers by converting both to strings ("1,2,3,..."),
  // ~2.6 M instructions and ~100 variables for the meter's 445-byte frame buffer, against a copy
  // of the body (~4 k instructions per byte there, nanoseconds on a host).
  move(body, bodyOff, out, b, bodyLen);
  // Flags bit 0 is the direction itself (DIR_UP 0, DIR_DOWN 1; any other slot.dir was refused above).
  writeHeader(R, 0, layer, dir | (enc ? FLAG_ENC : 0), op, slot.gen, slot.local, slot.peer, counter, bodyLen);
  writeNonce(R, 0, NONCE, 0);
  // The backhaul header is R itself; e2e and hop frames carry their short header and R leads the AAD.
  if (bh) out.set(R, outOff);
  else writeWireHeader(out, outOff, layer, full, dir, op, slot.gen, slot.addr, counter);
  // ENC = 1: the body is the payload, encrypted into place; ENC = 0: it is associated data after
  // the header, the payload is empty. (Inline, not a local: on Espruino each local is a variable
  // at the meter's deepest call.)
  ctx.ccm_(
    ctx,
    slot.rk,
    NONCE,
    0,
    R,
    bh ? 0 : HEADER_LEN,
    out,
    outOff,
    enc ? hl : hl + bodyLen,
    out,
    b,
    enc ? bodyLen : 0,
    out,
    b + bodyLen,
    tagLen,
    out,
    b,
    false,
  );
  return hl + bodyLen + tagLen;
}

/**
 * Opens the frame frame[off..off+hdr.frameLen) that parseHeader accepted into hdr, under `slot`
 * (the caller's lookup: findSlot, or its own index). Checks that hdr still describes these bytes
 * (otherwise ERR_BUFFER), then: backhaul receiver = slot.local (ERR_RECEIVER; a hop DOWN frame
 * for another short address too), layer/op/direction/sender or short address match the slot
 * (ERR_UNKNOWN_SENDER), the op allows the slot's direction (ERR_POLICY, e2e), generation
 * (ERR_GENERATION; the hop carries none), the reconstructed counter is at most 2^32-1
 * (ERR_REPLAY), tag (ERR_TAG), counter > slot.last (ERR_REPLAY); only when all pass is slot.last
 * advanced, hdr completed (full counter, ids, gen, direction) and the body written to
 * out[outOff..] (may be in place at off + hdr.hdrLen). Returns the body length. On failure
 * out[outOff..+bodyLen) is zeroed and the slot and hdr are untouched. Never throws on frame bytes.
 */
export function openFrame(
  ctx: CryptoCtx,
  hdr: FrameHeader,
  slot: KeySlot,
  frame: Uint8Array,
  off: number,
  out: Uint8Array,
  outOff: number,
): number {
  // A hdr that does not say backhaul is checked against the bytes by the radio parser (which
  // refuses a backhaul frame), so a stale or edited hdr is refused either way.
  if (hdr.version !== BACKHAUL_VERSION) return openRadioFrame(ctx, hdr, slot, frame, off, out, outOff);
  // The backhaul header carries the ids: they must be the slot's (its header is R: no prefix).
  if (parseHeader(frame, off, hdr.frameLen, hdr, true) !== 0) return ERR_BUFFER;
  const notReceiver = !equalBytes(hdr.receiver, 0, slot.local, 0, ID_LEN);
  return openChecked(ctx, hdr, slot, frame, off, out, outOff, hdr.dir, 0, notReceiver, !equalBytes(hdr.sender, 0, slot.peer, 0, ID_LEN));
}

/**
 * openFrame for the two radio kinds (e2e and hop: a hdr from parseRadioHeader), with the same
 * checks and results; a backhaul frame is ERR_BUFFER. Kept apart so that a meter build carries
 * no backhaul code.
 */
export function openRadioFrame(
  ctx: CryptoCtx,
  hdr: FrameHeader,
  slot: KeySlot,
  frame: Uint8Array,
  off: number,
  out: Uint8Array,
  outOff: number,
): number {
  // hdr was filled by parseHeader from these very bytes: parse them again in verify mode, which
  // requires hdr to hold exactly the same wire fields, so that a stale, foreign or edited hdr is
  // refused, never trusted (len = hdr.frameLen: the range and the frame length are checked too).
  if (parseRadioHeader(frame, off, hdr.frameLen, hdr, true) !== 0) return ERR_BUFFER;
  const layer = hdr.version;
  // e2e frames carry no direction: it is the receiving slot's.
  const dir = layer === E2E_VERSION ? slot.dir : hdr.dir;
  const notReceiver = layer === LINK_VERSION && dir === DIR_DOWN && hdr.addr !== slot.addr;
  return openChecked(ctx, hdr, slot, frame, off, out, outOff, dir, HEADER_LEN, notReceiver, slot.addr !== hdr.addr);
}

// openFrame after the header check: the rest of the checks in their order, the tag, the counter
// update. dir: the frame's direction; preLen: bytes of R ahead of the wire header in the AAD
// (0 on the backhaul, whose header is R); notReceiver / notSender: the addressing checks of the kind.
function openChecked(
  ctx: CryptoCtx,
  hdr: FrameHeader,
  slot: KeySlot,
  frame: Uint8Array,
  off: number,
  out: Uint8Array,
  outOff: number,
  dir: number,
  preLen: number,
  notReceiver: boolean,
  notSender: boolean,
): number {
  const n = hdr.bodyLen;
  const t = hdr.tagLen;
  const hl = hdr.hdrLen;
  const layer = hdr.version;
  if (!validRange(out, outOff, n)) return ERR_BUFFER;
  const b = off + hl;
  let c = hdr.counter;
  let err = 0;
  if (notReceiver) err = ERR_RECEIVER;
  else if (slot.layer !== layer || (layer === E2E_VERSION && slot.op !== hdr.op) || slot.dir !== dir || notSender) err = ERR_UNKNOWN_SENDER;
  else if ((policyOf(layer, hdr.op) & (dir === DIR_DOWN ? POLICY_DOWN : POLICY_UP)) === 0) err = ERR_POLICY;
  else if (layer !== LINK_VERSION && slot.gen !== hdr.gen) err = ERR_GENERATION;
  else {
    if (hdr.full === 0) c = reconstructCounter(slot.last, c, layer === LINK_VERSION ? HOP_CTR_WINDOW : E2E_CTR_WINDOW);
    // Above 2^32-1 nothing can be fresh (the 2^32 edge, §6): refused before any cryptography.
    if (c > COUNTER_MAX) err = ERR_REPLAY;
    else {
      writeHeader(R, 0, layer, dir | (hdr.enc * FLAG_ENC), hdr.op, slot.gen, slot.peer, slot.local, c, n);
      writeNonce(R, 0, NONCE, 0);
      // ENC = 1: the body is the payload; ENC = 0: it is associated data after the header, the payload is empty.
      const ctLen = hdr.enc === 1 ? n : 0;
      if (!ctx.ccm_(ctx, slot.rk, NONCE, 0, R, preLen, frame, off, hl + n - ctLen, frame, b, ctLen, frame, b + n, t, out, outOff, true))
        err = ERR_TAG;
      else if (!isFresh(slot.last, c)) err = ERR_REPLAY;
    }
  }
  if (err !== 0) {
    out.fill(0, outOff, outOff + n);
    return err;
  }
  slot.last = c;
  // Complete hdr with what the wire left out (the backhaul header carried it all already).
  hdr.counter = c;
  hdr.gen = slot.gen;
  hdr.dir = dir;
  hdr.flags = dir | (hdr.enc * FLAG_ENC);
  hdr.sender.set(slot.peer);
  hdr.receiver.set(slot.local);
  if (hdr.enc !== 1) move(frame, b, out, outOff, n);
  return n;
}
