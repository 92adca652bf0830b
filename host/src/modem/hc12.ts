/**
 * HC-12 (433 MHz, Si4463): a transparent stream once configured. AT mode: pull SET low, wait 40 ms;
 * leave: release SET, wait 80 ms. Commands (each answered "OK+…\r\n"):
 *
 * | command      | answer          | meaning                                                |
 * |--------------|-----------------|--------------------------------------------------------|
 * | AT+B9600     | OK+B9600        | UART rate (the air rate follows it in FU3)             |
 * | AT+C001      | OK+C001         | channel 1..127: 433.4 + (C − 1)·0.4 MHz                |
 * | AT+FU3       | OK+FU3          | transmission mode 1..4                                 |
 * | AT+P4        | OK+P4           | power P1..P8 = −1, 2, 5, 8, 11, 14, 17, 20 dBm          |
 * | AT+RX        | OK+B9600 OK+RC001 OK+RP:+08dBm OK+FU3 | all parameters (read-back)       |
 *
 * The factory default P8 (+20 dBm) is above the 10 mW (10 dBm) the EU 433 MHz band allows: the
 * driver refuses a power above the band's limit. The manual warns that long sends lose bytes and
 * asks the host for "response and resending": Vakt's LINK_ACK / end-to-end ACK retries are that.
 */
import { type FskParams } from './airtime.ts';
import { ConfigReader, type ByteLine, type ControlLines, type DriverOptions } from './driver.ts';
import { StreamDriver } from './transparent.ts';

export interface Hc12Config {
  channel: number;
  /** FU mode 1..4 (this driver supports FU3, the default). */
  mode: number;
  powerDbm: number;
  /** UART rate (the driver configures 9600, the AT-mode rate). */
  baud: number;
}

/** Power codes P1..P8 by dBm. */
export const HC12_POWER_DBM = [-1, 2, 5, 8, 11, 14, 17, 20];
/** FU3 air rate by UART rate (HC-12 manual v2.4 table). */
const FU3_AIR_BPS: { [baud: number]: number } = { 1200: 5000, 2400: 5000, 4800: 15000, 9600: 15000, 19200: 58000, 38400: 58000, 57600: 236000, 115200: 236000 };
/** Bytes per over-the-air packet the module cuts the stream into, and the preamble/sync/CRC each costs (assumed). */
export const HC12_AIR_PACKET = 60;
const HC12_PACKET_OVERHEAD = 8;
const ENTER_AT_MS = 40;
const LEAVE_AT_MS = 80;
const ANSWER_TIMEOUT_MS = 500;

/** Airtime model of FU3 at a UART rate: the chunk is cut into 60-byte air packets. */
export function hc12Modulation(baud: number): FskParams {
  const bps = FU3_AIR_BPS[baud];
  if (bps === undefined) throw new Error(`HC-12: no UART rate ${baud}`);
  return { kind: 'fsk', bps, overheadBytes: 0 };
}

/** The AT commands that set `c`, with the answer each must give. */
export function hc12Commands(c: Hc12Config): { cmd: string; answer: string }[] {
  const p = HC12_POWER_DBM.indexOf(c.powerDbm) + 1;
  if (p === 0) throw new Error(`HC-12: no power level ${c.powerDbm} dBm (${HC12_POWER_DBM.join(', ')})`);
  if (!(c.channel >= 1 && c.channel <= 127)) throw new Error(`HC-12: channel ${c.channel} out of 1..127`);
  const ch = String(c.channel).padStart(3, '0');
  return [
    { cmd: `AT+B${c.baud}`, answer: `OK+B${c.baud}` },
    { cmd: `AT+C${ch}`, answer: `OK+C${ch}` },
    { cmd: `AT+FU${c.mode}`, answer: `OK+FU${c.mode}` },
    { cmd: `AT+P${p}`, answer: `OK+P${p}` },
  ];
}

/** Driver of one HC-12. */
export class Hc12Driver extends StreamDriver {
  override readonly kind = 'HC-12';
  private readonly cfgRx = new ConfigReader();
  private configuring = false;

  constructor(line: ByteLine, private readonly pins: ControlLines, readonly config: Hc12Config, o: DriverOptions) {
    super(line, hc12Modulation(config.baud), o);
    this.uartBaud = config.baud;
    if (config.mode !== 3) throw new Error(`HC-12 on ${o.name}: only FU3 is supported (asked for FU${config.mode})`);
    const max = o.band.maxPowerDbm;
    if (max !== undefined && config.powerDbm > max) throw new Error(`HC-12 on ${o.name}: ${config.powerDbm} dBm exceeds the ${max} dBm band ${o.band.name} allows (factory default P8 = +20 dBm)`);
  }

  override airtimeMs(len: number): number {
    const packets = Math.ceil(len / HC12_AIR_PACKET);
    return ((len + packets * HC12_PACKET_OVERHEAD) * 8 * 1000) / (this.modulation as FskParams).bps;
  }

  /** AT mode, each command and its answer, AT+RX read-back, normal mode. */
  override async start(): Promise<void> {
    await this.pins.set('set', false);
    this.configuring = true;
    await this.timers.sleep(ENTER_AT_MS);
    try {
      for (const { cmd, answer } of hc12Commands(this.config)) {
        const got = await this.ask(cmd, (s) => s.includes('\n'));
        if (!got.includes(answer)) throw new Error(`HC-12 on ${this.name} did not accept ${cmd.slice(3)} (answered ${JSON.stringify(got.trim()) || 'nothing'})`);
      }
      const all = await this.ask('AT+RX', (s) => (s.match(/\n/g) ?? []).length >= 4);
      const ch = String(this.config.channel).padStart(3, '0');
      const dbm = `${this.config.powerDbm < 0 ? '-' : '+'}${String(Math.abs(this.config.powerDbm)).padStart(2, '0')}dBm`;
      for (const want of [`OK+B${this.config.baud}`, `OK+RC${ch}`, `OK+RP:${dbm}`, `OK+FU${this.config.mode}`]) {
        if (!all.includes(want)) throw new Error(`HC-12 on ${this.name} did not accept ${want.slice(3)} (AT+RX reads ${JSON.stringify(all.trim())})`);
      }
    } finally {
      await this.pins.set('set', true);
      await this.timers.sleep(LEAVE_AT_MS);
      this.configuring = false;
    }
    await super.start();
  }

  private async ask(cmd: string, done: (s: string) => boolean): Promise<string> {
    this.cfgRx.clear();
    this.line.write(new TextEncoder().encode(cmd));
    const b = await this.cfgRx.until((x) => done(new TextDecoder().decode(x)), ANSWER_TIMEOUT_MS, this.timers);
    return new TextDecoder().decode(b);
  }

  protected override onUart(chunk: Uint8Array): void {
    if (this.configuring) this.cfgRx.push(chunk);
    else super.onUart(chunk);
  }
}

/*
 * Test telegram (HC-12 manual v2.4, AT+RX on a factory-default module):
 *   "OK+B9600\r\nOK+RC001\r\nOK+RP:+20dBm\r\nOK+FU3\r\n"
 *   UART 9600 bit/s; channel 1 (433.4 MHz); power +20 dBm (P8: refused by this driver for eu433);
 *   FU3 (air rate 15 kbit/s at 9600). test/modem/hc12.test.ts parses it.
 */
