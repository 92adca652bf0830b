// One writer per store (issue 10): `vakt hes serve` holds a lease row in its database while it runs.
// A second `hes serve` on the same database is refused while the lease is alive: its holder renews
// it every LEASE_RENEW_MS, and on the same host a holder whose process is gone releases it at once
// (a SIGKILLed server does not block its restart). Short commands (`hes command`, `hes audit` …)
// take no lease: they never seal a frame. The lease names a node; with PostgreSQL and several HES
// nodes each node holds its own row and reserves its own counter ranges (store reserveSendRange, docs/HOST.md).
import type { HesStore } from './store/types.ts';
import { hostname } from 'node:os';
import { HesError } from './constants.ts';

/** How often the holder renews its lease. */
export const LEASE_RENEW_MS = 1000;
/** A lease not renewed for this long is free, whoever held it (another host, a hung process). */
export const LEASE_EXPIRY_MS = 15_000;
/** The node name of a single-node HES. */
export const DEFAULT_NODE = 'hes';

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

  private constructor(
    private readonly store: HesStore,
    readonly node: string,
  ) {}

  /** Takes the node's lease or throws HesError naming the process that holds it. */
  static async acquire(store: HesStore, dbPath: string, node = DEFAULT_NODE, nowMs = Date.now()): Promise<ServeLease> {
    const lease = new ServeLease(store, node);
    const here = hostname();
    const held = await store.acquireLease(
      { node, holder: lease.token, pid: process.pid, host: here, startedMs: nowMs, renewedMs: nowMs },
      LEASE_EXPIRY_MS,
      (r) => r.host !== here || processAlive(r.pid),
    );
    if (held !== null)
      throw new HesError(
        `${dbPath} is already served by vakt hes serve (pid ${held.pid} on ${held.host}, since ${new Date(held.startedMs).toISOString()}); stop it first`,
      );
    return lease;
  }

  /** Renews the lease; false when it was taken over meanwhile (the holder must stop sealing). */
  renew(nowMs = Date.now()): Promise<boolean> {
    return this.store.renewLease(this.node, this.token, nowMs);
  }

  /** Gives the lease up (idempotent). */
  release(): Promise<void> {
    return this.store.releaseLease(this.node, this.token);
  }
}
