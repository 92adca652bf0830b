import type { BoardProfile } from '../src/types.ts';

/**
 * Espruino Pico (STM32F401CD, 96 KB RAM, 384 KB flash). Figures from Espruino's boards/PICO_R1_3.py
 * ('variables': 5100, ram 96, flash 384). Its firmware is built without the AES library, so the
 * meter uses the core's softAes.
 */
export const espruinoPico = {
  name: 'espruino-pico',
  engine: 'espruino',
  description: 'Espruino Pico, STM32F401CDU6, Espruino 2v2x',
  roles: ['meter'],
  ram: { jsVars: 5100 },
  flash: { codeBytes: 65536, storageBytes: 49152 },
  serial: [{ name: 'Serial1', role: 'modem', baud: 115200, tx: 'B6', rx: 'B7' }],
  pins: { relay: 'B3', pulse: 'B4', tamper: 'B5' },
  nativeAes: false,
  limits: { bundleRawBytes: 16384, bundleGzipBytes: 6144, steadyJsVars: 2500 },
} satisfies BoardProfile;
