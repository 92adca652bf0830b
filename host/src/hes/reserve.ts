// Sender-counter reservations of the HES (issue 10, docs/HOST.md "One writer per store").
//
// Every counter the HES seals under (end-to-end downlink per meter key, link downlink per
// concentrator key, LINK_ACK included) comes from a range reserved in the store before use. The
// stored limit of a key is a high-water mark: every value below it may have been used by someone.
// A process that needs value v reserves [v, v + R) by compare-and-set: it raises the limit to v + R
// only if the stored limit is still ≤ v. If another process (a second HES node, or a stale process
// that should not be running) reserved past v meanwhile, the reservation fails, the caller reloads
// its counter from the stored limit and takes the next free range. The limit never goes down: the
// update cannot lower it and a trigger refuses any statement that would.
//
// With PostgreSQL and several HES nodes the same statement (UPDATE … SET lim = $2 WHERE … AND
// lim <= $1, under the row lock) hands each node its own disjoint ranges.
import type Database from 'better-sqlite3';
import { createSendCounter } from '@vakt/shared';
import type { SendCounter } from '@vakt/shared';

export const RESERVE_SQL = `
CREATE TRIGGER IF NOT EXISTS send_ctr_never_down BEFORE UPDATE OF lim ON send_ctr WHEN NEW.lim < OLD.lim
BEGIN SELECT RAISE(ABORT, 'a sender counter limit cannot go down'); END;
`;

/** A key's identity in send_ctr. */
export interface CounterKey { receiver: Uint8Array; layer: number; op: number; gen: number }

export class CounterReservations {
  private readonly get: Database.Statement;
  private readonly cas: Database.Statement;
  /** Reservations refused because another writer had reserved past the value (for tests and logs). */
  lostRaces = 0;

  constructor(db: Database.Database) {
    db.exec(RESERVE_SQL);
    this.get = db.prepare('SELECT lim FROM send_ctr WHERE receiver = ? AND layer = ? AND op = ? AND gen = ?');
    this.cas = db.prepare(
      'INSERT INTO send_ctr (receiver, layer, op, gen, lim) VALUES (?,?,?,?,?) ' +
        'ON CONFLICT (receiver, layer, op, gen) DO UPDATE SET lim = excluded.lim WHERE send_ctr.lim <= ? AND excluded.lim > send_ctr.lim',
    );
  }

  /** The stored limit of a key (0 for a key never used). */
  stored(k: CounterKey): number {
    const r = this.get.get(k.receiver, k.layer, k.op, k.gen) as { lim: number } | undefined;
    return r === undefined ? 0 : r.lim;
  }

  /**
   * A counter for key k resuming at its stored limit, whose every new range is reserved by
   * compare-and-set in the caller's transaction (committed before any frame under it leaves).
   */
  counter(k: CounterKey, reserve: number): SendCounter {
    const c: SendCounter = createSendCounter(this.stored(k), reserve, (lim: number) => {
      // takeCounter asks for [c.next, lim): granted only if nobody reserved past c.next.
      const ok = this.cas.run(k.receiver, k.layer, k.op, k.gen, lim, c.next).changes === 1;
      if (!ok) this.lostRaces++;
      return ok;
    });
    return c;
  }
}
