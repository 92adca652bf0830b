// Public surface of @vakt/boards. The interface is type-only; adapters are imported by path
// ('@vakt/boards/sim/index', '@vakt/boards/espruino/index', '@vakt/boards/moddable/index') so a
// firmware bundle for one engine never pulls in another engine's adapter.
export type { Board, BoardProfile, Engine, SerialPort, SerialPortProfile, Storage, Clock, Pins, PinProfile, BlockCipher } from './types.ts';
