/**
 * Reserve-ahead sender counters (PROTOCOL.md §6, D-5). The persisted limit L says: every value
 * below L may already have been sent. A value v >= L is handed out only after L' = v + R has been
 * persisted, so after any power loss resuming at the persisted L never reuses a value.
 */
import { ERR_COUNTER_EXHAUSTED, ERR_STORAGE } from './errors.ts';

/** Largest counter value; after it the key is exhausted. */
export const COUNTER_MAX = 0xffffffff;
/** Largest meaningful limit: every value up to COUNTER_MAX reserved. */
export const LIMIT_MAX = 0x100000000;
/** Default reservation step R. */
export const DEFAULT_RESERVE = 64;

/**
 * Durably stores a new limit. Must return true only once the value survives power loss; false
 * (or a throw) means "not stored" and the counter refuses to hand out the value.
 */
export type PersistLimit = (limit: number) => boolean;

/** Sender counter state of one key. `limit` mirrors the last successfully persisted limit. */
export interface SendCounter {
  next: number; // next value to hand out (1 .. COUNTER_MAX, or COUNTER_MAX + 1 when exhausted)
  limit: number; // persisted: values < limit may be used without persisting again
  reserve: number; // R >= 1
  persist: PersistLimit;
  /**
   * Wire v2 (PROTOCOL.md §6): a value the receiver is known to be in step with — the last one sent
   * with the full counter, or the highest one it acknowledged (ackCounter). 0 = unknown: the next
   * frame carries the full counter. Not persisted: after every boot the first frame is full.
   */
  sync: number;
}

/**
 * Creates the counter of a key from its persisted limit (0 for a brand-new key). Resumes at the
 * persisted limit, so nothing that may have been sent before a reboot is sent again.
 */
export function createSendCounter(persistedLimit: number, reserve: number, persist: PersistLimit): SendCounter {
  // A limit that is not a positive whole number counts as a brand-new key (0).
  const lim = persistedLimit === Math.floor(persistedLimit) && persistedLimit > 0 ? Math.min(persistedLimit, LIMIT_MAX) : 0;
  const r = reserve === Math.floor(reserve) && reserve >= 1 ? reserve : DEFAULT_RESERVE;
  return { next: Math.max(lim, 1), limit: lim, reserve: r, persist: persist, sync: 0 };
}

/**
 * Hands out the next counter value (>= 1), persisting a new limit first when the value is not yet
 * covered. Returns ERR_COUNTER_EXHAUSTED after COUNTER_MAX was handed out, ERR_STORAGE when the
 * persist callback fails (then nothing changes and the value is not handed out).
 */
export function takeCounter(c: SendCounter): number {
  const v = c.next;
  if (v > COUNTER_MAX) return ERR_COUNTER_EXHAUSTED;
  if (v >= c.limit) {
    const lim = Math.min(v + c.reserve, LIMIT_MAX);
    // Only a literal true means durable; a throw counts as a failed persist.
    try {
      if (c.persist(lim) !== true) return ERR_STORAGE;
    } catch (e) {
      return ERR_STORAGE;
    }
    c.limit = lim;
  }
  c.next = v + 1;
  return v;
}

/** How many values the key can still send (0 when exhausted). */
export function countersLeft(c: SendCounter): number {
  // COUNTER_MAX - next + 1 while next <= COUNTER_MAX.
  return Math.max(LIMIT_MAX - c.next, 0);
}

/**
 * True when counter value v may go on the wire in the short form of a layer whose short form tells
 * `window` values apart (frame.ts E2E_CTR_WINDOW / HOP_CTR_WINDOW): the receiver is known to be in
 * step (sync > 0) and v is less than half a window above it. Otherwise the full counter is sent.
 */
export function shortCounterOk(c: SendCounter, v: number, window: number): boolean {
  return c.sync > 0 && v - c.sync < window / 2;
}

/** Records that the receiver accepted value v of this counter (e.g. a LINK_ACK [v]): later frames stay short. */
export function ackCounter(c: SendCounter, v: number): void {
  if (v > c.sync && v < c.next) c.sync = v;
}
