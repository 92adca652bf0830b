// The meter's keys, key slots and counters, and how they persist (docs/FIRMWARE.md).
//  - 'keys': master key + generation, per-op generation and individually replaced OK[op], staged key.
//  - 'ctr' : reserve-ahead limits of every sender counter, tagged with the generation they belong to.
//  - 'rx'  : last accepted downlink counter per op, for the active and the staged generation.
// Slots are created once at boot; a key change re-derives keys into the same slots. Only the hot
// keys (READING up, link up and down) have resident slots; every other key is derived on demand
// into one shared slot per direction (RAM on small Espruino boards, docs/FIRMWARE.md).
import type { Storage } from '@vakt/boards';
import type { CryptoCtx } from '@vakt/shared/ctx';
import { E2E_VERSION, LINK_VERSION } from '@vakt/shared/frame';
import type { FrameHeader } from '@vakt/shared/frame';
import {
  KEY_LEN, SCOPE_MASTER, createKeySlot, loadE2eKey, loadE2eKeyFromMaster, loadKcKey, loadLinkKey, wipeSlot,
} from '@vakt/shared/keys';
import type { KeySlot } from '@vakt/shared/keys';
import { createSendCounter, DEFAULT_RESERVE } from '@vakt/shared/counter';
import { DIR_DOWN, DIR_UP, E2E_ALLOW, ALLOW_DOWN, ALLOW_UP, OP_KEY_UPDATE, OP_MAX, OP_READING } from '@vakt/shared/policy';
import { ERR_GENERATION, ERR_UNKNOWN_SENDER } from '@vakt/shared/errors';
import { equalBytes } from '@vakt/shared/utils';
import type { MeterProv } from '../common/prov.ts';
import { REC_CTR, REC_KEYS, REC_RX, readFixed, readU32, readU64, writeU32, writeU64 } from '../common/records.ts';

const KEYS_VERSION = 1;
// version, mkGen, mk, gen[1..9], own[1..9], ok[9][16], staged flag, scope, gen, key
const KEYS_LEN = 1 + 1 + KEY_LEN + OP_MAX + OP_MAX + OP_MAX * KEY_LEN + 3 + KEY_LEN;
const CTR_VERSION = 1;
/** Counter index of the link UP key. */
const CI_LINK = OP_MAX + 1;
/** Counter index of the key-confirmation key. */
const CI_KC = OP_MAX + 2;
const CTR_SLOTS = OP_MAX + 3;
const CTR_ENTRY = 10; // gen, aux (kc scope), limit u64
const CTR_LEN = 1 + CTR_SLOTS * CTR_ENTRY;
const RX_VERSION = 1;
const RX_ENTRY = 10; // active gen + last, staged gen + last
const RX_LEN = 1 + (OP_MAX + 1) * RX_ENTRY;
const MAX_GEN = 255;
// Offsets of the fields of MeterKeys.state.
const S_LIMIT = 0;
const S_NEXT = CTR_SLOTS;
const S_DOWN = 2 * CTR_SLOTS;
const S_STAGED = S_DOWN + OP_MAX + 1;
const S_END = S_STAGED + OP_MAX + 1;
/** Added to an op in downKey when the shared DOWN slot holds the staged generation's key. */
const STAGED_KEY = 16;

/** True when the HES may send op down to the meter (PROTOCOL.md §5). */
function hasDown(op: number): boolean {
  return op >= 1 && op <= OP_MAX && (E2E_ALLOW[op] & ALLOW_DOWN) !== 0;
}

/** Outcome of a TRANSPORT: stage it, re-confirm the same staged key, or refuse. */
export const KU_STAGED = 1;
export const KU_REPEAT = 2;
export const KU_REFUSED = -1;

/** The meter's key material and slots; every mutation is persisted before it takes effect. */
export class MeterKeys {
  readonly meterId: Uint8Array;
  readonly hesId: Uint8Array;
  readonly concentratorId: Uint8Array;
  private mk = new Uint8Array(KEY_LEN);
  mkGen = 0;
  /** Generation in force per op (index = op id). */
  readonly gen = new Uint8Array(OP_MAX + 1);
  private own = new Uint8Array(OP_MAX + 1);
  private ok = new Uint8Array((OP_MAX + 1) * KEY_LEN);
  stPresent = false;
  stScope = 0;
  stGen = 0;
  private stKey = new Uint8Array(KEY_LEN);
  /** The resident UP slot of READING, the one op the meter sends every interval. */
  private reading: KeySlot;
  /**
   * One UP slot shared by every other UP key (responses, EVENT, and KC while a key is staged),
   * re-derived when another key is needed; upIdx is the counter index of the key it holds (-1:
   * none). The counters of the keys not loaded live in `state` (S_NEXT: next value, S_LIMIT).
   */
  private upSlot: KeySlot;
  private upIdx = -1;
  /**
   * One DOWN slot for every downlink key, of the generation in force and of the staged one,
   * re-derived when a command under another key arrives (commands are rare; one KDF chain costs
   * far less than resident slots of RAM on Espruino). downKey is the op it holds, plus
   * STAGED_KEY for the staged generation (-1: none). The replay state of every op lives in
   * state (S_DOWN / S_STAGED); the slot's own `last` is synced both ways.
   */
  private downSlot: KeySlot;
  private downKey = -1;
  /**
   * Counter and replay state in one typed array (one allocation on Espruino): limits and nexts
   * per counter index at S_LIMIT / S_NEXT, last accepted downlink counter per op of the
   * generation in force at S_DOWN and of the staged one at S_STAGED.
   */
  private state = new Float64Array(S_END);
  readonly linkUp: KeySlot;
  readonly linkDown: KeySlot;
  /** Storage writes that failed (flash full, power going down). */
  storageFailures = 0;
  private limGen = new Uint8Array(CTR_SLOTS);
  private limAux = new Uint8Array(CTR_SLOTS);
  private keysRec = new Uint8Array(KEYS_LEN);
  private ctrRec = new Uint8Array(CTR_LEN);
  private rxRec = new Uint8Array(RX_LEN);

  constructor(private readonly ctx: CryptoCtx, private readonly st: Storage, prov: MeterProv, reserve: number) {
    this.meterId = prov.meterId;
    this.hesId = prov.hesId;
    this.concentratorId = prov.concentratorId;
    this.mk.set(prov.masterKey);
    const kr = readFixed(st, REC_KEYS, KEYS_LEN, KEYS_VERSION);
    if (kr !== undefined) this.decodeKeys(kr);
    const cr = readFixed(st, REC_CTR, CTR_LEN, CTR_VERSION);
    if (cr !== undefined) {
      for (let i = 0; i < CTR_SLOTS; i++) {
        const o = 1 + i * CTR_ENTRY;
        this.limGen[i] = cr[o];
        this.limAux[i] = cr[o + 1];
        this.state[S_LIMIT + i] = readU64(cr, o + 2);
      }
    }
    const r = reserve >= 1 ? reserve : DEFAULT_RESERVE;
    this.reading = createKeySlot(E2E_VERSION, OP_READING, DIR_UP, this.gen[OP_READING], this.meterId, this.hesId);
    this.reading.ctr = createSendCounter(0, r, this.persister(OP_READING));
    this.upSlot = createKeySlot(E2E_VERSION, OP_READING, DIR_UP, 0, this.meterId, this.hesId);
    const self = this;
    // The shared slot's counter persists under whichever key the slot holds at the time.
    this.upSlot.ctr = createSendCounter(0, r, function (lim: number): boolean { return self.persistLimit(self.upIdx, lim); });
    this.downSlot = createKeySlot(E2E_VERSION, 1, DIR_DOWN, 0, this.meterId, this.hesId);
    this.linkUp = createKeySlot(LINK_VERSION, 0, DIR_UP, prov.linkGen, this.meterId, this.concentratorId);
    this.linkUp.ctr = createSendCounter(0, r, this.persister(CI_LINK));
    this.linkDown = createKeySlot(LINK_VERSION, 0, DIR_DOWN, prov.linkGen, this.meterId, this.concentratorId);
    loadLinkKey(ctx, this.linkUp, prov.linkKey, 0, this.meterId);
    loadLinkKey(ctx, this.linkDown, prov.linkKey, 0, this.meterId);
    this.resumeCounter(this.linkUp, CI_LINK, prov.linkGen, 0);
    for (let op = 1; op <= OP_MAX; op++) this.loadOp(op);
    if (this.stPresent) this.loadStaged();
    const rx = readFixed(st, REC_RX, RX_LEN, RX_VERSION);
    if (rx !== undefined) this.decodeRx(rx);
  }

  // ---- persistence -------------------------------------------------------------------------

  private put(name: string, data: Uint8Array): boolean {
    try {
      this.st.write(name, data);
      return true;
    } catch (e) {
      this.storageFailures++;
      return false;
    }
  }

  /**
   * The persist callback of counter idx. A factory rather than a closure over a loop binding:
   * Espruino's `let` in a for head is not per-iteration, and this keeps the index explicit.
   */
  private persister(idx: number): (lim: number) => boolean {
    const self = this;
    return function (lim: number): boolean { return self.persistLimit(idx, lim); };
  }

  private persistLimit(idx: number, lim: number): boolean {
    const c = this.ctrRec;
    c[0] = CTR_VERSION;
    for (let i = 0; i < CTR_SLOTS; i++) {
      const o = 1 + i * CTR_ENTRY;
      c[o] = this.limGen[i];
      c[o + 1] = this.limAux[i];
      writeU64(c, o + 2, i === idx ? lim : this.state[S_LIMIT + i]);
    }
    if (!this.put(REC_CTR, c)) return false;
    this.state[S_LIMIT + idx] = lim;
    return true;
  }

  /** Points counter idx at generation gen (and aux); resumes from the persisted limit when it belongs to that key. */
  private resumeCounter(slot: KeySlot | null, idx: number, gen: number, aux: number): void {
    if (this.upIdx === idx) this.parkUp();
    const same = this.limGen[idx] === gen && this.limAux[idx] === aux;
    if (!same) {
      // A new key: its counter space starts fresh. The record is rewritten at the first reservation.
      this.limGen[idx] = gen;
      this.limAux[idx] = aux;
      this.state[S_LIMIT + idx] = 0;
    }
    const lim = this.state[S_LIMIT + idx];
    this.state[S_NEXT + idx] = lim < 1 ? 1 : lim;
    const c = slot === null ? null : slot.ctr;
    if (c === null) return;
    c.limit = lim;
    c.next = this.state[S_NEXT + idx];
  }

  /** Saves the shared UP slot's counter to state and empties the slot. */
  private parkUp(): void {
    const c = this.upSlot.ctr;
    if (this.upIdx >= 0 && c !== null) this.state[S_NEXT + this.upIdx] = c.next;
    this.upIdx = -1;
  }

  /** True when the meter sends op under an operation key (never KEY_UPDATE: CONFIRM uses KC; ACK only answers ACTIVATE). */
  private sendsUp(op: number): boolean {
    return op >= 1 && op <= OP_MAX && (E2E_ALLOW[op] & ALLOW_UP) !== 0 && op !== OP_KEY_UPDATE;
  }

  /** True when the key-update scope's generation in force is gen (ACTIVATE already took effect). */
  inForce(scope: number, gen: number): boolean {
    if (scope === SCOPE_MASTER) return this.mkGen === gen;
    return scope >= 1 && scope <= OP_MAX && this.gen[scope] === gen;
  }

  /** The UP slot of op at the generation in force, with its counter (derived on demand); null where the meter never sends op. */
  up(op: number): KeySlot | null {
    if (!this.sendsUp(op)) return null;
    if (op === OP_READING) return this.reading;
    const u = this.upSlot;
    if (this.upIdx !== op) {
      this.parkUp();
      u.op = op;
      u.gen = this.gen[op];
      if (this.own[op] === 1) loadE2eKey(this.ctx, u, this.ok, op * KEY_LEN, this.meterId);
      else loadE2eKeyFromMaster(this.ctx, u, this.mk, 0, this.meterId);
      this.loadUpCounter(op);
    }
    return u;
  }

  /** The key-confirmation slot KC[staged scope, staged gen] with its counter; null when no key is staged. */
  kc(): KeySlot | null {
    if (!this.stPresent) return null;
    const u = this.upSlot;
    if (this.upIdx !== CI_KC) {
      this.parkUp();
      u.op = OP_KEY_UPDATE;
      u.gen = this.stGen;
      loadKcKey(this.ctx, u, this.stKey, 0, this.meterId, this.stScope);
      this.loadUpCounter(CI_KC);
    }
    return u;
  }

  private loadUpCounter(idx: number): void {
    const c = this.upSlot.ctr;
    if (c === null) return;
    c.limit = this.state[S_LIMIT + idx];
    c.next = this.state[S_NEXT + idx];
    this.upIdx = idx;
  }

  /** Forgets the staged generation's replay state. */
  private clearStaged(): void {
    for (let op = 0; op <= OP_MAX; op++) this.state[S_STAGED + op] = 0;
  }

  /** True when slot is the DOWN slot holding a key of the staged generation. */
  isStaged(slot: KeySlot): boolean {
    return slot === this.downSlot && this.downKey >= STAGED_KEY;
  }

  private encodeKeys(): Uint8Array {
    const k = this.keysRec;
    let o = 0;
    k[o++] = KEYS_VERSION;
    k[o++] = this.mkGen;
    k.set(this.mk, o); o += KEY_LEN;
    for (let op = 1; op <= OP_MAX; op++) k[o++] = this.gen[op];
    for (let op = 1; op <= OP_MAX; op++) k[o++] = this.own[op];
    k.set(this.ok.subarray(KEY_LEN, (OP_MAX + 1) * KEY_LEN), o); o += OP_MAX * KEY_LEN;
    k[o++] = this.stPresent ? 1 : 0;
    k[o++] = this.stScope;
    k[o++] = this.stGen;
    k.set(this.stKey, o);
    return k;
  }

  private decodeKeys(k: Uint8Array): void {
    let o = 1;
    this.mkGen = k[o++];
    this.mk.set(k.subarray(o, o + KEY_LEN)); o += KEY_LEN;
    for (let op = 1; op <= OP_MAX; op++) this.gen[op] = k[o++];
    for (let op = 1; op <= OP_MAX; op++) this.own[op] = k[o++];
    this.ok.set(k.subarray(o, o + OP_MAX * KEY_LEN), KEY_LEN); o += OP_MAX * KEY_LEN;
    this.stPresent = k[o++] === 1;
    this.stScope = k[o++];
    this.stGen = k[o++];
    this.stKey.set(k.subarray(o, o + KEY_LEN));
  }

  /** Persists the replay state of every downlink slot (active and staged generations); false if storage failed. */
  persistRx(): boolean {
    this.syncLast();
    const x = this.rxRec;
    x[0] = RX_VERSION;
    for (let op = 0; op <= OP_MAX; op++) {
      const o = 1 + op * RX_ENTRY;
      const has = hasDown(op);
      const staged = this.stPresent && has && this.inScope(op);
      x[o] = has ? this.gen[op] : 0;
      writeU32(x, o + 1, has ? this.state[S_DOWN + op] : 0);
      x[o + 5] = staged ? this.stGen : 0;
      writeU32(x, o + 6, staged ? this.state[S_STAGED + op] : 0);
    }
    return this.put(REC_RX, x);
  }

  /** Copies the shared slots' replay state back to the per-op arrays. */
  private syncLast(): void {
    const k = this.downKey;
    if (k >= STAGED_KEY) this.state[S_STAGED + k - STAGED_KEY] = this.downSlot.last;
    else if (k >= 0) this.state[S_DOWN + k] = this.downSlot.last;
  }

  private decodeRx(x: Uint8Array): void {
    for (let op = 1; op <= OP_MAX; op++) {
      const o = 1 + op * RX_ENTRY;
      const ga = x[o];
      const la = readU32(x, o + 1);
      const gs = x[o + 5];
      const ls = readU32(x, o + 6);
      if (!hasDown(op)) continue;
      const g = this.gen[op];
      this.state[S_DOWN + op] = g === ga ? la : g === gs ? ls : 0;
      if (this.stPresent && this.inScope(op)) this.state[S_STAGED + op] = this.stGen === gs ? ls : this.stGen === ga ? la : 0;
    }
  }

  // ---- derivation ----------------------------------------------------------------------------

  /** True when op is covered by the staged key's scope. */
  inScope(op: number): boolean {
    return this.stScope === SCOPE_MASTER || this.stScope === op;
  }

  private loadOp(op: number): void {
    if (!this.sendsUp(op)) return;
    const g = this.gen[op];
    if (op === OP_READING) {
      const u = this.reading;
      u.gen = g;
      if (this.own[op] === 1) loadE2eKey(this.ctx, u, this.ok, op * KEY_LEN, this.meterId);
      else loadE2eKeyFromMaster(this.ctx, u, this.mk, 0, this.meterId);
      this.resumeCounter(u, op, g, 0);
    } else {
      this.resumeCounter(null, op, g, 0);
    }
  }

  private loadStaged(): void {
    if (this.downKey >= STAGED_KEY) this.downKey = -1;
    this.clearStaged();
    this.resumeCounter(null, CI_KC, this.stGen, this.stScope);
  }

  /** Finds the downlink slot for a parsed end-to-end header: the generation in force or the staged one. */
  findDown(hdr: FrameHeader): KeySlot | number {
    const op = hdr.op;
    if (op < 1 || op > OP_MAX) return ERR_UNKNOWN_SENDER;
    if (!equalBytes(hdr.sender, 0, this.hesId, 0, this.hesId.length)) return ERR_UNKNOWN_SENDER;
    if (!hasDown(op)) return ERR_UNKNOWN_SENDER;
    const d = this.downSlot;
    if (hdr.gen === this.gen[op]) {
      if (this.downKey !== op) {
        this.syncLast();
        d.op = op;
        d.gen = this.gen[op];
        if (this.own[op] === 1) loadE2eKey(this.ctx, d, this.ok, op * KEY_LEN, this.meterId);
        else loadE2eKeyFromMaster(this.ctx, d, this.mk, 0, this.meterId);
        this.downKey = op;
        d.last = this.state[S_DOWN + op];
      }
      return d;
    }
    if (this.stPresent && this.inScope(op) && hdr.gen === this.stGen) {
      if (this.downKey !== op + STAGED_KEY) {
        this.syncLast();
        d.op = op;
        d.gen = this.stGen;
        if (this.stScope === SCOPE_MASTER) loadE2eKeyFromMaster(this.ctx, d, this.stKey, 0, this.meterId);
        else loadE2eKey(this.ctx, d, this.stKey, 0, this.meterId);
        this.downKey = op + STAGED_KEY;
        d.last = this.state[S_STAGED + op];
      }
      return d;
    }
    return ERR_GENERATION;
  }

  // ---- key update (PROTOCOL.md §8) ----------------------------------------------------------

  /** Highest generation among the keys a scope covers. */
  private maxGen(scope: number): number {
    if (scope !== SCOPE_MASTER) return this.gen[scope];
    let m = this.mkGen;
    for (let op = 1; op <= OP_MAX; op++) if (this.gen[op] > m) m = this.gen[op];
    return m;
  }

  /** TRANSPORT: stages key[off..off+16) for (scope, newGen), persisted before it returns KU_STAGED; KU_REPEAT for the same staged key. */
  stage(scope: number, newGen: number, key: Uint8Array, off: number): number {
    if (scope < 0 || scope > OP_MAX || newGen < 1 || newGen > MAX_GEN) return KU_REFUSED;
    if (newGen <= this.maxGen(scope)) return KU_REFUSED;
    if (this.stPresent && this.stScope === scope && this.stGen === newGen) {
      return equalBytes(this.stKey, 0, key, off, KEY_LEN) ? KU_REPEAT : KU_REFUSED;
    }
    // A new (scope, generation) replaces an earlier staged key only upward: never going back to a
    // staged (scope, gen) whose confirmation-key counter space might already have been used.
    if (this.stPresent && newGen <= this.stGen) return KU_REFUSED;
    const oldPresent = this.stPresent;
    const oldScope = this.stScope;
    const oldGen = this.stGen;
    const oldKey = new Uint8Array(KEY_LEN);
    oldKey.set(this.stKey);
    this.stPresent = true;
    this.stScope = scope;
    this.stGen = newGen;
    for (let i = 0; i < KEY_LEN; i++) this.stKey[i] = key[off + i];
    if (!this.put(REC_KEYS, this.encodeKeys())) {
      this.stPresent = oldPresent;
      this.stScope = oldScope;
      this.stGen = oldGen;
      this.stKey.set(oldKey);
      return KU_REFUSED;
    }
    this.loadStaged();
    return KU_STAGED;
  }

  /** Makes the staged key the one in force (after an authentic downlink under it, or ACTIVATE); false if storage failed. */
  activate(): boolean {
    if (!this.stPresent) return false;
    // The staged slots' replay state must survive the switch: persist it first (both generations are in the record).
    if (!this.persistRx()) return false;
    const scope = this.stScope;
    const g = this.stGen;
    const saveMk = new Uint8Array(KEY_LEN);
    saveMk.set(this.mk);
    const saveGen = new Uint8Array(OP_MAX + 1);
    saveGen.set(this.gen);
    const saveOwn = new Uint8Array(OP_MAX + 1);
    saveOwn.set(this.own);
    const saveOk = new Uint8Array(KEY_LEN);
    const saveMkGen = this.mkGen;
    if (scope === SCOPE_MASTER) {
      this.mk.set(this.stKey);
      this.mkGen = g;
      for (let op = 1; op <= OP_MAX; op++) {
        this.gen[op] = g;
        this.own[op] = 0;
      }
    } else {
      saveOk.set(this.ok.subarray(scope * KEY_LEN, scope * KEY_LEN + KEY_LEN));
      this.ok.set(this.stKey, scope * KEY_LEN);
      this.own[scope] = 1;
      this.gen[scope] = g;
    }
    this.stPresent = false;
    if (!this.put(REC_KEYS, this.encodeKeys())) {
      this.mk.set(saveMk);
      this.mkGen = saveMkGen;
      this.gen.set(saveGen);
      this.own.set(saveOwn);
      if (scope !== SCOPE_MASTER) this.ok.set(saveOk, scope * KEY_LEN);
      this.stPresent = true;
      return false;
    }
    // The replay state of the new generation is what the staged slot accepted so far.
    for (let op = 1; op <= OP_MAX; op++) {
      if (hasDown(op) && this.inScopeOf(scope, op)) this.state[S_DOWN + op] = this.state[S_STAGED + op];
      this.loadOp(op);
    }
    this.downKey = -1;
    wipeSlot(this.downSlot);
    this.clearStaged();
    if (this.upIdx === CI_KC) {
      this.parkUp();
      wipeSlot(this.upSlot);
    }
    this.stKey.fill(0);
    return true;
  }

  private inScopeOf(scope: number, op: number): boolean {
    return scope === SCOPE_MASTER || scope === op;
  }
}
