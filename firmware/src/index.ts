// @vakt/firmware: the meter and concentrator applications, and the frames each can emit.
import { BACKHAUL_VERSION, E2E_VERSION, LINK_VERSION } from '@vakt/shared/frame';
import {
  DIR_DOWN,
  DIR_UP,
  LINK_ACK,
  LINK_DATA,
  OP_ACK,
  OP_CLOCK,
  OP_CONFIG,
  OP_EVENT,
  OP_FIRMWARE,
  OP_KEY_UPDATE,
  OP_READ,
  OP_READING,
  OP_RELAY,
} from '@vakt/shared/policy';

export { startMeter } from './meter/index.ts';
export type { MeterApp, MeterOptions, MeterStats } from './meter/index.ts';
export { startConcentrator } from './concentrator/index.ts';
export type { ConcentratorApp, ConcentratorOptions, ConcentratorStats } from './concentrator/index.ts';

/** One kind of frame an app can put on a wire: layer (E2E_VERSION / LINK_VERSION radio hop / BACKHAUL_VERSION), op or link type, direction. */
export interface EmittedFrame {
  layer: number;
  op: number;
  dir: number;
}

function f(layer: number, op: number, dir: number): EmittedFrame {
  return { layer: layer, op: op, dir: dir };
}

/**
 * Every (layer, op, direction) the meter emits: its end-to-end uplinks (each inside a link DATA
 * frame) and the link frames themselves. Read by the model<->code agreement test.
 */
export const METER_EMITS: EmittedFrame[] = [
  f(E2E_VERSION, OP_READING, DIR_UP),
  f(E2E_VERSION, OP_READ, DIR_UP),
  f(E2E_VERSION, OP_RELAY, DIR_UP),
  f(E2E_VERSION, OP_CONFIG, DIR_UP),
  f(E2E_VERSION, OP_CLOCK, DIR_UP),
  f(E2E_VERSION, OP_FIRMWARE, DIR_UP),
  f(E2E_VERSION, OP_KEY_UPDATE, DIR_UP),
  f(E2E_VERSION, OP_EVENT, DIR_UP),
  f(E2E_VERSION, OP_ACK, DIR_UP),
  f(LINK_VERSION, LINK_DATA, DIR_UP),
  f(LINK_VERSION, LINK_ACK, DIR_UP),
];

/**
 * Every (layer, op, direction) the concentrator emits. It creates no end-to-end frame (D-8): it
 * only re-wraps meters' and the HES's end-to-end frames in its own link DATA frames.
 */
export const CONCENTRATOR_EMITS: EmittedFrame[] = [
  f(BACKHAUL_VERSION, LINK_DATA, DIR_UP),
  f(LINK_VERSION, LINK_DATA, DIR_DOWN),
  f(BACKHAUL_VERSION, LINK_ACK, DIR_UP),
  f(LINK_VERSION, LINK_ACK, DIR_DOWN),
];
