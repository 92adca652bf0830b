// The SQLite implementation of the HES store (better-sqlite3, the default store): base.ts
// (connection, transactions, audit chain, lease) ← core.ts (devices, keys, ingest units, counters,
// commands) ← operators.ts (users, queries, campaigns) = SqliteStore.
import { SqliteStore } from './operators.ts';
import type { StoreOpenOptions } from '../types.ts';

export { SqliteStore };
export { isSqliteFault, CACHE_KIB } from './base.ts';

/** Opens (creating the file when missing) a SQLite store; an older schema is migrated. */
export function openSqliteStore(path: string, o: StoreOpenOptions): Promise<SqliteStore> {
  return Promise.resolve(new SqliteStore(path, o));
}
