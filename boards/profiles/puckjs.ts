import type { BoardProfile } from '../src/types.ts';

/**
 * Puck.js (nRF52832, 64 KB RAM, 512 KB flash). Espruino's boards/PUCKJS.py: 'variables': 2630 and
 * the 'CRYPTO', 'AES' libraries, so require("crypto").AES exists; the adapter exposes its ECB mode
 * as the native block provider.
 */
export const puckjs = {
  name: 'puckjs',
  engine: 'espruino',
  description: 'Puck.js, nRF52832, Espruino 2v2x with the crypto/AES library (AES-128 ECB)',
  roles: ['meter'],
  ram: { jsVars: 2630 },
  flash: { codeBytes: 40960, storageBytes: 40960 },
  serial: [{ name: 'Serial1', role: 'modem', baud: 9600, tx: 'D28', rx: 'D29' }],
  pins: { relay: 'D1', pulse: 'D2', tamper: 'BTN' },
  nativeAes: true,
  limits: { bundleRawBytes: 16384, bundleGzipBytes: 6144, steadyJsVars: 2500 },
} satisfies BoardProfile;
