import type { BoardProfile } from '../src/types.ts';

/**
 * A concentrator on an Espruino Pico with an Ebyte E32-868 toward its meters: the Pico's USB serial
 * is the line to the HES (a host bridge, `vakt concentrator` style), Serial1 (B6/B7, 9600) the
 * E32's UART, M0/M1 on A5/A6 and AUX on A7. The firmware-side E32 driver
 * (boards/src/espruino/modem-e32.ts) is in this board's deliverable only; the E32 sends in the
 * 869.4–869.65 MHz sub-band (10 %, a gateway's downlink band) at 14 dBm.
 */
export const picoE32Concentrator = {
  name: 'pico-e32',
  engine: 'espruino',
  description: 'Espruino Pico + Ebyte E32-868T20D on Serial1 (M0 A5, M1 A6, AUX A7), HES over USB',
  roles: ['concentrator'],
  ram: { jsVars: 5100 },
  flash: { codeBytes: 65536, storageBytes: 49152 },
  serial: [
    { name: 'USB', role: 'hes', baud: 115200 },
    { name: 'Serial1', role: 'modem', baud: 9600, tx: 'B6', rx: 'B7' },
  ],
  nativeAes: false,
  modem: {
    kind: 'e32',
    band: 'eu868-g3',
    pins: { m0: 'A5', m1: 'A6', aux: 'A7' },
    config: { address: 0, channel: 6, airRate: 2400, powerDbm: 14 },
    queue: 16,
    maxUnit: 600,
    slots: 8,
    fragmentCopies: 3,
    replyCopies: 1,
  },
} satisfies BoardProfile;
