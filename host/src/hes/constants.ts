// Constants and errors of the HES, shared by its parts (hes.ts re-exports them).
export const KEY_LEN = 16;
export const ID_LEN = 8;
/** Consecutive authentication failures after which a meter is reported as "probably wrong key". */
export const WRONG_KEY_THRESHOLD = 3;
/** Default time a command may wait for its answer before it is sent again. */
export const DEFAULT_RETRY_MS = 30_000;
/** Default lifetime of a command. */
export const DEFAULT_EXPIRY_MS = 24 * 3600_000;
/** Attempts before a (non key-update) command fails. */
export const MAX_ATTEMPTS = 5;
/** Load-profile intervals a meter keeps (firmware LP_SLOTS): gap fill never asks further back. */
export const LP_WINDOW = 96;
/** EVENT code: a sending counter of the meter is near exhaustion (PROTOCOL.md §6, §10). */
export const EVENT_COUNTER_EXHAUSTION = 19;
/** Highest key generation. */
export const MAX_KEY_GEN = 255;
/** Actor name of the HES itself (gap fill, automatic retries). */
export const SYSTEM_ACTOR = 'hes';
/** Replay rows of KC slots use op = KC_PSEUDO_OP + scope, apart from K[KEY_UPDATE] of the same generation. */
export const KC_PSEUDO_OP = 0x100;
/**
 * Accepted end-to-end frames remembered per key to recognise a concentrator's resend: the concentrator
 * retransmits whatever it holds unacknowledged, so a few recent frames per meter and key cover a lost
 * LINK_ACK. The newest one is also stored with the replay row, so a resend after a restart is recognised.
 */
export const REPEAT_WINDOW = 4;

/** Error from the HES library that the CLI prints as one line. */
export class HesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HesError';
  }
}

export function opName(op: number): string {
  return ['?', 'READING', 'READ', 'RELAY', 'CONFIG', 'CLOCK', 'FIRMWARE', 'KEY_UPDATE', 'EVENT', 'ACK'][op] ?? `op ${op}`;
}

export function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}
