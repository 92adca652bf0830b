// `vakt demo`: the attacker's tools — a serial line that records what is written on it, a recorder
// of the first uplink frame of a kind, and the means to cut, inspect, alter and re-send frames.
import type { SerialPort } from '@vakt/boards';
import {
  BACKHAUL_VERSION,
  createHeader,
  E2E_VERSION,
  encodeSerialFrame,
  HEADER_LEN,
  ID_LEN,
  LINK_DATA,
  LINK_VERSION,
  MAX_LINK_FRAME,
  OFF_COUNTER,
  OP_READING,
  parseHeader,
  SerialDeframer,
  serialEncodedMaxLen,
} from '@vakt/shared';

/** A serial line whose written bytes can be recorded (the radio channel an attacker listens to). */
export interface TappedLine extends SerialPort {
  capture: boolean;
  captured: Uint8Array[];
}
export function tap(inner: SerialPort): TappedLine {
  const t: TappedLine = {
    capture: false,
    captured: [],
    write(data: Uint8Array): void {
      if (t.capture) t.captured.push(data.slice());
      inner.write(data);
    },
    onData: (cb) => inner.onData(cb),
  };
  return t;
}

/** Keeps the first frame written on `inner` that satisfies `pred` (the uplink an attacker records). */
export interface Recorder extends SerialPort {
  first: Uint8Array | undefined;
}
export function recordFirst(inner: SerialPort, pred: (frame: Uint8Array) => boolean): Recorder {
  const d = new SerialDeframer(MAX_LINK_FRAME, (b, o, l) => {
    if (r.first === undefined && pred(b.subarray(o, o + l))) r.first = b.slice(o, o + l);
  });
  const r: Recorder = {
    first: undefined,
    write(data: Uint8Array): void {
      if (r.first === undefined) d.push(data, 0, data.length);
      inner.write(data);
    },
    onData: (cb) => inner.onData(cb),
  };
  return r;
}

/** Cuts recorded wire bytes into CRC-checked frames. */
export function deframeAll(chunks: Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  const d = new SerialDeframer(MAX_LINK_FRAME, (b, o, l) => out.push(b.slice(o, o + l)));
  for (const c of chunks) d.push(c, 0, c.length);
  return out;
}

/**
 * Where the end-to-end frame inside a DATA link frame starts (radio hop: after its header; backhaul:
 * after the header and the meter id, PROTOCOL.md §7) and its op; null for anything else.
 */
export function innerOf(f: Uint8Array): { at: number; op: number } | null {
  const h = createHeader();
  if (parseHeader(f, 0, f.length, h) < 0 || h.op !== LINK_DATA || (h.version !== LINK_VERSION && h.version !== BACKHAUL_VERSION))
    return null;
  const at = h.version === LINK_VERSION ? h.hdrLen : HEADER_LEN + ID_LEN;
  const e = createHeader();
  if (parseHeader(f, at, h.frameLen - at - h.tagLen, e) < 0 || e.version !== E2E_VERSION) return null;
  return { at: at + e.hdrLen, op: e.op };
}

/** True for a backhaul DATA frame whose inner end-to-end frame is a READING. */
export function isReadingData(f: Uint8Array): boolean {
  return f[0] === BACKHAUL_VERSION && innerOf(f)?.op === OP_READING;
}

/** A counter far above anything a demo run reaches. */
const FORGED_COUNTER = 0xfffff000;

/** Gives a captured backhaul frame a counter no receiver has seen yet, as a forger would. */
export function freshCounter(f: Uint8Array): void {
  new DataView(f.buffer, f.byteOffset, f.length).setUint32(OFF_COUNTER, FORGED_COUNTER);
}

/** Serial wire encoding of one frame (COBS ‖ CRC16 ‖ 0x00), so a forgery is not mere line noise. */
export function wire(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(serialEncodedMaxLen(frame.length));
  return out.slice(0, encodeSerialFrame(frame, 0, frame.length, out, 0));
}
