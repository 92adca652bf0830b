// The HES database schema (docs/HOST.md "HES store"). Keys are stored only as AES-256-GCM blobs
// under the store key, which never enters the database.

export const SCHEMA_VERSION = 1;

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
  enc BLOB NOT NULL, created_ms INTEGER NOT NULL, PRIMARY KEY (owner, kind, scope, gen)) WITHOUT ROWID;
-- Receiver replay state: last accepted counter per key (sender, layer, op, dir, gen).
CREATE TABLE IF NOT EXISTS replay (
  sender BLOB NOT NULL, layer INTEGER NOT NULL, op INTEGER NOT NULL, dir INTEGER NOT NULL, gen INTEGER NOT NULL,
  last INTEGER NOT NULL, PRIMARY KEY (sender, layer, op, dir, gen)) WITHOUT ROWID;
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
  attempts INTEGER NOT NULL DEFAULT 0, next_try_ms INTEGER NOT NULL DEFAULT 0, result TEXT);
CREATE INDEX IF NOT EXISTS commands_open ON commands (state, meter_id) WHERE state IN ('queued','sent');
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
  subject TEXT NOT NULL, detail TEXT NOT NULL, prev BLOB NOT NULL, mac BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS firmware_images (sha256 BLOB PRIMARY KEY, version INTEGER NOT NULL, data BLOB NOT NULL, added_ms INTEGER NOT NULL);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
`;
