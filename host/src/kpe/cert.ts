// Public identity files exchanged between KPE and HES (JSON, public data only).
import { fromHex, toHex } from '../crypto/bytes.ts';

export const HES_CERT_FORMAT = 'vakt-hes-cert';
export const KPE_PUB_FORMAT = 'vakt-kpe-pub';

/** The HES "certificate": its id and X25519 public key, to which the KPE encrypts shipments. */
export interface HesCert {
  hesId: Uint8Array;
  x25519: Uint8Array;
}

/** Serialises a HES certificate as JSON. */
export function formatHesCert(c: HesCert): string {
  return JSON.stringify({ format: HES_CERT_FORMAT, version: 1, hesId: toHex(c.hesId), x25519: toHex(c.x25519) }, null, 2) + '\n';
}

/** Parses a HES certificate JSON; throws TypeError with the reason. */
export function parseHesCert(text: string): HesCert {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    throw new TypeError('HES certificate is not JSON');
  }
  const o = j as { format?: unknown; version?: unknown; hesId?: unknown; x25519?: unknown };
  if (o.format !== HES_CERT_FORMAT || o.version !== 1) throw new TypeError('not a version-1 vakt-hes-cert file');
  if (typeof o.hesId !== 'string' || typeof o.x25519 !== 'string') throw new TypeError('HES certificate lacks hesId/x25519');
  return { hesId: fromHex(o.hesId, 8), x25519: fromHex(o.x25519, 32) };
}

/** Serialises the KPE signing public key as JSON. */
export function formatKpePub(pub: Uint8Array): string {
  return JSON.stringify({ format: KPE_PUB_FORMAT, version: 1, ed25519: toHex(pub) }, null, 2) + '\n';
}

/** Parses a KPE public key file (the JSON of formatKpePub, or 64 hex digits); throws TypeError. */
export function parseKpePub(text: string): Uint8Array {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return fromHex(t, 32);
  let j: unknown;
  try {
    j = JSON.parse(t);
  } catch {
    throw new TypeError('KPE public key is neither 64 hex digits nor JSON');
  }
  const o = j as { format?: unknown; ed25519?: unknown };
  if (o.format !== KPE_PUB_FORMAT || typeof o.ed25519 !== 'string') throw new TypeError('not a vakt-kpe-pub file');
  return fromHex(o.ed25519, 32);
}
