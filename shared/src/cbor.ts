/**
 * The CBOR subset of PROTOCOL.md §10 (RFC 8949): definite-length arrays and maps, integers in
 * −(2⁵³−1) … 2⁵³−1 (heads of 0/1/2/4/8 bytes, no BigInt), byte strings, UTF-8 text strings, true,
 * false, null. Everything else — tags, floats, undefined, other simple values, indefinite lengths,
 * reserved head values, integers beyond the safe range — is refused with ERR_CBOR; nesting deeper
 * than CBOR_MAX_DEPTH with ERR_CBOR_DEPTH. Nothing here throws on any input bytes.
 *
 * Two layers:
 * - low level, allocation free (firmware): write* functions append one item head or scalar to a
 *   caller buffer and return the new offset; read* functions advance a reusable CborReader over
 *   (buf, off, len) and report byte/text strings as offsets into buf;
 * - convenience (host, tests): encodeValue / decodeValue for plain JS values.
 * The encoder always writes the shortest head (RFC 8949 §4.2.1 "preferred serialization"); the
 * decoder also accepts longer heads, as any well-formed RFC 8949 decoder must.
 * TextEncoder/TextDecoder are absent on Espruino, so UTF-8 is converted here by hand.
 */

import { ERR_BUFFER, ERR_CBOR, ERR_CBOR_DEPTH, OK } from './errors.ts';
import { inRange } from './utils.ts';

/** Largest integer magnitude in the subset: 2⁵³ − 1, the largest exactly representable JS integer. */
export const CBOR_MAX_INT = 9007199254740991;
/** Deepest nesting of arrays/maps accepted by decoders and written by encodeValue (a flat array is depth 1). */
export const CBOR_MAX_DEPTH = 16;

// Major types (RFC 8949 §3.1), also used as "kinds" by cborPeek.
/** Major type 0: unsigned integer. */
export const CBOR_UINT = 0;
/** Major type 1: negative integer −1 − n. */
export const CBOR_NINT = 1;
/** Major type 2: byte string. */
export const CBOR_BYTES = 2;
/** Major type 3: UTF-8 text string. */
export const CBOR_TEXT = 3;
/** Major type 4: array. */
export const CBOR_ARRAY = 4;
/** Major type 5: map. */
export const CBOR_MAP = 5;
const MAJOR_TAG = 6;
const MAJOR_SIMPLE = 7;
/** cborPeek kind for true/false (major type 7, simple values 20/21). */
export const CBOR_BOOL = 8;
/** cborPeek kind for null (major type 7, simple value 22). */
export const CBOR_NULL = 9;

// Additional-information values (RFC 8949 §3).
const AI_DIRECT_MAX = 23;
const AI_1 = 24; // a 1-byte argument follows; 25, 26, 27: 2, 4, 8 bytes
const AI_8 = 27;
const SIMPLE_FALSE = 20;
const SIMPLE_TRUE = 21;
const SIMPLE_NULL = 22;
const MAJOR_SHIFT = 5;
/** Major types are 0–7: an integer `major` is one when major & MAJOR_MASK === major. */
const MAJOR_MASK = 7;
const AI_MASK = 0x1f;
const TWO_8 = 0x100;
const TWO_16 = 0x10000;
const TWO_32 = 4294967296;

// UTF-8 (RFC 3629).
const UTF8_2_MIN = 0x80;
const UTF8_3_MIN = 0x800;
const UTF8_4_MIN = 0x10000;
const UNICODE_MAX = 0x10ffff;
const SURROGATE_MIN = 0xd800;
const SURROGATE_HIGH_MAX = 0xdbff;
const SURROGATE_LOW_MIN = 0xdc00;
const SURROGATE_MAX = 0xdfff;

function isSafeUint(v: number): boolean {
  return typeof v === 'number' && Math.floor(v) === v && v >= 0 && v <= CBOR_MAX_INT;
}

// ---------------------------------------------------------------------------------------------
// Encoder. Every write* returns the offset after what it wrote, or a negative error code; a
// negative `off` is returned unchanged, so calls can be chained and the first error survives.
// A failing call writes nothing.

/** Returns the byte size of a head whose argument is v (1, 2, 3, 5 or 9). */
export function cborHeadLen(v: number): number {
  if (v <= AI_DIRECT_MAX) return 1;
  if (v < TWO_8) return 2;
  if (v < TWO_16) return 3;
  if (v < TWO_32) return 5;
  return 9;
}

/** Writes the shortest head of major type `major` (0–7) with argument v (0 … 2⁵³−1); new offset or ERR_CBOR / ERR_BUFFER. */
export function writeHead(out: Uint8Array, off: number, major: number, v: number): number {
  if (off < 0) return off;
  // isSafeUint(v), inline: the meter's bundle then carries one function less.
  if (typeof v !== 'number' || Math.floor(v) !== v || v < 0 || v > CBOR_MAX_INT || (major & MAJOR_MASK) !== major) return ERR_CBOR;
  // Argument bytes after the initial byte: none when v fits in it, else the fewest of 1, 2, 4, 8 (ai 24–27).
  let ai = v;
  let k = 0;
  if (v > AI_DIRECT_MAX) {
    for (ai = AI_1, k = 1; v >= Math.pow(TWO_8, k); k *= 2) ai++;
  }
  if (out.length - off < k + 1) return ERR_BUFFER;
  out[off] = (major << MAJOR_SHIFT) | ai;
  // The argument big-endian; v may exceed 32 bits, so split it arithmetically.
  for (let i = k, x = v; i > 0; i--) {
    out[off + i] = x % TWO_8;
    x = Math.floor(x / TWO_8);
  }
  return off + k + 1;
}

/** Writes an unsigned integer 0 … 2⁵³−1; new offset, ERR_CBOR for anything else, or ERR_BUFFER. */
export function writeUint(out: Uint8Array, off: number, v: number): number {
  return writeHead(out, off, CBOR_UINT, v);
}

/** Writes an integer in −(2⁵³−1) … 2⁵³−1 (major type 0 or 1); new offset, ERR_CBOR or ERR_BUFFER. */
export function writeInt(out: Uint8Array, off: number, v: number): number {
  if (off < 0) return off;
  if (typeof v !== 'number' || Math.floor(v) !== v || v < -CBOR_MAX_INT || v > CBOR_MAX_INT) return ERR_CBOR;
  return v < 0 ? writeHead(out, off, CBOR_NINT, -1 - v) : writeHead(out, off, CBOR_UINT, v);
}

/** Writes a byte string copied from src[srcOff..srcOff+srcLen); new offset or ERR_BUFFER. */
export function writeBytes(out: Uint8Array, off: number, src: Uint8Array, srcOff: number, srcLen: number): number {
  if (off < 0) return off;
  if (srcOff < 0 || srcLen < 0 || srcOff + srcLen > src.length) return ERR_BUFFER;
  if (off > out.length || out.length - off < cborHeadLen(srcLen) + srcLen) return ERR_BUFFER;
  const o = writeHead(out, off, CBOR_BYTES, srcLen);
  // A plain loop, not out.set(src.subarray(...)): subarray allocates a view object per call.
  // Copy backwards when src is out and the regions overlap upwards.
  if (src === out && o > srcOff) for (let i = srcLen - 1; i >= 0; i--) out[o + i] = src[srcOff + i];
  else for (let i = 0; i < srcLen; i++) out[o + i] = src[srcOff + i];
  return o + srcLen;
}

/** Writes only the head of a byte string of len bytes; the caller fills out[result − len … result) itself. */
export function writeBytesHead(out: Uint8Array, off: number, len: number): number {
  if (off < 0) return off;
  if (!isSafeUint(len)) return ERR_CBOR;
  if (off > out.length || out.length - off < cborHeadLen(len) + len) return ERR_BUFFER;
  return writeHead(out, off, CBOR_BYTES, len) + len;
}

/** Writes the head of an array of n items (the items follow); new offset or error. */
export function writeArrayHead(out: Uint8Array, off: number, n: number): number {
  return writeHead(out, off, CBOR_ARRAY, n);
}

/** Writes the head of a map of n key/value pairs (2n items follow); new offset or error. */
export function writeMapHead(out: Uint8Array, off: number, n: number): number {
  return writeHead(out, off, CBOR_MAP, n);
}

/** Writes true or false; new offset or ERR_BUFFER. */
export function writeBool(out: Uint8Array, off: number, b: boolean): number {
  return writeHead(out, off, MAJOR_SIMPLE, b ? SIMPLE_TRUE : SIMPLE_FALSE);
}

/** Writes null; new offset or ERR_BUFFER. */
export function writeNull(out: Uint8Array, off: number): number {
  return writeHead(out, off, MAJOR_SIMPLE, SIMPLE_NULL);
}

/** Returns the UTF-8 byte length of s, or ERR_CBOR if s holds a lone surrogate (not encodable). */
export function utf8Length(s: string): number {
  let n = 0;
  const len = s.length;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c < UTF8_2_MIN) n += 1;
    else if (c < UTF8_3_MIN) n += 2;
    else if (c >= UTF8_4_MIN)
      n += 4; // Espruino: one character per code point, even above U+FFFF
    else if (c < SURROGATE_MIN || c > SURROGATE_MAX) n += 3;
    else if (c <= SURROGATE_HIGH_MAX && i + 1 < len) {
      const d = s.charCodeAt(i + 1);
      if (d < SURROGATE_LOW_MIN || d > SURROGATE_MAX) return ERR_CBOR;
      n += 4;
      i++;
    } else return ERR_CBOR;
  }
  return n;
}

/** Writes s as UTF-8 into out[off..) (no head); new offset, ERR_CBOR (lone surrogate) or ERR_BUFFER. Nothing written on error. */
export function utf8Encode(s: string, out: Uint8Array, off: number): number {
  if (off < 0) return off;
  const n = utf8Length(s);
  if (n < 0) return n;
  if (off > out.length || out.length - off < n) return ERR_BUFFER;
  let o = off;
  const len = s.length;
  for (let i = 0; i < len; i++) {
    let c = s.charCodeAt(i);
    if (c < UTF8_2_MIN) {
      out[o++] = c;
    } else if (c < UTF8_3_MIN) {
      out[o++] = 0xc0 | (c >>> 6);
      out[o++] = 0x80 | (c & 0x3f);
    } else if (c < UTF8_4_MIN && (c < SURROGATE_MIN || c > SURROGATE_MAX)) {
      out[o++] = 0xe0 | (c >>> 12);
      out[o++] = 0x80 | ((c >>> 6) & 0x3f);
      out[o++] = 0x80 | (c & 0x3f);
    } else {
      // A UTF-16 surrogate pair (standard engines), or already a code point (Espruino).
      if (c < UTF8_4_MIN) c = UTF8_4_MIN + ((c - SURROGATE_MIN) << 10) + (s.charCodeAt(++i) - SURROGATE_LOW_MIN);
      out[o++] = 0xf0 | (c >>> 18);
      out[o++] = 0x80 | ((c >>> 12) & 0x3f);
      out[o++] = 0x80 | ((c >>> 6) & 0x3f);
      out[o++] = 0x80 | (c & 0x3f);
    }
  }
  return o;
}

/** Writes a text string (UTF-8 of s); new offset, ERR_CBOR (lone surrogate) or ERR_BUFFER. Nothing written on error. */
export function writeText(out: Uint8Array, off: number, s: string): number {
  if (off < 0) return off;
  const n = utf8Length(s);
  if (n < 0) return n;
  if (off > out.length || out.length - off < cborHeadLen(n) + n) return ERR_BUFFER;
  return utf8Encode(s, out, writeHead(out, off, CBOR_TEXT, n));
}

// ---------------------------------------------------------------------------------------------
// UTF-8 decoding.

/**
 * Returns OK if buf[off..off+len) is well-formed UTF-8 (RFC 3629: shortest form, no surrogates,
 * at most U+10FFFF), else ERR_CBOR. Reads only inside the range.
 */
export function utf8Validate(buf: Uint8Array, off: number, len: number): number {
  let i = off;
  const end = off + len;
  while (i < end) {
    const b = buf[i];
    if (b < UTF8_2_MIN) {
      i++;
      continue;
    }
    let need: number;
    let cp: number;
    let min: number;
    if ((b & 0xe0) === 0xc0) {
      need = 1;
      cp = b & 0x1f;
      min = UTF8_2_MIN;
    } else if ((b & 0xf0) === 0xe0) {
      need = 2;
      cp = b & 0x0f;
      min = UTF8_3_MIN;
    } else if ((b & 0xf8) === 0xf0) {
      need = 3;
      cp = b & 0x07;
      min = UTF8_4_MIN;
    } else return ERR_CBOR;
    if (end - i - 1 < need) return ERR_CBOR;
    for (let k = 1; k <= need; k++) {
      const c = buf[i + k];
      if ((c & 0xc0) !== 0x80) return ERR_CBOR;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > UNICODE_MAX || (cp >= SURROGATE_MIN && cp <= SURROGATE_MAX)) return ERR_CBOR;
    i += need + 1;
  }
  return OK;
}

// Espruino (unicode builds) keeps strings as bytes, flagged as UTF-8 by E.asUTF8; there
// String.fromCharCode truncates to 8 bits, so text is rebuilt from its UTF-8 bytes and flagged.
// Espruino builds without Unicode support (no E.asUTF8) cannot hold non-ASCII text as a JS string
// at all: use readText's offsets there (the protocol bodies of §10 carry no text anyway).
interface EspruinoGlobal {
  E?: { asUTF8?: (s: string) => string };
}

/**
 * Decodes well-formed UTF-8 (check with utf8Validate first) to a JS string: UTF-16 on standard
 * engines, a UTF-8-flagged string on Espruino. Allocates: host/convenience use.
 */
export function utf8Decode(buf: Uint8Array, off: number, len: number): string {
  let s = '';
  // Looked up per call rather than at load: a bundle that never decodes text (the meter) then
  // holds no module variables for it.
  const E = (globalThis as unknown as EspruinoGlobal).E;
  if (E !== undefined && E !== null && typeof E.asUTF8 === 'function') {
    let ascii = true;
    for (let i = off; i < off + len; i++) {
      if (buf[i] >= UTF8_2_MIN) ascii = false;
      s += String.fromCharCode(buf[i]);
    }
    // Only non-ASCII text is flagged: a flagged "b" is not the same property name as a plain "b".
    return ascii ? s : E.asUTF8(s);
  }
  let i = off;
  const end = off + len;
  while (i < end) {
    const b = buf[i];
    let cp: number;
    if (b < UTF8_2_MIN) {
      cp = b;
      i += 1;
    } else if ((b & 0xe0) === 0xc0) {
      cp = ((b & 0x1f) << 6) | (buf[i + 1] & 0x3f);
      i += 2;
    } else if ((b & 0xf0) === 0xe0) {
      cp = ((b & 0x0f) << 12) | ((buf[i + 1] & 0x3f) << 6) | (buf[i + 2] & 0x3f);
      i += 3;
    } else {
      cp = ((b & 0x07) << 18) | ((buf[i + 1] & 0x3f) << 12) | ((buf[i + 2] & 0x3f) << 6) | (buf[i + 3] & 0x3f);
      i += 4;
    }
    if (cp < UTF8_4_MIN) s += String.fromCharCode(cp);
    else {
      const u = cp - UTF8_4_MIN;
      s += String.fromCharCode(SURROGATE_MIN + (u >>> 10), SURROGATE_LOW_MIN + (u & 0x3ff));
    }
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Cursor decoder. A failing read leaves r.pos where it was.

/** A reusable cursor over one CBOR buffer region; create once, re-aim with cborReaderInit. */
export interface CborReader {
  buf: Uint8Array;
  /** Offset of the next item. */
  pos: number;
  /** End of the region (exclusive). */
  end: number;
  /** After readBytes/readText: offset in buf where the string's content starts. */
  dataOff: number;
  /** After readInt: the integer read. */
  value: number;
}

const EMPTY = new Uint8Array(0);

/** Allocates a reader (the only allocation of the cursor API); aim it with cborReaderInit. */
export function createCborReader(): CborReader {
  return {
    buf: EMPTY,
    pos: 0,
    end: 0,
    dataOff: 0,
    value: 0,
  };
}

/** Aims r at buf[off..off+len); returns OK, or ERR_BUFFER (r left empty) unless that is an integer range inside buf. */
export function cborReaderInit(r: CborReader, buf: Uint8Array, off: number, len: number): number {
  const ok = inRange(buf.length, off, len);
  r.buf = ok ? buf : EMPTY;
  r.pos = ok ? off : 0;
  r.end = ok ? off + len : 0;
  return ok ? OK : ERR_BUFFER;
}

/** Returns OK when every byte of the region was consumed, else ERR_CBOR (trailing bytes). */
export function cborReaderDone(r: CborReader): number {
  return r.pos === r.end ? OK : ERR_CBOR;
}

// The head parseHead read last: its major type and the offset after it. Module state rather than
// reader fields: every caller uses them right after its own parseHead call, and a bundle that
// reads only through readHead (the meter) holds neither.
let headMajor = 0;
let headNext = 0;

/**
 * Parses the head at pos: returns its argument (for true/false/null the simple value) and sets
 * headMajor / headNext, without moving r.pos; ERR_CBOR for tags, simple values other than
 * false/true/null, reserved additional info (28–30), indefinite lengths (31), arguments above
 * 2⁵³−1, and truncation. For the host readers (cborPeek, readInt, readBool, readNull, skipItem);
 * readHead, the meter's only reader, parses its heads itself by the same rules.
 */
function parseHead(r: CborReader, pos: number): number {
  const buf = r.buf;
  const end = r.end;
  if (pos >= end) return ERR_CBOR;
  const major = buf[pos] >>> MAJOR_SHIFT;
  let arg = buf[pos++] & AI_MASK;
  // Simple values only false/true/null, and only in their one-byte form (RFC 8949 §3.3: 20–23
  // must not use a 1-byte extension); floats (ai 25–27) and every other simple value are refused.
  if (major === MAJOR_TAG || (major === MAJOR_SIMPLE && (arg < SIMPLE_FALSE || arg > SIMPLE_NULL))) return ERR_CBOR;
  if (arg > AI_DIRECT_MAX) {
    // Additional info 24–27: the argument follows big-endian in 1, 2, 4 or 8 bytes.
    const n = 1 << (arg - AI_1);
    if (arg > AI_8 || end - pos < n) return ERR_CBOR;
    // Exact while below 2⁵³; once the true value reaches 2⁵³ the rounded sum stays ≥ 2⁵³ (rounding
    // is monotonic), so the range check below sees every argument outside the subset.
    arg = 0;
    for (const stop = pos + n; pos < stop; pos++) arg = arg * TWO_8 + buf[pos];
    if (arg > CBOR_MAX_INT) return ERR_CBOR;
  }
  headMajor = major;
  headNext = pos;
  return arg;
}

/** Returns the kind of the next item (CBOR_UINT … CBOR_MAP, CBOR_BOOL, CBOR_NULL) without consuming it, or ERR_CBOR. */
export function cborPeek(r: CborReader): number {
  const arg = parseHead(r, r.pos);
  if (arg < 0) return arg;
  if (headMajor !== MAJOR_SIMPLE) return headMajor;
  return arg === SIMPLE_NULL ? CBOR_NULL : CBOR_BOOL;
}

/**
 * Reads the head of the next item if it has major type `major` (CBOR_UINT, CBOR_BYTES, CBOR_TEXT,
 * CBOR_ARRAY or CBOR_MAP) and returns its argument: the integer (also left in r.value), the string
 * length (content at r.buf[r.dataOff …), moved past; text is not UTF-8 validated here, readText
 * does that), or the array/map count. ERR_CBOR (r.pos unmoved) for another type, a malformed head,
 * or a length/count that cannot fit in the bytes left. The one reader behind readUint,
 * readBytes, readText, readArrayHead and readMapHead.
 */
export function readHead(r: CborReader, major: number): number {
  const buf = r.buf;
  const end = r.end;
  let pos = r.pos;
  // The head rules of parseHead, for the five major types readHead serves (no tags or simple
  // values to refuse: the major type must equal one of these). Self-contained so that a bundle
  // reading only through readHead (the meter) carries one parser.
  if (pos >= end || buf[pos] >>> MAJOR_SHIFT !== major || major === CBOR_NINT || major > CBOR_MAP) return ERR_CBOR;
  let n = buf[pos++] & AI_MASK;
  if (n > AI_DIRECT_MAX) {
    const k = 1 << (n - AI_1);
    if (n > AI_8 || end - pos < k) return ERR_CBOR;
    n = 0;
    for (const stop = pos + k; pos < stop; pos++) n = n * TWO_8 + buf[pos];
    if (n > CBOR_MAX_INT) return ERR_CBOR;
  }
  // Bytes the item needs at least after its head: a string's content, one per array item, two per map pair.
  if ((major === CBOR_UINT ? 0 : major === CBOR_MAP ? n * 2 : n) > end - pos) return ERR_CBOR;
  if (major === CBOR_UINT) r.value = n;
  else if (major === CBOR_BYTES || major === CBOR_TEXT) {
    r.dataOff = pos;
    pos += n;
  }
  r.pos = pos;
  return n;
}

/** Reads an unsigned integer; returns it (0 … 2⁵³−1) or ERR_CBOR if the next item is anything else. */
export function readUint(r: CborReader): number {
  return readHead(r, CBOR_UINT);
}

/** Reads an integer (major type 0 or 1) into r.value; returns OK or ERR_CBOR (also for −2⁵³, outside the subset). */
export function readInt(r: CborReader): number {
  const arg = parseHead(r, r.pos);
  if (arg < 0) return arg;
  if (headMajor === CBOR_UINT) r.value = arg;
  else if (headMajor === CBOR_NINT && arg < CBOR_MAX_INT) r.value = -1 - arg;
  else return ERR_CBOR;
  r.pos = headNext;
  return OK;
}

/** Reads a byte string; returns its length with its content at r.buf[r.dataOff …), or ERR_CBOR. No copy. */
export function readBytes(r: CborReader): number {
  return readHead(r, CBOR_BYTES);
}

/** Reads a text string (UTF-8 validated); returns its byte length with content at r.buf[r.dataOff …), or ERR_CBOR. */
export function readText(r: CborReader): number {
  const pos = r.pos;
  const dataOff = r.dataOff;
  const n = readHead(r, CBOR_TEXT);
  if (n >= 0 && utf8Validate(r.buf, r.dataOff, n) !== OK) {
    r.pos = pos;
    r.dataOff = dataOff;
    return ERR_CBOR;
  }
  return n;
}

/** Reads an array head; returns its item count, or ERR_CBOR (also when the count cannot fit in the bytes left). */
export function readArrayHead(r: CborReader): number {
  return readHead(r, CBOR_ARRAY);
}

/** Reads a map head; returns its pair count, or ERR_CBOR (also when 2 × count cannot fit in the bytes left). */
export function readMapHead(r: CborReader): number {
  return readHead(r, CBOR_MAP);
}

/** Reads true or false; returns 1 or 0, or ERR_CBOR. */
export function readBool(r: CborReader): number {
  const arg = parseHead(r, r.pos);
  if (arg < 0) return arg;
  if (headMajor !== MAJOR_SIMPLE || arg === SIMPLE_NULL) return ERR_CBOR;
  r.pos = headNext;
  return arg === SIMPLE_TRUE ? 1 : 0;
}

/** Reads null; returns OK or ERR_CBOR. */
export function readNull(r: CborReader): number {
  const arg = parseHead(r, r.pos);
  if (arg < 0) return arg;
  if (headMajor !== MAJOR_SIMPLE || arg !== SIMPLE_NULL) return ERR_CBOR;
  r.pos = headNext;
  return OK;
}

// Items still to skip per open container, for skipItem without recursion. One stack for every
// reader (skipItem runs to completion without callbacks, so no two uses overlap), marked pure so
// that a bundle without skipItem (the meter) drops it: 136 B, ~14 Espruino variables. (esbuild
// keeps a pure `new` whose argument is an expression such as `a + 1`, so the expression sits in
// a pure call without arguments.)
const SKIP_STACK = /* @__PURE__ */ (() => new Float64Array(CBOR_MAX_DEPTH + 1))();

/**
 * Skips one complete item of the subset (validating it, UTF-8 included), iteratively: returns OK,
 * ERR_CBOR, or ERR_CBOR_DEPTH when containers nest deeper than CBOR_MAX_DEPTH. r.pos moves only on OK.
 */
export function skipItem(r: CborReader): number {
  const stack = SKIP_STACK;
  let depth = 0;
  stack[0] = 1; // items left at the current level
  let pos = r.pos;
  for (;;) {
    // Pop finished levels.
    while (stack[depth] === 0) {
      if (depth === 0) {
        r.pos = pos;
        return OK;
      }
      depth--;
    }
    stack[depth]--;
    const arg = parseHead(r, pos);
    if (arg < 0) return arg;
    const major = headMajor;
    pos = headNext;
    if (major === CBOR_BYTES || major === CBOR_TEXT) {
      if (arg > r.end - pos) return ERR_CBOR;
      if (major === CBOR_TEXT && utf8Validate(r.buf, pos, arg) !== OK) return ERR_CBOR;
      pos += arg;
    } else if (major === CBOR_NINT) {
      if (arg >= CBOR_MAX_INT) return ERR_CBOR;
    } else if (major === CBOR_ARRAY || major === CBOR_MAP) {
      const items = major === CBOR_MAP ? arg * 2 : arg;
      if (items > r.end - pos) return ERR_CBOR;
      if (depth + 1 > CBOR_MAX_DEPTH) return ERR_CBOR_DEPTH;
      depth++;
      stack[depth] = items;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Convenience layer for plain JS values (allocates; host and tests).

/** A JS value in the subset: integers, strings, booleans, null, byte strings, arrays, maps (as objects). */
export type CborValue = number | string | boolean | null | Uint8Array | CborValue[] | CborObject;
/** A CBOR map as a plain object; integer keys appear as their decimal strings ("1", "-5"). */
export interface CborObject {
  [key: string]: CborValue;
}
/** Result of decodeValue: err is OK and value set, or err < 0 and value null. */
export interface CborDecoded {
  err: number;
  value: CborValue;
}

function isPlainObject(v: object): boolean {
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

/** Map key convention: a key that is the canonical decimal form of a safe integer is written as a CBOR integer. */
function integerKey(k: string): number | null {
  const n = Number(k);
  if (k.length === 0 || String(n) !== k || Math.floor(n) !== n || n < -CBOR_MAX_INT || n > CBOR_MAX_INT) return null;
  return n;
}

function encodedLength(v: unknown, depth: number): number {
  if (v === null || v === true || v === false) return 1;
  if (typeof v === 'number') {
    if (Math.floor(v) !== v || v < -CBOR_MAX_INT || v > CBOR_MAX_INT) return ERR_CBOR;
    return cborHeadLen(v < 0 ? -1 - v : v);
  }
  if (typeof v === 'string') {
    const n = utf8Length(v);
    return n < 0 ? n : cborHeadLen(n) + n;
  }
  if (typeof v !== 'object') return ERR_CBOR;
  if (v instanceof Uint8Array) return cborHeadLen(v.length) + v.length;
  if (depth >= CBOR_MAX_DEPTH) return ERR_CBOR_DEPTH;
  if (Array.isArray(v)) {
    let total = cborHeadLen(v.length);
    for (let i = 0; i < v.length; i++) {
      const n = encodedLength(v[i], depth + 1);
      if (n < 0) return n;
      total += n;
    }
    return total;
  }
  if (!isPlainObject(v)) return ERR_CBOR;
  const o = v as { [k: string]: unknown };
  const keys = Object.keys(o);
  let total = cborHeadLen(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    const ik = integerKey(k);
    const kn = ik === null ? encodedLength(k, depth + 1) : encodedLength(ik, depth + 1);
    if (kn < 0) return kn;
    const n = encodedLength(o[k], depth + 1);
    if (n < 0) return n;
    total += kn + n;
  }
  return total;
}

function encodeInto(v: unknown, out: Uint8Array, off: number): number {
  if (v === null) return writeNull(out, off);
  if (v === true || v === false) return writeBool(out, off, v);
  if (typeof v === 'number') return writeInt(out, off, v);
  if (typeof v === 'string') return writeText(out, off, v);
  if (v instanceof Uint8Array) return writeBytes(out, off, v, 0, v.length);
  if (Array.isArray(v)) {
    let o = writeArrayHead(out, off, v.length);
    for (let i = 0; i < v.length && o >= 0; i++) o = encodeInto(v[i], out, o);
    return o;
  }
  const obj = v as { [k: string]: unknown };
  const keys = Object.keys(obj);
  let o = writeMapHead(out, off, keys.length);
  for (let i = 0; i < keys.length && o >= 0; i++) {
    const ik = integerKey(keys[i]);
    o = ik === null ? writeText(out, o, keys[i]) : writeInt(out, o, ik);
    o = encodeInto(obj[keys[i]], out, o);
  }
  return o;
}

/** Returns the encoded size of a JS value in the subset, ERR_CBOR if it is outside it, or ERR_CBOR_DEPTH (also for cycles). */
export function cborEncodedLength(value: unknown): number {
  return encodedLength(value, 0);
}

/**
 * Encodes a plain JS value (safe integers, strings, booleans, null, Uint8Array, arrays, plain
 * objects — keys that are canonical decimal integers become CBOR integers) into out[off..);
 * returns the new offset, ERR_CBOR / ERR_CBOR_DEPTH for values outside the subset, or ERR_BUFFER.
 * Validates and sizes first, so nothing is written on error.
 */
export function encodeValue(value: unknown, out: Uint8Array, off: number): number {
  if (off < 0) return off;
  const n = encodedLength(value, 0);
  if (n < 0) return n;
  if (off > out.length || out.length - off < n) return ERR_BUFFER;
  return encodeInto(value, out, off);
}

function fail(res: CborDecoded, err: number): boolean {
  res.err = err;
  res.value = null;
  return false;
}

function hasOwn(o: CborObject, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}

function decodeItem(r: CborReader, depth: number, res: CborDecoded): boolean {
  const kind = cborPeek(r);
  if (kind < 0) return fail(res, kind);
  if (kind === CBOR_UINT || kind === CBOR_NINT) {
    const e = readInt(r);
    if (e < 0) return fail(res, e);
    res.value = r.value;
    return true;
  }
  if (kind === CBOR_BYTES) {
    const n = readBytes(r);
    if (n < 0) return fail(res, n);
    res.value = r.buf.subarray(r.dataOff, r.dataOff + n);
    return true;
  }
  if (kind === CBOR_TEXT) {
    const n = readText(r);
    if (n < 0) return fail(res, n);
    res.value = utf8Decode(r.buf, r.dataOff, n);
    return true;
  }
  if (kind === CBOR_BOOL) {
    res.value = readBool(r) === 1;
    return true;
  }
  if (kind === CBOR_NULL) {
    readNull(r);
    res.value = null;
    return true;
  }
  if (depth >= CBOR_MAX_DEPTH) return fail(res, ERR_CBOR_DEPTH);
  if (kind === CBOR_ARRAY) {
    const n = readArrayHead(r);
    if (n < 0) return fail(res, n);
    const arr: CborValue[] = [];
    for (let i = 0; i < n; i++) {
      if (!decodeItem(r, depth + 1, res)) return false;
      arr.push(res.value);
    }
    res.value = arr;
    return true;
  }
  const n = readMapHead(r);
  if (n < 0) return fail(res, n);
  const obj: CborObject = {};
  for (let i = 0; i < n; i++) {
    const kk = cborPeek(r);
    if (kk !== CBOR_UINT && kk !== CBOR_NINT && kk !== CBOR_TEXT) return fail(res, kk < 0 ? kk : ERR_CBOR);
    if (!decodeItem(r, depth + 1, res)) return false;
    const key = String(res.value);
    if (hasOwn(obj, key)) return fail(res, ERR_CBOR); // duplicate key (RFC 8949 §5.6), incl. 1 vs "1"
    if (!decodeItem(r, depth + 1, res)) return false;
    // defineProperty, not assignment: a "__proto__" key must become data, not the prototype.
    Object.defineProperty(obj, key, { value: res.value, enumerable: true, writable: true, configurable: true });
  }
  res.value = obj;
  return true;
}

/**
 * Decodes exactly one item filling buf[off..off+len) into plain JS values (byte strings are
 * subarrays of buf, not copies; maps become objects with string keys, integer keys as decimal
 * strings). Returns { err: OK, value } or { err < 0, value: null }: ERR_CBOR for anything outside
 * the subset, trailing bytes or duplicate keys, ERR_CBOR_DEPTH, ERR_BUFFER for a bad range. Allocates.
 */
export function decodeValue(buf: Uint8Array, off: number, len: number): CborDecoded {
  const res: CborDecoded = { err: OK, value: null };
  const r = createCborReader();
  const e = cborReaderInit(r, buf, off, len);
  if (e < 0) {
    fail(res, e);
    return res;
  }
  if (!decodeItem(r, 0, res)) return res;
  if (cborReaderDone(r) !== OK) fail(res, ERR_CBOR);
  return res;
}
