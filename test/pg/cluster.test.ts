// The PostgreSQL test harness itself: a server is reachable (VAKT_TEST_PG or a throwaway cluster),
// every test file gets its own empty database, and the server is a real PostgreSQL (row locks work).
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { freshDatabase, pgCluster, skipNotice } from './cluster.ts';

const cluster = await pgCluster();
skipNotice(cluster, 'PostgreSQL harness');
afterAll(() => cluster.stop());

describe.skipIf(cluster.url === undefined)('PostgreSQL test harness', () => {
  it('gives each caller an empty database of its own', async () => {
    const a = await freshDatabase(cluster.url!);
    const b = await freshDatabase(cluster.url!);
    expect(a).not.toBe(b);
    const ca = new pg.Client({ connectionString: a });
    const cb = new pg.Client({ connectionString: b });
    await ca.connect();
    await cb.connect();
    try {
      await ca.query('CREATE TABLE t (k int PRIMARY KEY)');
      const seen = await cb.query("SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 't'");
      expect(seen.rows[0].n).toBe(0);
      const v = await ca.query('SHOW server_version_num');
      expect(Number(v.rows[0].server_version_num)).toBeGreaterThanOrEqual(120000);
    } finally {
      await ca.end();
      await cb.end();
    }
  });

  it('skips a locked row for a second session (FOR UPDATE SKIP LOCKED)', async () => {
    const url = await freshDatabase(cluster.url!);
    const s1 = new pg.Client({ connectionString: url });
    const s2 = new pg.Client({ connectionString: url });
    await s1.connect();
    await s2.connect();
    try {
      await s1.query('CREATE TABLE q (id int PRIMARY KEY); INSERT INTO q VALUES (1), (2)');
      await s1.query('BEGIN');
      const a = await s1.query('SELECT id FROM q ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED');
      const b = await s2.query('SELECT id FROM q ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED');
      expect(a.rows.map((r) => r.id)).toEqual([1]);
      expect(b.rows.map((r) => r.id)).toEqual([2]);
      await s1.query('ROLLBACK');
    } finally {
      await s1.end();
      await s2.end();
    }
  });
});
