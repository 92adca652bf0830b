// `vakt hes …`: what every subcommand reads the same way — where the database is, the store key,
// a meter id — and the defaults the option table and the subcommands share.
import { resolve } from 'node:path';
import { stringOpt } from '../cli/args.ts';
import type { Parsed } from '../cli/args.ts';
import { CliError, usageError } from '../cli/io.ts';
import type { CliIo } from '../cli/io.ts';
import { Hes } from './hes.ts';
import { isPostgresUrl } from './store/open.ts';
import { loadStoreKey } from './storekey.ts';

/** The database when neither --db nor VAKT_HES_DB names one. */
export const DEFAULT_DB = 'hes.db';
/** Environment variable naming the database when --db is not given. */
export const DB_ENV = 'VAKT_HES_DB';
/** `hes serve --port` when not given (the DLMS/COSEM TCP port). */
export const DEFAULT_HES_PORT = 4059;
/** Largest TCP port number. */
export const MAX_PORT = 65535;
/** Loopback address the TCP and HTTP listeners bind to unless told otherwise. */
export const DEFAULT_LISTEN_HOST = '127.0.0.1';
/** Largest unsigned 32-bit value (load-profile sequence numbers, firmware versions). */
export const U32_MAX = 2 ** 32 - 1;
/** Seconds in a day. */
export const DAY_S = 86400;
/** Seconds an unanswered command waits before it expires, unless --expiry says otherwise. */
export const DEFAULT_COMMAND_EXPIRY_S = DAY_S;
/** Newest readings `hes readings` prints unless --limit says otherwise. */
export const DEFAULT_READINGS_SHOWN = 20;
/** Audit entries `hes audit` prints unless --limit says otherwise. */
export const DEFAULT_AUDIT_SHOWN = 50;

/** Where the HES database is: --db, else env VAKT_HES_DB, else hes.db (a file relative to the working directory). */
export function dbPath(p: Parsed, io: CliIo): string {
  const loc = stringOpt(p, 'db') !== DEFAULT_DB ? stringOpt(p, 'db')! : (io.env[DB_ENV] ?? DEFAULT_DB);
  // A PostgreSQL URL is a location, not a path relative to the working directory.
  return isPostgresUrl(loc) ? loc : resolve(io.cwd, loc);
}

/** The store key from --store-key-file or its environment variable; a bad key is a CLI error. */
export function storeKey(p: Parsed, io: CliIo): Uint8Array {
  const f = stringOpt(p, 'store-key-file');
  try {
    return loadStoreKey(f === undefined ? undefined : resolve(io.cwd, f), io.env as NodeJS.ProcessEnv);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

/** Opens the HES named by the common options (as `node` when given). */
export function openHes(p: Parsed, io: CliIo, node?: string): Promise<Hes> {
  return Hes.open({ dbPath: dbPath(p, io), storeKey: storeKey(p, io), ...(node !== undefined ? { node } : {}) });
}

/** --meter as a meter id: 16 hex digits, lower case. */
export function meterOpt(p: Parsed): string {
  const m = stringOpt(p, 'meter', true).toLowerCase();
  if (!/^[0-9a-f]{16}$/.test(m)) throw usageError(`--meter must be 16 hex digits, got '${m}'`);
  return m;
}
