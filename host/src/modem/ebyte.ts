/**
 * Ebyte E32 (SX1276) and E22 (SX1262) LoRa UART modules.
 *
 * Modes by the M0/M1 pins: normal 0/0; configuration E32 1/1 (sleep), E22 0/1 (they differ:
 * KrisKasprzak/EBYTE #20). Configuration runs at 9600 8N1. The driver waits for AUX high before
 * every mode change and every packet (AUX low = the module is busy; ignoring it loses bytes, EBYTE #65).
 *
 * E32 configuration frame (volatile C2 or saved C0), read back with C1 C1 C1 → C0 + the same 5
 * bytes: the table, the air-rate tables and the test telegram are in boards/src/common/ebyte.ts
 * (shared with the firmware driver boards/src/espruino/modem-e32.ts).
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
import {
  decodeE32Config,
  e32ConfigFrame,
  E32_FIELDS,
  E32_FRAME,
  E32_MAX_PAYLOAD,
  EBYTE_CONFIG_BAUD,
  EBYTE_HEAD_READ as HEAD_READ,
  EBYTE_HEAD_SAVE as HEAD_SAVE,
  EBYTE_UART_9600,
  ebyteLora,
  ebyteRateCode,
  type E32Config,
} from '@vakt/boards/common/ebyte';
import { timeOnAirMs, type LoraParams } from './airtime.ts';
import { ConfigReader, ModemDriver, uartStartDelay, withLevel, type ByteLine, type ControlLines, type DriverOptions } from './driver.ts';

// The E32 frame and air-rate tables are one definition, shared with the firmware driver.
export { decodeE32Config, e32ConfigFrame, E32_MAX_PAYLOAD, EBYTE_CONFIG_BAUD, ebyteLora };

export type EbyteModel = 'e32' | 'e22';

/** What the driver configures (configuration as data; power E32 T20: 20/17/14/10, E22: 22/17/13/10). */
export interface EbyteConfig extends E32Config {
  /** E22 only: network id. */
  netId?: number;
  /** E22 only: sub-packet length 240/128/64/32 (the payload limit). */
  subPacket?: number;
}

/** Idle byte times after which a module sends what its UART received. */
const IDLE_BYTES = 3;
/** Idle line that ends a received packet. */
export const RX_GAP_MS = 20;
/** Settle time after a mode change once AUX is high (manual: 2 ms). */
const MODE_SETTLE_MS = 2;
/** Longest wait for AUX high or an answer. */
const AUX_TIMEOUT_MS = 1000;
const ANSWER_TIMEOUT_MS = 500;

/** E22 registers this driver writes and reads back (ADDH … REG3). */
const E22_REGS = 7;
const E22_POWER_CODE: { [dbm: number]: number } = { 22: 0, 17: 1, 13: 2, 10: 3 };
const E22_SUBPACKET_CODE: { [len: number]: number } = { 240: 0, 128: 1, 64: 2, 32: 3 };

/** The E22 register values ADDH … REG3 for `c` (7 bytes). */
export function e22Registers(c: EbyteConfig): Uint8Array {
  const rate = ebyteRateCode(c.airRate);
  const pw = E22_POWER_CODE[c.powerDbm];
  const sp = E22_SUBPACKET_CODE[c.subPacket ?? 240];
  if (rate < 0) throw new Error(`E22: no air rate ${c.airRate} bit/s`);
  if (pw === undefined) throw new Error(`E22: no power level ${c.powerDbm} dBm (22, 17, 13, 10)`);
  if (sp === undefined) throw new Error(`E22: no sub-packet length ${String(c.subPacket)} (240, 128, 64, 32)`);
  if (!(c.channel >= 0 && c.channel <= 83)) throw new Error(`E22: channel ${c.channel} out of 0..83`);
  return Uint8Array.of(
    (c.address >> 8) & 0xff,
    c.address & 0xff,
    (c.netId ?? 0) & 0xff,
    (EBYTE_UART_9600 << 5) | rate,
    sp << 6,
    c.channel,
    0,
  );
}

/** Names of the E22 registers, for read-back errors. */
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

  constructor(
    private readonly model: EbyteModel,
    private readonly line: ByteLine,
    private readonly pins: ControlLines,
    readonly config: EbyteConfig,
    o: DriverOptions,
  ) {
    super(o);
    this.kind = model.toUpperCase();
    this.maxPayload = model === 'e32' ? E32_MAX_PAYLOAD : (config.subPacket ?? 240);
    this.lora = ebyteLora(config.airRate);
    const max = o.band.maxPowerDbm;
    if (max !== undefined && config.powerDbm > max)
      throw new Error(`${this.kind} on ${this.name}: ${config.powerDbm} dBm exceeds the ${max} dBm band ${o.band.name} allows`);
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
      if (this.timers.now() > until)
        throw new Error(`${this.kind} on ${this.name}: AUX stayed low for ${AUX_TIMEOUT_MS} ms (is AUX wired, is the module powered?)`);
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
 * Test telegram: the E32's factory configuration C0 00 00 1A 17 44 and its decoding are in
 * boards/src/common/ebyte.ts; test/modem/ebyte-hc12.test.ts and test/modem/modem-e32.test.ts use it.
 */
