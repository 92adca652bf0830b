// SQLite store, part 3: operators (users, credentials, logins), read-only queries and campaigns.
import { SqliteCore } from './core.ts';
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
  'id, user, role, kind, hash, csrf_hash AS csrfHash, label, created_ms AS createdMs, expires_ms AS expiresMs, revoked_ms AS revokedMs, last_used_ms AS lastUsedMs';

export class SqliteStore extends SqliteCore implements HesStore {
  // ------------------------------------------------------------------ users and credentials

  userRole(name: string): Promise<string | undefined> {
    return this.read(() => this.stmt('SELECT role FROM users WHERE name = ?').pluck().get(name) as string | undefined);
  }

  setUser(name: string, role: Role, createdMs: number, audit: AuditAppend[]): Promise<void> {
    return this.write(() => {
      this.stmt('INSERT INTO users (name, role, created_ms) VALUES (?,?,?) ON CONFLICT (name) DO UPDATE SET role = excluded.role').run(
        name,
        role,
        createdMs,
      );
      this.appendNow(audit);
    });
  }

  listUsers(nowMs: number): Promise<UserRow[]> {
    return this.read(() =>
      (
        this.stmt(
          `SELECT u.name, u.role, u.created_ms AS createdMs, (p.name IS NOT NULL) AS password,
      (SELECT count(*) FROM tokens t WHERE t.user = u.name AND t.kind = 'api' AND t.revoked_ms IS NULL AND t.expires_ms > ?) AS tokens
      FROM users u LEFT JOIN user_passwords p ON p.name = u.name ORDER BY u.name`,
        ).all(nowMs) as (Omit<UserRow, 'password'> & { password: number })[]
      ).map((r) => ({ ...r, password: r.password === 1 })),
    );
  }

  passwordHash(name: string): Promise<string | undefined> {
    return this.read(() => this.stmt('SELECT hash FROM user_passwords WHERE name = ?').pluck().get(name) as string | undefined);
  }

  setPassword(name: string, hash: string, updatedMs: number, audit: AuditAppend[]): Promise<void> {
    return this.write(() => {
      this.stmt(
        'INSERT INTO user_passwords (name, hash, updated_ms) VALUES (?,?,?) ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, updated_ms = excluded.updated_ms',
      ).run(name, hash, updatedMs);
      this.stmt('DELETE FROM login_failures WHERE name = ?').run(name);
      this.appendNow(audit);
    });
  }

  insertToken(t: TokenRow, audit: AuditAppend[]): Promise<void> {
    return this.write(() => {
      this.stmt('INSERT INTO tokens (id, user, role, kind, hash, csrf_hash, label, created_ms, expires_ms) VALUES (?,?,?,?,?,?,?,?,?)').run(
        t.id,
        t.user,
        t.role,
        t.kind,
        t.hash,
        t.csrfHash,
        t.label,
        t.createdMs,
        t.expiresMs,
      );
      this.appendNow(audit);
    });
  }

  token(id: string): Promise<TokenRow | undefined> {
    return this.read(() => this.stmt(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE id = ?`).get(id) as TokenRow | undefined);
  }

  tokens(user?: string): Promise<TokenRow[]> {
    return this.read(
      () =>
        (user === undefined
          ? this.stmt(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE kind != 'session' ORDER BY created_ms`).all()
          : this.stmt(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE kind != 'session' AND user = ? ORDER BY created_ms`).all(
              user,
            )) as TokenRow[],
    );
  }

  revokeTokens(
    what: { tokenId: string; kind?: TokenKind } | { user: string },
    nowMs: number,
    audit: (count: number) => AuditAppend[],
  ): Promise<number> {
    return this.write(() => {
      const n =
        'user' in what
          ? this.stmt('UPDATE tokens SET revoked_ms = ? WHERE user = ? AND revoked_ms IS NULL').run(nowMs, what.user).changes
          : what.kind !== undefined
            ? this.stmt('UPDATE tokens SET revoked_ms = ? WHERE id = ? AND kind = ? AND revoked_ms IS NULL').run(
                nowMs,
                what.tokenId,
                what.kind,
              ).changes
            : this.stmt('UPDATE tokens SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL').run(nowMs, what.tokenId).changes;
      this.appendNow(audit(n));
      return n;
    });
  }

  touchToken(id: string, nowMs: number): Promise<void> {
    return this.write(() => {
      this.stmt('UPDATE tokens SET last_used_ms = ? WHERE id = ?').run(nowMs, id);
    });
  }

  loginFailure(name: string): Promise<LoginFailure | undefined> {
    return this.read(
      () =>
        this.stmt('SELECT count, first_ms AS firstMs, locked_until_ms AS lockedUntilMs FROM login_failures WHERE name = ?').get(name) as
          LoginFailure | undefined,
    );
  }

  recordLoginFailure(name: string, f: LoginFailure, audit: AuditAppend[]): Promise<void> {
    return this.write(() => {
      this.stmt(
        'INSERT INTO login_failures (name, count, first_ms, locked_until_ms) VALUES (?,?,?,?) ON CONFLICT (name) DO UPDATE SET count = excluded.count, first_ms = excluded.first_ms, locked_until_ms = excluded.locked_until_ms',
      ).run(name, f.count, f.firstMs, f.lockedUntilMs);
      this.appendNow(audit);
    });
  }

  clearLoginFailures(name: string, audit: AuditAppend[]): Promise<void> {
    return this.write(() => {
      this.stmt('DELETE FROM login_failures WHERE name = ?').run(name);
      this.appendNow(audit);
    });
  }

  // ------------------------------------------------------------------ operator queries

  readingsRecent(meter: Bytes, fromSeq: number, limit: number): Promise<LoadProfilePoint[]> {
    return this.read(
      () =>
        this.stmt(
          'SELECT seq, t, wh, w, received_ms AS receivedMs FROM (SELECT * FROM readings WHERE seq >= ? AND meter_id = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq',
        ).all(fromSeq, meter, limit) as LoadProfilePoint[],
    );
  }

  loadProfile(meter: Bytes, r: TimeRange): Promise<LoadProfilePoint[]> {
    return this.read(
      () =>
        this.stmt(
          'SELECT seq, t, wh, w, received_ms AS receivedMs FROM readings WHERE meter_id = ? AND t >= ? AND t <= ? AND seq > ? ORDER BY seq LIMIT ?',
        ).all(meter, r.from, r.to, r.after, r.limit) as LoadProfilePoint[],
    );
  }

  loadProfileAll(r: TimeRange & { afterMeter: Bytes }): Promise<(LoadProfilePoint & { meter: Bytes })[]> {
    return this.read(
      () =>
        this.stmt(
          'SELECT meter_id AS meter, seq, t, wh, w, received_ms AS receivedMs FROM readings WHERE t >= ? AND t <= ? AND (seq, meter_id) > (?, ?) ORDER BY seq, meter_id LIMIT ?',
        ).all(r.from, r.to, r.after, r.afterMeter, r.limit) as (LoadProfilePoint & { meter: Bytes })[],
    );
  }

  registerReads(meter: Bytes, r: TimeRange): Promise<RegisterRead[]> {
    return this.read(
      () =>
        this.stmt(
          'SELECT id, t, wh, w, received_ms AS receivedMs FROM register_reads WHERE meter_id = ? AND t >= ? AND t <= ? AND id > ? ORDER BY id LIMIT ?',
        ).all(meter, r.from, r.to, r.after, r.limit) as RegisterRead[],
    );
  }

  meterEvents(meter: Bytes | undefined, limit: number): Promise<MeterEvent[]> {
    const cols = 'id, meter_id AS meter, code, t, detail, received_ms AS receivedMs';
    return this.read(
      () =>
        (meter === undefined
          ? this.stmt(`SELECT ${cols} FROM events ORDER BY id DESC LIMIT ?`).all(limit)
          : this.stmt(`SELECT ${cols} FROM events WHERE meter_id = ? ORDER BY id DESC LIMIT ?`).all(meter, limit)) as MeterEvent[],
    );
  }

  securityEvents(subject: string | undefined, before: number, limit: number): Promise<SecurityEventRow[]> {
    const sql = `SELECT seq, ts_ms AS tsMs, action, subject, actor, detail FROM audit WHERE ${SECURITY_KINDS} AND seq < ?${subject !== undefined ? ' AND subject = ?' : ''} ORDER BY seq DESC LIMIT ?`;
    return this.read(() => this.stmt(sql).all(...[before, ...(subject !== undefined ? [subject] : []), limit]) as SecurityEventRow[]);
  }

  readingCounts(): Promise<{ meter: Bytes; n: number }[]> {
    return this.read(
      () => this.stmt('SELECT meter_id AS meter, count(*) AS n FROM readings GROUP BY meter_id').all() as { meter: Bytes; n: number }[],
    );
  }

  concentratorHealth(): Promise<{ id: Bytes; meters: number; lastSeenMs: number | null }[]> {
    return this.read(
      () =>
        this.stmt(
          `SELECT c.id, (SELECT count(*) FROM meters m WHERE m.concentrator_id = c.id) AS meters,
      (SELECT max(received_ms) FROM readings r WHERE r.via = c.id) AS lastSeenMs FROM concentrators c ORDER BY c.id`,
        ).all() as { id: Bytes; meters: number; lastSeenMs: number | null }[],
    );
  }

  refusalCounts(): Promise<{ subject: string; n: number }[]> {
    return this.read(
      () =>
        this.stmt("SELECT subject, count(*) AS n FROM audit WHERE action LIKE 'security.%' GROUP BY subject").all() as {
          subject: string;
          n: number;
        }[],
    );
  }

  meterLastSeen(): Promise<{ meter: Bytes; lastMs: number }[]> {
    return this.read(
      () =>
        this.stmt('SELECT meter_id AS meter, max(received_ms) AS lastMs FROM readings GROUP BY meter_id').all() as {
          meter: Bytes;
          lastMs: number;
        }[],
    );
  }

  count(table: string): Promise<number> {
    if (!COUNTABLE_TABLES.has(table)) return Promise.reject(new Error(`count: unknown table ${table}`));
    return this.read(() => this.stmt(`SELECT count(*) FROM ${table}`).pluck().get() as number);
  }

  // ------------------------------------------------------------------ campaigns

  insertCampaign(kind: string, actor: string, params: string, createdMs: number, audit: (id: number) => AuditAppend[]): Promise<number> {
    return this.write(() => {
      const id = Number(
        this.stmt('INSERT INTO campaigns (kind, actor, params, created_ms) VALUES (?,?,?,?)').run(kind, actor, params, createdMs)
          .lastInsertRowid,
      );
      this.appendNow(audit(id));
      return id;
    });
  }

  addCampaignCommand(campaignId: number, meterHex: string, commandId: number | null, skipped: string | null): Promise<void> {
    return this.write(() => {
      this.stmt('INSERT INTO campaign_commands (campaign_id, meter_id, command_id, skipped) VALUES (?,?,?,?)').run(
        campaignId,
        meterHex,
        commandId,
        skipped,
      );
    });
  }

  listCampaigns(limit: number): Promise<CampaignRow[]> {
    return this.read(() => {
      const rows = this.stmt('SELECT id, kind, actor, params, created_ms AS createdMs FROM campaigns ORDER BY id DESC LIMIT ?').all(
        limit,
      ) as Omit<CampaignRow, 'states' | 'skipped'>[];
      const states = this.stmt(`SELECT coalesce(c.state, 'skipped') AS state, count(*) AS n FROM campaign_commands cc
      LEFT JOIN commands c ON c.id = cc.command_id WHERE cc.campaign_id = ? GROUP BY 1`);
      return rows.map((r) => {
        const counts: { [s: string]: number } = Object.fromEntries(
          (states.all(r.id) as { state: string; n: number }[]).map((s) => [s.state, s.n]),
        );
        const skipped = counts.skipped ?? 0;
        delete counts.skipped;
        return { ...r, states: counts, skipped };
      });
    });
  }
}
