// The head-end system: durable store (SQLite, WAL), KMS, shipment import, ingest, command queue.
// Verification uses the core's parseHeader/openFrame with one KeySlot per (device, op, dir, gen).
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { x25519 } from '@noble/curves/ed25519.js';
import {
  createCryptoCtx,
  createFastCryptoCtx,
  createHeader,
  createKeySlot,
  parseHeader,
  openFrame,
  sealFrame,
  loadLinkKey,
  createKeyRing,
  encodeKeyRing,
  decodeKeyRing,
  sendGen,
  acceptsGen,
  loadRingSlot,
  loadRingKcSlot,
  hesBeginUpdate,
  hesOnConfirm,
  hesOnUplink,
  hesOnActivated,
  hesAbandonUpdate,
  parseKeyUpdate,
  createKeyUpdateMsg,
  writeKeyUpdate,
  KX_NONE,
  KX_STAGED,
  KX_CONFIRMED,
  KU_CHANGED,
  RING_LEN,
  ERR_KEY_STATE,
  errorName,
  E2E_VERSION,
  BACKHAUL_VERSION,
  DIR_UP,
  DIR_DOWN,
  MAX_LINK_FRAME,
  MAX_BODY,
  LINK_DATA,
  LINK_JOIN,
  LINK_ACK,
  OP_READING,
  OP_READ,
  OP_EVENT,
  OP_ACK,
  OP_KEY_UPDATE,
  OP_FIRMWARE,
  OP_MAX,
  DEFAULT_RESERVE,
  ERR_TAG,
  ERR_REPLAY,
  ERR_UNKNOWN_SENDER,
  ERR_GENERATION,
  ERR_LENGTH,
  ERR_RECEIVER,
  ERR_POLICY,
  ERR_CBOR,
  ERR_COUNTER_EXHAUSTED,
  ERR_STORAGE,
  equalBytes,
} from '@vakt/shared';
import type { CryptoCtx, FrameHeader, KeySlot, BlockCipher, KeyRing, PersistRing } from '@vakt/shared';
import { SCHEMA_SQL, SCHEMA_VERSION } from './schema.ts';
import { CounterReservations } from './reserve.ts';
import { nameProblem, printable, MAX_NAME_LEN } from '../cli/text.ts';
import { deriveStoreKeys } from './storekey.ts';
import type { StoreKeys } from './storekey.ts';
import { AuditLog } from './audit.ts';
import { KeyStore, KeyStoreError } from './kms.ts';
import { roleHas, isRole, lowerRole, PermissionError } from './roles.ts';
import type { Role } from './roles.ts';
import {
  KIND_INFO,
  canTransition,
  validateParams,
  simpleBody,
  GAPFILL_MAX,
  STATUS_OK,
  STATUS_NAMES,
  FW_BEGIN,
  FW_CHUNK,
  FW_ACTIVATE,
  FW_CHUNK_LEN,
  firmwareImageMac,
} from './commands.ts';
import type { CommandParams, CommandState, CommandKind } from './commands.ts';
import { gcmSeal, gcmOpen } from '../crypto/aead.ts';
import { randomBytes, toHex, fromHex, ctEqual, utf8, plain } from '../crypto/bytes.ts';
import { cborEncode } from '../crypto/cbor.ts';
import { decodeBody } from '@vakt/shared/bodies';
import type { BodyValue } from '@vakt/shared/bodies';
import { ERR_FRAME_FAULT, frameFaultName, isStoreFault, gapFillRanges, SealError, inSavepoint } from './isolation.ts';
import type { CborValue } from '../crypto/cbor.ts';
import { openShipment, ShipmentError } from '../crypto/shipment.ts';
import { decodePayload } from '../kpe/payload.ts';
import type { HesCert } from '../kpe/cert.ts';
import { createHash } from 'node:crypto';

export const KEY_LEN = 16;
export const ID_LEN = 8;
/** Consecutive authentication failures after which a meter is reported as "probably wrong key". */
export const WRONG_KEY_THRESHOLD = 3;
/** Default time a command may wait for its answer before it is sent again. */
export const DEFAULT_RETRY_MS = 30_000;
/** Default lifetime of a command. */
export const DEFAULT_EXPIRY_MS = 24 * 3600_000;
/** Attempts before a (non key-update) command fails. */
export const MAX_ATTEMPTS = 5;
/** Load-profile intervals a meter keeps (firmware LP_SLOTS): gap fill never asks further back. */
export const LP_WINDOW = 96;
/** SQLite page cache per connection, KiB. */
export const CACHE_KIB = 65536;
/** EVENT code: a sending counter of the meter is near exhaustion (PROTOCOL.md §6, §10). */
export const EVENT_COUNTER_EXHAUSTION = 19;
/** Highest key generation. */
const MAX_KEY_GEN = 255;
/** Actor name of the HES itself (gap fill, automatic retries). */
export const SYSTEM_ACTOR = 'hes';
const KEY_CHECK_PLAINTEXT = utf8('vakt-store-key-check-v1');
/** Replay rows of KC slots use op = KC_PSEUDO_OP + scope, apart from K[KEY_UPDATE] of the same generation. */
const KC_PSEUDO_OP = 0x100;
/**
 * Accepted end-to-end frames remembered per key to recognise a concentrator's resend: the concentrator
 * retransmits whatever it holds unacknowledged, so a few recent frames per meter and key cover a lost LINK_ACK.
 */
const REPEAT_WINDOW = 4;
/** ACK body kind naming a key update ([req, OP_KEY_UPDATE, newGen], PROTOCOL.md §8 step 4). */
const ACK_OF_KEY_UPDATE = OP_KEY_UPDATE;

export interface HesOpenOptions {
  dbPath: string;
  storeKey: Uint8Array;
  /** 'full' (default): every commit is fsynced, survives power loss; 'normal': survives process crashes only. */
  synchronous?: 'full' | 'normal';
  /** A block cipher to verify and seal with; default: the core's host path (createFastCryptoCtx). */
  blockCipher?: BlockCipher;
  retryMs?: number;
  reserve?: number;
}

export interface HesInitOptions extends HesOpenOptions {
  kpePublicKeys: Uint8Array[];
  adminUser?: string;
  hesId?: Uint8Array;
}

/** How ingestBatch treats the batch. */
export interface IngestOptions {
  /**
   * false: refusals of frames whose link layer did not authenticate are not audited one by one (the
   * caller counts them and audits summaries: the TCP server does so for peers that never
   * authenticated). Refusals after the link authenticated are always audited. Default true.
   */
  auditLinkRefusals?: boolean;
}

/** Result of ingesting one link frame. */
export type IngestResult =
  | { ok: true; kind: 'reading' | 'duplicate' | 'response' | 'event' | 'key_confirm' | 'ack' | 'link_ack'; meter?: string; concentrator: string; seq?: number; command?: number; linkCounter?: number; repeat?: true }
  | { ok: false; code: number; error: string; message: string; meter?: string; concentrator?: string; linkCounter?: number };
// linkCounter: set when the link frame itself was authentic (not for LINK_ACKs): the frame is settled,
// stored or refused for good, and the concentrator may drop it once told so (linkAcks).
// repeat: a 'duplicate' that is a byte-identical copy of an end-to-end frame already accepted (the
// concentrator resent it after a lost LINK_ACK): refused, not stored, acknowledged, not a security event.

/** Thrown inside a transaction when another connection changed the store since our state was loaded. */
class StaleStateError extends Error {}

/** Error from the HES library that the CLI prints as one line. */
export class HesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HesError';
  }
}

interface MeterState {
  id: Uint8Array;
  hex: string;
  conc: string;
  linkKey: Uint8Array;
  linkGen: number;
  shortAddr: number; // on the concentrator's radio hop (JOIN)
  ring: KeyRing; // core key-update state (PROTOCOL.md §8), persisted encrypted as one key row
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

interface ConcState {
  id: Uint8Array;
  hex: string;
  linkKey: Uint8Array;
  linkGen: number;
  up: KeySlot;
  down: KeySlot | null;
  meters: Set<string>;
  joined: Set<string>;
}

interface CommandRow {
  id: number;
  meter_id: Buffer;
  kind: CommandKind;
  op: number;
  params: string;
  state: CommandState;
  actor: string;
  created_ms: number;
  updated_ms: number;
  expires_ms: number;
  attempts: number;
  next_try_ms: number;
  result: string | null;
}

function slotKey(op: number, gen: number): number {
  return op * 256 + gen;
}

function opName(op: number): string {
  return ['?', 'READING', 'READ', 'RELAY', 'CONFIG', 'CLOCK', 'FIRMWARE', 'KEY_UPDATE', 'EVENT', 'ACK'][op] ?? `op ${op}`;
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

/** The HES library; one instance owns one database file. */
export class Hes {
  readonly db: Database.Database;
  readonly audit: AuditLog;
  readonly hesId: Uint8Array;
  private readonly keys: StoreKeys;
  private readonly kms: KeyStore;
  /** Sender-counter ranges, reserved in the store before use (reserve.ts). */
  readonly reservations: CounterReservations;
  private readonly ctx: CryptoCtx;
  private readonly hdr: FrameHeader = createHeader();
  private readonly hdr2: FrameHeader = createHeader();
  private readonly linkBody = new Uint8Array(MAX_BODY);
  private readonly e2eBody = new Uint8Array(MAX_BODY);
  private readonly sealBuf = new Uint8Array(MAX_LINK_FRAME);
  private readonly meters = new Map<string, MeterState>();
  private readonly concs = new Map<string, ConcState>();
  private readonly retryMs: number;
  private readonly reserve: number;
  private readonly st: Record<string, Database.Statement>;
  private touched: { slot: KeySlot; prev: number; sender: Uint8Array }[] = [];
  private readonly touchedSet = new Set<KeySlot>();
  private readonly touchedMeterSet = new Set<MeterState>();
  private touchedMeters: { m: MeterState; maxSeq: number; ackDue: number; tagFailures: number }[] = [];
  private inBatch = false;
  private closed = false;

  private constructor(db: Database.Database, keys: StoreKeys, hesId: Uint8Array, o: HesOpenOptions) {
    this.db = db;
    this.keys = keys;
    this.hesId = hesId;
    this.audit = new AuditLog(db, keys.audit);
    this.kms = new KeyStore(db, keys.atRest);
    this.reservations = new CounterReservations(db);
    this.ctx = o.blockCipher === undefined ? createFastCryptoCtx() : createCryptoCtx(o.blockCipher);
    this.retryMs = o.retryMs ?? DEFAULT_RETRY_MS;
    this.reserve = o.reserve ?? DEFAULT_RESERVE;
    this.st = {
      replayUpsert: db.prepare(
        'INSERT INTO replay (sender, layer, op, dir, gen, last) VALUES (?,?,?,?,?,?) ON CONFLICT (sender, layer, op, dir, gen) DO UPDATE SET last = excluded.last WHERE excluded.last > replay.last',
      ),
      replayGet: db.prepare('SELECT last FROM replay WHERE sender = ? AND layer = ? AND op = ? AND dir = ? AND gen = ?'),
      reading: db.prepare('INSERT OR IGNORE INTO readings (meter_id, seq, t, wh, w, counter, gen, via, received_ms) VALUES (?,?,?,?,?,?,?,?,?)'),
      register: db.prepare('INSERT INTO register_reads (meter_id, req, t, wh, w, received_ms) VALUES (?,?,?,?,?,?)'),
      event: db.prepare('INSERT INTO events (meter_id, code, t, detail, received_ms) VALUES (?,?,?,?,?)'),
      eventSeen: db.prepare('SELECT 1 FROM events WHERE meter_id = ? AND code = ? AND t = ? AND detail IS ? LIMIT 1'),
      tagFail: db.prepare('UPDATE meters SET tag_failures = ?, last_error = ? WHERE id = ?'),
      cmdGet: db.prepare('SELECT * FROM commands WHERE id = ?'),
      cmdInsert: db.prepare(
        "INSERT INTO commands (meter_id, kind, op, params, state, actor, created_ms, updated_ms, expires_ms, attempts, next_try_ms) VALUES (?,?,?,?,'queued',?,?,?,?,0,0)",
      ),
      cmdUpdate: db.prepare('UPDATE commands SET state = ?, params = ?, attempts = ?, next_try_ms = ?, updated_ms = ?, result = ? WHERE id = ?'),
      cmdOpenFor: db.prepare("SELECT * FROM commands WHERE meter_id = ? AND state IN ('queued','sent') ORDER BY id"),
      cmdOpenAll: db.prepare("SELECT * FROM commands WHERE state IN ('queued','sent') ORDER BY id"),
    };
    this.load();
    this.dataVersion = this.storeVersion();
  }

  // ---------------------------------------------------------------- several processes, one store
  // A `vakt hes command …` process may commit (e.g. begin a key update) while `vakt hes serve` runs.
  // PRAGMA data_version changes only on other connections' commits: when it moved, the in-memory key
  // state is reloaded before anything is decided, and every writing transaction is IMMEDIATE and
  // re-checks it, so a stale ring can never overwrite a newer one.
  private dataVersion = -1;

  private storeVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }

  private syncWithStore(): void {
    const v = this.storeVersion();
    if (v === this.dataVersion) return;
    this.reloadAfterFailure();
    this.dataVersion = v;
  }

  private assertFresh(): void {
    if (this.storeVersion() !== this.dataVersion) throw new StaleStateError('store changed by another process');
  }

  /** Creates a new HES database (schema, HES key pair and id, pinned KPE keys, first admin); returns the HES certificate. */
  static init(o: HesInitOptions): { hes: Hes; cert: HesCert } {
    if (o.dbPath !== ':memory:' && existsSync(o.dbPath)) throw new HesError(`${o.dbPath} already exists; refusing to initialise over it`);
    if (o.kpePublicKeys.length === 0) throw new HesError('at least one KPE public key must be pinned');
    const adminProblem = nameProblem(o.adminUser ?? 'admin', 'admin user name');
    if (adminProblem !== null) throw new HesError(adminProblem);
    const keys = deriveStoreKeys(o.storeKey);
    const db = Hes.openDb(o);
    const hesId = o.hesId ?? randomBytes(ID_LEN);
    const secret = x25519.utils.randomSecretKey();
    const now = Date.now();
    db.transaction(() => {
      db.exec(SCHEMA_SQL);
      const put = db.prepare('INSERT INTO meta (k, v) VALUES (?, ?)');
      put.run('schema_version', Buffer.from(String(SCHEMA_VERSION)));
      put.run('hes_id', hesId);
      put.run('store_key_check', gcmSeal(keys.check, KEY_CHECK_PLAINTEXT, utf8('check')));
      put.run('hes_x25519', gcmSeal(keys.atRest, secret, utf8('hes-x25519')));
      for (const k of o.kpePublicKeys) db.prepare('INSERT INTO kpe_keys (pub, added_ms) VALUES (?, ?)').run(k, now);
      const admin = o.adminUser ?? 'admin';
      db.prepare("INSERT INTO users (name, role, created_ms) VALUES (?, 'admin', ?)").run(admin, now);
      const audit = new AuditLog(db, keys.audit);
      audit.append(admin, 'hes.init', toHex(hesId), { kpe: o.kpePublicKeys.map(toHex), x25519: toHex(x25519.getPublicKey(secret)) }, now);
    })();
    const hes = new Hes(db, keys, hesId, o);
    return { hes, cert: { hesId, x25519: x25519.getPublicKey(secret) } };
  }

  /** Opens an existing HES database; a wrong store key is reported as such before anything else. */
  static open(o: HesOpenOptions): Hes {
    if (o.dbPath !== ':memory:' && !existsSync(o.dbPath)) throw new HesError(`no HES database at ${o.dbPath} (run "vakt hes init")`);
    const keys = deriveStoreKeys(o.storeKey);
    const db = Hes.openDb(o);
    const get = (k: string) => (db.prepare('SELECT v FROM meta WHERE k = ?').get(k) as { v: Buffer } | undefined)?.v;
    const check = get('store_key_check');
    if (check === undefined) {
      db.close();
      throw new HesError(`${o.dbPath} is not an initialised HES database`);
    }
    if (gcmOpen(keys.check, check, utf8('check')) === null) {
      db.close();
      throw new HesError('wrong store key: this key does not belong to this HES database (check --store-key-file / VAKT_HES_STORE_KEY)');
    }
    const id = get('hes_id')!;
    try {
      return new Hes(db, keys, plain(id), o);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  private static openDb(o: HesOpenOptions): Database.Database {
    const db = new Database(o.dbPath);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${o.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
    db.pragma('foreign_keys = ON');
    // Readings of many meters interleave in the (meter, seq) B-tree: a page cache of 64 MiB keeps the
    // working set in memory (the default 2 MiB thrashes beyond ~20 000 readings).
    db.pragma(`cache_size = -${CACHE_KIB}`);
    db.pragma('busy_timeout = 5000');
    return db;
  }

  /** The HES certificate (id and X25519 public key) for the KPE. */
  cert(): HesCert {
    return { hesId: this.hesId, x25519: x25519.getPublicKey(this.hesSecret()) };
  }

  private hesSecret(): Uint8Array {
    const v = (this.db.prepare("SELECT v FROM meta WHERE k = 'hes_x25519'").get() as { v: Buffer }).v;
    const s = gcmOpen(this.keys.atRest, v, utf8('hes-x25519'));
    if (s === null) throw new KeyStoreError('HES private key does not decrypt: tampered meta row');
    return s;
  }

  /** Closes the database (idempotent); every committed change is already durable. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  // ---------------------------------------------------------------- users and rights

  /** Role of a user, or undefined. */
  roleOf(user: string): Role | undefined {
    const r = this.db.prepare('SELECT role FROM users WHERE name = ?').get(user) as { role: string } | undefined;
    const role = r !== undefined && isRole(r.role) ? r.role : undefined;
    const cap = this.roleCap;
    return role !== undefined && cap !== undefined && cap.user === user ? lowerRole(role, cap.role) : role;
  }

  /** A cap on one user's role for the call in progress (an API token scoped below its user's role); set only by users.ts asPrincipal(). */
  roleCap: { user: string; role: Role } | undefined;

  /** Throws PermissionError (after auditing the refusal) unless the actor holds the right. */
  require(actor: string, right: Parameters<typeof roleHas>[1], subject: string): void {
    const role = this.roleOf(actor);
    if (role !== undefined && roleHas(role, right)) return;
    this.audit.append(actor, 'policy.denied', subject, { right, role: role ?? 'unknown user' });
    const who = printable(actor, MAX_NAME_LEN);
    throw new PermissionError(role === undefined ? `unknown user "${who}"` : `user "${who}" (${role}) lacks the right "${right}"`);
  }

  /** Adds or changes a user (right: users). */
  setUser(actor: string, name: string, role: Role): void {
    this.require(actor, 'users', printable(name, MAX_NAME_LEN));
    const bad = nameProblem(name, 'user name');
    if (bad !== null) throw new HesError(bad);
    if (!isRole(role)) throw new HesError(`unknown role ${printable(String(role), MAX_NAME_LEN)}`);
    this.db.transaction(() => {
      this.db.prepare('INSERT INTO users (name, role, created_ms) VALUES (?,?,?) ON CONFLICT (name) DO UPDATE SET role = excluded.role').run(name, role, Date.now());
      this.audit.append(actor, 'user.set', name, { role });
    })();
  }

  /** Pins an additional KPE public key (right: users). */
  pinKpe(actor: string, pub: Uint8Array): void {
    this.require(actor, 'users', toHex(pub));
    this.db.transaction(() => {
      this.db.prepare('INSERT OR IGNORE INTO kpe_keys (pub, added_ms) VALUES (?, ?)').run(pub, Date.now());
      this.audit.append(actor, 'kpe.pin', toHex(pub), {});
    })();
  }

  // ---------------------------------------------------------------- shipment import

  /**
   * Imports a KPE shipment: pinned signer, signature, recipient, replay (id and sequence), payload,
   * conflicts, then every key in one transaction. Any refusal is audited and imports nothing.
   * `kpePublicKey`, when given, must be one of the pinned keys (a caller cannot widen the pin).
   */
  importShipment(bytes: Uint8Array, actor: string, kpePublicKey?: Uint8Array): { meters: number; concentrators: number; seq: number; id: string } {
    this.require(actor, 'import', 'shipment');
    this.syncWithStore();
    const pinned = (this.db.prepare('SELECT pub FROM kpe_keys').all() as { pub: Buffer }[]).map((r) => plain(r.pub));
    const pins = kpePublicKey === undefined ? pinned : pinned.filter((p) => ctEqual(p, kpePublicKey));
    const refuse = (e: ShipmentError): never => {
      this.audit.append(actor, 'shipment.refused', e.code, { reason: e.message });
      throw e;
    };
    let opened: ReturnType<typeof openShipment>;
    try {
      opened = openShipment(bytes, { pinnedKpePubs: pins, hesId: this.hesId, hesSecret: this.hesSecret() });
    } catch (e) {
      if (e instanceof ShipmentError) return refuse(e);
      throw e;
    }
    const h = opened.header;
    const seen = this.db.prepare('SELECT seq FROM shipments WHERE id = ?').get(h.id);
    if (seen !== undefined) return refuse(new ShipmentError('REPLAY', `shipment ${toHex(h.id)} was already imported`));
    const last = this.db.prepare('SELECT max(seq) AS s FROM shipments WHERE kpe_pub = ?').get(h.kpePub) as { s: number | null };
    if (last.s !== null && h.seq <= last.s) {
      return refuse(new ShipmentError('REPLAY', `shipment sequence ${h.seq} is not newer than the last imported (${last.s}): replayed or out of order`));
    }
    let p: ReturnType<typeof decodePayload>;
    try {
      p = decodePayload(opened.payload);
    } catch (e) {
      return refuse(new ShipmentError('MALFORMED', `shipment payload invalid: ${(e as Error).message}`));
    } finally {
      opened.payload.fill(0);
    }
    if (!ctEqual(p.hesId, this.hesId)) return refuse(new ShipmentError('WRONG_RECIPIENT', 'shipment payload names another HES'));
    const exists = this.db.prepare('SELECT 1 FROM meters WHERE id = ? UNION ALL SELECT 1 FROM concentrators WHERE id = ?');
    for (const d of [...p.meters, ...p.concentrators]) {
      if (exists.get(d.id, d.id) !== undefined) return refuse(new ShipmentError('CONFLICT', `device ${toHex(d.id)} is already provisioned; a shipment cannot replace its keys`));
    }
    const now = Date.now();
    this.db.transaction(() => {
      this.db
        .prepare('INSERT INTO shipments (id, kpe_pub, seq, created_ms, imported_ms, meters, concentrators) VALUES (?,?,?,?,?,?,?)')
        .run(h.id, h.kpePub, h.seq, h.createdMs, now, p.meters.length, p.concentrators.length);
      const ic = this.db.prepare('INSERT INTO concentrators (id, link_gen, shipment, added_ms) VALUES (?,?,?,?)');
      for (const c of p.concentrators) {
        ic.run(c.id, c.linkGen, h.id, now);
        this.kms.store(c.id, 'lk', 0, c.linkGen, 'active', c.linkKey, now);
      }
      const im = this.db.prepare('INSERT INTO meters (id, concentrator_id, link_gen, shipment, added_ms, short_addr) VALUES (?,?,?,?,?,?)');
      for (const m of p.meters) {
        im.run(m.id, m.concentratorId, m.linkGen, h.id, now, m.shortAddr);
        const ring = createKeyRing(this.ctx, m.id, m.masterKey, 0, 0);
        const rb = new Uint8Array(RING_LEN);
        encodeKeyRing(ring, rb, 0);
        this.kms.store(m.id, 'ring', 0, 0, 'active', rb, now);
        rb.fill(0);
        this.kms.store(m.id, 'lk', 0, m.linkGen, 'active', m.linkKey, now);
      }
      this.audit.append(actor, 'shipment.imported', toHex(h.id), { seq: h.seq, kpe: toHex(h.kpePub), meters: p.meters.length, concentrators: p.concentrators.length }, now);
    })();
    for (const m of p.meters) {
      m.masterKey.fill(0);
    }
    this.load();
    return { meters: p.meters.length, concentrators: p.concentrators.length, seq: h.seq, id: toHex(h.id) };
  }

  // ---------------------------------------------------------------- in-memory key material

  private load(): void {
    const rows = this.kms.loadAll();
    const concRows = this.db.prepare('SELECT id, link_gen FROM concentrators').all() as { id: Buffer; link_gen: number }[];
    const meterRows = this.db.prepare('SELECT id, concentrator_id, link_gen, tag_failures, max_gen, short_addr FROM meters').all() as {
      id: Buffer;
      concentrator_id: Buffer;
      link_gen: number;
      short_addr: number;
      tag_failures: number;
      max_gen: number;
    }[];
    const byOwner = new Map<string, typeof rows>();
    for (const r of rows) {
      const h = toHex(r.owner);
      let l = byOwner.get(h);
      if (l === undefined) byOwner.set(h, (l = []));
      l.push(r);
    }
    for (const c of concRows) {
      const hex = toHex(c.id);
      if (this.concs.has(hex)) continue;
      const lk = byOwner.get(hex)?.find((r) => r.kind === 'lk' && r.state === 'active' && r.gen === c.link_gen);
      if (lk === undefined) throw new KeyStoreError(`concentrator ${hex} has no active link key`);
      const id = plain(c.id);
      const up = createKeySlot(BACKHAUL_VERSION, 0, DIR_UP, c.link_gen, this.hesId, id);
      loadLinkKey(this.ctx, up, lk.key, 0, id);
      up.last = this.replayLast(id, BACKHAUL_VERSION, 0, DIR_UP, c.link_gen);
      this.concs.set(hex, { id, hex, linkKey: lk.key, linkGen: c.link_gen, up, down: null, meters: new Set(), joined: new Set() });
    }
    // Contiguous prefix per meter: the smallest stored interval whose successor is missing, when 1 is stored.
    const contig = new Map<string, number>();
    for (const r of this.db
      .prepare(
        'SELECT meter_id, min(seq) AS s FROM readings r WHERE NOT EXISTS (SELECT 1 FROM readings q WHERE q.meter_id = r.meter_id AND q.seq = r.seq + 1) ' +
          'AND EXISTS (SELECT 1 FROM readings o WHERE o.meter_id = r.meter_id AND o.seq = 1) GROUP BY meter_id',
      )
      .all() as { meter_id: Buffer; s: number }[]) {
      contig.set(toHex(r.meter_id), r.s);
    }
    const maxSeq = new Map<string, number>();
    for (const r of this.db.prepare('SELECT meter_id, max(seq) AS s FROM readings GROUP BY meter_id').all() as { meter_id: Buffer; s: number }[]) {
      maxSeq.set(toHex(r.meter_id), r.s);
    }
    for (const m of meterRows) {
      const hex = toHex(m.id);
      const conc = toHex(m.concentrator_id);
      this.concs.get(conc)?.meters.add(hex);
      if (this.meters.has(hex)) continue;
      const own = byOwner.get(hex) ?? [];
      const ringRow = own.find((r) => r.kind === 'ring' && r.state === 'active');
      const lk = own.find((r) => r.kind === 'lk' && r.state === 'active');
      if (ringRow === undefined || lk === undefined) throw new KeyStoreError(`meter ${hex} has no key ring / link key`);
      const id = plain(m.id);
      const ring = createKeyRing(this.ctx, id, new Uint8Array(KEY_LEN), 0, 0);
      if (decodeKeyRing(ringRow.key, 0, ringRow.key.length, ring) !== 0) throw new KeyStoreError(`key ring of meter ${hex} is malformed`);
      const st: MeterState = {
        id,
        hex,
        conc,
        linkKey: lk.key,
        linkGen: m.link_gen,
        shortAddr: m.short_addr,
        ring,
        persist: this.ringPersister(id),
        maxGen: m.max_gen,
        kc: null,
        kcScope: 0,
        activateNextMs: 0,
        recv: new Map(),
        send: new Map(),
        maxSeq: maxSeq.get(hex) ?? 0,
        contig: contig.get(hex) ?? 0,
        above: new Set(),
        ackDue: 0,
        tagFailures: m.tag_failures,
      };
      this.refreshKc(st);
      if (st.maxSeq > st.contig) {
        for (const r of this.db.prepare('SELECT seq FROM readings WHERE meter_id = ? AND seq > ?').all(st.id, st.contig + 1) as { seq: number }[]) st.above.add(r.seq);
      }
      this.meters.set(hex, st);
    }
  }

  private replayLast(sender: Uint8Array, layer: number, op: number, dir: number, gen: number): number {
    const r = this.st.replayGet!.get(sender, layer, op, dir, gen) as { last: number } | undefined;
    return r === undefined ? 0 : r.last;
  }

  // Persists a meter's key ring (encrypted) in the open transaction, or in its own one.
  private ringPersister(id: Uint8Array): PersistRing {
    const buf = new Uint8Array(RING_LEN);
    return (ring: KeyRing) => {
      encodeKeyRing(ring, buf, 0);
      const run = () => this.kms.store(id, 'ring', 0, 0, 'active', buf, Date.now());
      if (this.db.inTransaction) run();
      else this.db.transaction(run)();
      return true;
    };
  }

  // Keeps the KC slot in step with the ring: loaded while an update is staged, kept while confirmed.
  private refreshKc(m: MeterState): void {
    const r = m.ring;
    if (r.xState === KX_STAGED) {
      if (m.kc === null || m.kc.gen !== r.xGen || m.kcScope !== r.xScope) {
        const kc = createKeySlot(E2E_VERSION, OP_KEY_UPDATE, DIR_UP, r.xGen, this.hesId, m.id);
        loadRingKcSlot(this.ctx, r, kc);
        kc.last = this.replayLast(m.id, E2E_VERSION, KC_PSEUDO_OP + r.xScope, DIR_UP, r.xGen);
        m.kc = kc;
        m.kcScope = r.xScope;
      }
    } else if (r.xState === KX_NONE) m.kc = null;
  }

  // Drops cached slots whose generation the ring no longer accepts (a (op, gen) always names one key,
  // so the remaining cached slots stay valid with their replay state).
  private pruneSlots(m: MeterState): void {
    for (const [k, s] of m.recv) if (!acceptsGen(m.ring, s.op, s.gen, false)) m.recv.delete(k);
    for (const [k, s] of m.send) if (sendGen(m.ring, s.op) !== s.gen) m.send.delete(k);
    this.refreshKc(m);
  }

  private recvSlot(m: MeterState, op: number, gen: number): KeySlot | null {
    const k = slotKey(op, gen);
    const s = m.recv.get(k);
    if (s !== undefined) return s;
    if (!acceptsGen(m.ring, op, gen, false)) return null;
    const slot = createKeySlot(E2E_VERSION, op, DIR_UP, gen, this.hesId, m.id);
    if (loadRingSlot(this.ctx, m.ring, slot) !== 0) return null;
    slot.last = this.replayLast(m.id, E2E_VERSION, op, DIR_UP, gen);
    m.recv.set(k, slot);
    return slot;
  }

  private sendCounterFor(receiver: Uint8Array, layer: number, op: number, gen: number) {
    return this.reservations.counter({ receiver, layer, op, gen }, this.reserve);
  }

  private sendSlot(m: MeterState, op: number): KeySlot {
    const gen = sendGen(m.ring, op);
    const k = slotKey(op, gen);
    let s = m.send.get(k);
    if (s !== undefined) return s;
    s = createKeySlot(E2E_VERSION, op, DIR_DOWN, gen, this.hesId, m.id);
    const r = loadRingSlot(this.ctx, m.ring, s);
    if (r !== 0) throw new HesError(`no ${opName(op)} key of generation ${gen} for meter ${m.hex}: ${errorName(r)}`);
    s.ctr = this.sendCounterFor(m.id, E2E_VERSION, op, gen);
    m.send.set(k, s);
    return s;
  }

  private linkDown(c: ConcState): KeySlot {
    if (c.down !== null) return c.down;
    const s = createKeySlot(BACKHAUL_VERSION, 0, DIR_DOWN, c.linkGen, this.hesId, c.id);
    loadLinkKey(this.ctx, s, c.linkKey, 0, c.id);
    s.ctr = this.sendCounterFor(c.id, BACKHAUL_VERSION, 0, c.linkGen);
    c.down = s;
    return s;
  }

  // ---------------------------------------------------------------- ingest

  /** Ingests one link frame durably (a batch of one). */
  ingest(linkFrame: Uint8Array, nowMs: number = Date.now()): IngestResult {
    return this.ingestBatch([linkFrame], nowMs)[0]!;
  }

  /**
   * Ingests link frames in one transaction: every accepted frame's data and the new replay counters
   * commit together, or nothing does and the in-memory counters are restored.
   */
  ingestBatch(frames: Uint8Array[], nowMs: number = Date.now(), o: IngestOptions = {}): IngestResult[] {
    if (this.inBatch) throw new HesError('ingestBatch is not re-entrant');
    this.inBatch = true;
    this.auditLinkRefusals = o.auditLinkRefusals !== false;
    try {
      for (let attempt = 0; ; attempt++) {
        this.syncWithStore();
        this.touched = [];
        this.touchedSet.clear();
        this.touchedMeterSet.clear();
        this.touchedMeters = [];
        const results: IngestResult[] = [];
        try {
          this.db
            .transaction(() => {
              this.assertFresh();
              for (const f of frames) {
                this.linkCounter = 0;
                const r = this.ingestIsolated(f, nowMs);
                if (this.linkCounter > 0) r.linkCounter = this.linkCounter;
                results.push(r);
              }
              for (const t of this.touched) {
                const s = t.slot;
                // KC slots are persisted under a pseudo op (0x100 + scope) so they never collide with K[KEY_UPDATE].
                this.st.replayUpsert!.run(t.sender, s.layer, this.persistAs.get(s) ?? s.op, s.dir, s.gen, s.last);
              }
            })
            .immediate();
          if (this.frameFaulted) {
            this.frameFaulted = false;
            this.reloadAfterFailure();
            this.dataVersion = this.storeVersion();
          }
          return results;
        } catch (e) {
          this.frameFaulted = false;
          // A frame of the failed batch is not stored, so its resend must not pass as a repeat.
          for (const t of this.touched) this.recent.delete(t.slot);
          for (let i = this.touched.length - 1; i >= 0; i--) this.touched[i]!.slot.last = this.touched[i]!.prev;
          for (let i = this.touchedMeters.length - 1; i >= 0; i--) {
            const t = this.touchedMeters[i]!;
            t.m.maxSeq = t.maxSeq;
            t.m.ackDue = t.ackDue;
            t.m.tagFailures = t.tagFailures;
          }
          this.reloadAfterFailure();
          this.dataVersion = this.storeVersion();
          if (e instanceof StaleStateError && attempt < 3) continue;
          throw e;
        }
      }
    } finally {
      this.inBatch = false;
    }
  }

  private reloadAfterFailure(): void {
    // Key-state changes made in memory during a failed batch are discarded by reloading from the store.
    this.meters.clear();
    this.concs.clear();
    this.load();
  }

  private readonly persistAs = new Map<KeySlot, number>();
  private linkCounter = 0;
  /** Copies of the last end-to-end frames accepted under each key (newest last), to recognise a byte-identical resend. */
  private readonly recent = new WeakMap<KeySlot, Uint8Array[]>();

  private rememberAccepted(slot: KeySlot, f: Uint8Array): void {
    let l = this.recent.get(slot);
    if (l === undefined) this.recent.set(slot, (l = []));
    l.push(f.slice());
    if (l.length > REPEAT_WINDOW) l.shift();
  }

  // Asked after openFrame refused a frame (ERR_REPLAY, or ERR_TAG for a short counter): only a byte-identical copy of an accepted frame matches.
  private isRepeat(slot: KeySlot, f: Uint8Array): boolean {
    const l = this.recent.get(slot);
    if (l === undefined) return false;
    for (const g of l) if (g.length === f.length && equalBytes(g, 0, f, 0, f.length)) return true;
    return false;
  }

  // Records a slot whose counter advanced in this batch (once: its first value is the one to restore).
  private touchSlot(slot: KeySlot, prev: number, sender: Uint8Array): void {
    if (this.touchedSet.has(slot)) return;
    this.touchedSet.add(slot);
    this.touched.push({ slot, prev, sender });
  }

  private touchMeter(m: MeterState): void {
    if (this.touchedMeterSet.has(m)) return;
    this.touchedMeterSet.add(m);
    this.touchedMeters.push({ m, maxSeq: m.maxSeq, ackDue: m.ackDue, tagFailures: m.tagFailures });
  }

  private fail(code: number, message: string, nowMs: number, subject: string, extra: { meter?: string; concentrator?: string }, audit = true): IngestResult {
    const error = frameFaultName(code) ?? errorName(code);
    if (audit) this.audit.append(SYSTEM_ACTOR, `security.${error.toLowerCase()}`, subject, { message }, nowMs);
    return { ok: false, code, error, message, ...extra };
  }

  /**
   * One frame in its own savepoint: whatever it does, nothing escapes but a store fault (the disk,
   * not the frame: the batch fails, nothing is acknowledged, the concentrator resends). Any other
   * exception rolls back the frame's writes and turns it into one audited refusal, ERR_INTERNAL,
   * still carrying its link counter when the link frame was authentic, so the concentrator drops it
   * (PROTOCOL.md §10 "per-frame fault rules"). In-memory state it touched is rebuilt after the commit.
   */
  private ingestIsolated(f: Uint8Array, nowMs: number): IngestResult {
    try {
      return this.db.transaction(() => this.ingestOne(f, nowMs))();
    } catch (e) {
      if (e instanceof StaleStateError || isStoreFault(e)) throw e;
      this.frameFaulted = true;
      const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      return this.fail(ERR_FRAME_FAULT, `frame refused: the HES could not process it (${what.slice(0, 200)})`, nowMs, this.hdr.sender ? toHex(this.hdr.sender) : 'link', {});
    }
  }

  /** Whether refusals before the link frame authenticated are audited one by one (IngestOptions). */
  private auditLinkRefusals = true;

  /** Set when a frame of the running batch faulted: in-memory meter state is reloaded after the commit. */
  private frameFaulted = false;

  private ingestOne(f: Uint8Array, nowMs: number): IngestResult {
    const h = this.hdr;
    if (!(f instanceof Uint8Array)) return this.fail(ERR_POLICY, 'frame is not bytes', nowMs, 'link', {}, this.auditLinkRefusals);
    const r = parseHeader(f, 0, f.length, h);
    if (r < 0) return this.fail(r, `malformed link frame (${errorName(r)})`, nowMs, 'link', {}, this.auditLinkRefusals);
    if (h.version !== BACKHAUL_VERSION || h.dir !== DIR_UP) return this.fail(ERR_POLICY, 'expected an uplink backhaul link frame', nowMs, 'link', {}, this.auditLinkRefusals);
    const concHex = toHex(h.sender);
    const c = this.concs.get(concHex);
    if (c === undefined) return this.fail(ERR_UNKNOWN_SENDER, `unknown concentrator ${concHex}`, nowMs, concHex, { concentrator: concHex }, this.auditLinkRefusals);
    if (h.gen !== c.linkGen) return this.fail(ERR_GENERATION, `concentrator ${concHex} used link generation ${h.gen}, expected ${c.linkGen}`, nowMs, concHex, { concentrator: concHex }, this.auditLinkRefusals);
    const prevLink = c.up.last;
    const n = openFrame(this.ctx, h, c.up, f, 0, this.linkBody, 0);
    if (n < 0) {
      const msg =
        n === ERR_TAG
          ? `link tag from concentrator ${concHex} does not verify: wrong link key or forged frame`
          : n === ERR_REPLAY
            ? `replayed link frame from concentrator ${concHex} (counter ${h.counter})`
            : n === ERR_RECEIVER
              ? `link frame from ${concHex} addressed to another HES`
              : `link frame from ${concHex} refused (${errorName(n)})`;
      return this.fail(n, msg, nowMs, concHex, { concentrator: concHex }, this.auditLinkRefusals);
    }
    this.touchSlot(c.up, prevLink, c.id);
    if (h.op === LINK_ACK) return { ok: true, kind: 'link_ack', concentrator: concHex };
    this.linkCounter = h.counter;
    if (h.op !== LINK_DATA) return this.fail(ERR_POLICY, `link type ${h.op} not expected from a concentrator`, nowMs, concHex, { concentrator: concHex });
    return this.ingestE2e(this.linkBody.subarray(0, n), c, nowMs);
  }

  /** A backhaul DATA body: meter id (8) ‖ end-to-end frame (PROTOCOL.md §7); the e2e MAC binds the id. */
  private ingestE2e(data: Uint8Array, c: ConcState, nowMs: number): IngestResult {
    const h = this.hdr2;
    const concentrator = c.hex;
    if (data.length <= ID_LEN) return this.fail(ERR_LENGTH, `backhaul DATA body via ${concentrator} too short for meter id and frame`, nowMs, concentrator, { concentrator });
    const f = data.subarray(ID_LEN);
    const r = parseHeader(f, 0, f.length, h);
    if (r < 0) return this.fail(r, `malformed end-to-end frame via ${concentrator} (${errorName(r)})`, nowMs, concentrator, { concentrator });
    if (h.version !== E2E_VERSION) return this.fail(ERR_POLICY, 'expected an end-to-end frame', nowMs, concentrator, { concentrator });
    const meter = toHex(data.subarray(0, ID_LEN));
    const m = this.meters.get(meter);
    if (m === undefined) return this.fail(ERR_UNKNOWN_SENDER, `unknown meter ${meter} (not in any imported shipment)`, nowMs, meter, { meter, concentrator });
    const slot = this.recvSlot(m, h.op, h.gen);
    const kc = h.op === OP_KEY_UPDATE && m.kc !== null && m.kc.gen === h.gen ? m.kc : null;
    if (slot === null && kc === null) {
      return this.fail(ERR_GENERATION, `meter ${meter} sent ${opName(h.op)} under key generation ${h.gen}; the HES holds generation ${sendGen(m.ring, h.op)}`, nowMs, meter, { meter, concentrator });
    }
    let n = -1;
    let used: KeySlot | null = null;
    for (const s of kc !== null ? [kc, slot] : [slot]) {
      if (s === null) continue;
      const prev = s.last;
      n = openFrame(this.ctx, h, s, f, 0, this.e2eBody, 0);
      if (n >= 0) {
        this.touchSlot(s, prev, m.id);
        if (s === kc) this.persistAs.set(s, KC_PSEUDO_OP + m.kcScope);
        this.rememberAccepted(s, f);
        used = s;
        break;
      }
      if (n !== ERR_TAG) break;
    }
    if (n < 0 || used === null) {
      // The concentrator resends a frame whose LINK_ACK was lost, unchanged: a benign duplicate. With a
      // short counter it reconstructs one window above the last and fails its tag (§6), with a full one
      // it is a replay; either way it is byte-identical to a frame accepted under the same key.
      if ((n === ERR_TAG || n === ERR_REPLAY) && ((slot !== null && this.isRepeat(slot, f)) || (kc !== null && this.isRepeat(kc, f)))) {
        return { ok: true, kind: 'duplicate', meter, concentrator, repeat: true };
      }
      if (n === ERR_TAG) {
        this.touchMeter(m);
        m.tagFailures++;
        const wrong = m.tagFailures >= WRONG_KEY_THRESHOLD;
        const msg = wrong
          ? `WRONG KEY for meter ${meter}: ${m.tagFailures} consecutive frames fail authentication (${opName(h.op)}, generation ${h.gen}); the HES key for this meter does not match the meter's key — check the imported shipment`
          : `bad tag from meter ${meter} via concentrator ${concentrator} (${opName(h.op)}, generation ${h.gen}): wrong key or forged frame`;
        this.st.tagFail!.run(m.tagFailures, msg, m.id);
        return this.fail(n, msg, nowMs, meter, { meter, concentrator });
      }
      if (n === ERR_REPLAY) return this.fail(n, `replayed frame from meter ${meter} (${opName(h.op)} counter ${h.counter})`, nowMs, meter, { meter, concentrator });
      return this.fail(n, `frame from meter ${meter} refused (${errorName(n)})`, nowMs, meter, { meter, concentrator });
    }
    if (m.tagFailures !== 0) {
      this.touchMeter(m);
      m.tagFailures = 0;
      this.st.tagFail!.run(0, null, m.id);
    }
    if (used !== kc && m.ring.xState === KX_CONFIRMED) {
      // First uplink under the new generation retires the previous one (core hesOnUplink).
      const r = hesOnUplink(m.ring, h.op, h.gen, m.persist);
      if (r === KU_CHANGED) this.keyUpdateActivated(m, nowMs);
      else if (acceptsGen(m.ring, h.op, h.gen, false) && h.gen !== sendGen(m.ring, h.op)) m.activateNextMs = 0; // old generation: ACTIVATE may be lost
    }
    // Every authentic body is checked against the body table (PROTOCOL.md §10) before it means anything.
    const body = decodeBody(h.op, DIR_UP, this.e2eBody, 0, n);
    if (body.err < 0) {
      return this.fail(ERR_CBOR, `authentic ${opName(h.op)} frame from meter ${meter} refused: ${body.reason}`, nowMs, meter, { meter, concentrator });
    }
    if (h.op === OP_KEY_UPDATE) return this.keyUpdateUplink(m, c, this.e2eBody.subarray(0, n), used === kc, nowMs);
    return this.dispatch(m, c, h.op, h.counter, h.gen, body.items, nowMs);
  }

  // b: the items of a body that matched the table, so every integer is whole and in its range.
  private dispatch(m: MeterState, c: ConcState, op: number, counter: number, gen: number, b: BodyValue[], nowMs: number): IngestResult {
    const meter = m.hex;
    const concentrator = c.hex;
    const bad = (what: string) => this.fail(ERR_CBOR, `authentic ${opName(op)} frame from meter ${meter}: ${what}`, nowMs, meter, { meter, concentrator });
    const req = b[0] as number;
    switch (op) {
      case OP_READING: {
        const [, seq, t, wh, w] = b;
        if (b.length !== 5 || !isInt(seq) || !isInt(t) || !isInt(wh) || !isInt(w) || seq < 1 || t < 0 || wh < 0) return bad('reading must be [0, seq ≥ 1, t, wh, w]');
        return this.storeReading(m, c, seq, t, wh, w, counter, gen, nowMs);
      }
      case OP_EVENT: {
        const [, code, t, detail] = b;
        if (!isInt(code) || !isInt(t) || !isInt(detail)) return bad('event must be [0, code, t, detail]');
        const detailJson = String(detail);
        // The meter re-reports an event until its LINK_ACK arrives, under a new counter: one (code, t, detail) is one event.
        if (this.st.eventSeen!.get(m.id, code, t, detailJson) !== undefined) return { ok: true, kind: 'duplicate', meter, concentrator };
        this.st.event!.run(m.id, code, t, detailJson, nowMs);
        if (code >= 16 && code <= 19) this.audit.append(meter, 'meter.security_event', meter, { code, t, detail: detailJson }, nowMs);
        // Counter near exhaustion (§6): the meter asks for new keys; the HES starts a full key update itself.
        // A report from before the last completed key update (its keys are fresh) starts nothing.
        if (code === EVENT_COUNTER_EXHAUSTION && m.ring.xState === KX_NONE && m.maxGen < MAX_KEY_GEN && !this.renewedSince(m, t)) this.beginKeyUpdate(SYSTEM_ACTOR, m, 0, nowMs, DEFAULT_EXPIRY_MS);
        return { ok: true, kind: 'event', meter, concentrator };
      }
      case OP_ACK:
        if (b[1] === ACK_OF_KEY_UPDATE && isInt(b[2]) && hesOnActivated(m.ring, b[2], m.persist) === KU_CHANGED) this.keyUpdateActivated(m, nowMs);
        return { ok: true, kind: 'ack', meter, concentrator };
      default:
        return this.commandResponse(m, c, op, req, b, nowMs);
    }
  }

  /** True when a key update of the meter that began at or after unix time tS has completed (the keys a report of tS named are gone). */
  private renewedSince(m: MeterState, tS: number): boolean {
    const r = this.db.prepare("SELECT max(created_ms) AS ms FROM commands WHERE meter_id = ? AND kind = 'key_update' AND state = 'acknowledged'").get(m.id) as { ms: number | null };
    return r.ms !== null && tS * 1000 <= r.ms;
  }

  private storeReading(m: MeterState, c: ConcState, seq: number, t: number, wh: number, w: number, counter: number, gen: number, nowMs: number): IngestResult {
    const info = this.st.reading!.run(m.id, seq, t, wh, w, counter, gen, c.id, nowMs);
    this.touchMeter(m);
    if (info.changes === 0) {
      if (seq <= m.contig) m.ackDue = m.contig; // the meter resends: it missed our ACK
      return { ok: true, kind: 'duplicate', meter: m.hex, concentrator: c.hex, seq };
    }
    if (seq > m.maxSeq + 1) {
      const from = Math.max(m.maxSeq + 1, m.contig + 1, seq - LP_WINDOW);
      if (from <= seq - 1) this.queueGapFill(m, from, seq - 1, nowMs);
    }
    this.noteStored(m, seq);
    return { ok: true, kind: 'reading', meter: m.hex, concentrator: c.hex, seq };
  }

  // Advances the contiguous prefix; an ACK may only confirm intervals with no gap below them.
  private noteStored(m: MeterState, seq: number): void {
    if (seq > m.maxSeq) m.maxSeq = seq;
    if (seq <= m.contig) return;
    if (seq !== m.contig + 1) {
      m.above.add(seq);
      return;
    }
    m.contig = seq;
    while (m.above.delete(m.contig + 1)) m.contig++;
    m.ackDue = m.contig;
  }

  private queueGapFill(m: MeterState, from: number, to: number, nowMs: number): void {
    for (const [a, b] of gapFillRanges(from, to, GAPFILL_MAX, LP_WINDOW)) {
      this.insertCommand(SYSTEM_ACTOR, m, { kind: 'gapfill', from: a, to: b }, nowMs, DEFAULT_EXPIRY_MS);
    }
  }

  private commandResponse(m: MeterState, c: ConcState, op: number, req: number, b: BodyValue[], nowMs: number): IngestResult {
    const meter = m.hex;
    const concentrator = c.hex;
    const row = req > 0 ? (this.st.cmdGet!.get(req) as CommandRow | undefined) : undefined;
    if (op === OP_READ && b[1] === 2 && Array.isArray(b[2])) {
      // Load-profile intervals are stored whatever the command state: they are authentic readings.
      for (const iv of b[2] as unknown[]) {
        if (Array.isArray(iv) && iv.length === 4 && iv.every(isInt)) {
          const [seq, t, wh, w] = iv as number[];
          const ins = this.st.reading!.run(m.id, seq, t, wh, w, 0, 0, c.id, nowMs);
          this.touchMeter(m);
          if (ins.changes > 0) this.noteStored(m, seq!);
        }
      }
    }
    if (row === undefined || !ctEqual(plain(row.meter_id), m.id) || row.op !== op) {
      return { ok: true, kind: 'response', meter, concentrator };
    }
    if (row.state !== 'sent') return { ok: true, kind: 'response', meter, concentrator, command: row.id };
    const p = JSON.parse(row.params) as CommandParams;
    if (op === OP_READ && b[1] === 1) {
      const [, , t, wh, w] = b;
      if (isInt(t) && isInt(wh) && isInt(w)) this.st.register!.run(m.id, req, t, wh, w, nowMs);
      this.setCommand(row, 'acknowledged', p, nowMs, { t, wh, w });
    } else if (op === OP_READ) {
      this.setCommand(row, 'acknowledged', p, nowMs, { intervals: Array.isArray(b[2]) ? b[2].length : 0 });
    } else if (op === OP_FIRMWARE && p.kind === 'firmware') {
      const status = b[1];
      const next = b[2];
      if (status !== STATUS_OK || !isInt(next)) this.setCommand(row, 'failed', p, nowMs, { status: STATUS_NAMES[status as number] ?? status });
      else if (p.phase === 'activate') this.setCommand(row, 'acknowledged', p, nowMs, { status: 'ok', version: p.version });
      else {
        const np: CommandParams = next >= p.size ? { ...p, phase: 'activate' } : { ...p, phase: 'chunk', offset: next };
        this.db.prepare("UPDATE commands SET params = ?, next_try_ms = 0, attempts = 0, updated_ms = ? WHERE id = ?").run(JSON.stringify(np), nowMs, row.id);
      }
    } else {
      const status = op === 0x03 ? b[2] : b[1];
      const result = { status: STATUS_NAMES[status as number] ?? status, detail: b.slice(1).map((x) => (x instanceof Uint8Array ? toHex(x) : x instanceof Map ? Object.fromEntries(x) : x)) };
      this.setCommand(row, status === STATUS_OK ? 'acknowledged' : 'failed', p, nowMs, result);
    }
    return { ok: true, kind: 'response', meter, concentrator, command: row.id };
  }

  private setCommand(row: CommandRow, to: CommandState, p: CommandParams, nowMs: number, result: unknown, nextTry = row.next_try_ms, attempts = row.attempts): void {
    if (!canTransition(row.state, to)) throw new HesError(`command ${row.id}: illegal transition ${row.state} -> ${to}`);
    this.st.cmdUpdate!.run(to, JSON.stringify(p), attempts, nextTry, nowMs, result === undefined ? row.result : JSON.stringify(result), row.id);
    if (to !== 'sent') this.audit.append(row.actor, `command.${to}`, `${toHex(plain(row.meter_id))}#${row.id}`, { kind: row.kind, result }, nowMs);
    row.state = to;
  }

  // ---------------------------------------------------------------- key update (PROTOCOL.md §8)

  private readonly kuMsg = createKeyUpdateMsg();

  private keyUpdateUplink(m: MeterState, c: ConcState, body: Uint8Array, underKc: boolean, nowMs: number): IngestResult {
    const meter = m.hex;
    const concentrator = c.hex;
    const msg = this.kuMsg;
    if (parseKeyUpdate(body, 0, body.length, msg) < 0) return this.fail(ERR_CBOR, `authentic KEY_UPDATE frame from meter ${meter} has a malformed body`, nowMs, meter, { meter, concentrator });
    if (msg.kind !== 2 || !underKc) return this.fail(ERR_POLICY, `meter ${meter} sent an unexpected key-update message (kind ${msg.kind})`, nowMs, meter, { meter, concentrator });
    const r = hesOnConfirm(this.ctx, m.ring, msg.scope, msg.gen, m.persist);
    if (r < 0) {
      return this.fail(ERR_KEY_STATE, `meter ${meter} confirmed scope ${msg.scope} generation ${msg.gen}, which is not the pending update (${errorName(r)})`, nowMs, meter, { meter, concentrator });
    }
    if (r !== KU_CHANGED) {
      m.activateNextMs = 0; // repeated CONFIRM: the meter may not have seen ACTIVATE
      return { ok: true, kind: 'key_confirm', meter, concentrator };
    }
    // The new key is in force for downlink; uplink under the previous generation stays accepted.
    this.pruneSlots(m);
    const row = this.openKeyUpdateCommand(m);
    if (row !== undefined) {
      const params = JSON.parse(row.params) as CommandParams;
      if (row.state === 'queued') this.setCommand(row, 'sent', params, nowMs, undefined);
      this.setCommand(row, 'acknowledged', { ...params, phase: 'activate' } as CommandParams, nowMs, { scope: msg.scope, newGen: msg.gen });
    }
    this.audit.append(SYSTEM_ACTOR, 'key_update.confirmed', meter, { scope: msg.scope, newGen: msg.gen }, nowMs);
    m.activateNextMs = 0;
    return { ok: true, kind: 'key_confirm', meter, concentrator, command: row?.id };
  }

  private openKeyUpdateCommand(m: MeterState): CommandRow | undefined {
    return this.db
      .prepare("SELECT * FROM commands WHERE meter_id = ? AND kind = 'key_update' AND state IN ('queued','sent') ORDER BY id DESC LIMIT 1")
      .get(m.id) as CommandRow | undefined;
  }

  private keyUpdateActivated(m: MeterState, nowMs: number): void {
    this.pruneSlots(m);
    this.audit.append(SYSTEM_ACTOR, 'key_update.activated', m.hex, { mkGen: m.ring.mkGen }, nowMs);
  }

  // ---------------------------------------------------------------- commands

  private insertCommand(actor: string, m: MeterState, p: CommandParams, nowMs: number, expiryMs: number): number {
    const info = this.st.cmdInsert!.run(m.id, p.kind, KIND_INFO[p.kind].op, JSON.stringify(p), actor, nowMs, nowMs, nowMs + expiryMs);
    const id = Number(info.lastInsertRowid);
    this.audit.append(actor, 'command.queued', `${m.hex}#${id}`, p, nowMs);
    return id;
  }

  /**
   * Queues a command for a meter after checking the actor's right (refusals are audited).
   * A key update draws its new key and generation here and persists it as pending before any frame is sent.
   */
  enqueueCommand(actor: string, meterId: string, p: CommandParams, o: { nowMs?: number; expiryMs?: number } = {}): number {
    for (let attempt = 0; ; attempt++) {
      try {
        return this.enqueueOnce(actor, meterId, p, o);
      } catch (e) {
        if (!(e instanceof StaleStateError) || attempt >= 3) throw e;
      }
    }
  }

  private enqueueOnce(actor: string, meterId: string, p: CommandParams, o: { nowMs?: number; expiryMs?: number }): number {
    this.syncWithStore();
    const now = o.nowMs ?? Date.now();
    this.require(actor, KIND_INFO[p.kind].right, meterId);
    validateParams(p);
    const m = this.meters.get(meterId.toLowerCase());
    if (m === undefined) throw new HesError(`unknown meter ${meterId}`);
    if (p.kind === 'firmware' && this.db.prepare('SELECT 1 FROM firmware_images WHERE sha256 = ?').get(fromHex(p.sha256)) === undefined) {
      throw new HesError(`firmware image ${p.sha256} is not stored (add it with "hes firmware add")`);
    }
    const expiry = o.expiryMs ?? DEFAULT_EXPIRY_MS;
    if (p.kind !== 'key_update') return this.db.transaction(() => this.insertCommand(actor, m, p, now, expiry)).immediate();
    if (m.ring.xState === KX_STAGED) throw new HesError(`meter ${meterId} already has a key update in progress`);
    if (m.ring.xState === KX_CONFIRMED) throw new HesError(`meter ${meterId} has not yet activated its previous key update; wait for its first frame under the new key`);
    const id = this.db.transaction(() => {
      this.assertFresh();
      return this.beginKeyUpdate(actor, m, p.scope, now, expiry);
    });
    try {
      return id.immediate();
    } catch (e) {
      this.reloadAfterFailure();
      this.dataVersion = this.storeVersion();
      throw e;
    }
  }

  /**
   * Inside the caller's transaction: draws a fresh key and a generation above every one the meter ever
   * had, stores the command and persists the pending key (core hesBeginUpdate) before any TRANSPORT.
   */
  private beginKeyUpdate(actor: string, m: MeterState, scope: number, now: number, expiry: number): number {
    let newGen = m.maxGen + 1;
    for (let op = 1; op <= OP_MAX; op++) if (m.ring.gens[op]! >= newGen) newGen = m.ring.gens[op]! + 1;
    if (m.ring.mkGen >= newGen) newGen = m.ring.mkGen + 1;
    if (newGen > 255) throw new HesError(`meter ${m.hex} has used every key generation`);
    const key = randomBytes(KEY_LEN);
    try {
      const cid = this.insertCommand(actor, m, { kind: 'key_update', scope, newGen, phase: 'transport' }, now, expiry);
      this.db.prepare('UPDATE meters SET max_gen = ? WHERE id = ?').run(newGen, m.id);
      const r = hesBeginUpdate(m.ring, scope, newGen, key, 0, m.persist);
      if (r !== KU_CHANGED) throw new HesError(`key update refused by the key state: ${errorName(r)}`);
      m.maxGen = newGen;
      this.refreshKc(m);
      return cid;
    } finally {
      key.fill(0);
    }
  }

  /** Stores a firmware image for campaigns (right: firmware); returns its SHA-256 hex. */
  addFirmware(actor: string, image: Uint8Array, version: number): string {
    this.require(actor, 'firmware', 'image');
    const sha = new Uint8Array(createHash('sha256').update(image).digest());
    this.db.transaction(() => {
      this.db.prepare('INSERT OR IGNORE INTO firmware_images (sha256, version, data, added_ms) VALUES (?,?,?,?)').run(sha, version, image, Date.now());
      this.audit.append(actor, 'firmware.added', toHex(sha), { version, size: image.length });
    })();
    return toHex(sha);
  }

  /** Cancels a queued or sent command (right of its kind); a pending key update is abandoned, the old key stays. */
  cancelCommand(actor: string, id: number, nowMs: number = Date.now()): void {
    this.syncWithStore();
    const row = this.st.cmdGet!.get(id) as CommandRow | undefined;
    if (row === undefined) throw new HesError(`no command ${id}`);
    this.require(actor, KIND_INFO[row.kind].right, `${toHex(plain(row.meter_id))}#${id}`);
    if (!canTransition(row.state, 'failed')) throw new HesError(`command ${id} is already ${row.state}`);
    try {
      this.db
        .transaction(() => {
          this.assertFresh();
          this.endCommand(row, 'failed', nowMs, { cancelledBy: actor });
        })
        .immediate();
    } catch (e) {
      this.reloadAfterFailure();
      this.dataVersion = this.storeVersion();
      if (e instanceof StaleStateError) return this.cancelCommand(actor, id, nowMs);
      throw e;
    }
  }

  private endCommand(row: CommandRow, to: 'failed' | 'expired', nowMs: number, result: unknown): void {
    const p = JSON.parse(row.params) as CommandParams;
    this.setCommand(row, to, p, nowMs, result);
    if (p.kind === 'key_update') {
      const m = this.meters.get(toHex(plain(row.meter_id)));
      // Abandon the pending key (the meter may hold it staged; its generation is never reused).
      if (m !== undefined && m.ring.xState === KX_STAGED && hesAbandonUpdate(m.ring, m.persist) === KU_CHANGED) this.refreshKc(m);
    }
  }

  /** Lists commands (optionally of one meter / state). */
  listCommands(f: { meter?: string; state?: CommandState; limit?: number } = {}): { id: number; meter: string; kind: string; state: string; actor: string; attempts: number; params: unknown; result: unknown; updatedMs: number }[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (f.meter !== undefined) {
      where.push('meter_id = ?');
      args.push(fromHex(f.meter, ID_LEN));
    }
    if (f.state !== undefined) {
      where.push('state = ?');
      args.push(f.state);
    }
    const rows = this.db
      .prepare(`SELECT * FROM commands ${where.length > 0 ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ?`)
      .all(...args, f.limit ?? 100) as CommandRow[];
    return rows.map((r) => ({
      id: r.id,
      meter: toHex(plain(r.meter_id)),
      kind: r.kind,
      state: r.state,
      actor: r.actor,
      attempts: r.attempts,
      params: JSON.parse(r.params),
      result: r.result === null ? null : JSON.parse(r.result),
      updatedMs: r.updated_ms,
    }));
  }

  /** Marks the concentrator as (re)connected: its meters' link keys are sent again (JOIN). */
  concentratorConnected(concentratorId: string): void {
    const c = this.concs.get(concentratorId.toLowerCase());
    if (c !== undefined) c.joined.clear();
  }

  /** Known concentrator ids. */
  concentratorIds(): string[] {
    return [...this.concs.keys()];
  }

  /**
   * Link frames to send to one concentrator now: JOINs for meters it has not been given yet, due
   * commands (first send or retry), expiry, ACTIVATE repeats and reading ACKs. Counters and command
   * states are committed before the frames are returned, so a frame is never sent twice under one counter.
   */
  nextDownlink(concentratorId: string, nowMs: number = Date.now(), max = 64): Uint8Array[] {
    this.syncWithStore();
    const c = this.concs.get(concentratorId.toLowerCase());
    if (c === undefined) return [];
    const out: Uint8Array[] = [];
    try {
      this.downlinkTxn(c, out, nowMs, max).immediate();
      if (this.downlinkFaulted) {
        this.downlinkFaulted = false;
        this.reloadAfterFailure();
        this.dataVersion = this.storeVersion();
      }
    } catch (e) {
      this.downlinkFaulted = false;
      // Nothing was committed: in-memory marks (JOINs given, ACKs due) are rebuilt from the store.
      this.reloadAfterFailure();
      this.dataVersion = this.storeVersion();
      if (e instanceof StaleStateError) return [];
      throw e;
    }
    return out;
  }

  private downlinkTxn(c: ConcState, out: Uint8Array[], nowMs: number, max: number) {
    return this.db.transaction(() => {
      this.assertFresh();
      for (const mh of c.meters) {
        if (out.length >= max) break;
        if (c.joined.has(mh)) continue;
        const m = this.meters.get(mh)!;
        const body = cborEncode([m.id, m.linkKey, m.linkGen, m.shortAddr]);
        const f = this.sealLink(c, LINK_JOIN, body);
        if (f !== null) {
          out.push(f);
          c.joined.add(mh);
        }
      }
      for (const mh of c.meters) {
        if (out.length >= max) break;
        const m = this.meters.get(mh)!;
        for (const row of this.st.cmdOpenFor!.all(m.id) as CommandRow[]) {
          if (out.length >= max) break;
          const f = this.guardedDownlink(m, KIND_INFO[row.kind].op, nowMs, () => this.commandFrame(c, m, row, nowMs), row);
          if (f !== null) out.push(f);
        }
        if (m.ring.xState === KX_CONFIRMED && m.activateNextMs <= nowMs && out.length < max) {
          const row = this.db.prepare("SELECT id FROM commands WHERE meter_id = ? AND kind = 'key_update' ORDER BY id DESC LIMIT 1").get(m.id) as { id: number } | undefined;
          const f = this.guardedDownlink(m, OP_KEY_UPDATE, nowMs, () => this.keyUpdateFrame(c, m, row?.id ?? 0, 3, m.ring.xScope, m.ring.xGen));
          if (f !== null) out.push(f);
          m.activateNextMs = nowMs + this.retryMs;
        }
        if (m.ackDue > 0 && out.length < max) {
          const due = m.ackDue;
          const f = this.guardedDownlink(m, OP_ACK, nowMs, () => this.e2eFrame(c, m, OP_ACK, cborEncode([0, OP_READING, due])));
          if (f !== null) out.push(f);
          m.ackDue = 0;
        }
      }
    });
  }

  // ---------------------------------------------------------------- downlink fault isolation

  /** Set when a downlink frame of the running pump faulted: in-memory state is reloaded after the commit. */
  private downlinkFaulted = false;
  /** (meter, op, generation) whose downlink counter ran out: their frames are not attempted again. */
  private readonly exhausted = new Set<string>();

  /**
   * Builds one downlink frame of meter m in a savepoint. A fault costs only that frame: a key whose
   * counter ran out starts its key update (once) and its frames wait for the new key; any other
   * fault fails the command, audited. Other meters' frames are untouched. A concentrator's own
   * link key running out still fails that concentrator's pump (its own traffic only).
   */
  private guardedDownlink(m: MeterState, op: number, nowMs: number, make: () => Uint8Array | null, row?: CommandRow): Uint8Array | null {
    if (this.exhausted.has(`${m.hex}/${op}/${sendGen(m.ring, op)}`)) return null;
    const isOwnLink = (e: unknown) => e instanceof StaleStateError || (e instanceof SealError && e.meter === undefined);
    const r = inSavepoint(this.db, make, isOwnLink);
    if (r.ok) return r.value;
    this.downlinkFaulted = true;
    const e = r.error;
    if (e instanceof SealError && e.code === ERR_COUNTER_EXHAUSTED) {
      const gen = sendGen(m.ring, op);
      this.exhausted.add(`${m.hex}/${op}/${gen}`);
      const canUpdate = op !== OP_KEY_UPDATE && m.ring.xState === KX_NONE && m.maxGen < MAX_KEY_GEN;
      this.audit.append(SYSTEM_ACTOR, 'key.exhausted', m.hex, {
        op: opName(op),
        gen,
        action: canUpdate ? `key update of ${opName(op)} queued` : op === OP_KEY_UPDATE ? 'the KEY_UPDATE key itself: re-provision the meter' : 'a key update is already under way',
      }, nowMs);
      if (canUpdate) inSavepoint(this.db, () => this.beginKeyUpdate(SYSTEM_ACTOR, m, op, nowMs, DEFAULT_EXPIRY_MS), isOwnLink);
      return null;
    }
    const msg = e instanceof Error ? e.message : String(e);
    this.audit.append(SYSTEM_ACTOR, 'downlink.fault', m.hex, { op: opName(op), command: row?.id ?? null, error: msg.slice(0, 200) }, nowMs);
    if (row !== undefined && canTransition(row.state, 'failed')) inSavepoint(this.db, () => this.endCommand(row, 'failed', nowMs, { error: msg.slice(0, 200) }), isOwnLink);
    return null;
  }

  /**
   * LINK_ACK frames [counter] for link frames of one concentrator that ingest settled (their
   * `linkCounter`): the concentrator drops them from its store-and-forward queue. Call only after
   * the batch committed (ingestBatch returned).
   */
  linkAcks(concentratorId: string, counters: number[]): Uint8Array[] {
    const c = this.concs.get(concentratorId.toLowerCase());
    if (c === undefined || counters.length === 0) return [];
    const out: Uint8Array[] = [];
    // IMMEDIATE: the counter reservation then reads and raises the newest stored limit (reserve.ts).
    this.db
      .transaction(() => {
        for (const k of counters) out.push(this.sealLink(c, LINK_ACK, cborEncode([k]))!);
      })
      .immediate();
    return out;
  }

  private sealLink(c: ConcState, type: number, body: Uint8Array): Uint8Array | null {
    const s = this.linkDown(c);
    let n = sealFrame(this.ctx, s, type, body, 0, body.length, this.sealBuf, 0);
    if (n === ERR_STORAGE) {
      // Another writer reserved past our counter (reserve.ts): resume above its reservation.
      s.ctr = this.sendCounterFor(c.id, BACKHAUL_VERSION, 0, c.linkGen);
      n = sealFrame(this.ctx, s, type, body, 0, body.length, this.sealBuf, 0);
    }
    if (n < 0) throw new SealError(n, `link frame for ${c.hex} (${errorName(n)})`);
    return this.sealBuf.slice(0, n);
  }

  private e2eFrame(c: ConcState, m: MeterState, op: number, body: Uint8Array, slot?: KeySlot): Uint8Array | null {
    const s = slot ?? this.sendSlot(m, op);
    // Backhaul DATA body: meter id ‖ end-to-end frame (PROTOCOL.md §7).
    const tmp = new Uint8Array(MAX_BODY);
    tmp.set(m.id, 0);
    let n = sealFrame(this.ctx, s, op, body, 0, body.length, tmp, ID_LEN);
    if (n === ERR_STORAGE) {
      s.ctr = this.sendCounterFor(m.id, E2E_VERSION, s.op, s.gen); // see sealLink
      n = sealFrame(this.ctx, s, op, body, 0, body.length, tmp, ID_LEN);
    }
    if (n < 0) throw new SealError(n, `${opName(op)} for meter ${m.hex} (${errorName(n)})`, m.hex, op);
    return this.sealLink(c, LINK_DATA, tmp.subarray(0, ID_LEN + n));
  }

  private keyUpdateFrame(c: ConcState, m: MeterState, req: number, kind: number, scope: number, gen: number): Uint8Array {
    const b = new Uint8Array(64);
    const n = writeKeyUpdate(b, 0, req, kind, scope, gen, kind === 1 ? m.ring.xKey : null, 0);
    if (n < 0) throw new HesError(`cannot encode key update body: ${errorName(n)}`);
    const f = this.e2eFrame(c, m, OP_KEY_UPDATE, b.subarray(0, n));
    b.fill(0);
    return f!;
  }

  private commandFrame(c: ConcState, m: MeterState, row: CommandRow, nowMs: number): Uint8Array | null {
    const p = JSON.parse(row.params) as CommandParams;
    if (row.expires_ms <= nowMs) {
      this.endCommand(row, 'expired', nowMs, { attempts: row.attempts });
      return null;
    }
    if (row.state === 'sent' && row.next_try_ms > nowMs) return null;
    if (row.state === 'sent' && row.attempts >= MAX_ATTEMPTS && p.kind !== 'key_update') {
      this.endCommand(row, 'failed', nowMs, { error: `no answer after ${row.attempts} attempts` });
      return null;
    }
    let body: CborValue;
    if (p.kind === 'key_update') {
      if (m.ring.xState !== KX_STAGED) return null;
      const f = this.keyUpdateFrame(c, m, row.id, 1, m.ring.xScope, m.ring.xGen);
      this.setCommand(row, 'sent', p, nowMs, undefined, nowMs + this.retryMs, row.attempts + 1);
      return f;
    } else if (p.kind === 'firmware') {
      const img = this.db.prepare('SELECT data FROM firmware_images WHERE sha256 = ?').get(fromHex(p.sha256)) as { data: Buffer } | undefined;
      if (img === undefined) {
        this.endCommand(row, 'failed', nowMs, { error: 'firmware image missing' });
        return null;
      }
      // The image MAC is bound to the FIRMWARE key generation of BEGIN: after a key update the
      // meter would refuse ACTIVATE, so the download begins again under the new generation (PROTOCOL.md §10).
      const g = sendGen(m.ring, OP_FIRMWARE);
      if (p.phase !== undefined && p.phase !== 'begin' && p.gen !== g) {
        p.phase = 'begin';
        delete p.offset;
      }
      const phase = p.phase ?? 'begin';
      if (phase === 'begin') {
        p.gen = g;
        body = [row.id, FW_BEGIN, p.size, firmwareImageMac(this.ctx, m.ring.roots, OP_FIRMWARE * KEY_LEN, m.id, g, img.data), p.version];
      }
      else if (phase === 'chunk') {
        const off = p.offset ?? 0;
        body = [row.id, FW_CHUNK, off, plain(img.data.subarray(off, Math.min(off + FW_CHUNK_LEN, p.size)))];
      } else body = [row.id, FW_ACTIVATE];
    } else body = simpleBody(row.id, p, Math.floor(nowMs / 1000));
    const f = this.e2eFrame(c, m, KIND_INFO[p.kind].op, cborEncode(body));
    this.setCommand(row, 'sent', p, nowMs, undefined, nowMs + this.retryMs, row.attempts + 1);
    return f;
  }

  // ---------------------------------------------------------------- queries

  /** Stored readings of a meter (newest last). */
  readings(meterId: string, limit = 100): { seq: number; t: number; wh: number; w: number; receivedMs: number }[] {
    type Row = { seq: number; t: number; wh: number; w: number; receivedMs: number };
    const id = fromHex(meterId, ID_LEN);
    const m = this.meters.get(toHex(id));
    const q = (from: number) =>
      this.db
        .prepare('SELECT seq, t, wh, w, received_ms AS receivedMs FROM (SELECT * FROM readings WHERE seq >= ? AND meter_id = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq')
        .all(from, id, limit) as Row[];
    // The primary key starts with seq: search the recent range first, the whole table only if it is short.
    const recent = m === undefined ? [] : q(Math.max(0, m.maxSeq - 4 * limit));
    return recent.length >= limit ? recent : q(0);
  }

  /** Overview of meters with their key state and authentication status. */
  meterStatus(): { id: string; concentrator: string; readings: number; maxSeq: number; keyGen: number; pendingGen: number | null; tagFailures: number; status: string }[] {
    const counts = new Map<string, number>();
    for (const r of this.db.prepare('SELECT meter_id, count(*) AS n FROM readings GROUP BY meter_id').all() as { meter_id: Buffer; n: number }[]) {
      counts.set(toHex(r.meter_id), r.n);
    }
    return [...this.meters.values()].map((m) => ({
      id: m.hex,
      concentrator: m.conc,
      readings: counts.get(m.hex) ?? 0,
      maxSeq: m.maxSeq,
      keyGen: m.ring.mkGen,
      pendingGen: m.ring.xState === KX_STAGED ? m.ring.xGen : null,
      tagFailures: m.tagFailures,
      status: m.tagFailures >= WRONG_KEY_THRESHOLD ? 'WRONG KEY' : m.ring.xState === KX_STAGED ? 'key update pending' : m.ring.xState === KX_CONFIRMED ? 'key update confirmed' : 'ok',
    }));
  }
}
