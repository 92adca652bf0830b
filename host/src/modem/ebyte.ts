/**
 * Ebyte E32 (SX1276) and E22 (SX1262) LoRa UART modules.
 *
 * Modes by the M0/M1 pins: normal 0/0; configuration E32 1/1 (sleep), E22 0/1 (they differ:
 * KrisKasprzak/EBYTE #20). Configuration runs at 9600 8N1. The driver waits for AUX high before
 * every mode change and every packet (AUX low = the module is busy; ignoring it loses bytes, EBYTE #65).
 *
 * E32 configuration frame (volatile C2 or saved C0), read back with C1 C1 C1 → C0 + the same 5 bytes:
 *
 * | byte | field  | bits                                                                   |
 * |------|--------|------------------------------------------------------------------------|
 * | 0    | HEAD   | C0 save / C2 volatile                                                  |
 * | 1    | ADDH   | address high                                                            |
 * | 2    | ADDL   | address low                                                             |
 * | 3    | SPED   | 7-6 parity (00 8N1), 5-3 UART baud (011 9600), 2-0 air rate (010 2.4k) |
 * | 4    | CHAN   | 4-0 channel: E32-868 862 + CHAN MHz, E32-433 410 + CHAN MHz             |
 * | 5    | OPTION | 7 fixed transmission, 6 IO push-pull, 5-3 wake time, 2 FEC, 1-0 power   |
 *
 * E22 registers 0x00–0x06 (write C0 00 07 …, read C1 00 07 → C1 00 07 + the same 7 bytes):
 * ADDH ADDL NETID REG0 (7-5 UART baud, 4-3 parity, 2-0 air rate) REG1 (7-6 sub-packet 240/128/64/32,
 * 1-0 power) REG2 (channel, 850.125 + CHAN MHz on E22-900) REG3 (6 fixed transmission, 4 LBT).
 *
 * Transparent transmission: every module with the same address and channel hears every packet; the
 * unit's own header says who it is for. Received packets come out of the UART back to back; a
 * packet ends when the line stays idle for RX_GAP_MS (LoRa packets are separated by a preamble of
 * tens of ms, a UART byte at 9600 takes ~1 ms).
 */
import { timeOnAirMs, type LoraParams } from './airtime.ts';
import { ConfigReader, ModemDriver, uartStartDelay, withLevel, type ByteLine, type ControlLines, type DriverOptions } from './driver.ts';

export type EbyteModel = 'e32' | 'e22';

/** What the driver configures (configuration as data). */
export interface EbyteConfig {
  address: number;
  channel: number;
  /** Air data rate, bits/s: 300, 1200, 2400, 4800, 9600, 19200. */
  airRate: number;
  /** Transmit power, dBm (E32 T20: 20/17/14/10; E22: 22/17/13/10). */
  powerDbm: number;
  /** E22 only: network id. */
  netId?: number;
  /** E22 only: sub-packet length 240/128/64/32 (the payload limit). */
  subPacket?: number;
}

/** The E32's fixed packet limit (LoRa_E32_Series_Library #31). */
export const E32_MAX_PAYLOAD = 58;
/** UART rate of configuration mode (both models). */
export const EBYTE_CONFIG_BAUD = 9600;
/** SPED/REG0 UART bits for 9600 (the only UART rate this driver uses). */
const UART_9600 = 0b011;
const HEAD_SAVE = 0xc0;
const HEAD_VOLATILE = 0xc2;
const HEAD_READ = 0xc1;
/** E32 config frame length (head + 5 parameters). */
const E32_FRAME = 6;
/** E22 registers this driver writes and reads back (ADDH … REG3). */
const E22_REGS = 7;
/** Idle byte times after which a module sends what its UART received. */
const IDLE_BYTES = 3;
/** Idle line that ends a received packet. */
export const RX_GAP_MS = 20;
/** Settle time after a mode change once AUX is high (manual: 2 ms). */
const MODE_SETTLE_MS = 2;
/** Longest wait for AUX high or an answer. */
const AUX_TIMEOUT_MS = 1000;
const ANSWER_TIMEOUT_MS = 500;

/** Air rates and their SPED/REG0 code. */
const AIR_RATE_CODE: { [bps: number]: number } = { 300: 0, 1200: 1, 2400: 2, 4800: 3, 9600: 4, 19200: 5 };
/**
 * LoRa settings behind each air rate. Ebyte does not publish them: these are the SF/BW whose
 * nominal LoRa bit rate SF·BW/2^SF·4/5 is nearest the advertised rate (an assumption, used only for
 * airtime; a real module's AUX timing is what the driver waits for).
 */
const LORA_OF_RATE: { [bps: number]: [number, number] } = {
  300: [12, 125_000], 1200: [11, 250_000], 2400: [11, 500_000], 4800: [10, 500_000], 9600: [9, 500_000], 19200: [7, 500_000],
};
const E32_POWER_CODE: { [dbm: number]: number } = { 20: 0, 17: 1, 14: 2, 10: 3 };
const E22_POWER_CODE: { [dbm: number]: number } = { 22: 0, 17: 1, 13: 2, 10: 3 };
const E22_SUBPACKET_CODE: { [len: number]: number } = { 240: 0, 128: 1, 64: 2, 32: 3 };

/** LoRa parameters of an air rate (for airtime). */
export function ebyteLora(airRate: number): LoraParams {
  const sb = LORA_OF_RATE[airRate];
  if (sb === undefined) throw new Error(`no Ebyte air rate ${airRate} bit/s (known: ${Object.keys(LORA_OF_RATE).join(', ')})`);
  return { kind: 'lora', sf: sb[0], bwHz: sb[1], cr: 1, preamble: 8, crc: true, implicitHeader: false };
}

/** The E32 configuration frame for `c` (6 bytes; head C2 volatile unless `save`). */
export function e32ConfigFrame(c: EbyteConfig, save: boolean): Uint8Array {
  const rate = AIR_RATE_CODE[c.airRate];
  const pw = E32_POWER_CODE[c.powerDbm];
  if (rate === undefined) throw new Error(`E32: no air rate ${c.airRate} bit/s`);
  if (pw === undefined) throw new Error(`E32: no power level ${c.powerDbm} dBm (20, 17, 14, 10)`);
  if (!(c.channel >= 0 && c.channel <= 0x1f)) throw new Error(`E32: channel ${c.channel} out of 0..31`);
  const option = 0x40 | 0x04 | pw; // transparent, push-pull IO, 250 ms wake, FEC on
  return Uint8Array.of(save ? HEAD_SAVE : HEAD_VOLATILE, (c.address >> 8) & 0xff, c.address & 0xff, (UART_9600 << 3) | rate, c.channel, option);
}

/** The E22 register values ADDH … REG3 for `c` (7 bytes). */
export function e22Registers(c: EbyteConfig): Uint8Array {
  const rate = AIR_RATE_CODE[c.airRate];
  const pw = E22_POWER_CODE[c.powerDbm];
  const sp = E22_SUBPACKET_CODE[c.subPacket ?? 240];
  if (rate === undefined) throw new Error(`E22: no air rate ${c.airRate} bit/s`);
  if (pw === undefined) throw new Error(`E22: no power level ${c.powerDbm} dBm (22, 17, 13, 10)`);
  if (sp === undefined) throw new Error(`E22: no sub-packet length ${String(c.subPacket)} (240, 128, 64, 32)`);
  if (!(c.channel >= 0 && c.channel <= 83)) throw new Error(`E22: channel ${c.channel} out of 0..83`);
  return Uint8Array.of((c.address >> 8) & 0xff, c.address & 0xff, (c.netId ?? 0) & 0xff, (UART_9600 << 5) | rate, sp << 6, c.channel, 0);
}

/** Names of the E32 frame's bytes 1..5 and of the E22 registers, for read-back errors. */
const E32_FIELDS = ['address high', 'address low', 'speed', 'channel', 'option'];
const E22_FIELDS = ['address high', 'address low', 'net id', 'REG0', 'REG1 (sub-packet, power)', 'channel', 'REG3'];

/** Driver of one E32 or E22 module. */
export class EbyteDriver extends ModemDriver {
  readonly kind: string;
  readonly maxPayload: number;
  private readonly lora: LoraParams;
  private readonly cfgRx = new ConfigReader();
  private configuring = false;
  private busy = false;
  private rx: number[] = [];
  private rxTimer: unknown = null;

  constructor(private readonly model: EbyteModel, private readonly line: ByteLine, private readonly pins: ControlLines, readonly config: EbyteConfig, o: DriverOptions) {
    super(o);
    this.kind = model.toUpperCase();
    this.maxPayload = model === 'e32' ? E32_MAX_PAYLOAD : (config.subPacket ?? 240);
    this.lora = ebyteLora(config.airRate);
    const max = o.band.maxPowerDbm;
    if (max !== undefined && config.powerDbm > max) throw new Error(`${this.kind} on ${this.name}: ${config.powerDbm} dBm exceeds the ${max} dBm band ${o.band.name} allows`);
    line.onData((c) => this.onUart(c));
  }

  airtimeMs(len: number): number {
    return timeOnAirMs(this.lora, len);
  }

  /** Config mode, write (volatile), read back and compare, normal mode. */
  override async start(): Promise<void> {
    await this.setMode(true);
    try {
      if (this.model === 'e32') await this.configureE32();
      else await this.configureE22();
    } finally {
      await this.setMode(false);
    }
    this.begin();
  }

  private async configureE32(): Promise<void> {
    const frame = e32ConfigFrame(this.config, false);
    this.cfgRx.clear();
    this.line.write(frame);
    // The module answers a write with its parameters; either way the read below is what counts.
    await this.cfgRx.until((b) => b.length >= E32_FRAME, ANSWER_TIMEOUT_MS, this.timers);
    this.cfgRx.clear();
    this.line.write(Uint8Array.of(HEAD_READ, HEAD_READ, HEAD_READ));
    const got = await this.cfgRx.until((b) => b.length >= E32_FRAME, ANSWER_TIMEOUT_MS, this.timers);
    if (got.length < E32_FRAME || got[0] !== HEAD_SAVE) this.mismatch('the configuration frame, head', HEAD_SAVE, got[0]);
    for (let i = 1; i < E32_FRAME; i++) if (got[i] !== frame[i]) this.mismatch(E32_FIELDS[i - 1]!, frame[i]!, got[i]);
  }

  private async configureE22(): Promise<void> {
    const regs = e22Registers(this.config);
    this.cfgRx.clear();
    this.line.write(Uint8Array.of(HEAD_SAVE, 0, E22_REGS, ...regs));
    await this.cfgRx.until((b) => b.length >= 3 + E22_REGS, ANSWER_TIMEOUT_MS, this.timers);
    this.cfgRx.clear();
    this.line.write(Uint8Array.of(HEAD_READ, 0, E22_REGS));
    const got = await this.cfgRx.until((b) => b.length >= 3 + E22_REGS, ANSWER_TIMEOUT_MS, this.timers);
    if (got.length < 3 + E22_REGS || got[0] !== HEAD_READ) this.mismatch('the register read, head', HEAD_READ, got[0]);
    for (let i = 0; i < E22_REGS; i++) if (got[3 + i] !== regs[i]) this.mismatch(E22_FIELDS[i]!, regs[i]!, got[3 + i]);
  }

  /** Waits for AUX, sets M0/M1 for configuration or normal mode, waits for AUX again. */
  private async setMode(config: boolean): Promise<void> {
    await this.waitAux();
    const m0 = config && this.model === 'e32';
    const m1 = config;
    await this.pins.set('m0', m0);
    await this.pins.set('m1', m1);
    this.configuring = config;
    await this.timers.sleep(MODE_SETTLE_MS);
    await this.waitAux();
  }

  private async waitAux(): Promise<void> {
    const until = this.timers.now() + AUX_TIMEOUT_MS;
    while (!(await this.pins.get('aux'))) {
      if (this.timers.now() > until) throw new Error(`${this.kind} on ${this.name}: AUX stayed low for ${AUX_TIMEOUT_MS} ms (is AUX wired, is the module powered?)`);
      await this.timers.sleep(2);
    }
  }

  protected override ready(): boolean {
    return !this.busy && !this.configuring;
  }

  /** The packet crosses the 9600-baud UART, then the module waits ~3 idle byte times before keying up. */
  protected override startDelayMs(len: number): [number, number] {
    return uartStartDelay(len, EBYTE_CONFIG_BAUD, IDLE_BYTES);
  }

  protected transmit(payload: Uint8Array): void {
    this.busy = true;
    this.line.write(payload);
    // The module pulls AUX low while it holds or sends the packet; it may go on air once AUX is high again.
    const limit = this.timers.now() + 2 * this.airtimeMs(payload.length) + AUX_TIMEOUT_MS;
    const poll = (): void => {
      withLevel(this.pins.get('aux'), (high) => {
        if (high || this.timers.now() > limit) {
          if (!high) this.stats.txFailures++;
          this.busy = false;
          this.pump();
        } else this.timers.after(2, poll);
      });
    };
    this.timers.after(Math.max(1, Math.floor(this.airtimeMs(payload.length))), poll);
  }

  private onUart(chunk: Uint8Array): void {
    if (this.configuring) {
      this.cfgRx.push(chunk);
      return;
    }
    for (const b of chunk) this.rx.push(b);
    if (this.rxTimer !== null) this.timers.cancel(this.rxTimer);
    this.rxTimer = this.timers.after(RX_GAP_MS, () => {
      this.rxTimer = null;
      const p = Uint8Array.from(this.rx);
      this.rx = [];
      if (p.length > 0) this.deliver(p);
    });
  }
}

/*
 * Test telegram (E32 Series manual v1.30 §7, factory default parameters): C0 00 00 1A 17 44
 *   C0  head: parameters saved (the answer to C1 C1 C1 always starts with C0)
 *   00  ADDH, 00 ADDL: address 0x0000
 *   1A  SPED 0b00_011_010: 8N1, UART 9600, air rate 2.4 kbit/s
 *   17  CHAN 23: 410 + 23 = 433 MHz on an E32-433
 *   44  OPTION 0b0_1_000_1_00: transparent transmission, push-pull IO, 250 ms wake-up, FEC on, 20 dBm
 * test/modem/ebyte.test.ts decodes it with this file's tables and checks e32ConfigFrame re-encodes it.
 */
