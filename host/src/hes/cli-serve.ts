// `vakt hes serve`: concentrators over TCP, optionally the HTTP API and web console, under a lease
// that keeps one `hes serve` per node name and store.
import { intOpt, numberOpt, stringOpt } from '../cli/args.ts';
import type { Parsed } from '../cli/args.ts';
import { usageError } from '../cli/io.ts';
import type { CliIo } from '../cli/io.ts';
import { printJson } from '../cli/output.ts';
import { toHex } from '../crypto/bytes.ts';
import { HesError } from './hes.ts';
import type { Hes, IngestResult } from './hes.ts';
import { HesServer } from './server.ts';
import { ServeLease, LEASE_RENEW_MS } from './lease.ts';
import { dbPath, DEFAULT_HES_PORT, DEFAULT_LISTEN_HOST, MAX_PORT, openHes } from './cli-common.ts';

/** Longest `hes serve --duration` (one year, in seconds). */
const MAX_DURATION_S = 365 * 24 * 3600;
/** Refusals printed by `hes serve` before it falls silent (all of them are in the audit log). */
const MAX_REFUSALS_SHOWN = 1000;
/** A node name: what `--node` accepts. */
const NODE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

interface ServeOptions {
  port: number;
  host: string;
  /** Seconds to serve; 0 = until Ctrl-C. */
  durS: number;
  /** HTTP API port, when asked for. */
  httpPort: number | undefined;
  httpHost: string;
  node: string;
}

function serveOptions(p: Parsed): ServeOptions {
  const node = stringOpt(p, 'node') ?? 'hes';
  const options = {
    port: intOpt(p, 'port', 0, MAX_PORT, DEFAULT_HES_PORT),
    host: stringOpt(p, 'host') ?? DEFAULT_LISTEN_HOST,
    durS: numberOpt(p, 'duration', 0, MAX_DURATION_S, 0),
    httpPort: stringOpt(p, 'http') === undefined ? undefined : intOpt(p, 'http', 0, MAX_PORT, 0),
    httpHost: stringOpt(p, 'http-host') ?? DEFAULT_LISTEN_HOST,
    node,
  };
  if (!NODE_NAME_RE.test(node)) throw usageError(`--node must be 1-64 letters, digits, '.', '_' or '-', got '${node}'`);
  return options;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** The database location as the lease records it: a PostgreSQL URL without its password. */
function leaseLocation(p: Parsed, io: CliIo): string {
  return dbPath(p, io).replace(/:\/\/([^:/@]*):[^@]*@/, '://$1:***@');
}

/** The serve lease; when another `hes serve` holds it, the HES is closed and the error goes up. */
async function acquireLease(hes: Hes, p: Parsed, io: CliIo, node: string): Promise<ServeLease> {
  try {
    return await ServeLease.acquire(hes.store, leaseLocation(p, io), node);
  } catch (e) {
    await hes.close();
    throw e;
  }
}

/** Prints refusals as they happen, in words (a wrong key says WRONG KEY, not silence), up to MAX_REFUSALS_SHOWN. */
function refusalPrinter(p: Parsed, io: CliIo): (r: IngestResult) => void {
  let shown = 0;
  return (r) => {
    if (!r.ok && !p.json && shown < MAX_REFUSALS_SHOWN) {
      shown++;
      io.err(`refused ${r.error}: ${r.message}${shown === MAX_REFUSALS_SHOWN ? ' (further refusals only in the audit log)' : ''}`);
    }
  };
}

/** The HTTP API and web console next to the TCP listener. */
async function startWeb(
  hes: Hes,
  o: ServeOptions,
  p: Parsed,
  io: CliIo,
  httpPort: number,
): Promise<{ url: string; close(): Promise<void> }> {
  const { startHttp } = await import('../http/server.ts');
  const web = await startHttp(hes, { host: o.httpHost, port: httpPort });
  if (!p.json) io.out(`web console and HTTP API on ${web.url} (log in with a user's password, or a token as 'Authorization: Bearer')`);
  if (!p.json && !isLoopback(o.httpHost))
    io.err(
      'warning: the HTTP API is served without TLS beyond this machine: put a TLS proxy in front of it (passwords and tokens cross the network)',
    );
  return web;
}

/** Renews the lease every LEASE_RENEW_MS; calls onLost once another node has taken it. */
function renewLease(lease: ServeLease, io: CliIo, onLost: () => void): NodeJS.Timeout {
  return setInterval(() => {
    lease.renew().then(
      (held) => {
        if (!held) onLost();
      },
      (e: unknown) => io.err(`lease renewal failed: ${(e as Error).message}`),
    );
  }, LEASE_RENEW_MS);
}

export async function cmdServe(p: Parsed, io: CliIo): Promise<number> {
  const o = serveOptions(p);
  const hes = await openHes(p, io, o.node);
  // One `hes serve` per node name and store: a second one stops here with one line.
  const lease = await acquireLease(hes, p, io, o.node);
  const srv = new HesServer(hes, {
    host: o.host,
    port: o.port,
    log: p.json ? undefined : (l) => io.err(l),
    onResult: refusalPrinter(p, io),
  });
  let web: { url: string; close(): Promise<void> } | undefined;
  let renew: NodeJS.Timeout | null = null;
  try {
    const actual = await srv.listen();
    if (!p.json) io.out(`HES ${toHex(hes.hesId)} listening on ${o.host}:${actual} (Ctrl-C to stop)`);
    if (o.httpPort !== undefined) web = await startWeb(hes, o, p, io, o.httpPort);
    let lostLease = false;
    await new Promise<void>((res) => {
      if (io.signal.aborted) return res();
      io.signal.addEventListener('abort', () => res(), { once: true });
      if (o.durS > 0) setTimeout(res, o.durS * 1000).unref();
      renew = renewLease(lease, io, () => {
        lostLease = true;
        res();
      });
    });
    await web?.close();
    await srv.close();
    if (lostLease) throw new HesError('another vakt hes serve took over this database; stopped sealing');
    const counts = Object.fromEntries(srv.counts);
    if (p.json) printJson(io, { port: actual, counts, ...(web !== undefined ? { http: web.url } : {}) });
    else io.out(`stopped; frames: ${JSON.stringify(counts)}`);
    return 0;
  } finally {
    if (renew !== null) clearInterval(renew);
    await lease.release();
    await hes.close();
  }
}
