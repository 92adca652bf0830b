// The HC-12 (433 MHz, Si4463) AT configuration as data, shared by the host driver
// (host/src/modem/hc12.ts) and the firmware driver (boards/src/espruino/modem-hc12.ts).
// Written to the Espruino subset.
//
// AT mode: pull SET low, wait 40 ms; leave: release SET, wait 80 ms. Commands (each answered "OK+…\r\n"):
//
// | command      | answer          | meaning                                                |
// |--------------|-----------------|--------------------------------------------------------|
// | AT+B9600     | OK+B9600        | UART rate (the air rate follows it in FU3)             |
// | AT+C001      | OK+C001         | channel 1..127: 433.4 + (C − 1)·0.4 MHz                |
// | AT+FU3       | OK+FU3          | transmission mode 1..4                                 |
// | AT+P4        | OK+P4           | power P1..P8 = −1, 2, 5, 8, 11, 14, 17, 20 dBm          |
// | AT+RX        | OK+B9600 OK+RC001 OK+RP:+08dBm OK+FU3 | all parameters (read-back)       |
//
// Test telegram (HC-12 manual v2.4, AT+RX on a factory-default module):
//   "OK+B9600\r\nOK+RC001\r\nOK+RP:+20dBm\r\nOK+FU3\r\n"
//   UART 9600 bit/s; channel 1 (433.4 MHz); power +20 dBm (P8: above the EU 433 MHz 10 mW, refused
//   by the drivers for eu433); FU3 (air rate 15 kbit/s at 9600). hc12ReadBack() of that
//   configuration gives exactly these four lines; test/modem/modem-hc12.test.ts checks it.

export interface Hc12Config {
  channel: number;
  /** FU mode 1..4 (the drivers support FU3, the default). */
  mode: number;
  powerDbm: number;
  /** UART rate (the drivers configure 9600, the AT-mode rate). */
  baud: number;
}

/** Power codes P1..P8 by dBm. */
export const HC12_POWER_DBM = [-1, 2, 5, 8, 11, 14, 17, 20];
/** The configuration Vakt uses unless a profile says otherwise: channel 1, FU3, +8 dBm (under the EU 433 MHz 10 mW), 9600. */
export const HC12_DEFAULT: Hc12Config = { channel: 1, mode: 3, powerDbm: 8, baud: 9600 };
/** FU3 UART rates and the air rate (bit/s) each gives (HC-12 manual v2.4 table). */
const FU3_BAUDS = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200];
const FU3_AIR_BPS = [5000, 5000, 15000, 15000, 58000, 58000, 236000, 236000];
/** Bytes per over-the-air packet the module cuts the stream into, and the preamble/sync/CRC each costs (assumed). */
export const HC12_AIR_PACKET = 60;
export const HC12_PACKET_OVERHEAD = 8;
/** AT mode: SET low this long before the first command; SET high this long before data. */
export const HC12_ENTER_AT_MS = 40;
export const HC12_LEAVE_AT_MS = 80;
const CHANNEL_MAX = 127;
const MS_PER_S = 1000;

/** Air rate of FU3 at a UART rate; −1 for a rate the HC-12 has not. */
export function hc12AirBps(baud: number): number {
  const i = FU3_BAUDS.indexOf(baud);
  return i < 0 ? -1 : FU3_AIR_BPS[i];
}

/** Airtime (ms) of `len` bytes in FU3: the module cuts them into 60-byte air packets. */
export function hc12AirtimeMs(baud: number, len: number): number {
  const packets = Math.ceil(len / HC12_AIR_PACKET);
  return ((len + packets * HC12_PACKET_OVERHEAD) * 8 * MS_PER_S) / hc12AirBps(baud);
}

function pad(v: number, width: number): string {
  let s = String(v);
  while (s.length < width) s = '0' + s;
  return s;
}

/** The AT commands that set `c`, with the answer each must give; throws a plain error for a value the HC-12 has not. */
export function hc12Commands(c: Hc12Config): { cmd: string; answer: string }[] {
  const p = HC12_POWER_DBM.indexOf(c.powerDbm) + 1;
  if (p === 0) throw new Error('HC-12: no power level ' + c.powerDbm + ' dBm (' + HC12_POWER_DBM.join(', ') + ')');
  if (!(c.channel >= 1 && c.channel <= CHANNEL_MAX)) throw new Error('HC-12: channel ' + c.channel + ' out of 1..127');
  if (hc12AirBps(c.baud) < 0) throw new Error('HC-12: no UART rate ' + c.baud);
  const ch = pad(c.channel, 3);
  return [
    { cmd: 'AT+B' + c.baud, answer: 'OK+B' + c.baud },
    { cmd: 'AT+C' + ch, answer: 'OK+C' + ch },
    { cmd: 'AT+FU' + c.mode, answer: 'OK+FU' + c.mode },
    { cmd: 'AT+P' + p, answer: 'OK+P' + p },
  ];
}

/** The lines AT+RX must contain for `c`. */
export function hc12ReadBack(c: Hc12Config): string[] {
  const dbm = (c.powerDbm < 0 ? '-' : '+') + pad(Math.abs(c.powerDbm), 2) + 'dBm';
  return ['OK+B' + c.baud, 'OK+RC' + pad(c.channel, 3), 'OK+RP:' + dbm, 'OK+FU' + c.mode];
}
