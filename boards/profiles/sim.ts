import type { BoardProfile } from '../src/types.ts';

/** The Node simulator: same firmware, file-backed storage, serial ports opened with `serialport`, a synthetic load as pulses. */
export const sim = {
  name: 'sim',
  engine: 'node',
  description:
    'Node.js simulator: file-backed atomic storage, serialport (PTY or USB adapter) modems, node:crypto AES, synthetic load on the pulse input',
  roles: ['meter', 'concentrator'],
  serial: [{ name: '/dev/ttyX (set at run time)', role: 'modem', baud: 115200 }],
  nativeAes: true,
  // A transparent line (PTY pair or cable) by default; `vakt demo --radio e32` and the host drivers
  // take an Ebyte E32 on a USB-UART with M0 on RTS, M1 on DTR and AUX on CTS.
  modem: { kind: 'transparent', band: 'lab', pins: { m0: 'rts', m1: 'dtr', aux: 'cts', set: 'rts' } },
} satisfies BoardProfile;
