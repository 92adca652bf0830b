// Store selection: `--db <path | postgres://…>` or VAKT_HES_DB. A PostgreSQL URL opens the
// PostgreSQL store (loaded only then, so SQLite users need no `pg`); anything else is a SQLite file.
import { existsSync } from 'node:fs';
import type { HesStore, StoreOpenOptions } from './types.ts';
import { openSqliteStore } from './sqlite/index.ts';

/** True for a PostgreSQL connection URL. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/** Whether something is at the location (a SQLite file; a PostgreSQL URL is assumed to exist). */
export function storeExists(location: string): boolean {
  return isPostgresUrl(location) || location === ':memory:' || existsSync(location);
}

/** Opens the store at location. */
export async function openStore(location: string, o: StoreOpenOptions): Promise<HesStore> {
  if (isPostgresUrl(location)) {
    const modPath = './postgres/index.ts';
    const mod = (await import(modPath)) as { openPgStore: (url: string, o: StoreOpenOptions) => Promise<HesStore> };
    return mod.openPgStore(location, o);
  }
  return openSqliteStore(location, o);
}
