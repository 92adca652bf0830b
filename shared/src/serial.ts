/**
 * Serial framing of PROTOCOL.md §9 for radio-modem lines (and the concentrator↔HES TCP stream):
 * each frame travels as COBS(frame ‖ CRC16) followed by one 0x00 delimiter, CRC-16/CCITT-FALSE
 * big-endian. The deframer decodes COBS on the fly into one bounded buffer it owns, so a hostile
 * or noisy line can never make it allocate or buffer more than maxFrameLen + 2 bytes.
 */

import { COBS_BLOCK_DATA, COBS_DELIMITER, COBS_MAX_CODE, cobsMaxEncodedLen } from './cobs.ts';
import { CRC16_INIT, CRC16_LEN, crc16Update } from './crc16.ts';
import { ERR_BUFFER, ERR_CRC, ERR_FRAMING, ERR_OVERSIZE, OK } from './errors.ts';
import { inRange } from './utils.ts';

/** Byte that ends every serial frame (and that COBS removes from the frame itself). */
export const SERIAL_DELIMITER = COBS_DELIMITER;

/** Receives one CRC-checked frame; buf[off..off+len) is valid only until the next push(). */
export type SerialFrameHandler = (buf: Uint8Array, off: number, len: number) => void;

/** Returns the most bytes encodeSerialFrame writes for a frame of frameLen bytes (delimiter included). */
export function serialEncodedMaxLen(frameLen: number): number {
  return cobsMaxEncodedLen(frameLen + CRC16_LEN) + 1;
}

/**
 * Writes COBS(frame[off..off+len) ‖ CRC16) ‖ 0x00 to out[outOff..); returns the number of bytes
 * written, or ERR_BUFFER (out untouched) when out has fewer than serialEncodedMaxLen(len) bytes
 * left or the input range is invalid. No temporary buffer: the CRC bytes are fed to the encoder last.
 */
export function encodeSerialFrame(frame: Uint8Array, off: number, len: number, out: Uint8Array, outOff: number): number {
  if (off < 0 || len < 0 || off + len > frame.length) return ERR_BUFFER;
  if (outOff < 0 || out.length - outOff < serialEncodedMaxLen(len)) return ERR_BUFFER;
  const crc = crc16Update(CRC16_INIT, frame, off, len);
  const total = len + CRC16_LEN;
  let codePos = outOff;
  let w = outOff + 1;
  let code = 1;
  for (let i = 0; i < total; i++) {
    var b = i < len ? frame[off + i] : i === len ? crc >>> 8 : crc & 0xff;
    if (b === 0) {
      out[codePos] = code;
      codePos = w++;
      code = 1;
    } else {
      out[w++] = b;
      code++;
      if (code === COBS_MAX_CODE && i + 1 < total) {
        out[codePos] = code;
        codePos = w++;
        code = 1;
      }
    }
  }
  out[codePos] = code;
  out[w++] = SERIAL_DELIMITER;
  return w - outOff;
}

/**
 * Smallest scratch buffer writeSerialFrame accepts. Any non-empty buffer is correct: the encoder
 * reads each COBS block's length ahead in the frame (the whole frame is in memory) and writes the
 * code byte before the block's data, so no byte is ever waiting for a later one and a full
 * scratch can always be handed out. A larger scratch only means fewer out.write calls.
 */
export const SERIAL_BLOCK_MIN = 1;

// SerialDeframer states besides a block's byte count: no byte since the last delimiter (the next
// byte is a packet's first code byte), and an oversize packet being ignored up to its delimiter.
const RX_IDLE = -1;
const RX_SKIP = -2;

/**
 * COBS-encodes frame[off..off+len) ‖ CRC-16 plus the 0x00 delimiter into scratch and hands it to
 * out.write(scratch.subarray(0, n)) each time scratch is full and at the end; returns the total
 * bytes written, or a negative ERR_* code (nothing written) when len is out of range or
 * scratch.length < SERIAL_BLOCK_MIN. The concatenated writes equal encodeSerialFrame's output; a
 * frame whose encoding fits in scratch goes out in one write. A full scratch is passed as scratch
 * itself (no view allocated); out must consume or copy the bytes before returning.
 */
export function writeSerialFrame(
  frame: Uint8Array,
  off: number,
  len: number,
  scratch: Uint8Array,
  out: { write(data: Uint8Array): void },
): number {
  var cap = scratch.length;
  if (!inRange(frame.length, off, len) || cap < SERIAL_BLOCK_MIN) return ERR_BUFFER;
  var crc = crc16Update(CRC16_INIT, frame, off, len);
  var total = len + CRC16_LEN; // bytes of frame ‖ CRC; index k >= len reads the CRC, big-endian
  var w = 0; // bytes handed to out.write so far
  var p = 0; // bytes waiting in scratch
  var i = 0;
  var k, e;
  for (;;) {
    // Block i..j ends before the next zero, after COBS_BLOCK_DATA bytes, or at the end of the input:
    // in the frame one native search finds it, in the 2 CRC bytes a look at each.
    var lim = total - i > COBS_BLOCK_DATA ? i + COBS_BLOCK_DATA : total;
    // (indexOf inline, not cobs.ts zeroIndex: on Espruino every function and parameter costs RAM.)
    var j = i;
    if (i < len) {
      j = frame.indexOf(COBS_DELIMITER, off + i) - off;
      if (j < i || j > (lim < len ? lim : len)) j = lim < len ? lim : len;
    }
    while (j >= len && j < lim && (j === len ? crc >>> 8 : crc & 0xff) !== 0) j++;
    // Position k = i - 1 is the block's code byte, i..j-1 its data: the frame's bytes in runs of a
    // plain copy loop (no views: the core allocates nothing in steady state; few tokens per byte:
    // the Espruino interpreter pays per token executed), then the CRC bytes one at a time.
    k = i - 1;
    while (k < j) {
      if (k >= i && k < len) {
        // A run of frame bytes: to the block's end, the frame's end or the scratch's end.
        e = j < len ? j : len;
        if (e - k > cap - p) e = k + cap - p;
        while (k < e) scratch[p++] = frame[off + k++];
      } else {
        scratch[p++] = k < i ? j - i + 1 : k === len ? crc >>> 8 : crc & 0xff;
        k++;
      }
      if (p === cap) {
        out.write(scratch);
        w += cap;
        p = 0;
      }
    }
    if (j === total) break;
    // A zero ended the block: skip it (the code byte implies it). A full block implies no zero,
    // and input ending on a full block gets no trailing 0x01 block (as cobsEncode).
    i = j - i === COBS_BLOCK_DATA ? j : j + 1;
  }
  // The delimiter (scratch is never left full above); the last write is then a full scratch or
  // the part of it in use.
  scratch[p++] = SERIAL_DELIMITER;
  out.write(p === cap ? scratch : scratch.subarray(0, p));
  return w + p;
}

/**
 * Streaming deframer for one serial line. push() accepts bytes in any chunking. A complete frame
 * whose CRC verifies is delivered as (buf, 0, len) — to the handler if one was given, otherwise by
 * stopping push() right after the frame's delimiter with frameLen ≥ 0 (poll mode). Bad packets are
 * counted and dropped: crcErrors (ERR_CRC, line noise), oversize (ERR_OVERSIZE: buffering stops at
 * the limit and resumes after the next 0x00) and framingErrors (ERR_FRAMING: truncated COBS block,
 * or a packet too short to hold a CRC). Empty packets (consecutive 0x00) are idle line, not errors.
 * Allocates only in the constructor.
 *
 * Known limit of the §9 CRC: CRC-16/CCITT-FALSE has residue 0, so a good packet followed by extra
 * 0x00 bytes still checks. One bit flip that turns a frame's delimiter into 0x01, followed by an
 * idle 0x00, therefore delivers frame ‖ CRC-high-byte as a (wrong) frame; its length contradicts
 * its header, so parseHeader refuses it with ERR_LENGTH before any cryptography (never ERR_TAG).
 */
export class SerialDeframer {
  /** Decoded bytes of the current packet (frame ‖ CRC); a delivered frame is buf[0..len). */
  readonly buf: Uint8Array;
  /** Largest frame (without CRC) accepted. */
  readonly maxFrameLen: number;
  /** Poll mode: length of the frame waiting in buf[0..frameLen) after push() returned, −1 if none. */
  frameLen!: number; // set by reset()
  /** Frames delivered. */
  frames: number;
  /** Packets dropped for a CRC mismatch (ERR_CRC). */
  crcErrors: number;
  /** Packets dropped for exceeding maxFrameLen (ERR_OVERSIZE). */
  oversize: number;
  /** Packets dropped for malformed COBS or a length below the CRC (ERR_FRAMING). */
  framingErrors: number;
  /** Code of the last dropped packet (ERR_CRC, ERR_OVERSIZE, ERR_FRAMING) or OK if none yet. */
  lastError: number;
  private handler_: SerialFrameHandler | undefined;
  // Private names of at most 8 characters: each takes one Espruino variable instead of two.
  private n!: number; // decoded bytes of the current packet
  private left_!: number; // data bytes still expected in the current COBS block (0: a code byte comes next), or RX_IDLE / RX_SKIP
  private zero_: boolean; // when left is 0: the finished block implies a 0x00, unless the packet ends here

  /** Creates a deframer accepting frames of up to maxFrameLen bytes (e.g. MAX_LINK_FRAME); the only allocation. */
  constructor(maxFrameLen: number, handler?: SerialFrameHandler) {
    const max = maxFrameLen > 0 ? Math.floor(maxFrameLen) : 0;
    this.maxFrameLen = max;
    this.buf = new Uint8Array(max + CRC16_LEN);
    this.handler_ = handler;
    this.frames = 0;
    this.crcErrors = 0;
    this.oversize = 0;
    this.framingErrors = 0;
    this.lastError = OK;
    this.zero_ = false;
    this.reset();
  }

  /** Drops any partial packet (e.g. after the line was reopened); counters are kept. */
  reset(): void {
    this.n = 0;
    this.left_ = RX_IDLE;
    this.frameLen = -1;
  }

  /**
   * Feeds chunk[off..off+len); returns how many bytes were consumed: all of them with a handler,
   * or, in poll mode, up to and including the delimiter of the first good frame (then frameLen ≥ 0;
   * call push again with the rest). Never throws on any byte sequence; returns 0 for an invalid range.
   */
  push(chunk: Uint8Array, off: number, len: number): number {
    this.frameLen = -1;
    if (off < 0 || len <= 0 || off + len > chunk.length) return 0;
    const buf = this.buf;
    const end = off + len;
    for (let i = off; i < end;) {
      var left = this.left_;
      if (left > 0) {
        // Data bytes of the current block, up to its end or the next 0x00 (one native search),
        // kept in one copy loop instead of one trip through this state machine per byte.
        var lim = end - i > left ? i + left : end;
        var z = chunk.indexOf(SERIAL_DELIMITER, i);
        if (z < 0 || z > lim) z = lim;
        var n = this.n;
        // No more than fits: the byte after a full buffer goes the byte-wise way below, which
        // counts the oversize packet (once) and ignores it up to its delimiter.
        if (z - i > buf.length - n) z = i + buf.length - n;
        if (z > i) {
          this.left_ = left - (z - i);
          while (i < z) buf[n++] = chunk[i++];
          this.n = n;
          continue;
        }
      } else if (left === RX_SKIP) {
        // An oversize packet: straight to its delimiter.
        i = chunk.indexOf(SERIAL_DELIMITER, i);
        if (i < 0) break;
      }
      var b = chunk[i++];
      if (b === SERIAL_DELIMITER) {
        // The packet ends: check it, count it if bad, and start the next one afresh.
        var n = this.n;
        var flen = n - CRC16_LEN;
        this.reset();
        if (left < 0) {
          // Idle delimiter, or an oversize packet already counted when the limit was hit.
        } else if (left !== 0 || flen < 0) {
          this.framingErrors++;
          this.lastError = ERR_FRAMING;
        } else if (crc16Update(CRC16_INIT, buf, 0, n) !== 0) {
          // frame ‖ CRC checks to 0 exactly when the CRC is the frame's (residue 0, crc16.ts).
          this.crcErrors++;
          this.lastError = ERR_CRC;
        } else {
          this.frames++;
          if (!this.handler_) {
            this.frameLen = flen;
            return i - off;
          }
          this.handler_(buf, 0, flen);
        }
        continue;
      }
      if (left === RX_SKIP) continue;
      var store = b; // the decoded byte this input byte yields, if any
      if (left > 0) this.left_ = left - 1;
      else {
        // A code byte: the previous block's implied zero is real now that more data follows.
        store = left === 0 && this.zero_ ? 0 : -1;
        this.zero_ = b !== COBS_MAX_CODE;
        this.left_ = b - 1;
      }
      if (store < 0) continue;
      if (this.n < buf.length) buf[this.n++] = store;
      else {
        // Oversize: counted once here; everything up to the next delimiter is ignored.
        this.left_ = RX_SKIP;
        this.oversize++;
        this.lastError = ERR_OVERSIZE;
      }
    }
    return len;
  }
}
