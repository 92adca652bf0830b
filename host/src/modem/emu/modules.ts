/**
 * Emulated radio modules: each speaks its modem's UART and pin protocol toward a driver (config
 * mode, answers, AUX, TX status) and puts packets on an emulated RadioChannel with their airtime,
 * enforcing the module's packet size. UART bytes take their time at the configured rate.
 */
import { timeOnAirMs, type Modulation } from '../airtime.ts';
import type { ByteLine, ControlLines } from '../driver.ts';
import { e22Registers, ebyteLora, E32_MAX_PAYLOAD, type EbyteModel } from '../ebyte.ts';
import { HC12_AIR_PACKET, HC12_POWER_DBM, hc12Modulation } from '../hc12.ts';
import {
  encodeXBeeFrame,
  XB_AT,
  XB_AT_RESPONSE,
  XB_PAYLOAD_TOO_LARGE,
  XB_RX,
  XB_TX,
  XB_TX_STATUS,
  XBEE_802154,
  XBEE_TX_HEADER,
  XBeeParser,
} from '../xbee.ts';
import type { RadioChannel, RadioEndpoint } from './channel.ts';

/** UART 9600 8N1: ms per byte. */
const BYTE_MS_9600 = 10 / 9.6;
/** Idle UART time after which a module sends what it buffered (3 byte times). */
const IDLE_BYTES = 3;

/** Common part: the UART toward the host, pins, the channel. */
abstract class EmuModule implements RadioEndpoint {
  abstract readonly hasCrc: boolean;
  /** The host side of the module's UART (give it to the driver). */
  readonly uart: ByteLine;
  /** The host side of the module's pins (give it to the driver). */
  readonly pins: ControlLines;
  protected readonly level = new Map<string, boolean>();
  private readonly hostCbs: ((c: Uint8Array) => void)[] = [];
  /** When the UART finishes the bytes already on it, each direction (a byte never overtakes another). */
  private rxFree = 0;
  private txFree = 0;

  constructor(
    protected readonly ch: RadioChannel,
    protected byteMs: number = BYTE_MS_9600,
  ) {
    ch.attach(this);
    this.uart = {
      write: (d) => {
        const c = d.slice();
        this.rxFree = Math.max(this.rxFree, this.ch.sched.now()) + c.length * this.byteMs;
        this.ch.sched.after(this.rxFree - this.ch.sched.now(), () => this.fromHost(c));
      },
      onData: (cb) => {
        this.hostCbs.push(cb);
      },
    };
    this.pins = {
      set: async (pin, high) => {
        this.setPin(pin, high);
      },
      get: (pin) => this.getPin(pin),
    };
  }

  abstract tuning(): string;
  abstract receive(data: Uint8Array): void;
  protected abstract fromHost(c: Uint8Array): void;
  protected setPin(pin: string, high: boolean): void {
    this.level.set(pin, high);
  }
  protected getPin(pin: string): boolean {
    return this.level.get(pin) ?? true;
  }

  /** Sends bytes to the host over the UART (they arrive after their UART time). */
  protected toHost(d: Uint8Array): void {
    const c = d.slice();
    this.txFree = Math.max(this.txFree, this.ch.sched.now()) + c.length * this.byteMs;
    this.ch.sched.after(this.txFree - this.ch.sched.now(), () => {
      for (const cb of this.hostCbs) cb(c);
    });
  }
}

/** What an emulated module refuses to change (to test read-back errors). */
export interface Stubborn {
  stubborn?: 'channel' | 'power';
}

/** E32 / E22 module. */
export class EmuEbyte extends EmuModule {
  readonly hasCrc = true;
  /** E32: ADDH ADDL SPED CHAN OPTION; E22: ADDH ADDL NETID REG0 REG1 REG2 REG3. */
  params: Uint8Array;
  private cmd: number[] = [];
  private txBuf: number[] = [];
  private flushTimer: unknown = null;
  private busyUntil = 0;
  private auxLowUntil = 0;

  constructor(
    ch: RadioChannel,
    readonly model: EbyteModel,
    private readonly o: Stubborn = {},
  ) {
    super(ch);
    // Factory defaults: E32-433 C0 00 00 1A 17 44; E22 address 0, 2.4k, 240 B, channel 0x12.
    this.params =
      model === 'e32' ? Uint8Array.of(0, 0, 0x1a, 0x17, 0x44) : e22Registers({ address: 0, channel: 0x12, airRate: 2400, powerDbm: 22 });
    this.level.set('m0', false);
    this.level.set('m1', false);
  }

  private configMode(): boolean {
    const m0 = this.level.get('m0')!;
    const m1 = this.level.get('m1')!;
    return this.model === 'e32' ? m0 && m1 : !m0 && m1;
  }

  private airRate(): number {
    const code = this.model === 'e32' ? this.params[2]! & 7 : this.params[3]! & 7;
    return [300, 1200, 2400, 4800, 9600, 19200][code] ?? 2400;
  }

  private maxPayload(): number {
    return this.model === 'e32' ? E32_MAX_PAYLOAD : [240, 128, 64, 32][this.params[4]! >> 6]!;
  }

  tuning(): string {
    return `${this.model}:${this.model === 'e32' ? this.params[3]! : this.params[5]!}:${this.airRate()}`;
  }

  protected override setPin(pin: string, high: boolean): void {
    super.setPin(pin, high);
    // A mode change keeps AUX low for a moment while the module switches.
    this.auxLowUntil = Math.max(this.auxLowUntil, this.ch.sched.now() + 5);
    this.cmd = [];
  }

  protected override getPin(pin: string): boolean {
    if (pin !== 'aux') return super.getPin(pin);
    const now = this.ch.sched.now();
    return now >= this.auxLowUntil && now >= this.busyUntil && this.txBuf.length === 0;
  }

  protected fromHost(c: Uint8Array): void {
    if (this.configMode()) {
      this.command(c);
      return;
    }
    if (this.level.get('m0') || this.level.get('m1')) return; // wake-up/power-saving modes: not emulated
    for (const b of c) this.txBuf.push(b);
    if (this.flushTimer !== null) this.ch.sched.cancel(this.flushTimer);
    this.flushTimer = this.ch.sched.after(IDLE_BYTES * this.byteMs, () => {
      this.flushTimer = null;
      this.flush();
    });
  }

  /** Sends the buffered bytes in packets of the module's limit, one after the other. */
  private flush(): void {
    const now = this.ch.sched.now();
    if (now < this.busyUntil) {
      this.flushTimer = this.ch.sched.after(this.busyUntil - now, () => {
        this.flushTimer = null;
        this.flush();
      });
      return;
    }
    const n = Math.min(this.txBuf.length, this.maxPayload());
    if (n === 0) return;
    const p = Uint8Array.from(this.txBuf.splice(0, n));
    const air = timeOnAirMs(ebyteLora(this.airRate()), p.length);
    this.busyUntil = now + air;
    this.ch.transmit(this, p, air);
    if (this.txBuf.length > 0)
      this.flushTimer = this.ch.sched.after(air, () => {
        this.flushTimer = null;
        this.flush();
      });
  }

  receive(data: Uint8Array): void {
    if (this.configMode() || this.ch.transmitting(this)) return;
    this.toHost(data);
  }

  private command(c: Uint8Array): void {
    for (const b of c) this.cmd.push(b);
    const k = this.cmd;
    if (this.model === 'e32') {
      if (k.length >= 3 && k[0] === 0xc1 && k[1] === 0xc1 && k[2] === 0xc1) {
        this.cmd = [];
        this.toHost(Uint8Array.of(0xc0, ...this.params));
        return;
      }
      if (k.length >= 6 && (k[0] === 0xc0 || k[0] === 0xc2)) {
        const next = Uint8Array.from(k.slice(1, 6));
        this.cmd = [];
        if (this.o.stubborn === 'channel') next[3] = this.params[3]!;
        if (this.o.stubborn === 'power') next[4] = (next[4]! & ~3) | (this.params[4]! & 3);
        this.params = next;
        this.toHost(Uint8Array.of(0xc0, ...this.params));
        return;
      }
      if (k.length > 0 && k[0] !== 0xc0 && k[0] !== 0xc1 && k[0] !== 0xc2) this.cmd = [];
      return;
    }
    // E22: C0 start len data… (write) / C1 start len (read); the answer starts with C1.
    if (k.length >= 3 && k[0] === 0xc1) {
      this.cmd = [];
      this.toHost(Uint8Array.of(0xc1, k[1]!, k[2]!, ...this.params.subarray(k[1]!, k[1]! + k[2]!)));
    } else if (k.length >= 3 && k[0] === 0xc0 && k.length >= 3 + k[2]!) {
      const start = k[1]!;
      const len = k[2]!;
      const data = Uint8Array.from(k.slice(3, 3 + len));
      this.cmd = [];
      for (let i = 0; i < len && start + i < this.params.length; i++) {
        if (this.o.stubborn === 'channel' && start + i === 5) continue;
        this.params[start + i] = data[i]!;
      }
      this.toHost(Uint8Array.of(0xc1, start, len, ...this.params.subarray(start, start + len)));
    } else if (k.length > 0 && k[0] !== 0xc0 && k[0] !== 0xc1) this.cmd = [];
  }
}

/** HC-12 module (FU3). */
export class EmuHc12 extends EmuModule {
  readonly hasCrc = false;
  baud = 9600;
  channelNo = 1;
  fu = 3;
  power = 8;
  private txBuf: number[] = [];
  private flushTimer: unknown = null;
  private busyUntil = 0;

  constructor(
    ch: RadioChannel,
    private readonly o: Stubborn = {},
  ) {
    super(ch);
    this.level.set('set', true);
  }

  tuning(): string {
    return `hc12:${this.channelNo}:${this.baud}`;
  }

  protected fromHost(c: Uint8Array): void {
    if (!this.level.get('set')) {
      this.at(new TextDecoder().decode(c).trim());
      return;
    }
    for (const b of c) this.txBuf.push(b);
    if (this.flushTimer !== null) this.ch.sched.cancel(this.flushTimer);
    this.flushTimer = this.ch.sched.after(IDLE_BYTES * this.byteMs, () => {
      this.flushTimer = null;
      this.flush();
    });
  }

  private flush(): void {
    const now = this.ch.sched.now();
    if (now < this.busyUntil) {
      this.flushTimer = this.ch.sched.after(this.busyUntil - now, () => {
        this.flushTimer = null;
        this.flush();
      });
      return;
    }
    const n = Math.min(this.txBuf.length, HC12_AIR_PACKET);
    if (n === 0) return;
    const p = Uint8Array.from(this.txBuf.splice(0, n));
    const air = timeOnAirMs(hc12Modulation(this.baud), p.length + 8);
    this.busyUntil = now + air;
    this.ch.transmit(this, p, air);
    if (this.txBuf.length > 0)
      this.flushTimer = this.ch.sched.after(air, () => {
        this.flushTimer = null;
        this.flush();
      });
  }

  receive(data: Uint8Array): void {
    if (!this.level.get('set') || this.ch.transmitting(this)) return;
    this.toHost(data);
  }

  private at(cmd: string): void {
    const reply = (s: string): void => this.toHost(new TextEncoder().encode(`${s}\r\n`));
    let m: RegExpMatchArray | null;
    if (cmd === 'AT') reply('OK');
    else if ((m = /^AT\+B(\d+)$/.exec(cmd))) {
      this.baud = Number(m[1]);
      reply(`OK+B${m[1]}`);
    } else if ((m = /^AT\+C(\d{3})$/.exec(cmd))) {
      if (this.o.stubborn !== 'channel') this.channelNo = Number(m[1]);
      reply(`OK+C${String(this.channelNo).padStart(3, '0')}`);
    } else if ((m = /^AT\+FU(\d)$/.exec(cmd))) {
      this.fu = Number(m[1]);
      reply(`OK+FU${m[1]}`);
    } else if ((m = /^AT\+P(\d)$/.exec(cmd))) {
      if (this.o.stubborn !== 'power') this.power = Number(m[1]);
      reply(`OK+P${this.power}`);
    } else if (cmd === 'AT+RX') {
      const dbm = HC12_POWER_DBM[this.power - 1]!;
      reply(
        `OK+B${this.baud}\r\nOK+RC${String(this.channelNo).padStart(3, '0')}\r\nOK+RP:${dbm < 0 ? '-' : '+'}${String(Math.abs(dbm)).padStart(2, '0')}dBm\r\nOK+FU${this.fu}`,
      );
    } else reply('ERROR');
  }
}

/** XBee 802.15.4 in API mode 2. */
export class EmuXBee extends EmuModule {
  readonly hasCrc = true;
  readonly regs = new Map<string, number>([
    ['CH', 0x0c],
    ['ID', 0x3332],
    ['PL', 4],
    ['NP', 100],
  ]);
  private readonly parser = new XBeeParser((d) => this.frame(d));
  private busyUntil = 0;

  constructor(
    ch: RadioChannel,
    private readonly o: Stubborn = {},
  ) {
    super(ch, 1000 / 11520);
  }

  tuning(): string {
    return `xbee:${this.regs.get('CH')!}:${this.regs.get('ID')!}`;
  }

  protected fromHost(c: Uint8Array): void {
    this.parser.push(c);
  }

  private frame(d: Uint8Array): void {
    if (d[0] === XB_AT && d.length >= 4) {
      const name = String.fromCharCode(d[2]!, d[3]!);
      const param = d.subarray(4);
      if (!this.regs.has(name)) {
        this.toHost(encodeXBeeFrame(Uint8Array.of(XB_AT_RESPONSE, d[1]!, d[2]!, d[3]!, 2)));
        return;
      }
      if (param.length > 0 && name !== 'NP' && !(this.o.stubborn === 'channel' && name === 'CH'))
        this.regs.set(
          name,
          param.reduce((v, b) => (v << 8) | b, 0),
        );
      const v = this.regs.get(name)!;
      const out = param.length > 0 ? [] : name === 'ID' || name === 'NP' ? [v >> 8, v & 0xff] : [v];
      this.toHost(encodeXBeeFrame(Uint8Array.of(XB_AT_RESPONSE, d[1]!, d[2]!, d[3]!, 0, ...out)));
    } else if (d[0] === XB_TX && d.length > XBEE_TX_HEADER) {
      const payload = d.subarray(XBEE_TX_HEADER);
      const status = (s: number): void => this.toHost(encodeXBeeFrame(Uint8Array.of(XB_TX_STATUS, d[1]!, 0xff, 0xfe, 0, s, 0)));
      if (payload.length > this.regs.get('NP')!) {
        status(XB_PAYLOAD_TOO_LARGE);
        return;
      }
      const now = this.ch.sched.now();
      const start = Math.max(now, this.busyUntil);
      const air = timeOnAirMs(XBEE_802154, payload.length);
      this.busyUntil = start + air;
      this.ch.sched.after(start - now, () => this.ch.transmit(this, payload, air));
      this.ch.sched.after(start - now + air, () => status(0));
    }
  }

  receive(data: Uint8Array): void {
    if (this.ch.transmitting(this)) return;
    this.toHost(encodeXBeeFrame(Uint8Array.of(XB_RX, 0, 0x13, 0xa2, 0, 0x40, 0x0a, 0x01, 0x27, 0xff, 0xfe, 0x02, ...data)));
  }
}

/** A generic packet radio (LEN-prefixed UART frames, optional 2-byte address) or, with maxPayload Infinity, a transparent pipe. */
export class EmuPacketRadio extends EmuModule {
  private rx: number[] = [];
  private busyUntil = 0;

  constructor(
    ch: RadioChannel,
    readonly modulation: Modulation,
    readonly maxPayload: number,
    readonly addressed: boolean,
    readonly hasCrc: boolean,
  ) {
    super(ch);
  }

  tuning(): string {
    return `packet:${this.maxPayload}`;
  }

  protected fromHost(c: Uint8Array): void {
    if (this.maxPayload === Infinity) {
      this.send(c);
      return;
    }
    const a = this.addressed ? 2 : 0;
    for (const b of c) {
      this.rx.push(b);
      if (this.rx.length === 1 + this.rx[0]!) {
        const p = Uint8Array.from(this.rx.slice(1 + a));
        this.rx = [];
        if (p.length <= this.maxPayload) this.send(p);
      }
    }
  }

  private send(p: Uint8Array): void {
    const now = this.ch.sched.now();
    const start = Math.max(now, this.busyUntil);
    const air = timeOnAirMs(this.modulation, p.length);
    this.busyUntil = start + air;
    this.ch.sched.after(start - now, () => this.ch.transmit(this, p, air));
  }

  receive(data: Uint8Array): void {
    if (this.ch.transmitting(this)) return;
    if (this.maxPayload === Infinity) {
      this.toHost(data);
      return;
    }
    const a = this.addressed ? [0xff, 0xff] : [];
    this.toHost(Uint8Array.of(data.length + a.length, ...a, ...data));
  }
}
