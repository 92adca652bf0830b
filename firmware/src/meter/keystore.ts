// The meter's keys, key slots and counters, and how they persist (docs/FIRMWARE.md).
//  - 'keys': master key + generation, per-op generation and individually replaced OK[op], staged key.
//  - 'ctr' : reserve-ahead limits of every sender counter, tagged with the generation they belong to.
//  - 'rx'  : last accepted downlink counter per op, for the active and the staged generation.
// Each record's bytes are kept in RAM as the state itself (no separate copy to encode from), so
// persisting is one write of that buffer. Slots are created once at boot; a key change re-derives
// keys into the same slots. Only the hot keys (READING up, link up and down) have resident slots;
// every other end-to-end key, UP or DOWN, is derived on demand into one shared slot (RAM on small
// Espruino boards, docs/FIRMWARE.md). A slot returned by up(), kc() or findDown(), and the key
// returned by imageKey(), is therefore valid only until the next of these calls.
import type { Storage } from '@vakt/boards';
import type { CryptoCtx } from '@vakt/shared/ctx';
import { E2E_VERSION, LINK_VERSION } from '@vakt/shared/frame';
import type { FrameHeader } from '@vakt/shared/frame';
import {
  KEY_LEN,
  LOAD_E2E,
  LOAD_E2E_FROM_MASTER,
  LOAD_KC,
  LOAD_LINK,
  SCOPE_MASTER,
  createKeySlot,
  loadSlotKey,
  wipeSlot,
} from '@vakt/shared/keys';
import type { KeySlot } from '@vakt/shared/keys';
import { createSendCounter, DEFAULT_RESERVE } from '@vakt/shared/counter';
import type { PersistLimit, SendCounter } from '@vakt/shared/counter';
import { DIR_DOWN, DIR_IMAGE, DIR_UP, OP_FIRMWARE, OP_KEY_UPDATE, OP_MAX, OP_READING, policyOf } from '@vakt/shared/policy';
import { ERR_GENERATION, ERR_UNKNOWN_SENDER } from '@vakt/shared/errors';
import { equalBytes, readU32BE } from '@vakt/shared/utils';
import type { MeterProv } from '../common/prov.ts';
import { REC_CTR, REC_KEYS, REC_RX, readFixed, readU64, writeBE, REC_VERSION } from '../common/records.ts';

// Record layouts (docs/FIRMWARE.md "Storage records"): one table per record, each offset derived
// from the field before it (the build folds these expressions into literals, so they cost no RAM).
// Byte 0 of every record is its layout version (REC_VERSION).
//
// 'keys' (199 bytes)        offset       size
//   mkGen                   K_MKGEN      1
//   MK                      K_MK         16
//   gen of op 1..9          K_GENS       OP_MAX
//   own flag of op 1..9     K_OWNS       OP_MAX    (1: OK[op] was replaced individually)
//   OK[op], op 1..9         K_OKS        OP_MAX × 16
//   staged flag             K_STAGED     1
//   staged scope            K_ST_SCOPE   1
//   staged gen              K_ST_GEN     1
//   staged key              K_ST_KEY     16
const K_MKGEN = 1;
const K_MK = K_MKGEN + 1;
const K_GENS = K_MK + KEY_LEN;
const K_OWNS = K_GENS + OP_MAX;
const K_OKS = K_OWNS + OP_MAX;
const K_STAGED = K_OKS + OP_MAX * KEY_LEN;
const K_ST_SCOPE = K_STAGED + 1;
const K_ST_GEN = K_ST_SCOPE + 1;
const K_ST_KEY = K_ST_GEN + 1;
const KEYS_LEN = K_ST_KEY + KEY_LEN;
// The per-op arrays indexed by op itself (op 1 is the first entry): gen at K_GEN + op, own at
// K_OWN + op, OK[op] at K_OK + op · 16.
const K_GEN = K_GENS - 1;
const K_OWN = K_OWNS - 1;
const K_OK = K_OKS - KEY_LEN;
//
// 'ctr' (121 bytes): one entry per counter index 0..11 (indices 1..9: the ops' UP keys) at
// 1 + idx · CTR_ENTRY:      offset       size
//   gen of its key          0            1
//   aux (KC: the scope)     CTR_AUX      1
//   persisted limit u64     CTR_LIMIT    8
const CTR_AUX = 1;
const CTR_LIMIT = CTR_AUX + 1;
const CTR_ENTRY = CTR_LIMIT + 8;
/** Counter index of the link UP key. */
const CI_LINK = 10;
/** Counter index of the key-confirmation key. */
const CI_KC = 11;
const CTR_SLOTS = 12;
const CTR_LEN = 1 + CTR_SLOTS * CTR_ENTRY;
//
// 'rx' (101 bytes): one entry per op 0..9 at 1 + op · RX_ENTRY:
//                                       offset       size
//   gen in force                        0            1
//   its last accepted counter u32       RX_LAST      4
//   staged gen                          RX_ST_GEN    1
//   its last accepted counter u32       RX_ST_LAST   4
const RX_LAST = 1;
const RX_ST_GEN = RX_LAST + 4;
const RX_ST_LAST = RX_ST_GEN + 1;
const RX_ENTRY = RX_ST_LAST + 4;
const RX_LEN = 1 + (OP_MAX + 1) * RX_ENTRY;
const MAX_GEN = 255;
// Allowed-direction bits of a policy word (policyOf): ALLOW_UP / ALLOW_DOWN << POLICY_ALLOW_SHIFT,
// as literals so the bundle inlines them.
const MAY_UP = 0x40;
const MAY_DOWN = 0x80;

/** Outcome of a TRANSPORT: stage it, re-confirm the same staged key, or refuse. */
export const KU_STAGED = 1;
export const KU_REPEAT = 2;
export const KU_REFUSED = -1;

/** The meter's key material and slots; every mutation is persisted before it takes effect. */
export class MeterKeys {
  readonly meterId: Uint8Array;
  readonly hesId: Uint8Array;
  // gen and st* mirror fields of the 'keys' record: adopt() sets them, first in the constructor.
  /** Generation in force per key-update scope: of the master key at SCOPE_MASTER (0), of op's key at op. */
  readonly gen = new Uint8Array(OP_MAX + 1);
  /** A TRANSPORTed key waits for activation: its scope and generation. */
  stPresent_!: boolean;
  stScope_!: number;
  stGen_!: number;
  readonly linkUp: KeySlot;
  readonly linkDown: KeySlot;
  /** The 'keys' record: the key bytes themselves (gen and st* above mirror its other fields). */
  private kr = new Uint8Array(KEYS_LEN);
  /** The 'ctr' record: per counter index, the key its limit belongs to and the persisted limit. */
  private cr = new Uint8Array(CTR_LEN);
  /** The 'rx' record: the last accepted downlink counter per op, of the generation in force and the staged one. */
  private rx = new Uint8Array(RX_LEN);
  /** Next value of each counter index while no slot holds its key (the shared UP slot parks it here). */
  private parked_ = new Float64Array(CTR_SLOTS);
  /** The resident UP slot of READING, the one op the meter sends every interval. */
  private reading_: KeySlot;
  /**
   * One end-to-end slot shared by every other key, UP and DOWN: responses, EVENT, KC while a key
   * is staged, every command key of the generation in force and of the staged one, and the
   * firmware image key. It is re-derived when another key is needed (commands and responses are
   * rare; one KDF chain costs far less than resident slots of RAM on Espruino). It holds either the
   * UP key of counter index upIdx (its counter is parked in `parked` when the slot changes key) or
   * the DOWN key named by downAt, the rx record offset of that key's last accepted counter (op's
   * entry + RX_LAST for the generation in force, + RX_ST_LAST for the staged one), where the slot's
   * `last` is synced back. upIdx -1 and downAt 0: it holds neither (or the image key).
   */
  private shared_: KeySlot;
  private upIdx_ = -1;
  private downAt_ = 0;

  constructor(
    private readonly ctx: CryptoCtx,
    private readonly st: Storage,
    prov: MeterProv,
    reserve: number,
  ) {
    const id = prov.meterId;
    const hes = prov.hesId;
    const conc = prov.concentratorId;
    this.meterId = id;
    this.hesId = hes;
    const kr = this.kr;
    const k = readFixed(st, REC_KEYS, KEYS_LEN);
    if (!k) {
      kr[0] = REC_VERSION;
      kr.set(prov.masterKey, K_MK);
    }
    this.adopt_(k || kr);
    const c = readFixed(st, REC_CTR, CTR_LEN);
    if (c) this.cr.set(c);
    else this.cr[0] = REC_VERSION;
    const r = reserve >= 1 ? reserve : DEFAULT_RESERVE;
    const persist = this.persister_();
    // (Garbage once the constructor returns.)
    const counted = (slot: KeySlot): KeySlot => {
      slot.ctr = createSendCounter(0, r, persist);
      return slot;
    };
    // Slots sized for ctx's provider (createKeySlot): 4 key words on native AES, 44 otherwise.
    this.reading_ = counted(createKeySlot(E2E_VERSION, OP_READING, DIR_UP, 0, id, hes, 0, ctx));
    this.shared_ = counted(createKeySlot(E2E_VERSION, OP_READING, DIR_UP, 0, id, hes, 0, ctx));
    this.linkUp = counted(createKeySlot(LINK_VERSION, 0, DIR_UP, prov.linkGen, id, conc, prov.shortAddr, ctx));
    this.linkDown = createKeySlot(LINK_VERSION, 0, DIR_DOWN, prov.linkGen, id, conc, prov.shortAddr, ctx);
    loadSlotKey(ctx, this.linkUp, LOAD_LINK, prov.linkKey, 0, id, 0);
    loadSlotKey(ctx, this.linkDown, LOAD_LINK, prov.linkKey, 0, id, 0);
    this.resume_(CI_LINK, prov.linkGen, 0);
    this.derive_(this.reading_, DIR_UP, OP_READING, false);
    if (this.stPresent_) this.resume_(CI_KC, this.stGen_, this.stScope_);
    this.rx[0] = REC_VERSION;
    const x = readFixed(st, REC_RX, RX_LEN);
    for (let op = 1; op <= OP_MAX; op++) {
      const p = policyOf(E2E_VERSION, op);
      if (op !== OP_KEY_UPDATE && p & MAY_UP) this.resume_(op, this.gen[op], 0);
      // Each op's entry names the generations its counters belong to: take only what matches the keys now.
      if (!x || !(p & MAY_DOWN)) continue;
      const o = 1 + op * RX_ENTRY;
      const ga = x[o];
      const la = readU32BE(x, o + RX_LAST);
      const gs = x[o + RX_ST_GEN];
      const ls = readU32BE(x, o + RX_ST_LAST);
      const g = this.gen[op];
      writeBE(this.rx, o + RX_LAST, 4, g === ga ? la : g === gs ? ls : 0);
      if (this.stPresent_ && this.inScope_(op)) writeBE(this.rx, o + RX_ST_LAST, 4, this.stGen_ === gs ? ls : this.stGen_ === ga ? la : 0);
    }
  }

  /**
   * The persist callback of the three counters: one function for all (on Espruino a closure per
   * counter costs ~14 variables: its function object and the scope it keeps). takeCounter calls it
   * as c.persist(lim), so `this` is the counter, which names its counter index: READING's, the
   * link key's, or whichever UP key the shared slot holds at the time. A method, not a closure in
   * the constructor: Espruino closures keep their whole scope, and the constructor's holds the
   * provisioning image with its key copies.
   */
  private persister_(): PersistLimit {
    const self = this;
    return function (this: SendCounter, lim: number): boolean {
      return self.persistLimit_(this === self.reading_.ctr ? OP_READING : this === self.linkUp.ctr ? CI_LINK : self.upIdx_, lim);
    };
  }

  // ---- persistence -------------------------------------------------------------------------

  private put(name: string, data: Uint8Array): boolean {
    try {
      this.st.write(name, data);
      return true;
    } catch (e) {
      return false; // flash full, power going down: the caller keeps the state as it was
    }
  }

  /** The persist callback of counter idx: the 'ctr' record with limit lim for idx; unchanged when the write fails. */
  private persistLimit_(idx: number, lim: number): boolean {
    const c = this.cr;
    const at = 1 + idx * CTR_ENTRY + CTR_LIMIT;
    const old = readU64(c, at);
    writeBE(c, at, 8, lim);
    if (this.put(REC_CTR, c)) return true;
    writeBE(c, at, 8, old);
    return false;
  }

  /** Persists the replay state of every downlink key (generation in force and staged); false if storage failed. */
  persistRx(): boolean {
    const x = this.rx;
    if (this.downAt_ > 0) writeBE(x, this.downAt_, 4, this.shared_.last);
    for (let op = 1; op <= OP_MAX; op++) {
      if (!(policyOf(E2E_VERSION, op) & MAY_DOWN)) continue;
      const o = 1 + op * RX_ENTRY;
      const staged = this.stPresent_ && this.inScope_(op);
      x[o] = this.gen[op];
      x[o + RX_ST_GEN] = staged ? this.stGen_ : 0;
      if (!staged) writeBE(x, o + RX_ST_LAST, 4, 0);
    }
    return this.put(REC_RX, x);
  }

  /** Takes n (the record read at boot, or just written) as the 'keys' record and mirrors the generations and the staged key's fields from it. */
  private adopt_(n: Uint8Array): void {
    const k = this.kr;
    k.set(n);
    this.gen.set(k.subarray(K_GEN + 1, K_GEN + OP_MAX + 1), 1);
    this.gen[SCOPE_MASTER] = k[K_MKGEN];
    this.stPresent_ = k[K_STAGED] === 1;
    this.stScope_ = k[K_ST_SCOPE];
    this.stGen_ = k[K_ST_GEN];
  }

  // ---- counters and slots ------------------------------------------------------------------

  /**
   * Points counter idx at the key (gen, aux); resumes from the persisted limit when it belongs to
   * that key. The shared slot must not hold idx's key (callers vacate it first).
   */
  private resume_(idx: number, gen: number, aux: number): void {
    const c = this.cr;
    const o = 1 + idx * CTR_ENTRY;
    if (c[o] !== gen || c[o + CTR_AUX] !== aux) {
      // A new key: its counter space starts fresh. The record is rewritten at the first reservation.
      c[o] = gen;
      c[o + CTR_AUX] = aux;
      writeBE(c, o + CTR_LIMIT, 8, 0);
    }
    const lim = readU64(c, o + CTR_LIMIT);
    const next = lim < 1 ? 1 : lim;
    this.parked_[idx] = next;
    const s = idx === OP_READING ? this.reading_ : idx === CI_LINK ? this.linkUp : null;
    if (s !== null) {
      const sc = s.ctr as SendCounter;
      sc.limit = lim;
      sc.next = next;
    }
  }

  /** Empties the shared slot: parks the counter of the UP key it held, or syncs the DOWN key's last counter into rx. */
  private vacate_(): void {
    const s = this.shared_;
    if (this.upIdx_ >= 0) this.parked_[this.upIdx_] = (s.ctr as SendCounter).next;
    if (this.downAt_ > 0) writeBE(this.rx, this.downAt_, 4, s.last);
    this.upIdx_ = -1;
    this.downAt_ = 0;
  }

  /**
   * Derives into slot, for direction dir, the key of op at the generation in force (or the staged
   * one), or for op = CI_KC the key-confirmation key KC[staged scope, staged gen]; returns slot.
   */
  private derive_(slot: KeySlot, dir: number, op: number, staged: boolean): KeySlot {
    const k = this.kr;
    const kc = op === CI_KC;
    const fromStaged = staged || kc;
    slot.dir = dir;
    slot.op = kc ? OP_KEY_UPDATE : op;
    slot.gen = fromStaged ? this.stGen_ : this.gen[op];
    // Its root: the staged key, op's own key when that was replaced individually, else the master key.
    const at = fromStaged ? K_ST_KEY : k[K_OWN + op] === 1 ? K_OK + op * KEY_LEN : K_MK;
    const fromMaster = fromStaged ? this.stScope_ === SCOPE_MASTER : at === K_MK;
    loadSlotKey(this.ctx, slot, kc ? LOAD_KC : fromMaster ? LOAD_E2E_FROM_MASTER : LOAD_E2E, k, at, this.meterId, this.stScope_);
    return slot;
  }

  /** The shared slot holding the UP key of counter index idx with that key's counter. */
  private upSlot_(idx: number): KeySlot {
    const u = this.shared_;
    if (this.upIdx_ !== idx) {
      this.vacate_();
      this.derive_(u, DIR_UP, idx, false);
      const c = u.ctr as SendCounter;
      c.limit = readU64(this.cr, 1 + idx * CTR_ENTRY + CTR_LIMIT);
      c.next = this.parked_[idx];
      // The slot's wire-counter sync belonged to the previous key: the next frame carries its full counter (§6).
      c.sync = 0;
      this.upIdx_ = idx;
    }
    return u;
  }

  /** True when the key-update scope's generation in force is gen (ACTIVATE already took effect). */
  inForce(scope: number, gen: number): boolean {
    return scope >= 0 && scope <= OP_MAX && this.gen[scope] === gen;
  }

  /** The UP slot of op at the generation in force, with its counter (derived on demand; shared: valid until the next up/kc/findDown/imageKey); null where the meter never sends op. */
  up(op: number): KeySlot | null {
    // Never KEY_UPDATE: CONFIRM goes under KC (kc()).
    if (op === OP_KEY_UPDATE || !(policyOf(E2E_VERSION, op) & MAY_UP)) return null;
    return op === OP_READING ? this.reading_ : this.upSlot_(op);
  }

  /** The key-confirmation slot KC[staged scope, staged gen] with its counter; null when no key is staged. */
  kc(): KeySlot | null {
    return this.stPresent_ ? this.upSlot_(CI_KC) : null;
  }

  /**
   * The image key KF[gen] = KDF(OK[FIRMWARE, gen], "vakt-e2e", meterId ‖ 0x06 ‖ 0x02 ‖ gen), expanded
   * in the shared slot (valid until the next up/kc/findDown/imageKey); null when gen is not the
   * FIRMWARE generation in force (a key update since BEGIN: the download must begin again).
   */
  imageKey(gen: number): Uint32Array | null {
    if (gen !== this.gen[OP_FIRMWARE]) return null;
    this.vacate_();
    return this.derive_(this.shared_, DIR_IMAGE, OP_FIRMWARE, false).rk;
  }

  /** True when slot is the DOWN slot holding a key of the staged generation. */
  isStaged(slot: KeySlot): boolean {
    return slot === this.shared_ && (this.downAt_ - 1) % RX_ENTRY === RX_ST_LAST;
  }

  /** True when op is covered by the staged key's scope. */
  inScope_(op: number): boolean {
    return this.stScope_ === SCOPE_MASTER || this.stScope_ === op;
  }

  /** Finds the downlink slot for a parsed end-to-end header, the generation in force or the staged one (shared: valid until the next up/kc/findDown/imageKey). */
  findDown(hdr: FrameHeader): KeySlot | number {
    const op = hdr.op;
    // The sender is implicit (the HES of the image, bound inside the MAC by openFrame).
    if (!(policyOf(E2E_VERSION, op) & MAY_DOWN)) return ERR_UNKNOWN_SENDER;
    // Not the generation in force: only the staged one, for an op in its scope, is accepted.
    const staged = hdr.gen !== this.gen[op];
    if (staged && (!this.stPresent_ || !this.inScope_(op) || hdr.gen !== this.stGen_)) return ERR_GENERATION;
    const at = 1 + op * RX_ENTRY + (staged ? RX_ST_LAST : RX_LAST);
    const d = this.shared_;
    if (this.downAt_ !== at) {
      this.vacate_();
      this.derive_(d, DIR_DOWN, op, staged);
      this.downAt_ = at;
      d.last = readU32BE(this.rx, at);
    }
    return d;
  }

  // ---- key update (PROTOCOL.md §8) ----------------------------------------------------------

  /** TRANSPORT: stages key[off..off+16) for (scope, newGen), persisted before it returns KU_STAGED; KU_REPEAT for the same staged key. */
  stage(scope: number, newGen: number, key: Uint8Array, off: number): number {
    if (scope < 0 || scope > OP_MAX || newGen < 1 || newGen > MAX_GEN) return KU_REFUSED;
    // newGen must exceed the generation of every key the scope covers (scope 0: MK and every op's).
    for (let i = 0; i <= OP_MAX; i++) if ((scope === SCOPE_MASTER || i === scope) && this.gen[i] >= newGen) return KU_REFUSED;
    // A new (scope, generation) replaces an earlier staged key only upward: never going back to a
    // staged (scope, gen) whose confirmation-key counter space might already have been used. The
    // very key already staged for (scope, newGen) is confirmed again.
    if (this.stPresent_ && newGen <= this.stGen_) {
      return this.stScope_ === scope && this.stGen_ === newGen && equalBytes(this.kr, K_ST_KEY, key, off, KEY_LEN) ? KU_REPEAT : KU_REFUSED;
    }
    // The new record is composed in a copy and takes effect only once written (a key update is rare:
    // this copy is the only allocation, and it is garbage right after).
    const n = new Uint8Array(this.kr);
    n[K_STAGED] = 1;
    n[K_ST_SCOPE] = scope;
    n[K_ST_GEN] = newGen;
    n.set(key.subarray(off, off + KEY_LEN), K_ST_KEY);
    if (!this.put(REC_KEYS, n)) return KU_REFUSED;
    this.adopt_(n);
    // The new staged key starts with no downlink accepted and its own confirmation counter; the
    // shared slot may hold a key of the replaced staged key (KC or a DOWN key): it is emptied.
    this.vacate_();
    for (let op = 1; op <= OP_MAX; op++) writeBE(this.rx, 1 + op * RX_ENTRY + RX_ST_LAST, 4, 0);
    this.resume_(CI_KC, newGen, scope);
    return KU_STAGED;
  }

  /** Makes the staged key the one in force (after an authentic downlink under it, or ACTIVATE); false if storage failed. */
  activate(): boolean {
    if (!this.stPresent_) return false;
    // The staged slots' replay state must survive the switch: persist it first (both generations are in the record).
    if (!this.persistRx()) return false;
    const scope = this.stScope_;
    const g = this.stGen_;
    const n = new Uint8Array(this.kr); // as in stage(): composed in a copy, effective once written
    const to = scope === SCOPE_MASTER ? K_MK : K_OK + scope * KEY_LEN;
    n.set(n.subarray(K_ST_KEY, K_ST_KEY + KEY_LEN), to);
    if (scope === SCOPE_MASTER) {
      n[K_MKGEN] = g;
      for (let op = 1; op <= OP_MAX; op++) {
        n[K_GEN + op] = g;
        n[K_OWN + op] = 0;
      }
    } else {
      n[K_OWN + scope] = 1;
      n[K_GEN + scope] = g;
    }
    n[K_STAGED] = 0;
    if (!this.put(REC_KEYS, n)) return false;
    this.adopt_(n);
    // No key of the retired generation stays in the shared slot (its replay state was persisted above).
    this.vacate_();
    wipeSlot(this.shared_);
    const x = this.rx;
    for (let op = 1; op <= OP_MAX; op++) {
      const o = 1 + op * RX_ENTRY;
      // The replay state of the new generation is what the staged key accepted so far.
      if (this.inScope_(op)) writeBE(x, o + RX_LAST, 4, readU32BE(x, o + RX_ST_LAST));
      writeBE(x, o + RX_ST_LAST, 4, 0);
      if (op !== OP_KEY_UPDATE && policyOf(E2E_VERSION, op) & MAY_UP) this.resume_(op, this.gen[op], 0);
    }
    this.derive_(this.reading_, DIR_UP, OP_READING, false);
    this.kr.fill(0, K_ST_KEY);
    return true;
  }
}
