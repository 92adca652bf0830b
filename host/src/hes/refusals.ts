// Refusals from TCP peers that never authenticated (issue 10): counted per error and per peer
// address and audited as one summary row at most every SUMMARY_INTERVAL_MS, instead of one audit
// row per frame (a flood of CRC-valid garbage once grew the audit log by 20,000 rows in 2 s).
// Memory is bounded: at most MAX_PEERS addresses are kept per summary, the rest only counted.
import type { AuditLog } from './audit.ts';

/** Least time between two summary rows. */
export const SUMMARY_INTERVAL_MS = 60_000;
/** Peer addresses named in one summary. */
export const MAX_PEERS = 16;

export class RefusalSummary {
  private count = 0;
  private readonly byError = new Map<string, number>();
  private readonly peers = new Map<string, number>();
  private otherPeers = 0;
  private lastMs = -Infinity;
  /** Summary rows written so far, and refusals summarised (for tests and the serve report). */
  rows = 0;
  total = 0;

  constructor(
    private readonly audit: AuditLog,
    private readonly intervalMs = SUMMARY_INTERVAL_MS,
  ) {}

  /** Counts one refusal of error `error` from `peer`. */
  add(error: string, peer: string): void {
    this.count++;
    this.total++;
    this.byError.set(error, (this.byError.get(error) ?? 0) + 1);
    if (this.peers.has(peer) || this.peers.size < MAX_PEERS) this.peers.set(peer, (this.peers.get(peer) ?? 0) + 1);
    else this.otherPeers++;
  }

  /** Writes one summary row if refusals are pending and the interval has passed (force: at shutdown); returns its append. */
  flush(nowMs: number, force = false): Promise<number> | undefined {
    if (this.count === 0 || (!force && nowMs - this.lastMs < this.intervalMs)) return undefined;
    const done = this.audit.append(
      'hes',
      'security.unauthenticated_refusals',
      'tcp',
      {
        refusals: this.count,
        byError: Object.fromEntries(this.byError),
        peers: Object.fromEntries(this.peers),
        otherPeers: this.otherPeers,
        sinceMs: Number.isFinite(this.lastMs) ? this.lastMs : null,
      },
      nowMs,
    );
    this.rows++;
    this.lastMs = nowMs;
    this.count = 0;
    this.byError.clear();
    this.peers.clear();
    this.otherPeers = 0;
    return done;
  }
}
