// The Ebyte E32 (SX1276 LoRa UART module) configuration frame, as data, shared by the host driver
// (host/src/modem/ebyte.ts) and the firmware driver (boards/src/espruino/modem-e32.ts).
// Written to the Espruino subset.
//
// Configuration mode: M0 = M1 = 1, UART 9600 8N1. Write C0 (saved) or C2 (volatile) + 5 parameters;
// read back with C1 C1 C1, answered C0 + the same 5 parameters:
//
// | byte | field  | bits                                                                   |
// |------|--------|------------------------------------------------------------------------|
// | 0    | HEAD   | C0 save / C2 volatile (the read-back answer always starts with C0)     |
// | 1    | ADDH   | address high                                                           |
// | 2    | ADDL   | address low                                                            |
// | 3    | SPED   | 7-6 parity (00 8N1), 5-3 UART baud (011 9600), 2-0 air rate (010 2.4k) |
// | 4    | CHAN   | 4-0 channel: E32-868 862 + CHAN MHz, E32-433 410 + CHAN MHz            |
// | 5    | OPTION | 7 fixed transmission, 6 IO push-pull, 5-3 wake time, 2 FEC, 1-0 power  |
//
// Test telegram (E32 Series manual v1.30 §7, factory default parameters, the answer to C1 C1 C1):
//   C0 00 00 1A 17 44
//   C0  head: parameters saved
//   00  ADDH, 00 ADDL: address 0x0000
//   1A  SPED 0b00_011_010: 8N1, UART 9600, air rate 2.4 kbit/s
//   17  CHAN 23: 410 + 23 = 433 MHz on an E32-433
//   44  OPTION 0b0_1_000_1_00: transparent transmission, push-pull IO, 250 ms wake-up, FEC on, 20 dBm
// decodeE32Config() gives exactly that; test/modem/modem-e32.test.ts checks it and the re-encoding.
import type { LoraParams } from './radio.ts';

/** What a driver configures (configuration as data, from the board profile or the host's defaults). */
export interface E32Config {
  address: number;
  channel: number;
  /** Air data rate, bits/s: 300, 1200, 2400, 4800, 9600, 19200. */
  airRate: number;
  /** Transmit power, dBm (E32 T20: 20/17/14/10). */
  powerDbm: number;
}

/** The configuration Vakt uses unless a profile says otherwise: 2.4 kbit/s, channel 6 (868 MHz on an E32-868), 14 dBm (the EU 868 g-band limit). */
export const E32_DEFAULT: E32Config = { address: 0, channel: 0x06, airRate: 2400, powerDbm: 14 };

/** The E32's fixed packet limit (LoRa_E32_Series_Library #31). */
export const E32_MAX_PAYLOAD = 58;
/** UART rate of configuration mode, and the only UART rate the drivers configure. */
export const EBYTE_CONFIG_BAUD = 9600;
/** SPED/REG0 UART bits for 9600. */
export const EBYTE_UART_9600 = 3;
export const EBYTE_HEAD_SAVE = 0xc0;
export const EBYTE_HEAD_VOLATILE = 0xc2;
export const EBYTE_HEAD_READ = 0xc1;
/** E32 configuration frame length (head + 5 parameters). */
export const E32_FRAME = 6;
/** Names of the E32 frame's bytes 1..5, for read-back errors. */
export const E32_FIELDS = ['address high', 'address low', 'speed', 'channel', 'option'];
/** OPTION bits this driver sets besides power: transparent transmission, push-pull IO, 250 ms wake, FEC on. */
const E32_OPTION_BASE = 0x44;
const E32_POWER_MASK = 3;
const E32_CHANNEL_MAX = 0x1f;
const SPED_UART_SHIFT = 3;
const SPED_RATE_MASK = 7;

/** Air rates (bit/s) by their SPED/REG0 code 0..5. */
export const EBYTE_AIR_RATES = [300, 1200, 2400, 4800, 9600, 19200];
/** E32 T20 power levels (dBm) by their OPTION code 0..3. */
export const E32_POWERS_DBM = [20, 17, 14, 10];
/**
 * LoRa spreading factor and bandwidth behind each air rate code. Ebyte does not publish them: these
 * are the SF/BW whose nominal LoRa bit rate SF·BW/2^SF·4/5 is nearest the advertised rate (an
 * assumption, used only for airtime; a real module's AUX timing is what the drivers wait for).
 */
const LORA_SF = [12, 11, 11, 10, 9, 7];
const LORA_BW = [125000, 250000, 500000, 500000, 500000, 500000];
const LORA_PREAMBLE = 8;

/** The code of an air rate, or −1. */
export function ebyteRateCode(airRate: number): number {
  return EBYTE_AIR_RATES.indexOf(airRate);
}

/** LoRa parameters of an air rate (for airtime); throws a plain error for an unknown rate. */
export function ebyteLora(airRate: number): LoraParams {
  const c = ebyteRateCode(airRate);
  if (c < 0) throw new Error('no Ebyte air rate ' + airRate + ' bit/s (known: ' + EBYTE_AIR_RATES.join(', ') + ')');
  return { kind: 'lora', sf: LORA_SF[c], bwHz: LORA_BW[c], cr: 1, preamble: LORA_PREAMBLE, crc: true, implicitHeader: false };
}

/** The E32 configuration frame for `c` (6 bytes; head C2 volatile unless `save`); throws a plain error for a value the E32 has not. */
export function e32ConfigFrame(c: E32Config, save: boolean): Uint8Array {
  const rate = ebyteRateCode(c.airRate);
  const pw = E32_POWERS_DBM.indexOf(c.powerDbm);
  if (rate < 0) throw new Error('E32: no air rate ' + c.airRate + ' bit/s');
  if (pw < 0) throw new Error('E32: no power level ' + c.powerDbm + ' dBm (20, 17, 14, 10)');
  if (!(c.channel >= 0 && c.channel <= E32_CHANNEL_MAX)) throw new Error('E32: channel ' + c.channel + ' out of 0..31');
  const f = new Uint8Array(E32_FRAME);
  f[0] = save ? EBYTE_HEAD_SAVE : EBYTE_HEAD_VOLATILE;
  f[1] = (c.address >> 8) & 0xff;
  f[2] = c.address & 0xff;
  f[3] = (EBYTE_UART_9600 << SPED_UART_SHIFT) | rate;
  f[4] = c.channel;
  f[5] = E32_OPTION_BASE | pw;
  return f;
}

/** Decodes a configuration frame (or read-back answer) f[0..6) into its settings; undefined for an unknown air rate. */
export function decodeE32Config(f: Uint8Array): E32Config | undefined {
  if (f.length < E32_FRAME) return undefined;
  const airRate = EBYTE_AIR_RATES[f[3] & SPED_RATE_MASK];
  if (airRate === undefined) return undefined;
  return {
    address: (f[1] << 8) | f[2],
    channel: f[4] & E32_CHANNEL_MAX,
    airRate: airRate,
    powerDbm: E32_POWERS_DBM[f[5] & E32_POWER_MASK],
  };
}
