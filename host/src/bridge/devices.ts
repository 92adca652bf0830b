/**
 * Runs the real firmware apps on the Node sim board with host transports: a meter on one serial
 * line, a concentrator with its HES link on serial[0] and meter lines on serial[1..]. Shared by
 * `vakt meter sim`, `vakt concentrator`, the demo and the end-to-end tests.
 */
import type { Clock, SerialPort, Storage } from '@vakt/boards';
import { createFileStorage, createMemoryStorage, createSimBoard, type SimBoard } from '@vakt/boards/sim/index';
import { parseConcentratorProv, parseMeterProv, type ConcentratorProv, type MeterProv } from '@vakt/firmware/common/prov';
import { REC_PROV } from '@vakt/firmware/common/records';
import { startConcentrator, type ConcentratorApp, type ConcentratorOptions } from '@vakt/firmware/concentrator/index';
import { startMeter, type MeterApp, type MeterOptions } from '@vakt/firmware/meter/index';

/** Hex of an id (16 digits for the 8-byte device ids). */
export function idHex(id: Uint8Array): string {
  let s = '';
  for (const b of id) s += b.toString(16).padStart(2, '0');
  return s;
}

/** The provisioning image's device kind, in words, for error messages. */
function describeImage(img: Uint8Array): string {
  if (parseMeterProv(img) !== undefined) return 'a meter image';
  if (parseConcentratorProv(img) !== undefined) return 'a concentrator image';
  return 'not a provisioning image (PROTOCOL.md §11)';
}

/** Parses a meter image or throws a plain one-line Error saying what the file is instead. */
export function requireMeterImage(img: Uint8Array, name: string): MeterProv {
  const p = parseMeterProv(img);
  if (p === undefined) throw new Error(`${name} is ${describeImage(img)}, not a meter provisioning image`);
  return p;
}

/** Parses a concentrator image or throws a plain one-line Error saying what the file is instead. */
export function requireConcentratorImage(img: Uint8Array, name: string): ConcentratorProv {
  const p = parseConcentratorProv(img);
  if (p === undefined) throw new Error(`${name} is ${describeImage(img)}, not a concentrator provisioning image`);
  return p;
}

/**
 * Storage for a device: file-backed in `dir` (state survives restarts) or in memory. The image is
 * written as record 'prov' on first use; a directory already provisioned with a different image is
 * refused, so one device's counters are never reused by another.
 */
export function deviceStorage(img: Uint8Array, dir: string | undefined): Storage {
  const st = dir === undefined ? createMemoryStorage() : createFileStorage(dir);
  const cur = st.read(REC_PROV);
  if (cur === undefined) st.write(REC_PROV, img);
  else if (cur.length !== img.length || cur.some((b, i) => b !== img[i])) {
    throw new Error(`state directory ${dir ?? '(memory)'} belongs to another device; use a fresh --state directory`);
  }
  return st;
}

/** A meter running on a sim board. */
export interface SimMeter {
  id: string;
  app: MeterApp;
  board: SimBoard;
  prov: MeterProv;
}

/** Starts the meter firmware on a sim board whose serial[0] is `line`. */
export function runMeter(o: {
  image: Uint8Array;
  line: SerialPort;
  storage: Storage;
  clock: Clock;
  log?: (m: string) => void;
  options?: MeterOptions;
  /** Feed the pulse input from the board's synthetic load timer (default true); false when the caller drives the load. */
  syntheticLoad?: boolean;
}): SimMeter {
  const prov = requireMeterImage(o.image, 'the image');
  const board = createSimBoard({
    storage: o.storage,
    serial: [o.line],
    clock: o.clock,
    log: o.log ?? (() => undefined),
    syntheticLoad: o.syntheticLoad,
  });
  const app = startMeter(board, o.options);
  return { id: idHex(prov.meterId), app, board, prov };
}

/** A concentrator running on a sim board. */
export interface SimConcentrator {
  id: string;
  app: ConcentratorApp;
  board: SimBoard;
  prov: ConcentratorProv;
}

/** A transport that reports (re)connections, such as HesLink. */
export interface Reconnecting {
  onConnect(cb: () => void): void;
}

/**
 * Starts the concentrator firmware on a sim board: serial[0] = `hes`, serial[1..] = `meterLines`.
 * The concentrator announces itself (hello) on every (re)connection of `link`, or of `hes` when it
 * is a reconnecting transport: the HES sends nothing on a connection before that.
 */
export function runConcentrator(o: {
  image: Uint8Array;
  hes: SerialPort;
  meterLines: SerialPort[];
  storage: Storage;
  clock: Clock;
  log?: (m: string) => void;
  options?: ConcentratorOptions;
  link?: Reconnecting;
}): SimConcentrator {
  const prov = requireConcentratorImage(o.image, 'the image');
  // A concentrator has no consumer behind it: no synthetic load on its pulse input.
  const board = createSimBoard({
    storage: o.storage,
    serial: [o.hes, ...o.meterLines],
    clock: o.clock,
    log: o.log ?? (() => undefined),
    syntheticLoad: false,
  });
  const app = startConcentrator(board, o.options);
  const link =
    o.link ?? (typeof (o.hes as Partial<Reconnecting>).onConnect === 'function' ? (o.hes as unknown as Reconnecting) : undefined);
  link?.onConnect(() => app.hello());
  return { id: idHex(prov.concentratorId), app, board, prov };
}
