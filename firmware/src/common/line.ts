// One serial line as the concentrator uses it: a bounded deframer in, a block-wise COBS encoder out.
import type { SerialPort } from '@vakt/boards';
import { MAX_LINK_FRAME } from '@vakt/shared/frame';
import { SerialDeframer, writeSerialFrame } from '@vakt/shared/serial';

/**
 * Bytes handed to SerialPort.write at a time: frames are COBS-encoded through a scratch this
 * large instead of a whole-frame output buffer (RAM on Espruino: 64 bytes cost ~10 variables, a
 * 1 KiB buffer ~70). A longer frame goes out in several writes; the line only sees the bytes.
 */
export const LINE_BLOCK = 64;

/** Receives one CRC-checked link frame: buf[off..off+len) is valid only during the call. */
export type LineHandler = (buf: Uint8Array, off: number, len: number) => void;

/** A serial line with fixed receive and transmit buffers. */
export class Line {
  readonly rx: SerialDeframer;
  private scratch = new Uint8Array(LINE_BLOCK);
  /** Frames written. */
  sent = 0;

  constructor(
    private readonly port: SerialPort | undefined,
    handler: LineHandler,
  ) {
    this.rx = new SerialDeframer(MAX_LINK_FRAME, handler);
  }

  /** Feeds received bytes; never throws on any byte sequence. */
  push(chunk: Uint8Array): void {
    this.rx.push(chunk, 0, chunk.length);
  }

  /** Frames and writes frame[off..off+len) (possibly in several writes); false when it could not be encoded or there is no port. */
  send(frame: Uint8Array, off: number, len: number): boolean {
    if (this.port === undefined || writeSerialFrame(frame, off, len, this.scratch, this.port) < 0) return false;
    this.sent++;
    return true;
  }
}
