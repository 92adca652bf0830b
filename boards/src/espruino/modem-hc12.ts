// HC-12 (433 MHz, Si4463) driver for firmware on Espruino: the board profile's `modem` names its
// SET pin and settings; the driver configures the module in AT mode and reads the configuration
// back (AT+RX), then stands in for the UART object (Serial1) the board adapter wraps. Once
// configured the HC-12 is a transparent stream: the firmware's serial frames (COBS ‖ 0x00) go as
// they are, one frame at a time when the band's duty cycle allows it (boards/src/common/radio.ts
// MinuteBudget), received bytes come through unchanged (the firmware's deframer checks the CRC).
// The HC-12 manual asks the host for "response and resending": Vakt's LINK_ACK and end-to-end
// retries are that. Its factory +20 dBm is above the EU 433 MHz 10 mW: a power above the band's
// limit is refused before anything is written. A configuration that does not read back is one
// plain line, and the radio then stays silent (counted).
// Only in the deliverables of a board profile whose modem is an HC-12 (scripts/build-firmware.ts).
// Written to the Espruino subset. Test telegram: boards/src/common/hc12.ts (AT+RX of a factory module).
import { COBS_DELIMITER } from '@vakt/shared/cobs';
import type { ModemProfile } from '../types.ts';
import { HC12_DEFAULT, HC12_ENTER_AT_MS, HC12_LEAVE_AT_MS, hc12AirtimeMs, hc12Commands, hc12ReadBack } from '../common/hc12.ts';
import type { Hc12Config } from '../common/hc12.ts';
import { findBand, MinuteBudget } from '../common/radio.ts';
import type { ModemIo, ModemSerialState, ModemUart } from './modem-io.ts';
import { ST_CONFIG, ST_FAILED, ST_INIT, ST_READY, STATE_NAMES } from './modem-io.ts';

/** Counters (monotonic). */
export interface Hc12Stats {
  framesSent: number;
  bytesSent: number;
  /** Airtime of what was sent, ms. */
  airtimeMs: number;
  bytesReceived: number;
  /** Frames refused: queue full or longer than the queue, over the duty-cycle budget, or the module not configured. */
  refusedQueue: number;
  refusedBudget: number;
  refusedNotReady: number;
  delayedBudget: number;
}

/** The driver as the board adapter sees it (a UART object) plus its state. */
export interface Hc12Serial extends ModemSerialState {
  readonly stats: Hc12Stats;
}

const ANSWER_TIMEOUT_MS = 500;
/** Lines AT+RX answers with. */
const RX_LINES = 4;
const NEWLINE = 10;
/** ms per UART byte at 9600 8N1; the module waits a few idle byte times before it keys up. */
const UART_BYTE_MS = 10000 / HC12_DEFAULT.baud;
const IDLE_BYTES = 3;
const START_MARGIN_MS = 10;
const MAX_BUDGET_WAIT_MS = 60000;
/** Bytes of serial frames held for the air (default). */
const DEFAULT_QUEUE_BYTES = 1024;
/** Longest AT answer kept. */
const ANSWER_MAX = 96;

/** Wraps the UART `uart` of an HC-12 wired as `profile` says (pin set; band; config). */
export function createHc12Serial(uart: ModemUart, profile: ModemProfile, io: ModemIo, name: string): Hc12Serial {
  const pins = profile.pins || {};
  if (pins.set === undefined) throw new Error('HC-12 on ' + name + ': the board profile maps no pin "set"');
  const setPin = io.pin(pins.set);
  const pc = profile.config || {};
  const cfg: Hc12Config = {
    channel: pc.channel === undefined ? HC12_DEFAULT.channel : pc.channel,
    mode: HC12_DEFAULT.mode,
    powerDbm: pc.powerDbm === undefined ? HC12_DEFAULT.powerDbm : pc.powerDbm,
    baud: HC12_DEFAULT.baud,
  };
  if (profile.band === undefined)
    throw new Error('HC-12 on ' + name + ': the board profile names no band (the duty-cycle limit is never a default; lab = none)');
  const band = findBand(profile.band);
  if (band.maxPowerDbm !== undefined && cfg.powerDbm > band.maxPowerDbm)
    throw new Error(
      'HC-12 on ' +
        name +
        ': ' +
        cfg.powerDbm +
        ' dBm exceeds the ' +
        band.maxPowerDbm +
        ' dBm band ' +
        band.name +
        ' allows (factory default P8 = +20 dBm)',
    );
  const commands = hc12Commands(cfg);
  const readBack = hc12ReadBack(cfg);
  const budget = new MinuteBudget(band.dutyCycle);
  const nowMs = (): number => io.getTime() * 1000;
  const stats: Hc12Stats = {
    framesSent: 0,
    bytesSent: 0,
    airtimeMs: 0,
    bytesReceived: 0,
    refusedQueue: 0,
    refusedBudget: 0,
    refusedNotReady: 0,
    delayedBudget: 0,
  };
  let state = ST_INIT;
  let error = '';
  const cbs: ((d: Uint8Array) => void)[] = [];

  // ---- transmit: whole serial frames from a byte ring, one budget decision each ----
  const cap = profile.queue === undefined ? DEFAULT_QUEUE_BYTES : profile.queue * (profile.maxUnit === undefined ? 256 : profile.maxUnit);
  const ring = new Uint8Array(cap);
  let ringHead = 0;
  let ringUsed = 0;
  /** Bytes of the frame being written by the firmware (not yet ended by 0x00). */
  let open = 0;
  /** Lengths of the complete frames in the ring, in order. */
  const lens: number[] = [];
  let busy = false;
  let timer: unknown = null;
  let waitingSince = -1;
  const out = new Uint8Array(cap);
  const jitterMs = profile.jitterMs === undefined ? 0 : profile.jitterMs;
  /** A spontaneous frame into an idle queue waits a random 0..jitterMs (ALOHA); replies go at once. */
  let notBefore = 0;
  /** True while the firmware handles received bytes: what it writes then is a reply. */
  let delivering = false;

  const dropHeadFrame = (): void => {
    const n = lens.shift() as number;
    ringHead = (ringHead + n) % cap;
    ringUsed -= n;
    waitingSince = -1;
  };
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
  function pump(): void {
    while (state === ST_READY && !busy && timer === null && lens.length > 0) {
      const n = lens[0];
      const now = nowMs();
      if (now < notBefore) return arm(notBefore - now);
      const air = hc12AirtimeMs(cfg.baud, n);
      const span = air + (n + IDLE_BYTES) * UART_BYTE_MS + START_MARGIN_MS;
      const w = budget.waitMs(now, span);
      if (w !== 0) {
        if (waitingSince < 0) {
          waitingSince = now;
          stats.delayedBudget++;
        }
        if (w < 0 || now + w - waitingSince > MAX_BUDGET_WAIT_MS) {
          stats.refusedBudget++;
          dropHeadFrame();
          continue;
        }
        return arm(w);
      }
      for (let i = 0; i < n; i++) out[i] = ring[(ringHead + i) % cap];
      budget.record(now, span);
      uart.write(out.subarray(0, n));
      stats.framesSent++;
      stats.bytesSent += n;
      stats.airtimeMs += air;
      dropHeadFrame();
      busy = true;
      io.setTimeout(function (): void {
        busy = false;
        pump();
      }, span);
    }
  }
  const onFirmwareBytes = (data: Uint8Array): void => {
    for (let i = 0; i < data.length; i++) {
      if (state === ST_FAILED) {
        if (data[i] === COBS_DELIMITER) stats.refusedNotReady++;
        continue;
      }
      if (ringUsed + open < cap) ring[(ringHead + ringUsed + open) % cap] = data[i];
      open++;
      if (data[i] !== COBS_DELIMITER) continue;
      // A frame that did not fit the ring is dropped whole, counted.
      if (ringUsed + open > cap) stats.refusedQueue++;
      else {
        if (lens.length === 0 && !busy) notBefore = delivering || jitterMs === 0 ? 0 : nowMs() + Math.random() * jitterMs;
        lens.push(open);
        ringUsed += open;
      }
      open = 0;
    }
    pump();
  };

  // ---- configuration: SET low, AT commands with their answers, AT+RX read-back, SET high ----
  let answer = '';
  let lines = 0;
  let wantLines = 0;
  let answerDone: (() => void) | null = null;
  let answerTimer: unknown = null;
  const fail = (msg: string): void => {
    state = ST_FAILED;
    error = msg;
    io.print(msg);
    stats.refusedNotReady += lens.length;
    lens.length = 0;
    ringUsed = 0;
  };
  const finishAnswer = (): void => {
    if (answerTimer !== null) io.clearTimeout(answerTimer);
    answerTimer = null;
    const f = answerDone;
    answerDone = null;
    if (f) f();
  };
  const ask = (cmd: string, want: number, then: () => void): void => {
    answer = '';
    lines = 0;
    wantLines = want;
    answerDone = then;
    answerTimer = io.setTimeout(function (): void {
      answerTimer = null;
      finishAnswer();
    }, ANSWER_TIMEOUT_MS);
    const b = new Uint8Array(cmd.length);
    for (let i = 0; i < cmd.length; i++) b[i] = cmd.charCodeAt(i);
    uart.write(b);
  };
  const onAnswer = (d: Uint8Array): void => {
    for (let i = 0; i < d.length; i++) {
      if (answer.length < ANSWER_MAX) answer += String.fromCharCode(d[i]);
      if (d[i] === NEWLINE) lines++;
    }
    if (answerDone !== null && lines >= wantLines) finishAnswer();
  };
  const leave = (then: () => void): void => {
    io.digitalWrite(setPin, 1);
    io.setTimeout(then, HC12_LEAVE_AT_MS);
  };
  const command = (i: number): void => {
    if (i === commands.length) {
      ask('AT+RX', RX_LINES, function (): void {
        for (let k = 0; k < readBack.length; k++) {
          if (answer.indexOf(readBack[k]) < 0) {
            const msg =
              'HC-12 on ' + name + ' did not accept ' + readBack[k].slice(3) + ' (AT+RX reads ' + JSON.stringify(answer.trim()) + ')';
            leave(function (): void {
              fail(msg);
            });
            return;
          }
        }
        leave(function (): void {
          state = ST_READY;
          pump();
        });
      });
      return;
    }
    ask(commands[i].cmd, 1, function (): void {
      if (answer.indexOf(commands[i].answer) < 0) {
        const msg =
          'HC-12 on ' +
          name +
          ' did not accept ' +
          commands[i].cmd.slice(3) +
          ' (answered ' +
          (JSON.stringify(answer.trim()) || 'nothing') +
          ')';
        leave(function (): void {
          fail(msg);
        });
        return;
      }
      command(i + 1);
    });
  };

  uart.on('data', function (d: string | Uint8Array): void {
    const b = io.toUint8Array(d);
    if (state === ST_CONFIG) {
      onAnswer(b);
      return;
    }
    if (state !== ST_READY) return;
    stats.bytesReceived += b.length;
    delivering = true;
    try {
      for (let k = 0; k < cbs.length; k++) cbs[k](b);
    } finally {
      delivering = false;
    }
  });

  return {
    stats: stats,
    setup(baud: number, options: { tx?: unknown; rx?: unknown }): void {
      // The module's UART runs at the rate the configuration sets (9600), whatever the profile line says.
      uart.setup(baud === cfg.baud ? baud : cfg.baud, options);
      if (state !== ST_INIT) return;
      state = ST_CONFIG;
      io.digitalWrite(setPin, 0);
      io.setTimeout(function (): void {
        command(0);
      }, HC12_ENTER_AT_MS);
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
  };
}
