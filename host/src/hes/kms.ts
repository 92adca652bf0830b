// KMS: keys at rest (AES-256-GCM under the store key, bound to their row identity) and the in-memory
// key material of every device. Decrypted keys live only in this process; the store holds blobs.
import { gcmSeal, gcmOpen } from '../crypto/aead.ts';
import { concat, toHex, utf8, plain } from '../crypto/bytes.ts';

export type KeyKind = 'ring' | 'lk';
export type KeyState = 'active' | 'retired';

export interface KeyRow {
  owner: Uint8Array;
  kind: KeyKind;
  scope: number;
  gen: number;
  state: KeyState;
  key: Uint8Array;
}

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

/** Encryption of key rows at rest: the store holds only the blobs this class makes. */
export class KeyStore {
  constructor(private readonly kek: Uint8Array) {}

  /** The encrypted blob of one key row. */
  seal(owner: Uint8Array, kind: KeyKind, scope: number, gen: number, key: Uint8Array): Uint8Array {
    return gcmSeal(this.kek, key, aad(owner, kind, scope, gen));
  }

  /** Decrypts stored rows; throws KeyStoreError naming the first row that does not open. */
  openAll(
    rows: readonly { owner: Uint8Array; kind: KeyKind; scope: number; gen: number; state: KeyState; enc: Uint8Array; ver: number }[],
  ): (KeyRow & { ver: number })[] {
    const out: (KeyRow & { ver: number })[] = [];
    for (const r of rows) {
      const owner = plain(r.owner);
      const key = gcmOpen(this.kek, r.enc, aad(owner, r.kind, r.scope, r.gen));
      if (key === null) {
        throw new KeyStoreError(
          `stored ${r.kind} key of ${toHex(owner)} (scope ${r.scope}, gen ${r.gen}) does not decrypt: wrong store key or tampered row`,
        );
      }
      out.push({ owner, kind: r.kind, scope: r.scope, gen: r.gen, state: r.state, key, ver: r.ver });
    }
    return out;
  }
}
