// KMS: keys at rest (AES-256-GCM under the store key, bound to their row identity) and the in-memory
// key material of every device. Decrypted keys live only in this process; the database holds blobs.
import type Database from 'better-sqlite3';
import { gcmSeal, gcmOpen } from '../crypto/aead.ts';
import { concat, toHex, utf8, plain } from '../crypto/bytes.ts';

export type KeyKind = 'ring' | 'lk';
export type KeyState = 'active' | 'retired';

export interface KeyRow { owner: Uint8Array; kind: KeyKind; scope: number; gen: number; state: KeyState; key: Uint8Array }

/** Raised when a stored key blob does not open: the store key is wrong or the row was tampered with. */
export class KeyStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyStoreError';
  }
}

// The row identity is the associated data, so a blob copied onto another row (another meter, kind,
// scope or generation) does not decrypt.
function aad(owner: Uint8Array, kind: KeyKind, scope: number, gen: number): Uint8Array {
  return concat(utf8(`vakt-key|${kind}|${scope}|${gen}|`), owner);
}

/** Encrypted key rows of the HES database. */
export class KeyStore {
  private readonly db: Database.Database;
  private readonly kek: Uint8Array;
  private readonly put: Database.Statement;
  private readonly setState: Database.Statement;

  constructor(db: Database.Database, kek: Uint8Array) {
    this.db = db;
    this.kek = kek;
    this.put = db.prepare(
      'INSERT INTO keys (owner, kind, scope, gen, state, enc, created_ms) VALUES (?,?,?,?,?,?,?) ' +
        'ON CONFLICT (owner, kind, scope, gen) DO UPDATE SET state = excluded.state, enc = excluded.enc',
    );
    this.setState = db.prepare('UPDATE keys SET state = ? WHERE owner = ? AND kind = ? AND scope = ? AND gen = ?');
  }

  /** Encrypts and stores (or replaces) one key row. */
  store(owner: Uint8Array, kind: KeyKind, scope: number, gen: number, state: KeyState, key: Uint8Array, nowMs: number): void {
    this.put.run(owner, kind, scope, gen, state, gcmSeal(this.kek, key, aad(owner, kind, scope, gen)), nowMs);
  }

  /** Changes the state of one key row. */
  mark(owner: Uint8Array, kind: KeyKind, scope: number, gen: number, state: KeyState): void {
    this.setState.run(state, owner, kind, scope, gen);
  }

  /** Loads and decrypts every active key row; throws KeyStoreError naming the first row that does not open. */
  loadAll(): KeyRow[] {
    const rows = this.db
      .prepare("SELECT owner, kind, scope, gen, state, enc FROM keys WHERE state = 'active'")
      .all() as { owner: Buffer; kind: KeyKind; scope: number; gen: number; state: KeyState; enc: Buffer }[];
    const out: KeyRow[] = [];
    for (const r of rows) {
      const owner = plain(r.owner);
      const key = gcmOpen(this.kek, r.enc, aad(owner, r.kind, r.scope, r.gen));
      if (key === null) {
        throw new KeyStoreError(`stored ${r.kind} key of ${toHex(owner)} (scope ${r.scope}, gen ${r.gen}) does not decrypt: wrong store key or tampered row`);
      }
      out.push({ owner, kind: r.kind, scope: r.scope, gen: r.gen, state: r.state, key });
    }
    return out;
  }
}
