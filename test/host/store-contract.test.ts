// The HesStore contract (host/src/hes/store/types.ts, /work/seams/store.md) against every store that
// can be opened here: SQLite always; PostgreSQL when VAKT_TEST_PG names a reachable database (else
// skipped with the reason printed). The conditional statements are what several HES nodes rely on.
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../host/src/hes/store/open.ts';
import { freshDatabase } from '../pg/cluster.ts';
import { StaleStoreError } from '../../host/src/hes/store/types.ts';
import type { HesStore, IngestFrameResult, StoreWrite } from '../../host/src/hes/store/types.ts';
import { entryMac } from '../../host/src/hes/audit.ts';
import { randomBytes, utf8 } from '../../host/src/crypto/bytes.ts';

const AUDIT_KEY = randomBytes(32);
const E2E = 0x20;
const T = 1_700_000_000_000;

/** The stores to run the contract against: a name and a factory of a fresh, initialised store. */
export function storeFactories(): { name: string; skip: string | null; open: () => Promise<HesStore> }[] {
  const pg = process.env.VAKT_TEST_PG;
  return [
    { name: 'sqlite', skip: null, open: () => fresh(join(mkdtempSync(join(tmpdir(), 'vakt-store-')), 'hes.db')) },
    {
      name: 'postgres',
      skip: pg === undefined || pg === '' ? 'VAKT_TEST_PG is not set (no PostgreSQL cluster)' : null,
      open: async () => fresh(await freshDatabase(pg!)),
    }, // an empty database per store: each test initialises its own
  ];
}

async function fresh(location: string): Promise<HesStore> {
  const s = await openStore(location, { auditKey: AUDIT_KEY, synchronous: 'normal' });
  await s.initialise({
    hesId: randomBytes(8),
    meta: [{ k: 'schema_version', v: utf8('2') }],
    kpeKeys: [randomBytes(32)],
    admin: { name: 'admin', createdMs: T },
    audit: [{ actor: 'admin', action: 'hes.init', subject: 'x', detail: {}, tsMs: T }],
  });
  return s;
}

const opened: HesStore[] = [];
afterAll(async () => {
  for (const s of opened) await s.close();
});

for (const f of storeFactories()) {
  if (f.skip !== null) console.log(`store contract (${f.name}) skipped: ${f.skip}`);
  describe.skipIf(f.skip !== null)(`HesStore contract: ${f.name}`, () => {
    const open = async () => {
      const s = await f.open();
      opened.push(s);
      return s;
    };
    const meter = randomBytes(8);
    const conc = randomBytes(8);
    const key = (op = 1) => ({ sender: meter, layer: E2E, op, dir: 0, gen: 0 });
    const reading = (seq: number): StoreWrite => ({
      kind: 'reading',
      meter,
      seq,
      t: seq,
      wh: seq,
      w: 1,
      counter: seq,
      gen: 0,
      via: conc,
      receivedMs: T,
    });

    it('commitIngest: a frame whose counter advance loses has none of its writes applied; the winner is told the stored frame', async () => {
      const s = await open();
      const frameA = utf8('frame-a');
      const r1 = await s.commitIngest({ link: [], frames: [{ advance: { ...key(), last: 5, frame: frameA }, writes: [reading(1)] }] });
      expect(r1).toEqual([{ won: true, results: [{ inserted: true }] }]);
      // The same counter again (another node accepted it), a lower one, and a higher one in one batch.
      const r2 = await s.commitIngest({
        link: [],
        frames: [
          { advance: { ...key(), last: 5, frame: utf8('frame-b') }, writes: [reading(2)] },
          { advance: { ...key(), last: 4, frame: utf8('frame-c') }, writes: [reading(3)] },
          { advance: { ...key(), last: 6, frame: utf8('frame-d') }, writes: [reading(1)] },
        ],
      });
      const lost = r2[0] as Extract<IngestFrameResult, { current: unknown }>;
      expect(lost.won).toBe(false);
      expect(lost.current.last).toBe(5);
      expect(new Uint8Array(lost.current.frame!)).toEqual(frameA);
      expect(r2[1]).toMatchObject({ won: false, current: { last: 5 } });
      expect(r2[2]).toEqual({ won: true, results: [{ inserted: false }] }); // the reading was stored before: a duplicate
      expect(await s.count('readings')).toBe(1);
      const [st] = await s.replayStates([key()]);
      expect(st!.last).toBe(6);
      expect(new Uint8Array(st!.frame!)).toEqual(utf8('frame-d'));
      // Link counters are a max merge: a lower one never lowers the row.
      await s.commitIngest({ link: [{ sender: conc, layer: 0x82, op: 0, dir: 0, gen: 0, last: 9, frame: null }], frames: [] });
      await s.commitIngest({ link: [{ sender: conc, layer: 0x82, op: 0, dir: 0, gen: 0, last: 3, frame: null }], frames: [] });
      expect((await s.replayStates([{ sender: conc, layer: 0x82, op: 0, dir: 0, gen: 0 }]))[0]!.last).toBe(9);
    });

    it('commitIngest: a frame whose writes violate a constraint is refused alone; the other frames are stored', async () => {
      const s = await open();
      const [ins] = await s.commit([
        {
          kind: 'insertCommand',
          cmd: { meterId: meter, kind: 'read', op: 2, params: '{}', actor: 'admin', createdMs: T, expiresMs: T + 1000 },
        },
      ]);
      const bad: StoreWrite = {
        kind: 'updateCommand',
        id: (ins as { id: number }).id,
        expect: 'queued',
        state: 'bogus' as 'sent',
        params: '{}',
        attempts: 0,
        nextTryMs: 0,
        updatedMs: T,
        result: null,
      };
      const r = await s.commitIngest({
        link: [],
        frames: [
          { advance: { ...key(1), last: 1, frame: null }, writes: [reading(1)] },
          { advance: { ...key(2), last: 1, frame: null }, writes: [reading(2), bad] },
          { advance: { ...key(3), last: 1, frame: null }, writes: [reading(3)] },
        ],
      });
      expect(r[0]).toMatchObject({ won: true });
      expect(r[1]).toMatchObject({ won: false, fault: expect.any(String) });
      expect(r[2]).toMatchObject({ won: true });
      expect(await s.count('readings')).toBe(2);
      // The refused frame's counter advance was rolled back with it.
      expect((await s.replayStates([key(2)]))[0]!.last).toBe(0);
    });

    it('conditional writes: a key row at a stale version or a command not in the expected state fails the whole unit', async () => {
      const s = await open();
      const row = { owner: meter, kind: 'ring' as const, scope: 0, gen: 0, state: 'active' as const, enc: utf8('v0'), createdMs: T };
      expect(await s.commit([{ kind: 'key', row }])).toEqual([{ ver: 0 }]);
      await expect(s.commit([{ kind: 'key', row }])).rejects.toThrow(StaleStoreError);
      expect(await s.commit([{ kind: 'key', row: { ...row, enc: utf8('v1') }, expectVer: 0 }])).toEqual([{ ver: 1 }]);
      const audits = (await s.auditHead()).seq;
      await expect(
        s.commit([
          { kind: 'audit', entry: { actor: 'a', action: 'x', subject: 's', detail: {}, tsMs: T } },
          { kind: 'key', row: { ...row, enc: utf8('stale') }, expectVer: 0 },
        ]),
      ).rejects.toThrow(StaleStoreError);
      expect((await s.auditHead()).seq).toBe(audits); // nothing of the failed unit
      const [ins] = await s.commit([
        {
          kind: 'insertCommand',
          cmd: { meterId: meter, kind: 'read', op: 2, params: '{"kind":"read"}', actor: 'admin', createdMs: T, expiresMs: T + 1000 },
        },
      ]);
      const id = (ins as { id: number }).id;
      const upd = (expect: 'queued' | 'sent'): StoreWrite => ({
        kind: 'updateCommand',
        id,
        expect,
        state: 'sent',
        params: '{"kind":"read"}',
        attempts: 1,
        nextTryMs: T,
        updatedMs: T,
        result: null,
      });
      await s.commit([upd('queued')]);
      await expect(s.commit([upd('queued')])).rejects.toThrow(StaleStoreError);
      expect((await s.command(id))!.state).toBe('sent');
    });

    it('reserveSendRange hands out disjoint ranges, never lowers the limit, and reports exhaustion', async () => {
      const s = await open();
      const k = { receiver: meter, layer: E2E, op: 3, gen: 0 };
      const a = await s.reserveSendRange(k, 64, 2 ** 32);
      const b = await s.reserveSendRange(k, 10, 2 ** 32);
      expect(a).toEqual({ lo: 1, hi: 65 });
      expect(b).toEqual({ lo: 65, hi: 75 });
      expect(await s.sendLimit(k)).toBe(75);
      const end = await s.reserveSendRange(k, 2 ** 33, 2 ** 32);
      expect(end).toEqual({ lo: 75, hi: 2 ** 32 });
      expect(await s.reserveSendRange(k, 1, 2 ** 32)).toEqual({ lo: 2 ** 32, hi: 2 ** 32 });
    });

    it("claimCommands: due open commands of the concentrator's meters, claimed until the lease ends", async () => {
      const s = await open();
      const cmd = (expiresMs: number): StoreWrite => ({
        kind: 'insertCommand',
        cmd: { meterId: meter, kind: 'read', op: 2, params: '{}', actor: 'admin', createdMs: T, expiresMs },
      });
      const shipment = { id: randomBytes(16), kpePub: randomBytes(32), seq: 1, createdMs: T, importedMs: T, audit: [] };
      await s.importShipment({
        ...shipment,
        concentrators: [{ id: conc, linkGen: 0 }],
        meters: [{ id: meter, concentratorId: conc, linkGen: 0, shortAddr: 1 }],
        keys: [],
      });
      await expect(s.importShipment({ ...shipment, concentrators: [], meters: [], keys: [] })).rejects.toThrow(StaleStoreError);
      await s.commit([cmd(T + 60_000), cmd(T + 60_000)]);
      const claimed = await s.claimCommands(conc, T, 10, 30_000);
      expect(claimed.map((c) => c.state)).toEqual(['queued', 'queued']);
      expect(await s.claimCommands(randomBytes(8), T, 10, 30_000)).toEqual([]);
    });

    it('one audit chain: entries appended in units are numbered without gaps and chain their MACs', async () => {
      const s = await open();
      await s.appendAudit([{ actor: 'a', action: 'one', subject: 's', detail: 'd', tsMs: T }]);
      await s.commit([{ kind: 'audit', entry: { actor: 'b', action: 'two', subject: 's', detail: { x: 1 }, tsMs: T } }]);
      const rows = await s.auditRows(1, 100);
      expect(rows.map((r) => r.seq)).toEqual([1, 2, 3]);
      let prev: Uint8Array = new Uint8Array(32);
      for (const r of rows) {
        expect(new Uint8Array(r.prev)).toEqual(prev);
        prev = entryMac(AUDIT_KEY, prev, r);
        expect(new Uint8Array(r.mac)).toEqual(prev);
      }
      expect((await s.auditHead()).seq).toBe(3);
      expect(rows[2]!.detail).toBe('{"x":1}');
    });
  });
}
