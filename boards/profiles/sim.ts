import type { BoardProfile } from '../src/types.ts';

/** The Node simulator: same firmware, file-backed storage, serial ports opened with `serialport`, a synthetic load as pulses. */
export const sim = {
  name: 'sim',
  engine: 'node',
  description: 'Node.js simulator: file-backed atomic storage, serialport (PTY or USB adapter) modems, node:crypto AES, synthetic load on the pulse input',
  roles: ['meter', 'concentrator'],
  serial: [{ name: '/dev/ttyX (set at run time)', role: 'modem', baud: 115200 }],
  nativeAes: true,
} satisfies BoardProfile;
