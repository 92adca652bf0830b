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
import { E2E_VERSION, FLAG_DOWN, FLAG_ENC, HEADER_LEN, ID_LEN, MAX_BODY, NONCE_LEN, parseHeader, writeHeader, writeNonce } from './frame.ts';
import type { FrameHeader } from './frame.ts';
import type { KeySlot } from './keys.ts';
import { DIR_DOWN, policyAllows, policyEnc, policyTagLen } from './policy.ts';
import { isFresh } from './replay.ts';
import { equalBytes } from './utils.ts';

const NONCE = new Uint8Array(NONCE_LEN);

function isIndex(x: number): boolean {
  return typeof x === 'number' && x === Math.floor(x) && x >= 0;
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

function zero(b: Uint8Array, off: number, n: number): void {
  for (let i = 0; i < n; i++) b[off + i] = 0;
}

/**
 * Seals body[bodyOff..+bodyLen) as one frame of type `op` under `slot` (its layer, direction,
 * generation and ids) into out[outOff..]; returns the frame length. The counter is taken from
 * slot.ctr (persisting a new limit first when needed). Errors: ERR_OP / ERR_POLICY (op not
 * allowed for this slot), ERR_TOO_LARGE, ERR_BUFFER, ERR_KEY_STATE (no sender counter),
 * ERR_COUNTER_EXHAUSTED, ERR_STORAGE; out is untouched on error. The body may lie anywhere,
 * also inside out (it is moved to out[outOff + HEADER_LEN] before the header is written).
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
 * (the caller's lookup by sender, op, direction, generation). Re-checks the header, then: receiver
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
  const pr = parseHeader(frame, off, hdr.frameLen, hdr);
  if (pr < 0) return pr;
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
