/**
 * Error codes of the security core. Core functions never throw on attacker-controlled input:
 * they return one of these negative numbers (a result >= 0 is a success value such as a length).
 * Numbers, not objects, so that failure paths allocate nothing on a microcontroller.
 */

export const OK = 0;
// Frame structure (checked before any cryptography).
export const ERR_LENGTH = -1; // frame shorter/longer than header + body length + policy tag
export const ERR_VERSION = -2; // unknown version byte
export const ERR_FLAGS = -3; // reserved flag bits set
export const ERR_OP = -4; // unknown operation / link type
export const ERR_POLICY = -5; // direction or ENC flag not allowed for the operation
export const ERR_RECEIVER = -6; // frame not addressed to this device
export const ERR_UNKNOWN_SENDER = -7; // no key for this sender / operation
export const ERR_GENERATION = -8; // key generation older than (or not) the one in force: downgrade
// Cryptographic / freshness checks.
export const ERR_REPLAY = -9; // counter not greater than the last accepted one
export const ERR_TAG = -10; // authentication tag does not verify (forgery, corruption, wrong key)
export const ERR_COUNTER_EXHAUSTED = -11; // sender used its last counter value: key update needed
// Caller mistakes that still must not throw in steady state.
export const ERR_BUFFER = -12; // output buffer too small
export const ERR_TOO_LARGE = -13; // body longer than MAX_BODY
export const ERR_KEY_STATE = -14; // key update message not valid in the current key state
export const ERR_STORAGE = -15; // a persist callback failed: nothing was sent or changed
// Codecs.
export const ERR_CRC = -20; // serial frame CRC mismatch: line noise
export const ERR_OVERSIZE = -21; // serial frame longer than the receive buffer
export const ERR_FRAMING = -22; // malformed COBS/SLIP encoding
export const ERR_CBOR = -23; // malformed or unsupported CBOR item
export const ERR_CBOR_DEPTH = -24; // CBOR nesting deeper than allowed

const NAMES: { [code: string]: string } = {
  '0': 'OK',
  '-1': 'ERR_LENGTH',
  '-2': 'ERR_VERSION',
  '-3': 'ERR_FLAGS',
  '-4': 'ERR_OP',
  '-5': 'ERR_POLICY',
  '-6': 'ERR_RECEIVER',
  '-7': 'ERR_UNKNOWN_SENDER',
  '-8': 'ERR_GENERATION',
  '-9': 'ERR_REPLAY',
  '-10': 'ERR_TAG',
  '-11': 'ERR_COUNTER_EXHAUSTED',
  '-12': 'ERR_BUFFER',
  '-13': 'ERR_TOO_LARGE',
  '-14': 'ERR_KEY_STATE',
  '-15': 'ERR_STORAGE',
  '-20': 'ERR_CRC',
  '-21': 'ERR_OVERSIZE',
  '-22': 'ERR_FRAMING',
  '-23': 'ERR_CBOR',
  '-24': 'ERR_CBOR_DEPTH',
};

/** Returns the constant's name for an error code ("ERR_UNKNOWN" for anything else); never throws. */
export function errorName(code: number): string {
  const n = NAMES[String(code)];
  return n === undefined ? 'ERR_UNKNOWN' : n;
}
