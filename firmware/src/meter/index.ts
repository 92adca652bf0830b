// The meter application (docs/FIRMWARE.md). One synchronous core: onSerial(bytes) for the radio
// line, tick(now) once a second, pulse/tamper inputs; no timers other than board.clock.every, so
// the same scenario runs on Espruino, XS and Node. Every buffer is allocated in startMeter.
import type { Board, SerialPort } from '@vakt/boards';
import { createCryptoCtx } from '@vakt/shared/ctx';
import type { CryptoCtx } from '@vakt/shared/ctx';
import {
  createHeader,
  isResidueEscape,
  parseRadioHeader,
  E2E_CTR_WINDOW,
  E2E_HDR_FULL,
  E2E_VERSION,
  HOP_HDR_FULL,
  LINK_VERSION,
} from '@vakt/shared/frame';
import type { FrameHeader } from '@vakt/shared/frame';
import { openRadioFrame, sealFrame } from '@vakt/shared/seal';
import type { KeySlot } from '@vakt/shared/keys';
import { KEY_LEN } from '@vakt/shared/keys';
import {
  DIR_DOWN,
  HOP_TAG_LEN,
  LINK_ACK,
  LINK_DATA,
  MAX_TAG_LEN,
  OP_ACK,
  OP_CLOCK,
  OP_CONFIG,
  OP_EVENT,
  OP_FIRMWARE,
  OP_KEY_UPDATE,
  OP_MAX,
  OP_READ,
  OP_READING,
  OP_RELAY,
} from '@vakt/shared/policy';
import { ERR_COUNTER_EXHAUSTED, ERR_RECEIVER, ERR_REPLAY, ERR_TAG, ERR_UNKNOWN_SENDER } from '@vakt/shared/errors';
import { CBOR_ARRAY, CBOR_BYTES, CBOR_MAP, CBOR_UINT, cborReaderInit, createCborReader, readHead, writeHead } from '@vakt/shared/cbor';
import type { CborReader } from '@vakt/shared/cbor';
import { readU32BE } from '@vakt/shared/utils';
import { ackCounter, countersLeft } from '@vakt/shared/counter';
import type { SendCounter } from '@vakt/shared/counter';
import { SerialDeframer, writeSerialFrame } from '@vakt/shared/serial';
import { LINE_BLOCK } from '../common/line.ts';
import { parseMeterProv, type MeterProv } from '../common/prov.ts';
import { LoadProfile, LP_SLOTS, type Interval } from '../common/loadprofile.ts';
import { EnergyRegister } from '../common/metering.ts';
import { RateLimiter } from '../common/ratelimit.ts';
import { REC_CFG, REC_PROV, readFixed, writeBE, REC_VERSION } from '../common/records.ts';
import { MeterKeys, KU_REFUSED } from './keystore.ts';
import { FirmwareDownload, ACT_OK, ACT_REJECTED, FW_OK, FW_REFUSED, FW_BAD_REQUEST } from './fwupdate.ts';
import { CMAC_TAG_LEN } from '@vakt/shared/cmac';

// EVENT codes (PROTOCOL.md §10).
export const EV_POWER_FAIL = 1;
export const EV_POWER_RESTORE = 2;
export const EV_TAMPER = 3;
export const EV_BAD_TAG = 16;
export const EV_REPLAY = 17;
export const EV_POLICY = 18;
export const EV_COUNTER = 19;
/**
 * Event state slots: one per code, slot = evSlot(code) (1, 2, 3 and 16…19 → 1…7; 0 unused).
 * Eight slots instead of one per code up to 19: ~29 Espruino variables less.
 */
const EV_SLOTS = 8;
/** The state slot of an EVENT code: its low two bits, and bit 2 for the security codes 16…19. */
const evSlot = (code: number): number => (code & 3) | ((code >> 2) & 4);
/** Slot 4…7 back to its security code 16…19. */
const EV_SLOT_TO_SECURITY = EV_BAD_TAG - 4;
// Fields of the event state array `ev`, EV_SLOTS entries each (indexed by evSlot(code), or by op for EVF_WARNED).
const EVF_PENDING = 0; // occurrences not yet reported
const EVF_DETAIL = EV_SLOTS; // detail of the last occurrence (non-security codes)
const EVF_INFLIGHT = 2 * EV_SLOTS; // 1 while a report waits for its LINK_ACK
const EVF_T = 3 * EV_SLOTS; // t of the report in flight
const EVF_IDETAIL = 4 * EV_SLOTS; // detail of the report in flight
const EVF_CTR = 5 * EV_SLOTS; // link counter it last went under
const EVF_AT = 6 * EV_SLOTS; // when it was last sent
const EVF_WARNED = 7 * EV_SLOTS; // per op 1…OP_MAX: EVENT 19 already raised
const EVF_END = 7 * EV_SLOTS + OP_MAX + 1;
const U32_MAX = 0xffffffff;

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
/** Most response fields after req: READ register [req, 1, t, wh, w]. */
const RESP_MAX = 4;

/** Intervals per READ load-profile response (PROTOCOL.md §10). */
export const READ_MAX_INTERVALS = 16;
/** Image bytes per FIRMWARE CHUNK the meter accepts (PROTOCOL.md §10; the HES sends 512). */
export const MAX_FW_CHUNK = 512;
/** Longest CBOR head (major type + 8 argument bytes): decoders accept any head length. */
const CBOR_HEAD_MAX = 9;
/**
 * Largest downlink body: a FIRMWARE CHUNK [req, 2, offset, bytes] with every head at its longest.
 * Every other command is shorter; a CONFIG carries at most the two keys the meter knows.
 */
const MAX_DOWN_BODY = 5 * CBOR_HEAD_MAX + MAX_FW_CHUNK;
/**
 * Largest link frame the meter accepts (633 bytes): a link DATA frame around the largest
 * downlink end-to-end frame. The deframer refuses anything longer with ERR_OVERSIZE (counted in
 * rx.oversize) without buffering past it.
 */
export const METER_MAX_RX_FRAME = HOP_HDR_FULL + E2E_HDR_FULL + MAX_DOWN_BODY + MAX_TAG_LEN + HOP_TAG_LEN;
/** Where the end-to-end frame is sealed in txFrame (after the longest hop header), and where its body is built. */
const E2E_AT = HOP_HDR_FULL;
const BODY_AT = HOP_HDR_FULL + E2E_HDR_FULL;
/**
 * Largest uplink body: the READ load-profile answer [req, 2, [[seq, t, wh, w] × 16]] with req
 * and wh at 9 bytes, seq, t, w (32-bit) at 5 and one-byte array heads: 1 + 9 + 1 + 1 + 16 × 25 = 412.
 * Every other uplink is shorter; a body that would not fit is refused by the CBOR writer (not sent).
 */
const MAX_UP_BODY = 12 + READ_MAX_INTERVALS * (1 + 5 + 5 + CBOR_HEAD_MAX + 5);
/** Largest link frame the meter sends (488 bytes). */
const TX_FRAME_LEN = BODY_AT + MAX_UP_BODY + MAX_TAG_LEN + HOP_TAG_LEN;
/** Default interval length / push period: 15 minutes. */
export const DEFAULT_INTERVAL_S = 900;
const MIN_INTERVAL_S = 60;
const MAX_INTERVAL_S = 86400;
/** Unacknowledged readings re-pushed per retry round. */
const RETRY_BATCH = 4;
/** Warn the HES when a sender key has fewer counter values left than this (EVENT 19). */
const COUNTER_WARN = 0x10000;
// Record 'cfg' (18 bytes; byte 0: REC_VERSION), each offset derived from the field before it:
//   field               offset          size
//   tariff u32          CFG_AT_TARIFF   4
//   interval u32        CFG_AT_INTERVAL 4
//   relay (1: closed)   CFG_AT_RELAY    1
//   fw version u32      CFG_AT_FW       4
//   boot count u32      CFG_AT_BOOTS    4
const CFG_AT_TARIFF = 1;
const CFG_AT_INTERVAL = CFG_AT_TARIFF + 4;
const CFG_AT_RELAY = CFG_AT_INTERVAL + 4;
const CFG_AT_FW = CFG_AT_RELAY + 1;
const CFG_AT_BOOTS = CFG_AT_FW + 4;
const CFG_LEN = CFG_AT_BOOTS + 4;
const TICK_MS = 1000;

/** Tunables; defaults suit a real meter (an option absent or 0 takes its default). */
export interface MeterOptions {
  /** Counter reservation step R (PROTOCOL.md §6). */
  reserve?: number;
  /** Load-profile interval and push period in seconds (until CONFIG changes it). */
  intervalS?: number;
  /** Seconds between re-pushes of unacknowledged readings. */
  retryS?: number;
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

/** The configuration the meter runs with (record `cfg`); changed only by commands, after it is durable. */
export interface MeterConfig {
  tariff: number;
  /** Load-profile interval and push period in seconds. */
  interval: number;
  /** Relay state: true = closed (power on). */
  relay: boolean;
  /** Running firmware version (changed by a verified activation). */
  fwVersion: number;
  /** Boots so far, this one included. */
  boots: number;
}

/** The running meter. */
export interface MeterApp {
  readonly meterId: Uint8Array;
  readonly stats: MeterStats;
  /** Read-only for callers: the meter changes it. */
  readonly config: MeterConfig;
  /** The radio line's deframer: its buffer bounds every received frame; it counts CRC, oversize and framing errors. */
  readonly rx: SerialDeframer;
  readonly keys: MeterKeys;
  readonly profile: LoadProfile;
  readonly register: EnergyRegister;
  readonly firmware: FirmwareDownload;
  relayClosed(): boolean;
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
}

/**
 * Starts the meter from the provisioning record 'prov'; throws only when the board was never provisioned.
 * On Espruino every function object created here stays resident (~5 variables + 1 per parameter),
 * so the meter is a handful of closures: transmit (send, sendLink), events (noteEvent, flushEvent,
 * securityError), receive (onFrame) and one command switch.
 */
export function startMeter(board: Board, options?: MeterOptions): MeterApp {
  const opts: MeterOptions = options || {};
  const st = board.storage;
  let prov: MeterProv | undefined = parseMeterProv(st.read(REC_PROV));
  if (!prov) throw new Error('vakt: bad prov');
  const ctx: CryptoCtx = createCryptoCtx(board.aes);
  const keys = new MeterKeys(ctx, st, prov, opts.reserve || 64);
  // MeterKeys keeps what it needs; the closures below would otherwise keep the image (and its
  // copies of the master and link keys) alive for as long as the meter runs.
  prov = undefined;
  const lp = new LoadProfile(st, LP_SLOTS);
  const fw = new FirmwareDownload(st);
  const retryS = opts.retryS || 300;
  const port: SerialPort | undefined = board.serial[0];
  const clock = board.clock;
  // One header for both layers: the link header is done with (LINK_ACK sent) before the inner frame is parsed.
  const hdr: FrameHeader = createHeader();
  const txFrame = new Uint8Array(TX_FRAME_LEN);
  // The line form is written through this scratch, LINE_BLOCK bytes per SerialPort.write.
  const txBlock = new Uint8Array(LINE_BLOCK);
  // Responses are written after room for both full headers (BODY_AT; the seals move them into
  // place); requests are opened in place in the deframer's buffer.
  const body = txFrame.subarray(BODY_AT, BODY_AT + MAX_UP_BODY);
  const r: CborReader = createCborReader();
  const iv: Interval = { seq: 0, t: 0, wh: 0, w: 0 };
  // Response fields after req, filled by command().
  const resp = new Float64Array(RESP_MAX);
  // Event state in one typed array (one allocation instead of eight on Espruino): field f of
  // slot i (an event code, or an op for EVF_WARNED) at f + i. Every field is a count, a detail,
  // a flag, a link counter or a time in unix seconds: 32 bits each, half the RAM of Float64.
  const ev = new Uint32Array(EVF_END);
  const stats: MeterStats = {
    framesIn: 0,
    notForMe: 0,
    linkErrors: 0,
    badTag: 0,
    replay: 0,
    policy: 0,
    eventsSent: 0,
    eventsSuppressed: 0,
    commands: 0,
    duplicates: 0,
    sendErrors: 0,
  };

  // Configuration record.
  const cfg: MeterConfig = {
    tariff: 0,
    interval: opts.intervalS || DEFAULT_INTERVAL_S,
    relay: true,
    fwVersion: 0,
    boots: 0,
  };
  const cfgRec = new Uint8Array(CFG_LEN);
  let cr = readFixed(st, REC_CFG, CFG_LEN);
  if (cr) {
    cfg.tariff = readU32BE(cr, CFG_AT_TARIFF);
    const iv0 = readU32BE(cr, CFG_AT_INTERVAL);
    if (iv0 >= MIN_INTERVAL_S && iv0 <= MAX_INTERVAL_S) cfg.interval = iv0;
    cfg.relay = cr[CFG_AT_RELAY] === 1;
    cfg.fwVersion = readU32BE(cr, CFG_AT_FW);
    cfg.boots = readU32BE(cr, CFG_AT_BOOTS);
    cr = undefined; // not kept alive by the closures
  }
  const saveCfg = (): boolean => {
    cfgRec[0] = REC_VERSION;
    writeBE(cfgRec, CFG_AT_TARIFF, 4, cfg.tariff);
    writeBE(cfgRec, CFG_AT_INTERVAL, 4, cfg.interval);
    cfgRec[CFG_AT_RELAY] = cfg.relay ? 1 : 0;
    writeBE(cfgRec, CFG_AT_FW, 4, cfg.fwVersion);
    writeBE(cfgRec, CFG_AT_BOOTS, 4, cfg.boots);
    try {
      st.write(REC_CFG, cfgRec);
      return true;
    } catch (e) {
      return false;
    }
  };

  const now0 = clock.now();
  const limiter = new RateLimiter(opts.eventBurst || 4, opts.eventPeriodS || 60, now0);
  // The register resumes from the last stored interval.
  const reg = new EnergyRegister(lp.get(lp.nextSeq_ - 1, iv) ? iv.wh : 0, now0);

  /**
   * End of the interval that holds `t`. Interval boundaries are multiples of cfg.interval: t − t mod
   * interval starts t's interval (the same as floor(t / interval) · interval for the clock's
   * non-negative whole seconds).
   */
  const intervalEnd = (t: number): number => t - (t % cfg.interval) + cfg.interval;
  let nextClose = intervalEnd(now0);
  // req of the last FIRMWARE ACTIVATE that succeeded (its repeat is answered OK, not REFUSED).
  let activatedReq = -1;
  let lastRetry = now0;
  let lastNow = now0;

  // ---- sending -----------------------------------------------------------------------------

  // Link counter of the last DATA frame sent (0: none yet).
  let lastData = 0;

  /** Seals txFrame[E2E_AT..+len) as link frame `type` under the link UP key and transmits it. */
  const sendLink = (type: number, len: number): boolean => {
    const lc = keys.linkUp.ctr as SendCounter;
    // A DATA frame while the previous one is still unacknowledged carries the full link counter:
    // the concentrator may have lost step with us (§6, resynchronisation).
    if (type === LINK_DATA && lc.sync < lastData) lc.sync = 0;
    const m = sealFrame(ctx, keys.linkUp, type, txFrame, E2E_AT, len, txFrame, 0);
    if (type === LINK_DATA && m > 0) lastData = lc.next - 1;
    if (m < 0) {
      stats.sendErrors++;
      return false;
    }
    return port !== undefined && writeSerialFrame(txFrame, 0, m, txBlock, port) > 0;
  };

  // Write position in `body` of the response being built; negative once a head did not fit
  // (writeHead then leaves it negative, and the body is not sent).
  let wo = 0;
  /** Appends one CBOR head to the response body: an unsigned integer, or an array's item count. */
  const put = (major: number, v: number): void => {
    wo = writeHead(body, wo, major, v);
  };

  /** Sends op with body [req, resp[0], …, resp[k − 1]] (all unsigned integers); false if it did not go out. */
  const reply = (op: number, req: number, k: number): boolean => {
    wo = 0;
    put(CBOR_ARRAY, k + 1);
    put(CBOR_UINT, req);
    for (let i = 0; i < k; i++) put(CBOR_UINT, resp[i]);
    return wo > 0 && send(op);
  };

  /**
   * Seals the response body[0..wo) as op under the op's UP key (KEY_UPDATE: the CONFIRM key KC,
   * PROTOCOL.md §8), wraps it in a link DATA frame and transmits it.
   */
  const send = (op: number): boolean => {
    const slot: KeySlot | null = op === OP_KEY_UPDATE ? keys.kc() : keys.up(op);
    if (!slot) return false;
    const n = sealFrame(ctx, slot, op, body, 0, wo, txFrame, E2E_AT);
    if (n < 0) {
      stats.sendErrors++;
      if (n === ERR_COUNTER_EXHAUSTED && op !== OP_EVENT) noteEvent(EV_COUNTER, op);
      return false;
    }
    const sent = sendLink(LINK_DATA, n);
    // Only after the frame left: the warning reuses body and txFrame.
    if (slot.ctr && countersLeft(slot.ctr) < COUNTER_WARN && ev[EVF_WARNED + op] === 0 && op !== OP_EVENT) {
      ev[EVF_WARNED + op] = 1;
      noteEvent(EV_COUNTER, op);
    }
    return sent;
  };

  /**
   * Sends EVENT [0, code, t, detail] for `code` if one is due. One report per code is in flight
   * until the concentrator link-acknowledges it (it then holds it until the HES does); a
   * retransmission (every retryS) repeats t and detail exactly, so the HES can drop duplicates by
   * (code, t, detail). Occurrences meanwhile accumulate for the next report. Every transmission
   * costs a rate-limiter token.
   */
  const flushEvent = (code: number): void => {
    const e = evSlot(code);
    const again = ev[EVF_INFLIGHT + e] === 1;
    if (again) {
      if (lastNow >= ev[EVF_AT + e] && lastNow - ev[EVF_AT + e] < retryS) return;
      if (!limiter.take(lastNow)) return;
    } else {
      if (ev[EVF_PENDING + e] === 0) return;
      if (!limiter.take(lastNow)) {
        stats.eventsSuppressed++;
        return;
      }
      // A new report (its fields count only once it is in flight). Security events (16…18) report
      // how often they happened since the last report; others their own detail.
      ev[EVF_T + e] = lastNow;
      ev[EVF_IDETAIL + e] = code >= EV_BAD_TAG && code <= EV_POLICY ? ev[EVF_PENDING + e] : ev[EVF_DETAIL + e];
    }
    // The report goes out: its key is derived here, two call levels above send (a key derivation
    // is the deepest chain of calls under a send); send finds it in the shared slot.
    keys.up(OP_EVENT);
    // EVENT [0, code, t, detail]
    resp[0] = code;
    resp[1] = ev[EVF_T + e];
    resp[2] = ev[EVF_IDETAIL + e];
    if (!reply(OP_EVENT, 0, 3)) return;
    stats.eventsSent++;
    if (!again) ev[EVF_PENDING + e] = 0;
    ev[EVF_INFLIGHT + e] = 1;
    // The link counter of the DATA frame just sent (its LINK_ACK names it).
    ev[EVF_CTR + e] = (keys.linkUp.ctr as SendCounter).next - 1;
    ev[EVF_AT + e] = lastNow;
  };

  /** Counts an event and reports it now or, when rate-limited, later (summed): bounded state, no queue growth. */
  const noteEvent = (code: number, detail: number): void => {
    const e = evSlot(code);
    if (ev[EVF_PENDING + e] < U32_MAX) ev[EVF_PENDING + e]++; // saturates, never wraps to "none"
    ev[EVF_DETAIL + e] = detail;
    flushEvent(code);
  };

  // The security event of the frame being handled (0: none): reported by onSerial once the frame
  // is done, not from deep inside its handling (RAM on Espruino: each call level holds its locals).
  let secEvent = 0;
  /** Counts a refused authentic-looking frame and notes its report (EVENT 16 bad tag, 17 replay, 18 policy). */
  const securityError = (err: number): void => {
    if (err === ERR_TAG) {
      stats.badTag++;
      secEvent = EV_BAD_TAG;
    } else if (err === ERR_REPLAY) {
      stats.replay++;
      secEvent = EV_REPLAY;
    } else {
      stats.policy++;
      secEvent = EV_POLICY;
    }
  };

  // ---- receiving ---------------------------------------------------------------------------

  /**
   * One CRC-checked link frame from the radio line, buf[off..off+len) (the deframer's buffer).
   * Both layers are opened in place: the deframer's buffer is the only receive buffer. True when
   * an authentic, fresh command waits in the reader `r` (hdr describes it): onSerial executes it,
   * one call level up (RAM on Espruino: a command's answer is the meter's deepest path).
   */
  const onFrame = (buf: Uint8Array, off: number, len: number): boolean | void => {
    stats.framesIn++;
    if (parseRadioHeader(buf, off, len, hdr) < 0 || hdr.version !== LINK_VERSION || hdr.dir !== DIR_DOWN) {
      stats.linkErrors++;
      return;
    }
    // A shared radio channel carries frames for other meters: not an attack, not our business.
    if (hdr.addr !== keys.linkDown.addr) {
      stats.notForMe++;
      return;
    }
    const b = off + hdr.hdrLen;
    // Asked before opening in place (a failed open zeroes the body).
    const escape = isResidueEscape(buf, off, len);
    let n = openRadioFrame(ctx, hdr, keys.linkDown, buf, off, buf, b);
    if (n < 0) {
      if (n === ERR_RECEIVER || n === ERR_UNKNOWN_SENDER) stats.notForMe++;
      // Line noise that slipped past the CRC (§9 residue-0 escape), not a forgery (D-9).
      else if (n === ERR_TAG && escape) stats.linkErrors++;
      else securityError(n);
      return;
    }
    if (hdr.op === LINK_ACK) {
      // LINK_ACK [counter]: our uplink under that link counter is held by the concentrator.
      // Readings are freed only by the end-to-end ACK; event reports, which have none, here.
      if (cborReaderInit(r, buf, b, n) < 0 || readHead(r, CBOR_ARRAY) !== 1) return;
      const c = readHead(r, CBOR_UINT);
      // The concentrator holds that link counter: later uplinks may carry the short counter (§6).
      ackCounter(keys.linkUp.ctr as SendCounter, c);
      for (let e = 1; c > 0 && e < EV_SLOTS; e++) {
        if (ev[EVF_CTR + e] === c) ev[EVF_INFLIGHT + e] = 0;
      }
      return;
    }
    if (hdr.op !== LINK_DATA) return;
    // LINK_ACK [counter] for the DATA frame: the concentrator may drop its copy.
    let o = writeHead(txFrame, E2E_AT, CBOR_ARRAY, 1);
    o = writeHead(txFrame, o, CBOR_UINT, hdr.counter);
    if (o > 0) sendLink(LINK_ACK, o - E2E_AT);

    // The end-to-end frame inside: hdr now describes it (the cast drops TypeScript's narrowing from the link checks).
    const e = parseRadioHeader(buf, b, n, hdr);
    if (e < 0 || (hdr as FrameHeader).version !== E2E_VERSION) {
      securityError(e < 0 ? e : ERR_UNKNOWN_SENDER);
      return;
    }
    const slot = keys.findDown(hdr);
    if (typeof slot === 'number') {
      securityError(slot);
      return;
    }
    const eb = b + hdr.hdrLen;
    n = openRadioFrame(ctx, hdr, slot, buf, b, buf, eb);
    if (n < 0) {
      // The very frame accepted last, again: the concentrator retransmitted it because our
      // LINK_ACK was lost. Authentic and without effect, so counted, not reported as an attack.
      // (hdr still holds the wire counter: all of it, or the low bits that reconstruct to last, §6.)
      if (n === ERR_REPLAY && hdr.counter === (hdr.full === 1 ? slot.last : slot.last % E2E_CTR_WINDOW)) stats.duplicates++;
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
    return cborReaderInit(r, buf, eb, n) >= 0;
  };

  /**
   * Executes one authentic, fresh command (the reader `r` is at its body, PROTOCOL.md §10) and
   * sends the response [req, resp[0..k)] under the op's key: each case sets k (0: no response, or the
   * case sent its own).
   */
  const command = (op: number): void => {
    const items = readHead(r, CBOR_ARRAY);
    const req = readHead(r, CBOR_UINT);
    // The body table (PROTOCOL.md §10, shared/src/bodies.ts): a command acts only when its last item
    // ends the body (end()); trailing bytes, a float or a tag in place of an item, too many items: status 2.
    const end = (): boolean => r.pos === r.end;
    let k = 1;
    resp[0] = ST_BAD;
    // req >>> 0 === req: req is a u32 (readHead gives a whole number, or < 0 on error).
    if (items < 1 || req >>> 0 !== req) {
      // Malformed body: the answer is [0, ST_BAD], except that KEY_UPDATE answers only with
      // CONFIRM or ACK, and an ACK is never answered.
      if (op !== OP_KEY_UPDATE && op !== OP_ACK) reply(op, 0, 1);
      return;
    }
    // The second item: sub-command (READ, FIRMWARE, KEY_UPDATE), op (ACK), relay state or time
    // (RELAY, CLOCK), or the pair count of CONFIG's map.
    const kind = readHead(r, op === OP_CONFIG ? CBOR_MAP : CBOR_UINT);
    switch (op) {
      case OP_ACK: {
        // [0, 1, upTo]: readings up to upTo are stored at the HES.
        const upTo = readHead(r, CBOR_UINT);
        if (items === 3 && kind === OP_READING && upTo >>> 0 === upTo && end()) lp.ack(upTo);
        return;
      }
      case OP_READ:
        if (kind === READ_REGISTER && items === 2 && end()) {
          const t = clock.now();
          reg.advance(t);
          resp[0] = READ_REGISTER;
          resp[1] = t;
          resp[2] = reg.wh;
          resp[3] = reg.w;
          k = 4;
        } else if (kind === READ_PROFILE && items === 4) {
          const from = readHead(r, CBOR_UINT);
          const to = readHead(r, CBOR_UINT);
          if (from >>> 0 === from && to >>> 0 === to && end()) {
            // [req, 2, [[seq, t, wh, w], …]]: at most READ_MAX_INTERVALS, so the count fits a one-byte head.
            wo = 0;
            put(CBOR_ARRAY, 3);
            put(CBOR_UINT, req);
            put(CBOR_UINT, READ_PROFILE);
            const headPos = wo;
            put(CBOR_ARRAY, 0); // patched below
            let count = 0;
            // From the oldest interval still held: a huge range costs no empty iterations.
            for (let seq = Math.max(from, lp.nextSeq_ - LP_SLOTS, 1); seq <= to && seq < lp.nextSeq_ && count < READ_MAX_INTERVALS; seq++) {
              if (!lp.get(seq, iv)) continue;
              put(CBOR_ARRAY, 4);
              put(CBOR_UINT, iv.seq);
              put(CBOR_UINT, iv.t);
              put(CBOR_UINT, iv.wh);
              put(CBOR_UINT, iv.w);
              count++;
            }
            if (wo < 0) return;
            body[headPos] = 0x80 | count;
            send(OP_READ);
            return;
          }
        }
        break;
      case OP_RELAY: {
        // [req, state] → [req, state, status]
        const state = items === 2 && end() ? kind : -1;
        resp[0] = state < 0 ? 0 : state;
        resp[1] = ST_BAD;
        k = 2;
        if (state === 0 || state === 1) {
          const prev = cfg.relay;
          cfg.relay = state === 1;
          if (saveCfg()) {
            board.pins.relay(cfg.relay);
            resp[1] = ST_OK;
          } else {
            cfg.relay = prev;
            resp[1] = ST_REFUSED;
          }
        }
        break;
      }
      case OP_CONFIG: {
        // [req, {key: value}] → [req, status]: all or nothing.
        const pt = cfg.tariff;
        const pi = cfg.interval;
        const pairs = items === 2 ? kind : -1;
        let status = pairs < 0 ? ST_BAD : ST_OK;
        // Keys seen so far as bits: the keys 1 and 2 are their own bits, so a repeated key shows.
        let seen = 0;
        for (let i = 0; i < pairs && status === ST_OK; i++) {
          const key = readHead(r, CBOR_UINT);
          const v = readHead(r, CBOR_UINT);
          // v >>> 0 === v: v is an integer in [0, 2^32) (readHead gives a whole number, or < 0 on error).
          if (seen & key) status = ST_BAD;
          else if (key === CFG_TARIFF && v >>> 0 === v) cfg.tariff = v;
          else if (key === CFG_PUSH_INTERVAL && v >= MIN_INTERVAL_S && v <= MAX_INTERVAL_S) cfg.interval = v;
          else status = ST_BAD;
          seen |= key;
        }
        if (status === ST_OK && !end()) status = ST_BAD;
        if (status === ST_OK && !saveCfg()) status = ST_REFUSED;
        if (status !== ST_OK) {
          cfg.tariff = pt;
          cfg.interval = pi;
        } else if (pi !== cfg.interval) nextClose = intervalEnd(clock.now());
        resp[0] = status;
        break;
      }
      case OP_CLOCK: {
        // [req, t] → [req, status, tBefore]
        const t = items === 2 && end() ? kind : -1;
        resp[1] = clock.now();
        k = 2;
        if (t >>> 0 === t) {
          clock.set(t);
          lastNow = t;
          reg.advance(t);
          nextClose = intervalEnd(t);
          resp[0] = ST_OK;
        }
        break;
      }
      case OP_FIRMWARE: {
        // BEGIN / CHUNK / ACTIVATE → [req, status, nextOffset]
        let status = FW_BAD_REQUEST;
        try {
          if (kind === FW_BEGIN && items === 5) {
            const size = readHead(r, CBOR_UINT);
            const ml = readHead(r, CBOR_BYTES);
            const mOff = r.dataOff;
            const version = readHead(r, CBOR_UINT);
            // The image key is KF[g] of the generation this BEGIN came under (PROTOCOL.md §10, D-10).
            if (size > 0 && ml === CMAC_TAG_LEN && version >= 0 && end()) status = fw.begin(size, r.buf, mOff, version, hdr.gen);
          } else if (kind === FW_CHUNK && items === 4) {
            const offset = readHead(r, CBOR_UINT);
            const n = readHead(r, CBOR_BYTES);
            if (offset >>> 0 === offset && n > 0 && n <= MAX_FW_CHUNK && end()) status = fw.chunk(offset, r.buf, r.dataOff, n);
          } else if (kind === FW_ACTIVATE && items === 2 && end()) {
            // Incomplete, MAC mismatch or FIRMWARE key changed since BEGIN: the running image stays
            // (a rejected download is discarded).
            status = FW_REFUSED;
            // The HES repeats an ACTIVATE whose answer the radio lost (same req): answer OK again, no effect.
            const res = req === activatedReq ? ACT_OK : fw.activate(ctx, keys);
            if (req === activatedReq) status = FW_OK;
            else if (res === ACT_OK) {
              const prev = cfg.fwVersion;
              cfg.fwVersion = fw.version;
              if (saveCfg()) {
                fw.discard();
                status = FW_OK;
                activatedReq = req;
              } else cfg.fwVersion = prev;
            }
            if (res === ACT_REJECTED) board.log('fw image rejected: rolled back to v' + cfg.fwVersion);
          }
        } catch (e) {
          status = FW_REFUSED; // storage failure mid-download: the state record still describes what is held
        }
        resp[0] = status;
        resp[1] = fw.received_;
        k = 2;
        break;
      }
      case OP_KEY_UPDATE: {
        const scope = readHead(r, CBOR_UINT);
        const newGen = readHead(r, CBOR_UINT);
        k = 0;
        if (kind === KU_TRANSPORT && items === 5) {
          const kl = readHead(r, CBOR_BYTES);
          if (kl !== KEY_LEN || scope < 0 || newGen < 0 || !end() || keys.stage(scope, newGen, r.buf, r.dataOff) === KU_REFUSED) {
            securityError(0);
            return;
          }
          // CONFIRM [req, 2, scope, newGen] proves possession of the staged key: sealed under KC[scope, newGen].
          resp[0] = KU_CONFIRM;
          resp[1] = scope;
          resp[2] = newGen;
          k = 3;
        } else if (kind === KU_ACTIVATE && items === 4 && end()) {
          // Activation by a frame under the staged generation already happened in onFrame.
          if (keys.stPresent_ && keys.stScope_ === scope && keys.stGen_ === newGen && !keys.activate()) return;
          if (!keys.inForce(scope, newGen)) {
            securityError(0);
            return;
          }
          // ACK [req, 7, newGen] (PROTOCOL.md §8 step 4), also for a repeated ACTIVATE whose ACK was lost:
          // it is the HES's only sign of activation when the scope has no uplink key of its own.
          resp[0] = OP_KEY_UPDATE;
          resp[1] = newGen;
          reply(OP_ACK, req, 2);
        }
        break;
      }
    }
    if (k > 0) reply(op, req, k);
  };

  // Poll mode (no handler): onSerial calls onFrame itself, one call level above the deframer.
  const rx = new SerialDeframer(METER_MAX_RX_FRAME);

  const app: MeterApp = {
    meterId: keys.meterId,
    stats: stats,
    config: cfg,
    rx: rx,
    keys: keys,
    profile: lp,
    register: reg,
    firmware: fw,
    relayClosed: (): boolean => cfg.relay,
    onSerial: (chunk: Uint8Array): void => {
      try {
        // Each frame is handled here rather than from inside push(): on Espruino every call level
        // holds its parameters and locals, and a command's answer (key derivation, seal, storage
        // write) is the meter's deepest path.
        for (let off = 0; off < chunk.length;) {
          off += rx.push(chunk, off, chunk.length - off);
          if (rx.frameLen < 0) continue;
          if (onFrame(rx.buf, 0, rx.frameLen)) {
            // The answer's key is derived here, before descending (an ACK is not answered).
            if (hdr.op !== OP_ACK) keys.up(hdr.op);
            command(hdr.op);
          }
          if (secEvent > 0) noteEvent(secEvent, 0);
          secEvent = 0;
        }
      } catch (e) {
        // Only a board fault (storage) can throw below the deframer; the meter keeps running.
        stats.linkErrors++;
      }
    },
    tick: (now: number): void => {
      try {
        const next = intervalEnd(now);
        // Clock stepped back (set by CLOCK or the board): re-anchor the interval grid.
        if (now < lastNow) nextClose = next;
        lastNow = now;
        reg.advance(now);
        // Readings to push: the interval just closed, or a batch of unacknowledged ones every retryS.
        let from = 0;
        let n = 0;
        if (now >= nextClose) {
          const t = nextClose;
          nextClose = next;
          lastRetry = now;
          try {
            from = lp.append(t, reg.wh, reg.w);
            n = 1;
          } catch (e) {
            // Storage fault: this interval is lost; events below still go out.
          }
        } else if (lp.pending() > 0 && now - lastRetry >= retryS) {
          lastRetry = now;
          from = lp.nextSeq_ - lp.pending();
          n = RETRY_BATCH;
        }
        for (let s = from; s < from + n && s < lp.nextSeq_; s++) {
          if (!lp.get(s, iv)) continue;
          // READING [0, seq, t, wh, w]
          resp[0] = iv.seq;
          resp[1] = iv.t;
          resp[2] = iv.wh;
          resp[3] = iv.w;
          reply(OP_READING, 0, 4);
        }
        for (let e = 1; e < EV_SLOTS; e++) {
          // Only a code with something to report looks at the limiter (available() moves its refill clock).
          if (ev[EVF_PENDING + e] + ev[EVF_INFLIGHT + e] === 0) continue;
          if (limiter.available(lastNow) === 0) break;
          flushEvent(e < 4 ? e : e + EV_SLOT_TO_SECURITY);
        }
      } catch (e) {
        stats.sendErrors++;
      }
    },
    onPulse: (n: number): void => reg.pulse(n),
    onTamper: (): void => noteEvent(EV_TAMPER, 0),
    onPowerFail: (): void => noteEvent(EV_POWER_FAIL, cfg.boots),
  };

  // Boot: count the boot, restore the relay, announce the power restore.
  cfg.boots++;
  saveCfg();
  board.pins.relay(cfg.relay);
  noteEvent(EV_POWER_RESTORE, cfg.boots);

  if (opts.attach !== false) {
    if (port) port.onData(app.onSerial);
    board.pins.onPulse(app.onPulse);
    board.pins.onTamper(app.onTamper);
    clock.every(TICK_MS, (): void => app.tick(clock.now()));
  }
  return app;
}
