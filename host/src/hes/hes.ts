// The head-end system: KMS and shipment import (shipment.ts), ingest (ingest.ts, uplink.ts),
// command queue and downlink (queue.ts, downlink.ts, commandrows.ts), key update (keyupdate.ts),
// rights (access.ts) and audit (audit.ts), over one store (store/types.ts: SQLite by default,
// PostgreSQL for several nodes). This class wires the parts together and is the public API; every
// method that touches the store is async.
import { x25519 } from '@noble/curves/ed25519.js';
import { createCryptoCtx, KX_STAGED, KX_CONFIRMED } from '@vakt/shared';
import { createFastCryptoCtx } from '@vakt/shared/fastccm';
import type { BlockCipher } from '@vakt/shared';
import type Database from 'better-sqlite3';
import { nameProblem } from '../cli/text.ts';
import { deriveStoreKeys } from './storekey.ts';
import { KeyStore, KeyStoreError } from './kms.ts';
import type { Role } from './roles.ts';
import type { CommandParams, CommandState } from './commands.ts';
import { gcmSeal, gcmOpen } from '../crypto/aead.ts';
import { randomBytes, toHex, fromHex, utf8, plain } from '../crypto/bytes.ts';
import type { HesCert } from '../kpe/cert.ts';
import { HesCore } from './state.ts';
import { Ingest } from './ingest.ts';
import type { IngestOptions, IngestResult } from './ingest.ts';
import { CommandRows } from './commandrows.ts';
import { KeyUpdate } from './keyupdate.ts';
import { Downlink } from './downlink.ts';
import { CommandQueue } from './queue.ts';
import type { CommandInfo } from './queue.ts';
import { Access } from './access.ts';
import { Shipments } from './shipment.ts';
import type { ImportSummary } from './shipment.ts';
import type { AuditLog } from './audit.ts';
import { openStore, storeExists } from './store/open.ts';
import { SqliteStore } from './store/sqlite/index.ts';
import { SCHEMA_VERSION } from './store/sqlite/schema.ts';
import type { HesStore } from './store/types.ts';
import { DEFAULT_RETRY_MS, HesError, ID_LEN, WRONG_KEY_THRESHOLD } from './constants.ts';

export * from './constants.ts';
export type { IngestOptions, IngestResult } from './ingest.ts';
export { CACHE_KIB } from './store/sqlite/index.ts';

const KEY_CHECK_PLAINTEXT = utf8('vakt-store-key-check-v1');

export interface HesOpenOptions {
  /** A SQLite file, ':memory:', or a postgres:// URL (store/open.ts). */
  dbPath: string;
  storeKey: Uint8Array;
  /** SQLite: 'full' (default): every commit is fsynced, survives power loss; 'normal': survives process crashes only. */
  synchronous?: 'full' | 'normal';
  /** A block cipher to verify and seal with; default: the core's host path (createFastCryptoCtx). */
  blockCipher?: BlockCipher;
  retryMs?: number;
  reserve?: number;
  /** This node's name (command claims, serve lease); default 'hes'. */
  node?: string;
}

export interface HesInitOptions extends HesOpenOptions {
  kpePublicKeys: Uint8Array[];
  adminUser?: string;
  hesId?: Uint8Array;
}

export interface MeterStatus {
  id: string;
  concentrator: string;
  readings: number;
  maxSeq: number;
  keyGen: number;
  pendingGen: number | null;
  tagFailures: number;
  status: string;
}

/** The HES library; one instance is one node on one store. */
export class Hes {
  readonly store: HesStore;
  readonly audit: AuditLog;
  readonly hesId: Uint8Array;
  private readonly core: HesCore;
  private readonly access: Access;
  private readonly ingestor: Ingest;
  private readonly downlink: Downlink;
  private readonly queue: CommandQueue;
  private readonly shipments: Shipments;
  private readonly atRest: Uint8Array;
  private readonly x25519Pub: Uint8Array;
  private closed = false;

  private constructor(store: HesStore, core: HesCore, atRest: Uint8Array, x25519Pub: Uint8Array) {
    this.store = store;
    this.core = core;
    this.hesId = core.hesId;
    this.audit = core.audit;
    this.atRest = atRest;
    this.x25519Pub = x25519Pub;
    this.access = new Access(store);
    const rows = new CommandRows(core);
    this.ingestor = new Ingest(core);
    const keys = new KeyUpdate(core, rows, () => {
      throw new HesError('internal: key-update refusal outside ingest');
    });
    this.downlink = new Downlink(core, rows, keys);
    this.queue = new CommandQueue(core, rows, keys, this.access);
    this.shipments = new Shipments(core, this.access, () => this.hesSecret());
  }

  /** The SQLite connection (SQLite stores only): for tests and tools that inspect the file. */
  get db(): Database.Database {
    if (!(this.store instanceof SqliteStore)) throw new HesError(`the store at ${this.store.location} is not SQLite`);
    return this.store.db;
  }

  /** Creates a new HES store (schema, HES key pair and id, pinned KPE keys, first admin); returns the HES certificate. */
  static async init(o: HesInitOptions): Promise<{ hes: Hes; cert: HesCert }> {
    if (o.dbPath !== ':memory:' && !/^postgres/i.test(o.dbPath) && storeExists(o.dbPath))
      throw new HesError(`${o.dbPath} already exists; refusing to initialise over it`);
    if (o.kpePublicKeys.length === 0) throw new HesError('at least one KPE public key must be pinned');
    const admin = o.adminUser ?? 'admin';
    const adminProblem = nameProblem(admin, 'admin user name');
    if (adminProblem !== null) throw new HesError(adminProblem);
    const keys = deriveStoreKeys(o.storeKey);
    const store = await openStore(o.dbPath, {
      auditKey: keys.audit,
      ...(o.synchronous !== undefined ? { synchronous: o.synchronous } : {}),
      ...(o.node !== undefined ? { node: o.node } : {}),
    });
    const hesId = o.hesId ?? randomBytes(ID_LEN);
    const secret = x25519.utils.randomSecretKey();
    const pub = x25519.getPublicKey(secret);
    const now = Date.now();
    try {
      await store.initialise({
        hesId,
        meta: [
          { k: 'schema_version', v: utf8(String(SCHEMA_VERSION)) },
          { k: 'hes_id', v: hesId },
          { k: 'store_key_check', v: gcmSeal(keys.check, KEY_CHECK_PLAINTEXT, utf8('check')) },
          { k: 'hes_x25519', v: gcmSeal(keys.atRest, secret, utf8('hes-x25519')) },
        ],
        kpeKeys: o.kpePublicKeys,
        admin: { name: admin, createdMs: now },
        audit: [
          {
            actor: admin,
            action: 'hes.init',
            subject: toHex(hesId),
            detail: { kpe: o.kpePublicKeys.map(toHex), x25519: toHex(pub) },
            tsMs: now,
          },
        ],
      });
    } catch (e) {
      await store.close();
      throw e instanceof Error && /already initialised/.test(e.message) ? new HesError(e.message) : e;
    } finally {
      secret.fill(0);
    }
    const hes = await Hes.build(store, keys, hesId, pub, o);
    return { hes, cert: { hesId, x25519: pub } };
  }

  /** Opens an existing HES store; a wrong store key is reported as such before anything else. */
  static async open(o: HesOpenOptions): Promise<Hes> {
    if (!storeExists(o.dbPath)) throw new HesError(`no HES database at ${o.dbPath} (run "vakt hes init")`);
    const keys = deriveStoreKeys(o.storeKey);
    const store = await openStore(o.dbPath, {
      auditKey: keys.audit,
      ...(o.synchronous !== undefined ? { synchronous: o.synchronous } : {}),
      ...(o.node !== undefined ? { node: o.node } : {}),
    });
    try {
      const check = await store.meta('store_key_check');
      if (check === undefined) throw new HesError(`${o.dbPath} is not an initialised HES database`);
      if (gcmOpen(keys.check, check, utf8('check')) === null) {
        throw new HesError('wrong store key: this key does not belong to this HES database (check --store-key-file / VAKT_HES_STORE_KEY)');
      }
      const id = plain((await store.meta('hes_id'))!);
      const secret = Hes.openSecret(keys.atRest, await store.meta('hes_x25519'));
      const pub = x25519.getPublicKey(secret);
      secret.fill(0);
      return await Hes.build(store, keys, id, pub, o);
    } catch (e) {
      await store.close();
      throw e;
    }
  }

  private static async build(
    store: HesStore,
    keys: ReturnType<typeof deriveStoreKeys>,
    hesId: Uint8Array,
    pub: Uint8Array,
    o: HesOpenOptions,
  ): Promise<Hes> {
    const core = new HesCore(
      store,
      hesId,
      new KeyStore(keys.atRest),
      keys.audit,
      { retryMs: o.retryMs ?? DEFAULT_RETRY_MS, ...(o.reserve !== undefined ? { reserve: o.reserve } : {}) },
      o.blockCipher === undefined ? createFastCryptoCtx() : createCryptoCtx(o.blockCipher),
    );
    await core.reload();
    return new Hes(store, core, keys.atRest, pub);
  }

  private static openSecret(atRest: Uint8Array, v: Uint8Array | undefined): Uint8Array {
    const s = v === undefined ? null : gcmOpen(atRest, v, utf8('hes-x25519'));
    if (s === null) throw new KeyStoreError('HES private key does not decrypt: tampered meta row');
    return s;
  }

  private async hesSecret(): Promise<Uint8Array> {
    return Hes.openSecret(this.atRest, await this.store.meta('hes_x25519'));
  }

  /** The HES certificate (id and X25519 public key) for the KPE. */
  cert(): HesCert {
    return { hesId: this.hesId, x25519: this.x25519Pub };
  }

  /** Closes the store (idempotent); every committed change is already durable. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.core.serial(() => this.store.close());
  }

  // ---------------------------------------------------------------- users and rights (access.ts)

  /** Role of a user (capped by the credential in use), or undefined. */
  roleOf(user: string): Promise<Role | undefined> {
    return this.access.roleOf(user);
  }

  /** Runs fn with rights checked for a token's scope (users.ts asPrincipal). */
  withRoleCap<T>(cap: { user: string; role: Role }, fn: () => T): T {
    return this.access.withCap(cap, fn);
  }

  /** Caps one user's role for the rest of this process (a CLI process acting as one principal). */
  set processRoleCap(cap: { user: string; role: Role } | undefined) {
    this.access.processCap = cap;
  }

  /** Throws PermissionError (after auditing the refusal) unless the actor holds the right. */
  require(actor: string, right: Parameters<Access['require']>[1], subject: string): Promise<void> {
    return this.access.require(actor, right, subject);
  }

  /** Adds or changes a user (right: users). */
  setUser(actor: string, name: string, role: Role): Promise<void> {
    return this.access.setUser(actor, name, role);
  }

  /** Pins an additional KPE public key (right: users). */
  pinKpe(actor: string, pub: Uint8Array): Promise<void> {
    return this.shipments.pinKpe(actor, pub);
  }

  /** Imports a KPE shipment (shipment.ts). */
  importShipment(bytes: Uint8Array, actor: string, kpePublicKey?: Uint8Array): Promise<ImportSummary> {
    return this.shipments.import(bytes, actor, kpePublicKey);
  }

  // ---------------------------------------------------------------- ingest

  /** Ingests one link frame durably (a batch of one). */
  async ingest(linkFrame: Uint8Array, nowMs: number = Date.now()): Promise<IngestResult> {
    return (await this.ingestBatch([linkFrame], nowMs))[0]!;
  }

  /** Ingests link frames as one unit of work (ingest.ts). */
  ingestBatch(frames: Uint8Array[], nowMs: number = Date.now(), o: IngestOptions = {}): Promise<IngestResult[]> {
    return this.ingestor.ingestBatch(frames, nowMs, o);
  }

  // ---------------------------------------------------------------- commands and downlink

  /** Queues a command for a meter (queue.ts); returns its id. */
  enqueueCommand(actor: string, meterId: string, p: CommandParams, o: { nowMs?: number; expiryMs?: number } = {}): Promise<number> {
    return this.queue.enqueue(actor, meterId, p, o);
  }

  /** Cancels a queued or sent command; a pending key update is abandoned, the old key stays. */
  cancelCommand(actor: string, id: number, nowMs: number = Date.now()): Promise<void> {
    return this.queue.cancel(actor, id, nowMs);
  }

  /** Lists commands (optionally of one meter / state), newest first. */
  listCommands(f: { meter?: string; state?: CommandState; limit?: number } = {}): Promise<CommandInfo[]> {
    return this.queue.list(f);
  }

  /** Stores a firmware image for campaigns (right: firmware); returns its SHA-256 hex. */
  addFirmware(actor: string, image: Uint8Array, version: number): Promise<string> {
    return this.queue.addFirmware(actor, image, version);
  }

  /** Marks the concentrator as (re)connected: its meters' link keys are sent again (JOIN). */
  concentratorConnected(concentratorId: string): void {
    this.downlink.connected(concentratorId);
  }

  /** Known concentrator ids. */
  concentratorIds(): string[] {
    return [...this.core.concs.keys()];
  }

  /**
   * Link frames to send to one concentrator now: JOINs for meters it has not been given yet, due
   * commands (first send or retry), expiry, ACTIVATE repeats and reading ACKs. Counters and command
   * states are committed before the frames are returned, so a frame is never sent twice under one counter.
   */
  nextDownlink(concentratorId: string, nowMs: number = Date.now(), max = 64): Promise<Uint8Array[]> {
    return this.downlink.next(concentratorId, nowMs, max);
  }

  /** LINK_ACK frames [counter] for settled link frames of one concentrator (after ingestBatch returned). */
  linkAcks(concentratorId: string, counters: number[]): Promise<Uint8Array[]> {
    return this.downlink.linkAcks(concentratorId, counters);
  }

  /** Sending-counter ranges that found another writer's range in between (tests, logs). */
  get lostRaces(): number {
    return this.core.lostRaces;
  }

  // ---------------------------------------------------------------- queries

  /** Stored readings of a meter (newest last). */
  async readings(meterId: string, limit = 100): Promise<{ seq: number; t: number; wh: number; w: number; receivedMs: number }[]> {
    const id = fromHex(meterId, ID_LEN);
    const m = this.core.meters.get(toHex(id));
    // The primary key starts with seq: search the recent range first, the whole table only if it is short.
    const recent = m === undefined ? [] : await this.store.readingsRecent(id, Math.max(0, m.maxSeq - 4 * limit), limit);
    return recent.length >= limit ? recent : this.store.readingsRecent(id, 0, limit);
  }

  /** Overview of meters with their key state and authentication status. */
  async meterStatus(): Promise<MeterStatus[]> {
    const counts = new Map((await this.store.readingCounts()).map((r) => [toHex(r.meter), r.n]));
    return [...this.core.meters.values()].map((m) => ({
      id: m.hex,
      concentrator: m.conc,
      readings: counts.get(m.hex) ?? 0,
      maxSeq: m.maxSeq,
      keyGen: m.ring.mkGen,
      pendingGen: m.ring.xState === KX_STAGED ? m.ring.xGen : null,
      tagFailures: m.tagFailures,
      status:
        m.tagFailures >= WRONG_KEY_THRESHOLD
          ? 'WRONG KEY'
          : m.ring.xState === KX_STAGED
            ? 'key update pending'
            : m.ring.xState === KX_CONFIRMED
              ? 'key update confirmed'
              : 'ok',
    }));
  }
}
