/**
 * One emulated modem with its driver: the module on the channel, the driver on the module's UART
 * and pins. Used by the tests, the network simulation, `npm run bench:radio` and `vakt demo --radio`.
 */
import { E32_DEFAULT } from '@vakt/boards/common/ebyte';
import { HC12_DEFAULT } from '@vakt/boards/common/hc12';
import { findBand, type BandProfile } from '../airtime.ts';
import type { DriverOptions, ModemDriver } from '../driver.ts';
import { EbyteDriver, type EbyteConfig } from '../ebyte.ts';
import { Hc12Driver } from '../hc12.ts';
import { PacketRadioDriver } from '../packet.ts';
import { StreamDriver } from '../transparent.ts';
import { XBeeDriver, type XBeeConfig } from '../xbee.ts';
import type { RadioChannel } from './channel.ts';
import { EmuEbyte, EmuHc12, EmuPacketRadio, EmuXBee, type Stubborn } from './modules.ts';

export type RadioKind = 'transparent' | 'hc12' | 'e32' | 'e22' | 'xbee' | 'packet';
export const RADIO_KINDS: readonly RadioKind[] = ['transparent', 'hc12', 'e32', 'e22', 'xbee', 'packet'];

/** Default configuration per kind (the bench's E32: 2.4 kbit/s, channel 6 = 868 MHz on an E32-868, 14 dBm). */
export { E32_DEFAULT, HC12_DEFAULT };
export const E22_DEFAULT: EbyteConfig = { address: 0, channel: 0x12, airRate: 2400, powerDbm: 13, subPacket: 64 };
export const XBEE_DEFAULT: XBeeConfig = { channel: 0x0c, panId: 0x3332, powerLevel: 4 };
/** Generic packet radio: 64-byte packets (RFM69-like) at 38.4 kbit/s GFSK. */
export const PACKET_DEFAULT = { maxPayload: 61, modulation: { kind: 'fsk' as const, bps: 38_400, overheadBytes: 9 } };
/** The transparent pipe: a 9600-baud wire-like radio. */
export const TRANSPARENT_AIR = { kind: 'fsk' as const, bps: 9600, overheadBytes: 4 };

/** The band each kind is bench-tested in by default. */
export function defaultBand(kind: RadioKind): BandProfile {
  if (kind === 'hc12') return findBand('eu433');
  if (kind === 'xbee') return findBand('lab');
  if (kind === 'transparent') return findBand('lab');
  return findBand('eu868-g');
}

export interface EmulatedModem {
  driver: ModemDriver;
  module: EmuEbyte | EmuHc12 | EmuXBee | EmuPacketRadio;
}

/** Builds the module and its driver (not started: call driver.start() under sched.settle()). */
export function emulatedModem(
  kind: RadioKind,
  ch: RadioChannel,
  o: Omit<DriverOptions, 'timers'> & { stubborn?: Stubborn['stubborn']; e32?: Partial<EbyteConfig> },
): EmulatedModem {
  const d: DriverOptions = { ...o, timers: ch.sched };
  const s: Stubborn = o.stubborn !== undefined ? { stubborn: o.stubborn } : {};
  switch (kind) {
    case 'e32':
    case 'e22': {
      const m = new EmuEbyte(ch, kind, s);
      const cfg = { ...(kind === 'e32' ? E32_DEFAULT : E22_DEFAULT), ...o.e32 };
      return { module: m, driver: new EbyteDriver(kind, m.uart, m.pins, cfg, d) };
    }
    case 'hc12': {
      const m = new EmuHc12(ch, s);
      return { module: m, driver: new Hc12Driver(m.uart, m.pins, HC12_DEFAULT, d) };
    }
    case 'xbee': {
      const m = new EmuXBee(ch, s);
      return { module: m, driver: new XBeeDriver(m.uart, XBEE_DEFAULT, d) };
    }
    case 'packet': {
      const m = new EmuPacketRadio(ch, PACKET_DEFAULT.modulation, PACKET_DEFAULT.maxPayload, true, true);
      return { module: m, driver: new PacketRadioDriver(m.uart, { ...PACKET_DEFAULT, address: 0xffff }, d) };
    }
    case 'transparent': {
      const m = new EmuPacketRadio(ch, TRANSPARENT_AIR, Infinity, false, false);
      return { module: m, driver: new StreamDriver(m.uart, TRANSPARENT_AIR, d) };
    }
  }
}
