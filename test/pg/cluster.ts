/**
 * A PostgreSQL server for the tests (issue 14).
 *
 * - `VAKT_TEST_PG` set (a connection string, exported by .ci/run): that server is used; every test
 *   file gets a database of its own on it (`freshDatabase`).
 * - otherwise a throwaway cluster is started from the PostgreSQL binaries (`VAKT_PG_BIN`, else the
 *   newest /usr/lib/postgresql/<v>/bin, else initdb on PATH): initdb + pg_ctl in a temporary
 *   directory, listening on a Unix socket in that directory only (no TCP port), stopped and removed by
 *   `stop()`. PostgreSQL refuses to run as root, so as root it runs as the OS user `postgres`
 *   (`VAKT_PG_USER` to choose another) through runuser.
 * - neither works: `url` is undefined and `reason` says why, for `describe.skipIf` and a printed line.
 *
 * Run as a script, it is what .ci/run uses around `npm test`:
 *   tsx test/pg/cluster.ts start <dir>   prints the connection string of a cluster in <dir>
 *   tsx test/pg/cluster.ts stop <dir>    stops it (the caller removes <dir>)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, chownSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** Port number in the socket file name (.s.PGSQL.<port>); no TCP listener is opened. */
const SOCKET_PORT = 5432;
/** Superuser created by initdb (authentication: trust, on the socket only). */
const SUPERUSER = 'vakt';
/** How long pg_ctl waits for the server to accept connections. */
const START_TIMEOUT_S = 60;
/** Connection attempts to an existing server before giving up (VAKT_TEST_PG). */
const CONNECT_TIMEOUT_MS = 5000;

/** A reachable server, or the reason there is none. */
export interface PgCluster {
  /** Connection string of the maintenance database, or undefined (then `reason` is set). */
  url: string | undefined;
  reason: string;
  /** Stops a cluster this process started (no-op for VAKT_TEST_PG). */
  stop(): Promise<void>;
}

/** Directory holding initdb and pg_ctl, or undefined. */
export function pgBinDir(): string | undefined {
  const env = process.env.VAKT_PG_BIN;
  if (env !== undefined && env !== '') return existsSync(join(env, 'initdb')) ? env : undefined;
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length > 0) return join(root, versions[0]!, 'bin');
  }
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  const p = which.stdout.trim();
  return which.status === 0 && p !== '' ? p.replace(/\/initdb$/, '') : undefined;
}

/** The OS user the server runs as when we are root, with its uid/gid; undefined when not root. */
function serverUser(): { name: string; uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  const name = process.env.VAKT_PG_USER ?? 'postgres';
  const id = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (id.status !== 0 || gid.status !== 0) {
    throw new Error(
      `running as root and there is no OS user '${name}' to run PostgreSQL as (set VAKT_PG_USER, or install Debian's postgresql package, which creates 'postgres')`,
    );
  }
  return { name, uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** Runs a PostgreSQL binary as the server user (runuser when root). */
function runAs(user: { name: string } | undefined, bin: string, args: string[]): void {
  const [cmd, argv] = user === undefined ? [bin, args] : ['runuser', ['-u', user.name, '--', bin, ...args]];
  execFileSync(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], timeout: (START_TIMEOUT_S + 30) * 1000 });
}

/** Connection string for a database on the cluster whose socket is in `dir`. */
export function socketUrl(dir: string, database = 'postgres'): string {
  return `postgresql://${SUPERUSER}@/${database}?host=${encodeURIComponent(dir)}&port=${SOCKET_PORT}`;
}

/**
 * Creates and starts a cluster in `dir` (created if missing). Settings for tests: fsync stays on
 * (crash tests SIGKILL HES nodes, not the server, but a bench should see real commits), a small
 * shared_buffers, enough connections for 4 nodes × pools.
 */
export function startCluster(dir: string): string {
  const bin = pgBinDir();
  if (bin === undefined) throw new Error('no PostgreSQL binaries (initdb) found: install postgresql or set VAKT_PG_BIN');
  const user = serverUser();
  const data = join(dir, 'data');
  if (user !== undefined) chownSync(dir, user.uid, user.gid);
  runAs(user, join(bin, 'initdb'), ['-D', data, '-U', SUPERUSER, '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  const conf = [
    "listen_addresses = ''",
    `unix_socket_directories = '${dir}'`,
    `port = ${SOCKET_PORT}`,
    'max_connections = 200',
    'shared_buffers = 128MB',
    'max_locks_per_transaction = 256',
    'log_min_messages = warning',
  ].join('\n');
  // postgresql.auto.conf is read last and owned by the server user, so it is written as that user.
  const auto = join(data, 'postgresql.auto.conf');
  writeFileSync(auto, conf + '\n');
  if (user !== undefined) chownSync(auto, user.uid, user.gid);
  runAs(user, join(bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', String(START_TIMEOUT_S), 'start']);
  return socketUrl(dir);
}

/** Stops the cluster in `dir` (fast shutdown); quiet when it is not running. */
export function stopCluster(dir: string): void {
  const bin = pgBinDir();
  if (bin === undefined) return;
  const data = join(dir, 'data');
  if (!existsSync(join(data, 'postmaster.pid'))) return;
  let user: { name: string } | undefined;
  try {
    user = serverUser();
  } catch {
    user = undefined;
  }
  runAs(user, join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop']);
}

/** True when `url` accepts a connection and a query. */
async function reachable(url: string): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return undefined;
  } catch (e) {
    return (e as Error).message;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** The test server: VAKT_TEST_PG, or a cluster started now; `url` undefined with a reason when neither works. */
export async function pgCluster(): Promise<PgCluster> {
  const given = process.env.VAKT_TEST_PG;
  if (given !== undefined && given !== '') {
    const err = await reachable(given);
    if (err !== undefined) return { url: undefined, reason: `VAKT_TEST_PG is set but not reachable: ${err}`, stop: async () => undefined };
    return { url: given, reason: '', stop: async () => undefined };
  }
  const dir = mkdtempSync(join(tmpdir(), 'vakt-pg-'));
  try {
    const url = startCluster(dir);
    const err = await reachable(url);
    if (err !== undefined) throw new Error(err);
    return {
      url,
      reason: '',
      stop: async () => {
        try {
          stopCluster(dir);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (e) {
    try {
      stopCluster(dir);
    } catch {
      // nothing was started
    }
    rmSync(dir, { recursive: true, force: true });
    const msg = (e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message;
    return {
      url: undefined,
      reason: `no PostgreSQL for the tests (VAKT_TEST_PG unset, throwaway cluster failed: ${msg.split('\n')[0]})`,
      stop: async () => undefined,
    };
  }
}

/** Creates an empty database with a random name on the server and returns its connection string. */
export async function freshDatabase(url: string, prefix = 'vakt_test'): Promise<string> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE ${name}`);
  } finally {
    await c.end();
  }
  return withDatabase(url, name);
}

/** `url` with its database name replaced (the socket form postgresql://user@/db?host=… is no WHATWG URL). */
export function withDatabase(url: string, database: string): string {
  const m = /^(postgres(?:ql)?:\/\/[^/?]*)(?:\/[^?]*)?(\?.*)?$/.exec(url);
  if (m === null) throw new Error(`not a postgres:// connection string: ${url}`);
  return `${m[1]}/${database}${m[2] ?? ''}`;
}

/** The skip line a test file prints when there is no server. */
export function skipNotice(c: PgCluster, what: string): void {
  if (c.url === undefined) console.log(`skipped: ${what}: ${c.reason}`);
}

// Script mode (used by .ci/run).
if (process.argv[1] !== undefined && /cluster\.ts$/.test(process.argv[1])) {
  const [cmd, dir] = process.argv.slice(2);
  if ((cmd !== 'start' && cmd !== 'stop') || dir === undefined) {
    process.stderr.write('usage: tsx test/pg/cluster.ts start|stop <dir>\n');
    process.exit(2);
  }
  try {
    if (cmd === 'start') process.stdout.write(startCluster(dir) + '\n');
    else stopCluster(dir);
  } catch (e) {
    const msg = (e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message;
    process.stderr.write(`test/pg/cluster.ts ${cmd}: ${msg}\n`);
    process.exit(1);
  }
}
