// PostgreSQL store: commitIngest, the unit every verified batch ends in (store.md §2).
//
// Fast path — a batch whose frames write only readings (the steady state): ONE statement, so one
// round trip and its own transaction. Its CTEs, in order:
//   lk   link counters: last = max(last, $last) per concentrator key;
//   adv  per end-to-end key the batch's highest counter, INSERT … ON CONFLICT DO UPDATE … WHERE
//        replay.last < excluded.last, setting prev_last/prev_frame = what it replaced, RETURNING them;
//   won  a frame won iff its key's advance happened and its counter > prev_last;
//   rd   the readings of the frames that won, INSERT … ON CONFLICT (seq, meter_id) DO NOTHING.
// Before that, in memory: a frame whose counter is not above an earlier frame's of the same key in
// this batch has lost already (sequential semantics: the earlier one raised `last`), so among the
// frames sent per key the counters rise strictly and "counter > prev_last" is exactly what running
// the conditional advances one by one would decide. Two nodes racing on a key serialise on its row
// lock; the later one's WHERE sees the earlier one's committed counter and loses.
// Keys are upserted in a fixed order (sorted), so two nodes' batches lock rows in the same order.
// A losing frame is told the state it lost to as the one-by-one order would have it: the replaced
// row (prev_last, prev_frame) or the earlier frame of its own batch that raised the key past it.
//
// General path — any other write (events, commands, key rows, audit): one transaction, frame by
// frame: the conditional advance, then the writes if it won. A write that violates a constraint
// (or holds a value out of range) is retried with a SAVEPOINT per frame so it costs its frame only.
import type pg from 'pg';
import { StaleStoreError } from '../types.ts';
import type {
  IngestCommit,
  IngestFrame,
  IngestFrameResult,
  ReplayAdvance,
  ReplayKey,
  ReplayState,
  StoreWrite,
  WriteResult,
} from '../types.ts';
import type { Tx } from './base.ts';
import { isDataError } from './base.ts';

/** Key of a replay row in a Map. */
function keyId(k: ReplayKey): string {
  return `${Buffer.from(k.sender.buffer, k.sender.byteOffset, k.sender.length).toString('hex')}:${k.layer}:${k.op}:${k.dir}:${k.gen}`;
}

const buf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.length);

/** Link advances merged to one max per key (one statement cannot touch a row twice). */
export function mergeLink(link: readonly ReplayAdvance[]): ReplayAdvance[] {
  const m = new Map<string, ReplayAdvance>();
  for (const a of link) {
    const id = keyId(a);
    const cur = m.get(id);
    if (cur === undefined || a.last > cur.last) m.set(id, a);
  }
  return [...m.entries()].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)).map((e) => e[1]);
}

const LINK_SQL = `INSERT INTO replay AS r (sender, layer, op, dir, gen, last)
  SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
  ON CONFLICT (sender, layer, op, dir, gen) DO UPDATE SET last = excluded.last WHERE excluded.last > r.last`;

function linkArgs(link: readonly ReplayAdvance[]): unknown[] {
  return [
    link.map((a) => buf(a.sender)),
    link.map((a) => a.layer),
    link.map((a) => a.op),
    link.map((a) => a.dir),
    link.map((a) => a.gen),
    link.map((a) => a.last),
  ];
}

/** True when every write of every frame is a reading (the fast path applies). */
export function readingsOnly(c: IngestCommit): boolean {
  return c.frames.every((f) => f.writes.every((w) => w.kind === 'reading'));
}

/** The fast-path statement; parameters are documented at fastIngest. */
export const FAST_SQL = `WITH lk AS (
  INSERT INTO replay AS r (sender, layer, op, dir, gen, last)
  SELECT * FROM unnest($1::bytea[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
  ON CONFLICT (sender, layer, op, dir, gen) DO UPDATE SET last = excluded.last WHERE excluded.last > r.last
  RETURNING 1
), k AS (
  SELECT * FROM unnest($7::bytea[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bytea[], $14::bigint[])
    WITH ORDINALITY AS k(sender, layer, op, dir, gen, last, frame, lowest, ki)
), adv AS (
  INSERT INTO replay AS r (sender, layer, op, dir, gen, last, frame, prev_last)
  SELECT sender, layer, op, dir, gen, last, frame, 0 FROM k ORDER BY ki
  ON CONFLICT (sender, layer, op, dir, gen) DO UPDATE SET prev_last = r.last, prev_frame = r.frame, last = excluded.last, frame = excluded.frame
    WHERE r.last < excluded.last
  RETURNING sender, layer, op, dir, gen, prev_last, prev_frame
), a AS (
  SELECT k.ki, k.lowest, adv.prev_last, adv.prev_frame FROM adv JOIN k USING (sender, layer, op, dir, gen)
), won AS (
  SELECT f.fi FROM unnest($15::bigint[], $16::bigint[]) WITH ORDINALITY AS f(ki, ctr, fi)
  LEFT JOIN a ON a.ki = f.ki
  WHERE f.ki = 0 OR (a.prev_last IS NOT NULL AND f.ctr > a.prev_last)
), rd AS (
  INSERT INTO readings (meter_id, seq, t, wh, w, counter, gen, via, received_ms)
  SELECT x.meter_id, x.seq, x.t, x.wh, x.w, x.counter, x.gen, x.via, x.received_ms
  FROM unnest($17::bigint[], $18::bytea[], $19::bigint[], $20::bigint[], $21::bigint[], $22::bigint[], $23::bigint[], $24::bigint[], $25::bytea[], $26::bigint[])
    WITH ORDINALITY AS x(fi, meter_id, seq, t, wh, w, counter, gen, via, received_ms, ord)
  WHERE x.fi IN (SELECT fi FROM won) ORDER BY x.ord
  ON CONFLICT (seq, meter_id) DO NOTHING
  RETURNING meter_id, seq
)
SELECT (SELECT count(*) FROM lk) AS links, ARRAY(SELECT fi FROM won) AS won,
  ARRAY(SELECT encode(meter_id, 'hex') || ':' || seq FROM rd) AS stored,
  ARRAY(SELECT ki FROM a ORDER BY ki) AS adv_ki, ARRAY(SELECT prev_last FROM a ORDER BY ki) AS adv_prev,
  ARRAY(SELECT CASE WHEN prev_last >= lowest THEN prev_frame END FROM a ORDER BY ki) AS adv_prev_frame`;

/** Frame → key markers of the fast path (key indexes are 1-based). */
const NO_ADVANCE = 0;
const LOST = -1;
const UNRESOLVED = -2;

/** Frames whose advance lost need the stored state (duplicate or replay?): one read after the commit. */
async function currentStates(q: { query: Tx['query'] }, keys: ReplayKey[]): Promise<Map<string, ReplayState>> {
  const out = new Map<string, ReplayState>();
  if (keys.length === 0) return out;
  const r = await q.query<{ sender: Buffer; layer: number; op: number; dir: number; gen: number; last: number; frame: Buffer | null }>(
    `SELECT r.sender, r.layer, r.op, r.dir, r.gen, r.last, r.frame FROM replay r
     JOIN unnest($1::bytea[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) AS k(sender, layer, op, dir, gen) USING (sender, layer, op, dir, gen)`,
    [keys.map((k) => buf(k.sender)), keys.map((k) => k.layer), keys.map((k) => k.op), keys.map((k) => k.dir), keys.map((k) => k.gen)],
  );
  for (const row of r.rows) out.set(keyId(row), { last: row.last, frame: row.frame });
  return out;
}

/**
 * The fast path: every write is a reading. `exec` runs one statement on the pool (its own
 * transaction); `read` reads the current replay rows of lost frames afterwards.
 */
export async function fastIngest(
  c: IngestCommit,
  exec: (sql: string, args: unknown[]) => Promise<pg.QueryResult>,
): Promise<IngestFrameResult[]> {
  const link = mergeLink(c.link);
  // Per key: frames in batch order; a frame not above the running maximum has lost in memory.
  const keys = new Map<string, { k: ReplayAdvance; idx: number; lowest: number }>();
  // Per frame: its key's index (1-based), NO_ADVANCE (applies unconditionally) or LOST (lost in
  // memory to `beatenBy`, the earlier frame of this batch that holds the key's running maximum).
  const frameKey: number[] = [];
  const beatenBy = new Map<number, number>();
  const runningMax = new Map<string, number>(); // key -> index of the frame with the highest counter so far
  c.frames.forEach((f, i) => {
    const a = f.advance;
    if (a === null) {
      frameKey.push(NO_ADVANCE);
      return;
    }
    const id = keyId(a);
    const best = runningMax.get(id);
    if (best !== undefined && a.last <= c.frames[best]!.advance!.last) {
      beatenBy.set(i, best);
      frameKey.push(LOST);
      return;
    }
    runningMax.set(id, i);
    const cur = keys.get(id);
    if (cur === undefined) keys.set(id, { k: a, idx: 0, lowest: a.last });
    else cur.k = a; // counters rise strictly among the frames that reach SQL
    frameKey.push(UNRESOLVED); // resolved below, once the key order is fixed
  });
  const sorted = [...keys.entries()].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  sorted.forEach(([, v], i) => (v.idx = i + 1));
  c.frames.forEach((f, i) => {
    if (frameKey[i] === UNRESOLVED) frameKey[i] = keys.get(keyId(f.advance!))!.idx;
  });
  const ks = sorted.map(([, v]) => v);
  // Reading writes of the frames still in the running (fi is 1-based, as WITH ORDINALITY counts).
  const rw: { fi: number; w: Extract<StoreWrite, { kind: 'reading' }> }[] = [];
  c.frames.forEach((f, i) => {
    if (beatenBy.has(i)) return;
    for (const w of f.writes) if (w.kind === 'reading') rw.push({ fi: i + 1, w });
  });
  const args: unknown[] = [
    ...linkArgs(link),
    ks.map((k) => buf(k.k.sender)),
    ks.map((k) => k.k.layer),
    ks.map((k) => k.k.op),
    ks.map((k) => k.k.dir),
    ks.map((k) => k.k.gen),
    ks.map((k) => k.k.last),
    ks.map((k) => (k.k.frame === null ? null : buf(k.k.frame))),
    ks.map((k) => k.lowest),
    frameKey,
    c.frames.map((f) => (f.advance === null ? 0 : f.advance.last)),
    rw.map((r) => r.fi),
    rw.map((r) => buf(r.w.meter)),
    rw.map((r) => r.w.seq),
    rw.map((r) => r.w.t),
    rw.map((r) => r.w.wh),
    rw.map((r) => r.w.w),
    rw.map((r) => r.w.counter),
    rw.map((r) => r.w.gen),
    rw.map((r) => buf(r.w.via)),
    rw.map((r) => r.w.receivedMs),
  ];
  const res = await exec(FAST_SQL, args);
  const row = res.rows[0] as {
    won: (number | string)[];
    stored: string[];
    adv_ki: (number | string)[];
    adv_prev: (number | string)[];
    adv_prev_frame: (Buffer | null)[];
  };
  const won = new Set(row.won.map(Number));
  const stored = new Set(row.stored);
  // What each advanced key held before this statement (the state its losing frames lost to).
  const before = new Map<number, ReplayState>();
  row.adv_ki.forEach((ki, j) => before.set(Number(ki), { last: Number(row.adv_prev[j]), frame: row.adv_prev_frame[j] ?? null }));
  // Keys this statement did not advance: every frame of theirs lost to the stored row, read afterwards.
  const unadvanced: ReplayKey[] = [];
  for (const v of ks) if (!before.has(v.idx)) unadvanced.push(v.k);
  const stateAfter =
    unadvanced.length > 0
      ? await currentStates({ query: ((sql: string, a?: unknown[]) => exec(sql, a ?? [])) as Tx['query'] }, unadvanced)
      : new Map<string, ReplayState>();
  const lostTo = (i: number): ReplayState => {
    const f = c.frames[i]!;
    const a = f.advance!;
    const b = beatenBy.get(i);
    if (b !== undefined && won.has(b + 1)) return { last: c.frames[b]!.advance!.last, frame: c.frames[b]!.advance!.frame };
    const ki = keys.get(keyId(a))?.idx;
    const prev = ki === undefined ? undefined : before.get(ki);
    if (prev !== undefined) return prev;
    return stateAfter.get(keyId(a)) ?? { last: a.last, frame: null };
  };
  return c.frames.map((f, i): IngestFrameResult => {
    if (!won.has(i + 1)) return { won: false, current: lostTo(i) };
    const results: WriteResult[] = f.writes.map((w) => {
      if (w.kind !== 'reading') return null;
      const id = `${buf(w.meter).toString('hex')}:${w.seq}`;
      // The first of the batch's writes of an interval is the one stored.
      const inserted = stored.delete(id);
      return { inserted };
    });
    return { won: true, results };
  });
}

/** Applies one write inside the transaction (general path); conditions as in store.md §4. */
export type ApplyWrite = (tx: Tx, w: StoreWrite) => Promise<WriteResult>;

/** The general path: one transaction; `isolate` adds a SAVEPOINT per frame with writes. */
export async function generalIngest(tx: Tx, c: IngestCommit, apply: ApplyWrite, isolate: boolean): Promise<IngestFrameResult[]> {
  const link = mergeLink(c.link);
  if (link.length > 0) await tx.query(LINK_SQL, linkArgs(link));
  const out: IngestFrameResult[] = [];
  for (const f of c.frames) out.push(await oneFrame(tx, f, apply, isolate && f.writes.length > 0));
  return out;
}

async function oneFrame(tx: Tx, f: IngestFrame, apply: ApplyWrite, savepoint: boolean): Promise<IngestFrameResult> {
  const mark = tx.mark();
  if (savepoint) await tx.query('SAVEPOINT frame');
  try {
    const a = f.advance;
    if (a !== null) {
      const r = await tx.query(
        `INSERT INTO replay AS r (sender, layer, op, dir, gen, last, frame, prev_last) VALUES ($1,$2,$3,$4,$5,$6,$7,0)
         ON CONFLICT (sender, layer, op, dir, gen) DO UPDATE SET prev_last = r.last, last = excluded.last, frame = excluded.frame WHERE r.last < excluded.last
         RETURNING 1`,
        [buf(a.sender), a.layer, a.op, a.dir, a.gen, a.last, a.frame === null ? null : buf(a.frame)],
      );
      if (r.rowCount === 0) {
        const cur = await currentStates(tx, [a]);
        if (savepoint) await tx.query('RELEASE SAVEPOINT frame');
        return { won: false, current: cur.get(keyId(a)) ?? { last: a.last, frame: null } };
      }
    }
    const results: WriteResult[] = [];
    for (const w of f.writes) results.push(await apply(tx, w));
    if (savepoint) await tx.query('RELEASE SAVEPOINT frame');
    return { won: true, results };
  } catch (e) {
    if (!savepoint || e instanceof StaleStoreError || !isDataError(e)) throw e;
    await tx.query('ROLLBACK TO SAVEPOINT frame');
    tx.rollbackTo(mark);
    return { won: false, fault: (e as Error).message };
  }
}

/** Whether a write appends to the audit chain (the transaction then locks the head first). */
export function audits(w: StoreWrite): boolean {
  return w.kind === 'audit' || w.kind === 'insertCommand' || (w.kind === 'updateCommand' && w.audit !== undefined);
}
