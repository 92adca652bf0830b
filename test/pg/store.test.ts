// The PostgreSQL HES store against races between nodes (issue 14). Every "node" is a PgStore with
// its own connection pool on one database, run concurrently in this process: the interleavings
// PostgreSQL sees are those of separate processes (each statement crosses a socket).
// - the same counter advanced by 2 and 4 nodes at once, many times: exactly one wins, the reading
//   is stored once, `last` never goes down;
// - batches with repeats, replays and out-of-order counters decide exactly as applying the
//   conditional advances one by one would (a sequential model in this file);
// - counter ranges reserved by 4 nodes at once are disjoint, contiguous and never lowered;
// - commands claimed by 4 nodes at once: each by exactly one, a lapsed claim is taken over;
// - one audit chain appended by 4 nodes at once verifies (entryMac recomputed here);
// - a frame whose data the store refuses costs that frame only; a stale conditional write costs the unit.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entryMac } from '../../host/src/hes/audit.ts';
import { openPgStore, type PgStore } from '../../host/src/hes/store/postgres/index.ts';
import { PG_SCHEMA_VERSION } from '../../host/src/hes/store/postgres/schema.ts';
import {
  StaleStoreError,
  type IngestCommit,
  type IngestFrame,
  type ReplayAdvance,
  type StoreWrite,
} from '../../host/src/hes/store/types.ts';
import { freshDatabase, pgCluster, skipNotice } from './cluster.ts';

const cluster = await pgCluster();
skipNotice(cluster, 'PostgreSQL store races');
afterAll(() => cluster.stop());

const AUDIT_KEY = randomBytes(32);
const E2E = 0x20;
const LINK = 0x82;
const UP = 0;
const CONC = Buffer.from('c0c0c0c0c0c0c0c0', 'hex');
const METERS = Array.from({ length: 8 }, (_, i) => Buffer.from(`a1a1a1a1a1a1a1${i.toString(16).padStart(2, '0')}`, 'hex'));

let url = '';
const open: PgStore[] = [];
async function nodes(n: number): Promise<PgStore[]> {
  const out: PgStore[] = [];
  for (let i = 0; i < n; i++) out.push(await openPgStore(url, { auditKey: AUDIT_KEY, node: `node${i}` }));
  open.push(...out);
  return out;
}

function advance(meter: Buffer, last: number, op = 1, frame: Buffer | null = null): ReplayAdvance {
  return {
    sender: meter,
    layer: E2E,
    op,
    dir: UP,
    gen: 0,
    last,
    frame: frame ?? Buffer.from(`frame-${meter.toString('hex')}-${op}-${last}`),
  };
}
function reading(meter: Buffer, seq: number, counter: number): Extract<StoreWrite, { kind: 'reading' }> {
  return {
    kind: 'reading',
    meter,
    seq,
    t: 1_700_000_000 + seq * 900,
    wh: seq * 10,
    w: 100,
    counter,
    gen: 0,
    via: CONC,
    receivedMs: Date.now(),
  };
}
function frame(meter: Buffer, counter: number, seq: number): IngestFrame {
  return { advance: advance(meter, counter), writes: [reading(meter, seq, counter)] };
}
const linkAdv = (last: number): ReplayAdvance => ({ sender: CONC, layer: LINK, op: 0, dir: UP, gen: 0, last, frame: null });

beforeAll(async () => {
  if (cluster.url === undefined) return;
  url = await freshDatabase(cluster.url);
  const [s] = await nodes(1);
  await s!.initialise({
    hesId: randomBytes(8),
    meta: [{ k: 'schema_version', v: Buffer.from('2') }],
    kpeKeys: [],
    admin: { name: 'admin', createdMs: 1 },
    audit: [{ actor: 'admin', action: 'hes.init', subject: 'test', detail: {}, tsMs: 1 }],
  });
  await s!.importShipment({
    id: randomBytes(16),
    kpePub: randomBytes(32),
    seq: 1,
    createdMs: 1,
    importedMs: 1,
    concentrators: [{ id: CONC, linkGen: 0 }],
    meters: METERS.map((m, i) => ({ id: m, concentratorId: CONC, linkGen: 0, shortAddr: i + 1 })),
    keys: [],
    audit: [{ actor: 'admin', action: 'shipment.imported', subject: 'test', detail: {}, tsMs: 2 }],
  });
});
afterAll(async () => {
  for (const s of open) await s.close();
});

/**
 * Sequential model of commitIngest's replay decisions: per key, a frame wins iff its counter > stored
 * last; a losing frame is told the stored (last, frame) at its turn.
 */
function model(stored: Map<string, { last: number; frame: string }>, frames: IngestFrame[]): (true | { last: number; frame: string })[] {
  return frames.map((f) => {
    if (f.advance === null) return true;
    const k = `${Buffer.from(f.advance.sender).toString('hex')}:${f.advance.op}`;
    const cur = stored.get(k) ?? { last: 0, frame: '' };
    if (f.advance.last <= cur.last) return cur;
    stored.set(k, { last: f.advance.last, frame: Buffer.from(f.advance.frame!).toString('hex') });
    return true;
  });
}

describe.skipIf(cluster.url === undefined)('PostgreSQL store: several nodes on one database', () => {
  it('migrates once when four nodes open an empty database at the same time, and again is a no-op', async () => {
    const u = await freshDatabase(cluster.url!);
    const four = await Promise.all([0, 1, 2, 3].map((i) => openPgStore(u, { auditKey: AUDIT_KEY, node: `m${i}` })));
    open.push(...four);
    expect(await four[0]!.count('readings')).toBe(0);
    const again = await openPgStore(u, { auditKey: AUDIT_KEY });
    open.push(again);
    expect((await again.pool.query('SELECT version FROM vakt_schema')).rows).toEqual([{ version: PG_SCHEMA_VERSION }]);
    // Version 3: replay pages keep room for HOT updates.
    expect((await again.pool.query("SELECT reloptions FROM pg_class WHERE relname = 'replay'")).rows).toEqual([
      { reloptions: ['fillfactor=50'] },
    ]);
  });

  for (const n of [2, 4]) {
    it(`the same frame committed by ${n} nodes at the same instant, 150 times: exactly one wins, stored once`, async () => {
      const ns = await nodes(n);
      const meter = METERS[n]!;
      let winsTotal = 0;
      for (let i = 1; i <= 150; i++) {
        const c: IngestCommit = { link: [linkAdv(1000 + i)], frames: [frame(meter, i, i)] };
        const rs = await Promise.all(ns.map((s) => s.commitIngest(c)));
        const wins = rs.filter((r) => r[0]!.won).length;
        expect(wins, `round ${i}`).toBe(1);
        winsTotal += wins;
        for (const r of rs) {
          const f = r[0]!;
          if (!f.won) {
            // The loser learns the stored state: the same counter and frame — a duplicate, not a replay.
            expect('current' in f && f.current.last).toBe(i);
            expect('current' in f && Buffer.from(f.current.frame!).equals(c.frames[0]!.advance!.frame!)).toBe(true);
          } else expect(f.results).toEqual([{ inserted: true }]);
        }
      }
      expect(winsTotal).toBe(150);
      const stored = await ns[0]!.pool.query('SELECT count(*)::int AS n, count(DISTINCT seq)::int AS d FROM readings WHERE meter_id = $1', [
        meter,
      ]);
      expect(stored.rows[0]).toEqual({ n: 150, d: 150 });
      const [st] = await ns[0]!.replayStates([advance(meter, 0)]);
      expect(st!.last).toBe(150);
    });
  }

  it('4 nodes ingest one stream with duplicates, replays and reordering: each frame won by exactly one node, as the sequential model says', async () => {
    const ns = await nodes(4);
    const meters = METERS.slice(0, 4);
    // 40 rounds; each node gets its own shuffled batch of the round's frames plus old ones.
    const all: IngestFrame[] = [];
    for (let r = 1; r <= 40; r++)
      for (const m of meters) all.push({ advance: advance(m, 1000 + r, 2), writes: [reading(m, 1000 + r, 1000 + r)] });
    const winners = new Map<number, number>();
    for (let r = 0; r < 40; r++) {
      const round = all.slice(r * 4, r * 4 + 4);
      const old = r > 2 ? all.slice((r - 2) * 4, (r - 2) * 4 + 2) : []; // replays of stored frames
      const batches = ns.map((_, i) => {
        const b = [...round, ...old, round[i % 4]!]; // a frame twice in one batch
        for (let j = b.length - 1; j > 0; j--) {
          const k = (j * 7 + i * 3 + r) % (j + 1);
          [b[j], b[k]] = [b[k]!, b[j]!];
        }
        return b;
      });
      const results = await Promise.all(ns.map((s, i) => s.commitIngest({ link: [], frames: batches[i]! })));
      results.forEach((res, i) =>
        res.forEach((fr, j) => {
          if (!fr.won) return;
          const idx = all.indexOf(batches[i]![j]!);
          winners.set(idx, (winners.get(idx) ?? 0) + 1);
        }),
      );
    }
    // Every frame of the stream is won at most once; reordering inside a batch may make an older
    // counter lose to a newer one of the same meter (the meter re-pushes; gap fill recovers it).
    for (const [, n] of winners) expect(n).toBe(1);
    const rows = (await ns[0]!.pool.query('SELECT meter_id, seq FROM readings WHERE seq > 1000')).rows as {
      meter_id: Buffer;
      seq: number;
    }[];
    expect(rows.length).toBe(winners.size);
    expect(new Set(rows.map((x) => `${x.meter_id.toString('hex')}:${x.seq}`)).size).toBe(rows.length);
    // No counter went down: each meter's last is the highest counter of the stream that won.
    for (const m of meters) expect((await ns[0]!.replayStates([advance(m, 0, 2)]))[0]!.last).toBe(1040);
  });

  it('one batch with repeats, replays and out-of-order counters decides exactly like the conditional advances one by one, and tells each loser what it lost to', async () => {
    const [s] = await nodes(1);
    const m1 = METERS[5]!;
    const m2 = METERS[6]!;
    const seen = new Map<string, { last: number; frame: string }>();
    for (let round = 0; round < 30; round++) {
      const frames: IngestFrame[] = [];
      for (let j = 0; j < 12; j++) {
        const m = (round + j) % 3 === 0 ? m2 : m1;
        const ctr = 1 + ((round * 13 + j * 7) % 40) + round; // repeats, lower, higher
        frames.push({ advance: advance(m, ctr, 3), writes: [reading(m, 5000 + ctr, ctr)] });
      }
      frames.push({ advance: null, writes: [] });
      const want = model(
        seen,
        frames.map((f) => (f.advance === null ? f : { ...f, advance: { ...f.advance, op: 3 } })),
      );
      const got = (await s!.commitIngest({ link: [linkAdv(5000 + round)], frames })).map((r) =>
        r.won ? true : 'current' in r ? { last: r.current.last, frame: Buffer.from(r.current.frame ?? []).toString('hex') } : r,
      );
      expect(got, `round ${round}`).toEqual(want);
    }
  });

  it('counter ranges reserved by 4 nodes at once are disjoint, gap-free and never lowered', async () => {
    const ns = await nodes(4);
    const key = { receiver: METERS[7]!, layer: E2E, op: 4, gen: 0 };
    const ranges = (
      await Promise.all(
        ns.map(async (s) => {
          const got: { lo: number; hi: number }[] = [];
          for (let i = 0; i < 60; i++) got.push(await s.reserveSendRange(key, 1 + (i % 5), 1_000_000));
          return got;
        }),
      )
    )
      .flat()
      .sort((a, b) => a.lo - b.lo);
    expect(ranges[0]!.lo).toBe(1);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]!.lo).toBe(ranges[i - 1]!.hi);
    const lim = await ns[0]!.sendLimit(key);
    expect(lim).toBe(ranges[ranges.length - 1]!.hi);
    // At the ceiling: an empty range, and the limit stays.
    const capped = await ns[0]!.reserveSendRange(key, 10, lim + 3);
    expect(capped).toEqual({ lo: lim, hi: lim + 3 });
    expect(await ns[1]!.reserveSendRange(key, 10, lim + 3)).toEqual({ lo: lim + 3, hi: lim + 3 });
    await expect(ns[0]!.pool.query('UPDATE send_ctr SET lim = 1 WHERE receiver = $1', [key.receiver])).rejects.toThrow(/cannot go down/);
    await expect(ns[0]!.pool.query('UPDATE replay SET last = 0 WHERE sender = $1', [METERS[2]!])).rejects.toThrow(/cannot go down/);
  });

  it('commands claimed by 4 nodes at once: each by exactly one node; a lapsed claim is taken over', async () => {
    const ns = await nodes(4);
    const ids: number[] = [];
    for (let i = 0; i < 40; i++) {
      const [r] = await ns[0]!.commit([
        {
          kind: 'insertCommand',
          cmd: { meterId: METERS[i % 8]!, kind: 'read', op: 3, params: '{}', actor: 'op', createdMs: 1000 + i, expiresMs: 10_000_000 },
        },
      ]);
      ids.push((r as { id: number }).id);
    }
    const now = 5000;
    // Each node claims, then sends what it claimed (queued -> sent, which ends its claim), until none is left.
    const byNode = await Promise.all(
      ns.map(async (s) => {
        const got = new Set<number>();
        for (;;) {
          const c = await s.claimCommands(CONC, now, 3, 60_000);
          if (c.length === 0) return got;
          for (const cmd of c) {
            got.add(cmd.id);
            await s.commit([
              {
                kind: 'updateCommand',
                id: cmd.id,
                expect: 'queued',
                state: 'sent',
                params: cmd.params,
                attempts: 1,
                nextTryMs: 1e12,
                updatedMs: now,
                result: null,
              },
            ]);
          }
        }
      }),
    );
    const flat = byNode.flatMap((g) => [...g]).sort((a, b) => a - b);
    expect(flat).toEqual(ids); // each command claimed and sent by exactly one node, none lost
    expect(byNode.filter((g) => g.size > 0).length).toBeGreaterThanOrEqual(2);
    // Node 0 claims due commands and dies without sending them; after claim_until another node takes them.
    const due = now + 2e12;
    const held = (await ns[0]!.claimCommands(CONC, due, 5, 60_000)).map((c) => c.id);
    expect(held).toHaveLength(5);
    const meanwhile = (await ns[1]!.claimCommands(CONC, due + 1000, 100, 60_000)).map((c) => c.id);
    expect(meanwhile.some((id) => held.includes(id))).toBe(false);
    const later = (await ns[2]!.claimCommands(CONC, due + 60_001, 100, 60_000)).map((c) => c.id);
    expect(later).toEqual(expect.arrayContaining(held));
    // A stale state change costs the whole unit, audit included.
    const head = await ns[0]!.auditHead();
    await expect(
      ns[0]!.commit([
        { kind: 'audit', entry: { actor: 'x', action: 'x', subject: 'x', detail: {}, tsMs: 1 } },
        {
          kind: 'updateCommand',
          id: ids[0]!,
          expect: 'queued',
          state: 'acknowledged',
          params: '{}',
          attempts: 1,
          nextTryMs: 0,
          updatedMs: 1,
          result: null,
        },
      ]),
    ).rejects.toBeInstanceOf(StaleStoreError);
    expect((await ns[0]!.auditHead()).seq).toBe(head.seq);
  });

  it('one audit chain appended by 4 nodes at once verifies entry by entry', async () => {
    const ns = await nodes(4);
    await Promise.all(
      ns.map(async (s, i) => {
        for (let k = 0; k < 25; k++)
          await s.appendAudit([
            { actor: `node${i}`, action: 'test.append', subject: `${k}`, detail: { k }, tsMs: k },
            { actor: `node${i}`, action: 'test.second', subject: `${k}`, detail: 'd', tsMs: k },
          ]);
      }),
    );
    const rows = await ns[0]!.auditRows(1, 100_000);
    let prev: Uint8Array = new Uint8Array(32);
    rows.forEach((r, i) => {
      expect(r.seq).toBe(i + 1);
      expect(Buffer.from(r.prev).equals(Buffer.from(prev))).toBe(true);
      const mac = entryMac(AUDIT_KEY, prev, r);
      expect(Buffer.from(r.mac).equals(Buffer.from(mac))).toBe(true);
      prev = mac;
    });
    const head = await ns[0]!.auditHead();
    expect(head.seq).toBe(rows.length);
    expect(Buffer.from(head.mac).equals(Buffer.from(prev))).toBe(true);
    expect(rows.filter((r) => r.action === 'test.append')).toHaveLength(100);
    await expect(ns[0]!.pool.query('DELETE FROM audit WHERE seq = 1')).rejects.toThrow(/append-only/);
  });

  it('a frame whose data the store refuses costs that frame only; the rest of the batch is stored', async () => {
    const [s] = await nodes(1);
    const m = METERS[3]!;
    const bad = { ...reading(m, 9001, 9001), wh: 1e20 }; // beyond bigint
    const res = await s!.commitIngest({
      link: [],
      frames: [frame(m, 9000, 9000), { advance: advance(m, 9001), writes: [bad] }, frame(m, 9002, 9002)],
    });
    expect(res[0]).toEqual({ won: true, results: [{ inserted: true }] });
    expect(res[1]).toMatchObject({ won: false, fault: expect.stringMatching(/out of range/) });
    expect(res[2]).toEqual({ won: true, results: [{ inserted: true }] });
    // The refused frame's counter advance was rolled back with it: 9001 was never accepted.
    const rows = (await s!.pool.query('SELECT seq FROM readings WHERE meter_id = $1 AND seq >= 9000 ORDER BY seq', [m])).rows.map(
      (r) => r.seq,
    );
    expect(rows).toEqual([9000, 9002]);
  });

  it('the change version moves when key rows or meters change, not on readings', async () => {
    const [s] = await nodes(1);
    const v0 = await s!.changeVersion();
    await s!.commitIngest({ link: [], frames: [frame(METERS[4]!, 77_777, 77_777)] });
    expect(await s!.changeVersion()).toBe(v0);
    await s!.commit([
      { kind: 'key', row: { owner: METERS[4]!, kind: 'lk', scope: 0, gen: 9, state: 'active', enc: randomBytes(40), createdMs: 1 } },
    ]);
    expect(await s!.changeVersion()).toBeGreaterThan(v0);
    await expect(
      s!.commit([
        {
          kind: 'key',
          row: { owner: METERS[4]!, kind: 'lk', scope: 0, gen: 9, state: 'active', enc: randomBytes(40), createdMs: 1 },
          expectVer: 5,
        },
      ]),
    ).rejects.toBeInstanceOf(StaleStoreError);
  });
});
