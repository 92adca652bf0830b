// The concentrator application (docs/FIRMWARE.md). It holds one link key per meter and one with
// the HES, never an end-to-end key (D-8): it verifies and strips the meter's link MIC, stores the
// unchanged end-to-end frame, and re-wraps it under its own link key toward the HES (and the
// reverse). Lines: board.serial[0] is the HES link, board.serial[1..] are meter radio lines.
import type { Board } from '@vakt/boards';
import { createCryptoCtx } from '@vakt/shared/ctx';
import {
  ADDR_MAX,
  ADDR_MIN,
  BACKHAUL_VERSION,
  createHeader,
  parseHeader,
  E2E_VERSION,
  ID_LEN,
  LINK_VERSION,
  MAX_BODY,
  MAX_LINK_FRAME,
} from '@vakt/shared/frame';
import type { FrameHeader } from '@vakt/shared/frame';
import { openFrame, sealFrame } from '@vakt/shared/seal';
import { createKeySlot, KEY_LEN, LOAD_LINK, loadSlotKey } from '@vakt/shared/keys';
import type { KeySlot } from '@vakt/shared/keys';
import { DIR_DOWN, DIR_UP, LINK_ACK, LINK_DATA, LINK_JOIN, LINK_LEAVE, POLICY_DOWN, POLICY_UP, policyOf } from '@vakt/shared/policy';
import {
  CBOR_ARRAY,
  CBOR_BYTES,
  CBOR_UINT,
  cborReaderDone,
  cborReaderInit,
  createCborReader,
  readHead,
  writeHead,
} from '@vakt/shared/cbor';
import { ackCounter } from '@vakt/shared/counter';
import type { SendCounter } from '@vakt/shared/counter';
import { Line } from '../common/line.ts';
import { parseConcentratorProv } from '../common/prov.ts';
import { REC_PROV } from '../common/records.ts';
import { FrameQueue, DEST_HES } from './queue.ts';
import type { QueueEntry } from './queue.ts';
import { MeterTable, PORT_ANY } from './table.ts';

const MAX_GEN = 255;
const TICK_MS = 1000;
/** Transmissions of a downlink frame before it is dropped (counted as expired): the HES retries end to end. */
const DOWN_MAX_TRIES = 5;
/**
 * Transmissions of an uplink frame after which it is dropped (counted as expired) if the HES has
 * acknowledged other frames meanwhile: the HES is up and will not take this one. Never while the
 * HES is unreachable (then frames wait, up to the queue's bound).
 */
const UP_MAX_TRIES = 8;
/** Share of the store-and-forward slots one meter may hold by default (1 / METER_SHARE). */
const METER_SHARE = 2;
/** Frames sent per pump, so one tick cannot monopolise a slow line. */
const PUMP_BURST = 8;
/** e2e header (PROTOCOL.md §3): the op in the low bits of byte 0, the key generation in byte 1. */
const E2E_OP_MASK = 0x0f;
const E2E_GEN_AT = 1;

/**
 * A queued downlink e2e frame is superseded by a later one under the same key of the same meter
 * (op and generation: one replay counter at the meter, §6) that the meter took: the meter would
 * refuse the older one (its counter is below the one just accepted) and report it as a replay or,
 * in the short counter form, a bad tag — a false security alarm and wasted airtime.
 */
function sameE2eKey(older: Uint8Array, newer: Uint8Array): boolean {
  return (older[0] & E2E_OP_MASK) === (newer[0] & E2E_OP_MASK) && older[E2E_GEN_AT] === newer[E2E_GEN_AT];
}

/** Tunables. */
export interface ConcentratorOptions {
  /** Meters the table can hold (default 32). */
  maxMeters?: number;
  /** Store-and-forward slots toward the HES and toward meters (default 16 each). */
  upSlots?: number;
  downSlots?: number;
  /** Slots of each queue one meter may hold (default half of the queue, at least 1). */
  slotsPerMeter?: number;
  /** Seconds before an unacknowledged frame is sent again (default 30). */
  retryS?: number;
  /** Counter reservation step R (default 64). */
  reserve?: number;
  /** Register board.clock.every and the serial onData callbacks (default true). */
  attach?: boolean;
}

/** Counters a test or a console can read. */
export interface ConcentratorStats {
  /** Link frames from meters that failed verification (bad MIC, replay, unknown meter, bad header). */
  meterLinkFailures: number;
  /** Link frames from the HES that failed verification. */
  hesLinkFailures: number;
  /** Frames not addressed to this concentrator (shared radio channel). */
  notForMe: number;
  /** DATA frames whose body is not a plausible end-to-end frame for that meter. */
  badInner: number;
  /** Downlink DATA for a meter not in the table. */
  unknownMeter: number;
  forwardedUp: number;
  forwardedDown: number;
  joins: number;
  /** JOINs refused because the table was full (or storage failed): not link-acknowledged, the HES retries. */
  joinsRefused: number;
  leaves: number;
  /** Queued downlink frames dropped because their meter left the table. */
  droppedOnLeave: number;
  /**
   * Queued downlink frames not resent because a later frame under the same key reached the meter
   * (its LINK_ACK) or went out: the meter refuses the older one as a replay (sameE2eKey).
   */
  superseded: number;
  sendErrors: number;
}

/** The running concentrator. */
export interface ConcentratorApp {
  readonly concentratorId: Uint8Array;
  readonly stats: ConcentratorStats;
  readonly table: MeterTable;
  readonly upQueue: FrameQueue;
  readonly downQueue: FrameQueue;
  /** Feeds bytes from the HES link. */
  onHes(chunk: Uint8Array): void;
  /** Feeds bytes from meter line `port` (1-based index into board.serial; 1 when there is one). */
  onMeterLine(port: number, chunk: Uint8Array): void;
  /** Advances retransmissions to `now` (unix seconds). */
  tick(now: number): void;
  /**
   * Announces this concentrator on a (re)connected HES link: LINK_ACK [0] under the HES link key
   * (PROTOCOL.md §7); the HES sends nothing before it. Then every uplink frame still waiting for a
   * LINK_ACK is sent again at once: the connection (perhaps the HES node) changed, and the old one's
   * LINK_ACKs will never come.
   */
  hello(): void;
  /** Sizes of the bounded structures (for memory checks). */
  boundedSizes(): number[];
}

/** Starts the concentrator from the provisioning record 'prov'; throws only when the board was never provisioned. */
export function startConcentrator(board: Board, options?: ConcentratorOptions): ConcentratorApp {
  const opts: ConcentratorOptions = options === undefined ? {} : options;
  const prov = parseConcentratorProv(board.storage.read(REC_PROV));
  if (prov === undefined) throw new Error('vakt concentrator: no valid provisioning image in record prov');
  const ctx = createCryptoCtx(board.aes);
  const myId = prov.concentratorId;
  const hesId = prov.hesId;
  const retryS = opts.retryS === undefined ? 30 : opts.retryS;
  const hesUp: KeySlot = createKeySlot(BACKHAUL_VERSION, 0, DIR_UP, prov.hesLinkGen, myId, hesId);
  const hesDown: KeySlot = createKeySlot(BACKHAUL_VERSION, 0, DIR_DOWN, prov.hesLinkGen, myId, hesId);
  loadSlotKey(ctx, hesUp, LOAD_LINK, prov.hesLinkKey, 0, myId, 0);
  loadSlotKey(ctx, hesDown, LOAD_LINK, prov.hesLinkKey, 0, myId, 0);
  const table = new MeterTable(
    ctx,
    board.storage,
    opts.maxMeters === undefined ? 32 : opts.maxMeters,
    myId,
    hesUp,
    prov.hesLinkGen,
    opts.reserve === undefined ? 64 : opts.reserve,
  );
  hesDown.last = table.hesLast;
  const upSlots = opts.upSlots === undefined ? 16 : opts.upSlots;
  const downSlots = opts.downSlots === undefined ? 16 : opts.downSlots;
  const share = (slots: number): number =>
    opts.slotsPerMeter === undefined ? Math.max(1, Math.floor(slots / METER_SHARE)) : opts.slotsPerMeter;
  const upQ = new FrameQueue(upSlots, MAX_BODY, share(upSlots));
  const downQ = new FrameQueue(downSlots, MAX_BODY, share(downSlots));
  const hdr: FrameHeader = createHeader();
  const inner: FrameHeader = createHeader();
  const rxBody = new Uint8Array(MAX_LINK_FRAME);
  const txFrame = new Uint8Array(MAX_LINK_FRAME);
  const ackBody = new Uint8Array(16);
  const r = createCborReader();
  const stats: ConcentratorStats = {
    meterLinkFailures: 0,
    hesLinkFailures: 0,
    notForMe: 0,
    badInner: 0,
    unknownMeter: 0,
    forwardedUp: 0,
    forwardedDown: 0,
    joins: 0,
    joinsRefused: 0,
    leaves: 0,
    droppedOnLeave: 0,
    superseded: 0,
    sendErrors: 0,
  };
  let now = board.clock.now();

  // ---- sending -----------------------------------------------------------------------------

  /** Sends LINK_ACK [counter] under slot: on `line`, or (line null) on meter line `port`. */
  function sendAck(slot: KeySlot, line: Line | null, port: number, counter: number): void {
    let o = writeHead(ackBody, 0, CBOR_ARRAY, 1);
    o = writeHead(ackBody, o, CBOR_UINT, counter);
    if (o < 0) return;
    const m = sealFrame(ctx, slot, LINK_ACK, ackBody, 0, o, txFrame, 0);
    if (m < 0) {
      stats.sendErrors++;
      return;
    }
    if (line !== null) line.send(txFrame, 0, m);
    else sendToMeterLines(port, m);
  }

  function sendToMeterLines(port: number, len: number): void {
    for (let p = 0; p < meterLines.length; p++) {
      if (port === PORT_ANY || port === p + 1) meterLines[p].send(txFrame, 0, len);
    }
  }

  /** Wraps a queued end-to-end frame in a DATA link frame and transmits it; records the link counter. */
  function transmit(e: QueueEntry): boolean {
    let slot: KeySlot;
    let port = PORT_ANY;
    if (e.dest === DEST_HES) slot = hesUp;
    else {
      const m = table.entries[e.dest];
      slot = m.down;
      port = m.port;
    }
    const c = slot.ctr as SendCounter;
    // A retransmission toward a meter carries the full link counter: the meter may have lost step (§6).
    if (e.tries > 0 && e.dest !== DEST_HES) c.sync = 0;
    const n = sealFrame(ctx, slot, LINK_DATA, e.buf, 0, e.len, txFrame, 0);
    if (n < 0) {
      stats.sendErrors++;
      return false;
    }
    e.sentCounter = c.next - 1;
    e.sentAt = now;
    if (e.tries === 0) e.acksAtFirst = (e.dest === DEST_HES ? upQ : downQ).acks;
    e.tries++;
    if (e.dest === DEST_HES) {
      hesLine.send(txFrame, 0, n);
      stats.forwardedUp++;
    } else {
      sendToMeterLines(port, n);
      stats.forwardedDown++;
    }
    return true;
  }

  function pump(): void {
    for (let i = 0; i < PUMP_BURST; i++) {
      const e = upQ.nextDue(now, retryS);
      if (e === undefined) break;
      if (upQ.refusedByReceiver(e, UP_MAX_TRIES)) {
        upQ.expire(e);
        board.log('uplink frame of meter slot ' + e.owner + ' expired: not taken by the HES after ' + UP_MAX_TRIES + ' tries');
        continue;
      }
      if (!transmit(e)) break;
    }
    for (let i = 0; i < PUMP_BURST; i++) {
      const e = downQ.nextDue(now, retryS);
      if (e === undefined) break;
      // A resend of a frame the meter may already have overtaken (sameE2eKey) is dropped, not sent.
      if (e.tries > 0 && downQ.overtaken(e, sameE2eKey)) {
        stats.superseded++;
        downQ.release(e);
        continue;
      }
      if (e.tries >= DOWN_MAX_TRIES) {
        downQ.expired++;
        downQ.release(e);
        board.log('downlink frame for meter slot ' + e.dest + ' expired after ' + DOWN_MAX_TRIES + ' tries');
        continue;
      }
      if (!transmit(e)) break;
    }
  }

  // ---- receiving from meters -----------------------------------------------------------------

  function onMeterFrame(port: number, buf: Uint8Array, off: number, len: number): void {
    const e = parseHeader(buf, off, len, hdr);
    if (e < 0 || hdr.version !== LINK_VERSION || hdr.dir !== DIR_UP) {
      stats.meterLinkFailures++;
      return;
    }
    // The meter is named by its short address; its key (and the MAC over its full id) decide.
    const idx = table.findAddr(hdr.addr);
    if (idx < 0) {
      stats.notForMe++;
      return;
    }
    const m = table.entries[idx];
    // Opened after room for the meter id: the backhaul DATA body is meter id ‖ end-to-end frame (§7).
    const n = openFrame(ctx, hdr, m.up, buf, off, rxBody, ID_LEN);
    if (n < 0) {
      stats.meterLinkFailures++;
      return;
    }
    m.port = port;
    // A full link counter from the meter says it may have lost step (it sends one after every boot):
    // our next frame to it carries the full counter too (§6). One way only (the meter does not answer
    // our full counters in kind), so the two never keep each other in the full form.
    if (hdr.full === 1) (m.down.ctr as SendCounter).sync = 0;
    if (hdr.op === LINK_ACK) {
      if (readAck(ID_LEN, n)) {
        ackCounter(m.down.ctr as SendCounter, r.value);
        stats.superseded += downQ.supersede(idx, r.value, sameE2eKey);
        downQ.ack(idx, r.value);
      }
      return;
    }
    if (hdr.op !== LINK_DATA) return;
    // The inner frame must be an end-to-end frame; it is forwarded as coming from this very meter
    // (whose link key verified), so a meter cannot speak for another: the HES checks the id inside the e2e MAC.
    // e2e frames carry no direction: the op must allow the one it travels in.
    if (parseHeader(rxBody, ID_LEN, n, inner) < 0 || inner.version !== E2E_VERSION || (policyOf(E2E_VERSION, inner.op) & POLICY_UP) === 0) {
      stats.badInner++;
      return;
    }
    rxBody.set(m.id, 0);
    // Accepted only if it is stored; the LINK_ACK tells the meter so. No ACK = refused (queue full).
    // Owned by the meter: it may hold only its share of the queue (queue.ts, fairness).
    if (upQ.push(rxBody, 0, ID_LEN + n, DEST_HES, idx)) {
      sendAck(m.down, null, port, hdr.counter);
      pump();
    }
  }

  /** Reads a LINK_ACK body [ackedCounter] from rxBody[off..+n); the counter lands in r.value. */
  function readAck(off: number, n: number): boolean {
    if (cborReaderInit(r, rxBody, off, n) < 0 || readHead(r, CBOR_ARRAY) !== 1) return false;
    const c = readHead(r, CBOR_UINT);
    return c > 0 && cborReaderDone(r) === 0;
  }

  // ---- receiving from the HES ----------------------------------------------------------------

  function onHesFrame(buf: Uint8Array, off: number, len: number): void {
    const e = parseHeader(buf, off, len, hdr);
    if (e < 0 || hdr.version !== BACKHAUL_VERSION || hdr.dir !== DIR_DOWN) {
      stats.hesLinkFailures++;
      return;
    }
    const n = openFrame(ctx, hdr, hesDown, buf, off, rxBody, 0);
    if (n < 0) {
      stats.hesLinkFailures++;
      return;
    }
    const op = hdr.op;
    const counter = hdr.counter;
    if (op === LINK_ACK) {
      if (readAck(0, n)) upQ.ack(DEST_HES, r.value);
      return;
    }
    if (op === LINK_DATA) {
      // meter id ‖ end-to-end frame (§7).
      if (
        n <= ID_LEN ||
        parseHeader(rxBody, ID_LEN, n - ID_LEN, inner) < 0 ||
        inner.version !== E2E_VERSION ||
        (policyOf(E2E_VERSION, inner.op) & POLICY_DOWN) === 0
      ) {
        stats.badInner++;
        return;
      }
      const idx = table.find(rxBody, 0);
      if (idx < 0) {
        stats.unknownMeter++;
        return;
      }
      if (downQ.push(rxBody, ID_LEN, n - ID_LEN, idx)) {
        sendAck(hesUp, hesLine, PORT_ANY, counter);
        pump();
      }
      return;
    }
    if (op === LINK_JOIN) {
      // [meterId, linkKey, linkGen, shortAddr]
      if (cborReaderInit(r, rxBody, 0, n) < 0 || readHead(r, CBOR_ARRAY) !== 4) return;
      if (readHead(r, CBOR_BYTES) !== ID_LEN) return;
      const idOff = r.dataOff;
      if (readHead(r, CBOR_BYTES) !== KEY_LEN) return;
      const keyOff = r.dataOff;
      const gen = readHead(r, CBOR_UINT);
      const addr = readHead(r, CBOR_UINT);
      if (gen < 0 || gen > MAX_GEN || addr < ADDR_MIN || addr > ADDR_MAX || cborReaderDone(r) !== 0) return;
      if (table.join(rxBody, idOff, rxBody, keyOff, gen, addr, counter) >= 0) {
        stats.joins++;
        sendAck(hesUp, hesLine, PORT_ANY, counter);
      } else stats.joinsRefused++;
      return;
    }
    if (op === LINK_LEAVE) {
      if (cborReaderInit(r, rxBody, 0, n) < 0 || readHead(r, CBOR_ARRAY) !== 1 || readHead(r, CBOR_BYTES) !== ID_LEN) return;
      const idOff = r.dataOff;
      if (cborReaderDone(r) !== 0) return;
      const idx = table.leave(rxBody, idOff, counter);
      if (idx >= 0) {
        stats.leaves++;
        // Explicit, counted: the HES removed the meter, its pending downlink has no receiver.
        stats.droppedOnLeave += downQ.dropDest(idx);
      }
      // Acknowledged even when the meter was unknown: the HES's intent (meter absent) holds.
      sendAck(hesUp, hesLine, PORT_ANY, counter);
    }
  }

  // Closures, not the functions themselves: Espruino does not hoist declarations.
  const hesLine = new Line(board.serial.length > 0 ? board.serial[0] : undefined, function (b: Uint8Array, o: number, l: number): void {
    onHesFrame(b, o, l);
  });
  const meterLines: Line[] = [];
  function meterHandler(port: number): (b: Uint8Array, o: number, l: number) => void {
    return function (b: Uint8Array, o: number, l: number): void {
      onMeterFrame(port, b, o, l);
    };
  }
  const nMeterLines = board.serial.length > 1 ? board.serial.length - 1 : 1;
  for (let p = 1; p <= nMeterLines; p++) meterLines.push(new Line(board.serial.length > p ? board.serial[p] : undefined, meterHandler(p)));

  const app: ConcentratorApp = {
    concentratorId: myId,
    stats: stats,
    table: table,
    upQueue: upQ,
    downQueue: downQ,
    onHes: function (chunk: Uint8Array): void {
      try {
        hesLine.push(chunk);
      } catch (e) {
        stats.sendErrors++;
      }
    },
    onMeterLine: function (port: number, chunk: Uint8Array): void {
      if (!(port >= 1 && port <= meterLines.length)) return;
      try {
        meterLines[port - 1].push(chunk);
      } catch (e) {
        stats.sendErrors++;
      }
    },
    tick: function (t: number): void {
      now = t;
      try {
        pump();
      } catch (e) {
        stats.sendErrors++;
      }
    },
    hello: function (): void {
      try {
        sendAck(hesUp, hesLine, PORT_ANY, 0);
        if (upQ.resendAll(DEST_HES) > 0) pump();
      } catch (e) {
        stats.sendErrors++;
      }
    },
    boundedSizes: function (): number[] {
      return [upQ.capacity, downQ.capacity, upQ.size(), downQ.size(), table.capacity, rxBody.length, txFrame.length];
    },
  };

  function lineFeeder(p: number): (c: Uint8Array) => void {
    return function (c: Uint8Array): void {
      app.onMeterLine(p, c);
    };
  }
  if (opts.attach !== false) {
    if (board.serial.length > 0)
      board.serial[0].onData(function (c: Uint8Array): void {
        app.onHes(c);
      });
    for (let p = 1; p < board.serial.length; p++) board.serial[p].onData(lineFeeder(p));
    board.clock.every(TICK_MS, function (): void {
      app.tick(board.clock.now());
    });
  }
  return app;
}
