// Small byte helpers for host code (Node). Not for the shared core: these allocate freely.
import { timingSafeEqual, randomBytes as nodeRandomBytes } from 'node:crypto';

/** Returns n cryptographically random bytes from the OS CSPRNG. */
export function randomBytes(n: number): Uint8Array {
  return new Uint8Array(nodeRandomBytes(n));
}

/** Compares two byte arrays in time independent of their contents (lengths are not secret). */
export function ctEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

/** Lower-case hex of the bytes. */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Parses an even-length hex string (optionally of an exact byte length); throws a TypeError on anything else. */
export function fromHex(s: string, expectLen?: number): Uint8Array {
  const t = s.trim();
  if (t.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(t)) throw new TypeError('not a hex string');
  const out = new Uint8Array(Buffer.from(t, 'hex'));
  if (expectLen !== undefined && out.length !== expectLen) {
    throw new TypeError(`expected ${expectLen} bytes of hex, got ${out.length}`);
  }
  return out;
}

/** Concatenates byte arrays into a new array. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** ASCII/UTF-8 bytes of a string. */
export function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** Returns a plain Uint8Array copy (a Buffer from a driver or cbor-x becomes a plain array). */
export function plain(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length);
  out.set(b);
  return out;
}
