// Append-only, tamper-evident audit log. Each entry's MAC covers the previous entry's MAC, so changing,
// deleting or reordering any row breaks the chain; the MAC key is derived from the store key, which is
// not in the database, so a database editor cannot recompute the chain. The head (last seq and MAC) is
// kept in `meta` too, so cutting entries off the end is detected.
import { createHmac } from 'node:crypto';
import type Database from 'better-sqlite3';
import { ctEqual } from '../crypto/bytes.ts';

export const AUDIT_MAC_LEN = 32;
const GENESIS = new Uint8Array(AUDIT_MAC_LEN);
const HEAD_KEY = 'audit_head';

export interface AuditEntry { seq: number; tsMs: number; actor: string; action: string; subject: string; detail: string }

export interface AuditVerifyResult { ok: boolean; entries: number; error?: string; badSeq?: number }

function lenPrefixed(h: ReturnType<typeof createHmac>, s: string): void {
  const b = Buffer.from(s, 'utf8');
  const l = Buffer.alloc(4);
  l.writeUInt32BE(b.length, 0);
  h.update(l);
  h.update(b);
}

/** MAC of one entry chained to the previous MAC: HMAC-SHA-256(key, prev ‖ seq ‖ ts ‖ actor ‖ action ‖ subject ‖ detail). */
export function entryMac(key: Uint8Array, prev: Uint8Array, e: AuditEntry): Uint8Array {
  const h = createHmac('sha256', key);
  h.update(prev);
  const n = Buffer.alloc(16);
  n.writeBigUInt64BE(BigInt(e.seq), 0);
  n.writeBigUInt64BE(BigInt(e.tsMs), 8);
  h.update(n);
  lenPrefixed(h, e.actor);
  lenPrefixed(h, e.action);
  lenPrefixed(h, e.subject);
  lenPrefixed(h, e.detail);
  return new Uint8Array(h.digest());
}

function encodeHead(seq: number, mac: Uint8Array): Buffer {
  const b = Buffer.alloc(8 + AUDIT_MAC_LEN);
  b.writeBigUInt64BE(BigInt(seq), 0);
  b.set(mac, 8);
  return b;
}

/** The audit log of one HES database. append() joins the caller's transaction when one is open. */
export class AuditLog {
  private readonly db: Database.Database;
  private readonly key: Uint8Array;
  private readonly insert: Database.Statement;
  private readonly setHead: Database.Statement;
  private readonly getHead: Database.Statement;

  constructor(db: Database.Database, key: Uint8Array) {
    this.db = db;
    this.key = key;
    this.insert = db.prepare('INSERT INTO audit (seq, ts_ms, actor, action, subject, detail, prev, mac) VALUES (?,?,?,?,?,?,?,?)');
    this.setHead = db.prepare(`INSERT INTO meta (k, v) VALUES ('${HEAD_KEY}', ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v`);
    this.getHead = db.prepare(`SELECT v FROM meta WHERE k = '${HEAD_KEY}'`);
  }

  private head(): { seq: number; mac: Uint8Array } {
    const r = this.getHead.get() as { v: Buffer } | undefined;
    if (r === undefined) return { seq: 0, mac: GENESIS };
    return { seq: Number(r.v.readBigUInt64BE(0)), mac: new Uint8Array(r.v.subarray(8, 8 + AUDIT_MAC_LEN)) };
  }

  /** Appends one entry (atomically with the caller's open transaction, if any) and returns its sequence number. */
  append(actor: string, action: string, subject: string, detail: unknown, tsMs: number = Date.now()): number {
    const run = (): number => {
      const h = this.head();
      const e: AuditEntry = { seq: h.seq + 1, tsMs, actor, action, subject, detail: typeof detail === 'string' ? detail : JSON.stringify(detail ?? {}) };
      const mac = entryMac(this.key, h.mac, e);
      this.insert.run(e.seq, e.tsMs, e.actor, e.action, e.subject, e.detail, h.mac, mac);
      this.setHead.run(encodeHead(e.seq, mac));
      return e.seq;
    };
    return this.db.inTransaction ? run() : this.db.transaction(run)();
  }

  /** The current head "seq:mac-hex", to be kept outside the database (detects a rollback to an older copy). */
  headString(): string {
    const h = this.head();
    return `${h.seq}:${Buffer.from(h.mac).toString('hex')}`;
  }

  /**
   * Verifies the chain and that an externally kept head "seq:mac-hex" is still part of it: the entry
   * with that seq must carry that MAC (a database restored from an older copy, or rewritten, fails).
   */
  verifyAgainst(anchor: string): AuditVerifyResult {
    const r = this.verify();
    if (!r.ok) return r;
    const m = /^([0-9]+):([0-9a-f]{64})$/.exec(anchor.trim());
    if (m === null) return { ok: false, entries: r.entries, error: 'anchor must be "seq:mac" as printed by audit --head' };
    const seq = Number(m[1]);
    const row = this.db.prepare('SELECT mac FROM audit WHERE seq = ?').get(seq) as { mac: Buffer } | undefined;
    if (row === undefined) return { ok: false, entries: r.entries, badSeq: seq, error: `the log has ${r.entries} entries but the anchor names entry ${seq}: the database was rolled back to an older copy` };
    if (Buffer.from(row.mac).toString('hex') !== m[2]) return { ok: false, entries: r.entries, badSeq: seq, error: `entry ${seq} differs from the anchor: the log was rewritten` };
    return r;
  }

  /** Lists entries (newest last), optionally from a sequence number on. */
  list(fromSeq = 1, limit = 1000): AuditEntry[] {
    return (this.db.prepare('SELECT seq, ts_ms AS tsMs, actor, action, subject, detail FROM audit WHERE seq >= ? ORDER BY seq LIMIT ?').all(fromSeq, limit) as AuditEntry[]);
  }

  /**
   * Recomputes the whole chain: contiguous sequence numbers from 1, each stored prev equal to the
   * previous MAC, each MAC correct, and the last entry equal to the recorded head.
   */
  verify(): AuditVerifyResult {
    let prev: Uint8Array = GENESIS;
    let n = 0;
    const rows = this.db.prepare('SELECT seq, ts_ms AS tsMs, actor, action, subject, detail, prev, mac FROM audit ORDER BY seq').iterate() as IterableIterator<AuditEntry & { prev: Buffer; mac: Buffer }>;
    for (const r of rows) {
      n++;
      if (r.seq !== n) return { ok: false, entries: n - 1, badSeq: r.seq, error: `audit entry ${n} is missing (next stored entry is ${r.seq})` };
      if (!ctEqual(new Uint8Array(r.prev), prev)) return { ok: false, entries: n - 1, badSeq: r.seq, error: `audit entry ${r.seq} does not chain to entry ${r.seq - 1}` };
      const mac = entryMac(this.key, prev, r);
      if (!ctEqual(mac, new Uint8Array(r.mac))) return { ok: false, entries: n - 1, badSeq: r.seq, error: `audit entry ${r.seq} was altered (MAC mismatch)` };
      prev = mac;
    }
    const h = this.head();
    if (h.seq !== n || !ctEqual(h.mac, prev)) {
      return { ok: false, entries: n, badSeq: n + 1, error: `audit log ends at entry ${n} but the recorded head is entry ${h.seq}: entries were removed or the head was altered` };
    }
    return { ok: true, entries: n };
  }
}
