// The stores the HES suites run on (issue 14: "both stores pass the same suite"): SQLite always;
// PostgreSQL when VAKT_TEST_PG names a reachable server (.ci/run starts a throwaway cluster and sets
// it), else its cases are skipped with the reason printed once per file. Every PostgreSQL fixture
// gets an empty database of its own (freshDatabase), so cases and parallel files never collide.
//
// Tests that look under the store (tamper with a row, read what is stored at rest, restore an older
// copy) do it through `RawDb`, a test-only SQL connection beside the HES, with the few
// store-specific steps (triggers, snapshots) named here once.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { freshDatabase } from '../pg/cluster.ts';

export type StoreKind = 'sqlite' | 'postgres';

/** A test-only SQL connection to a HES store; `?` placeholders on both stores. */
export interface RawDb {
  all<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  run(sql: string, params?: unknown[]): Promise<void>;
  close(): Promise<void>;
}

export interface HesStoreCase {
  kind: StoreKind;
  /** Why this store's cases are skipped here, or null. */
  skip: string | null;
  /** A location (file path or connection string) for a new, empty store; `dir` is the fixture's temporary directory. */
  newLocation(dir: string): Promise<string>;
  raw(location: string): Promise<RawDb>;
  /** Lets `raw` update and delete audit rows (the store refuses it: append-only triggers). */
  allowAuditTampering(db: RawDb): Promise<void>;
  /** Every byte stored at rest (SQLite: the file and its WAL; PostgreSQL: every row of every table as text). */
  atRest(location: string): Promise<Buffer>;
  /**
   * Makes every insert of a reading with interval `seq` fail, with `message` in the error: 'fault' as
   * the store itself failing (the frame is not at fault: the batch fails), 'constraint' as a
   * constraint the frame's data violates (that frame alone is refused). `undo` removes it.
   */
  failReadingInsert(db: RawDb, seq: number, how: 'fault' | 'constraint', message: string): Promise<{ undo(): Promise<void> }>;
  /** A consistent copy of a closed store, and putting it back over the store later (no connection open). */
  snapshot(location: string): Promise<{ restore(): Promise<void> }>;
}

/** The PostgreSQL server of the tests, or undefined. */
function pgUrl(): string | undefined {
  const u = process.env.VAKT_TEST_PG;
  return u === undefined || u === '' ? undefined : u;
}

const sqlite: HesStoreCase = {
  kind: 'sqlite',
  skip: null,
  newLocation: async (dir) => join(dir, 'hes.db'),
  raw: async (location) => {
    const db = new Database(location);
    return {
      all: async <T>(sql: string, params: unknown[] = []) => db.prepare(sql).all(...params) as T[],
      run: async (sql, params = []) => {
        if (params.length === 0) db.exec(sql);
        else db.prepare(sql).run(...params);
      },
      close: async () => {
        db.close();
      },
    };
  },
  allowAuditTampering: (db) => db.run('DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;'),
  failReadingInsert: async (db, seq, how, message) => {
    // fault: a statement that no longer compiles (an unknown function); constraint: RAISE(ABORT).
    const body = how === 'fault' ? `SELECT ${message}()` : `SELECT RAISE(ABORT, '${message}')`;
    await db.run(`CREATE TRIGGER fail_reading BEFORE INSERT ON readings WHEN NEW.seq = ${seq} BEGIN ${body}; END`);
    return { undo: () => db.run('DROP TRIGGER fail_reading') };
  },
  atRest: async (location) =>
    Buffer.concat(
      ['', '-wal'].map((s) => {
        try {
          return readFileSync(location + s);
        } catch {
          return Buffer.alloc(0);
        }
      }),
    ),
  snapshot: async (location) => {
    const old = readFileSync(location);
    // The copy replaces the file; the closed store's WAL (checkpointed at close) belongs to the newer state.
    return {
      restore: async () => {
        for (const s of ['-wal', '-shm']) rmSync(location + s, { force: true });
        writeFileSync(location, old);
      },
    };
  },
};

/** PostgreSQL's type oid of bigint. */
const INT8_OID = 20;

/** `?` → `$1, $2, …` (the tests' SQL has no `?` inside literals). */
function numbered(sql: string): string {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
}

/** The database name of a connection string made by freshDatabase. */
function databaseOf(url: string): string {
  const m = /^postgres(?:ql)?:\/\/[^/?]*\/([^?]+)/.exec(url);
  if (m === null) throw new Error(`no database name in ${url}`);
  return decodeURIComponent(m[1]!);
}

/** Runs statements on the server's maintenance database (CREATE/DROP DATABASE). */
async function onServer(statements: string[]): Promise<void> {
  const c = new pg.Client({ connectionString: pgUrl()! });
  await c.connect();
  try {
    for (const s of statements) await c.query(s);
  } finally {
    await c.end();
  }
}

const postgres: HesStoreCase = {
  kind: 'postgres',
  skip: pgUrl() === undefined ? 'VAKT_TEST_PG is not set (no PostgreSQL server; .ci/run starts one)' : null,
  newLocation: async () => freshDatabase(pgUrl()!, 'vakt_hes'),
  raw: async (location) => {
    // bigint as a number, as the store reads it (host/src/hes/store/postgres/base.ts).
    const c = new pg.Client({
      connectionString: location,
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
      },
    });
    await c.connect();
    return {
      all: async <T>(sql: string, params: unknown[] = []) => (await c.query(numbered(sql), params)).rows as T[],
      run: async (sql, params = []) => {
        await c.query(numbered(sql), params);
      },
      close: () => c.end(),
    };
  },
  allowAuditTampering: (db) => db.run('ALTER TABLE audit DISABLE TRIGGER audit_append_only'),
  failReadingInsert: async (db, seq, how, message) => {
    // fault: SQLSTATE 58030 (io_error, the server's); constraint: 23514 (check_violation, the row's).
    const code = how === 'fault' ? '58030' : '23514';
    await db.run(`CREATE FUNCTION fail_reading() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION '${message}' USING ERRCODE = '${code}'; END $$`);
    await db.run(
      `CREATE TRIGGER fail_reading BEFORE INSERT ON readings FOR EACH ROW WHEN (NEW.seq = ${seq}) EXECUTE FUNCTION fail_reading()`,
    );
    return { undo: () => db.run('DROP TRIGGER fail_reading ON readings; DROP FUNCTION fail_reading()') };
  },
  atRest: async (location) => {
    const db = await postgres.raw(location);
    try {
      const tables = await db.all<{ t: string }>("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public'");
      const parts: Buffer[] = [];
      for (const { t } of tables) {
        // Every column as text: bytea prints as \x<hex>, so keys are looked for both raw and in hex.
        for (const r of await db.all<{ row: string }>(`SELECT x::text AS row FROM "${t}" x`)) parts.push(Buffer.from(r.row));
      }
      return Buffer.concat(parts);
    } finally {
      await db.close();
    }
  },
  snapshot: async (location) => {
    const name = databaseOf(location);
    const copy = `${name}_copy`;
    await onServer([`CREATE DATABASE ${copy} TEMPLATE ${name}`]);
    return {
      // Renames instead of DROP DATABASE (seconds: it waits for a checkpoint); the newer state stays
      // behind as <name>_newer in the throwaway cluster.
      restore: () => onServer([`ALTER DATABASE ${name} RENAME TO ${name}_newer`, `ALTER DATABASE ${copy} RENAME TO ${name}`]),
    };
  },
};

let told = false;

/** The stores to run a HES suite on; prints the skip reason once per file. */
export function hesStores(): HesStoreCase[] {
  if (postgres.skip !== null && !told) {
    told = true;
    console.log(`HES suite on PostgreSQL skipped: ${postgres.skip}`);
  }
  return [sqlite, postgres];
}

/** The store case of a location (fixtures hand their location to helpers). */
export function storeOf(location: string): HesStoreCase {
  return /^postgres/i.test(location) ? postgres : sqlite;
}

/** Stored bytes contain `needle` raw or as hex (PostgreSQL's text form of bytea). */
export function containsBytes(hay: Buffer, needle: Uint8Array): boolean {
  return hay.indexOf(Buffer.from(needle)) >= 0 || hay.indexOf(Buffer.from(Buffer.from(needle).toString('hex'))) >= 0;
}
