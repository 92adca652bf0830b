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
    // A literal specifier, so the compiled CLI (scripts/build-cli.mjs) bundles it as its own lazily
    // loaded chunk; a computed one stays a run-time path to a .ts file that host/dist does not have.
    const { openPgStore } = await import('./postgres/index.ts');
    return openPgStore(location, o);
  }
  return openSqliteStore(location, o);
}
