// One serial line as the apps use it: a bounded deframer in, a preallocated COBS encoder out.
import type { SerialPort } from '@vakt/boards';
import { MAX_LINK_FRAME } from '@vakt/shared/frame';
import { SerialDeframer, encodeSerialFrame, serialEncodedMaxLen } from '@vakt/shared/serial';

/** Receives one CRC-checked link frame: buf[off..off+len) is valid only during the call. */
export type LineHandler = (buf: Uint8Array, off: number, len: number) => void;

/** A serial line with fixed receive and transmit buffers. */
export class Line {
  readonly rx: SerialDeframer;
  private tx = new Uint8Array(serialEncodedMaxLen(MAX_LINK_FRAME));
  /** Frames written. */
  sent = 0;

  constructor(private readonly port: SerialPort | undefined, handler: LineHandler) {
    this.rx = new SerialDeframer(MAX_LINK_FRAME, handler);
  }

  /** Feeds received bytes; never throws on any byte sequence. */
  push(chunk: Uint8Array): void {
    this.rx.push(chunk, 0, chunk.length);
  }

  /** Frames and writes frame[off..off+len); false when it could not be encoded or there is no port. */
  send(frame: Uint8Array, off: number, len: number): boolean {
    const n = encodeSerialFrame(frame, off, len, this.tx, 0);
    if (n < 0 || this.port === undefined) return false;
    this.port.write(this.tx.subarray(0, n));
    this.sent++;
    return true;
  }
}
