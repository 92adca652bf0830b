/**
 * HC-12 (433 MHz, Si4463): a transparent stream once configured. AT mode on the SET pin; the
 * commands, their answers, the AT+RX read-back and the test telegram are in
 * boards/src/common/hc12.ts (shared with the firmware driver boards/src/espruino/modem-hc12.ts).
 *
 * The factory default P8 (+20 dBm) is above the 10 mW (10 dBm) the EU 433 MHz band allows: the
 * driver refuses a power above the band's limit. The manual warns that long sends lose bytes and
 * asks the host for "response and resending": Vakt's LINK_ACK / end-to-end ACK retries are that.
 */
import {
  HC12_AIR_PACKET,
  HC12_ENTER_AT_MS,
  HC12_LEAVE_AT_MS,
  HC12_POWER_DBM,
  hc12AirBps,
  hc12AirtimeMs,
  hc12Commands,
  hc12ReadBack,
  type Hc12Config,
} from '@vakt/boards/common/hc12';
import { type FskParams } from './airtime.ts';
import { ConfigReader, type ByteLine, type ControlLines, type DriverOptions } from './driver.ts';
import { StreamDriver } from './transparent.ts';

export { HC12_AIR_PACKET, HC12_POWER_DBM, hc12Commands, type Hc12Config };

const ANSWER_TIMEOUT_MS = 500;

/** Airtime model of FU3 at a UART rate: the chunk is cut into 60-byte air packets. */
export function hc12Modulation(baud: number): FskParams {
  const bps = hc12AirBps(baud);
  if (bps < 0) throw new Error(`HC-12: no UART rate ${baud}`);
  return { kind: 'fsk', bps, overheadBytes: 0 };
}

/** Driver of one HC-12. */
export class Hc12Driver extends StreamDriver {
  override readonly kind = 'HC-12';
  private readonly cfgRx = new ConfigReader();
  private configuring = false;

  constructor(
    line: ByteLine,
    private readonly pins: ControlLines,
    readonly config: Hc12Config,
    o: DriverOptions,
  ) {
    super(line, hc12Modulation(config.baud), o);
    this.uartBaud = config.baud;
    if (config.mode !== 3) throw new Error(`HC-12 on ${o.name}: only FU3 is supported (asked for FU${config.mode})`);
    const max = o.band.maxPowerDbm;
    if (max !== undefined && config.powerDbm > max)
      throw new Error(
        `HC-12 on ${o.name}: ${config.powerDbm} dBm exceeds the ${max} dBm band ${o.band.name} allows (factory default P8 = +20 dBm)`,
      );
  }

  override airtimeMs(len: number): number {
    return hc12AirtimeMs(this.config.baud, len);
  }

  /** AT mode, each command and its answer, AT+RX read-back, normal mode. */
  override async start(): Promise<void> {
    await this.pins.set('set', false);
    this.configuring = true;
    await this.timers.sleep(HC12_ENTER_AT_MS);
    try {
      for (const { cmd, answer } of hc12Commands(this.config)) {
        const got = await this.ask(cmd, (s) => s.includes('\n'));
        if (!got.includes(answer))
          throw new Error(`HC-12 on ${this.name} did not accept ${cmd.slice(3)} (answered ${JSON.stringify(got.trim()) || 'nothing'})`);
      }
      const all = await this.ask('AT+RX', (s) => (s.match(/\n/g) ?? []).length >= 4);
      for (const want of hc12ReadBack(this.config)) {
        if (!all.includes(want))
          throw new Error(`HC-12 on ${this.name} did not accept ${want.slice(3)} (AT+RX reads ${JSON.stringify(all.trim())})`);
      }
    } finally {
      await this.pins.set('set', true);
      await this.timers.sleep(HC12_LEAVE_AT_MS);
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
 * Test telegram: AT+RX of a factory-default module, "OK+B9600\r\nOK+RC001\r\nOK+RP:+20dBm\r\nOK+FU3\r\n",
 * and its meaning are in boards/src/common/hc12.ts; test/modem/modem-hc12.test.ts checks hc12ReadBack against it.
 */
