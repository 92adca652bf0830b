// The meter application (docs/FIRMWARE.md). One synchronous core: onSerial(bytes) for the radio
// line, tick(now) once a second, pulse/tamper inputs; no timers other than board.clock.every, so
// the same scenario runs on Espruino, XS and Node. Every buffer is allocated in startMeter.
import type { Board } from '@vakt/boards';
import { createCryptoCtx } from '@vakt/shared/ctx';
import type { CryptoCtx } from '@vakt/shared/ctx';
import { createHeader, parseHeader, E2E_VERSION, HEADER_LEN, LINK_VERSION, MAX_E2E_BODY_FORWARDED, MAX_LINK_FRAME, ID_LEN, OFF_COUNTER } from '@vakt/shared/frame';
import type { FrameHeader } from '@vakt/shared/frame';
import { openFrame, sealFrame } from '@vakt/shared/seal';
import type { KeySlot } from '@vakt/shared/keys';
import { KEY_LEN } from '@vakt/shared/keys';
import {
  DIR_DOWN, LINK_ACK, LINK_DATA, OP_ACK, OP_CLOCK, OP_CONFIG, OP_EVENT, OP_FIRMWARE, OP_KEY_UPDATE,
  OP_READ, OP_READING, OP_RELAY,
} from '@vakt/shared/policy';
import {
  ERR_COUNTER_EXHAUSTED, ERR_RECEIVER, ERR_REPLAY, ERR_TAG, ERR_UNKNOWN_SENDER,
} from '@vakt/shared/errors';
import {
  cborReaderInit, createCborReader, readArrayHead, readBytes, readMapHead, readUint, writeArrayHead,
  writeUint,
} from '@vakt/shared/cbor';
import type { CborReader } from '@vakt/shared/cbor';
import { equalBytes } from '@vakt/shared/utils';
import { countersLeft } from '@vakt/shared/counter';
import { Line } from '../common/line.ts';
import { parseMeterProv, type MeterProv } from '../common/prov.ts';
import { LoadProfile, LP_SLOTS, createInterval } from '../common/loadprofile.ts';
import { EnergyRegister } from '../common/metering.ts';
import { RateLimiter } from '../common/ratelimit.ts';
import { REC_CFG, REC_PROV, readFixed, readU32, writeU32 } from '../common/records.ts';
import { MeterKeys, KU_REFUSED } from './keystore.ts';
import { FirmwareDownload, ACT_OK, ACT_DIGEST_MISMATCH, FW_OK, FW_REFUSED, FW_BAD_REQUEST } from './fwupdate.ts';
import { SHA256_LEN } from '../common/sha256.ts';

// EVENT codes (PROTOCOL.md §10).
export const EV_POWER_FAIL = 1;
export const EV_POWER_RESTORE = 2;
export const EV_TAMPER = 3;
export const EV_BAD_TAG = 16;
export const EV_REPLAY = 17;
export const EV_POLICY = 18;
export const EV_COUNTER = 19;
const EV_SLOTS = 20;
// Fields of the event state array `ev`, EV_SLOTS entries each (indexed by code, or by op for EVF_WARNED).
const EVF_PENDING = 0; // occurrences not yet reported
const EVF_DETAIL = EV_SLOTS; // detail of the last occurrence (non-security codes)
const EVF_INFLIGHT = 2 * EV_SLOTS; // 1 while a report waits for its LINK_ACK
const EVF_T = 3 * EV_SLOTS; // t of the report in flight
const EVF_IDETAIL = 4 * EV_SLOTS; // detail of the report in flight
const EVF_CTR = 5 * EV_SLOTS; // link counter it last went under
const EVF_AT = 6 * EV_SLOTS; // when it was last sent
const EVF_WARNED = 7 * EV_SLOTS; // per op: EVENT 19 already raised
const EVF_END = 8 * EV_SLOTS;

// Status codes of responses (PROTOCOL.md §10).
const ST_OK = 0;
const ST_REFUSED = 1;
const ST_BAD = 2;

// Sub-commands.
const READ_REGISTER = 1;
const READ_PROFILE = 2;
const FW_BEGIN = 1;
const FW_CHUNK = 2;
const FW_ACTIVATE = 3;
const KU_TRANSPORT = 1;
const KU_CONFIRM = 2;
const KU_ACTIVATE = 3;
const CFG_TARIFF = 1;
const CFG_PUSH_INTERVAL = 2;

/** Intervals per READ load-profile response (PROTOCOL.md §10). */
export const READ_MAX_INTERVALS = 16;
/** Default interval length / push period: 15 minutes. */
export const DEFAULT_INTERVAL_S = 900;
const MIN_INTERVAL_S = 60;
const MAX_INTERVAL_S = 86400;
/** Unacknowledged readings re-pushed per retry round. */
const RETRY_BATCH = 4;
/** Warn the HES when a sender key has fewer counter values left than this (EVENT 19). */
const COUNTER_WARN = 0x10000;
const CFG_VERSION = 1;
const CFG_LEN = 1 + 4 + 4 + 1 + 4 + 4; // version, tariff, interval, relay, fw version, boot count
const TICK_MS = 1000;

/** Tunables; defaults suit a real meter. */
export interface MeterOptions {
  /** Counter reservation step R (PROTOCOL.md §6). */
  reserve?: number;
  /** Load-profile interval and push period in seconds (until CONFIG changes it). */
  intervalS?: number;
  /** Seconds between re-pushes of unacknowledged readings. */
  retryS?: number;
  /** Use the synthetic load instead of the pulse input (default: board.profile.engine === 'node'). */
  synthetic?: boolean;
  /** Security/alarm events allowed in a burst, and seconds per extra event. */
  eventBurst?: number;
  eventPeriodS?: number;
  /** Register board.clock.every for tick() and board.serial[0].onData (default true). */
  attach?: boolean;
}

/** Counters a test or a diagnostic console can read. */
export interface MeterStats {
  framesIn: number;
  notForMe: number;
  linkErrors: number;
  badTag: number;
  replay: number;
  policy: number;
  eventsSent: number;
  eventsSuppressed: number;
  commands: number;
  /** Retransmissions of the last accepted command (lost LINK_ACK): ignored, not security events. */
  duplicates: number;
  sendErrors: number;
}

/** The running meter. */
export interface MeterApp {
  readonly meterId: Uint8Array;
  readonly stats: MeterStats;
  readonly keys: MeterKeys;
  readonly profile: LoadProfile;
  readonly register: EnergyRegister;
  readonly firmware: FirmwareDownload;
  /** Running firmware version (changed by a verified activation). */
  fwVersion(): number;
  relayClosed(): boolean;
  tariff(): number;
  intervalS(): number;
  /** Feeds bytes received on the radio line. */
  onSerial(chunk: Uint8Array): void;
  /** Advances time-driven work to `now` (unix seconds). */
  tick(now: number): void;
  /** Meter pulse input. */
  onPulse(n: number): void;
  /** Tamper switch input. */
  onTamper(): void;
  /** Brown-out input: reports EVENT 1 while there is still energy to send it. */
  onPowerFail(): void;
  /** Bytes held by the bounded structures (for memory checks). */
  boundedSizes(): number[];
}

/** Starts the meter from the provisioning record 'prov'; throws only when the board was never provisioned. */
export function startMeter(board: Board, options?: MeterOptions): MeterApp {
  const opts: MeterOptions = options === undefined ? {} : options;
  const prov: MeterProv | undefined = parseMeterProv(board.storage.read(REC_PROV));
  if (prov === undefined) throw new Error('vakt meter: no valid provisioning image in record prov');
  const st = board.storage;
  const ctx: CryptoCtx = createCryptoCtx(board.aes);
  const keys = new MeterKeys(ctx, st, prov, opts.reserve === undefined ? 64 : opts.reserve);
  const lp = new LoadProfile(st, LP_SLOTS);
  const synthetic = opts.synthetic === undefined ? board.profile.engine === 'node' : opts.synthetic;
  const reg = new EnergyRegister(synthetic);
  const fw = new FirmwareDownload(st);
  const retryS = opts.retryS === undefined ? 300 : opts.retryS;
  const hdr: FrameHeader = createHeader();
  const inner: FrameHeader = createHeader();
  const txFrame = new Uint8Array(MAX_LINK_FRAME);
  // Bodies (received plaintext and responses alike) live inside the transmit frame, where the
  // end-to-end seal expects them (in place at 2 × HEADER_LEN): one buffer fewer on small boards.
  // Handlers read every request field before they write a response, as before.
  const body = txFrame.subarray(2 * HEADER_LEN, 2 * HEADER_LEN + MAX_E2E_BODY_FORWARDED);
  const r: CborReader = createCborReader();
  const iv = createInterval();
  // Event state in one typed array (one allocation instead of eight on Espruino): field f of
  // slot i (an event code, or an op for EVF_WARNED) at f + i.
  const ev = new Float64Array(EVF_END);
  const stats: MeterStats = {
    framesIn: 0, notForMe: 0, linkErrors: 0, badTag: 0, replay: 0, policy: 0,
    eventsSent: 0, eventsSuppressed: 0, commands: 0, duplicates: 0, sendErrors: 0,
  };

  // Configuration record.
  let tariff = 0;
  let interval = opts.intervalS === undefined ? DEFAULT_INTERVAL_S : opts.intervalS;
  let relay = true;
  let fwVersion = 0;
  let bootCount = 0;
  const cfgRec = new Uint8Array(CFG_LEN);
  const cr = readFixed(st, REC_CFG, CFG_LEN, CFG_VERSION);
  if (cr !== undefined) {
    tariff = readU32(cr, 1);
    const iv0 = readU32(cr, 5);
    if (iv0 >= MIN_INTERVAL_S && iv0 <= MAX_INTERVAL_S) interval = iv0;
    relay = cr[9] === 1;
    fwVersion = readU32(cr, 10);
    bootCount = readU32(cr, 14);
  }
  function saveCfg(): boolean {
    cfgRec[0] = CFG_VERSION;
    writeU32(cfgRec, 1, tariff);
    writeU32(cfgRec, 5, interval);
    cfgRec[9] = relay ? 1 : 0;
    writeU32(cfgRec, 10, fwVersion);
    writeU32(cfgRec, 14, bootCount);
    try {
      st.write(REC_CFG, cfgRec);
      return true;
    } catch (e) {
      return false;
    }
  }

  const now0 = board.clock.now();
  const limiter = new RateLimiter(opts.eventBurst === undefined ? 4 : opts.eventBurst, opts.eventPeriodS === undefined ? 60 : opts.eventPeriodS, now0);
  if (lp.nextSeq > 1 && lp.get(lp.nextSeq - 1, iv)) reg.restore(iv.wh, now0);
  else reg.restore(0, now0);
  let nextClose = (Math.floor(now0 / interval) + 1) * interval;
  let lastRetry = now0;
  let lastNow = now0;

  // A closure, not onLinkFrame itself: Espruino does not hoist the declaration below.
  const line = new Line(board.serial.length > 0 ? board.serial[0] : undefined, function (b: Uint8Array, o: number, l: number): void {
    onLinkFrame(b, o, l);
  });

  // ---- sending -----------------------------------------------------------------------------

  /** Seals body[0..len) under `slot` as op, wraps it in a link DATA frame and transmits it. */
  function sendE2e(slot: KeySlot | null, op: number, len: number): boolean {
    if (slot === null) return false;
    const n = sealFrame(ctx, slot, op, body, 0, len, txFrame, HEADER_LEN);
    if (n < 0) {
      stats.sendErrors++;
      if (n === ERR_COUNTER_EXHAUSTED && op !== OP_EVENT) noteEvent(EV_COUNTER, op);
      return false;
    }
    const m = sealFrame(ctx, keys.linkUp, LINK_DATA, txFrame, HEADER_LEN, n, txFrame, 0);
    if (m < 0) {
      stats.sendErrors++;
      return false;
    }
    const sent = line.send(txFrame, 0, m);
    // Only after the frame left: the warning reuses body and txFrame.
    if (slot.ctr !== null && countersLeft(slot.ctr) < COUNTER_WARN && ev[EVF_WARNED + op] === 0 && op !== OP_EVENT) {
      ev[EVF_WARNED + op] = 1;
      noteEvent(EV_COUNTER, op);
    }
    return sent;
  }

  function sendLinkAck(counter: number): void {
    let o = writeArrayHead(txFrame, HEADER_LEN, 1);
    o = writeUint(txFrame, o, counter);
    if (o < 0) return;
    const m = sealFrame(ctx, keys.linkUp, LINK_ACK, txFrame, HEADER_LEN, o - HEADER_LEN, txFrame, 0);
    if (m > 0) line.send(txFrame, 0, m);
    else stats.sendErrors++;
  }

  function sendReading(seq: number): boolean {
    if (!lp.get(seq, iv)) return false;
    let o = writeArrayHead(body, 0, 5);
    o = writeUint(body, o, 0);
    o = writeUint(body, o, iv.seq);
    o = writeUint(body, o, iv.t);
    o = writeUint(body, o, iv.wh);
    o = writeUint(body, o, iv.w);
    return o > 0 && sendE2e(keys.up(OP_READING), OP_READING, o);
  }

  /** Seals and sends EVENT [0, code, t, detail]; returns the link counter it went under, or 0. */
  function sendEvent(code: number, t: number, detail: number): number {
    let o = writeArrayHead(body, 0, 4);
    o = writeUint(body, o, 0);
    o = writeUint(body, o, code);
    o = writeUint(body, o, t);
    o = writeUint(body, o, detail);
    if (o > 0 && sendE2e(keys.up(OP_EVENT), OP_EVENT, o)) {
      stats.eventsSent++;
      return readU32(txFrame, OFF_COUNTER);
    }
    return 0;
  }

  function isSecurity(code: number): boolean {
    return code === EV_BAD_TAG || code === EV_REPLAY || code === EV_POLICY;
  }

  /**
   * One report per code is in flight until the concentrator link-acknowledges it (it then holds it
   * until the HES does); a retransmission repeats t and detail exactly, so the HES can drop
   * duplicates by (code, t, detail). Occurrences meanwhile accumulate for the next report.
   * Every transmission costs a rate-limiter token.
   */
  function flushEvent(code: number): void {
    if (ev[EVF_INFLIGHT + code] === 1) {
      if (lastNow >= ev[EVF_AT + code] && lastNow - ev[EVF_AT + code] < retryS) return;
      if (!limiter.take(lastNow)) return;
      const c = sendEvent(code, ev[EVF_T + code], ev[EVF_IDETAIL + code]);
      if (c > 0) {
        ev[EVF_CTR + code] = c;
        ev[EVF_AT + code] = lastNow;
      }
      return;
    }
    if (ev[EVF_PENDING + code] === 0) return;
    if (!limiter.take(lastNow)) {
      stats.eventsSuppressed++;
      return;
    }
    const d = isSecurity(code) ? ev[EVF_PENDING + code] : ev[EVF_DETAIL + code];
    const c = sendEvent(code, lastNow, d);
    if (c > 0) {
      ev[EVF_PENDING + code] = 0;
      ev[EVF_INFLIGHT + code] = 1;
      ev[EVF_T + code] = lastNow;
      ev[EVF_IDETAIL + code] = d;
      ev[EVF_CTR + code] = c;
      ev[EVF_AT + code] = lastNow;
    }
  }

  /** Counts an event and reports it now or, when rate-limited, later (summed): bounded state, no queue growth. */
  function noteEvent(code: number, detail: number): void {
    if (code < 1 || code >= EV_SLOTS) return;
    ev[EVF_PENDING + code]++;
    ev[EVF_DETAIL + code] = detail;
    flushEvent(code);
  }

  function flushEvents(): void {
    for (let code = 1; code < EV_SLOTS; code++) {
      if (ev[EVF_PENDING + code] === 0 && ev[EVF_INFLIGHT + code] === 0) continue;
      if (limiter.available(lastNow) === 0) return;
      flushEvent(code);
    }
  }

  /** LINK_ACK [counter] from the concentrator: the event report sent under that counter is stored there. */
  function onLinkAck(buf: Uint8Array, off: number, n: number): void {
    if (cborReaderInit(r, buf, off, n) < 0 || readArrayHead(r) !== 1) return;
    const c = readUint(r);
    if (c <= 0) return;
    for (let code = 1; code < EV_SLOTS; code++) {
      if (ev[EVF_INFLIGHT + code] === 1 && ev[EVF_CTR + code] === c) ev[EVF_INFLIGHT + code] = 0;
    }
  }

  function securityError(err: number): void {
    if (err === ERR_TAG) {
      stats.badTag++;
      noteEvent(EV_BAD_TAG, 0);
    } else if (err === ERR_REPLAY) {
      stats.replay++;
      noteEvent(EV_REPLAY, 0);
    } else {
      stats.policy++;
      noteEvent(EV_POLICY, 0);
    }
  }

  // ---- receiving ---------------------------------------------------------------------------

  function onLinkFrame(buf: Uint8Array, off: number, len: number): void {
    stats.framesIn++;
    const e = parseHeader(buf, off, len, hdr);
    if (e < 0) {
      stats.linkErrors++;
      return;
    }
    if (hdr.version !== LINK_VERSION || hdr.dir !== DIR_DOWN) {
      stats.linkErrors++;
      return;
    }
    // A shared radio channel carries frames for other meters: not an attack, not our business.
    if (!equalBytes(hdr.receiver, 0, keys.meterId, 0, ID_LEN)) {
      stats.notForMe++;
      return;
    }
    // Opened in place: the deframer's buffer is the only receive buffer (RAM on small boards).
    const b = off + HEADER_LEN;
    const n = openFrame(ctx, hdr, keys.linkDown, buf, off, buf, b);
    if (n < 0) {
      if (n === ERR_RECEIVER || n === ERR_UNKNOWN_SENDER) stats.notForMe++;
      else securityError(n);
      return;
    }
    if (hdr.op === LINK_DATA) {
      sendLinkAck(hdr.counter);
      onE2e(buf, b, n);
    } else if (hdr.op === LINK_ACK) {
      // Our uplink is held by the concentrator. Readings are freed only by the end-to-end ACK;
      // event reports, which have no end-to-end ACK, are freed here.
      onLinkAck(buf, b, n);
    }
  }

  function onE2e(buf: Uint8Array, off: number, len: number): void {
    const e = parseHeader(buf, off, len, inner);
    if (e < 0 || inner.version !== E2E_VERSION || inner.dir !== DIR_DOWN) {
      securityError(e < 0 ? e : ERR_UNKNOWN_SENDER);
      return;
    }
    const slot = keys.findDown(inner);
    if (typeof slot === 'number') {
      securityError(slot);
      return;
    }
    const n = openFrame(ctx, inner, slot, buf, off, body, 0);
    if (n < 0) {
      // The very frame accepted last, again: the concentrator retransmitted it because our
      // LINK_ACK was lost. Authentic and without effect, so counted, not reported as an attack.
      if (n === ERR_REPLAY && inner.counter === slot.last) stats.duplicates++;
      else securityError(n);
      return;
    }
    // Replay state is durable before the command has any effect.
    if (!keys.persistRx()) return;
    if (keys.isStaged(slot)) {
      // First authentic downlink under the staged generation: it becomes the generation in force.
      if (!keys.activate()) return;
    }
    stats.commands++;
    dispatch(inner.op, n);
  }

  function startBody(n: number, req: number): number {
    let o = writeArrayHead(body, 0, n);
    o = writeUint(body, o, req);
    return o;
  }

  function respondStatus(op: number, req: number, status: number): void {
    let o = startBody(2, req);
    o = writeUint(body, o, status);
    if (o > 0) sendE2e(keys.up(op), op, o);
  }

  function dispatch(op: number, len: number): void {
    // The body is copied out of `body` by the reader's positions; responses reuse `body`, so read all fields first.
    if (cborReaderInit(r, body, 0, len) < 0) return;
    const items = readArrayHead(r);
    const req = readUint(r);
    if (items < 1 || req < 0) {
      if (op !== OP_ACK) respondStatus(op === OP_READ ? OP_READ : op, 0, ST_BAD);
      return;
    }
    if (op === OP_ACK) onAck(items);
    else if (op === OP_READ) onRead(req, items);
    else if (op === OP_RELAY) onRelay(req, items);
    else if (op === OP_CONFIG) onConfig(req, items);
    else if (op === OP_CLOCK) onClock(req, items);
    else if (op === OP_FIRMWARE) onFirmware(req, items);
    else if (op === OP_KEY_UPDATE) onKeyUpdate(req, items);
  }

  function onAck(items: number): void {
    if (items !== 3) return;
    const aop = readUint(r);
    const upTo = readUint(r);
    if (aop === OP_READING && upTo >= 0) lp.ack(upTo);
  }

  function onRead(req: number, items: number): void {
    const kind = readUint(r);
    if (kind === READ_REGISTER && items === 2) {
      reg.advance(board.clock.now());
      let o = startBody(5, req);
      o = writeUint(body, o, READ_REGISTER);
      o = writeUint(body, o, board.clock.now());
      o = writeUint(body, o, reg.wh);
      o = writeUint(body, o, reg.w);
      if (o > 0) sendE2e(keys.up(OP_READ), OP_READ, o);
      return;
    }
    if (kind === READ_PROFILE && items === 4) {
      const from = readUint(r);
      const to = readUint(r);
      if (from < 0 || to < 0) {
        respondStatus(OP_READ, req, ST_BAD);
        return;
      }
      let o = startBody(3, req);
      o = writeUint(body, o, READ_PROFILE);
      if (o < 0) return;
      const headPos = o;
      o = writeArrayHead(body, o, 0); // patched below: counts up to 16 fit the one-byte head
      let count = 0;
      let seq = from > lp.nextSeq - LP_SLOTS ? from : lp.nextSeq - LP_SLOTS;
      if (seq < 1) seq = 1;
      for (; seq <= to && seq < lp.nextSeq && count < READ_MAX_INTERVALS; seq++) {
        if (!lp.get(seq, iv)) continue;
        o = writeArrayHead(body, o, 4);
        o = writeUint(body, o, iv.seq);
        o = writeUint(body, o, iv.t);
        o = writeUint(body, o, iv.wh);
        o = writeUint(body, o, iv.w);
        count++;
      }
      if (o < 0) return;
      body[headPos] = 0x80 | count;
      sendE2e(keys.up(OP_READ), OP_READ, o);
      return;
    }
    respondStatus(OP_READ, req, ST_BAD);
  }

  function onRelay(req: number, items: number): void {
    const state = items === 2 ? readUint(r) : -1;
    let status = ST_OK;
    if (state !== 0 && state !== 1) status = ST_BAD;
    else {
      const prev = relay;
      relay = state === 1;
      if (!saveCfg()) {
        relay = prev;
        status = ST_REFUSED;
      } else board.pins.relay(relay);
    }
    let o = startBody(3, req);
    o = writeUint(body, o, state < 0 ? 0 : state);
    o = writeUint(body, o, status);
    if (o > 0) sendE2e(keys.up(OP_RELAY), OP_RELAY, o);
  }

  function onConfig(req: number, items: number): void {
    let status = ST_OK;
    let newTariff = tariff;
    let newInterval = interval;
    const pairs = items === 2 ? readMapHead(r) : -1;
    if (pairs < 0) status = ST_BAD;
    for (let i = 0; i < pairs && status === ST_OK; i++) {
      const k = readUint(r);
      const v = readUint(r);
      if (k === CFG_TARIFF && v >= 0 && v <= 0xffffffff) newTariff = v;
      else if (k === CFG_PUSH_INTERVAL && v >= MIN_INTERVAL_S && v <= MAX_INTERVAL_S) newInterval = v;
      else status = ST_BAD;
    }
    if (status === ST_OK) {
      const pt = tariff;
      const pi = interval;
      tariff = newTariff;
      interval = newInterval;
      if (!saveCfg()) {
        tariff = pt;
        interval = pi;
        status = ST_REFUSED;
      } else if (pi !== interval) nextClose = (Math.floor(board.clock.now() / interval) + 1) * interval;
    }
    respondStatus(OP_CONFIG, req, status);
  }

  function onClock(req: number, items: number): void {
    const t = items === 2 ? readUint(r) : -1;
    const before = board.clock.now();
    let status = ST_OK;
    if (t < 0 || t > 0xffffffff) status = ST_BAD;
    else {
      board.clock.set(t);
      lastNow = t;
      reg.advance(t);
      nextClose = (Math.floor(t / interval) + 1) * interval;
    }
    let o = startBody(3, req);
    o = writeUint(body, o, status);
    o = writeUint(body, o, before);
    if (o > 0) sendE2e(keys.up(OP_CLOCK), OP_CLOCK, o);
  }

  function onFirmware(req: number, items: number): void {
    const kind = readUint(r);
    let status = FW_BAD_REQUEST;
    let next = fw.received;
    try {
      if (kind === FW_BEGIN && items === 5) {
        const size = readUint(r);
        const dl = readBytes(r);
        const dOff = r.dataOff;
        const version = readUint(r);
        if (size > 0 && dl === SHA256_LEN && version >= 0) status = fw.begin(size, body, dOff, version);
      } else if (kind === FW_CHUNK && items === 4) {
        const offset = readUint(r);
        const n = readBytes(r);
        if (offset >= 0 && n > 0) status = fw.chunk(offset, body, r.dataOff, n);
      } else if (kind === FW_ACTIVATE && items === 2) {
        const res = fw.activate();
        if (res === ACT_OK) {
          const prev = fwVersion;
          fwVersion = fw.version;
          if (saveCfg()) {
            fw.discard();
            status = FW_OK;
          } else {
            fwVersion = prev;
            status = FW_REFUSED;
          }
        } else {
          // Incomplete or digest mismatch: the running image stays (a mismatching download is discarded).
          status = FW_REFUSED;
        }
        if (res === ACT_DIGEST_MISMATCH) board.log('firmware image digest mismatch: rolled back to version ' + fwVersion);
      }
    } catch (e) {
      status = FW_REFUSED; // storage failure mid-download: the state record still describes what is held
    }
    next = fw.received;
    let o = startBody(3, req);
    o = writeUint(body, o, status);
    o = writeUint(body, o, next);
    if (o > 0) sendE2e(keys.up(OP_FIRMWARE), OP_FIRMWARE, o);
  }

  function onKeyUpdate(req: number, items: number): void {
    const kind = readUint(r);
    const scope = readUint(r);
    const newGen = readUint(r);
    if (kind === KU_TRANSPORT && items === 5) {
      const kl = readBytes(r);
      if (kl !== KEY_LEN || scope < 0 || newGen < 0) {
        securityError(0);
        return;
      }
      const res = keys.stage(scope, newGen, body, r.dataOff);
      if (res === KU_REFUSED) {
        securityError(0);
        return;
      }
      // CONFIRM proves possession of the staged key: sealed under KC[scope, newGen], header gen = newGen.
      let o = startBody(4, req);
      o = writeUint(body, o, KU_CONFIRM);
      o = writeUint(body, o, scope);
      o = writeUint(body, o, newGen);
      if (o > 0) sendE2e(keys.kc(), OP_KEY_UPDATE, o);
      return;
    }
    if (kind === KU_ACTIVATE && items === 4) {
      // Activation by a frame under the staged generation already happened in onE2e.
      if (keys.stPresent && keys.stScope === scope && keys.stGen === newGen && !keys.activate()) return;
      if (!keys.inForce(scope, newGen)) {
        securityError(0);
        return;
      }
      // ACK [req, 7, newGen] (PROTOCOL.md §8 step 4), also for a repeated ACTIVATE whose ACK was lost:
      // it is the HES's only sign of activation when the scope has no uplink key of its own.
      let o = startBody(3, req);
      o = writeUint(body, o, OP_KEY_UPDATE);
      o = writeUint(body, o, newGen);
      if (o > 0) sendE2e(keys.up(OP_ACK), OP_ACK, o);
    }
  }

  // ---- time ----------------------------------------------------------------------------------

  function tick(now: number): void {
    if (now < lastNow) {
      // Clock stepped back (set by CLOCK or the board): re-anchor the interval grid.
      nextClose = (Math.floor(now / interval) + 1) * interval;
    }
    lastNow = now;
    reg.advance(now);
    if (now >= nextClose) {
      const t = nextClose;
      nextClose = (Math.floor(now / interval) + 1) * interval;
      let seq = -1;
      try {
        seq = lp.append(t, reg.wh, reg.w);
      } catch (e) {
        seq = -1;
      }
      if (seq > 0) sendReading(seq);
      lastRetry = now;
    } else if (lp.pending() > 0 && now - lastRetry >= retryS) {
      lastRetry = now;
      const first = lp.oldestUnacked();
      for (let s = first; s < lp.nextSeq && s < first + RETRY_BATCH; s++) sendReading(s);
    }
    flushEvents();
  }

  const app: MeterApp = {
    meterId: keys.meterId,
    stats: stats,
    keys: keys,
    profile: lp,
    register: reg,
    firmware: fw,
    fwVersion: function (): number { return fwVersion; },
    relayClosed: function (): boolean { return relay; },
    tariff: function (): number { return tariff; },
    intervalS: function (): number { return interval; },
    onSerial: function (chunk: Uint8Array): void {
      try {
        line.push(chunk);
      } catch (e) {
        // Only a board fault (storage) can throw below the deframer; the meter keeps running.
        stats.linkErrors++;
      }
    },
    tick: function (now: number): void {
      try {
        tick(now);
      } catch (e) {
        stats.sendErrors++;
      }
    },
    onPulse: function (n: number): void { reg.pulse(n); },
    onTamper: function (): void { noteEvent(EV_TAMPER, 0); },
    onPowerFail: function (): void { noteEvent(EV_POWER_FAIL, bootCount); },
    boundedSizes: function (): number[] {
      return [line.rx.buf.length, txFrame.length, body.length, EV_SLOTS, lp.pending()];
    },
  };

  // Boot: count the boot, restore the relay, announce the power restore.
  bootCount++;
  saveCfg();
  board.pins.relay(relay);
  noteEvent(EV_POWER_RESTORE, bootCount);

  if (opts.attach !== false) {
    if (board.serial.length > 0) board.serial[0].onData(function (c: Uint8Array): void { app.onSerial(c); });
    board.pins.onPulse(function (n: number): void { app.onPulse(n); });
    board.pins.onTamper(function (): void { app.onTamper(); });
    board.clock.every(TICK_MS, function (): void { app.tick(board.clock.now()); });
  }
  return app;
}
