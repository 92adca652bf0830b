// A small network for frame-level tests: meters A and B (short addresses 1 and 2 on the radio hop),
// concentrator C, HES H, all keys derived from fixed TEST keys with the core. Each device receives
// exactly as PROTOCOL.md §13 describes: parseHeader -> findSlot -> openFrame. Meters and C speak
// radio-hop link frames, C and H backhaul link frames; an e2e frame names no meter, so the HES is
// told which meter sent it (as the backhaul DATA body's meter id tells it, §7).
import * as core from '@vakt/shared';

export const ctx = core.createCryptoCtx();
const id = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'ascii'));
export const ID_A = id('METER-A1');
export const ID_B = id('METER-B2');
export const ID_C = id('CONCEN-C');
export const ID_H = id('HES-0001');
const key = (b: number): Uint8Array => new Uint8Array(16).map((_, i) => (b + i * 17) & 255);
export const MK_A = key(0x11);
export const MK_B = key(0x22);
export const LK_A = key(0x33); // meter A <-> C
export const LK_B = key(0x44); // meter B <-> C
export const LK_C = key(0x55); // C <-> H
export const ADDR_A = 1;
export const ADDR_B = 2;

export interface Device {
  id: Uint8Array;
  tx: core.KeySlot[]; // sending slots
  rx: core.KeySlot[]; // receiving slots
}

function e2eSlot(
  op: number,
  dir: number,
  gen: number,
  local: Uint8Array,
  peer: Uint8Array,
  meterId: Uint8Array,
  mk: Uint8Array,
  send: boolean,
): core.KeySlot {
  const s = core.createKeySlot(core.E2E_VERSION, op, dir, gen, local, peer);
  core.loadE2eKeyFromMaster(ctx, s, mk, 0, meterId);
  if (send) s.ctr = core.createSendCounter(0, 16, () => true);
  return s;
}
function linkSlot(
  dir: number,
  local: Uint8Array,
  peer: Uint8Array,
  deviceId: Uint8Array,
  lk: Uint8Array,
  send: boolean,
  addr?: number,
): core.KeySlot {
  const s = core.createKeySlot(addr === undefined ? core.BACKHAUL_VERSION : core.LINK_VERSION, 0, dir, 0, local, peer, addr);
  core.loadLinkKey(ctx, s, lk, 0, deviceId);
  if (send) s.ctr = core.createSendCounter(0, 16, () => true);
  return s;
}

export interface World {
  A: Device;
  B: Device;
  C: Device;
  H: Device;
}

/** Builds the network with every key at generation 0 and fresh counters. */
export function makeWorld(): World {
  const mk = (meterId: Uint8Array, mkey: Uint8Array, lk: Uint8Array, addr: number): Device => {
    const d: Device = { id: meterId, tx: [], rx: [] };
    for (let op = 1; op <= core.OP_MAX; op++) {
      if (core.policyAllows(core.E2E_VERSION, op, core.DIR_UP)) d.tx.push(e2eSlot(op, core.DIR_UP, 0, meterId, ID_H, meterId, mkey, true));
      if (core.policyAllows(core.E2E_VERSION, op, core.DIR_DOWN))
        d.rx.push(e2eSlot(op, core.DIR_DOWN, 0, meterId, ID_H, meterId, mkey, false));
    }
    d.tx.push(linkSlot(core.DIR_UP, meterId, ID_C, meterId, lk, true, addr));
    d.rx.push(linkSlot(core.DIR_DOWN, meterId, ID_C, meterId, lk, false, addr));
    return d;
  };
  const A = mk(ID_A, MK_A, LK_A, ADDR_A);
  const B = mk(ID_B, MK_B, LK_B, ADDR_B);
  const H: Device = { id: ID_H, tx: [], rx: [] };
  for (const [mid, mkey] of [
    [ID_A, MK_A],
    [ID_B, MK_B],
  ] as const) {
    for (let op = 1; op <= core.OP_MAX; op++) {
      if (core.policyAllows(core.E2E_VERSION, op, core.DIR_UP)) H.rx.push(e2eSlot(op, core.DIR_UP, 0, ID_H, mid, mid, mkey, false));
      if (core.policyAllows(core.E2E_VERSION, op, core.DIR_DOWN)) H.tx.push(e2eSlot(op, core.DIR_DOWN, 0, ID_H, mid, mid, mkey, true));
    }
  }
  H.tx.push(linkSlot(core.DIR_DOWN, ID_H, ID_C, ID_C, LK_C, true));
  H.rx.push(linkSlot(core.DIR_UP, ID_H, ID_C, ID_C, LK_C, false));
  const C: Device = { id: ID_C, tx: [], rx: [] };
  C.tx.push(linkSlot(core.DIR_UP, ID_C, ID_H, ID_C, LK_C, true));
  C.rx.push(linkSlot(core.DIR_DOWN, ID_C, ID_H, ID_C, LK_C, false));
  for (const [mid, lk, addr] of [
    [ID_A, LK_A, ADDR_A],
    [ID_B, LK_B, ADDR_B],
  ] as const) {
    C.tx.push(linkSlot(core.DIR_DOWN, ID_C, mid, mid, lk, true, addr));
    C.rx.push(linkSlot(core.DIR_UP, ID_C, mid, mid, lk, false, addr));
  }
  return { A, B, C, H };
}

const eq = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

/** The sending slot of dev for (layer, op, peer). */
export function txSlot(dev: Device, layer: number, op: number, peer: Uint8Array): core.KeySlot {
  const s = dev.tx.find((x) => x.layer === layer && (layer !== core.E2E_VERSION || x.op === op) && eq(x.peer, peer));
  if (s === undefined) throw new Error('no tx slot');
  return s;
}

/** Seals body as dev toward peer; returns the frame bytes. */
export function seal(dev: Device, layer: number, op: number, peer: Uint8Array, body: Uint8Array): Uint8Array {
  // Room for the largest frame of any layer: a backhaul frame (26-byte header) is longer than an
  // end-to-end frame with the same body.
  const out = new Uint8Array(core.MAX_LINK_FRAME);
  const n = core.sealFrame(ctx, txSlot(dev, layer, op, peer), op, body, 0, body.length, out, 0);
  if (n < 0) throw new Error('seal failed ' + core.errorName(n));
  return out.slice(0, n);
}

export const HDR = core.createHeader();
/**
 * Receives one frame exactly as a device does: parse, find slot, open. Body length or a negative
 * error; body in out. from: the meter an e2e frame reaches the HES from (default meter A).
 */
export function receive(dev: Device, frame: Uint8Array, out: Uint8Array, from: Uint8Array = ID_A): number {
  const r = core.parseHeader(frame, 0, frame.length, HDR);
  if (r < 0) return r;
  const rx = HDR.version === core.E2E_VERSION && dev.id === ID_H ? dev.rx.filter((s) => eq(s.peer, from)) : dev.rx;
  const i = core.findSlot(rx, rx.length, HDR);
  if (i < 0) return i;
  return core.openFrame(ctx, HDR, rx[i], frame, 0, out, 0);
}

/** Snapshot of every receive slot's replay state (to prove failures change nothing). */
export function lasts(dev: Device): number[] {
  return dev.rx.map((s) => s.last);
}
