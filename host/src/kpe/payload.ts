// The plaintext inside a key shipment (docs/HOST.md "Key shipment"): plain CBOR
// [1, hesId, [[meterId, masterKey, linkKey, linkGen, concentratorId, shortAddr], …], [[concentratorId, hesLinkKey, hesLinkGen], …]]
import { decodeValue } from '@vakt/shared';
import { cborEncode } from '../crypto/cbor.ts';
import { toHex } from '../crypto/bytes.ts';

export const PAYLOAD_VERSION = 1;
export const ID_LEN = 8;
export const KEY_LEN = 16;
export const MAX_GEN = 255;

/** shortAddr: the meter's short address on its concentrator's radio hop, 1..0xFFFE, unique per concentrator (PROTOCOL.md §7). */
export interface MeterKeys {
  id: Uint8Array;
  masterKey: Uint8Array;
  linkKey: Uint8Array;
  linkGen: number;
  concentratorId: Uint8Array;
  shortAddr: number;
}
/** Short addresses on the radio hop (PROTOCOL.md §7). */
export const ADDR_MIN = 1;
export const ADDR_MAX = 0xfffe;
export interface ConcentratorKeys {
  id: Uint8Array;
  linkKey: Uint8Array;
  linkGen: number;
}
export interface ShipmentPayload {
  hesId: Uint8Array;
  meters: MeterKeys[];
  concentrators: ConcentratorKeys[];
}

/** Encodes the payload as plain CBOR. */
export function encodePayload(p: ShipmentPayload): Uint8Array {
  return cborEncode([
    PAYLOAD_VERSION,
    p.hesId,
    p.meters.map((m) => [m.id, m.masterKey, m.linkKey, m.linkGen, m.concentratorId, m.shortAddr]),
    p.concentrators.map((c) => [c.id, c.linkKey, c.linkGen]),
  ]);
}

function bytes(v: unknown, len: number, what: string): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length !== len) throw new TypeError(`${what} must be a ${len}-byte string`);
  return v.slice(); // a copy: the caller wipes the decrypted payload
}

/** A key generation: a whole number 0..255 (TypeError naming `what` otherwise). */
export function gen(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_GEN) throw new TypeError(`${what} must be 0..255`);
  return v;
}

/**
 * Decodes and validates a payload strictly: exact shapes and lengths, no duplicate ids, every meter's
 * concentrator present in the same shipment. Throws TypeError with the first problem found.
 */
export function decodePayload(b: Uint8Array): ShipmentPayload {
  // The strict §10 subset (no floats, tags, duplicate keys or trailing bytes); then field by field.
  const d = decodeValue(b, 0, b.length);
  if (d.err < 0) throw new TypeError('payload is not CBOR of the PROTOCOL.md §10 subset');
  const v = d.value;
  if (!Array.isArray(v) || v.length !== 4) throw new TypeError('payload must be a 4-element array');
  if (v[0] !== PAYLOAD_VERSION) throw new TypeError(`unsupported payload version ${String(v[0])}`);
  const hesId = bytes(v[1], ID_LEN, 'HES id');
  if (!Array.isArray(v[2]) || !Array.isArray(v[3])) throw new TypeError('payload meter/concentrator lists must be arrays');
  const seen = new Set<string>();
  const concentrators: ConcentratorKeys[] = [];
  for (const c of v[3] as unknown[]) {
    if (!Array.isArray(c) || c.length !== 3) throw new TypeError('concentrator entry must be a 3-element array');
    const id = bytes(c[0], ID_LEN, 'concentrator id');
    const hx = toHex(id);
    if (seen.has(hx)) throw new TypeError(`duplicate device id ${hx}`);
    seen.add(hx);
    concentrators.push({ id, linkKey: bytes(c[1], KEY_LEN, 'concentrator link key'), linkGen: gen(c[2], 'link generation') });
  }
  const concIds = new Set(seen);
  const meters: MeterKeys[] = [];
  const addrs = new Set<string>();
  for (const m of v[2] as unknown[]) {
    if (!Array.isArray(m) || m.length !== 6) throw new TypeError('meter entry must be a 6-element array');
    const id = bytes(m[0], ID_LEN, 'meter id');
    const hx = toHex(id);
    if (seen.has(hx)) throw new TypeError(`duplicate device id ${hx}`);
    seen.add(hx);
    const concentratorId = bytes(m[4], ID_LEN, 'meter concentrator id');
    if (!concIds.has(toHex(concentratorId)))
      throw new TypeError(`meter ${hx} names concentrator ${toHex(concentratorId)} not in this shipment`);
    const shortAddr = m[5];
    if (typeof shortAddr !== 'number' || !Number.isInteger(shortAddr) || shortAddr < ADDR_MIN || shortAddr > ADDR_MAX)
      throw new TypeError(`meter ${hx} short address must be 1..65534`);
    const at = toHex(concentratorId) + '/' + shortAddr;
    if (addrs.has(at))
      throw new TypeError(`meter ${hx} short address ${shortAddr} is already used on concentrator ${toHex(concentratorId)}`);
    addrs.add(at);
    meters.push({
      id,
      masterKey: bytes(m[1], KEY_LEN, 'meter master key'),
      linkKey: bytes(m[2], KEY_LEN, 'meter link key'),
      linkGen: gen(m[3], 'link generation'),
      concentratorId,
      shortAddr,
    });
  }
  return { hesId, meters, concentrators };
}
