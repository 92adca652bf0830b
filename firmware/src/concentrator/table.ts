// Meter table of the concentrator: which meters it serves and their link keys, provisioned by the
// HES with JOIN/LEAVE (PROTOCOL.md §7). Fixed capacity; key slots created once at boot.
// Record 'mt' holds the table plus the last accepted HES link counter (so old JOIN/LEAVE frames
// cannot be replayed after a reboot); record 'ctr' holds the reserve-ahead limits of every
// sender counter, tagged with (meter id, generation) so a limit is only resumed for its own key.
import type { Storage } from '@vakt/boards';
import type { CryptoCtx } from '@vakt/shared/ctx';
import { ADDR_MIN, ID_LEN, LINK_VERSION } from '@vakt/shared/frame';
import { KEY_LEN, LOAD_LINK, createKeySlot, loadSlotKey, wipeSlot } from '@vakt/shared/keys';
import type { KeySlot } from '@vakt/shared/keys';
import { createSendCounter } from '@vakt/shared/counter';
import { DIR_DOWN, DIR_UP } from '@vakt/shared/policy';
import { equalBytes, readU32BE } from '@vakt/shared/utils';
import { REC_CTR, REC_METERS, readFixed, readU64, writeBE, REC_VERSION } from '../common/records.ts';

const MT_ENTRY = 1 + ID_LEN + KEY_LEN + 1 + 2; // used, id, link key, gen, short address
const MT_ADDR = 1 + ID_LEN + KEY_LEN + 1; // offset of the short address in an entry
const CTR_ENTRY = ID_LEN + 1 + 8; // id, gen, limit
/** Port value meaning "not heard yet: send on every meter line". */
export const PORT_ANY = -1;

/** One meter of the table with its two link slots. */
export interface MeterEntry {
  used: boolean;
  id: Uint8Array;
  key: Uint8Array;
  gen: number;
  /** The meter's short address on the radio hop (JOIN, PROTOCOL.md §7): unique in the table. */
  addr: number;
  /** Frames from the meter (meter -> concentrator). */
  up: KeySlot;
  /** Frames to the meter, with the persisted sender counter. */
  down: KeySlot;
  /** Meter line the meter was last heard on. */
  port: number;
}

/** The table, the HES link slots, and their persistence. */
export class MeterTable {
  readonly entries: MeterEntry[] = [];
  /** Last accepted HES link counter persisted with the table. */
  hesLast = 0;
  storageFailures = 0;
  private mtRec: Uint8Array;
  private ctrRec: Uint8Array;
  private limits: Float64Array;
  private limIds: Uint8Array;
  private limGen: Uint8Array;

  constructor(
    private readonly ctx: CryptoCtx,
    private readonly st: Storage,
    readonly capacity: number,
    localId: Uint8Array,
    hesUp: KeySlot,
    hesGen: number,
    reserve: number,
  ) {
    const n = capacity + 1; // counter index 0: HES link, 1..capacity: meters
    this.mtRec = new Uint8Array(1 + 4 + capacity * MT_ENTRY);
    this.ctrRec = new Uint8Array(1 + n * CTR_ENTRY);
    this.limits = new Float64Array(n);
    this.limIds = new Uint8Array(n * ID_LEN);
    this.limGen = new Uint8Array(n);
    const cr = readFixed(st, REC_CTR, this.ctrRec.length);
    if (cr !== undefined) {
      for (let i = 0; i < n; i++) {
        const o = 1 + i * CTR_ENTRY;
        for (let j = 0; j < ID_LEN; j++) this.limIds[i * ID_LEN + j] = cr[o + j];
        this.limGen[i] = cr[o + ID_LEN];
        this.limits[i] = readU64(cr, o + ID_LEN + 1);
      }
    }
    hesUp.ctr = createSendCounter(0, reserve, this.persister(0));
    this.resume(0, hesUp.peer, hesGen, hesUp);
    for (let i = 0; i < capacity; i++) {
      const id = new Uint8Array(ID_LEN);
      // Placeholder address until a JOIN (an unused entry is never looked up).
      const up = createKeySlot(LINK_VERSION, 0, DIR_UP, 0, localId, id, ADDR_MIN);
      const down = createKeySlot(LINK_VERSION, 0, DIR_DOWN, 0, localId, id, ADDR_MIN);
      down.ctr = createSendCounter(0, reserve, this.persister(i + 1));
      this.entries.push({ used: false, id: id, key: new Uint8Array(KEY_LEN), gen: 0, addr: ADDR_MIN, up: up, down: down, port: PORT_ANY });
    }
    const mt = readFixed(st, REC_METERS, this.mtRec.length);
    if (mt !== undefined) {
      this.hesLast = readU32BE(mt, 1);
      for (let i = 0; i < capacity; i++) {
        const o = 5 + i * MT_ENTRY;
        if (mt[o] !== 1) continue;
        const e = this.entries[i];
        e.id.set(mt.subarray(o + 1, o + 1 + ID_LEN));
        e.key.set(mt.subarray(o + 1 + ID_LEN, o + 1 + ID_LEN + KEY_LEN));
        e.gen = mt[o + 1 + ID_LEN + KEY_LEN];
        e.addr = (mt[o + MT_ADDR] << 8) | mt[o + MT_ADDR + 1];
        this.load(i);
      }
    }
  }

  private put(name: string, data: Uint8Array): boolean {
    try {
      this.st.write(name, data);
      return true;
    } catch (e) {
      this.storageFailures++;
      return false;
    }
  }

  /** The persist callback of counter idx (a factory, so no closure captures a loop binding on Espruino). */
  private persister(idx: number): (lim: number) => boolean {
    const self = this;
    return function (lim: number): boolean {
      return self.persistLimit(idx, lim);
    };
  }

  private persistLimit(idx: number, lim: number): boolean {
    const c = this.ctrRec;
    c[0] = REC_VERSION;
    const n = this.capacity + 1;
    for (let i = 0; i < n; i++) {
      const o = 1 + i * CTR_ENTRY;
      for (let j = 0; j < ID_LEN; j++) c[o + j] = this.limIds[i * ID_LEN + j];
      c[o + ID_LEN] = this.limGen[i];
      writeBE(c, o + ID_LEN + 1, 8, i === idx ? lim : this.limits[i]);
    }
    if (!this.put(REC_CTR, c)) return false;
    this.limits[idx] = lim;
    return true;
  }

  /**
   * Points counter idx at key (peer, gen), resuming its persisted limit when it belongs to that key.
   * A key without its own entry (new meter, or one whose entry was taken by another meter) starts
   * above every limit in the record: the concentrator's link counters only ever grow, so even a
   * re-JOIN under an old key can never repeat a counter value under it.
   */
  private resume(idx: number, peer: Uint8Array, gen: number, slot: KeySlot): void {
    const same = this.limGen[idx] === gen && equalBytes(this.limIds, idx * ID_LEN, peer, 0, ID_LEN);
    let start = this.limits[idx];
    if (!same) {
      start = 0;
      for (let i = 0; i < this.limits.length; i++) if (this.limits[i] > start) start = this.limits[i];
      for (let j = 0; j < ID_LEN; j++) this.limIds[idx * ID_LEN + j] = peer[j];
      this.limGen[idx] = gen;
      // Kept as this key's limit so that any rewrite of the record keeps the high-water mark;
      // the first takeCounter persists start + R before anything is sent.
      this.limits[idx] = start;
    }
    const c = slot.ctr;
    if (c === null) return;
    c.limit = start;
    c.next = start < 1 ? 1 : start;
  }

  private load(i: number): void {
    const e = this.entries[i];
    e.used = true;
    e.up.gen = e.gen;
    e.down.gen = e.gen;
    e.up.addr = e.addr;
    e.down.addr = e.addr;
    e.up.last = 0;
    e.port = PORT_ANY;
    loadSlotKey(this.ctx, e.up, LOAD_LINK, e.key, 0, e.id, 0);
    loadSlotKey(this.ctx, e.down, LOAD_LINK, e.key, 0, e.id, 0);
    this.resume(i + 1, e.id, e.gen, e.down);
  }

  /** Persists the table with HES counter `hesLast`; false when storage failed. */
  save(hesLast: number): boolean {
    const m = this.mtRec;
    m.fill(0);
    m[0] = REC_VERSION;
    writeBE(m, 1, 4, hesLast);
    for (let i = 0; i < this.capacity; i++) {
      const e = this.entries[i];
      if (!e.used) continue;
      const o = 5 + i * MT_ENTRY;
      m[o] = 1;
      m.set(e.id, o + 1);
      m.set(e.key, o + 1 + ID_LEN);
      m[o + 1 + ID_LEN + KEY_LEN] = e.gen;
      m[o + MT_ADDR] = e.addr >>> 8;
      m[o + MT_ADDR + 1] = e.addr;
    }
    if (!this.put(REC_METERS, m)) return false;
    this.hesLast = hesLast;
    return true;
  }

  /** Index of the meter with id buf[off..off+8), or -1. */
  find(buf: Uint8Array, off: number): number {
    for (let i = 0; i < this.capacity; i++) {
      const e = this.entries[i];
      if (e.used && equalBytes(e.id, 0, buf, off, ID_LEN)) return i;
    }
    return -1;
  }

  /** Index of the meter with short address addr, or -1. */
  findAddr(addr: number): number {
    for (let i = 0; i < this.capacity; i++) {
      const e = this.entries[i];
      if (e.used && e.addr === addr) return i;
    }
    return -1;
  }

  /** Number of meters in the table. */
  count(): number {
    let n = 0;
    for (let i = 0; i < this.capacity; i++) if (this.entries[i].used) n++;
    return n;
  }

  /**
   * JOIN: adds or re-keys meter id with key/gen/short address; persisted (with hesLast) before it
   * returns the slot index; -1 when the table is full or storage failed, -2 when another meter of
   * the table holds addr (never ambiguous, PROTOCOL.md §7: the table stays as it was). A slot whose
   * counter record belongs to the same (meter, gen) is preferred, so a re-join under the same key
   * resumes its counter.
   */
  join(id: Uint8Array, idOff: number, key: Uint8Array, keyOff: number, gen: number, addr: number, hesLast: number): number {
    let idx = this.find(id, idOff);
    const holder = this.findAddr(addr);
    if (holder >= 0 && holder !== idx) return -2;
    if (idx < 0) {
      for (let i = 0; i < this.capacity && idx < 0; i++) {
        if (!this.entries[i].used && this.limGen[i + 1] === gen && equalBytes(this.limIds, (i + 1) * ID_LEN, id, idOff, ID_LEN)) idx = i;
      }
      for (let i = 0; i < this.capacity && idx < 0; i++) if (!this.entries[i].used) idx = i;
    }
    if (idx < 0) return -1;
    const e = this.entries[idx];
    const wasUsed = e.used;
    const oldId = new Uint8Array(ID_LEN);
    oldId.set(e.id);
    const oldKey = new Uint8Array(KEY_LEN);
    oldKey.set(e.key);
    const oldGen = e.gen;
    const oldAddr = e.addr;
    for (let j = 0; j < ID_LEN; j++) e.id[j] = id[idOff + j];
    for (let j = 0; j < KEY_LEN; j++) e.key[j] = key[keyOff + j];
    e.gen = gen;
    e.addr = addr;
    e.used = true;
    if (!this.save(hesLast)) {
      e.id.set(oldId);
      e.key.set(oldKey);
      e.gen = oldGen;
      e.addr = oldAddr;
      e.used = wasUsed;
      return -1;
    }
    this.load(idx);
    return idx;
  }

  /** LEAVE: removes meter id (persisted); returns its former index, -1 if absent or storage failed. */
  leave(id: Uint8Array, idOff: number, hesLast: number): number {
    const idx = this.find(id, idOff);
    if (idx < 0) return -1;
    const e = this.entries[idx];
    e.used = false;
    if (!this.save(hesLast)) {
      e.used = true;
      return -1;
    }
    wipeSlot(e.up);
    wipeSlot(e.down);
    e.key.fill(0);
    return idx;
  }
}
