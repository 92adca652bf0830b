// Provisioning images (docs/PROTOCOL.md §11): the CBOR array a board stores as record `prov`.
import { decodeValue } from '@vakt/shared';
import { cborEncode } from '../crypto/cbor.ts';
import type { MeterKeys, ConcentratorKeys } from './payload.ts';
import { ADDR_MAX, ADDR_MIN, ID_LEN, KEY_LEN, gen } from './payload.ts';

export const IMAGE_VERSION = 1;
export const KIND_METER = 1;
export const KIND_CONCENTRATOR = 2;

/** Meter image: [1, 1, meterId, masterKey, linkKey, linkGen, concentratorId, hesId, shortAddr]. */
export function meterImage(m: MeterKeys, hesId: Uint8Array): Uint8Array {
  return cborEncode([IMAGE_VERSION, KIND_METER, m.id, m.masterKey, m.linkKey, m.linkGen, m.concentratorId, hesId, m.shortAddr]);
}

/** Concentrator image: [1, 2, concentratorId, hesLinkKey, hesLinkGen, hesId]. */
export function concentratorImage(c: ConcentratorKeys, hesId: Uint8Array): Uint8Array {
  return cborEncode([IMAGE_VERSION, KIND_CONCENTRATOR, c.id, c.linkKey, c.linkGen, hesId]);
}

export type ParsedImage =
  { kind: 'meter'; meter: MeterKeys; hesId: Uint8Array } | { kind: 'concentrator'; concentrator: ConcentratorKeys; hesId: Uint8Array };

function b(v: unknown, len: number): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length !== len) throw new TypeError(`expected a ${len}-byte string in image`);
  return v.slice();
}

/** Parses and validates a provisioning image (host side: for `kpe show` and tests); throws TypeError. */
export function parseImage(bytes: Uint8Array): ParsedImage {
  // The strict §10 subset, as the board reads it: no floats, tags or trailing bytes; fields checked one by one.
  const d = decodeValue(bytes, 0, bytes.length);
  if (d.err < 0) throw new TypeError('not a provisioning image: not CBOR of the PROTOCOL.md §10 subset');
  const v = d.value;
  if (!Array.isArray(v) || v[0] !== IMAGE_VERSION) throw new TypeError('not a version-1 provisioning image');
  if (v[1] === KIND_METER && v.length === 9) {
    if (typeof v[8] !== 'number' || !Number.isInteger(v[8]) || v[8] < ADDR_MIN || v[8] > ADDR_MAX) throw new TypeError('bad short address');
    return {
      kind: 'meter',
      meter: {
        id: b(v[2], ID_LEN),
        masterKey: b(v[3], KEY_LEN),
        linkKey: b(v[4], KEY_LEN),
        linkGen: gen(v[5], 'link generation'),
        concentratorId: b(v[6], ID_LEN),
        shortAddr: v[8],
      },
      hesId: b(v[7], ID_LEN),
    };
  }
  if (v[1] === KIND_CONCENTRATOR && v.length === 6) {
    return {
      kind: 'concentrator',
      concentrator: { id: b(v[2], ID_LEN), linkKey: b(v[3], KEY_LEN), linkGen: gen(v[4], 'link generation') },
      hesId: b(v[5], ID_LEN),
    };
  }
  throw new TypeError('unknown provisioning image kind');
}
