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
