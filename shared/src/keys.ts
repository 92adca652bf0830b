/**
 * Key derivations of PROTOCOL.md §4 and the KeySlot: one directional frame key, expanded once,
 * with the ids of both ends, the sender counter and the receiver's replay state.
 */
import { AES128_KEY_LEN, AES128_SCHEDULE_WORDS, expandKey } from './aes.ts';
import type { CryptoCtx } from './ctx.ts';
import type { SendCounter } from './counter.ts';
import { ERR_GENERATION, ERR_UNKNOWN_SENDER } from './errors.ts';
import { E2E_VERSION, ID_LEN, LINK_VERSION } from './frame.ts';
import type { FrameHeader } from './frame.ts';
import { kdf, LABEL_E2E, LABEL_KC, LABEL_LINK, LABEL_OP } from './kdf.ts';
import { DIR_DOWN } from './policy.ts';
import { equalBytes, wipe } from './utils.ts';

/** Length of every Vakt key (AES-128). */
export const KEY_LEN = AES128_KEY_LEN;
/** Key-update scope 0: the master key (every operation root key). */
export const SCOPE_MASTER = 0;

/** One directional frame key and everything needed to seal or open under it. */
export interface KeySlot {
  layer: number; // E2E_VERSION or LINK_VERSION
  op: number; // e2e: the operation id; link: 0 (one link key covers every link type)
  dir: number; // DIR_UP or DIR_DOWN: the only direction this key protects (D-3)
  gen: number; // key generation 0..255, written to / required in the header
  local: Uint8Array; // 8-byte id of this device: header sender when sealing, receiver when opening
  peer: Uint8Array; // 8-byte id of the other end
  rk: Uint32Array; // expanded AES-128 key (44 words)
  ctr: SendCounter | null; // sender side: counter of this key (null on a receive-only slot)
  last: number; // receiver side: last accepted counter, 0 initially
}

/** Allocates a slot (at start-up or on a key change, never per frame); its key is all zero until loaded. */
export function createKeySlot(layer: number, op: number, dir: number, gen: number, local: Uint8Array, peer: Uint8Array): KeySlot {
  if (layer !== E2E_VERSION && layer !== LINK_VERSION) throw new Error('vakt: bad slot layer');
  if (local.length !== ID_LEN || peer.length !== ID_LEN) throw new Error('vakt: ids are 8 bytes');
  return {
    layer: layer,
    op: layer === LINK_VERSION ? 0 : op,
    dir: dir === DIR_DOWN ? DIR_DOWN : 0,
    gen: gen & 0xff,
    local: local,
    peer: peer,
    rk: new Uint32Array(AES128_SCHEDULE_WORDS),
    ctr: null,
    last: 0,
  };
}

/** Expands the raw 16-byte frame key key[keyOff..] into the slot. */
export function setSlotKey(slot: KeySlot, key: Uint8Array, keyOff: number): void {
  expandKey(key, keyOff, slot.rk);
}

/** Zeroes the slot's key schedule (on retirement of a generation). */
export function wipeSlot(slot: KeySlot): void {
  wipe(slot.rk);
}

// Context scratch: id(8) ‖ op/scope(1) ‖ dir(1) ‖ gen(1) at most.
const CTXB = new Uint8Array(ID_LEN + 3);

function derive(ctx: CryptoCtx, key: Uint8Array, keyOff: number, label: Uint8Array, ctxLen: number, out: Uint8Array, outOff: number): void {
  expandKey(key, keyOff, ctx.tmpRk);
  kdf(ctx, ctx.tmpRk, label, CTXB, 0, ctxLen, out, outOff);
  wipe(ctx.tmpRk);
  wipe(CTXB);
}

function putId(id: Uint8Array): void {
  if (!(id instanceof Uint8Array) || id.length !== ID_LEN) throw new Error('vakt: ids are 8 bytes');
  for (let i = 0; i < ID_LEN; i++) CTXB[i] = id[i];
}

/** OK[op, g] = KDF(MK, "vakt-op", meterId ‖ op ‖ g) into out[outOff..+16). */
export function deriveOpRoot(ctx: CryptoCtx, mk: Uint8Array, mkOff: number, meterId: Uint8Array, op: number, gen: number, out: Uint8Array, outOff: number): void {
  putId(meterId);
  CTXB[ID_LEN] = op & 0xff;
  CTXB[ID_LEN + 1] = gen & 0xff;
  derive(ctx, mk, mkOff, LABEL_OP, ID_LEN + 2, out, outOff);
}

/** K[op, dir, g] = KDF(OK[op, g], "vakt-e2e", meterId ‖ op ‖ dir ‖ g) into out[outOff..+16). */
export function deriveE2eKey(ctx: CryptoCtx, ok: Uint8Array, okOff: number, meterId: Uint8Array, op: number, dir: number, gen: number, out: Uint8Array, outOff: number): void {
  putId(meterId);
  CTXB[ID_LEN] = op & 0xff;
  CTXB[ID_LEN + 1] = dir & 0xff;
  CTXB[ID_LEN + 2] = gen & 0xff;
  derive(ctx, ok, okOff, LABEL_E2E, ID_LEN + 3, out, outOff);
}

/** KL[dir, g] = KDF(LK, "vakt-link", deviceId ‖ dir ‖ g) into out[outOff..+16); deviceId = meter id (meter hop) or concentrator id (HES hop). */
export function deriveLinkKey(ctx: CryptoCtx, lk: Uint8Array, lkOff: number, deviceId: Uint8Array, dir: number, gen: number, out: Uint8Array, outOff: number): void {
  putId(deviceId);
  CTXB[ID_LEN] = dir & 0xff;
  CTXB[ID_LEN + 1] = gen & 0xff;
  derive(ctx, lk, lkOff, LABEL_LINK, ID_LEN + 2, out, outOff);
}

/** KC[scope, g] = KDF(new key material, "vakt-kc", meterId ‖ scope ‖ g) into out[outOff..+16). */
export function deriveKcKey(ctx: CryptoCtx, newKey: Uint8Array, newKeyOff: number, meterId: Uint8Array, scope: number, gen: number, out: Uint8Array, outOff: number): void {
  putId(meterId);
  CTXB[ID_LEN] = scope & 0xff;
  CTXB[ID_LEN + 1] = gen & 0xff;
  derive(ctx, newKey, newKeyOff, LABEL_KC, ID_LEN + 2, out, outOff);
}

const TMPK = new Uint8Array(KEY_LEN);

/** Loads K[slot.op, slot.dir, slot.gen] derived from the operation root key OK into slot.rk; meterId is the meter's id. */
export function loadE2eKey(ctx: CryptoCtx, slot: KeySlot, ok: Uint8Array, okOff: number, meterId: Uint8Array): void {
  deriveE2eKey(ctx, ok, okOff, meterId, slot.op, slot.dir, slot.gen, TMPK, 0);
  expandKey(TMPK, 0, slot.rk);
  wipe(TMPK);
}

/** Loads K[slot.op, slot.dir, slot.gen] derived from the master key (OK[op, g] from MK, then K) into slot.rk. */
export function loadE2eKeyFromMaster(ctx: CryptoCtx, slot: KeySlot, mk: Uint8Array, mkOff: number, meterId: Uint8Array): void {
  deriveOpRoot(ctx, mk, mkOff, meterId, slot.op, slot.gen, TMPK, 0);
  deriveE2eKey(ctx, TMPK, 0, meterId, slot.op, slot.dir, slot.gen, TMPK, 0);
  expandKey(TMPK, 0, slot.rk);
  wipe(TMPK);
}

/** Loads KL[slot.dir, slot.gen] derived from the link master key LK into slot.rk; deviceId as in deriveLinkKey. */
export function loadLinkKey(ctx: CryptoCtx, slot: KeySlot, lk: Uint8Array, lkOff: number, deviceId: Uint8Array): void {
  deriveLinkKey(ctx, lk, lkOff, deviceId, slot.dir, slot.gen, TMPK, 0);
  expandKey(TMPK, 0, slot.rk);
  wipe(TMPK);
}

/** Loads KC[scope, slot.gen] derived from the transported key material into slot.rk (slot: e2e, OP_KEY_UPDATE, DIR_UP). */
export function loadKcKey(ctx: CryptoCtx, slot: KeySlot, newKey: Uint8Array, newKeyOff: number, meterId: Uint8Array, scope: number): void {
  deriveKcKey(ctx, newKey, newKeyOff, meterId, scope, slot.gen, TMPK, 0);
  expandKey(TMPK, 0, slot.rk);
  wipe(TMPK);
}

/**
 * Finds the receive slot for a parsed header among slots[0..count): same layer, op (any for link),
 * direction, peer = header sender and generation. Returns its index, ERR_GENERATION when a slot
 * matches everything but the generation, ERR_UNKNOWN_SENDER otherwise. Allocates nothing.
 */
export function findSlot(slots: KeySlot[], count: number, hdr: FrameHeader): number {
  let genMismatch = false;
  for (let i = 0; i < count && i < slots.length; i++) {
    const s = slots[i];
    if (s.layer !== hdr.version || s.dir !== hdr.dir) continue;
    if (s.layer === E2E_VERSION && s.op !== hdr.op) continue;
    if (!equalBytes(s.peer, 0, hdr.sender, 0, ID_LEN)) continue;
    if (s.gen === hdr.gen) return i;
    genMismatch = true;
  }
  return genMismatch ? ERR_GENERATION : ERR_UNKNOWN_SENDER;
}
