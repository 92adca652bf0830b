// PostgreSQL store, part 1: the connection pool, transactions and their faults, schema migration,
// meta, the ONE audit chain and the serve lease.
//
// Transactions run at READ COMMITTED; every decision that two HES nodes could race on is one
// conditional statement (INSERT … ON CONFLICT … DO UPDATE … WHERE, UPDATE … WHERE state = …,
// SELECT … FOR UPDATE SKIP LOCKED), so the row lock PostgreSQL takes for that statement is the
// whole protocol. The audit chain is appended under a lock of its head row (meta 'audit_head'),
// taken FIRST in every transaction that audits, so appends are serialised in one order and two
// auditing transactions cannot deadlock on it.
import pg from 'pg';
import { AUDIT_MAC_LEN, entryMac } from '../../audit.ts';
import { StaleStoreError, StoreFaultError } from '../types.ts';
import type { AuditAppend, AuditHead, AuditRow, Bytes, LeaseRow, StoreInit, StoreOpenOptions } from '../types.ts';
import { MIGRATION_LOCK, MIGRATIONS, PG_SCHEMA_VERSION } from './schema.ts';

const HEAD_KEY = 'audit_head';
const GENESIS = new Uint8Array(AUDIT_MAC_LEN);
/** PostgreSQL type ids read as JS numbers: int8 (bigint, count(*)), numeric is not used. */
const INT8_OID = 20;
/** Connections per node: ingest, downlink and operator requests overlap; more only queue in PostgreSQL. */
export const POOL_SIZE = 4;
/** Attempts of a transaction that PostgreSQL aborted for a deadlock or a serialisation failure. */
export const MAX_ATTEMPTS = 4;
/** Wait for a free pooled connection before the unit fails as a store fault, ms. */
const CONNECT_TIMEOUT_MS = 10_000;

/** SQLSTATE classes that mean "the store failed" (connection, resources, operator, system, internal). */
const FAULT_CLASSES = new Set(['08', '53', '54', '55', '57', '58', 'XX', 'F0', 'HV']);
/** SQLSTATEs after which the same transaction may simply be run again. */
const RETRYABLE = new Set(['40001', '40P01']);

/** The SQLSTATE of a driver error, or undefined (a Node socket error has none). */
export function sqlState(e: unknown): string | undefined {
  const c = (e as { code?: unknown }).code;
  return typeof c === 'string' && /^[0-9A-Z]{5}$/.test(c) ? c : undefined;
}

/** True for a deadlock or serialisation failure: the transaction was rolled back and may simply run again. */
export function isRetryable(e: unknown): boolean {
  const s = sqlState(e);
  return s !== undefined && RETRYABLE.has(s);
}

/** True for an error caused by the data (constraint violation, value out of range): it costs one frame, not the batch. */
export function isDataError(e: unknown): boolean {
  const s = sqlState(e);
  return s !== undefined && (s.startsWith('23') || s.startsWith('22'));
}

/** Maps a failure of the store itself to StoreFaultError; data errors and our own errors pass unchanged. */
export function mapFault(e: unknown): unknown {
  if (e instanceof StaleStoreError || e instanceof StoreFaultError) return e;
  const s = sqlState(e);
  if (s === undefined) {
    // No SQLSTATE: socket errors, timeouts, "Connection terminated" — the store is unreachable.
    if (e instanceof Error && !(e instanceof TypeError) && !(e instanceof RangeError))
      return new StoreFaultError(`PostgreSQL: ${e.message}`, e);
    return e;
  }
  if (FAULT_CLASSES.has(s.slice(0, 2)) || RETRYABLE.has(s)) return new StoreFaultError(`PostgreSQL ${s}: ${(e as Error).message}`, e);
  return e;
}

/** The head row value: u64 seq ‖ mac (as in the SQLite store). */
function encodeHead(seq: number, mac: Uint8Array): Buffer {
  const b = Buffer.alloc(8 + AUDIT_MAC_LEN);
  b.writeBigUInt64BE(BigInt(seq), 0);
  b.set(mac, 8);
  return b;
}

function decodeHead(v: Buffer | undefined): AuditHead {
  if (v === undefined) return { seq: 0, mac: GENESIS };
  return { seq: Number(v.readBigUInt64BE(0)), mac: new Uint8Array(v.subarray(8, 8 + AUDIT_MAC_LEN)) };
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]*):[^@]*@/i, '$1:***@');
}

/**
 * One open transaction: its connection and the audit entries it appends. Entries are chained in
 * memory under the head locked at BEGIN and written in one statement just before COMMIT.
 */
export class Tx {
  private head: AuditHead | undefined;
  private readonly pending: AuditRow[] = [];

  constructor(
    readonly c: pg.PoolClient,
    private readonly auditKey: Uint8Array,
  ) {}

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, args?: unknown[]): Promise<pg.QueryResult<R>> {
    return this.c.query<R>(sql, args);
  }

  /** Locks the chain head (first thing in an auditing transaction). */
  async lockHead(): Promise<void> {
    if (this.head !== undefined) return;
    const r = await this.c.query<{ v: Buffer }>(`SELECT v FROM meta WHERE k = '${HEAD_KEY}' FOR UPDATE`);
    this.head = decodeHead(r.rows[0]?.v);
  }

  /** Chains entries after the locked head; returns the last seq (0 when none). */
  append(entries: readonly AuditAppend[]): number {
    if (entries.length === 0) return 0;
    if (this.head === undefined) throw new Error('audit append outside a transaction that locked the chain head');
    let h = this.head;
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
      this.pending.push({ ...e, prev: h.mac, mac });
      h = { seq: e.seq, mac };
    }
    this.head = h;
    return h.seq;
  }

  /** A mark to roll appended entries back to (a frame's savepoint). */
  mark(): { n: number; head: AuditHead | undefined } {
    return { n: this.pending.length, head: this.head };
  }

  rollbackTo(m: { n: number; head: AuditHead | undefined }): void {
    this.pending.length = m.n;
    this.head = m.head;
  }

  /** Writes the chained entries and the new head (before COMMIT). */
  async flush(): Promise<void> {
    if (this.pending.length === 0 || this.head === undefined) return;
    const p = this.pending;
    await this.c.query(
      'INSERT INTO audit (seq, ts_ms, actor, action, subject, detail, prev, mac) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[], $8::bytea[])',
      [
        p.map((e) => e.seq),
        p.map((e) => e.tsMs),
        p.map((e) => e.actor),
        p.map((e) => e.action),
        p.map((e) => e.subject),
        p.map((e) => e.detail),
        p.map((e) => Buffer.from(e.prev)),
        p.map((e) => Buffer.from(e.mac)),
      ],
    );
    await this.c.query(`UPDATE meta SET v = $1 WHERE k = '${HEAD_KEY}'`, [encodeHead(this.head.seq, this.head.mac)]);
    this.pending.length = 0;
  }
}

export class PgBase {
  readonly kind = 'postgres';
  readonly location: string;
  readonly node: string;
  /** The pool: for this implementation and for tests that inspect the database. */
  readonly pool: pg.Pool;
  protected readonly auditKey: Uint8Array;
  private closed = false;

  constructor(url: string, o: StoreOpenOptions, poolSize = POOL_SIZE) {
    this.location = redactUrl(url);
    this.node = o.node ?? 'hes';
    this.auditKey = o.auditKey;
    this.pool = new pg.Pool({
      connectionString: url,
      max: poolSize,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
      },
    });
    // An idle connection that dies (server restart) must not crash the process: the next unit fails as a store fault.
    this.pool.on('error', () => undefined);
  }

  /** Creates or upgrades the schema (idempotent; several nodes starting at once migrate once). */
  async migrate(): Promise<void> {
    await this.run(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      for (;;) {
        const has = await tx.query<{ t: string | null }>("SELECT to_regclass('vakt_schema')::text AS t");
        const v = has.rows[0]!.t === null ? 0 : (await tx.query<{ version: number }>('SELECT version FROM vakt_schema')).rows[0]!.version;
        if (v === PG_SCHEMA_VERSION) return;
        if (v > PG_SCHEMA_VERSION)
          throw new Error(`${this.location}: schema version ${v} is newer than this vakt (${PG_SCHEMA_VERSION}); upgrade vakt`);
        const m = MIGRATIONS[v];
        if (m === undefined) throw new Error(`${this.location}: no migration from schema version ${v}`);
        await tx.query(m.sql);
        if (v !== 0) await tx.query('UPDATE vakt_schema SET version = $1', [m.to]);
      }
    });
  }

  /**
   * Runs fn as one transaction (BEGIN … COMMIT on one pooled connection); with `audit`, the chain
   * head is locked first. A deadlock or serialisation failure runs it again; store failures become
   * StoreFaultError; everything else (StaleStoreError, data errors) is thrown as is. Nothing of a
   * failed attempt is committed.
   */
  protected async run<T>(fn: (tx: Tx) => Promise<T>, audit = false): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let c: pg.PoolClient;
      try {
        c = await this.pool.connect();
      } catch (e) {
        throw new StoreFaultError(`PostgreSQL ${this.location}: ${(e as Error).message}`, e);
      }
      let broken = false;
      try {
        await c.query('BEGIN');
        const tx = new Tx(c, this.auditKey);
        if (audit) await tx.lockHead();
        const r = await fn(tx);
        await tx.flush();
        await c.query('COMMIT');
        return r;
      } catch (e) {
        try {
          await c.query('ROLLBACK');
        } catch {
          broken = true;
        }
        if (isRetryable(e) && attempt < MAX_ATTEMPTS) continue;
        throw mapFault(e);
      } finally {
        c.release(broken);
      }
    }
  }

  /** One statement outside a transaction block (it is its own transaction). */
  protected async one<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, args?: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, args);
    } catch (e) {
      throw mapFault(e);
    }
  }

  /** Rows of one read statement. */
  protected async rows<R extends pg.QueryResultRow>(sql: string, args?: unknown[]): Promise<R[]> {
    return (await this.one<R>(sql, args)).rows;
  }

  async initialise(init: StoreInit): Promise<void> {
    await this.run(async (tx) => {
      await tx.query('LOCK TABLE meta IN EXCLUSIVE MODE');
      if ((await tx.query('SELECT 1 FROM meta LIMIT 1')).rowCount! > 0) throw new Error(`${this.location} is already initialised`);
      for (const m of init.meta) await tx.query('INSERT INTO meta (k, v) VALUES ($1, $2)', [m.k, Buffer.from(m.v)]);
      await tx.query(`INSERT INTO meta (k, v) VALUES ('${HEAD_KEY}', $1)`, [encodeHead(0, GENESIS)]);
      for (const k of init.kpeKeys)
        await tx.query('INSERT INTO kpe_keys (pub, added_ms) VALUES ($1, $2)', [Buffer.from(k), init.admin.createdMs]);
      await tx.query("INSERT INTO users (name, role, created_ms) VALUES ($1, 'admin', $2)", [init.admin.name, init.admin.createdMs]);
      await tx.lockHead();
      tx.append(init.audit);
    });
  }

  async meta(k: string): Promise<Bytes | undefined> {
    return (await this.rows<{ v: Buffer }>('SELECT v FROM meta WHERE k = $1', [k]))[0]?.v;
  }

  async changeVersion(): Promise<number> {
    return (await this.rows<{ v: number }>('SELECT v FROM change_ver WHERE id = 1'))[0]!.v;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  // ------------------------------------------------------------------ audit chain

  appendAudit(entries: AuditAppend[]): Promise<number> {
    if (entries.length === 0) return this.auditHead().then((h) => h.seq);
    return this.run(async (tx) => tx.append(entries), true);
  }

  async auditHead(): Promise<AuditHead> {
    return decodeHead((await this.rows<{ v: Buffer }>(`SELECT v FROM meta WHERE k = '${HEAD_KEY}'`))[0]?.v);
  }

  auditRows(fromSeq: number, limit: number): Promise<AuditRow[]> {
    return this.rows<AuditRow>(
      'SELECT seq, ts_ms AS "tsMs", actor, action, subject, detail, prev, mac FROM audit WHERE seq >= $1 ORDER BY seq LIMIT $2',
      [fromSeq, limit],
    );
  }

  async auditEntry(seq: number): Promise<AuditRow | undefined> {
    return (
      await this.rows<AuditRow>('SELECT seq, ts_ms AS "tsMs", actor, action, subject, detail, prev, mac FROM audit WHERE seq = $1', [seq])
    )[0];
  }

  // ------------------------------------------------------------------ serve lease (one row per node)

  acquireLease(l: LeaseRow, expiryMs: number, alive: (r: LeaseRow) => boolean): Promise<LeaseRow | null> {
    return this.run(async (tx) => {
      const r = (
        await tx.query<LeaseRow>(
          'SELECT node, holder, pid, host, started_ms AS "startedMs", renewed_ms AS "renewedMs" FROM serve_lease WHERE node = $1 FOR UPDATE',
          [l.node],
        )
      ).rows[0];
      if (r !== undefined && l.startedMs - r.renewedMs < expiryMs && alive(r)) return r;
      await tx.query(
        'INSERT INTO serve_lease (node, holder, pid, host, started_ms, renewed_ms) VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (node) DO UPDATE SET holder = excluded.holder, pid = excluded.pid, host = excluded.host, started_ms = excluded.started_ms, renewed_ms = excluded.renewed_ms',
        [l.node, l.holder, l.pid, l.host, l.startedMs, l.renewedMs],
      );
      return null;
    });
  }

  async renewLease(node: string, holder: string, nowMs: number): Promise<boolean> {
    return (await this.one('UPDATE serve_lease SET renewed_ms = $1 WHERE node = $2 AND holder = $3', [nowMs, node, holder])).rowCount === 1;
  }

  async releaseLease(node: string, holder: string): Promise<void> {
    if (this.closed) return;
    await this.one('DELETE FROM serve_lease WHERE node = $1 AND holder = $2', [node, holder]);
  }
}
