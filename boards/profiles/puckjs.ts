import type { BoardProfile } from '../src/types.ts';

/**
 * Puck.js v2 (nRF52832, 64 KB RAM, 512 KB flash): Espruino's boards/PUCKJS.py builds in the nRF52
 * hardware AES as require("crypto").AES, which the adapter exposes as the native block provider.
 */
export const puckjs = {
  name: 'puckjs',
  engine: 'espruino',
  description: 'Puck.js v2, nRF52832, Espruino 2v2x with crypto (hardware AES-128 ECB)',
  roles: ['meter'],
  ram: { jsVars: 2500 },
  flash: { codeBytes: 40960, storageBytes: 40960 },
  serial: [{ name: 'Serial1', role: 'modem', baud: 9600, tx: 'D28', rx: 'D29' }],
  pins: { relay: 'D1', pulse: 'D2', tamper: 'BTN' },
  nativeAes: true,
  limits: { bundleRawBytes: 16384, bundleGzipBytes: 6144, steadyJsVars: 2500 },
} satisfies BoardProfile;
