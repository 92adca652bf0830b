/**
 * Digi XBee in API mode 2 (AP = 2, escaped).
 *
 * API frame on the UART:
 *
 * | field     | bytes | notes                                                              |
 * |-----------|-------|--------------------------------------------------------------------|
 * | start     | 1     | 0x7E, never escaped                                                 |
 * | length    | 2     | big-endian length of frame data, unescaped count; ESCAPED on the line |
 * | frame data| n     | type byte + fields; escaped                                         |
 * | checksum  | 1     | 0xFF − (sum of frame data & 0xFF); computed unescaped, ESCAPED on the line |
 *
 * Escaping: every byte after the start byte that is 0x7E, 0x7D, 0x11 or 0x13 goes out as 0x7D,
 * byte ^ 0x20 — including length and checksum bytes (xbee-python #13/#15 got those wrong) and
 * address bytes (xbee-api #59).
 *
 * Frames used: 0x08 AT command [id, 'N','P', param…] → 0x88 response [id, 'N','P', status, data…];
 * 0x10 TX request [id, dest64(8), dest16 FF FE, radius 0, options 0, data…] → 0x8B TX status
 * [id, dest16(2), retries, delivery, discovery] (delivery 0x74: payload too large, xbee-api #30);
 * 0x90 RX [src64(8), src16(2), options, data…].
 */
import type { FskParams } from './airtime.ts';
import { timeOnAirMs } from './airtime.ts';
import { ConfigReader, ModemDriver, uartStartDelay, type ByteLine, type DriverOptions } from './driver.ts';

/** UART rate of the XBee's host interface (ATBD 7). */
const XBEE_UART_BAUD = 115_200;

export const XBEE_START = 0x7e;
export const XBEE_ESCAPE = 0x7d;
export const XBEE_XOR = 0x20;
/** Bytes escaped in API mode 2 after the start byte. */
export const XBEE_ESCAPED: readonly number[] = [0x7e, 0x7d, 0x11, 0x13];
export const XB_AT = 0x08;
export const XB_AT_RESPONSE = 0x88;
export const XB_TX = 0x10;
export const XB_TX_STATUS = 0x8b;
export const XB_RX = 0x90;
/** TX status: delivered. */
export const XB_DELIVERY_OK = 0x00;
/** TX status: payload too large for the current ATNP. */
export const XB_PAYLOAD_TOO_LARGE = 0x74;
/** Broadcast destination (dest64 000000000000FFFF, dest16 FFFE). */
const BROADCAST64 = Uint8Array.of(0, 0, 0, 0, 0, 0, 0xff, 0xff);
const DEST16_UNKNOWN = Uint8Array.of(0xff, 0xfe);
/** TX request fields before the data: type, id, dest64, dest16, radius, options. */
const TX_HEADER = 1 + 1 + 8 + 2 + 1 + 1;
/** RX frame fields before the data: type, src64, src16, options. */
const RX_HEADER = 1 + 8 + 2 + 1;
/** Largest frame data accepted from the UART (bounds the parser's buffer). */
const MAX_FRAME_DATA = 512;
const ANSWER_TIMEOUT_MS = 500;
/** Longest wait for a TX status before the packet is given up (counted as a failure). */
const TX_STATUS_TIMEOUT_MS = 2000;

/**
 * 802.15.4 at 2.4 GHz, O-QPSK 250 kbit/s; overhead: PHY preamble 4 + SFD 1 + length 1, MAC header
 * with 64-bit source and broadcast destination 15, FCS 2 (IEEE 802.15.4-2015).
 */
export const XBEE_802154: FskParams = { kind: 'fsk', bps: 250_000, overheadBytes: 23 };

/** XBee settings (configuration as data). */
export interface XBeeConfig {
  /** ATCH, 0x0B–0x1A. */
  channel: number;
  /** ATID, PAN id. */
  panId: number;
  /** ATPL, 0 (−10 dBm) … 4 (+0/+18 dBm by model). */
  powerLevel: number;
}

/** Checksum of frame data. */
export function xbeeChecksum(data: Uint8Array): number {
  let s = 0;
  for (const b of data) s = (s + b) & 0xff;
  return 0xff - s;
}

/** Encodes frame data as an API mode 2 frame: start, escaped length, escaped data, escaped checksum. */
export function encodeXBeeFrame(data: Uint8Array): Uint8Array {
  const raw = [data.length >> 8, data.length & 0xff, ...data, xbeeChecksum(data)];
  const out = [XBEE_START];
  for (const b of raw) {
    if (XBEE_ESCAPED.includes(b)) out.push(XBEE_ESCAPE, b ^ XBEE_XOR);
    else out.push(b);
  }
  return Uint8Array.from(out);
}

/**
 * Streaming API mode 2 parser: unescapes, checks length and checksum, hands over frame data.
 * A 0x7E always starts a new frame (a partial one is dropped and counted), so one lost byte costs one frame.
 */
export class XBeeParser {
  bad = 0;
  private state = 0; // 0 idle, 1 len hi, 2 len lo, 3 data, 4 checksum
  private esc = false;
  private len = 0;
  private data: number[] = [];

  constructor(private readonly onFrame: (data: Uint8Array) => void) {}

  push(chunk: Uint8Array): void {
    for (let b of chunk) {
      if (b === XBEE_START) {
        if (this.state !== 0) this.bad++;
        this.state = 1;
        this.esc = false;
        this.data = [];
        continue;
      }
      if (this.state === 0) continue;
      if (b === XBEE_ESCAPE) {
        this.esc = true;
        continue;
      }
      if (this.esc) {
        b ^= XBEE_XOR;
        this.esc = false;
      }
      if (this.state === 1) {
        this.len = b << 8;
        this.state = 2;
      } else if (this.state === 2) {
        this.len |= b;
        this.state = this.len === 0 || this.len > MAX_FRAME_DATA ? 0 : 3;
        if (this.state === 0) this.bad++;
      } else if (this.state === 3) {
        this.data.push(b);
        if (this.data.length === this.len) this.state = 4;
      } else {
        this.state = 0;
        const d = Uint8Array.from(this.data);
        if (xbeeChecksum(d) === b) this.onFrame(d);
        else this.bad++;
      }
    }
  }
}

const at = (cmd: string): [number, number] => [cmd.charCodeAt(0), cmd.charCodeAt(1)];

/** Driver of one XBee (802.15.4) in API mode 2: broadcast TX requests, one outstanding at a time. */
export class XBeeDriver extends ModemDriver {
  readonly kind = 'XBee';
  maxPayload = 0;
  private readonly parser: XBeeParser;
  private readonly atRx = new ConfigReader();
  private nextId = 1;
  private outstanding = 0;
  private statusTimer: unknown = null;

  constructor(
    private readonly line: ByteLine,
    readonly config: XBeeConfig,
    o: DriverOptions,
  ) {
    super(o);
    this.parser = new XBeeParser((d) => this.onFrame(d));
    line.onData((c) => this.parser.push(c));
  }

  airtimeMs(len: number): number {
    return timeOnAirMs(XBEE_802154, len);
  }

  /** Writes CH, ID, PL and reads each back; reads NP (the payload limit). */
  override async start(): Promise<void> {
    const c = this.config;
    await this.setAndCheck('CH', Uint8Array.of(c.channel), 'channel');
    await this.setAndCheck('ID', Uint8Array.of(c.panId >> 8, c.panId & 0xff), 'PAN id');
    await this.setAndCheck('PL', Uint8Array.of(c.powerLevel), 'power level');
    const np = await this.atCommand('NP', new Uint8Array(0));
    if (np === null || np.length < 1) throw new Error(`XBee on ${this.name} did not answer ATNP (is it in API mode 2, AP=2?)`);
    this.maxPayload = np.reduce((v, b) => (v << 8) | b, 0);
    this.begin();
  }

  private async setAndCheck(cmd: string, value: Uint8Array, what: string): Promise<void> {
    const w = await this.atCommand(cmd, value);
    if (w === null) this.mismatch(what, value[value.length - 1]!, undefined);
    const r = await this.atCommand(cmd, new Uint8Array(0));
    const got = r === null ? 0 : r.reduce((v, b) => (v << 8) | b, 0);
    const want = value.reduce((v, b) => (v << 8) | b, 0);
    if (r === null || got !== want) this.mismatch(`${what} (AT${cmd})`, want, r === null ? undefined : got);
  }

  /** Sends an AT command frame; resolves with the response data, or null (no answer, or status ≠ OK). */
  private async atCommand(cmd: string, param: Uint8Array): Promise<Uint8Array | null> {
    const id = this.frameId();
    this.atRx.clear();
    this.line.write(encodeXBeeFrame(Uint8Array.of(XB_AT, id, ...at(cmd), ...param)));
    const match = (b: Uint8Array): boolean => b.length >= 5 && b[1] === id;
    const r = await this.atRx.until(match, ANSWER_TIMEOUT_MS, this.timers);
    if (!match(r) || r[4] !== 0) return null;
    return r.subarray(5);
  }

  private frameId(): number {
    const id = this.nextId;
    this.nextId = this.nextId === 0xff ? 1 : this.nextId + 1; // 0 would ask for no status
    return id;
  }

  protected override ready(): boolean {
    return this.outstanding === 0;
  }

  /** The TX request (escaping can double bytes) crosses the 115200-baud UART before the radio keys up. */
  protected override startDelayMs(len: number): [number, number] {
    const n = 4 + TX_HEADER + len;
    return uartStartDelay(n, XBEE_UART_BAUD, n); // escaping: up to n more bytes
  }

  protected transmit(payload: Uint8Array): void {
    const id = this.frameId();
    this.outstanding = id;
    this.line.write(encodeXBeeFrame(Uint8Array.of(XB_TX, id, ...BROADCAST64, ...DEST16_UNKNOWN, 0, 0, ...payload)));
    this.statusTimer = this.timers.after(TX_STATUS_TIMEOUT_MS, () => {
      this.statusTimer = null;
      this.stats.txFailures++;
      this.outstanding = 0;
      this.pump();
    });
  }

  private onFrame(d: Uint8Array): void {
    const type = d[0];
    if (type === XB_AT_RESPONSE) this.atRx.push(d);
    else if (type === XB_TX_STATUS && d.length >= 7 && d[1] === this.outstanding) {
      if (this.statusTimer !== null) this.timers.cancel(this.statusTimer);
      this.statusTimer = null;
      this.outstanding = 0;
      const delivery = d[5]!;
      if (delivery !== XB_DELIVERY_OK) {
        this.stats.txFailures++;
        if (delivery === XB_PAYLOAD_TOO_LARGE)
          this.log(`XBee on ${this.name}: TX status 0x74, payload too large for ATNP ${this.maxPayload}`);
      }
      this.pump();
    } else if (type === XB_RX && d.length > RX_HEADER) this.deliver(d.slice(RX_HEADER));
  }
}

/** Bytes of a TX request before its payload (for the emulator). */
export const XBEE_TX_HEADER = TX_HEADER;
/** Bytes of an RX frame before its payload (for the emulator). */
export const XBEE_RX_HEADER = RX_HEADER;

/*
 * Test telegram (Digi XBee/XBee-PRO S2C 802.15.4 user guide, "Transmit Request - 0x10" example,
 * sending "TxData0A" to 0013A200400A0127):
 *   7E 00 16 10 01 00 13 A2 00 40 0A 01 27 FF FE 00 00 54 78 44 61 74 61 30 41 13
 *   7E            start
 *   00 16         length 22 (type … data)
 *   10 01         TX request, frame id 1
 *   00 13 A2 00 40 0A 01 27   destination 64-bit address
 *   FF FE         destination 16-bit address unknown
 *   00 00         broadcast radius, options
 *   54 78 44 61 74 61 30 41   "TxData0A"
 *   13            checksum 0xFF − (sum & 0xFF) — in API mode 2 the address byte 0x13 travels as 7D 33
 *                 and so does the checksum 0x13: the escaped form is what test/modem/xbee.test.ts checks.
 */
