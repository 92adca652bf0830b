// Per-frame fault isolation (issue 10): a frame whose handling throws costs only itself — refused
// (ERR_INTERNAL), audited once, link-acknowledged — and gap fill stays bounded for any numbers.
import { describe, it, expect, afterEach } from 'vitest';
import { OP_READING, OP_READ, OP_KEY_UPDATE, E2E_VERSION, LIMIT_MAX } from '@vakt/shared';
import { toHex } from '../../host/src/crypto/bytes.ts';
import { gapFillRanges } from '../../host/src/hes/isolation.ts';
import { makeFixture as makeFixtureOn, closeFixtures, deliverDownlink } from './hes-fixture.ts';
import { hesStores } from './hes-stores.ts';

for (const store of hesStores()) {
  describe.skipIf(store.skip !== null)(`on ${store.kind}`, () => {
    const makeFixture: typeof makeFixtureOn = (meters, concentrators, o) => makeFixtureOn(meters, concentrators, o, store);
    afterEach(closeFixtures); // each case's HES closed: PostgreSQL pools hold server connections

    describe('per-frame fault isolation', () => {
      it('a frame the store refuses (constraint) is refused alone, audited once and acknowledged; the rest of its batch is stored', async () => {
        const f = await makeFixture(2, 1);
        const [a, b] = [f.meters[0]!, f.meters[1]!];
        const c = f.concOf(a);
        const other = await f.store.raw(f.dbPath);
        await f.store.failReadingInsert(other, 7, 'constraint', 'cannot store this one');
        await other.close();
        const frames = [
          c.wrap(a.seal(OP_READING, [0, 1, 1_700_000_000, 10, 1])),
          c.wrap(a.seal(OP_READING, [0, 7, 1_700_005_400, 70, 1])),
          c.wrap(b.seal(OP_READING, [0, 1, 1_700_000_000, 10, 1])),
        ];
        const before = (await f.hes.audit.list()).length;
        const res = await f.hes.ingestBatch(frames, Date.now());
        expect(res.map((r) => (r.ok ? r.kind : r.error))).toEqual(['reading', 'ERR_INTERNAL', 'reading']);
        expect(res.every((r) => (r.linkCounter ?? 0) > 0)).toBe(true);
        const audit = (await f.hes.audit.list()).slice(before).map((e) => e.action);
        expect(audit.filter((x) => x === 'security.err_internal')).toHaveLength(1);
        expect((await f.hes.readings(toHex(a.id))).map((r) => r.seq)).toEqual([1]);
        expect((await f.hes.readings(toHex(b.id))).map((r) => r.seq)).toEqual([1]);
        // The refused frame queued no gap fill (its writes were rolled back) and the meter's next frame is taken.
        expect((await f.hes.listCommands()).length).toBe(0);
        expect(await f.hes.ingest(c.wrap(a.seal(OP_READING, [0, 2, 1_700_000_900, 20, 1])))).toMatchObject({ ok: true, kind: 'reading' });
      });
    });

    describe('downlink counter exhaustion', () => {
      it('affects only that key: the other meter is served, the meter gets a key update of that op, audited once', async () => {
        const f = await makeFixture(2, 1);
        const [a, b] = [f.meters[0]!, f.meters[1]!];
        const c = f.concOf(a);
        await f.hes.close();
        // Meter A's READ downlink key has handed out its last counter (stored limit 2^32).
        const db = await f.store.raw(f.dbPath);
        await db.run('INSERT INTO send_ctr (receiver, layer, op, gen, lim) VALUES (?,?,?,?,?)', [a.id, E2E_VERSION, OP_READ, 0, LIMIT_MAX]);
        await db.close();
        const hes = await f.reopen();
        await hes.enqueueCommand('admin', toHex(a.id), { kind: 'read' });
        const cb = await hes.enqueueCommand('admin', toHex(b.id), { kind: 'read' });
        const now = Date.now();
        const down = await hes.nextDownlink(toHex(c.id), now);
        const got = deliverDownlink(f, c, down);
        expect(got.seen.map((x) => x.op)).toEqual([OP_READ]); // B's READ went out; A's could not be sealed
        expect((await hes.ingestBatch(got.replies, now)).every((r) => r.ok)).toBe(true);
        expect((await hes.listCommands({ meter: toHex(b.id) })).find((x) => x.id === cb)?.state).toBe('acknowledged');
        expect((await hes.audit.list()).filter((e) => e.action === 'key.exhausted')).toHaveLength(1);
        // The next pump carries A's key update (a new READ key) and B's next command; no new fault.
        const cb2 = await hes.enqueueCommand('admin', toHex(b.id), { kind: 'read' });
        const got2 = deliverDownlink(f, c, await hes.nextDownlink(toHex(c.id), now + 1));
        expect(got2.seen.map((x) => x.op).sort()).toEqual([OP_READ, OP_KEY_UPDATE]);
        await hes.ingestBatch(got2.replies, now + 1);
        expect((await hes.listCommands({ meter: toHex(b.id) })).find((x) => x.id === cb2)?.state).toBe('acknowledged');
        expect((await hes.audit.list()).filter((e) => e.action === 'key.exhausted')).toHaveLength(1);
        // Once A confirmed and activated the new READ key, its waiting READ goes out under it.
        for (let i = 2; i < 6; i++)
          await hes.ingestBatch(deliverDownlink(f, c, await hes.nextDownlink(toHex(c.id), now + i * 60_000)).replies, now + i * 60_000);
        expect(a.gen(OP_READ)).toBe(1);
        expect((await hes.listCommands({ meter: toHex(a.id) })).filter((x) => x.kind === 'read').map((x) => x.state)).toEqual([
          'acknowledged',
        ]);
      });
    });

    describe('gap fill ranges', () => {
      it('are bounded by the window for any bounds, and empty for non-integers', async () => {
        expect(gapFillRanges(1, 40, 16, 96)).toEqual([
          [1, 16],
          [17, 32],
          [33, 40],
        ]);
        expect(gapFillRanges(1, 2 ** 40, 16, 96).length).toBe(6);
        // Beyond 2^53 a + 16 no longer advances (the hang of issue 10): no range at all.
        expect(gapFillRanges(1, 2 ** 60, 16, 96)).toEqual([]);
        expect(gapFillRanges(1, 1e18, 16, 96)).toEqual([]);
        expect(gapFillRanges(1.5, 20, 16, 96)).toEqual([]);
        expect(gapFillRanges(1, Infinity, 16, 96)).toEqual([]);
        expect(gapFillRanges(NaN, 20, 16, 96)).toEqual([]);
        expect(gapFillRanges(30, 20, 16, 96)).toEqual([]);
        const r = gapFillRanges(Number.MAX_SAFE_INTEGER - 200, Number.MAX_SAFE_INTEGER, 16, 96);
        expect(r.length).toBe(6);
        expect(r[r.length - 1]![1]).toBe(Number.MAX_SAFE_INTEGER);
      });
    });
  });
}
