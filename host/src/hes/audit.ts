// Append-only, tamper-evident audit log. Each entry's MAC covers the previous entry's MAC, so changing,
// deleting or reordering any row breaks the chain; the MAC key is derived from the store key, which is
// not in the database, so a database editor cannot recompute the chain. The head (last seq and MAC) is
// kept in `meta` too, so cutting entries off the end is detected. The store appends (store/types.ts:
// one chain, serialised in the store, in the transaction of the audited change); this module
// computes the MACs and verifies.
import { createHmac } from 'node:crypto';
import { ctEqual } from '../crypto/bytes.ts';
import type { HesStore } from './store/types.ts';

export const AUDIT_MAC_LEN = 32;
const GENESIS = new Uint8Array(AUDIT_MAC_LEN);

export interface AuditEntry {
  seq: number;
  tsMs: number;
  actor: string;
  action: string;
  subject: string;
  detail: string;
}

export interface AuditVerifyResult {
  ok: boolean;
  entries: number;
  error?: string;
  badSeq?: number;
}

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

/** Rows read per round trip while verifying. */
const VERIFY_PAGE = 10_000;

/** The audit log of one HES store; appends go through the store, which chains them (one serialised chain). */
export class AuditLog {
  constructor(
    private readonly store: HesStore,
    private readonly key: Uint8Array,
  ) {}

  /** Appends one entry in its own transaction and returns its sequence number. */
  append(actor: string, action: string, subject: string, detail: unknown, tsMs: number = Date.now()): Promise<number> {
    return this.store.appendAudit([{ actor, action, subject, detail, tsMs }]);
  }

  /** The current head "seq:mac-hex", to be kept outside the database (detects a rollback to an older copy). */
  async headString(): Promise<string> {
    const h = await this.store.auditHead();
    return `${h.seq}:${Buffer.from(h.mac).toString('hex')}`;
  }

  /**
   * Verifies the chain and that an externally kept head "seq:mac-hex" is still part of it: the entry
   * with that seq must carry that MAC (a database restored from an older copy, or rewritten, fails).
   */
  async verifyAgainst(anchor: string): Promise<AuditVerifyResult> {
    const r = await this.verify();
    if (!r.ok) return r;
    const m = /^([0-9]+):([0-9a-f]{64})$/.exec(anchor.trim());
    if (m === null) return { ok: false, entries: r.entries, error: 'anchor must be "seq:mac" as printed by audit --head' };
    const seq = Number(m[1]);
    const row = await this.store.auditEntry(seq);
    if (row === undefined)
      return {
        ok: false,
        entries: r.entries,
        badSeq: seq,
        error: `the log has ${r.entries} entries but the anchor names entry ${seq}: the database was rolled back to an older copy`,
      };
    if (Buffer.from(row.mac).toString('hex') !== m[2])
      return { ok: false, entries: r.entries, badSeq: seq, error: `entry ${seq} differs from the anchor: the log was rewritten` };
    return r;
  }

  /** Lists entries (newest last), optionally from a sequence number on. */
  async list(fromSeq = 1, limit = 1000): Promise<AuditEntry[]> {
    return (await this.store.auditRows(fromSeq, limit)).map(({ seq, tsMs, actor, action, subject, detail }) => ({
      seq,
      tsMs,
      actor,
      action,
      subject,
      detail,
    }));
  }

  /**
   * Recomputes the whole chain: contiguous sequence numbers from 1, each stored prev equal to the
   * previous MAC, each MAC correct, and the last entry equal to the recorded head.
   */
  async verify(): Promise<AuditVerifyResult> {
    let prev: Uint8Array = GENESIS;
    let n = 0;
    for (;;) {
      const rows = await this.store.auditRows(n + 1, VERIFY_PAGE);
      for (const r of rows) {
        n++;
        if (r.seq !== n)
          return { ok: false, entries: n - 1, badSeq: r.seq, error: `audit entry ${n} is missing (next stored entry is ${r.seq})` };
        if (!ctEqual(new Uint8Array(r.prev), prev))
          return { ok: false, entries: n - 1, badSeq: r.seq, error: `audit entry ${r.seq} does not chain to entry ${r.seq - 1}` };
        const mac = entryMac(this.key, prev, r);
        if (!ctEqual(mac, new Uint8Array(r.mac)))
          return { ok: false, entries: n - 1, badSeq: r.seq, error: `audit entry ${r.seq} was altered (MAC mismatch)` };
        prev = mac;
      }
      if (rows.length < VERIFY_PAGE) break;
    }
    const h = await this.store.auditHead();
    if (h.seq !== n || !ctEqual(new Uint8Array(h.mac), prev)) {
      return {
        ok: false,
        entries: n,
        badSeq: n + 1,
        error: `audit log ends at entry ${n} but the recorded head is entry ${h.seq}: entries were removed or the head was altered`,
      };
    }
    return { ok: true, entries: n };
  }
}
