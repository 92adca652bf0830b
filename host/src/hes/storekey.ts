// The store key: 32 random bytes kept outside the database (a key file or an environment variable).
// Sub-keys are derived with HKDF so the key-at-rest cipher and the audit MAC never share a key.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { hkdfSync } from 'node:crypto';
import { randomBytes, toHex, fromHex, utf8 } from '../crypto/bytes.ts';
import { writeFileAtomic, refuseOverwrite } from '../crypto/files.ts';

export const STORE_KEY_LEN = 32;
export const STORE_KEY_ENV = 'VAKT_HES_STORE_KEY';

/** Derived sub-keys of the store key. */
export interface StoreKeys {
  atRest: Uint8Array;
  audit: Uint8Array;
  check: Uint8Array;
}

/** Derives the at-rest encryption key, the audit MAC key and the key-check key from the store key. */
export function deriveStoreKeys(storeKey: Uint8Array): StoreKeys {
  if (storeKey.length !== STORE_KEY_LEN) throw new TypeError('store key must be 32 bytes');
  const d = (label: string) => new Uint8Array(hkdfSync('sha256', storeKey, utf8('vakt-hes-store'), utf8(label), 32));
  return { atRest: d('keys-at-rest'), audit: d('audit-chain'), check: d('key-check') };
}

/** Creates a new store key file (mode 0600); refuses to overwrite an existing one. */
export function createStoreKeyFile(path: string): Uint8Array {
  refuseOverwrite(path);
  const k = randomBytes(STORE_KEY_LEN);
  writeFileAtomic(path, `# GENERATED SECRET: Vakt HES store key. Keep it outside the database and its backups.\n${toHex(k)}\n`, 0o600);
  return k;
}

/**
 * Loads the store key from a file (64 hex digits, '#' comment lines allowed) or, when no file is
 * given, from the environment variable VAKT_HES_STORE_KEY. Throws an Error saying which source failed.
 */
export function loadStoreKey(file?: string, env: NodeJS.ProcessEnv = process.env): Uint8Array {
  if (file !== undefined) {
    if (!existsSync(file)) throw new Error(`store key file ${file} does not exist`);
    if ((statSync(file).mode & 0o077) !== 0 && process.platform !== 'win32') {
      // Readable by others: still usable, but say so once the operator looks.
      process.emitWarning(`store key file ${file} is readable by group/others; chmod 600 it`);
    }
    const hex = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('')
      .trim();
    try {
      return fromHex(hex, STORE_KEY_LEN);
    } catch {
      throw new Error(`store key file ${file} must hold 64 hex digits`);
    }
  }
  const v = env[STORE_KEY_ENV];
  if (v === undefined || v === '') throw new Error(`no store key: pass --store-key-file or set ${STORE_KEY_ENV}`);
  try {
    return fromHex(v, STORE_KEY_LEN);
  } catch {
    throw new Error(`${STORE_KEY_ENV} must hold 64 hex digits`);
  }
}
