// The HES schema on PostgreSQL (the logical schema is SQLite's, /work/seams/store.md §3; docs/HOST.md
// "HES store"). Types: bytea for blobs, bigint for every integer (counters reach 2^32, times in ms
// 2^41), text. Keys are stored only as AES-256-GCM blobs under the store key.
//
// PostgreSQL-only columns, each for one atomic statement:
// - replay.prev_last, prev_frame: the `last` and `frame` a conditional advance replaced (0 / null
//   after an insert). An INSERT … ON CONFLICT DO UPDATE sets them from the row it updates and
//   RETURNING gives them back, so one statement both advances a key and tells which of a batch's
//   frames of that key won, and what a losing one lost to (PostgreSQL 15 has no RETURNING old.*).
// - send_ctr.prev: the same for counter reservations: the range handed out is [max(prev, 1), lim).
// - change_ver: one row counted up by triggers whenever devices, key rows or a meter's key
//   generation change; the HES reloads its in-memory key state when it moved (SQLite: data_version).
//
// Migrations: MIGRATIONS[v] brings a database at version v (table vakt_schema; 0 = empty) to a newer
// one, each in one transaction under an advisory lock (several nodes starting at once migrate once).
// Version 2 = the SQLite store's SCHEMA_VERSION 2 (the first PostgreSQL schema).
// Version 3: replay rows are updated by every batch (last, frame, prev_*; no indexed column), so the
// table keeps half of each page free (fillfactor 50): the update fits the same page as a HOT update
// and no index entry is written. Measured (EXPLAIN ANALYZE, BUFFERS, WAL; one batch of 1,000 frames
// of 1,000 known meters): replay upsert 10,637 → 6,109 buffer hits and 3,286 → 2,040 WAL records
// (339 → 209 kB). Pages written before the migration keep their fill until rewritten (VACUUM FULL).

/** The schema version this code reads and writes. */
export const PG_SCHEMA_VERSION = 3;

/** Advisory lock key held while migrating ("vakt" in ASCII). */
export const MIGRATION_LOCK = 0x76616b74;

const SCHEMA_V2 = `
CREATE TABLE vakt_schema (version int NOT NULL);
INSERT INTO vakt_schema VALUES (2);
CREATE TABLE meta (k text PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE users (name text PRIMARY KEY, role text NOT NULL CHECK (role IN ('viewer','operator','admin')), created_ms bigint NOT NULL);
CREATE TABLE kpe_keys (pub bytea PRIMARY KEY, added_ms bigint NOT NULL);
CREATE TABLE shipments (
  id bytea PRIMARY KEY, kpe_pub bytea NOT NULL, seq bigint NOT NULL, created_ms bigint NOT NULL,
  imported_ms bigint NOT NULL, meters bigint NOT NULL, concentrators bigint NOT NULL, UNIQUE (kpe_pub, seq));
CREATE TABLE concentrators (
  id bytea PRIMARY KEY, link_gen bigint NOT NULL, shipment bytea NOT NULL, added_ms bigint NOT NULL, last_seen_ms bigint);
CREATE TABLE meters (
  id bytea PRIMARY KEY, concentrator_id bytea NOT NULL REFERENCES concentrators(id), link_gen bigint NOT NULL,
  shipment bytea NOT NULL, added_ms bigint NOT NULL, last_seen_ms bigint,
  tag_failures bigint NOT NULL DEFAULT 0, last_error text, max_gen bigint NOT NULL DEFAULT 0,
  short_addr bigint NOT NULL, UNIQUE (concentrator_id, short_addr));
CREATE INDEX meters_concentrator ON meters (concentrator_id);
CREATE TABLE keys (
  owner bytea NOT NULL, kind text NOT NULL CHECK (kind IN ('ring','lk')), scope bigint NOT NULL, gen bigint NOT NULL,
  state text NOT NULL CHECK (state IN ('active','retired')), enc bytea NOT NULL, created_ms bigint NOT NULL,
  ver bigint NOT NULL DEFAULT 0, PRIMARY KEY (owner, kind, scope, gen));
CREATE TABLE replay (
  sender bytea NOT NULL, layer bigint NOT NULL, op bigint NOT NULL, dir bigint NOT NULL, gen bigint NOT NULL,
  last bigint NOT NULL, frame bytea, prev_last bigint NOT NULL DEFAULT 0, prev_frame bytea,
  PRIMARY KEY (sender, layer, op, dir, gen));
CREATE TABLE send_ctr (
  receiver bytea NOT NULL, layer bigint NOT NULL, op bigint NOT NULL, gen bigint NOT NULL,
  lim bigint NOT NULL, prev bigint NOT NULL DEFAULT 0, PRIMARY KEY (receiver, layer, op, gen));
-- Keyed (seq, meter) as in SQLite: every meter pushes interval seq at about the same time, so a batch
-- appends to few B-tree pages. Per-meter reads use the second index.
CREATE TABLE readings (
  meter_id bytea NOT NULL, seq bigint NOT NULL, t bigint NOT NULL, wh bigint NOT NULL, w bigint NOT NULL,
  counter bigint NOT NULL, gen bigint NOT NULL, via bytea NOT NULL, received_ms bigint NOT NULL,
  PRIMARY KEY (seq, meter_id));
CREATE INDEX readings_meter ON readings (meter_id, seq);
CREATE TABLE register_reads (
  id bigserial PRIMARY KEY, meter_id bytea NOT NULL, req bigint NOT NULL, t bigint NOT NULL, wh bigint NOT NULL,
  w bigint NOT NULL, received_ms bigint NOT NULL);
CREATE TABLE events (
  id bigserial PRIMARY KEY, meter_id bytea NOT NULL, code bigint NOT NULL, t bigint NOT NULL, detail text,
  received_ms bigint NOT NULL);
CREATE INDEX events_meter ON events (meter_id, code, t);
CREATE TABLE commands (
  id bigserial PRIMARY KEY, meter_id bytea NOT NULL, kind text NOT NULL, op bigint NOT NULL, params text NOT NULL,
  state text NOT NULL CHECK (state IN ('queued','sent','acknowledged','failed','expired')),
  actor text NOT NULL, created_ms bigint NOT NULL, updated_ms bigint NOT NULL, expires_ms bigint NOT NULL,
  attempts bigint NOT NULL DEFAULT 0, next_try_ms bigint NOT NULL DEFAULT 0, result text,
  claimed_by text, claim_until bigint NOT NULL DEFAULT 0);
CREATE INDEX commands_open ON commands (meter_id, id) WHERE state IN ('queued','sent');
CREATE INDEX commands_meter ON commands (meter_id, id);
CREATE TABLE audit (
  seq bigint PRIMARY KEY, ts_ms bigint NOT NULL, actor text NOT NULL, action text NOT NULL,
  subject text NOT NULL, detail text NOT NULL, prev bytea NOT NULL, mac bytea NOT NULL);
CREATE TABLE firmware_images (sha256 bytea PRIMARY KEY, version bigint NOT NULL, data bytea NOT NULL, added_ms bigint NOT NULL);
CREATE TABLE user_passwords (name text PRIMARY KEY REFERENCES users(name), hash text NOT NULL, updated_ms bigint NOT NULL);
CREATE TABLE tokens (
  id text PRIMARY KEY, "user" text NOT NULL REFERENCES users(name), role text NOT NULL CHECK (role IN ('viewer','operator','admin')),
  kind text NOT NULL CHECK (kind IN ('api','session','login')), hash bytea NOT NULL, csrf_hash bytea, label text NOT NULL,
  created_ms bigint NOT NULL, expires_ms bigint NOT NULL, revoked_ms bigint, last_used_ms bigint);
CREATE TABLE login_failures (name text PRIMARY KEY, count bigint NOT NULL, first_ms bigint NOT NULL, locked_until_ms bigint NOT NULL);
CREATE TABLE campaigns (id bigserial PRIMARY KEY, kind text NOT NULL, actor text NOT NULL, params text NOT NULL, created_ms bigint NOT NULL);
CREATE TABLE campaign_commands (campaign_id bigint NOT NULL REFERENCES campaigns(id), meter_id text NOT NULL, command_id bigint, skipped text,
  PRIMARY KEY (campaign_id, meter_id));
CREATE TABLE serve_lease (
  node text PRIMARY KEY, holder text NOT NULL, pid bigint NOT NULL, host text NOT NULL,
  started_ms bigint NOT NULL, renewed_ms bigint NOT NULL);
CREATE TABLE change_ver (id int PRIMARY KEY CHECK (id = 1), v bigint NOT NULL);
INSERT INTO change_ver VALUES (1, 0);

CREATE FUNCTION vakt_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'P0001'; END $$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION vakt_refuse('audit log is append-only');
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION vakt_refuse('audit log is append-only');
CREATE TRIGGER send_ctr_never_down BEFORE UPDATE OF lim ON send_ctr FOR EACH ROW WHEN (NEW.lim < OLD.lim)
  EXECUTE FUNCTION vakt_refuse('a sender counter limit cannot go down');
CREATE TRIGGER replay_never_down BEFORE UPDATE OF last ON replay FOR EACH ROW WHEN (NEW.last < OLD.last)
  EXECUTE FUNCTION vakt_refuse('a replay counter cannot go down');

CREATE FUNCTION vakt_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN UPDATE change_ver SET v = v + 1 WHERE id = 1; RETURN NULL; END $$;
CREATE TRIGGER keys_changed AFTER INSERT OR UPDATE OR DELETE ON keys FOR EACH STATEMENT EXECUTE FUNCTION vakt_changed();
CREATE TRIGGER concentrators_changed AFTER INSERT OR UPDATE OF link_gen OR DELETE ON concentrators FOR EACH STATEMENT EXECUTE FUNCTION vakt_changed();
CREATE TRIGGER meters_changed AFTER INSERT OR UPDATE OF max_gen, link_gen, concentrator_id, short_addr OR DELETE ON meters FOR EACH STATEMENT EXECUTE FUNCTION vakt_changed();
`;

/** MIGRATIONS[v] takes a database at schema version v to a newer one (version 0 = empty: straight to 2, then on). */
export const MIGRATIONS: { [from: number]: { to: number; sql: string } } = {
  0: { to: 2, sql: SCHEMA_V2 },
  2: { to: 3, sql: 'ALTER TABLE replay SET (fillfactor = 50)' },
};
