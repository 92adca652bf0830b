// How a flashed Espruino file puts a firmware-side modem driver around a UART: the build appends
// the driver's piece (dist/firmware/espruino-modem-<kind>.js, exposing globalThis.VaktModem) and
// writes this expression in place of the UART's name in the boot line; the adapter then sets up
// and wraps the driver as it would the UART. Plain text, as the boot line is.

/** Global each driver piece sets. */
export const MODEM_GLOBAL = 'VaktModem';
/** The factory of each modem kind that has a firmware-side driver, by kind. */
export const MODEM_FACTORIES: { readonly [kind: string]: string } = { e32: 'createE32Serial', hc12: 'createHc12Serial' };
/** The module of each such driver (for the build). */
export const MODEM_MODULES: { readonly [kind: string]: string } = {
  e32: 'boards/src/espruino/modem-e32.ts',
  hc12: 'boards/src/espruino/modem-hc12.ts',
};
/** Interpreter globals the boot expression reads (the build's engine check allows them). */
export const MODEM_BOOT_GLOBALS = ['digitalWrite', 'digitalRead', 'setTimeout', 'clearTimeout', 'getTime', 'Pin', 'E', 'print'];

/** The boot line's expression for a modem UART `uartName` (e.g. Serial1) of a profile whose modem is `kind`. */
export function modemBootSerial(kind: string, uartName: string, modemJson: string): string {
  const factory = MODEM_FACTORIES[kind];
  if (factory === undefined)
    throw new Error('no firmware-side driver for a ' + kind + ' modem (have: ' + Object.keys(MODEM_FACTORIES).join(', ') + ')');
  return (
    'globalThis.' +
    MODEM_GLOBAL +
    '.' +
    factory +
    '(' +
    uartName +
    ',' +
    modemJson +
    ',{' +
    'pin:function(n){return typeof n==="number"?n:new Pin(n);},digitalWrite:digitalWrite,digitalRead:digitalRead,' +
    'setTimeout:setTimeout,clearTimeout:clearTimeout,getTime:getTime,toUint8Array:E.toUint8Array,print:print},' +
    JSON.stringify(uartName) +
    ')'
  );
}
