// Repeats the HES must not count twice: a concentrator's byte-identical resend of an end-to-end frame
// (lost LINK_ACK) and a meter's re-report of the same event under a new counter.
import { describe, it, expect, afterEach } from 'vitest';
import { makeFixture as makeFixtureOn, closeFixtures } from './hes-fixture.ts';
import { hesStores } from './hes-stores.ts';
import { toHex } from '../../host/src/crypto/bytes.ts';

const OP_READING = 0x01;
const OP_EVENT = 0x08;
const EVENT_BAD_TAG = 16;

for (const store of hesStores()) {
  describe.skipIf(store.skip !== null)(`HES repeats on ${store.kind}`, () => {
    const makeFixture: typeof makeFixtureOn = (meters, concentrators, o) => makeFixtureOn(meters, concentrators, o, store);
    afterEach(closeFixtures); // each case's HES closed: PostgreSQL pools hold server connections

    it('a byte-identical resend is a duplicate (link-acknowledgeable, not audited); replays of older frames are still refused', async () => {
      const f = await makeFixture(1, 1);
      const m = f.meters[0]!;
      const c = f.concOf(m);
      const frames = [1, 2, 3].map((seq) => m.seal(OP_READING, [0, seq, 1_700_000_000 + 900 * seq, 10 * seq, 1]));
      for (const e of frames) expect(await f.hes.ingest(c.wrap(e))).toMatchObject({ ok: true, kind: 'reading' });
      for (const e of frames) {
        const r = await f.hes.ingest(c.wrap(e));
        expect(r).toMatchObject({ ok: true, kind: 'duplicate', repeat: true });
        expect(r.linkCounter).toBeGreaterThan(0); // the server acknowledges it, so the concentrator frees it
      }
      expect((await f.hes.audit.list()).filter((e) => e.action.startsWith('security.'))).toEqual([]);
      // One byte changed (here: the tag) is no longer the frame that was accepted: refused as before.
      const forged = frames[2]!.slice();
      forged[forged.length - 1]! ^= 1;
      expect(await f.hes.ingest(c.wrap(forged))).toMatchObject({ ok: false, error: 'ERR_TAG' });
      expect((await f.hes.readings(toHex(m.id))).length).toBe(3);
    });

    it('a resend that crosses an HES restart is still a duplicate (LINK_ACKed, not audited), not a replay', async () => {
      const f = await makeFixture(1, 1);
      const m = f.meters[0]!;
      const c = f.concOf(m);
      const e = m.seal(OP_READING, [0, 1, 1_700_000_900, 10, 1]);
      expect(await f.hes.ingest(c.wrap(e))).toMatchObject({ ok: true, kind: 'reading' });
      // The HES committed the reading, then restarted before its LINK_ACK left: the concentrator resends.
      await f.reopen();
      const r = await f.hes.ingest(c.wrap(e));
      expect(r).toMatchObject({ ok: true, kind: 'duplicate', repeat: true });
      expect(r.linkCounter).toBeGreaterThan(0);
      expect((await f.hes.audit.list()).filter((x) => x.action.startsWith('security.'))).toEqual([]);
      // Another frame under an old counter is still a replay after the restart.
      const forged = e.slice();
      forged[forged.length - 1]! ^= 1;
      expect(await f.hes.ingest(c.wrap(forged))).toMatchObject({ ok: false });
      expect((await f.hes.readings(toHex(m.id))).length).toBe(1);
    });

    it('after a restart (or failover) an older authentic frame resent is a replay, not a bad tag counted toward WRONG KEY', async () => {
      const f = await makeFixture(1, 1);
      const m = f.meters[0]!;
      const c = f.concOf(m);
      const frames = [1, 2, 3, 4].map((seq) => m.seal(OP_READING, [0, seq, 1_700_000_000 + 900 * seq, 10 * seq, 1]));
      for (const e of frames) expect(await f.hes.ingest(c.wrap(e))).toMatchObject({ ok: true, kind: 'reading' });
      // A node that did not accept them knows only the stored newest frame (here: after a restart).
      await f.reopen();
      // The short wire counter reconstructs above `last`; the HES tries the counter below it with the same low bits.
      for (const e of frames.slice(0, 3)) expect(await f.hes.ingest(c.wrap(e))).toMatchObject({ ok: false, error: 'ERR_REPLAY' });
      expect((await f.hes.meterStatus())[0]!.status).toBe('ok');
      expect(await f.hes.ingest(c.wrap(frames[3]!))).toMatchObject({ ok: true, kind: 'duplicate', repeat: true });
      // A forged frame is still a bad tag.
      const forged = frames[1]!.slice();
      forged[forged.length - 1]! ^= 1;
      expect(await f.hes.ingest(c.wrap(forged))).toMatchObject({ ok: false, error: 'ERR_TAG' });
      expect((await f.hes.readings(toHex(m.id))).length).toBe(4);
    });

    it('forgets what a failed batch verified: its frame, resent after a newer one, is not taken for a repeat', async () => {
      const f = await makeFixture(1, 1);
      const m = f.meters[0]!;
      const c = f.concOf(m);
      const e = m.seal(OP_READING, [0, 1, 1_700_000_000, 10, 1]);
      const boom = m.seal(OP_READING, [0, 99, 1_700_089_100, 990, 1]);
      const later = m.seal(OP_READING, [0, 2, 1_700_000_900, 20, 1]);
      // A store failure after both frames verified (here: a statement that no longer compiles; not a
      // constraint, which would be the frame's own fault and refuse only it): the whole batch rolls back.
      const other = await store.raw(f.dbPath);
      const fail = await store.failReadingInsert(other, 99, 'fault', 'disk_says_no');
      await expect(f.hes.ingestBatch([c.wrap(e), c.wrap(boom)], Date.now())).rejects.toThrow(/disk_says_no/);
      await fail.undo();
      await other.close();
      expect((await f.hes.readings(toHex(m.id))).length).toBe(0);
      expect(await f.hes.ingest(c.wrap(later))).toMatchObject({ ok: true, kind: 'reading' });
      // e was never stored: its resend is an old counter, refused and audited, not acknowledged as a duplicate.
      expect(await f.hes.ingest(c.wrap(e))).toMatchObject({ ok: false, error: 'ERR_REPLAY' });
    });

    it('an event re-reported under a new counter is stored and audited once; another detail is a new event', async () => {
      const f = await makeFixture(1, 1);
      const m = f.meters[0]!;
      const c = f.concOf(m);
      const t = 1_700_000_123;
      expect(await f.hes.ingest(c.wrap(m.seal(OP_EVENT, [0, EVENT_BAD_TAG, t, 3])))).toMatchObject({ ok: true, kind: 'event' });
      expect(await f.hes.ingest(c.wrap(m.seal(OP_EVENT, [0, EVENT_BAD_TAG, t, 3])))).toMatchObject({ ok: true, kind: 'duplicate' });
      expect(await f.hes.ingest(c.wrap(m.seal(OP_EVENT, [0, EVENT_BAD_TAG, t, 4])))).toMatchObject({ ok: true, kind: 'event' });
      expect(await f.hes.ingest(c.wrap(m.seal(OP_EVENT, [0, EVENT_BAD_TAG, t + 1, 4])))).toMatchObject({ ok: true, kind: 'event' });
      expect(await f.hes.ingest(c.wrap(m.seal(OP_EVENT, [0, EVENT_BAD_TAG, t, 0])))).toMatchObject({ ok: true, kind: 'event' });
      expect(await f.hes.ingest(c.wrap(m.seal(OP_EVENT, [0, EVENT_BAD_TAG, t, 0])))).toMatchObject({ ok: true, kind: 'duplicate' });
      // Without its detail the body is outside the table (PROTOCOL.md §10): refused, not stored.
      expect(await f.hes.ingest(c.wrap(m.seal(OP_EVENT, [0, EVENT_BAD_TAG, t])))).toMatchObject({ ok: false, error: 'ERR_CBOR' });
      await f.hes.close();
      const db = await store.raw(f.dbPath);
      const rows = await db.all('SELECT code, t, detail FROM events ORDER BY id');
      await db.close();
      expect(rows).toEqual([
        { code: EVENT_BAD_TAG, t, detail: '3' },
        { code: EVENT_BAD_TAG, t, detail: '4' },
        { code: EVENT_BAD_TAG, t: t + 1, detail: '4' },
        { code: EVENT_BAD_TAG, t, detail: '0' },
      ]);
    });
  });
}
