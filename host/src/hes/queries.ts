// Read-only views of the HES store for operators (HTTP API, console): load profile and register
// reads by time range and page, meter events, security events, concentrator health, over the
// store. Nothing here writes; rights are checked by the caller (right `view`).
import type { HesStore, LoadProfilePoint, RegisterRead, TimeRange } from './store/types.ts';

// The row shapes are the store interface's (one definition); re-exported for the HTTP API.
export type { LoadProfilePoint, RegisterRead };
import { fromHex, toHex } from '../crypto/bytes.ts';

/** Largest page a caller may ask for. */
export const MAX_PAGE = 5000;
const ID_LEN = 8;
/** A meter or concentrator that has sent nothing for this long is shown as silent. */
export const SILENT_AFTER_MS = 3 * 3600_000;

export interface SecurityEvent {
  seq: number;
  tsMs: number;
  action: string;
  subject: string;
  actor: string;
  detail: string;
}

/** A time range in seconds since the epoch (inclusive) and a page: rows after `after` (a seq or id), at most `limit`. */
export interface Range {
  from?: number;
  to?: number;
  after?: number;
  limit: number;
}

export class HesQueries {
  constructor(private readonly store: HesStore) {}

  private static range(r: Range, after: number): TimeRange {
    return { from: r.from ?? 0, to: r.to ?? Number.MAX_SAFE_INTEGER, after: r.after ?? after, limit: r.limit };
  }

  /** Load-profile intervals of a meter, oldest first, within [from, to] (interval start time t, s). */
  loadProfile(meter: string, r: Range): Promise<LoadProfilePoint[]> {
    return this.store.loadProfile(fromHex(meter, ID_LEN), HesQueries.range(r, -1));
  }

  /**
   * Load-profile intervals of every meter within [from, to] (interval start t, s), in (seq, meter)
   * order, after the cursor (seq, meter): the billing export, one page at a time.
   */
  async loadProfileAll(r: Range & { afterMeter?: string }): Promise<(LoadProfilePoint & { meter: string })[]> {
    const rows = await this.store.loadProfileAll({
      ...HesQueries.range(r, -1),
      afterMeter: r.afterMeter === undefined ? new Uint8Array(0) : fromHex(r.afterMeter, ID_LEN),
    });
    return rows.map(({ meter, ...p }) => ({ meter: toHex(new Uint8Array(meter)), ...p }));
  }

  /** On-demand register reads of a meter, oldest first. */
  registerReads(meter: string, r: Range): Promise<RegisterRead[]> {
    return this.store.registerReads(fromHex(meter, ID_LEN), HesQueries.range(r, 0));
  }

  /** Events the meters reported (EVENT op), newest first. */
  async meterEvents(
    meter: string | undefined,
    limit: number,
  ): Promise<{ id: number; meter: string; code: number; t: number; detail: string | null; receivedMs: number }[]> {
    const rows = await this.store.meterEvents(meter === undefined ? undefined : fromHex(meter, ID_LEN), limit);
    return rows.map((e) => ({ ...e, meter: toHex(new Uint8Array(e.meter)) }));
  }

  /**
   * Security events from the audit log (refused frames: bad tags, replays, policy; meter security
   * EVENTs; refused logins and permissions), newest first; `subject` narrows to one meter or concentrator.
   */
  securityEvents(subject: string | undefined, before: number | undefined, limit: number): Promise<SecurityEvent[]> {
    return this.store.securityEvents(subject, before ?? Number.MAX_SAFE_INTEGER, limit);
  }

  /**
   * Concentrators: meters behind each, the newest reading relayed (received time), status (silent
   * when nothing came for SILENT_AFTER_MS) and the security refusals audited against it.
   */
  async concentrators(
    nowMs = Date.now(),
  ): Promise<{ id: string; meters: number; lastSeenMs: number | null; refusals: number; status: 'ok' | 'silent' | 'never seen' }[]> {
    const rows = await this.store.concentratorHealth();
    const refusals = new Map((await this.store.refusalCounts()).map((r) => [r.subject, r.n]));
    return rows.map((r) => {
      const id = toHex(new Uint8Array(r.id));
      return {
        id,
        meters: r.meters,
        lastSeenMs: r.lastSeenMs,
        refusals: refusals.get(id) ?? 0,
        status: r.lastSeenMs === null ? 'never seen' : nowMs - r.lastSeenMs > SILENT_AFTER_MS ? 'silent' : 'ok',
      };
    });
  }

  /** Received time of every meter's newest stored reading (ms), for the console's "silent" status. */
  async meterLastSeen(): Promise<Map<string, number>> {
    return new Map((await this.store.meterLastSeen()).map((r) => [toHex(new Uint8Array(r.meter)), r.lastMs]));
  }

  /** The kind of a command, to check the right before cancelling it (undefined: no such command). */
  async commandKind(id: number): Promise<string | undefined> {
    return (await this.store.command(id))?.kind;
  }

  /** Stored firmware images (no data). */
  async firmwareImages(): Promise<{ sha256: string; version: number; size: number; addedMs: number }[]> {
    return (await this.store.firmwareImages()).map((r) => ({ ...r, sha256: toHex(new Uint8Array(r.sha256)) }));
  }
}
