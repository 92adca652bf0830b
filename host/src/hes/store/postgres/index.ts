// The PostgreSQL implementation of the HES store (`pg`, node-postgres): base.ts (pool,
// transactions, migrations, audit chain, lease) ← core.ts (devices, keys, ingest units, counters,
// commands; ingest.ts holds commitIngest's one-statement fast path) ← operators.ts (users, queries,
// campaigns) = PgStore. Several HES nodes share one database: docs/HOST.md "Several HES nodes".
import { PgStore } from './operators.ts';
import type { StoreOpenOptions } from '../types.ts';

export { PgStore };
export { redactUrl } from './base.ts';

/** Opens a PostgreSQL store at `url` (postgres://…); an empty database gets the schema, an older one is migrated. */
export async function openPgStore(url: string, o: StoreOpenOptions): Promise<PgStore> {
  const s = new PgStore(url, o);
  try {
    await s.migrate();
  } catch (e) {
    await s.close();
    throw e;
  }
  return s;
}
