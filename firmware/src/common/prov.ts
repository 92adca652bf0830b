// Reads the provisioning image (PROTOCOL.md §11) that the KPE wrote as storage record 'prov'.
import {
  CBOR_ARRAY, CBOR_BYTES, CBOR_UINT, cborReaderInit, createCborReader, readHead,
} from '@vakt/shared/cbor';
import type { CborReader } from '@vakt/shared/cbor';
import { ID_LEN } from '@vakt/shared/frame';
import { KEY_LEN } from '@vakt/shared/keys';

/** Image format version this firmware reads. */
export const PROV_FORMAT = 1;
/** Device kind of a meter image. */
export const KIND_METER = 1;
/** Device kind of a concentrator image. */
export const KIND_CONCENTRATOR = 2;
const METER_ITEMS = 8;
const CONCENTRATOR_ITEMS = 6;
const MAX_GEN = 255;

/** A meter's provisioning: its id, master key, link key (+ generation), its concentrator and the HES. */
export interface MeterProv {
  meterId: Uint8Array;
  masterKey: Uint8Array;
  linkKey: Uint8Array;
  linkGen: number;
  concentratorId: Uint8Array;
  hesId: Uint8Array;
}

/** A concentrator's provisioning: its id, its link key with the HES (+ generation), the HES id. */
export interface ConcentratorProv {
  concentratorId: Uint8Array;
  hesLinkKey: Uint8Array;
  hesLinkGen: number;
  hesId: Uint8Array;
}

/** Reads a byte string of exactly `len` bytes into a new array; undefined for anything else. */
function bstr(r: CborReader, len: number): Uint8Array | undefined {
  const n = readHead(r, CBOR_BYTES);
  if (n !== len) return undefined;
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = r.buf[r.dataOff + i];
  return out;
}

/** Parses a meter image; undefined when it is missing, malformed or not a meter image (copies every field). */
export function parseMeterProv(img: Uint8Array | undefined): MeterProv | undefined {
  if (img === undefined) return undefined;
  const r = createCborReader();
  if (cborReaderInit(r, img, 0, img.length) < 0 || readHead(r, CBOR_ARRAY) !== METER_ITEMS) return undefined;
  if (readHead(r, CBOR_UINT) !== PROV_FORMAT || readHead(r, CBOR_UINT) !== KIND_METER) return undefined;
  const meterId = bstr(r, ID_LEN);
  const masterKey = bstr(r, KEY_LEN);
  const linkKey = bstr(r, KEY_LEN);
  const linkGen = readHead(r, CBOR_UINT);
  const concentratorId = bstr(r, ID_LEN);
  const hesId = bstr(r, ID_LEN);
  if (meterId === undefined || masterKey === undefined || linkKey === undefined || !(linkGen >= 0 && linkGen <= MAX_GEN)) return undefined;
  // r.pos !== r.end: trailing bytes (cborReaderDone, inline: the meter's bundle then carries one function less).
  if (concentratorId === undefined || hesId === undefined || r.pos !== r.end) return undefined;
  return { meterId: meterId, masterKey: masterKey, linkKey: linkKey, linkGen: linkGen, concentratorId: concentratorId, hesId: hesId };
}

/** Parses a concentrator image; undefined when it is missing, malformed or not a concentrator image. */
export function parseConcentratorProv(img: Uint8Array | undefined): ConcentratorProv | undefined {
  if (img === undefined) return undefined;
  const r = createCborReader();
  if (cborReaderInit(r, img, 0, img.length) < 0 || readHead(r, CBOR_ARRAY) !== CONCENTRATOR_ITEMS) return undefined;
  if (readHead(r, CBOR_UINT) !== PROV_FORMAT || readHead(r, CBOR_UINT) !== KIND_CONCENTRATOR) return undefined;
  const concentratorId = bstr(r, ID_LEN);
  const hesLinkKey = bstr(r, KEY_LEN);
  const hesLinkGen = readHead(r, CBOR_UINT);
  const hesId = bstr(r, ID_LEN);
  if (concentratorId === undefined || hesLinkKey === undefined || !(hesLinkGen >= 0 && hesLinkGen <= MAX_GEN) || hesId === undefined) return undefined;
  if (r.pos !== r.end) return undefined; // trailing bytes
  return { concentratorId: concentratorId, hesLinkKey: hesLinkKey, hesLinkGen: hesLinkGen, hesId: hesId };
}
