import type { BoardProfile } from '../src/types.ts';

/**
 * Moddable on an ESP32 (e.g. ESP32-DevKitC, 520 KB SRAM, 4 MB flash), built with mcconfig -m -p esp32.
 * Serial is ECMA-419 (embedded:io/serial) on UART1, records live in Preference, pins are
 * ECMA-419 Digital. XS runs the core's softAes.
 * Meter only: the concentrator's serial[0] is its TCP link to the HES, for which this adapter has
 * no ECMA-419 socket yet; concentrators run on the sim board (`vakt concentrator`).
 */
export const moddableEsp32 = {
  name: 'moddable-esp32',
  engine: 'xs',
  description: 'Moddable SDK on ESP32 (XS engine), ECMA-419 IO, Preference storage',
  roles: ['meter'],
  ram: { bytes: 65536 },
  flash: { codeBytes: 1048576, storageBytes: 16384 },
  serial: [{ name: 'UART1', role: 'modem', baud: 115200, tx: 17, rx: 16 }],
  pins: { relay: 25, pulse: 26, tamper: 27 },
  nativeAes: false,
} satisfies BoardProfile;
