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
import { COUNTER_MAX, takeCounter } from './counter.ts';
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
  FLAG_DOWN,
  FLAG_ENC,
  HEADER_LEN,
  ID_LEN,
  MAX_BODY,
  NONCE_LEN,
  OFF_BODY_LEN,
  OFF_COUNTER,
  OFF_FLAGS,
  OFF_GEN,
  OFF_OP,
  OFF_RECEIVER,
  OFF_SENDER,
  OFF_VERSION,
  writeNonce,
} from './frame.ts';
import type { FrameHeader } from './frame.ts';
import type { KeySlot } from './keys.ts';
import { ALLOW_DOWN, ALLOW_UP, DIR_DOWN, DIR_UP, POLICY_ALLOW_SHIFT, POLICY_ENC, POLICY_TAG_MASK, policyOf } from './policy.ts';
import { equalBytes } from './utils.ts';

const NONCE = new Uint8Array(NONCE_LEN);
// Header scratch: sealFrame builds every header here, then copies it into the frame.
const HDR = new Uint8Array(HEADER_LEN);

// memmove: copies src[so..so+n) to dst[do..] correctly when both are the same buffer and overlap.
function move(src: Uint8Array, so: number, dst: Uint8Array, dOff: number, n: number): void {
  if (src === dst && so === dOff) return;
  if (src === dst && so < dOff) {
    for (let i = n - 1; i >= 0; i--) dst[dOff + i] = src[so + i];
  } else {
    for (let i = 0; i < n; i++) dst[dOff + i] = src[so + i];
  }
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
  const policy = policyOf(layer, op);
  const tagLen = policy & POLICY_TAG_MASK;
  if (policy === 0) return ERR_OP;
  if (layer === E2E_VERSION && op !== slot.op) return ERR_OP;
  const dirBit = slot.dir === DIR_DOWN ? ALLOW_DOWN : slot.dir === DIR_UP ? ALLOW_UP : 0;
  if (((policy >>> POLICY_ALLOW_SHIFT) & dirBit) === 0) return ERR_POLICY;
  // x >>> 0 === x: a non-negative integer below 2^32 (typed-array offsets and lengths never exceed
  // that); false for NaN, infinities, fractions, negatives and non-numbers.
  if (bodyLen >>> 0 !== bodyLen || bodyLen > MAX_BODY) return ERR_TOO_LARGE;
  if (!(body instanceof Uint8Array) || bodyOff >>> 0 !== bodyOff || bodyOff + bodyLen > body.length) return ERR_BUFFER;
  const frameLen = HEADER_LEN + bodyLen + tagLen;
  if (!(out instanceof Uint8Array) || outOff >>> 0 !== outOff || outOff + frameLen > out.length) return ERR_BUFFER;
  if (slot.ctr === null) return ERR_KEY_STATE;
  const counter = takeCounter(slot.ctr);
  if (counter < 0) return counter;
  const enc = (policy & POLICY_ENC) !== 0 ? 1 : 0;
  const flags = (slot.dir === DIR_DOWN ? FLAG_DOWN : 0) | (enc === 1 ? FLAG_ENC : 0);
  const b = outOff + HEADER_LEN;
  // The header (PROTOCOL.md §3, as frame.ts writeHeader) is built in a scratch block and copied
  // into out only once the body has been read or moved, so a body that is a view into out's
  // memory is handled as a forward copy would; the nonce is taken from the scratch header.
  HDR[OFF_VERSION] = layer;
  HDR[OFF_FLAGS] = flags;
  HDR[OFF_OP] = op;
  HDR[OFF_GEN] = slot.gen;
  for (let i = 0; i < ID_LEN; i++) {
    HDR[OFF_SENDER + i] = slot.local[i];
    HDR[OFF_RECEIVER + i] = slot.peer[i];
  }
  HDR[OFF_COUNTER] = counter >>> 24;
  HDR[OFF_COUNTER + 1] = counter >>> 16;
  HDR[OFF_COUNTER + 2] = counter >>> 8;
  HDR[OFF_COUNTER + 3] = counter;
  HDR[OFF_BODY_LEN] = bodyLen >>> 8;
  HDR[OFF_BODY_LEN + 1] = bodyLen;
  writeNonce(HDR, 0, NONCE, 0);
  if (enc === 1 && body !== out) {
    // Encrypt straight from where the body lies; the header goes in last.
    _ccm(ctx, slot.rk, NONCE, 0, HDR, 0, HEADER_LEN, body, bodyOff, bodyLen, out, b + bodyLen, tagLen, out, b, false);
    out.set(HDR, outOff); // whole-array set: a native copy that allocates no view
    return frameLen;
  }
  // Same buffer, or MIC only (the body is part of the associated data, so it must follow the
  // header in one buffer): move the body first, before the header can overwrite it.
  move(body, bodyOff, out, b, bodyLen);
  out.set(HDR, outOff);
  // ENC = 1: the body is the payload; ENC = 0: it is associated data after the header, the payload is empty.
  const ptLen = enc === 1 ? bodyLen : 0;
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
  // hdr was filled by parseHeader from these very bytes: instead of parsing again, check that it
  // still describes frame[off..off+frameLen) (a stale or foreign hdr is refused, never trusted).
  if (!(frame instanceof Uint8Array) || off >>> 0 !== off || off + hdr.frameLen > frame.length) return ERR_BUFFER;
  // hdr must hold exactly what parseHeader derives from the 26 header bytes at frame[off..]:
  // every byte of the header, and the policy-derived fields.
  const flags = frame[off + OFF_FLAGS];
  const c = hdr.counter;
  const n = hdr.bodyLen;
  const t = hdr.tagLen;
  let same =
    frame[off + OFF_VERSION] === hdr.version && flags === hdr.flags && frame[off + OFF_OP] === hdr.op &&
    frame[off + OFF_GEN] === hdr.gen &&
    frame[off + OFF_COUNTER] === c >>> 24 && frame[off + OFF_COUNTER + 1] === ((c >>> 16) & 0xff) &&
    frame[off + OFF_COUNTER + 2] === ((c >>> 8) & 0xff) && frame[off + OFF_COUNTER + 3] === (c & 0xff) &&
    frame[off + OFF_BODY_LEN] === n >>> 8 && frame[off + OFF_BODY_LEN + 1] === (n & 0xff) &&
    hdr.dir === ((flags & FLAG_DOWN) !== 0 ? DIR_DOWN : DIR_UP) && hdr.enc === ((flags & FLAG_ENC) !== 0 ? 1 : 0) &&
    t === (policyOf(hdr.version, hdr.op) & POLICY_TAG_MASK) && hdr.frameLen === HEADER_LEN + n + t && t !== 0;
  for (let i = 0; i < ID_LEN && same; i++) {
    same = frame[off + OFF_SENDER + i] === hdr.sender[i] && frame[off + OFF_RECEIVER + i] === hdr.receiver[i];
  }
  if (!same || !(out instanceof Uint8Array) || outOff >>> 0 !== outOff || outOff + n > out.length) return ERR_BUFFER;
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
    // Fresh (replay.ts isFresh): counter in 1..2^32-1 and above the last accepted one.
    else if (!(c > slot.last && c >= 1 && c <= COUNTER_MAX)) err = ERR_REPLAY;
  }
  if (err !== 0) {
    out.fill(0, outOff, outOff + n);
    return err;
  }
  slot.last = c;
  if (hdr.enc !== 1) move(frame, b, out, outOff, n);
  return n;
}
