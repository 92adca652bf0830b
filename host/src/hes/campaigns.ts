// Campaigns: one key-update or firmware command per meter of a group, started together and followed
// as one (states counted over its commands). The commands themselves are ordinary HES commands
// (rights, retries, expiry, audit); this module only remembers which belong together.
import type Database from 'better-sqlite3';
import type { Hes } from './hes.ts';
import { HesError } from './hes.ts';
import { KIND_INFO } from './commands.ts';
import type { CommandParams } from './commands.ts';

export const CAMPAIGN_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS campaigns (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, actor TEXT NOT NULL, params TEXT NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS campaign_commands (campaign_id INTEGER NOT NULL REFERENCES campaigns(id), meter_id TEXT NOT NULL, command_id INTEGER, skipped TEXT,
  PRIMARY KEY (campaign_id, meter_id)) WITHOUT ROWID;
`;

export const CAMPAIGN_KINDS = ['key_update', 'firmware'] as const;
export type CampaignKind = (typeof CAMPAIGN_KINDS)[number];

export interface CampaignSummary { id: number; kind: string; actor: string; params: unknown; createdMs: number; meters: number; states: { [state: string]: number }; skipped: number }

export class Campaigns {
  private readonly db: Database.Database;

  constructor(private readonly hes: Hes) {
    this.db = hes.db;
    this.db.exec(CAMPAIGN_SCHEMA_SQL);
  }

  /**
   * Queues the command on every meter (actor's right checked first: a refusal changes nothing).
   * A meter that cannot take it now (e.g. a key update already in progress) is skipped with the reason.
   */
  start(actor: string, meters: string[], params: CommandParams & { kind: CampaignKind }, expiryMs?: number): { id: number; commands: number[]; skipped: { meter: string; reason: string }[] } {
    if (meters.length === 0) throw new HesError('a campaign needs at least one meter');
    const known = new Set(this.hes.meterStatus().map((m) => m.id));
    const unknown = meters.find((m) => !known.has(m));
    if (unknown !== undefined) throw new HesError(`unknown meter ${unknown}`);
    this.hes.require(actor, KIND_INFO[params.kind].right, `campaign:${params.kind}`);
    const now = Date.now();
    const id = this.db.transaction(() => {
      const r = this.db.prepare('INSERT INTO campaigns (kind, actor, params, created_ms) VALUES (?,?,?,?)').run(params.kind, actor, JSON.stringify(params), now);
      this.hes.audit.append(actor, 'campaign.start', `campaign#${r.lastInsertRowid}`, { ...params, meters: meters.length });
      return Number(r.lastInsertRowid);
    })();
    const commands: number[] = [];
    const skipped: { meter: string; reason: string }[] = [];
    const put = this.db.prepare('INSERT INTO campaign_commands (campaign_id, meter_id, command_id, skipped) VALUES (?,?,?,?)');
    for (const m of meters) {
      try {
        const cid = this.hes.enqueueCommand(actor, m, params, expiryMs !== undefined ? { expiryMs } : {});
        commands.push(cid);
        put.run(id, m, cid, null);
      } catch (e) {
        if (!(e instanceof HesError)) throw e;
        skipped.push({ meter: m, reason: e.message });
        put.run(id, m, null, e.message);
      }
    }
    return { id, commands, skipped };
  }

  /** Campaigns, newest first, with the states of their commands counted. */
  list(limit = 100): CampaignSummary[] {
    const rows = this.db.prepare('SELECT * FROM campaigns ORDER BY id DESC LIMIT ?').all(limit) as { id: number; kind: string; actor: string; params: string; created_ms: number }[];
    const states = this.db.prepare(`SELECT coalesce(c.state, 'skipped') AS state, count(*) AS n FROM campaign_commands cc
      LEFT JOIN commands c ON c.id = cc.command_id WHERE cc.campaign_id = ? GROUP BY 1`);
    return rows.map((r) => {
      const counts = Object.fromEntries((states.all(r.id) as { state: string; n: number }[]).map((s) => [s.state, s.n]));
      const skipped = counts.skipped ?? 0;
      delete counts.skipped;
      const meters = Object.values(counts).reduce((a, b) => a + b, 0) + skipped;
      return { id: r.id, kind: r.kind, actor: r.actor, params: JSON.parse(r.params), createdMs: r.created_ms, meters, states: counts, skipped };
    });
  }
}
