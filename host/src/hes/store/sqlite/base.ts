// SQLite store, part 1: the connection, transactions, meta, the audit chain and the serve lease.
// better-sqlite3 is synchronous: every method runs its whole unit synchronously inside the returned
// Promise, so a unit is atomic for this process; writing units are BEGIN IMMEDIATE, so another
// process on the same file waits (busy_timeout) instead of interleaving.
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { entryMac, AUDIT_MAC_LEN } from '../../audit.ts';
import { StaleStoreError, StoreFaultError } from '../types.ts';
import type { AuditAppend, AuditHead, AuditRow, Bytes, LeaseRow, StoreInit, StoreOpenOptions } from '../types.ts';
import { SCHEMA_SQL, migrate } from './schema.ts';

/** SQLite page cache per connection, KiB: readings of many meters interleave in the B-tree, 64 MiB keeps the working set in memory. */
export const CACHE_KIB = 65536;
/** How long a writer waits for another process's transaction, ms. */
export const BUSY_TIMEOUT_MS = 5000;
const HEAD_KEY = 'audit_head';
const GENESIS = new Uint8Array(AUDIT_MAC_LEN);

/** True for an error of the store itself (I/O, full, locked, corrupt), not one caused by the data (a constraint). */
export function isSqliteFault(e: unknown): boolean {
  return e instanceof Database.SqliteError && !e.code.startsWith('SQLITE_CONSTRAINT');
}

/** Maps a store fault to StoreFaultError (nothing committed); everything else passes unchanged. */
export function mapFault(e: unknown): unknown {
  if (isSqliteFault(e)) return new StoreFaultError((e as Error).message, e);
  return e;
}

function isUniqueViolation(e: unknown): boolean {
  return e instanceof Database.SqliteError && (e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e.code === 'SQLITE_CONSTRAINT_UNIQUE');
}

function encodeHead(seq: number, mac: Uint8Array): Buffer {
  const b = Buffer.alloc(8 + AUDIT_MAC_LEN);
  b.writeBigUInt64BE(BigInt(seq), 0);
  b.set(mac, 8);
  return b;
}

export function openDatabase(path: string, o: StoreOpenOptions): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${o.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
  db.pragma('foreign_keys = ON');
  db.pragma(`cache_size = -${CACHE_KIB}`);
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  return db;
}

export class SqliteBase {
  readonly kind = 'sqlite';
  readonly location: string;
  /** The connection: for this implementation and for tests that inspect or damage the file. */
  readonly db: Database.Database;
  readonly node: string;
  private readonly auditKey: Uint8Array;
  private readonly st: { [k: string]: Database.Statement } = {};
  private closed = false;

  constructor(path: string, o: StoreOpenOptions) {
    this.location = path;
    this.db = openDatabase(path, o);
    this.auditKey = o.auditKey;
    this.node = o.node ?? 'hes';
    if (this.hasMeta()) migrate(this.db);
  }

  /** A cached prepared statement. */
  protected stmt(sql: string): Database.Statement {
    let s = this.st[sql];
    if (s === undefined) this.st[sql] = s = this.db.prepare(sql);
    return s;
  }

  /** Runs fn as one IMMEDIATE transaction (joins an open one); store faults become StoreFaultError. */
  protected write<T>(fn: () => T): Promise<T> {
    try {
      return Promise.resolve(this.db.inTransaction ? fn() : this.db.transaction(fn).immediate());
    } catch (e) {
      return Promise.reject(mapFault(e));
    }
  }

  /** Runs a read (synchronous, consistent: one statement or a deferred transaction). */
  protected read<T>(fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (e) {
      return Promise.reject(mapFault(e));
    }
  }

  /** Runs fn; a unique-key violation becomes StaleStoreError(message). */
  protected unique<T>(fn: () => T, message: string): T {
    try {
      return fn();
    } catch (e) {
      if (isUniqueViolation(e)) throw new StaleStoreError(message);
      throw e;
    }
  }

  private hasMeta(): boolean {
    return this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() !== undefined;
  }

  static exists(path: string): boolean {
    return path === ':memory:' || existsSync(path);
  }

  initialise(init: StoreInit): Promise<void> {
    return this.write(() => {
      if (this.hasMeta() && this.db.prepare('SELECT 1 FROM meta LIMIT 1').get() !== undefined)
        throw new Error(`${this.location} is already initialised`);
      this.db.exec(SCHEMA_SQL);
      const put = this.db.prepare('INSERT INTO meta (k, v) VALUES (?, ?)');
      for (const m of init.meta) put.run(m.k, m.v);
      const kpe = this.db.prepare('INSERT INTO kpe_keys (pub, added_ms) VALUES (?, ?)');
      for (const k of init.kpeKeys) kpe.run(k, init.admin.createdMs);
      this.db.prepare("INSERT INTO users (name, role, created_ms) VALUES (?, 'admin', ?)").run(init.admin.name, init.admin.createdMs);
      this.appendNow(init.audit);
    });
  }

  meta(k: string): Promise<Bytes | undefined> {
    return this.read(() => {
      if (!this.hasMeta()) return undefined;
      return (this.stmt('SELECT v FROM meta WHERE k = ?').get(k) as { v: Buffer } | undefined)?.v;
    });
  }

  /** PRAGMA data_version: changes only when another connection committed. */
  changeVersion(): Promise<number> {
    return this.read(() => this.dataVersion());
  }

  /** The same, synchronously (the HES hot path asks before every batch). */
  dataVersion(): number {
    return this.db.pragma('data_version', { simple: true }) as number;
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.db.close();
    }
    return Promise.resolve();
  }

  // ------------------------------------------------------------------ audit chain

  private headNow(): { seq: number; mac: Uint8Array } {
    const r = this.stmt(`SELECT v FROM meta WHERE k = '${HEAD_KEY}'`).get() as { v: Buffer } | undefined;
    if (r === undefined) return { seq: 0, mac: GENESIS };
    return { seq: Number(r.v.readBigUInt64BE(0)), mac: new Uint8Array(r.v.subarray(8, 8 + AUDIT_MAC_LEN)) };
  }

  /** Appends entries inside the caller's transaction; returns the last seq (0 when none). */
  protected appendNow(entries: readonly AuditAppend[]): number {
    if (entries.length === 0) return 0;
    let h = this.headNow();
    const ins = this.stmt('INSERT INTO audit (seq, ts_ms, actor, action, subject, detail, prev, mac) VALUES (?,?,?,?,?,?,?,?)');
    for (const a of entries) {
      const e = {
        seq: h.seq + 1,
        tsMs: a.tsMs,
        actor: a.actor,
        action: a.action,
        subject: a.subject,
        detail: typeof a.detail === 'string' ? a.detail : JSON.stringify(a.detail ?? {}),
      };
      const mac = entryMac(this.auditKey, h.mac, e);
      ins.run(e.seq, e.tsMs, e.actor, e.action, e.subject, e.detail, h.mac, mac);
      h = { seq: e.seq, mac };
    }
    this.stmt(`INSERT INTO meta (k, v) VALUES ('${HEAD_KEY}', ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v`).run(
      encodeHead(h.seq, h.mac),
    );
    return h.seq;
  }

  appendAudit(entries: AuditAppend[]): Promise<number> {
    return this.write(() => this.appendNow(entries));
  }

  auditHead(): Promise<AuditHead> {
    return this.read(() => this.headNow());
  }

  auditRows(fromSeq: number, limit: number): Promise<AuditRow[]> {
    return this.read(
      () =>
        this.stmt(
          'SELECT seq, ts_ms AS tsMs, actor, action, subject, detail, prev, mac FROM audit WHERE seq >= ? ORDER BY seq LIMIT ?',
        ).all(fromSeq, limit) as AuditRow[],
    );
  }

  auditEntry(seq: number): Promise<AuditRow | undefined> {
    return this.read(
      () =>
        this.stmt('SELECT seq, ts_ms AS tsMs, actor, action, subject, detail, prev, mac FROM audit WHERE seq = ?').get(seq) as
          AuditRow | undefined,
    );
  }

  // ------------------------------------------------------------------ serve lease

  acquireLease(l: LeaseRow, expiryMs: number, alive: (r: LeaseRow) => boolean): Promise<LeaseRow | null> {
    return this.write(() => {
      const r = this.stmt(
        'SELECT node, holder, pid, host, started_ms AS startedMs, renewed_ms AS renewedMs FROM serve_lease WHERE node = ?',
      ).get(l.node) as LeaseRow | undefined;
      if (r !== undefined && l.startedMs - r.renewedMs < expiryMs && alive(r)) return r;
      this.stmt(
        'INSERT INTO serve_lease (node, holder, pid, host, started_ms, renewed_ms) VALUES (?,?,?,?,?,?) ON CONFLICT (node) DO UPDATE SET holder = excluded.holder, pid = excluded.pid, host = excluded.host, started_ms = excluded.started_ms, renewed_ms = excluded.renewed_ms',
      ).run(l.node, l.holder, l.pid, l.host, l.startedMs, l.renewedMs);
      return null;
    });
  }

  renewLease(node: string, holder: string, nowMs: number): Promise<boolean> {
    return this.write(
      () => this.stmt('UPDATE serve_lease SET renewed_ms = ? WHERE node = ? AND holder = ?').run(nowMs, node, holder).changes === 1,
    );
  }

  releaseLease(node: string, holder: string): Promise<void> {
    if (!this.db.open) return Promise.resolve();
    return this.write(() => {
      this.stmt('DELETE FROM serve_lease WHERE node = ? AND holder = ?').run(node, holder);
    });
  }
}
