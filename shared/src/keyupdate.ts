/**
 * Key update (PROTOCOL.md §8): the key material of one meter as a KeyRing, and the state changes of
 * the meter side and the HES side. Pure state + functions; every change is persisted through a
 * caller callback BEFORE it takes effect, and rolled back in memory when the callback fails, so the
 * meter always holds the old key, or the old and the staged key — never neither.
 *
 * KeyRing, per meter:
 *   mk/mkGen          master key in force and its generation
 *   roots[op], gens[op]  operation root key OK[op] in force and its generation (op 1..OP_MAX)
 *   x*                the second key set:
 *                       KX_STAGED    (meter: received, not active; HES: sent, not confirmed)
 *                       KX_CONFIRMED (HES only: new key in force for downlink; the previous roots
 *                                     prevRoots/prevGens are still accepted for uplink)
 */
import {
  cborReaderDone,
  cborReaderInit,
  createCborReader,
  readArrayHead,
  readBytes,
  readUint,
  writeArrayHead,
  writeBytes,
  writeUint,
} from './cbor.ts';
import type { CryptoCtx } from './ctx.ts';
import { ERR_BUFFER, ERR_CBOR, ERR_GENERATION, ERR_KEY_STATE, ERR_STORAGE } from './errors.ts';
import { E2E_VERSION, ID_LEN } from './frame.ts';
import { deriveOpRoot, KEY_LEN, loadE2eKey, loadKcKey, SCOPE_MASTER } from './keys.ts';
import type { KeySlot } from './keys.ts';
import { DIR_UP, OP_KEY_UPDATE, OP_MAX } from './policy.ts';

// Message kinds (second element of the body).
export const KU_TRANSPORT = 1;
export const KU_CONFIRM = 2;
export const KU_ACTIVATE = 3;

// States of the second key set.
export const KX_NONE = 0;
export const KX_STAGED = 1;
export const KX_CONFIRMED = 2;

// Results >= 0 of the state functions.
/** Nothing changed (message already applied, or frame not under the staged generation). */
export const KU_NOCHANGE = 0;
/** The state changed (and was persisted): rebuild the affected key slots. */
export const KU_CHANGED = 1;
/** A repeated TRANSPORT of the staged key: answer with a new CONFIRM, nothing changed. */
export const KU_REPEAT = 2;

const NOPS = OP_MAX + 1; // index 0 unused
/** Fixed size of an encoded KeyRing record. */
export const RING_LEN = 1 + ID_LEN + KEY_LEN + 1 + NOPS + NOPS * KEY_LEN + 3 + KEY_LEN + NOPS + NOPS * KEY_LEN;
const RING_FORMAT = 1;

/** The key material of one meter (on the meter: its own; on the HES: one per meter). */
export interface KeyRing {
  meterId: Uint8Array; // 8
  mk: Uint8Array; // 16
  mkGen: number;
  roots: Uint8Array; // NOPS * 16: OK[op] in force at offset op * 16
  gens: Uint8Array; // NOPS: generation in force per op
  xState: number; // KX_NONE / KX_STAGED / KX_CONFIRMED
  xScope: number; // SCOPE_MASTER or an op id
  xGen: number;
  xKey: Uint8Array; // 16: the transported key material
  prevGens: Uint8Array; // NOPS (HES, KX_CONFIRMED): generations still accepted for uplink
  prevRoots: Uint8Array; // NOPS * 16
}

/** Called after each state change with the ring; must return true only once the ring is durably stored (write-new-then-switch). */
export type PersistRing = (ring: KeyRing) => boolean;

/** Creates the ring of a freshly provisioned meter: every OK[op, gen] derived from mk (allocates; once). */
export function createKeyRing(ctx: CryptoCtx, meterId: Uint8Array, mk: Uint8Array, mkOff: number, gen: number): KeyRing {
  if (meterId.length !== ID_LEN) throw new Error('vakt: ids are 8 bytes');
  const r: KeyRing = {
    meterId: new Uint8Array(ID_LEN),
    mk: new Uint8Array(KEY_LEN),
    mkGen: gen & 0xff,
    roots: new Uint8Array(NOPS * KEY_LEN),
    gens: new Uint8Array(NOPS),
    xState: KX_NONE,
    xScope: 0,
    xGen: 0,
    xKey: new Uint8Array(KEY_LEN),
    prevGens: new Uint8Array(NOPS),
    prevRoots: new Uint8Array(NOPS * KEY_LEN),
  };
  r.meterId.set(meterId);
  for (let i = 0; i < KEY_LEN; i++) r.mk[i] = mk[mkOff + i];
  for (let op = 1; op <= OP_MAX; op++) {
    deriveOpRoot(ctx, r.mk, 0, r.meterId, op, r.mkGen, r.roots, op * KEY_LEN);
    r.gens[op] = r.mkGen;
  }
  return r;
}

/** Writes the ring as a fixed RING_LEN-byte record into out[off..]; returns RING_LEN or ERR_BUFFER. */
export function encodeKeyRing(r: KeyRing, out: Uint8Array, off: number): number {
  if (off < 0 || off + RING_LEN > out.length) return ERR_BUFFER;
  let p = off;
  out[p++] = RING_FORMAT;
  out.set(r.meterId, p);
  p += ID_LEN;
  out.set(r.mk, p);
  p += KEY_LEN;
  out[p++] = r.mkGen;
  out.set(r.gens, p);
  p += NOPS;
  out.set(r.roots, p);
  p += NOPS * KEY_LEN;
  out[p++] = r.xState;
  out[p++] = r.xScope;
  out[p++] = r.xGen;
  out.set(r.xKey, p);
  p += KEY_LEN;
  out.set(r.prevGens, p);
  p += NOPS;
  out.set(r.prevRoots, p);
  p += NOPS * KEY_LEN;
  return p - off;
}

/** Reads a record written by encodeKeyRing into r (all fields overwritten); 0, or ERR_BUFFER / ERR_KEY_STATE for a malformed record (r untouched). */
export function decodeKeyRing(buf: Uint8Array, off: number, len: number, r: KeyRing): number {
  if (off < 0 || len !== RING_LEN || off + len > buf.length) return ERR_BUFFER;
  const xs = buf[off + 1 + ID_LEN + KEY_LEN + 1 + NOPS + NOPS * KEY_LEN];
  const xScope = buf[off + 1 + ID_LEN + KEY_LEN + 1 + NOPS + NOPS * KEY_LEN + 1];
  if (buf[off] !== RING_FORMAT || xs > KX_CONFIRMED || xScope > OP_MAX) return ERR_KEY_STATE;
  let p = off + 1;
  for (let i = 0; i < ID_LEN; i++) r.meterId[i] = buf[p++];
  for (let i = 0; i < KEY_LEN; i++) r.mk[i] = buf[p++];
  r.mkGen = buf[p++];
  for (let i = 0; i < NOPS; i++) r.gens[i] = buf[p++];
  for (let i = 0; i < NOPS * KEY_LEN; i++) r.roots[i] = buf[p++];
  r.xState = buf[p++];
  r.xScope = buf[p++];
  r.xGen = buf[p++];
  for (let i = 0; i < KEY_LEN; i++) r.xKey[i] = buf[p++];
  for (let i = 0; i < NOPS; i++) r.prevGens[i] = buf[p++];
  for (let i = 0; i < NOPS * KEY_LEN; i++) r.prevRoots[i] = buf[p++];
  return 0;
}

// Snapshot used to roll back a change whose persist failed (one ring is changed at a time).
const BACKUP = new Uint8Array(RING_LEN);

function commit(r: KeyRing, persist: PersistRing): number {
  let ok = false;
  try {
    ok = persist(r) === true;
  } catch (e) {
    ok = false;
  }
  if (ok) return KU_CHANGED;
  decodeKeyRing(BACKUP, 0, RING_LEN, r);
  return ERR_STORAGE;
}

function inScope(scope: number, op: number): boolean {
  return scope === SCOPE_MASTER || scope === op;
}

function validScope(scope: number): boolean {
  return scope === Math.floor(scope) && scope >= 0 && scope <= OP_MAX;
}

/** True when newGen exceeds the generation in force of every key in scope (no downgrade, no reuse). */
function genAbove(r: KeyRing, scope: number, newGen: number): boolean {
  if (newGen !== Math.floor(newGen) || newGen < 0 || newGen > 255) return false;
  if (scope === SCOPE_MASTER && newGen <= r.mkGen) return false;
  for (let op = 1; op <= OP_MAX; op++) if (inScope(scope, op) && newGen <= r.gens[op]) return false;
  return true;
}

function sameKey(a: Uint8Array, b: Uint8Array, bOff: number): boolean {
  let d = 0;
  for (let i = 0; i < KEY_LEN; i++) d |= a[i] ^ b[bOff + i];
  return d === 0;
}

const TMP_ROOT = new Uint8Array(KEY_LEN);

// Writes OK[op, xGen] of the second key set into out[outOff..].
function stagedRoot(ctx: CryptoCtx, r: KeyRing, op: number, out: Uint8Array, outOff: number): void {
  if (r.xScope === SCOPE_MASTER) deriveOpRoot(ctx, r.xKey, 0, r.meterId, op, r.xGen, out, outOff);
  else for (let i = 0; i < KEY_LEN; i++) out[outOff + i] = r.xKey[i];
}

// Makes the second key set the one in force (roots/gens/mk); the old ones go to prev*.
function promote(ctx: CryptoCtx, r: KeyRing): void {
  for (let op = 1; op <= OP_MAX; op++) {
    r.prevGens[op] = r.gens[op];
    for (let i = 0; i < KEY_LEN; i++) r.prevRoots[op * KEY_LEN + i] = r.roots[op * KEY_LEN + i];
    if (inScope(r.xScope, op)) {
      stagedRoot(ctx, r, op, r.roots, op * KEY_LEN);
      r.gens[op] = r.xGen;
    }
  }
  if (r.xScope === SCOPE_MASTER) {
    r.mk.set(r.xKey);
    r.mkGen = r.xGen;
  }
}

function clearSecond(r: KeyRing): void {
  r.xState = KX_NONE;
  r.xScope = 0;
  r.xGen = 0;
  r.xKey.fill(0);
  r.prevGens.fill(0);
  r.prevRoots.fill(0);
}

// ---------------------------------------------------------------------------------------------
// Which generations a key slot may use, and loading slot keys from the ring.

/** Generation the meter/HES sends under for op (meter: the one in force; HES: the one in force, new after CONFIRM). */
export function sendGen(r: KeyRing, op: number): number {
  return r.gens[op];
}

/**
 * True when a frame of op under generation gen may be received: the generation in force, the staged
 * one (meter, KX_STAGED, downlink only) or the previous one (HES, KX_CONFIRMED, uplink only).
 * `meterSide` tells which end asks.
 */
export function acceptsGen(r: KeyRing, op: number, gen: number, meterSide: boolean): boolean {
  if (op < 1 || op > OP_MAX) return false;
  if (gen === r.gens[op]) return true;
  if (meterSide) return r.xState === KX_STAGED && inScope(r.xScope, op) && gen === r.xGen;
  return r.xState === KX_CONFIRMED && inScope(r.xScope, op) && gen === r.prevGens[op];
}

/**
 * Loads K[slot.op, slot.dir, slot.gen] into slot from whichever root has that generation (in force,
 * staged, or previous); 0, or ERR_GENERATION when the ring holds no key of that generation.
 * Allocates nothing.
 */
export function loadRingSlot(ctx: CryptoCtx, r: KeyRing, slot: KeySlot): number {
  const op = slot.op;
  if (slot.layer !== E2E_VERSION || op < 1 || op > OP_MAX) return ERR_KEY_STATE;
  if (slot.gen === r.gens[op]) {
    loadE2eKey(ctx, slot, r.roots, op * KEY_LEN, r.meterId);
    return 0;
  }
  if (r.xState === KX_STAGED && inScope(r.xScope, op) && slot.gen === r.xGen) {
    stagedRoot(ctx, r, op, TMP_ROOT, 0);
    loadE2eKey(ctx, slot, TMP_ROOT, 0, r.meterId);
    TMP_ROOT.fill(0);
    return 0;
  }
  if (r.xState === KX_CONFIRMED && inScope(r.xScope, op) && slot.gen === r.prevGens[op]) {
    loadE2eKey(ctx, slot, r.prevRoots, op * KEY_LEN, r.meterId);
    return 0;
  }
  return ERR_GENERATION;
}

/**
 * Loads the confirmation key KC[xScope, xGen] into slot (e2e, OP_KEY_UPDATE, DIR_UP, gen = xGen);
 * 0, or ERR_KEY_STATE when no update is staged/pending (or the slot does not fit).
 */
export function loadRingKcSlot(ctx: CryptoCtx, r: KeyRing, slot: KeySlot): number {
  if (r.xState !== KX_STAGED || slot.op !== OP_KEY_UPDATE || slot.dir !== DIR_UP || slot.gen !== r.xGen) return ERR_KEY_STATE;
  loadKcKey(ctx, slot, r.xKey, 0, r.meterId, r.xScope);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Meter side.

/**
 * Meter received an authentic TRANSPORT [req, 1, scope, newGen, key]: stages the key (persisted
 * before returning). Returns KU_CHANGED (staged: send CONFIRM), KU_REPEAT (same key already staged:
 * send CONFIRM again), ERR_GENERATION (newGen not above every key in scope), ERR_KEY_STATE
 * (different key for the staged generation, or bad scope), ERR_STORAGE (nothing changed).
 */
export function meterOnTransport(r: KeyRing, scope: number, newGen: number, key: Uint8Array, keyOff: number, persist: PersistRing): number {
  if (!validScope(scope)) return ERR_KEY_STATE;
  if (!(key instanceof Uint8Array) || keyOff < 0 || keyOff + KEY_LEN > key.length) return ERR_BUFFER;
  if (r.xState === KX_STAGED && r.xGen === newGen && r.xScope === scope) {
    return sameKey(r.xKey, key, keyOff) ? KU_REPEAT : ERR_KEY_STATE;
  }
  if (!genAbove(r, scope, newGen)) return ERR_GENERATION;
  // A staged update may only be replaced by a later generation (the HES abandoned the old one).
  if (r.xState === KX_STAGED && newGen <= r.xGen) return ERR_KEY_STATE;
  encodeKeyRing(r, BACKUP, 0);
  r.xState = KX_STAGED;
  r.xScope = scope;
  r.xGen = newGen;
  for (let i = 0; i < KEY_LEN; i++) r.xKey[i] = key[keyOff + i];
  return commit(r, persist);
}

/**
 * Meter verified a downlink frame of op under generation gen (call after every successful
 * openFrame of a DOWN frame). If gen is the staged generation of op, the staged key becomes the
 * one in force and the old one is retired (persisted): KU_CHANGED. Otherwise KU_NOCHANGE.
 */
export function meterOnAuthentic(ctx: CryptoCtx, r: KeyRing, op: number, gen: number, persist: PersistRing): number {
  if (r.xState !== KX_STAGED || op < 1 || op > OP_MAX || !inScope(r.xScope, op) || gen !== r.xGen) return KU_NOCHANGE;
  return activate(ctx, r, persist);
}

function activate(ctx: CryptoCtx, r: KeyRing, persist: PersistRing): number {
  encodeKeyRing(r, BACKUP, 0);
  promote(ctx, r);
  clearSecond(r);
  return commit(r, persist);
}

/**
 * Meter received an authentic ACTIVATE [req, 3, scope, newGen]: activates the staged key (KU_CHANGED),
 * or KU_NOCHANGE when that generation is already in force (a repeated ACTIVATE); ERR_KEY_STATE when
 * it names neither; ERR_STORAGE when persisting failed (nothing changed).
 */
export function meterOnActivate(ctx: CryptoCtx, r: KeyRing, scope: number, newGen: number, persist: PersistRing): number {
  if (!validScope(scope)) return ERR_KEY_STATE;
  if (r.xState === KX_STAGED && r.xScope === scope && r.xGen === newGen) return activate(ctx, r, persist);
  for (let op = 1; op <= OP_MAX; op++) if (inScope(scope, op) && r.gens[op] !== newGen) return ERR_KEY_STATE;
  return KU_NOCHANGE;
}

// ---------------------------------------------------------------------------------------------
// HES side.

/**
 * HES starts an update of `scope` to newGen with the fresh key key[keyOff..+16) (random, from the
 * KMS). Persisted before returning, so TRANSPORT may be sent (and retried with the same key) only
 * after KU_CHANGED. ERR_KEY_STATE while another update is pending/confirmed; ERR_GENERATION.
 */
export function hesBeginUpdate(r: KeyRing, scope: number, newGen: number, key: Uint8Array, keyOff: number, persist: PersistRing): number {
  if (!validScope(scope)) return ERR_KEY_STATE;
  if (!(key instanceof Uint8Array) || keyOff < 0 || keyOff + KEY_LEN > key.length) return ERR_BUFFER;
  if (r.xState !== KX_NONE) return ERR_KEY_STATE;
  if (!genAbove(r, scope, newGen)) return ERR_GENERATION;
  encodeKeyRing(r, BACKUP, 0);
  r.xState = KX_STAGED;
  r.xScope = scope;
  r.xGen = newGen;
  for (let i = 0; i < KEY_LEN; i++) r.xKey[i] = key[keyOff + i];
  return commit(r, persist);
}

/**
 * HES verified a CONFIRM [req, 2, scope, newGen] under KC: the new key comes into force for downlink,
 * the previous generation stays accepted for uplink (KX_CONFIRMED). KU_CHANGED, KU_NOCHANGE for a
 * repeated CONFIRM, ERR_KEY_STATE when it does not match the pending update.
 */
export function hesOnConfirm(ctx: CryptoCtx, r: KeyRing, scope: number, newGen: number, persist: PersistRing): number {
  if (r.xState === KX_CONFIRMED && r.xScope === scope && r.xGen === newGen) return KU_NOCHANGE;
  if (r.xState !== KX_STAGED || r.xScope !== scope || r.xGen !== newGen) return ERR_KEY_STATE;
  encodeKeyRing(r, BACKUP, 0);
  promote(ctx, r);
  r.xState = KX_CONFIRMED;
  return commit(r, persist);
}

/**
 * HES verified an uplink frame of op under gen (call after every successful openFrame of an UP
 * frame). The first one under the new generation proves the meter activated it: the previous
 * generation is retired (KU_CHANGED). Otherwise KU_NOCHANGE.
 */
export function hesOnUplink(r: KeyRing, op: number, gen: number, persist: PersistRing): number {
  if (r.xState !== KX_CONFIRMED || op < 1 || op > OP_MAX || !inScope(r.xScope, op) || gen !== r.gens[op]) return KU_NOCHANGE;
  encodeKeyRing(r, BACKUP, 0);
  clearSecond(r);
  return commit(r, persist);
}

/**
 * HES received the meter's authentic ACK [req, OP_KEY_UPDATE, newGen] of an ACTIVATE: the meter
 * has the new generation in force, the previous one is retired (KU_CHANGED). This is the only
 * proof of activation when the scope has no uplink key of its own (scope OP_KEY_UPDATE).
 */
export function hesOnActivated(r: KeyRing, newGen: number, persist: PersistRing): number {
  if (r.xState !== KX_CONFIRMED || r.xGen !== newGen) return KU_NOCHANGE;
  encodeKeyRing(r, BACKUP, 0);
  clearSecond(r);
  return commit(r, persist);
}

/** HES abandons a pending (unconfirmed) update, e.g. to start over with a later generation. */
export function hesAbandonUpdate(r: KeyRing, persist: PersistRing): number {
  if (r.xState !== KX_STAGED) return ERR_KEY_STATE;
  encodeKeyRing(r, BACKUP, 0);
  clearSecond(r);
  return commit(r, persist);
}

// ---------------------------------------------------------------------------------------------
// Bodies: [req, 1, scope, newGen, key(bstr 16)], [req, 2, scope, newGen], [req, 3, scope, newGen].

/** A parsed key-update body; reused. For TRANSPORT the key is body[keyOff..keyOff+16). */
export interface KeyUpdateMsg {
  req: number;
  kind: number;
  scope: number;
  gen: number;
  keyOff: number;
}

/** Allocates one reusable message holder. */
export function createKeyUpdateMsg(): KeyUpdateMsg {
  return { req: 0, kind: 0, scope: 0, gen: 0, keyOff: -1 };
}

const RD = createCborReader();

/** Parses a key-update body; 0, or ERR_CBOR for anything but the exact shapes above (msg untouched). */
export function parseKeyUpdate(body: Uint8Array, off: number, len: number, msg: KeyUpdateMsg): number {
  if (cborReaderInit(RD, body, off, len) < 0) return ERR_BUFFER;
  const n = readArrayHead(RD);
  if (n !== 4 && n !== 5) return ERR_CBOR;
  const req = readUint(RD);
  const kind = readUint(RD);
  const scope = readUint(RD);
  const gen = readUint(RD);
  if (req < 0 || kind < 0 || scope < 0 || gen < 0) return ERR_CBOR;
  if (scope > OP_MAX || gen > 255) return ERR_CBOR;
  let keyOff = -1;
  if (kind === KU_TRANSPORT) {
    if (n !== 5 || readBytes(RD) !== KEY_LEN) return ERR_CBOR;
    keyOff = RD.dataOff;
  } else if (kind === KU_CONFIRM || kind === KU_ACTIVATE) {
    if (n !== 4) return ERR_CBOR;
  } else return ERR_CBOR;
  if (cborReaderDone(RD) !== 0) return ERR_CBOR;
  msg.req = req;
  msg.kind = kind;
  msg.scope = scope;
  msg.gen = gen;
  msg.keyOff = keyOff;
  return 0;
}

/** Writes a key-update body (key used only for KU_TRANSPORT); returns its length or a negative error. */
export function writeKeyUpdate(
  out: Uint8Array,
  off: number,
  req: number,
  kind: number,
  scope: number,
  gen: number,
  key: Uint8Array | null,
  keyOff: number,
): number {
  const transport = kind === KU_TRANSPORT;
  if (transport && (key === null || keyOff < 0 || keyOff + KEY_LEN > key.length)) return ERR_BUFFER;
  let p = writeArrayHead(out, off, transport ? 5 : 4);
  p = writeUint(out, p, req);
  p = writeUint(out, p, kind);
  p = writeUint(out, p, scope);
  p = writeUint(out, p, gen);
  if (transport && key !== null) p = writeBytes(out, p, key, keyOff, KEY_LEN);
  return p < 0 ? p : p - off;
}
