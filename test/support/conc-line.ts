// A concentrator's TCP line to the HES server in tests: link frames out through the serial framing,
// the link counters the HES acknowledged (LINK_ACK) collected. Used by the server tests that need an
// honest concentrator next to a hostile peer.
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { encodeSerialFrame, SerialDeframer, MAX_LINK_FRAME, serialEncodedMaxLen, LINK_ACK, decodeValue } from '@vakt/shared';
import type { KitConcentrator } from '../../host/src/hes/testkit.ts';

export interface ConcLine {
  sock: Socket;
  /** Link counters of the frames the HES acknowledged. */
  acked: Set<number>;
  send(...frames: Uint8Array[]): void;
}

/** Serial-framed bytes of several link frames, back to back. */
export function serialOf(frames: Uint8Array[]): Buffer {
  const buf = new Uint8Array(serialEncodedMaxLen(MAX_LINK_FRAME));
  return Buffer.concat(frames.map((f) => Buffer.from(buf.subarray(0, encodeSerialFrame(f, 0, f.length, buf, 0)))));
}

/** Connects concentrator `c` to the HES server on localhost:`port`. */
export function concLine(port: number, c: KitConcentrator): ConcLine {
  const acked = new Set<number>();
  const deframer = new SerialDeframer(MAX_LINK_FRAME, (b, o, n) => {
    const u = c.unwrap(b.slice(o, o + n));
    if (typeof u === 'number' || u.type !== LINK_ACK) return;
    const d = decodeValue(u.body, 0, u.body.length);
    if (d.err === 0) acked.add((d.value as number[])[0]!);
  });
  const sock = connect(port, '127.0.0.1');
  sock.on('data', (d) => deframer.push(d, 0, d.length));
  sock.on('error', () => undefined);
  return { sock, acked, send: (...frames) => sock.write(serialOf(frames)) };
}
