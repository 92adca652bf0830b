// The HES database schema of the SQLite store (docs/HOST.md "HES store"; the logical schema is
// shared with PostgreSQL, /work/seams/store.md §3). Keys are stored only as AES-256-GCM blobs under
// the store key, which never enters the database.
import type Database from 'better-sqlite3';

/** 2: replay.frame, keys.ver, commands.claimed_by/claim_until; users, campaigns and lease tables. */
export const SCHEMA_VERSION = 2;

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, role TEXT NOT NULL CHECK (role IN ('viewer','operator','admin')), created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS kpe_keys (pub BLOB PRIMARY KEY, added_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS shipments (
  id BLOB PRIMARY KEY, kpe_pub BLOB NOT NULL, seq INTEGER NOT NULL, created_ms INTEGER NOT NULL,
  imported_ms INTEGER NOT NULL, meters INTEGER NOT NULL, concentrators INTEGER NOT NULL,
  UNIQUE (kpe_pub, seq));
CREATE TABLE IF NOT EXISTS concentrators (
  id BLOB PRIMARY KEY, link_gen INTEGER NOT NULL, shipment BLOB NOT NULL, added_ms INTEGER NOT NULL,
  last_seen_ms INTEGER);
CREATE TABLE IF NOT EXISTS meters (
  id BLOB PRIMARY KEY, concentrator_id BLOB NOT NULL REFERENCES concentrators(id), link_gen INTEGER NOT NULL,
  shipment BLOB NOT NULL, added_ms INTEGER NOT NULL, last_seen_ms INTEGER,
  tag_failures INTEGER NOT NULL DEFAULT 0, last_error TEXT, max_gen INTEGER NOT NULL DEFAULT 0,
  -- short address on the concentrator's radio hop (KPE-assigned, PROTOCOL.md §11): unique per concentrator
  short_addr INTEGER NOT NULL, UNIQUE (concentrator_id, short_addr));
-- kind: 'ring' a meter's key ring (core keyupdate.ts KeyRing: master key, operation roots and generations,
-- pending/confirmed update and previous roots), 'lk' link key of a meter or concentrator (scope 0, gen = link gen).
CREATE TABLE IF NOT EXISTS keys (
  owner BLOB NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('ring','lk')), scope INTEGER NOT NULL, gen INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active','retired')),
  enc BLOB NOT NULL, created_ms INTEGER NOT NULL, ver INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (owner, kind, scope, gen)) WITHOUT ROWID;
-- Receiver replay state: last accepted counter per key (sender, layer, op, dir, gen), and the
-- end-to-end frame accepted with it (a resend after a restart is a duplicate, not a replay).
CREATE TABLE IF NOT EXISTS replay (
  sender BLOB NOT NULL, layer INTEGER NOT NULL, op INTEGER NOT NULL, dir INTEGER NOT NULL, gen INTEGER NOT NULL,
  last INTEGER NOT NULL, frame BLOB, PRIMARY KEY (sender, layer, op, dir, gen)) WITHOUT ROWID;
-- Sender counters of the HES (downlink): persisted reserve-ahead limit per key.
CREATE TABLE IF NOT EXISTS send_ctr (
  receiver BLOB NOT NULL, layer INTEGER NOT NULL, op INTEGER NOT NULL, gen INTEGER NOT NULL,
  lim INTEGER NOT NULL, PRIMARY KEY (receiver, layer, op, gen)) WITHOUT ROWID;
-- Keyed (seq, meter) rather than (meter, seq): every meter pushes interval seq at about the same time,
-- so a batch appends to a few B-tree pages instead of dirtying one page per meter (4x the commit
-- throughput at 1 000 meters). One interval per meter is still stored once; per-meter reads use seq ranges.
CREATE TABLE IF NOT EXISTS readings (
  meter_id BLOB NOT NULL, seq INTEGER NOT NULL, t INTEGER NOT NULL, wh INTEGER NOT NULL, w INTEGER NOT NULL,
  counter INTEGER NOT NULL, gen INTEGER NOT NULL, via BLOB NOT NULL, received_ms INTEGER NOT NULL,
  PRIMARY KEY (seq, meter_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS register_reads (
  id INTEGER PRIMARY KEY, meter_id BLOB NOT NULL, req INTEGER NOT NULL, t INTEGER NOT NULL, wh INTEGER NOT NULL,
  w INTEGER NOT NULL, received_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY, meter_id BLOB NOT NULL, code INTEGER NOT NULL, t INTEGER NOT NULL, detail TEXT,
  received_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS commands (
  id INTEGER PRIMARY KEY, meter_id BLOB NOT NULL, kind TEXT NOT NULL, op INTEGER NOT NULL, params TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('queued','sent','acknowledged','failed','expired')),
  actor TEXT NOT NULL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, next_try_ms INTEGER NOT NULL DEFAULT 0, result TEXT,
  claimed_by TEXT, claim_until INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS commands_open ON commands (state, meter_id) WHERE state IN ('queued','sent');
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
  subject TEXT NOT NULL, detail TEXT NOT NULL, prev BLOB NOT NULL, mac BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS firmware_images (sha256 BLOB PRIMARY KEY, version INTEGER NOT NULL, data BLOB NOT NULL, added_ms INTEGER NOT NULL);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS send_ctr_never_down BEFORE UPDATE OF lim ON send_ctr WHEN NEW.lim < OLD.lim
BEGIN SELECT RAISE(ABORT, 'a sender counter limit cannot go down'); END;
CREATE TABLE IF NOT EXISTS user_passwords (name TEXT PRIMARY KEY REFERENCES users(name), hash TEXT NOT NULL, updated_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users(name), role TEXT NOT NULL CHECK (role IN ('viewer','operator','admin')),
  kind TEXT NOT NULL CHECK (kind IN ('api','session','login')), hash BLOB NOT NULL, csrf_hash BLOB, label TEXT NOT NULL,
  created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, revoked_ms INTEGER, last_used_ms INTEGER);
CREATE TABLE IF NOT EXISTS login_failures (name TEXT PRIMARY KEY, count INTEGER NOT NULL, first_ms INTEGER NOT NULL, locked_until_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS campaigns (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, actor TEXT NOT NULL, params TEXT NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS campaign_commands (campaign_id INTEGER NOT NULL REFERENCES campaigns(id), meter_id TEXT NOT NULL, command_id INTEGER, skipped TEXT,
  PRIMARY KEY (campaign_id, meter_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS serve_lease (
  node TEXT PRIMARY KEY, holder TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL,
  started_ms INTEGER NOT NULL, renewed_ms INTEGER NOT NULL);
`;

/** Columns added since schema 1: [table, column, declaration]. */
const ADDED_COLUMNS: [string, string, string][] = [
  ['replay', 'frame', 'BLOB'],
  ['keys', 'ver', 'INTEGER NOT NULL DEFAULT 0'],
  ['commands', 'claimed_by', 'TEXT'],
  ['commands', 'claim_until', 'INTEGER NOT NULL DEFAULT 0'],
];

/** Brings an initialised database of an older schema up to SCHEMA_VERSION (one transaction; idempotent). */
export function migrate(db: Database.Database): void {
  const row = db.prepare("SELECT v FROM meta WHERE k = 'schema_version'").get() as { v: Buffer } | undefined;
  if (row === undefined || Number(row.v.toString()) >= SCHEMA_VERSION) return;
  db.transaction(() => {
    for (const [table, col, decl] of ADDED_COLUMNS) {
      const cols = db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[];
      if (!cols.some((c) => c.name === col)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${col} ${decl}`);
    }
    db.exec(SCHEMA_SQL);
    db.prepare("UPDATE meta SET v = ? WHERE k = 'schema_version'").run(Buffer.from(String(SCHEMA_VERSION)));
  }).immediate();
}
