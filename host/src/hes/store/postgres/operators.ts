// PostgreSQL store, part 3: operators (users, credentials, logins), read-only queries and campaigns.
// The same statements as the SQLite store's (store/sqlite/operators.ts), in PostgreSQL's dialect.
import { PgCore } from './core.ts';
import type {
  AuditAppend,
  Bytes,
  CampaignRow,
  HesStore,
  LoadProfilePoint,
  LoginFailure,
  MeterEvent,
  RegisterRead,
  SecurityEventRow,
  TimeRange,
  TokenKind,
  TokenRow,
  UserRow,
} from '../types.ts';
import type { Role } from '../../roles.ts';
import { COUNTABLE_TABLES, SECURITY_KINDS } from '../sql-rules.ts';

const TOKEN_COLUMNS =
  'id, "user", role, kind, hash, csrf_hash AS "csrfHash", label, created_ms AS "createdMs", expires_ms AS "expiresMs", revoked_ms AS "revokedMs", last_used_ms AS "lastUsedMs"';
const POINT = 'seq, t, wh, w, received_ms AS "receivedMs"';

const buf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.length);

export class PgStore extends PgCore implements HesStore {
  // ------------------------------------------------------------------ users and credentials

  async userRole(name: string): Promise<string | undefined> {
    return (await this.rows<{ role: string }>('SELECT role FROM users WHERE name = $1', [name]))[0]?.role;
  }

  setUser(name: string, role: Role, createdMs: number, audit: AuditAppend[]): Promise<void> {
    return this.run(async (tx) => {
      await tx.query('INSERT INTO users (name, role, created_ms) VALUES ($1,$2,$3) ON CONFLICT (name) DO UPDATE SET role = excluded.role', [
        name,
        role,
        createdMs,
      ]);
      tx.append(audit);
    }, audit.length > 0);
  }

  listUsers(nowMs: number): Promise<UserRow[]> {
    return this.rows<UserRow>(
      `SELECT u.name, u.role, u.created_ms AS "createdMs", (p.name IS NOT NULL) AS password,
        (SELECT count(*) FROM tokens t WHERE t."user" = u.name AND t.kind = 'api' AND t.revoked_ms IS NULL AND t.expires_ms > $1) AS tokens
       FROM users u LEFT JOIN user_passwords p ON p.name = u.name ORDER BY u.name`,
      [nowMs],
    );
  }

  async passwordHash(name: string): Promise<string | undefined> {
    return (await this.rows<{ hash: string }>('SELECT hash FROM user_passwords WHERE name = $1', [name]))[0]?.hash;
  }

  setPassword(name: string, hash: string, updatedMs: number, audit: AuditAppend[]): Promise<void> {
    return this.run(async (tx) => {
      await tx.query(
        'INSERT INTO user_passwords (name, hash, updated_ms) VALUES ($1,$2,$3) ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, updated_ms = excluded.updated_ms',
        [name, hash, updatedMs],
      );
      await tx.query('DELETE FROM login_failures WHERE name = $1', [name]);
      tx.append(audit);
    }, audit.length > 0);
  }

  insertToken(t: TokenRow, audit: AuditAppend[]): Promise<void> {
    return this.run(async (tx) => {
      await tx.query(
        'INSERT INTO tokens (id, "user", role, kind, hash, csrf_hash, label, created_ms, expires_ms) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)',
        [t.id, t.user, t.role, t.kind, buf(t.hash), t.csrfHash === null ? null : buf(t.csrfHash), t.label, t.createdMs, t.expiresMs],
      );
      tx.append(audit);
    }, audit.length > 0);
  }

  async token(id: string): Promise<TokenRow | undefined> {
    return (await this.rows<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE id = $1`, [id]))[0];
  }

  tokens(user?: string): Promise<TokenRow[]> {
    return user === undefined
      ? this.rows<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE kind != 'session' ORDER BY created_ms, id`)
      : this.rows<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE kind != 'session' AND "user" = $1 ORDER BY created_ms, id`, [user]);
  }

  revokeTokens(
    what: { tokenId: string; kind?: TokenKind } | { user: string },
    nowMs: number,
    audit: (count: number) => AuditAppend[],
  ): Promise<number> {
    return this.run(async (tx) => {
      const r =
        'user' in what
          ? await tx.query('UPDATE tokens SET revoked_ms = $1 WHERE "user" = $2 AND revoked_ms IS NULL', [nowMs, what.user])
          : what.kind !== undefined
            ? await tx.query('UPDATE tokens SET revoked_ms = $1 WHERE id = $2 AND kind = $3 AND revoked_ms IS NULL', [
                nowMs,
                what.tokenId,
                what.kind,
              ])
            : await tx.query('UPDATE tokens SET revoked_ms = $1 WHERE id = $2 AND revoked_ms IS NULL', [nowMs, what.tokenId]);
      const n = r.rowCount ?? 0;
      tx.append(audit(n));
      return n;
    }, true);
  }

  async touchToken(id: string, nowMs: number): Promise<void> {
    await this.one('UPDATE tokens SET last_used_ms = $1 WHERE id = $2', [nowMs, id]);
  }

  async loginFailure(name: string): Promise<LoginFailure | undefined> {
    return (
      await this.rows<LoginFailure>(
        'SELECT count, first_ms AS "firstMs", locked_until_ms AS "lockedUntilMs" FROM login_failures WHERE name = $1',
        [name],
      )
    )[0];
  }

  recordLoginFailure(name: string, f: LoginFailure, audit: AuditAppend[]): Promise<void> {
    return this.run(async (tx) => {
      await tx.query(
        'INSERT INTO login_failures (name, count, first_ms, locked_until_ms) VALUES ($1,$2,$3,$4) ON CONFLICT (name) DO UPDATE SET count = excluded.count, first_ms = excluded.first_ms, locked_until_ms = excluded.locked_until_ms',
        [name, f.count, f.firstMs, f.lockedUntilMs],
      );
      tx.append(audit);
    }, audit.length > 0);
  }

  clearLoginFailures(name: string, audit: AuditAppend[]): Promise<void> {
    return this.run(async (tx) => {
      await tx.query('DELETE FROM login_failures WHERE name = $1', [name]);
      tx.append(audit);
    }, audit.length > 0);
  }

  // ------------------------------------------------------------------ operator queries

  readingsRecent(meter: Bytes, fromSeq: number, limit: number): Promise<LoadProfilePoint[]> {
    return this.rows<LoadProfilePoint>(
      `SELECT ${POINT} FROM (SELECT * FROM readings WHERE seq >= $1 AND meter_id = $2 ORDER BY seq DESC LIMIT $3) x ORDER BY seq`,
      [fromSeq, buf(meter), limit],
    );
  }

  loadProfile(meter: Bytes, r: TimeRange): Promise<LoadProfilePoint[]> {
    return this.rows<LoadProfilePoint>(
      `SELECT ${POINT} FROM readings WHERE meter_id = $1 AND t >= $2 AND t <= $3 AND seq > $4 ORDER BY seq LIMIT $5`,
      [buf(meter), r.from, r.to, r.after, r.limit],
    );
  }

  loadProfileAll(r: TimeRange & { afterMeter: Bytes }): Promise<(LoadProfilePoint & { meter: Bytes })[]> {
    return this.rows(
      `SELECT meter_id AS meter, ${POINT} FROM readings WHERE t >= $1 AND t <= $2 AND (seq, meter_id) > ($3, $4) ORDER BY seq, meter_id LIMIT $5`,
      [r.from, r.to, r.after, buf(r.afterMeter), r.limit],
    );
  }

  registerReads(meter: Bytes, r: TimeRange): Promise<RegisterRead[]> {
    return this.rows<RegisterRead>(
      'SELECT id, t, wh, w, received_ms AS "receivedMs" FROM register_reads WHERE meter_id = $1 AND t >= $2 AND t <= $3 AND id > $4 ORDER BY id LIMIT $5',
      [buf(meter), r.from, r.to, r.after, r.limit],
    );
  }

  meterEvents(meter: Bytes | undefined, limit: number): Promise<MeterEvent[]> {
    const cols = 'id, meter_id AS meter, code, t, detail, received_ms AS "receivedMs"';
    return meter === undefined
      ? this.rows<MeterEvent>(`SELECT ${cols} FROM events ORDER BY id DESC LIMIT $1`, [limit])
      : this.rows<MeterEvent>(`SELECT ${cols} FROM events WHERE meter_id = $1 ORDER BY id DESC LIMIT $2`, [buf(meter), limit]);
  }

  securityEvents(subject: string | undefined, before: number, limit: number): Promise<SecurityEventRow[]> {
    const cols = 'seq, ts_ms AS "tsMs", action, subject, actor, detail';
    return subject === undefined
      ? this.rows<SecurityEventRow>(`SELECT ${cols} FROM audit WHERE ${SECURITY_KINDS} AND seq < $1 ORDER BY seq DESC LIMIT $2`, [
          before,
          limit,
        ])
      : this.rows<SecurityEventRow>(
          `SELECT ${cols} FROM audit WHERE ${SECURITY_KINDS} AND seq < $1 AND subject = $2 ORDER BY seq DESC LIMIT $3`,
          [before, subject, limit],
        );
  }

  readingCounts(): Promise<{ meter: Bytes; n: number }[]> {
    return this.rows('SELECT meter_id AS meter, count(*) AS n FROM readings GROUP BY meter_id');
  }

  concentratorHealth(): Promise<{ id: Bytes; meters: number; lastSeenMs: number | null }[]> {
    return this.rows(`SELECT c.id, (SELECT count(*) FROM meters m WHERE m.concentrator_id = c.id) AS meters,
      (SELECT max(received_ms) FROM readings r WHERE r.via = c.id) AS "lastSeenMs" FROM concentrators c ORDER BY c.id`);
  }

  refusalCounts(): Promise<{ subject: string; n: number }[]> {
    return this.rows("SELECT subject, count(*) AS n FROM audit WHERE action LIKE 'security.%' GROUP BY subject");
  }

  meterLastSeen(): Promise<{ meter: Bytes; lastMs: number }[]> {
    return this.rows('SELECT meter_id AS meter, max(received_ms) AS "lastMs" FROM readings GROUP BY meter_id');
  }

  async count(table: string): Promise<number> {
    if (!COUNTABLE_TABLES.has(table)) throw new Error(`count: unknown table ${table}`);
    return (await this.rows<{ n: number }>(`SELECT count(*) AS n FROM ${table}`))[0]!.n;
  }

  // ------------------------------------------------------------------ campaigns

  insertCampaign(kind: string, actor: string, params: string, createdMs: number, audit: (id: number) => AuditAppend[]): Promise<number> {
    return this.run(async (tx) => {
      const id = (
        await tx.query<{ id: number }>('INSERT INTO campaigns (kind, actor, params, created_ms) VALUES ($1,$2,$3,$4) RETURNING id', [
          kind,
          actor,
          params,
          createdMs,
        ])
      ).rows[0]!.id;
      tx.append(audit(id));
      return id;
    }, true);
  }

  async addCampaignCommand(campaignId: number, meterHex: string, commandId: number | null, skipped: string | null): Promise<void> {
    await this.one('INSERT INTO campaign_commands (campaign_id, meter_id, command_id, skipped) VALUES ($1,$2,$3,$4)', [
      campaignId,
      meterHex,
      commandId,
      skipped,
    ]);
  }

  async listCampaigns(limit: number): Promise<CampaignRow[]> {
    const rows = await this.rows<Omit<CampaignRow, 'states' | 'skipped'>>(
      'SELECT id, kind, actor, params, created_ms AS "createdMs" FROM campaigns ORDER BY id DESC LIMIT $1',
      [limit],
    );
    if (rows.length === 0) return [];
    const counts = await this.rows<{ campaign_id: number; state: string; n: number }>(
      `SELECT cc.campaign_id, coalesce(c.state, 'skipped') AS state, count(*) AS n FROM campaign_commands cc
       LEFT JOIN commands c ON c.id = cc.command_id WHERE cc.campaign_id = ANY($1::bigint[]) GROUP BY 1, 2`,
      [rows.map((r) => r.id)],
    );
    return rows.map((r) => {
      const states: { [s: string]: number } = {};
      let skipped = 0;
      for (const c of counts) {
        if (c.campaign_id !== r.id) continue;
        if (c.state === 'skipped') skipped = c.n;
        else states[c.state] = c.n;
      }
      return { ...r, states, skipped };
    });
  }
}
