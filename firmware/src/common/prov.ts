// Reads the provisioning image (PROTOCOL.md §11) that the KPE wrote as storage record 'prov'.
import { CBOR_ARRAY, CBOR_BYTES, CBOR_UINT, cborReaderInit, createCborReader, readHead } from '@vakt/shared/cbor';
import type { CborReader } from '@vakt/shared/cbor';
import { ADDR_MAX, ADDR_MIN, ID_LEN } from '@vakt/shared/frame';
import { KEY_LEN } from '@vakt/shared/keys';

/** Image format version this firmware reads. */
export const PROV_FORMAT = 1;
/** Device kind of a meter image. */
export const KIND_METER = 1;
/** Device kind of a concentrator image. */
export const KIND_CONCENTRATOR = 2;
const METER_ITEMS = 9;
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
  /** Short address on the radio hop, unique among its concentrator's meters (1..0xFFFE, PROTOCOL.md §7). */
  shortAddr: number;
}

/** A concentrator's provisioning: its id, its link key with the HES (+ generation), the HES id. */
export interface ConcentratorProv {
  concentratorId: Uint8Array;
  hesLinkKey: Uint8Array;
  hesLinkGen: number;
  hesId: Uint8Array;
}

/**
 * Reads a byte string of exactly `len` bytes and returns a copy; on anything else it marks `r`
 * failed (end −1: every later read fails and the caller's end check cannot pass), so a parser reads
 * every field first and checks once.
 */
function bstr(r: CborReader, len: number): Uint8Array {
  if (readHead(r, CBOR_BYTES) !== len) r.end = -1;
  // new Uint8Array(view) copies (also on Espruino): the image buffer is not kept alive.
  return new Uint8Array(r.buf.subarray(r.dataOff, r.dataOff + len));
}

/** Parses a meter image; undefined when it is missing, malformed or not a meter image (copies every field). */
export function parseMeterProv(img: Uint8Array | undefined): MeterProv | undefined {
  const r = createCborReader();
  if (img === undefined || cborReaderInit(r, img, 0, img.length) < 0 || readHead(r, CBOR_ARRAY) !== METER_ITEMS) return undefined;
  if (readHead(r, CBOR_UINT) !== PROV_FORMAT || readHead(r, CBOR_UINT) !== KIND_METER) return undefined;
  // Object literal values are read in source order: the image's field order.
  const p: MeterProv = {
    meterId: bstr(r, ID_LEN),
    masterKey: bstr(r, KEY_LEN),
    linkKey: bstr(r, KEY_LEN),
    linkGen: readHead(r, CBOR_UINT),
    concentratorId: bstr(r, ID_LEN),
    hesId: bstr(r, ID_LEN),
    shortAddr: readHead(r, CBOR_UINT),
  };
  // linkGen < 0: not an unsigned integer. r.pos !== r.end: a field failed, or trailing bytes.
  return p.linkGen >= 0 && p.linkGen <= MAX_GEN && p.shortAddr >= ADDR_MIN && p.shortAddr <= ADDR_MAX && r.pos === r.end ? p : undefined;
}

/** Parses a concentrator image; undefined when it is missing, malformed or not a concentrator image. */
export function parseConcentratorProv(img: Uint8Array | undefined): ConcentratorProv | undefined {
  const r = createCborReader();
  if (img === undefined || cborReaderInit(r, img, 0, img.length) < 0 || readHead(r, CBOR_ARRAY) !== CONCENTRATOR_ITEMS) return undefined;
  if (readHead(r, CBOR_UINT) !== PROV_FORMAT || readHead(r, CBOR_UINT) !== KIND_CONCENTRATOR) return undefined;
  const p: ConcentratorProv = {
    concentratorId: bstr(r, ID_LEN),
    hesLinkKey: bstr(r, KEY_LEN),
    hesLinkGen: readHead(r, CBOR_UINT),
    hesId: bstr(r, ID_LEN),
  };
  return p.hesLinkGen >= 0 && p.hesLinkGen <= MAX_GEN && r.pos === r.end ? p : undefined;
}
