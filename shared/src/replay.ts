/**
 * Receiver freshness (PROTOCOL.md §6, D-6): per (sender, key) the last accepted counter; a frame is
 * fresh only when its counter is strictly greater. openFrame calls these after the tag verified,
 * in the same synchronous step, so two deliveries of one frame can never both pass.
 */
import { COUNTER_MAX } from './counter.ts';

/** True when `counter` may be accepted after `last` (counter in 1..2^32-1 and counter > last). */
export function isFresh(last: number, counter: number): boolean {
  return counter > last && counter >= 1 && counter <= COUNTER_MAX;
}

/** Receiver replay state for keys not held in a KeySlot (e.g. a database row on the HES). */
export interface ReplayState {
  last: number;
}

/** Checks and records `counter` in one step; true when it was fresh (state advanced), false otherwise (state untouched). */
export function acceptCounter(st: ReplayState, counter: number): boolean {
  if (!isFresh(st.last, counter)) return false;
  st.last = counter;
  return true;
}

/**
 * Wire v2 counter reconstruction (PROTOCOL.md §6): the smallest value at or above `last` whose low
 * bits (modulo `window`, a power of two: 2^16 e2e, 2^8 hop) are `low`. Equal to `last` means the last
 * accepted frame again (a retransmission, or a forgery: the tag decides, then isFresh refuses it as
 * a replay). So the short form reaches last + 1 … last + window − 1. The result may exceed
 * COUNTER_MAX, which isFresh then refuses (the 2^32 edge). A receiver that missed window − 1 values
 * or more reconstructs a wrong value and the tag fails; the sender's next full-counter frame
 * resynchronises it.
 */
export function reconstructCounter(last: number, low: number, window: number): number {
  const v = last - (last % window) + low;
  return v >= last ? v : v + window;
}
