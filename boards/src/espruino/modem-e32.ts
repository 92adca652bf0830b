// Ebyte E32 (SX1276 LoRa UART module) driver for firmware on Espruino, in the spirit of an
// EspruinoDocs module: the board profile's `modem` names its pins (M0, M1, AUX) and settings; the
// driver configures the module and reads the configuration back, then stands in for the UART
// object (Serial1) the board adapter wraps, so the firmware keeps writing and reading serial frames
// (COBS(frame ‖ CRC16) ‖ 0x00, PROTOCOL.md §9) and never sees the radio:
//
//   firmware ─ serial frames ─▶ this driver ─ packets ≤ 58 B ─▶ E32 UART ─▶ air
//     one unit (frame ‖ CRC16) per packet, or its fragments (shared/src/fragment.ts), each sent only
//     when AUX is high and the band's duty cycle allows it (boards/src/common/radio.ts MinuteBudget);
//   air ─▶ E32 UART ─ packets (an idle gap ends one) ─▶ reassembly ─▶ serial frames ─▶ firmware.
//
// The same rules as the host's RadioPort + EbyteDriver (host/src/modem): replies (what the firmware
// writes while handling a received unit) go without access jitter, a command's response and the
// LINK_ACK of a fragmented unit go in `replyCopies` copies, long units' fragments in
// `fragmentCopies`, a copy of a unit just received is dropped, and after a spontaneous unit the
// driver keeps quiet while its receiver answers. A configuration that does not read back is one
// plain line ("E32 on Serial1 did not accept channel 0x17 (reads back 0x06)"): the driver then
// sends nothing (counted) rather than transmit with settings nobody chose.
//
// Memory is fixed at creation: queue × maxUnit + slots × maxUnit bytes plus a few packet buffers.
// Not part of the meter bundle: the build appends it (dist/firmware/espruino-modem.js) only to the
// deliverables of a board profile whose modem is an E32 (scripts/build-firmware.ts).
// Written to the Espruino subset: no Map, destructuring, default parameters, spread or hoisting.
//
// Test telegram: boards/src/common/ebyte.ts (the factory configuration C0 00 00 1A 17 44 decoded);
// test/modem/modem-e32.test.ts drives this driver against the emulated E32 (host/src/modem/emu).
import { cobsDecode, cobsEncode, cobsMaxEncodedLen, COBS_DELIMITER } from '@vakt/shared/cobs';
import { CRC16_LEN } from '@vakt/shared/crc16';
import {
  burstFragment,
  burstLength,
  FRAG_COPIES_MIN,
  FRAG_HEADER_LEN,
  fragmentChunk,
  fragmentCount,
  isFragment,
  Reassembler,
  SHORT_ADDR_LEN,
  writeFragment,
} from '@vakt/shared/fragment';
import type { ModemProfile } from '../types.ts';
import {
  decodeE32Config,
  e32ConfigFrame,
  E32_DEFAULT,
  E32_FIELDS,
  E32_FRAME,
  E32_MAX_PAYLOAD,
  EBYTE_CONFIG_BAUD,
  EBYTE_HEAD_READ,
  EBYTE_HEAD_SAVE,
  ebyteLora,
} from '../common/ebyte.ts';
import type { E32Config } from '../common/ebyte.ts';
import { findBand, loraTimeOnAirMs, MinuteBudget, readBackMessage } from '../common/radio.ts';
import type { LoraParams } from '../common/radio.ts';
import type { ModemIo, ModemSerialState, ModemUart } from './modem-io.ts';
import { ST_CONFIG, ST_FAILED, ST_INIT, ST_READY, STATE_NAMES } from './modem-io.ts';

/** The interpreter's functions and the UART, as every firmware-side modem driver takes them. */
export type E32Io = ModemIo;
export type E32Uart = ModemUart;

/** Counters (monotonic). */
export interface E32Stats {
  packetsSent: number;
  packetsReceived: number;
  /** Airtime of what was sent, ms. */
  airtimeMs: number;
  unitsIn: number;
  unitsOut: number;
  /** Units refused: queue full, too long, not COBS, over the duty-cycle budget, or the module not configured. */
  refusedQueue: number;
  refusedOversize: number;
  badFrames: number;
  refusedBudget: number;
  refusedNotReady: number;
  /** Units that waited for duty-cycle budget before going out. */
  delayedBudget: number;
  /** Received packets longer than the module's limit, fragments whose unit names another address, copies dropped. */
  badPackets: number;
  addressMismatch: number;
  unitCopies: number;
}

/** The driver as the board adapter sees it (a UART object) plus its state. */
export interface E32Serial extends ModemSerialState {
  readonly stats: E32Stats;
  /** Packets waiting (units × their bursts) — for tests and a console. */
  queued(): number;
}

/** Settle time after a mode change once AUX is high (manual: 2 ms). */
const MODE_SETTLE_MS = 2;
const AUX_POLL_MS = 2;
/** Longest wait for AUX high during configuration (a module stuck low is an error, not a hang). */
const AUX_TIMEOUT_MS = 1000;
const ANSWER_TIMEOUT_MS = 500;
/** Idle line that ends a received packet (LoRa packets are tens of ms apart, a UART byte ~1 ms). */
const RX_GAP_MS = 20;
/** ms per UART byte at 9600 8N1. */
const UART_BYTE_MS = 10000 / EBYTE_CONFIG_BAUD;
/** Idle byte times the module waits before it keys up, and a margin for its own latency. */
const IDLE_BYTES = 3;
const START_MARGIN_MS = 10;
/** A unit waits at most this long for budget before it is refused (as the host driver's maxWaitMs). */
const MAX_BUDGET_WAIT_MS = 60000;
/** Quiet time after a spontaneous unit for its receiver's answer: the airtime of a 48-byte packet + 50 ms. */
const LISTEN_BYTES = 48;
const LISTEN_MARGIN_MS = 50;
/** A unit identical to one received this recently is a copy and dropped; units remembered for it. */
const COPY_WINDOW_MS = 10000;
const RECENT_UNITS = 8;
/** Fingerprint: length, the unit's first 4 bytes (hop byte, short address, counter), its CRC-16. */
const PRINT_HEAD = 4;
const PRINT_LEN = 1 + PRINT_HEAD + CRC16_LEN;
/** v2 hop frame: first byte 01XD tttt (wire-v2 §2); type 1 DATA. */
const HOP_MARK_MASK = 0xc0;
const HOP_MARK = 0x40;
const HOP_TYPE_MASK = 0x0f;
const HOP_DATA = 1;
const HOP_ADDR_OFF = 1;
const FRAG_ADDR_OFF = 1;
const FLAG_REPLY = 1;
const FLAG_COSTLY = 2;
const DEFAULT_QUEUE = 4;
const DEFAULT_MAX_UNIT = 600;
const DEFAULT_SLOTS = 2;
const REASSEMBLY_TIMEOUT_MS = 30000;

/**
 * Wraps the UART `uart` of an E32 wired as `profile` says (pins m0, m1, aux; band; config). The
 * adapter calls setup() as for any UART: that configures the module (asynchronously); frames the
 * firmware writes before it is ready wait in the queue. `name` is the UART's name for messages.
 */
export function createE32Serial(uart: E32Uart, profile: ModemProfile, io: E32Io, name: string): E32Serial {
  const pins = profile.pins || {};
  const pinOf = (logical: string): unknown => {
    const p = pins[logical];
    if (p === undefined) throw new Error('E32 on ' + name + ': the board profile maps no pin "' + logical + '"');
    return io.pin(p);
  };
  const m0 = pinOf('m0');
  const m1 = pinOf('m1');
  const aux = pinOf('aux');
  const pc = profile.config || {};
  const cfg: E32Config = {
    address: pc.address === undefined ? E32_DEFAULT.address : pc.address,
    channel: pc.channel === undefined ? E32_DEFAULT.channel : pc.channel,
    airRate: pc.airRate === undefined ? E32_DEFAULT.airRate : pc.airRate,
    powerDbm: pc.powerDbm === undefined ? E32_DEFAULT.powerDbm : pc.powerDbm,
  };
  if (profile.band === undefined)
    throw new Error('E32 on ' + name + ': the board profile names no band (the duty-cycle limit is never a default; lab = none)');
  const band = findBand(profile.band);
  if (band.maxPowerDbm !== undefined && cfg.powerDbm > band.maxPowerDbm)
    throw new Error('E32 on ' + name + ': ' + cfg.powerDbm + ' dBm exceeds the ' + band.maxPowerDbm + ' dBm band ' + band.name + ' allows');
  const frame = e32ConfigFrame(cfg, false);
  const lora: LoraParams = ebyteLora(cfg.airRate);
  const budget = new MinuteBudget(band.dutyCycle);
  const queueLen = profile.queue === undefined ? DEFAULT_QUEUE : profile.queue;
  const maxUnit = profile.maxUnit === undefined ? DEFAULT_MAX_UNIT : profile.maxUnit;
  const fragCopies = profile.fragmentCopies === undefined ? 1 : profile.fragmentCopies;
  const replyCopies = profile.replyCopies === undefined ? 1 : profile.replyCopies;
  const jitterMs = profile.jitterMs === undefined ? 0 : profile.jitterMs;
  const chunk = fragmentChunk(E32_MAX_PAYLOAD);
  const reasm = new Reassembler(profile.slots === undefined ? DEFAULT_SLOTS : profile.slots, chunk, maxUnit, REASSEMBLY_TIMEOUT_MS);
  const airtime = (len: number): number => loraTimeOnAirMs(lora, len);
  const listenMs = airtime(LISTEN_BYTES) + LISTEN_MARGIN_MS;
  const nowMs = (): number => io.getTime() * 1000;
  const auxHigh = (): boolean => !!io.digitalRead(aux);

  const stats: E32Stats = {
    packetsSent: 0,
    packetsReceived: 0,
    airtimeMs: 0,
    unitsIn: 0,
    unitsOut: 0,
    refusedQueue: 0,
    refusedOversize: 0,
    badFrames: 0,
    refusedBudget: 0,
    refusedNotReady: 0,
    delayedBudget: 0,
    badPackets: 0,
    addressMismatch: 0,
    unitCopies: 0,
  };
  let state = ST_INIT;
  let error = '';
  const cbs: ((d: Uint8Array) => void)[] = [];

  // ---- transmit: serial frames → units in a ring → bursts of packets ----
  const frameBuf = new Uint8Array(cobsMaxEncodedLen(maxUnit) + 1);
  let frameLen = 0;
  const units = new Uint8Array(queueLen * maxUnit);
  const unitLen = new Uint16Array(queueLen);
  const unitFlags = new Uint8Array(queueLen);
  const unitCount = new Uint8Array(queueLen);
  const unitTotal = new Uint8Array(queueLen);
  const unitTag = new Uint8Array(queueLen);
  let head = 0;
  let count = 0;
  let step = 0;
  let tag = 0;
  /** When the head unit may first go (ALOHA jitter) and since when it waits for budget. */
  let notBefore = 0;
  let waitingSince = -1;
  let quietUntil = 0;
  let busy = false;
  let timer: unknown = null;
  const pkt = new Uint8Array(E32_MAX_PAYLOAD);
  /** True while the firmware handles a received unit: what it writes then is a reply. */
  let delivering = false;
  let lastRxFragmented = false;

  const arm = (ms: number): void => {
    if (timer !== null) return;
    timer = io.setTimeout(
      function (): void {
        timer = null;
        pump();
      },
      Math.max(1, ms),
    );
  };

  const dropHead = (): void => {
    head = (head + 1) % queueLen;
    count--;
    step = 0;
    waitingSince = -1;
  };

  /** The head unit's packet at `step` into pkt; its length. */
  const packetAt = (): number => {
    const base = head * maxUnit;
    const n = unitLen[head];
    if (unitCount[head] === 1) {
      for (let i = 0; i < n; i++) pkt[i] = units[base + i];
      return n;
    }
    // Fragments of a v2 hop frame name its short address (wire-v2 §7: the meter's, either way).
    return writeFragment(
      units,
      base,
      n,
      chunk,
      burstFragment(step, unitCount[head], unitCopies(head)),
      units,
      base + HOP_ADDR_OFF,
      unitTag[head],
      pkt,
      0,
    );
  };
  const unitCopies = (i: number): number => (unitCount[i] >= FRAG_COPIES_MIN ? fragCopies : unitFlags[i] & FLAG_COSTLY ? replyCopies : 1);

  function pump(): void {
    while (state === ST_READY && timer === null && !busy && count > 0) {
      const now = nowMs();
      const wake = notBefore > quietUntil ? notBefore : quietUntil;
      if (now < wake) return arm(wake - now);
      if (!auxHigh()) return arm(AUX_POLL_MS);
      const len = packetAt();
      const air = airtime(len);
      // The module keys up only after the bytes crossed its UART: book the interval it can fall in.
      const span = air + (len + IDLE_BYTES) * UART_BYTE_MS + START_MARGIN_MS;
      const w = budget.waitMs(now, span);
      if (w !== 0) {
        if (waitingSince < 0) {
          waitingSince = now;
          stats.delayedBudget++;
        }
        if (w < 0 || now + w - waitingSince > MAX_BUDGET_WAIT_MS) {
          stats.refusedBudget++;
          dropHead();
          continue;
        }
        return arm(w);
      }
      budget.record(now, span);
      uart.write(pkt.subarray(0, len));
      stats.packetsSent++;
      stats.airtimeMs += air;
      waitingSince = -1;
      busy = true;
      const last = ++step === unitTotal[head];
      if (last) {
        // After a spontaneous unit, keep quiet for the receiver's answer (extended while it arrives).
        quietUntil = unitFlags[head] & FLAG_REPLY ? 0 : now + span + listenMs;
        stats.unitsOut++;
        dropHead();
        if (count > 0 && !(unitFlags[head] & FLAG_REPLY) && jitterMs > 0) notBefore = now + span + Math.random() * jitterMs;
      }
      // AUX goes low while the module holds and sends the packet; the next one waits for it high.
      io.setTimeout(function (): void {
        busy = false;
        pump();
      }, span);
    }
  }

  /** One unit (frame ‖ CRC) from the firmware: queued with its burst, or refused and counted. */
  const enqueue = (u: Uint8Array, n: number, reply: boolean): void => {
    if (state === ST_FAILED) {
      stats.refusedNotReady++;
      return;
    }
    if (count === queueLen) {
      stats.refusedQueue++;
      return;
    }
    const whole = n <= E32_MAX_PAYLOAD && !isFragment(u[0]);
    const frags = whole ? 1 : fragmentCount(n, chunk);
    const hop = (u[0] & HOP_MARK_MASK) === HOP_MARK;
    if (frags < 0 || n > maxUnit || (!whole && (!hop || n < HOP_ADDR_OFF + SHORT_ADDR_LEN))) {
      stats.refusedOversize++;
      return;
    }
    const i = (head + count) % queueLen;
    for (let k = 0; k < n; k++) units[i * maxUnit + k] = u[k];
    unitLen[i] = n;
    const costly = reply && (lastRxFragmented || (hop && (u[0] & HOP_TYPE_MASK) === HOP_DATA));
    unitFlags[i] = (reply ? FLAG_REPLY : 0) | (costly ? FLAG_COSTLY : 0);
    unitCount[i] = frags;
    unitTotal[i] = burstLength(frags, unitCopies(i));
    unitTag[i] = tag;
    if (!whole) tag = (tag + 1) & 0xff;
    if (count === 0 && !busy && !reply && jitterMs > 0) notBefore = nowMs() + Math.random() * jitterMs;
    if (count === 0 && reply) notBefore = 0;
    count++;
    pump();
  };

  const decoded = new Uint8Array(maxUnit);
  const onFirmwareBytes = (data: Uint8Array): void => {
    for (let i = 0; i < data.length; i++) {
      const b = data[i];
      if (b !== COBS_DELIMITER) {
        // Longer than any unit: the frame is dropped at its delimiter.
        if (frameLen < frameBuf.length) frameBuf[frameLen] = b;
        frameLen++;
        continue;
      }
      const n = frameLen > 0 && frameLen <= frameBuf.length ? cobsDecode(frameBuf, 0, frameLen, decoded, 0) : -1;
      frameLen = 0;
      if (n <= 0) stats.badFrames++;
      else enqueue(decoded, n, delivering);
    }
  };

  // ---- receive: packets (idle gap) → units → serial frames ----
  const rxBuf = new Uint8Array(E32_MAX_PAYLOAD);
  let rxLen = 0;
  let rxTimer: unknown = null;
  const outBuf = new Uint8Array(cobsMaxEncodedLen(maxUnit) + 1);
  const recent = new Uint8Array(RECENT_UNITS * PRINT_LEN);
  const recentAt = new Float64Array(RECENT_UNITS);
  let recentNext = 0;
  let fragAddrHi = 0;
  let fragAddrLo = 0;

  /** True (counted) when buf[off..off+len) is a copy of a unit received within COPY_WINDOW_MS; else remembered. */
  const isCopy = (buf: Uint8Array, off: number, len: number, now: number): boolean => {
    const r = recentNext * PRINT_LEN;
    recent[r] = len & 0xff;
    for (let k = 0; k < PRINT_HEAD; k++) recent[r + 1 + k] = k < len ? buf[off + k] : 0;
    recent[r + 1 + PRINT_HEAD] = buf[off + len - 2];
    recent[r + 2 + PRINT_HEAD] = buf[off + len - 1];
    for (let s = 0; s < RECENT_UNITS; s++) {
      if (s === recentNext || now - recentAt[s] >= COPY_WINDOW_MS) continue;
      let same = true;
      for (let k = 0; k < PRINT_LEN && same; k++) same = recent[s * PRINT_LEN + k] === recent[r + k];
      if (same) {
        stats.unitCopies++;
        return true;
      }
    }
    recentAt[recentNext] = now;
    recentNext = (recentNext + 1) % RECENT_UNITS;
    return false;
  };

  const onUnit = (buf: Uint8Array, off: number, len: number, fragmented: boolean): void => {
    if (len < 1 + CRC16_LEN) return;
    // wire-v2 §7: a reassembled hop frame's address must be the one its fragments named.
    if (
      fragmented &&
      (buf[off] & HOP_MARK_MASK) === HOP_MARK &&
      (buf[off + HOP_ADDR_OFF] !== fragAddrHi || buf[off + HOP_ADDR_OFF + 1] !== fragAddrLo)
    ) {
      stats.addressMismatch++;
      return;
    }
    if (isCopy(buf, off, len, nowMs())) return;
    const n = cobsEncode(buf, off, len, outBuf, 0);
    if (n < 0) return;
    outBuf[n] = COBS_DELIMITER;
    stats.unitsIn++;
    lastRxFragmented = fragmented;
    delivering = true;
    try {
      for (let k = 0; k < cbs.length; k++) cbs[k](outBuf.subarray(0, n + 1));
    } finally {
      delivering = false;
    }
  };

  const onPacket = (): void => {
    const n = rxLen;
    rxLen = 0;
    if (n === 0) return;
    if (n > E32_MAX_PAYLOAD) {
      stats.badPackets++;
      return;
    }
    stats.packetsReceived++;
    const now = nowMs();
    if (now < quietUntil) quietUntil = Math.max(quietUntil, now + listenMs);
    if (isFragment(rxBuf[0])) {
      if (n < FRAG_HEADER_LEN + 1) {
        stats.badPackets++;
        return;
      }
      fragAddrHi = rxBuf[FRAG_ADDR_OFF];
      fragAddrLo = rxBuf[FRAG_ADDR_OFF + 1];
      reasm.push(rxBuf, 0, n, now, function (b: Uint8Array, o: number, l: number): void {
        onUnit(b, o, l, true);
      });
    } else onUnit(rxBuf, 0, n, false);
    pump();
  };

  // ---- configuration: M0 = M1 = 1, C2 frame, C1 C1 C1 read-back, M0 = M1 = 0 ----
  const cfgBuf = new Uint8Array(2 * E32_FRAME);
  let cfgLen = 0;
  let cfgWant = 0;
  let cfgDone: (() => void) | null = null;
  let cfgTimer: unknown = null;

  const fail = (msg: string): void => {
    state = ST_FAILED;
    error = msg;
    io.print(msg);
    // Frames queued meanwhile will never go: counted, not kept.
    stats.refusedNotReady += count;
    count = 0;
  };
  const waitAux = (then: () => void): void => {
    const until = nowMs() + AUX_TIMEOUT_MS;
    const poll = (): void => {
      if (auxHigh()) then();
      else if (nowMs() > until)
        fail('E32 on ' + name + ': AUX stayed low for ' + AUX_TIMEOUT_MS + ' ms (is AUX wired, is the module powered?)');
      else io.setTimeout(poll, AUX_POLL_MS);
    };
    poll();
  };
  const setMode = (config: boolean, then: () => void): void => {
    waitAux(function (): void {
      io.digitalWrite(m0, config ? 1 : 0);
      io.digitalWrite(m1, config ? 1 : 0);
      if (config) state = ST_CONFIG;
      io.setTimeout(function (): void {
        waitAux(then);
      }, MODE_SETTLE_MS);
    });
  };
  /** Writes `bytes` in configuration mode and calls then() once `want` bytes came back or the answer timed out. */
  const ask = (bytes: Uint8Array, want: number, then: () => void): void => {
    cfgLen = 0;
    cfgWant = want;
    cfgDone = then;
    cfgTimer = io.setTimeout(function (): void {
      cfgTimer = null;
      const f = cfgDone;
      cfgDone = null;
      if (f) f();
    }, ANSWER_TIMEOUT_MS);
    uart.write(bytes);
  };
  const onConfigBytes = (d: Uint8Array): void => {
    for (let i = 0; i < d.length && cfgLen < cfgBuf.length; i++) cfgBuf[cfgLen++] = d[i];
    if (cfgDone !== null && cfgLen >= cfgWant) {
      io.clearTimeout(cfgTimer);
      cfgTimer = null;
      const f = cfgDone;
      cfgDone = null;
      f();
    }
  };
  const checkReadBack = (): string => {
    if (cfgLen < E32_FRAME || cfgBuf[0] !== EBYTE_HEAD_SAVE)
      return readBackMessage('E32', name, 'the configuration frame, head', EBYTE_HEAD_SAVE, cfgLen > 0 ? cfgBuf[0] : undefined);
    for (let i = 1; i < E32_FRAME; i++)
      if (cfgBuf[i] !== frame[i]) return readBackMessage('E32', name, E32_FIELDS[i - 1], frame[i], cfgBuf[i]);
    return '';
  };
  const configure = (): void => {
    setMode(true, function (): void {
      // The module answers a write with its parameters; the read-back below is what counts.
      ask(frame, E32_FRAME, function (): void {
        ask(new Uint8Array([EBYTE_HEAD_READ, EBYTE_HEAD_READ, EBYTE_HEAD_READ]), E32_FRAME, function (): void {
          const msg = checkReadBack();
          if (msg !== '') {
            // Back to normal mode, but silent: nothing goes out with settings nobody chose.
            setMode(false, function (): void {
              fail(msg);
            });
            return;
          }
          setMode(false, function (): void {
            state = ST_READY;
            pump();
          });
        });
      });
    });
  };

  uart.on('data', function (d: string | Uint8Array): void {
    const b = io.toUint8Array(d);
    if (state === ST_CONFIG) {
      onConfigBytes(b);
      return;
    }
    if (state !== ST_READY) return;
    for (let i = 0; i < b.length; i++) {
      if (rxLen < rxBuf.length) rxBuf[rxLen] = b[i];
      rxLen++;
    }
    if (rxTimer !== null) io.clearTimeout(rxTimer);
    rxTimer = io.setTimeout(function (): void {
      rxTimer = null;
      onPacket();
    }, RX_GAP_MS);
  });

  return {
    stats: stats,
    setup(baud: number, options: { tx?: unknown; rx?: unknown }): void {
      // The module's UART runs at the rate its configuration sets (9600), whatever the profile line says.
      uart.setup(baud === EBYTE_CONFIG_BAUD ? baud : EBYTE_CONFIG_BAUD, options);
      if (state === ST_INIT) configure();
    },
    write(data: Uint8Array): void {
      onFirmwareBytes(data);
    },
    on(event: 'data', cb: (data: string | Uint8Array) => void): void {
      if (event === 'data') cbs.push(cb);
    },
    state(): string {
      return STATE_NAMES[state];
    },
    error(): string {
      return error;
    },
    queued(): number {
      return count;
    },
  };
}

/** The configuration a read-back answer (C0 + 5 bytes) stands for, e.g. for a console. */
export function describeE32(answer: Uint8Array): string {
  const c = decodeE32Config(answer);
  if (c === undefined) return 'not an E32 configuration';
  return 'address 0x' + c.address.toString(16) + ', channel ' + c.channel + ', ' + c.airRate + ' bit/s, ' + c.powerDbm + ' dBm';
}
