/**
 * Key derivations of PROTOCOL.md §4 and the KeySlot: one directional frame key, expanded once,
 * with the ids of both ends, the sender counter and the receiver's replay state.
 */
import { AES128_KEY_LEN, AES128_SCHEDULE_WORDS, expandKey } from './aes.ts';
import type { CryptoCtx } from './ctx.ts';
import type { SendCounter } from './counter.ts';
import { ERR_GENERATION, ERR_UNKNOWN_SENDER } from './errors.ts';
import { ADDR_MAX, ADDR_MIN, BACKHAUL_VERSION, E2E_VERSION, ID_LEN, LINK_VERSION } from './frame.ts';
import type { FrameHeader } from './frame.ts';
import { kdf, LABEL_E2E, LABEL_KC, LABEL_LINK, LABEL_OP } from './kdf.ts';
import { DIR_DOWN } from './policy.ts';
import { checkRange, equalBytes, validRange } from './utils.ts';

/** Length of every Vakt key (AES-128). */
export const KEY_LEN = AES128_KEY_LEN;
/** Key-update scope 0: the master key (every operation root key). */
export const SCOPE_MASTER = 0;

/** One directional frame key and everything needed to seal or open under it. */
export interface KeySlot {
  layer: number; // E2E_VERSION, LINK_VERSION (radio hop) or BACKHAUL_VERSION
  op: number; // e2e: the operation id; link: 0 (one link key covers every link type)
  dir: number; // DIR_UP or DIR_DOWN: the only direction this key protects (D-3)
  gen: number; // key generation 0..255, written to / required in the header
  local: Uint8Array; // 8-byte id of this device: header sender when sealing, receiver when opening
  peer: Uint8Array; // 8-byte id of the other end
  rk: Uint32Array; // expanded AES-128 key: ctx.rkWords_ words (44, or the 4 key words for a native AES)
  ctr: SendCounter | null; // sender side: counter of this key (null on a receive-only slot)
  last: number; // receiver side: last accepted counter, 0 initially
  addr: number; // radio hop: the meter's short address (1..0xFFFE); 0 on other layers
}

/**
 * Allocates a slot (at start-up or on a key change, never per frame); its key is all zero until
 * loaded. A radio-hop slot (LINK_VERSION) needs the meter's short address `addr` (1..0xFFFE).
 * The key holds ctx.rkWords_ words when ctx is given (the context the slot will be used with: 4 on
 * a native-AES board), else the whole schedule, which every provider accepts.
 */
export function createKeySlot(
  layer: number,
  op: number,
  dir: number,
  gen: number,
  local: Uint8Array,
  peer: Uint8Array,
  addr?: number,
  ctx?: CryptoCtx,
): KeySlot {
  const a = layer === LINK_VERSION ? addr : 0;
  if (
    (layer !== E2E_VERSION && layer !== LINK_VERSION && layer !== BACKHAUL_VERSION) ||
    local.length !== ID_LEN ||
    peer.length !== ID_LEN ||
    a === undefined ||
    (layer === LINK_VERSION && !(a === (a | 0) && a >= ADDR_MIN && a <= ADDR_MAX))
  ) {
    throw new Error('vakt: bad slot layer, id length or short address');
  }
  return {
    layer: layer,
    op: layer === E2E_VERSION ? op : 0,
    dir: dir === DIR_DOWN ? DIR_DOWN : 0,
    gen: gen & 0xff,
    local: local,
    peer: peer,
    rk: new Uint32Array(ctx ? ctx.rkWords_ : AES128_SCHEDULE_WORDS),
    ctr: null,
    last: 0,
    addr: a,
  };
}

/** Expands the raw 16-byte frame key key[keyOff..] into the slot. */
export function setSlotKey(slot: KeySlot, key: Uint8Array, keyOff: number): void {
  expandKey(key, keyOff, slot.rk);
}

/** Zeroes the slot's key schedule (on retirement of a generation). */
export function wipeSlot(slot: KeySlot): void {
  slot.rk.fill(0);
}

// Context scratch: id(8) ‖ op/scope(1) ‖ dir(1) ‖ gen(1) at most.
const CTXB = new Uint8Array(ID_LEN + 3);
// Raw key out of deriveInto (a frame key between derivation and expansion into a slot, or an
// OK[op, g] on its way to K); wiped after each use.
const TMPK = new Uint8Array(KEY_LEN);

// Key schedule scratch of the derive* functions, allocated by the first of them (the load*
// functions use the target slot's own schedule instead, so a meter never allocates it).
let deriveRk: Uint32Array | null = null;

// TMPK = KDF(key[keyOff..+16), label, id ‖ a ‖ b [‖ c]), with no third byte when c < 0, using rk
// as the schedule of key: the one derivation behind every derive* and load* function (one
// function instead of one per key kind keeps the Espruino variable count down). Wipes rk and the
// context; throws on a bad id before writing anything. Byte stores keep the low 8 bits.
function deriveInto(
  ctx: CryptoCtx,
  rk: Uint32Array,
  key: Uint8Array,
  keyOff: number,
  label: Uint8Array,
  id: Uint8Array,
  a: number,
  b: number,
  c: number,
): void {
  if (!validRange(id, 0, ID_LEN) || id.length !== ID_LEN) throw new Error('vakt: ids are 8 bytes');
  CTXB.set(id);
  CTXB[ID_LEN] = a;
  CTXB[ID_LEN + 1] = b;
  CTXB[ID_LEN + 2] = c;
  expandKey(key, keyOff, rk);
  kdf(ctx, rk, label, CTXB, 0, c < 0 ? ID_LEN + 2 : ID_LEN + 3, TMPK, 0);
  // fill(0), as utils wipe does: a call the meter need not load.
  rk.fill(0);
  CTXB.fill(0);
}

// deriveInto for the raw-key derive* functions: into out[outOff..+16) under the lazily allocated
// schedule; a bad out range throws before any key byte is touched.
function deriveOut(
  ctx: CryptoCtx,
  key: Uint8Array,
  keyOff: number,
  label: Uint8Array,
  id: Uint8Array,
  a: number,
  b: number,
  c: number,
  out: Uint8Array,
  outOff: number,
): void {
  checkRange(out, outOff, KEY_LEN, 'kdf out');
  if (deriveRk === null) deriveRk = new Uint32Array(AES128_SCHEDULE_WORDS);
  deriveInto(ctx, deriveRk, key, keyOff, label, id, a, b, c);
  out.set(TMPK, outOff);
  TMPK.fill(0);
}

/** OK[op, g] = KDF(MK, "vakt-op", meterId ‖ op ‖ g) into out[outOff..+16). */
export function deriveOpRoot(
  ctx: CryptoCtx,
  mk: Uint8Array,
  mkOff: number,
  meterId: Uint8Array,
  op: number,
  gen: number,
  out: Uint8Array,
  outOff: number,
): void {
  deriveOut(ctx, mk, mkOff, LABEL_OP, meterId, op, gen, -1, out, outOff);
}

/** K[op, dir, g] = KDF(OK[op, g], "vakt-e2e", meterId ‖ op ‖ dir ‖ g) into out[outOff..+16). */
export function deriveE2eKey(
  ctx: CryptoCtx,
  ok: Uint8Array,
  okOff: number,
  meterId: Uint8Array,
  op: number,
  dir: number,
  gen: number,
  out: Uint8Array,
  outOff: number,
): void {
  deriveOut(ctx, ok, okOff, LABEL_E2E, meterId, op, dir, gen & 0xff, out, outOff);
}

/** KL[dir, g] = KDF(LK, "vakt-link", deviceId ‖ dir ‖ g) into out[outOff..+16); deviceId = meter id (meter hop) or concentrator id (HES hop). */
export function deriveLinkKey(
  ctx: CryptoCtx,
  lk: Uint8Array,
  lkOff: number,
  deviceId: Uint8Array,
  dir: number,
  gen: number,
  out: Uint8Array,
  outOff: number,
): void {
  deriveOut(ctx, lk, lkOff, LABEL_LINK, deviceId, dir, gen, -1, out, outOff);
}

/** KC[scope, g] = KDF(new key material, "vakt-kc", meterId ‖ scope ‖ g) into out[outOff..+16). */
export function deriveKcKey(
  ctx: CryptoCtx,
  newKey: Uint8Array,
  newKeyOff: number,
  meterId: Uint8Array,
  scope: number,
  gen: number,
  out: Uint8Array,
  outOff: number,
): void {
  deriveOut(ctx, newKey, newKeyOff, LABEL_KC, meterId, scope, gen, -1, out, outOff);
}

/** loadSlotKey kind: K[slot.op, slot.dir, slot.gen] from the operation root key OK[op, g]. */
export const LOAD_E2E = 0;
/** loadSlotKey kind: K[slot.op, slot.dir, slot.gen] from the master key (OK[op, g] from MK, then K). */
export const LOAD_E2E_FROM_MASTER = 1;
/** loadSlotKey kind: KL[slot.dir, slot.gen] from a link master key LK. */
export const LOAD_LINK = 2;
/** loadSlotKey kind: KC[scope, slot.gen] from transported key material (slot: e2e, OP_KEY_UPDATE, DIR_UP). */
export const LOAD_KC = 3;

/**
 * Derives the frame key of `kind` (LOAD_E2E, LOAD_E2E_FROM_MASTER, LOAD_LINK, LOAD_KC) from
 * key[keyOff..+16) and id (the meter id; for LOAD_LINK the meter or concentrator id, as in
 * deriveLinkKey) for the slot's op, direction and generation, and expands it into slot.rk;
 * scope is used by LOAD_KC only. One entry point for all four load* functions below.
 */
export function loadSlotKey(
  ctx: CryptoCtx,
  slot: KeySlot,
  kind: number,
  key: Uint8Array,
  keyOff: number,
  id: Uint8Array,
  scope: number,
): void {
  const rk = slot.rk;
  if (kind === LOAD_E2E_FROM_MASTER) {
    // OK[op, g] first (into TMPK), then K from it as for LOAD_E2E.
    deriveInto(ctx, rk, key, keyOff, LABEL_OP, id, slot.op, slot.gen, -1);
    key = TMPK;
    keyOff = 0;
  } else if (kind !== LOAD_E2E && kind !== LOAD_LINK && kind !== LOAD_KC) throw new Error('vakt: bad key kind');
  if (kind === LOAD_LINK) deriveInto(ctx, rk, key, keyOff, LABEL_LINK, id, slot.dir, slot.gen, -1);
  else if (kind === LOAD_KC) deriveInto(ctx, rk, key, keyOff, LABEL_KC, id, scope, slot.gen, -1);
  else deriveInto(ctx, rk, key, keyOff, LABEL_E2E, id, slot.op, slot.dir, slot.gen & 0xff);
  expandKey(TMPK, 0, rk);
  TMPK.fill(0);
}

/** Loads K[slot.op, slot.dir, slot.gen] derived from the operation root key OK into slot.rk; meterId is the meter's id. */
export function loadE2eKey(ctx: CryptoCtx, slot: KeySlot, ok: Uint8Array, okOff: number, meterId: Uint8Array): void {
  loadSlotKey(ctx, slot, LOAD_E2E, ok, okOff, meterId, 0);
}

/** Loads K[slot.op, slot.dir, slot.gen] derived from the master key (OK[op, g] from MK, then K) into slot.rk. */
export function loadE2eKeyFromMaster(ctx: CryptoCtx, slot: KeySlot, mk: Uint8Array, mkOff: number, meterId: Uint8Array): void {
  loadSlotKey(ctx, slot, LOAD_E2E_FROM_MASTER, mk, mkOff, meterId, 0);
}

/** Loads KL[slot.dir, slot.gen] derived from the link master key LK into slot.rk; deviceId as in deriveLinkKey. */
export function loadLinkKey(ctx: CryptoCtx, slot: KeySlot, lk: Uint8Array, lkOff: number, deviceId: Uint8Array): void {
  loadSlotKey(ctx, slot, LOAD_LINK, lk, lkOff, deviceId, 0);
}

/** Loads KC[scope, slot.gen] derived from the transported key material into slot.rk (slot: e2e, OP_KEY_UPDATE, DIR_UP). */
export function loadKcKey(ctx: CryptoCtx, slot: KeySlot, newKey: Uint8Array, newKeyOff: number, meterId: Uint8Array, scope: number): void {
  loadSlotKey(ctx, slot, LOAD_KC, newKey, newKeyOff, meterId, scope);
}

/**
 * Finds the receive slot for a parsed header among slots[0..count): same layer, then backhaul:
 * direction, peer = header sender; radio hop: direction and short address; e2e: op and a
 * receive-only slot (ctr null; the direction is the receiver's own). The generation must match
 * (the hop carries none: its slot's). Returns its index, ERR_GENERATION when a slot matches
 * everything but the generation, ERR_UNKNOWN_SENDER otherwise. Allocates nothing.
 */
export function findSlot(slots: KeySlot[], count: number, hdr: FrameHeader): number {
  let genMismatch = false;
  for (let i = 0; i < count && i < slots.length; i++) {
    const s = slots[i];
    if (s.layer !== hdr.version) continue;
    if (s.layer === E2E_VERSION) {
      if (s.op !== hdr.op || s.ctr !== null) continue;
    } else if (s.dir !== hdr.dir) continue;
    else if (s.layer === LINK_VERSION) {
      if (s.addr === hdr.addr) return i;
      continue;
    } else if (!equalBytes(s.peer, 0, hdr.sender, 0, ID_LEN)) continue;
    if (s.gen === hdr.gen) return i;
    genMismatch = true;
  }
  return genMismatch ? ERR_GENERATION : ERR_UNKNOWN_SENDER;
}
