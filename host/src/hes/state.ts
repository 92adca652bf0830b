// The HES's in-memory state shared by its parts (ingest, downlink, commands, key update): decrypted
// key material per device, one core KeySlot per (meter, op, dir, gen) built lazily, sending counters
// drawn from ranges reserved in the store, and the unit of work being built. The store is the
// truth: this cache is reloaded when another writer changed key state (changeVersion), and every
// decision it makes is re-checked by a conditional write (store/types.ts).
import {
  createKeySlot,
  createKeyRing,
  createSendCounter,
  decodeKeyRing,
  encodeKeyRing,
  loadLinkKey,
  loadRingSlot,
  loadRingKcSlot,
  loadKcKey,
  acceptsGen,
  sendGen,
  sealFrame,
  errorName,
  equalBytes,
  KX_STAGED,
  KX_CONFIRMED,
  RING_LEN,
  E2E_VERSION,
  BACKHAUL_VERSION,
  DIR_UP,
  DIR_DOWN,
  OP_KEY_UPDATE,
  ERR_STORAGE,
  LIMIT_MAX,
  DEFAULT_RESERVE,
} from '@vakt/shared';
import type { CryptoCtx, KeyRing, KeySlot, PersistRing, SendCounter } from '@vakt/shared';
import { toHex, plain } from '../crypto/bytes.ts';
import { KeyStore, KeyStoreError } from './kms.ts';
import { AuditLog } from './audit.ts';
import { HesError, KC_PSEUDO_OP, KEY_LEN, REPEAT_WINDOW, opName } from './constants.ts';
import type { AuditAppend, HesStore, ReplayKey, SendKey, StoreWrite } from './store/types.ts';

/** At most this many receiving slots are loaded by one replay read (the first use of a key prefetches its concentrator's meters). */
const PREFETCH_PER_READ = 1000;

export interface MeterState {
  id: Uint8Array;
  hex: string;
  conc: string;
  linkKey: Uint8Array;
  linkGen: number;
  shortAddr: number; // on the concentrator's radio hop (JOIN)
  ring: KeyRing; // core key-update state (PROTOCOL.md §8), persisted encrypted as one key row
  ringVer: number; // version of that key row in the store (conditional writes)
  persist: PersistRing;
  maxGen: number; // highest generation ever used (incl. abandoned updates), so none is reused
  kc: KeySlot | null; // KC[xScope, xGen] while an update is staged, kept while confirmed (repeated CONFIRM)
  kcScope: number;
  activateNextMs: number; // when ACTIVATE is due (again) while the update is confirmed
  recv: Map<number, KeySlot>;
  send: Map<number, KeySlot>;
  maxSeq: number; // highest stored load-profile interval
  contig: number; // every interval 1..contig is stored: what an ACK may confirm (the meter then drops them)
  above: Set<number>; // stored intervals above contig + 1 (after a gap)
  ackDue: number; // contig value still to be acknowledged to the meter (0 none)
  tagFailures: number;
}

export interface ConcState {
  id: Uint8Array;
  hex: string;
  linkKey: Uint8Array;
  linkGen: number;
  up: KeySlot;
  down: KeySlot | null;
  meters: Set<string>;
  joined: Set<string>;
}

export interface HesConfig {
  retryMs: number;
  reserve?: number;
}

function slotKey(op: number, gen: number): number {
  return op * 256 + gen;
}

/** The replay row of a receiving slot (KC slots under their pseudo op). */
export function replayKeyOf(slot: KeySlot, sender: Uint8Array, pseudoOp?: number): ReplayKey {
  return { sender, layer: slot.layer, op: pseudoOp ?? slot.op, dir: slot.dir, gen: slot.gen };
}

export class HesCore {
  readonly meters = new Map<string, MeterState>();
  readonly concs = new Map<string, ConcState>();
  readonly ctx: CryptoCtx;
  readonly audit: AuditLog;
  /** (meter, op, generation) whose downlink counter ran out: their frames are not attempted again. */
  readonly exhausted = new Set<string>();
  /** Reservations that found another writer's range in between (for tests and logs). */
  lostRaces = 0;
  /** Writes of the unit being built: ring persists and audits of the current frame / pump / command land here. */
  unit: StoreWrite[] | null = null;
  private version = -1;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly reserve: number;
  private readonly sendKeys = new WeakMap<SendCounter, SendKey>();
  /** Copies of the last end-to-end frames accepted under each key (newest last), to recognise a byte-identical resend. */
  private recent = new WeakMap<KeySlot, Uint8Array[]>();
  /** KC slots: the pseudo op their replay row uses. */
  readonly kcOp = new WeakMap<KeySlot, number>();

  constructor(
    readonly store: HesStore,
    readonly hesId: Uint8Array,
    readonly kms: KeyStore,
    auditKey: Uint8Array,
    readonly config: HesConfig,
    ctx: CryptoCtx,
  ) {
    this.ctx = ctx;
    this.audit = new AuditLog(store, auditKey);
    this.reserve = config.reserve ?? DEFAULT_RESERVE;
  }

  /** Runs units of work one at a time (the in-memory state is shared by all of them). */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Adds an audit entry to the unit being built. */
  auditInUnit(a: AuditAppend): void {
    if (this.unit === null) throw new HesError('internal: audit outside a unit of work');
    this.unit.push({ kind: 'audit', entry: a });
  }

  // ---------------------------------------------------------------- loading and reloading

  /** Reloads the cache when another writer changed key state since it was loaded. */
  async sync(): Promise<void> {
    const v = await this.store.changeVersion();
    if (v !== this.version) await this.reload(v);
  }

  /** Drops and reloads every cached device (after a failed unit or a change by another writer). */
  async reload(version?: number): Promise<void> {
    const v = version ?? (await this.store.changeVersion());
    this.meters.clear();
    this.concs.clear();
    this.recent = new WeakMap();
    await this.load();
    this.version = v;
  }

  /** Loads devices, decrypted keys, load-profile progress and the replay state of pending KC slots. */
  async load(): Promise<void> {
    const snap = await this.store.loadDevices();
    const rows = this.kms.openAll(snap.keys);
    const byOwner = new Map<string, typeof rows>();
    for (const r of rows) {
      const h = toHex(r.owner);
      let l = byOwner.get(h);
      if (l === undefined) byOwner.set(h, (l = []));
      l.push(r);
    }
    for (const c of snap.concentrators) {
      const hex = toHex(c.id);
      const lk = byOwner.get(hex)?.find((r) => r.kind === 'lk' && r.state === 'active' && r.gen === c.linkGen);
      if (lk === undefined) throw new KeyStoreError(`concentrator ${hex} has no active link key`);
      const id = plain(c.id);
      const up = createKeySlot(BACKHAUL_VERSION, 0, DIR_UP, c.linkGen, this.hesId, id);
      loadLinkKey(this.ctx, up, lk.key, 0, id);
      this.concs.set(hex, { id, hex, linkKey: lk.key, linkGen: c.linkGen, up, down: null, meters: new Set(), joined: new Set() });
    }
    const progress = new Map(snap.progress.map((p) => [toHex(p.meter), p]));
    for (const m of snap.meters) {
      const hex = toHex(m.id);
      const conc = toHex(m.concentratorId);
      this.concs.get(conc)?.meters.add(hex);
      const own = byOwner.get(hex) ?? [];
      const ringRow = own.find((r) => r.kind === 'ring' && r.state === 'active');
      const lk = own.find((r) => r.kind === 'lk' && r.state === 'active');
      if (ringRow === undefined || lk === undefined) throw new KeyStoreError(`meter ${hex} has no key ring / link key`);
      const id = plain(m.id);
      const ring = createKeyRing(this.ctx, id, new Uint8Array(KEY_LEN), 0, 0);
      if (decodeKeyRing(ringRow.key, 0, ringRow.key.length, ring) !== 0) throw new KeyStoreError(`key ring of meter ${hex} is malformed`);
      const p = progress.get(hex);
      const st: MeterState = {
        id,
        hex,
        conc,
        linkKey: lk.key,
        linkGen: m.linkGen,
        shortAddr: m.shortAddr,
        ring,
        ringVer: ringRow.ver,
        persist: () => false,
        maxGen: m.maxGen,
        kc: null,
        kcScope: 0,
        activateNextMs: 0,
        recv: new Map(),
        send: new Map(),
        maxSeq: p?.maxSeq ?? 0,
        contig: p?.contig ?? 0,
        above: new Set(p?.above ?? []),
        ackDue: 0,
        tagFailures: m.tagFailures,
      };
      st.persist = this.ringPersister(st);
      this.refreshKc(st);
      this.meters.set(hex, st);
    }
    await this.loadReplay([...this.concs.values()].map((c) => ({ slot: c.up, sender: c.id })));
    const kcs = [...this.meters.values()].filter((m) => m.kc !== null).map((m) => ({ slot: m.kc!, sender: m.id }));
    await this.loadReplay(kcs);
  }

  /** Sets last (and the remembered frame) of slots from their replay rows, in one read. */
  private async loadReplay(slots: { slot: KeySlot; sender: Uint8Array }[]): Promise<void> {
    if (slots.length === 0) return;
    const states = await this.store.replayStates(slots.map((s) => replayKeyOf(s.slot, s.sender, this.kcOp.get(s.slot))));
    slots.forEach((s, i) => {
      const st = states[i]!;
      s.slot.last = st.last;
      if (st.frame !== null) this.recent.set(s.slot, [plain(st.frame)]);
    });
  }

  // ---------------------------------------------------------------- key state

  // Persists a meter's key ring (encrypted) in the unit being built, conditional on the row version it was loaded with.
  private ringPersister(m: MeterState): PersistRing {
    const buf = new Uint8Array(RING_LEN);
    return (ring: KeyRing) => {
      if (this.unit === null) return false;
      encodeKeyRing(ring, buf, 0);
      const enc = this.kms.seal(m.id, 'ring', 0, 0, buf);
      buf.fill(0);
      this.unit.push({
        kind: 'key',
        row: { owner: m.id, kind: 'ring', scope: 0, gen: 0, state: 'active', enc, createdMs: Date.now() },
        expectVer: m.ringVer,
      });
      m.ringVer++;
      return true;
    };
  }

  // Keeps the KC slot in step with the ring: loaded while an update is staged, kept while confirmed
  // (a repeated CONFIRM is answered again). A reload (restart, another node's change, or on
  // PostgreSQL any key-row commit) rebuilds it from the ring in both states: the ring still holds
  // the transported key until the update completes.
  // A new KC generation has never been used, so its replay state starts at 0 (load() reads stored ones).
  refreshKc(m: MeterState): void {
    const r = m.ring;
    if (r.xState === KX_STAGED || r.xState === KX_CONFIRMED) {
      if (m.kc === null || m.kc.gen !== r.xGen || m.kcScope !== r.xScope) {
        const kc = createKeySlot(E2E_VERSION, OP_KEY_UPDATE, DIR_UP, r.xGen, this.hesId, m.id);
        if (r.xState === KX_STAGED) loadRingKcSlot(this.ctx, r, kc);
        else loadKcKey(this.ctx, kc, r.xKey, 0, r.meterId, r.xScope);
        this.kcOp.set(kc, KC_PSEUDO_OP + r.xScope);
        m.kc = kc;
        m.kcScope = r.xScope;
      }
    } else m.kc = null;
  }

  // Drops cached slots whose generation the ring no longer accepts (a (op, gen) always names one key,
  // so the remaining cached slots stay valid with their replay state).
  pruneSlots(m: MeterState): void {
    for (const [k, s] of m.recv) if (!acceptsGen(m.ring, s.op, s.gen, false)) m.recv.delete(k);
    for (const [k, s] of m.send) if (sendGen(m.ring, s.op) !== s.gen) m.send.delete(k);
    this.refreshKc(m);
  }

  /** The receiving slot of (op, gen) when it is cached (the hot path: no promise). */
  cachedRecvSlot(m: MeterState, op: number, gen: number): KeySlot | undefined {
    return m.recv.get(slotKey(op, gen));
  }

  /** The receiving slot of (op, gen), loading its replay state on first use; null when the ring does not accept gen. */
  async recvSlot(m: MeterState, op: number, gen: number): Promise<KeySlot | null> {
    const k = slotKey(op, gen);
    const s = m.recv.get(k);
    if (s !== undefined) return s;
    if (!acceptsGen(m.ring, op, gen, false)) return null;
    const slot = createKeySlot(E2E_VERSION, op, DIR_UP, gen, this.hesId, m.id);
    if (loadRingSlot(this.ctx, m.ring, slot) !== 0) return null;
    // The meters behind one concentrator push the same op at about the same time: their slots of
    // (op, gen) are loaded with this one, in one read (a first batch of N new meters costs
    // N / PREFETCH_PER_READ round trips, not N).
    const load = [{ slot, sender: m.id, m }];
    for (const hex of this.concs.get(m.conc)?.meters ?? []) {
      if (load.length >= PREFETCH_PER_READ) break;
      const o = this.meters.get(hex);
      if (o === undefined || o === m || o.recv.has(k) || !acceptsGen(o.ring, op, gen, false)) continue;
      const os = createKeySlot(E2E_VERSION, op, DIR_UP, gen, this.hesId, o.id);
      if (loadRingSlot(this.ctx, o.ring, os) === 0) load.push({ slot: os, sender: o.id, m: o });
    }
    await this.loadReplay(load);
    // The ring may have changed while the row was read (never within one unit: units are serial).
    for (const l of load) l.m.recv.set(k, l.slot);
    return slot;
  }

  rememberAccepted(slot: KeySlot, f: Uint8Array): void {
    let l = this.recent.get(slot);
    if (l === undefined) this.recent.set(slot, (l = []));
    l.push(f);
    if (l.length > REPEAT_WINDOW) l.shift();
  }

  forget(slot: KeySlot): void {
    this.recent.delete(slot);
  }

  // Asked after openFrame refused a frame (ERR_REPLAY, or ERR_TAG for a short counter): only a byte-identical copy of an accepted frame matches.
  isRepeat(slot: KeySlot, f: Uint8Array): boolean {
    const l = this.recent.get(slot);
    if (l === undefined) return false;
    for (const g of l) if (g.length === f.length && equalBytes(g, 0, f, 0, f.length)) return true;
    return false;
  }

  // ---------------------------------------------------------------- sending

  private counterFor(key: SendKey): SendCounter {
    // Starts empty: the first value asks for a range (ERR_STORAGE from the core → grant → again).
    const c = createSendCounter(0, this.reserve, () => false);
    this.sendKeys.set(c, key);
    return c;
  }

  /** Reserves a new range for a counter in the store (committed before any frame under it leaves). */
  private async grant(c: SendCounter, need: number): Promise<void> {
    const key = this.sendKeys.get(c)!;
    const r = await this.store.reserveSendRange(key, Math.max(this.reserve, need), LIMIT_MAX);
    if (r.lo > c.next && c.limit > 0) this.lostRaces++;
    c.next = Math.max(c.next, r.lo);
    c.limit = r.hi;
  }

  /** sealFrame with a counter drawn from a reserved range (asks the store for one when it ran out). */
  async seal(slot: KeySlot, type: number, body: Uint8Array, out: Uint8Array, off: number, need = 1): Promise<number> {
    let n = sealFrame(this.ctx, slot, type, body, 0, body.length, out, off);
    if (n === ERR_STORAGE) {
      await this.grant(slot.ctr!, need);
      n = sealFrame(this.ctx, slot, type, body, 0, body.length, out, off);
    }
    return n;
  }

  sendSlot(m: MeterState, op: number): KeySlot {
    const gen = sendGen(m.ring, op);
    const k = slotKey(op, gen);
    let s = m.send.get(k);
    if (s !== undefined) return s;
    s = createKeySlot(E2E_VERSION, op, DIR_DOWN, gen, this.hesId, m.id);
    const r = loadRingSlot(this.ctx, m.ring, s);
    if (r !== 0) throw new HesError(`no ${opName(op)} key of generation ${gen} for meter ${m.hex}: ${errorName(r)}`);
    s.ctr = this.counterFor({ receiver: m.id, layer: E2E_VERSION, op, gen });
    m.send.set(k, s);
    return s;
  }

  linkDown(c: ConcState): KeySlot {
    if (c.down !== null) return c.down;
    const s = createKeySlot(BACKHAUL_VERSION, 0, DIR_DOWN, c.linkGen, this.hesId, c.id);
    loadLinkKey(this.ctx, s, c.linkKey, 0, c.id);
    s.ctr = this.counterFor({ receiver: c.id, layer: BACKHAUL_VERSION, op: 0, gen: c.linkGen });
    c.down = s;
    return s;
  }
}
