// One writer per store (issue 10): `vakt hes serve` holds a lease row in its database while it runs.
// A second `hes serve` on the same database is refused while the lease is alive: its holder renews
// it every LEASE_RENEW_MS, and on the same host a holder whose process is gone releases it at once
// (a SIGKILLed server does not block its restart). Short commands (`hes command`, `hes audit` …)
// take no lease: they never seal a frame. The lease names a node; with PostgreSQL and several HES
// nodes each node holds its own row and reserves its own counter ranges (reserve.ts, docs/HOST.md).
import type Database from 'better-sqlite3';
import { hostname } from 'node:os';
import { HesError } from './hes.ts';

/** How often the holder renews its lease. */
export const LEASE_RENEW_MS = 1000;
/** A lease not renewed for this long is free, whoever held it (another host, a hung process). */
export const LEASE_EXPIRY_MS = 15_000;
/** The node name of a single-node HES. */
export const DEFAULT_NODE = 'hes';

const LEASE_SQL = `CREATE TABLE IF NOT EXISTS serve_lease (
  node TEXT PRIMARY KEY, holder TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL,
  started_ms INTEGER NOT NULL, renewed_ms INTEGER NOT NULL)`;

interface LeaseRow { holder: string; pid: number; host: string; started_ms: number; renewed_ms: number }

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A held lease: renew() on a timer, release() when stopping. */
export class ServeLease {
  private readonly token = `${hostname()}:${process.pid}:${Date.now()}`;

  private constructor(private readonly db: Database.Database, readonly node: string) {}

  /** Takes the node's lease or throws HesError naming the process that holds it. */
  static acquire(db: Database.Database, dbPath: string, node = DEFAULT_NODE, nowMs = Date.now()): ServeLease {
    db.exec(LEASE_SQL);
    const lease = new ServeLease(db, node);
    db.transaction(() => {
      const r = db.prepare('SELECT holder, pid, host, started_ms, renewed_ms FROM serve_lease WHERE node = ?').get(node) as LeaseRow | undefined;
      if (r !== undefined && nowMs - r.renewed_ms < LEASE_EXPIRY_MS && (r.host !== hostname() || processAlive(r.pid))) {
        throw new HesError(`${dbPath} is already served by vakt hes serve (pid ${r.pid} on ${r.host}, since ${new Date(r.started_ms).toISOString()}); stop it first`);
      }
      db.prepare('INSERT INTO serve_lease (node, holder, pid, host, started_ms, renewed_ms) VALUES (?,?,?,?,?,?) ON CONFLICT (node) DO UPDATE SET holder = excluded.holder, pid = excluded.pid, host = excluded.host, started_ms = excluded.started_ms, renewed_ms = excluded.renewed_ms').run(
        node,
        lease.token,
        process.pid,
        hostname(),
        nowMs,
        nowMs,
      );
    }).immediate();
    return lease;
  }

  /** Renews the lease; false when it was taken over meanwhile (the holder must stop sealing). */
  renew(nowMs = Date.now()): boolean {
    return this.db.prepare('UPDATE serve_lease SET renewed_ms = ? WHERE node = ? AND holder = ?').run(nowMs, this.node, this.token).changes === 1;
  }

  /** Gives the lease up (idempotent). */
  release(): void {
    if (this.db.open) this.db.prepare('DELETE FROM serve_lease WHERE node = ? AND holder = ?').run(this.node, this.token);
  }
}
