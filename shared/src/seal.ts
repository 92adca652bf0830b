/**
 * sealFrame / openFrame: the one protection rule of PROTOCOL.md §3 for both layers.
 *   nonce = sender(8) ‖ counter(4) ‖ op(1)
 *   ENC = 1: CCM(K, nonce, a = header, m = body)         -> ciphertext ‖ tag
 *   ENC = 0: CCM(K, nonce, a = header ‖ body, m = empty) -> tag (MIC)
 * The tag length comes from the policy table of the layer (D-4). openFrame checks and records the
 * counter in one synchronous step after the tag verified (D-6); on any failure nothing changes and
 * the output region is zeroed.
 */
import { ccmOpen, ccmSeal } from './ccm.ts';
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
  writeHeader,
  writeNonce,
} from './frame.ts';
import type { FrameHeader } from './frame.ts';
import type { KeySlot } from './keys.ts';
import { DIR_DOWN, DIR_UP, policyAllows, policyEnc, policyTagLen } from './policy.ts';
import { isFresh } from './replay.ts';
import { equalBytes } from './utils.ts';

const NONCE = new Uint8Array(NONCE_LEN);
// Header scratch for sealing a body that lies in another buffer (see sealFrame).
const HDR = new Uint8Array(HEADER_LEN);

// A non-negative integer below 2^32 (typed-array offsets and lengths never exceed that); false for
// NaN, infinities, fractions, negatives and non-numbers. `>>> 0` avoids a Math.floor call per check.
function isIndex(x: number): boolean {
  return x >>> 0 === x;
}

// memmove: copies src[so..so+n) to dst[do..] correctly when both are the same buffer and overlap.
function move(src: Uint8Array, so: number, dst: Uint8Array, dOff: number, n: number): void {
  if (src === dst && so === dOff) return;
  if (src === dst && so < dOff) {
    for (let i = n - 1; i >= 0; i--) dst[dOff + i] = src[so + i];
  } else {
    for (let i = 0; i < n; i++) dst[dOff + i] = src[so + i];
  }
}

// True when hdr holds exactly what parseHeader derives from the 26 header bytes at frame[off..]
// (the caller guarantees the range): every byte of the header, and the policy-derived fields.
function headerMatches(frame: Uint8Array, off: number, hdr: FrameHeader): boolean {
  const flags = frame[off + OFF_FLAGS];
  const c = hdr.counter;
  const n = hdr.bodyLen;
  if (
    frame[off + OFF_VERSION] !== hdr.version || flags !== hdr.flags || frame[off + OFF_OP] !== hdr.op ||
    frame[off + OFF_GEN] !== hdr.gen ||
    frame[off + OFF_COUNTER] !== c >>> 24 || frame[off + OFF_COUNTER + 1] !== ((c >>> 16) & 0xff) ||
    frame[off + OFF_COUNTER + 2] !== ((c >>> 8) & 0xff) || frame[off + OFF_COUNTER + 3] !== (c & 0xff) ||
    frame[off + OFF_BODY_LEN] !== n >>> 8 || frame[off + OFF_BODY_LEN + 1] !== (n & 0xff) ||
    hdr.dir !== ((flags & FLAG_DOWN) !== 0 ? DIR_DOWN : DIR_UP) || hdr.enc !== ((flags & FLAG_ENC) !== 0 ? 1 : 0) ||
    hdr.tagLen !== policyTagLen(hdr.version, hdr.op) || hdr.frameLen !== HEADER_LEN + n + hdr.tagLen || hdr.tagLen === 0
  ) {
    return false;
  }
  for (let i = 0; i < ID_LEN; i++) {
    if (frame[off + OFF_SENDER + i] !== hdr.sender[i] || frame[off + OFF_RECEIVER + i] !== hdr.receiver[i]) return false;
  }
  return true;
}

function zero(b: Uint8Array, off: number, n: number): void {
  for (let i = 0; i < n; i++) b[off + i] = 0;
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
  const tagLen = policyTagLen(layer, op);
  if (tagLen === 0) return ERR_OP;
  if (layer === E2E_VERSION && op !== slot.op) return ERR_OP;
  if (!policyAllows(layer, op, slot.dir)) return ERR_POLICY;
  if (!isIndex(bodyLen) || bodyLen > MAX_BODY) return ERR_TOO_LARGE;
  if (!(body instanceof Uint8Array) || !isIndex(bodyOff) || bodyOff + bodyLen > body.length) return ERR_BUFFER;
  const frameLen = HEADER_LEN + bodyLen + tagLen;
  if (!(out instanceof Uint8Array) || !isIndex(outOff) || outOff + frameLen > out.length) return ERR_BUFFER;
  if (slot.ctr === null) return ERR_KEY_STATE;
  const counter = takeCounter(slot.ctr);
  if (counter < 0) return counter;
  const enc = policyEnc(layer, op);
  const flags = (slot.dir === DIR_DOWN ? FLAG_DOWN : 0) | (enc === 1 ? FLAG_ENC : 0);
  const b = outOff + HEADER_LEN;
  if (enc === 1 && body !== out) {
    // Encrypt straight from where the body lies, with the header built in a scratch block and
    // copied last: nothing is written to out before the body has been read, so a body that is a
    // view into out's memory is handled as before (as a forward copy would).
    writeHeader(HDR, 0, layer, flags, op, slot.gen, slot.local, slot.peer, counter, bodyLen);
    writeNonce(HDR, 0, NONCE, 0);
    ccmSeal(ctx, slot.rk, NONCE, 0, HDR, 0, HEADER_LEN, body, bodyOff, bodyLen, tagLen, out, b);
    out.set(HDR, outOff); // whole-array set: a native copy that allocates no view
    return frameLen;
  }
  // Same buffer, or MIC only (the body is part of the associated data, so it must follow the
  // header): move the body first, before the header can overwrite it.
  move(body, bodyOff, out, b, bodyLen);
  writeHeader(out, outOff, layer, flags, op, slot.gen, slot.local, slot.peer, counter, bodyLen);
  writeNonce(out, outOff, NONCE, 0);
  if (enc === 1) {
    ccmSeal(ctx, slot.rk, NONCE, 0, out, outOff, HEADER_LEN, out, b, bodyLen, tagLen, out, b);
  } else {
    ccmSeal(ctx, slot.rk, NONCE, 0, out, outOff, HEADER_LEN + bodyLen, out, b, 0, tagLen, out, b + bodyLen);
  }
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
  if (!(frame instanceof Uint8Array) || !isIndex(off) || off + hdr.frameLen > frame.length || !headerMatches(frame, off, hdr)) {
    return ERR_BUFFER;
  }
  const n = hdr.bodyLen;
  if (!(out instanceof Uint8Array) || !isIndex(outOff) || outOff + n > out.length) return ERR_BUFFER;
  let err = 0;
  if (!equalBytes(hdr.receiver, 0, slot.local, 0, ID_LEN)) err = ERR_RECEIVER;
  else if (
    slot.layer !== hdr.version ||
    (slot.layer === E2E_VERSION && slot.op !== hdr.op) ||
    slot.dir !== hdr.dir ||
    !equalBytes(hdr.sender, 0, slot.peer, 0, ID_LEN)
  ) err = ERR_UNKNOWN_SENDER;
  else if (slot.gen !== hdr.gen) err = ERR_GENERATION;
  if (err !== 0) {
    zero(out, outOff, n);
    return err;
  }
  const b = off + HEADER_LEN;
  const t = hdr.tagLen;
  writeNonce(frame, off, NONCE, 0);
  let ok: boolean;
  if (hdr.enc === 1) {
    ok = ccmOpen(ctx, slot.rk, NONCE, 0, frame, off, HEADER_LEN, frame, b, n, frame, b + n, t, out, outOff);
  } else {
    ok = ccmOpen(ctx, slot.rk, NONCE, 0, frame, off, HEADER_LEN + n, frame, b, 0, frame, b + n, t, out, outOff);
  }
  if (!ok) {
    zero(out, outOff, n);
    return ERR_TAG;
  }
  if (!isFresh(slot.last, hdr.counter)) {
    zero(out, outOff, n);
    return ERR_REPLAY;
  }
  slot.last = hdr.counter;
  if (hdr.enc !== 1) move(frame, b, out, outOff, n);
  return n;
}
