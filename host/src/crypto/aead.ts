// AES-256-GCM for keys at rest in the HES store (node:crypto: OpenSSL, constant time, fast).
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { randomBytes } from './bytes.ts';

export const GCM_KEY_LEN = 32;
export const GCM_NONCE_LEN = 12;
export const GCM_TAG_LEN = 16;

/** Encrypts pt under key with a fresh random nonce; returns nonce ‖ ciphertext ‖ tag, authenticated with aad. */
export function gcmSeal(key: Uint8Array, pt: Uint8Array, aad: Uint8Array): Uint8Array {
  if (key.length !== GCM_KEY_LEN) throw new TypeError('AES-256-GCM key must be 32 bytes');
  const nonce = randomBytes(GCM_NONCE_LEN);
  const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_LEN });
  c.setAAD(aad);
  const ct = Buffer.concat([c.update(pt), c.final()]);
  const out = new Uint8Array(GCM_NONCE_LEN + ct.length + GCM_TAG_LEN);
  out.set(nonce, 0);
  out.set(ct, GCM_NONCE_LEN);
  out.set(c.getAuthTag(), GCM_NONCE_LEN + ct.length);
  return out;
}

/** Opens nonce ‖ ciphertext ‖ tag made by gcmSeal; returns the plaintext or null if it does not authenticate. */
export function gcmOpen(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | null {
  if (key.length !== GCM_KEY_LEN) throw new TypeError('AES-256-GCM key must be 32 bytes');
  if (sealed.length < GCM_NONCE_LEN + GCM_TAG_LEN) return null;
  const nonce = sealed.subarray(0, GCM_NONCE_LEN);
  const ct = sealed.subarray(GCM_NONCE_LEN, sealed.length - GCM_TAG_LEN);
  const tag = sealed.subarray(sealed.length - GCM_TAG_LEN);
  try {
    const d = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_LEN });
    d.setAAD(aad);
    d.setAuthTag(tag);
    const pt = Buffer.concat([d.update(ct), d.final()]);
    return new Uint8Array(pt);
  } catch {
    return null;
  }
}
