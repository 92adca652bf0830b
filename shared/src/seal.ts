/**
 * sealFrame / openFrame: the one protection rule of PROTOCOL.md §3 for both layers.
 *   nonce = sender(8) ‖ counter(4) ‖ op(1)
 *   ENC = 1: CCM(K, nonce, a = header, m = body)         -> ciphertext ‖ tag
 *   ENC = 0: CCM(K, nonce, a = header ‖ body, m = empty) -> tag (MIC)
 * The tag length comes from the policy table of the layer (D-4). openFrame checks and records the
 * counter in one synchronous step after the tag verified (D-6); on any failure nothing changes and
 * the output region is zeroed.
 */
import { _ccm } from './ccm.ts';
import { takeCounter } from './counter.ts';
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
  E2E_VERSION,
  FLAG_ENC,
  HEADER_LEN,
  ID_LEN,
  MAX_BODY,
  NONCE_LEN,
  parseHeader,
  writeHeader,
  writeNonce,
} from './frame.ts';
import type { FrameHeader } from './frame.ts';
import type { KeySlot } from './keys.ts';
import { DIR_DOWN, DIR_UP, POLICY_DOWN, POLICY_ENC, POLICY_TAG_MASK, POLICY_UP, policyOf } from './policy.ts';
import { isFresh } from './replay.ts';
import { equalBytes, inRange, validRange } from './utils.ts';

const NONCE = new Uint8Array(NONCE_LEN);

// memmove: copies src[so..so+n) to dst[dOff..], backwards when dst lies after src in the same
// buffer, so that overlapping ranges copy correctly; nothing to do when already in place.
function move(src: Uint8Array, so: number, dst: Uint8Array, dOff: number, n: number): void {
  if (src !== dst || so > dOff) for (let i = 0; i < n; i++) dst[dOff + i] = src[so + i];
  else if (so < dOff) for (let i = n - 1; i >= 0; i--) dst[dOff + i] = src[so + i];
}

/**
 * Seals body[bodyOff..+bodyLen) as one frame of type `op` under `slot` (its layer, direction,
 * generation and ids) into out[outOff..]; returns the frame length. The counter is taken from
 * slot.ctr (persisting a new limit first when needed). Errors: ERR_OP / ERR_POLICY (op not
 * allowed for this slot), ERR_TOO_LARGE, ERR_BUFFER, ERR_KEY_STATE (no sender counter),
 * ERR_COUNTER_EXHAUSTED, ERR_STORAGE; out is untouched on error. The body may lie anywhere,
 * also inside out (it is read before any byte of out that could hold it is written).
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
  const frameLen = HEADER_LEN + bodyLen + tagLen;
  if (!validRange(body, bodyOff, bodyLen) || !validRange(out, outOff, frameLen)) return ERR_BUFFER;
  if (slot.ctr === null) return ERR_KEY_STATE;
  const counter = takeCounter(slot.ctr);
  if (counter < 0) return counter;
  const enc = (policy & POLICY_ENC) !== 0;
  const b = outOff + HEADER_LEN;
  // The body goes to its place first: it may lie where the header is written next (memmove
  // semantics within one buffer, a forward copy from a view into out's memory).
  move(body, bodyOff, out, b, bodyLen);
  // Flags bit 0 is the direction itself (DIR_UP 0, DIR_DOWN 1; any other slot.dir was refused above).
  writeHeader(out, outOff, layer, dir | (enc ? FLAG_ENC : 0), op, slot.gen, slot.local, slot.peer, counter, bodyLen);
  writeNonce(out, outOff, NONCE, 0);
  // ENC = 1: the body is the payload, encrypted in place; ENC = 0: it is associated data after
  // the header, the payload is empty.
  const ptLen = enc ? bodyLen : 0;
  _ccm(ctx, slot.rk, NONCE, 0, out, outOff, HEADER_LEN + bodyLen - ptLen, out, b, ptLen, out, b + bodyLen, tagLen, out, b, false);
  return frameLen;
}

/**
 * Opens the frame frame[off..off+hdr.frameLen) that parseHeader accepted into hdr, under `slot`
 * (the caller's lookup by sender, op, direction, generation). Checks that hdr still describes
 * these bytes (every header byte, the policy fields, the range; otherwise ERR_BUFFER), then: receiver
 * = slot.local (ERR_RECEIVER), sender/layer/op/direction match the slot (ERR_UNKNOWN_SENDER),
 * generation (ERR_GENERATION), tag (ERR_TAG), counter > slot.last (ERR_REPLAY); only when all pass
 * is slot.last advanced and the body written to out[outOff..] (may be in place at
 * off + HEADER_LEN). Returns the body length. On failure out[outOff..+bodyLen) is zeroed and the slot
 * is untouched. Never throws on frame bytes.
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
  const c = hdr.counter;
  const n = hdr.bodyLen;
  const t = hdr.tagLen;
  // hdr was filled by parseHeader from these very bytes: parse them again in verify mode, which
  // requires hdr to hold exactly the same fields, so that a stale, foreign or edited hdr is
  // refused, never trusted (len = hdr.frameLen: the range and the frame length are checked too).
  if (parseHeader(frame, off, hdr.frameLen, hdr, true) !== 0 || !validRange(out, outOff, n)) return ERR_BUFFER;
  const b = off + HEADER_LEN;
  let err = 0;
  if (!equalBytes(hdr.receiver, 0, slot.local, 0, ID_LEN)) err = ERR_RECEIVER;
  else if (
    slot.layer !== hdr.version ||
    (slot.layer === E2E_VERSION && slot.op !== hdr.op) ||
    slot.dir !== hdr.dir ||
    !equalBytes(hdr.sender, 0, slot.peer, 0, ID_LEN)
  ) err = ERR_UNKNOWN_SENDER;
  else if (slot.gen !== hdr.gen) err = ERR_GENERATION;
  else {
    writeNonce(frame, off, NONCE, 0);
    // ENC = 1: the body is the payload; ENC = 0: it is associated data after the header, the payload is empty.
    const ctLen = hdr.enc === 1 ? n : 0;
    if (!_ccm(ctx, slot.rk, NONCE, 0, frame, off, HEADER_LEN + n - ctLen, frame, b, ctLen, frame, b + n, t, out, outOff, true)) err = ERR_TAG;
    else if (!isFresh(slot.last, c)) err = ERR_REPLAY;
  }
  if (err !== 0) {
    out.fill(0, outOff, outOff + n);
    return err;
  }
  slot.last = c;
  if (hdr.enc !== 1) move(frame, b, out, outOff, n);
  return n;
}
