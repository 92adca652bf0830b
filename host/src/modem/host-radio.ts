/**
 * A real modem on a host serial port, ready for the firmware: opens the port (serial-line.ts),
 * builds the kind's driver with its default configuration, configures and reads it back, and
 * returns the RadioPort to give the firmware as its SerialPort. Used by `vakt meter sim --radio`
 * and `vakt concentrator --radio`, with the port settings of the device's role (ROLE_PORT).
 */
import { findBand } from './airtime.ts';
import type { ModemDriver } from './driver.ts';
import { EbyteDriver } from './ebyte.ts';
import { E22_DEFAULT, E32_DEFAULT, HC12_DEFAULT, PACKET_DEFAULT, TRANSPARENT_AIR, XBEE_DEFAULT, type RadioKind } from './emu/index.ts';
import { Hc12Driver } from './hc12.ts';
import { PacketRadioDriver } from './packet.ts';
import { RadioPort, ROLE_PORT } from './radio-port.ts';
import { openModemSerial } from './serial-line.ts';
import { StreamDriver } from './transparent.ts';
import { XBeeDriver } from './xbee.ts';

export interface HostRadioOptions {
  kind: RadioKind;
  role: 'meter' | 'concentrator';
  path: string;
  /** Band name (airtime.ts BANDS); required: the regulatory limit is never a silent default. */
  band: string;
  /** Logical pin → modem-control line, e.g. "m0=rts,m1=dtr,aux=cts". */
  pins: string;
  shortAddr: Uint8Array;
  log?: (line: string) => void;
}

/** UART rate per kind (the drivers configure 9600 on Ebyte/HC-12; XBee factory ATBD 115200 assumed). */
const BAUD: { [k in RadioKind]: number } = { e32: 9600, e22: 9600, hc12: 9600, packet: 9600, xbee: 115_200, transparent: 115_200 };

/** Parses "m0=rts,m1=dtr" into a map; a malformed entry is a plain error. */
export function parsePins(s: string): { [pin: string]: string } {
  const out: { [pin: string]: string } = {};
  for (const part of s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '')) {
    const m = /^([a-z0-9]+)=(!?[a-z]+)$/.exec(part);
    if (m === null) throw new Error(`pin mapping "${part}" is not <pin>=<line> (e.g. m0=rts)`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

/** Opens, configures and reads back the modem; rejects with one plain line naming the port. */
export async function openHostRadio(o: HostRadioOptions): Promise<{ port: RadioPort; driver: ModemDriver; close(): Promise<void> }> {
  const band = findBand(o.band);
  const serial = await openModemSerial(o.path, BAUD[o.kind], parsePins(o.pins));
  const d = { name: o.path, band, ...(o.log !== undefined ? { log: o.log } : {}) };
  let driver: ModemDriver;
  try {
    switch (o.kind) {
      case 'e32':
        driver = new EbyteDriver('e32', serial.line, serial.pins, E32_DEFAULT, d);
        break;
      case 'e22':
        driver = new EbyteDriver('e22', serial.line, serial.pins, E22_DEFAULT, d);
        break;
      case 'hc12':
        driver = new Hc12Driver(serial.line, serial.pins, HC12_DEFAULT, d);
        break;
      case 'xbee':
        driver = new XBeeDriver(serial.line, XBEE_DEFAULT, d);
        break;
      case 'packet':
        driver = new PacketRadioDriver(serial.line, { ...PACKET_DEFAULT, address: 0xffff }, d);
        break;
      case 'transparent':
        driver = new StreamDriver(serial.line, TRANSPARENT_AIR, d);
        break;
    }
    await driver.start();
  } catch (e) {
    await serial.close();
    throw e;
  }
  const port = new RadioPort(driver, { ...ROLE_PORT[o.role], shortAddr: o.shortAddr });
  return {
    port,
    driver,
    close: async () => {
      driver.stop();
      await serial.close();
    },
  };
}
