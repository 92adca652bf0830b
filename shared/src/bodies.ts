/**
 * Application body shapes (PROTOCOL.md §10): ONE declarative table of every end-to-end body per
 * (op, direction) — its items in order, each with its CBOR type and range — and a strict decoder
 * over the §10-subset reader of cbor.ts. The HES decodes every authenticated body through
 * decodeBody; the meter applies the same rules by hand over readHead (its bundle budget has no
 * room for the table), and test/host/bodies.test.ts checks both, and PROTOCOL.md §10, against it.
 *
 * Rules on top of the §10 subset (definite lengths, no tags, no floats, no other simple values,
 * integers up to 2⁵³−1, nothing after the item): every body is an array; its item count and its
 * constant items (sub-command, status of a refusal) select exactly one shape of the table; every
 * integer lies in its documented range; map keys are the listed unsigned integers, each at most once.
 * Nothing here throws, recurses on input or loops longer than the body: hostile bodies cost their
 * length. Allocates its result (host use); the firmware never imports this module.
 */

import {
  CBOR_ARRAY,
  CBOR_BYTES,
  CBOR_MAP,
  CBOR_MAX_INT,
  CBOR_UINT,
  cborReaderDone,
  cborReaderInit,
  createCborReader,
  readHead,
} from './cbor.ts';
import type { CborReader } from './cbor.ts';
import { ERR_CBOR, OK } from './errors.ts';
import {
  DIR_DOWN,
  DIR_UP,
  OP_ACK,
  OP_CLOCK,
  OP_CONFIG,
  OP_EVENT,
  OP_FIRMWARE,
  OP_KEY_UPDATE,
  OP_READ,
  OP_READING,
  OP_RELAY,
} from './policy.ts';

/** Largest 32-bit unsigned value: request ids, times (unix s), sequence numbers, offsets. */
export const U32_MAX = 0xffffffff;
/** Largest integer of the subset (energy registers). */
export const UINT_MAX = CBOR_MAX_INT;
/** Status codes of responses: 0 ok, 1 refused, 2 bad request, 3 busy. */
export const STATUS_MAX = 3;
/** Load-profile intervals in one READ answer. */
export const MAX_READ_INTERVALS = 16;
/** Longest FIRMWARE chunk (bytes). */
export const MAX_FW_CHUNK_LEN = 512;
/** Bytes of an image MAC (AES-CMAC) and of a transported key. */
export const MAC_LEN = 16;
export const KEY_BYTES = 16;
/** Highest key generation and highest key-update scope (an op id; 0 = master key). */
export const MAX_GEN = 255;
export const MAX_SCOPE = 9;
/** EVENT codes (PROTOCOL.md §10): 1 … 19. */
export const MAX_EVENT_CODE = 19;
/** CONFIG push interval bounds (s). */
export const MIN_PUSH_INTERVAL_S = 60;
export const MAX_PUSH_INTERVAL_S = 86400;

/** An unsigned integer item in [min, max] (min === max: a constant that selects the shape). */
export interface UintField {
  name: string;
  type: 'uint';
  min: number;
  max: number;
}
/** A byte string item whose length lies in [min, max]. */
export interface BytesField {
  name: string;
  type: 'bytes';
  min: number;
  max: number;
}
/** An array of at most `max` rows, each an array of the unsigned fields `row`. */
export interface RowsField {
  name: string;
  type: 'rows';
  max: number;
  row: readonly UintField[];
}
/** A map whose keys are the listed unsigned integers, each at most once, with unsigned values in range. */
export interface MapField {
  name: string;
  type: 'map';
  entries: readonly { key: number; name: string; min: number; max: number }[];
}
export type BodyField = UintField | BytesField | RowsField | MapField;

/** One body shape: the array items of a body of `op` travelling in `dir`. */
export interface BodyShape {
  op: number;
  dir: number;
  name: string;
  fields: readonly BodyField[];
}

const uint = (name: string, min: number, max: number): UintField => ({ name, type: 'uint', min, max });
const is = (name: string, v: number): UintField => uint(name, v, v);
const u32 = (name: string): UintField => uint(name, 0, U32_MAX);
const bytes = (name: string, min: number, max: number): BytesField => ({ name, type: 'bytes', min, max });
const REQ = u32('req');
const UNSOLICITED = is('req', 0);
const STATUS = uint('status', 0, STATUS_MAX);
const sh = (op: number, dir: number, name: string, ...fields: BodyField[]): BodyShape => ({ op, dir, name, fields });

/** The table (PROTOCOL.md §10 is generated from it: test/host/bodies.test.ts checks the doc). */
export const BODY_SHAPES: readonly BodyShape[] = [
  sh(OP_READING, DIR_UP, 'reading', UNSOLICITED, uint('seq', 1, U32_MAX), u32('t'), uint('wh', 0, UINT_MAX), u32('w')),
  sh(OP_READ, DIR_DOWN, 'register read', REQ, is('kind', 1)),
  sh(OP_READ, DIR_DOWN, 'load-profile range', REQ, is('kind', 2), u32('fromSeq'), u32('toSeq')),
  sh(OP_READ, DIR_UP, 'register', REQ, is('kind', 1), u32('t'), uint('wh', 0, UINT_MAX), u32('w')),
  sh(OP_READ, DIR_UP, 'load profile', REQ, is('kind', 2), {
    name: 'intervals',
    type: 'rows',
    max: MAX_READ_INTERVALS,
    row: [uint('seq', 1, U32_MAX), u32('t'), uint('wh', 0, UINT_MAX), u32('w')],
  }),
  sh(OP_READ, DIR_UP, 'refused', REQ, STATUS),
  sh(OP_RELAY, DIR_DOWN, 'relay', REQ, uint('state', 0, 1)),
  sh(OP_RELAY, DIR_UP, 'relay result', REQ, uint('state', 0, 1), STATUS),
  sh(OP_RELAY, DIR_UP, 'refused', REQ, STATUS),
  sh(OP_CONFIG, DIR_DOWN, 'config', REQ, {
    name: 'settings',
    type: 'map',
    entries: [
      { key: 1, name: 'tariff', min: 0, max: U32_MAX },
      { key: 2, name: 'pushIntervalS', min: MIN_PUSH_INTERVAL_S, max: MAX_PUSH_INTERVAL_S },
    ],
  }),
  sh(OP_CONFIG, DIR_UP, 'config result', REQ, STATUS),
  sh(OP_CLOCK, DIR_DOWN, 'set clock', REQ, u32('t')),
  sh(OP_CLOCK, DIR_UP, 'clock result', REQ, STATUS, u32('tBefore')),
  sh(OP_CLOCK, DIR_UP, 'refused', REQ, STATUS),
  sh(OP_FIRMWARE, DIR_DOWN, 'begin', REQ, is('kind', 1), uint('size', 1, U32_MAX), bytes('mac', MAC_LEN, MAC_LEN), u32('version')),
  sh(OP_FIRMWARE, DIR_DOWN, 'chunk', REQ, is('kind', 2), u32('offset'), bytes('data', 1, MAX_FW_CHUNK_LEN)),
  sh(OP_FIRMWARE, DIR_DOWN, 'activate', REQ, is('kind', 3)),
  sh(OP_FIRMWARE, DIR_UP, 'firmware result', REQ, STATUS, u32('nextOffset')),
  sh(OP_FIRMWARE, DIR_UP, 'refused', REQ, STATUS),
  sh(
    OP_KEY_UPDATE,
    DIR_DOWN,
    'transport',
    REQ,
    is('kind', 1),
    uint('scope', 0, MAX_SCOPE),
    uint('newGen', 0, MAX_GEN),
    bytes('key', KEY_BYTES, KEY_BYTES),
  ),
  sh(OP_KEY_UPDATE, DIR_DOWN, 'activate', REQ, is('kind', 3), uint('scope', 0, MAX_SCOPE), uint('newGen', 0, MAX_GEN)),
  sh(OP_KEY_UPDATE, DIR_UP, 'confirm', REQ, is('kind', 2), uint('scope', 0, MAX_SCOPE), uint('newGen', 0, MAX_GEN)),
  sh(OP_EVENT, DIR_UP, 'event', UNSOLICITED, uint('code', 1, MAX_EVENT_CODE), u32('t'), u32('detail')),
  sh(OP_ACK, DIR_DOWN, 'readings stored', UNSOLICITED, is('op', OP_READING), u32('upTo')),
  sh(OP_ACK, DIR_UP, 'key update activated', REQ, is('op', OP_KEY_UPDATE), uint('newGen', 0, MAX_GEN)),
];

/** A decoded item: an integer, a byte string (a copy), rows of integers, or a CONFIG map (key → value). */
export type BodyValue = number | Uint8Array | number[][] | Map<number, number>;

/** Result of decodeBody: err OK with the shape and its items in order, or err < 0 with a reason. */
export interface DecodedBody {
  err: number;
  shape: BodyShape | null;
  items: BodyValue[];
  /** Why the body was refused (for the audit and the operator), '' on success. */
  reason: string;
}

/** The shapes of one (op, dir), in table order; empty when the op carries no body that way. */
export function shapesOf(op: number, dir: number): BodyShape[] {
  return BODY_SHAPES.filter((s) => s.op === op && s.dir === dir);
}

function uintIn(r: CborReader, min: number, max: number): number {
  const v = readHead(r, CBOR_UINT);
  return v >= min && v <= max ? v : -1;
}

/** Decodes one field at r.pos; returns its value, or a string saying why not. */
function field(r: CborReader, f: BodyField): BodyValue | string {
  if (f.type === 'uint') {
    const v = uintIn(r, f.min, f.max);
    return v < 0 ? `${f.name}: not an unsigned integer in ${f.min} … ${f.max}` : v;
  }
  if (f.type === 'bytes') {
    const n = readHead(r, CBOR_BYTES);
    if (n < f.min || n > f.max) return `${f.name}: not a byte string of ${f.min} … ${f.max} bytes`;
    return r.buf.slice(r.dataOff, r.dataOff + n);
  }
  if (f.type === 'rows') {
    const n = readHead(r, CBOR_ARRAY);
    if (n < 0 || n > f.max) return `${f.name}: not an array of at most ${f.max} rows`;
    const rows: number[][] = [];
    for (let i = 0; i < n; i++) {
      if (readHead(r, CBOR_ARRAY) !== f.row.length) return `${f.name}[${i}]: not an array of ${f.row.length} items`;
      const row: number[] = [];
      for (const c of f.row) {
        const v = uintIn(r, c.min, c.max);
        if (v < 0) return `${f.name}[${i}].${c.name}: not an unsigned integer in ${c.min} … ${c.max}`;
        row.push(v);
      }
      rows.push(row);
    }
    return rows;
  }
  const n = readHead(r, CBOR_MAP);
  if (n < 0 || n > f.entries.length) return `${f.name}: not a map of at most ${f.entries.length} pairs`;
  const map = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const k = readHead(r, CBOR_UINT);
    const e = f.entries.find((x) => x.key === k);
    if (e === undefined) return `${f.name}: key is not one of ${f.entries.map((x) => x.key).join(', ')}`;
    if (map.has(k)) return `${f.name}: duplicate key ${k}`;
    const v = uintIn(r, e.min, e.max);
    if (v < 0) return `${f.name}.${e.name}: not an unsigned integer in ${e.min} … ${e.max}`;
    map.set(k, v);
  }
  return map;
}

const READER = createCborReader();

/**
 * Decodes the body buf[off..off+len) of `op` travelling in `dir` (DIR_UP / DIR_DOWN) against the
 * table: { err: OK, shape, items } or { err: ERR_CBOR, reason }. Never throws.
 */
export function decodeBody(op: number, dir: number, buf: Uint8Array, off: number, len: number): DecodedBody {
  const out: DecodedBody = { err: ERR_CBOR, shape: null, items: [], reason: '' };
  const r = READER;
  if (cborReaderInit(r, buf, off, len) !== OK) {
    out.reason = 'body outside its buffer';
    return out;
  }
  const n = readHead(r, CBOR_ARRAY);
  const candidates = shapesOf(op, dir);
  if (candidates.length === 0) out.reason = `no ${dir === DIR_UP ? 'uplink' : 'downlink'} body is defined for op ${op}`;
  else if (n < 0) out.reason = 'not a definite-length array of the CBOR subset';
  else out.reason = `no ${op} body has ${n} items`;
  const start = r.pos;
  for (const s of candidates) {
    if (n < 0 || s.fields.length !== n) continue;
    r.pos = start;
    const items: BodyValue[] = [];
    let why = '';
    for (const f of s.fields) {
      const v = field(r, f);
      if (typeof v === 'string') {
        why = v;
        break;
      }
      items.push(v);
    }
    if (why === '' && cborReaderDone(r) !== OK) why = 'bytes after the body';
    if (why === '') {
      out.err = OK;
      out.shape = s;
      out.items = items;
      out.reason = '';
      return out;
    }
    out.reason = `${s.name}: ${why}`;
  }
  return out;
}
