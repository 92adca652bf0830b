// The Node "sim" board: runs the same firmware as a device, with file-backed atomic storage,
// serial ports from `serialport` (a PTY from socat or a USB adapter) or in memory, a system or
// manual clock, simulated pins fed by a deterministic synthetic load, and node:crypto AES.
import type { Board, BoardProfile, Clock, SerialPort, Storage } from '../types.ts';
import { sim } from '../../profiles/sim.ts';
import { createFileStorage, createMemoryStorage } from './storage.ts';
import { createSystemClock, createManualClock } from './clock.ts';
import { createSimPins } from './pins.ts';
import type { SimPins } from './pins.ts';
import { createNodeAes } from './aes.ts';
import { startSyntheticLoad, syntheticPower, SyntheticLoad, LOAD_TIMER_MS } from './load.ts';
import { openSerialPort, createSerialPair, DEFAULT_BAUD } from './serial.ts';
import type { ClosableSerialPort } from './serial.ts';

export {
  createFileStorage,
  createMemoryStorage,
  createSystemClock,
  createManualClock,
  createSimPins,
  createNodeAes,
  openSerialPort,
  createSerialPair,
  DEFAULT_BAUD,
};
export { startSyntheticLoad, syntheticPower, SyntheticLoad, LOAD_TIMER_MS };
export type { SimPins, ClosableSerialPort };

export interface SimBoardOptions {
  /** Directory for storage records; omitted = in-memory storage (tests). */
  dir?: string;
  /** Or a ready storage (e.g. one shared across a simulated reboot). */
  storage?: Storage;
  /** Serial lines already opened (in-memory pairs, or ports from openSerialPort). */
  serial?: SerialPort[];
  clock?: Clock;
  /** Use node:crypto as the AES provider (default true); false makes the app use the core's softAes. */
  nativeAes?: boolean;
  /** Where log lines go (default: stderr with the board name). */
  log?: (msg: string) => void;
  profile?: BoardProfile;
  /**
   * Drive the pulse input from the deterministic synthetic load on the board clock (default true,
   * so a simulated meter produces readings); false when a test injects pulses itself.
   */
  syntheticLoad?: boolean;
}

/** A sim Board plus its simulated pins, so a test or the CLI can press tamper or read the relay. */
export interface SimBoard extends Board {
  pins: SimPins;
}

/** Builds a sim board synchronously from already-open parts. */
export function createSimBoard(opts: SimBoardOptions = {}): SimBoard {
  const profile = opts.profile ?? sim;
  const storage = opts.storage ?? (opts.dir !== undefined ? createFileStorage(opts.dir) : createMemoryStorage());
  const board: SimBoard = {
    profile,
    serial: opts.serial ?? [],
    storage,
    clock: opts.clock ?? createSystemClock(),
    pins: createSimPins(),
    log:
      opts.log ??
      ((msg: string) => {
        process.stderr.write(`[${profile.name}] ${msg}\n`);
      }),
  };
  if (opts.nativeAes !== false) board.aes = createNodeAes();
  if (opts.syntheticLoad !== false) startSyntheticLoad(board.clock, board.pins.pulse);
  return board;
}

/** Opens the given serial devices (in order) and builds a sim board on them; close() releases the ports. */
export async function openSimBoard(
  opts: SimBoardOptions & { ports: { path: string; baud?: number }[] },
): Promise<SimBoard & { close(): Promise<void> }> {
  const opened: ClosableSerialPort[] = [];
  try {
    for (const p of opts.ports) opened.push(await openSerialPort(p.path, p.baud ?? DEFAULT_BAUD));
  } catch (e) {
    await Promise.all(opened.map((s) => s.close()));
    throw e;
  }
  const clock = opts.clock ?? createSystemClock();
  const board = createSimBoard({ ...opts, clock, serial: [...(opts.serial ?? []), ...opened] });
  return Object.assign(board, {
    async close(): Promise<void> {
      const c = clock as Clock & { stop?: () => void };
      if (typeof c.stop === 'function') c.stop();
      await Promise.all(opened.map((s) => s.close()));
    },
  });
}
