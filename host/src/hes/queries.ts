// Read-only views of the HES store for operators (HTTP API, console): load profile and register
// reads by time range and page, meter events, security events, concentrator health. Nothing here
// writes; rights are checked by the caller (right `view`).
import type Database from 'better-sqlite3';
import { fromHex, toHex } from '../crypto/bytes.ts';

/** Largest page a caller may ask for. */
export const MAX_PAGE = 5000;
const ID_LEN = 8;
/** A meter or concentrator that has sent nothing for this long is shown as silent. */
export const SILENT_AFTER_MS = 3 * 3600_000;

export interface LoadProfilePoint { seq: number; t: number; wh: number; w: number; receivedMs: number }
export interface RegisterRead { id: number; t: number; wh: number; w: number; receivedMs: number }
export interface SecurityEvent { seq: number; tsMs: number; action: string; subject: string; actor: string; detail: string }

/** A time range in seconds since the epoch (inclusive) and a page: rows after `after` (a seq or id), at most `limit`. */
export interface Range { from?: number; to?: number; after?: number; limit: number }

export class HesQueries {
  constructor(private readonly db: Database.Database) {}

  /** Load-profile intervals of a meter, oldest first, within [from, to] (interval start time t, s). */
  loadProfile(meter: string, r: Range): LoadProfilePoint[] {
    return this.db.prepare(`SELECT seq, t, wh, w, received_ms AS receivedMs FROM readings
      WHERE meter_id = ? AND t >= ? AND t <= ? AND seq > ? ORDER BY seq LIMIT ?`)
      .all(fromHex(meter, ID_LEN), r.from ?? 0, r.to ?? Number.MAX_SAFE_INTEGER, r.after ?? -1, r.limit) as LoadProfilePoint[];
  }

  /**
   * Load-profile intervals of every meter within [from, to] (interval start t, s), in (seq, meter)
   * order, after the cursor (seq, meter): the billing export, one page at a time.
   */
  loadProfileAll(r: Range & { afterMeter?: string }): (LoadProfilePoint & { meter: string })[] {
    const rows = this.db.prepare(`SELECT meter_id, seq, t, wh, w, received_ms AS receivedMs FROM readings
      WHERE t >= ? AND t <= ? AND (seq, meter_id) > (?, ?) ORDER BY seq, meter_id LIMIT ?`)
      .all(r.from ?? 0, r.to ?? Number.MAX_SAFE_INTEGER, r.after ?? -1, r.afterMeter === undefined ? new Uint8Array(0) : fromHex(r.afterMeter, ID_LEN), r.limit) as (LoadProfilePoint & { meter_id: Buffer })[];
    return rows.map(({ meter_id, ...p }) => ({ meter: toHex(new Uint8Array(meter_id)), ...p }));
  }

  /** On-demand register reads of a meter, oldest first. */
  registerReads(meter: string, r: Range): RegisterRead[] {
    return this.db.prepare(`SELECT id, t, wh, w, received_ms AS receivedMs FROM register_reads
      WHERE meter_id = ? AND t >= ? AND t <= ? AND id > ? ORDER BY id LIMIT ?`)
      .all(fromHex(meter, ID_LEN), r.from ?? 0, r.to ?? Number.MAX_SAFE_INTEGER, r.after ?? 0, r.limit) as RegisterRead[];
  }

  /** Events the meters reported (EVENT op), newest first. */
  meterEvents(meter: string | undefined, limit: number): { id: number; meter: string; code: number; t: number; detail: string | null; receivedMs: number }[] {
    const rows = (meter === undefined
      ? this.db.prepare('SELECT * FROM events ORDER BY id DESC LIMIT ?').all(limit)
      : this.db.prepare('SELECT * FROM events WHERE meter_id = ? ORDER BY id DESC LIMIT ?').all(fromHex(meter, ID_LEN), limit)) as { id: number; meter_id: Buffer; code: number; t: number; detail: string | null; received_ms: number }[];
    return rows.map((e) => ({ id: e.id, meter: toHex(new Uint8Array(e.meter_id)), code: e.code, t: e.t, detail: e.detail, receivedMs: e.received_ms }));
  }

  /**
   * Security events from the audit log (refused frames: bad tags, replays, policy; meter security
   * EVENTs; refused logins and permissions), newest first; `subject` narrows to one meter or concentrator.
   */
  securityEvents(subject: string | undefined, before: number | undefined, limit: number): SecurityEvent[] {
    const kinds = "(action LIKE 'security.%' OR action = 'meter.security_event' OR action LIKE 'auth.%' OR action = 'policy.denied')";
    const sql = `SELECT seq, ts_ms AS tsMs, action, subject, actor, detail FROM audit WHERE ${kinds} AND seq < ?${subject !== undefined ? ' AND subject = ?' : ''} ORDER BY seq DESC LIMIT ?`;
    const args: unknown[] = [before ?? Number.MAX_SAFE_INTEGER, ...(subject !== undefined ? [subject] : []), limit];
    return this.db.prepare(sql).all(...args) as SecurityEvent[];
  }

  /**
   * Concentrators: meters behind each, the newest reading relayed (received time), status (silent
   * when nothing came for SILENT_AFTER_MS) and the security refusals audited against it.
   */
  concentrators(nowMs = Date.now()): { id: string; meters: number; lastSeenMs: number | null; refusals: number; status: 'ok' | 'silent' | 'never seen' }[] {
    const rows = this.db.prepare(`SELECT c.id, (SELECT count(*) FROM meters m WHERE m.concentrator_id = c.id) AS meters,
      (SELECT max(received_ms) FROM readings r WHERE r.via = c.id) AS lastSeenMs FROM concentrators c ORDER BY c.id`)
      .all() as { id: Buffer; lastSeenMs: number | null; meters: number }[];
    const refusals = new Map((this.db.prepare("SELECT subject, count(*) AS n FROM audit WHERE action LIKE 'security.%' GROUP BY subject").all() as { subject: string; n: number }[]).map((r) => [r.subject, r.n]));
    return rows.map((r) => {
      const id = toHex(new Uint8Array(r.id));
      return { id, meters: r.meters, lastSeenMs: r.lastSeenMs, refusals: refusals.get(id) ?? 0, status: r.lastSeenMs === null ? 'never seen' : nowMs - r.lastSeenMs > SILENT_AFTER_MS ? 'silent' : 'ok' };
    });
  }

  /** Received time of every meter's newest stored reading (ms), for the console's "silent" status. */
  meterLastSeen(): Map<string, number> {
    const rows = this.db.prepare('SELECT meter_id AS id, max(received_ms) AS s FROM readings GROUP BY meter_id').all() as { id: Buffer; s: number }[];
    return new Map(rows.map((r) => [toHex(new Uint8Array(r.id)), r.s]));
  }

  /** The kind of a command, to check the right before cancelling it (undefined: no such command). */
  commandKind(id: number): string | undefined {
    return (this.db.prepare('SELECT kind FROM commands WHERE id = ?').get(id) as { kind: string } | undefined)?.kind;
  }

  /** Stored firmware images (no data). */
  firmwareImages(): { sha256: string; version: number; size: number; addedMs: number }[] {
    return (this.db.prepare('SELECT sha256, version, length(data) AS size, added_ms AS addedMs FROM firmware_images ORDER BY added_ms').all() as { sha256: Buffer; version: number; size: number; addedMs: number }[])
      .map((r) => ({ ...r, sha256: toHex(new Uint8Array(r.sha256)) }));
  }
}
