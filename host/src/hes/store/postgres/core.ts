// PostgreSQL store, part 2: devices and key rows, shipments, replay state, the units of work
// (commitIngest, commit), sending-counter ranges, the shared command queue and firmware images.
import { MAX_ATTEMPTS, PgBase, isDataError, isRetryable, mapFault } from './base.ts';
import type { Tx } from './base.ts';
import { FAST_SQL, audits, fastIngest, generalIngest, readingsOnly } from './ingest.ts';
import { StaleStoreError } from '../types.ts';
import type {
  AuditAppend,
  Bytes,
  CommandFilter,
  CommandRow,
  DeviceSnapshot,
  IngestCommit,
  IngestFrameResult,
  KeyRow,
  ReadingProgress,
  ReplayKey,
  ReplayState,
  SendKey,
  SendRange,
  ShipmentImport,
  StoreWrite,
  WriteResult,
} from '../types.ts';

const COMMAND_COLUMNS =
  'id, meter_id AS "meterId", kind, op, params, state, actor, created_ms AS "createdMs", updated_ms AS "updatedMs", expires_ms AS "expiresMs", attempts, next_try_ms AS "nextTryMs", result';
/** Namespace of the advisory locks that serialise "insert an event unless stored" per (meter, code, t). */
const EVENT_LOCK_NS = 0x65766e74;

const buf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.length);
const hexOf = (b: Uint8Array): string => buf(b).toString('hex');

export class PgCore extends PgBase {
  // ------------------------------------------------------------------ devices, keys, shipments

  loadDevices(): Promise<DeviceSnapshot> {
    // One snapshot: REPEATABLE READ makes the four reads see the same committed state.
    return this.run(async (tx) => {
      await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const concentrators = (await tx.query('SELECT id, link_gen AS "linkGen" FROM concentrators')).rows as DeviceSnapshot['concentrators'];
      const meters = (
        await tx.query(
          'SELECT id, concentrator_id AS "concentratorId", link_gen AS "linkGen", short_addr AS "shortAddr", tag_failures AS "tagFailures", max_gen AS "maxGen" FROM meters',
        )
      ).rows as DeviceSnapshot['meters'];
      const keys = (
        await tx.query(`SELECT owner, kind, scope, gen, state, enc, created_ms AS "createdMs", ver FROM keys WHERE state = 'active'`)
      ).rows as KeyRow[];
      return { concentrators, meters, keys, progress: await this.progress(tx) };
    });
  }

  /** Per meter: highest stored interval, the gap-free prefix from 1, and what is stored above it. */
  private async progress(tx: Tx): Promise<ReadingProgress[]> {
    const r = await tx.query<{ meter: Buffer; max_seq: number; contig: number; above: (number | string)[] }>(`
      WITH m AS (SELECT meter_id, max(seq) AS max_seq FROM readings GROUP BY meter_id),
      c AS (
        SELECT r.meter_id, min(r.seq) AS contig FROM readings r
        WHERE NOT EXISTS (SELECT 1 FROM readings q WHERE q.meter_id = r.meter_id AND q.seq = r.seq + 1)
          AND EXISTS (SELECT 1 FROM readings o WHERE o.meter_id = r.meter_id AND o.seq = 1)
        GROUP BY r.meter_id)
      SELECT m.meter_id AS meter, m.max_seq, coalesce(c.contig, 0) AS contig,
        ARRAY(SELECT seq FROM readings x WHERE x.meter_id = m.meter_id AND x.seq > coalesce(c.contig, 0) + 1 ORDER BY seq) AS above
      FROM m LEFT JOIN c USING (meter_id)`);
    return r.rows.map((x) => ({ meter: x.meter, maxSeq: x.max_seq, contig: x.contig, above: x.above.map(Number) }));
  }

  async pinnedKpeKeys(): Promise<Bytes[]> {
    return (await this.rows<{ pub: Buffer }>('SELECT pub FROM kpe_keys')).map((r) => r.pub);
  }

  pinKpeKey(pub: Bytes, addedMs: number, audit: AuditAppend[]): Promise<void> {
    return this.run(async (tx) => {
      await tx.query('INSERT INTO kpe_keys (pub, added_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING', [buf(pub), addedMs]);
      tx.append(audit);
    }, audit.length > 0);
  }

  async shipmentSeen(id: Bytes, kpePub: Bytes): Promise<{ seen: boolean; lastSeq: number | null }> {
    const r = await this.rows<{ seen: boolean; last: number | null }>(
      'SELECT EXISTS (SELECT 1 FROM shipments WHERE id = $1) AS seen, (SELECT max(seq) FROM shipments WHERE kpe_pub = $2) AS last',
      [buf(id), buf(kpePub)],
    );
    return { seen: r[0]!.seen, lastSeq: r[0]!.last };
  }

  async provisioned(ids: Bytes[]): Promise<Bytes[]> {
    if (ids.length === 0) return [];
    const r = await this.rows<{ id: Buffer }>(
      'SELECT id FROM meters WHERE id = ANY($1::bytea[]) UNION SELECT id FROM concentrators WHERE id = ANY($1::bytea[])',
      [ids.map(buf)],
    );
    const have = new Set(r.map((x) => x.id.toString('hex')));
    return ids.filter((id) => have.has(hexOf(id)));
  }

  importShipment(s: ShipmentImport): Promise<void> {
    return this.run(async (tx) => {
      try {
        await tx.query(
          'INSERT INTO shipments (id, kpe_pub, seq, created_ms, imported_ms, meters, concentrators) VALUES ($1,$2,$3,$4,$5,$6,$7)',
          [buf(s.id), buf(s.kpePub), s.seq, s.createdMs, s.importedMs, s.meters.length, s.concentrators.length],
        );
        await tx.query(
          'INSERT INTO concentrators (id, link_gen, shipment, added_ms) SELECT id, g, $3, $4 FROM unnest($1::bytea[], $2::bigint[]) AS c(id, g)',
          [s.concentrators.map((c) => buf(c.id)), s.concentrators.map((c) => c.linkGen), buf(s.id), s.importedMs],
        );
        await tx.query(
          'INSERT INTO meters (id, concentrator_id, link_gen, shipment, added_ms, short_addr) SELECT id, c, g, $5, $6, a FROM unnest($1::bytea[], $2::bytea[], $3::bigint[], $4::bigint[]) AS m(id, c, g, a)',
          [
            s.meters.map((m) => buf(m.id)),
            s.meters.map((m) => buf(m.concentratorId)),
            s.meters.map((m) => m.linkGen),
            s.meters.map((m) => m.shortAddr),
            buf(s.id),
            s.importedMs,
          ],
        );
        await tx.query(
          'INSERT INTO keys (owner, kind, scope, gen, state, enc, created_ms, ver) SELECT o, k, sc, g, st, e, c, 0 FROM unnest($1::bytea[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::bytea[], $7::bigint[]) AS x(o, k, sc, g, st, e, c)',
          [
            s.keys.map((k) => buf(k.owner)),
            s.keys.map((k) => k.kind),
            s.keys.map((k) => k.scope),
            s.keys.map((k) => k.gen),
            s.keys.map((k) => k.state),
            s.keys.map((k) => buf(k.enc)),
            s.keys.map((k) => k.createdMs),
          ],
        );
      } catch (e) {
        if ((e as { code?: string }).code === '23505') throw new StaleStoreError('shipment or device already imported');
        throw e;
      }
      tx.append(s.audit);
    }, true);
  }

  // ------------------------------------------------------------------ replay and units of work

  async replayStates(keys: ReplayKey[]): Promise<ReplayState[]> {
    if (keys.length === 0) return [];
    const r = await this.rows<{ i: number; last: number | null; frame: Buffer | null }>(
      `SELECT k.i, r.last, r.frame FROM unnest($1::bytea[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) WITH ORDINALITY AS k(sender, layer, op, dir, gen, i)
       LEFT JOIN replay r USING (sender, layer, op, dir, gen) ORDER BY k.i`,
      [keys.map((k) => buf(k.sender)), keys.map((k) => k.layer), keys.map((k) => k.op), keys.map((k) => k.dir), keys.map((k) => k.gen)],
    );
    return r.map((x) => ({ last: x.last ?? 0, frame: x.frame }));
  }

  async eventStored(meter: Bytes, code: number, t: number, detail: string | null): Promise<boolean> {
    const r = await this.rows(
      'SELECT 1 FROM events WHERE meter_id = $1 AND code = $2 AND t = $3 AND detail IS NOT DISTINCT FROM $4 LIMIT 1',
      [buf(meter), code, t, detail],
    );
    return r.length > 0;
  }

  /** One write inside the open transaction (store.md §4 for the conditions). */
  protected async applyWrite(tx: Tx, w: StoreWrite): Promise<WriteResult> {
    switch (w.kind) {
      case 'audit':
        tx.append([w.entry]);
        return null;
      case 'reading': {
        const r = await tx.query(
          'INSERT INTO readings (meter_id, seq, t, wh, w, counter, gen, via, received_ms) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (seq, meter_id) DO NOTHING',
          [buf(w.meter), w.seq, w.t, w.wh, w.w, w.counter, w.gen, buf(w.via), w.receivedMs],
        );
        return { inserted: r.rowCount === 1 };
      }
      case 'registerRead':
        await tx.query('INSERT INTO register_reads (meter_id, req, t, wh, w, received_ms) VALUES ($1,$2,$3,$4,$5,$6)', [
          buf(w.meter),
          w.req,
          w.t,
          w.wh,
          w.w,
          w.receivedMs,
        ]);
        return null;
      case 'event': {
        // Two nodes storing the same event at once: serialised per (meter, code, t), then checked
        // by a statement whose snapshot is taken after the lock.
        await tx.query("SELECT pg_advisory_xact_lock($1, hashtext(encode($2, 'hex') || ':' || $3::text || ':' || $4::text))", [
          EVENT_LOCK_NS,
          buf(w.meter),
          w.code,
          w.t,
        ]);
        const r = await tx.query(
          'INSERT INTO events (meter_id, code, t, detail, received_ms) SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM events WHERE meter_id = $1 AND code = $2 AND t = $3 AND detail IS NOT DISTINCT FROM $4)',
          [buf(w.meter), w.code, w.t, w.detail, w.receivedMs],
        );
        return { inserted: r.rowCount === 1 };
      }
      case 'meterHealth':
        await tx.query('UPDATE meters SET tag_failures = $1, last_error = $2 WHERE id = $3', [w.tagFailures, w.lastError, buf(w.meter)]);
        return null;
      case 'meterMaxGen':
        await tx.query('UPDATE meters SET max_gen = $1 WHERE id = $2 AND max_gen < $1', [w.maxGen, buf(w.meter)]);
        return null;
      case 'key':
        return this.writeKey(tx, w.row, w.expectVer);
      case 'insertCommand': {
        const c = w.cmd;
        const r = await tx.query<{ id: number }>(
          "INSERT INTO commands (meter_id, kind, op, params, state, actor, created_ms, updated_ms, expires_ms, attempts, next_try_ms) VALUES ($1,$2,$3,$4,'queued',$5,$6,$6,$7,0,0) RETURNING id",
          [buf(c.meterId), c.kind, c.op, c.params, c.actor, c.createdMs, c.expiresMs],
        );
        const id = r.rows[0]!.id;
        tx.append([
          { actor: c.actor, action: 'command.queued', subject: `${hexOf(c.meterId)}#${id}`, detail: c.params, tsMs: c.createdMs },
        ]);
        return { id };
      }
      case 'updateCommand': {
        const r = await tx.query(
          'UPDATE commands SET state = $1, params = $2, attempts = $3, next_try_ms = $4, updated_ms = $5, result = $6, claimed_by = NULL, claim_until = 0 WHERE id = $7 AND state = $8',
          [w.state, w.params, w.attempts, w.nextTryMs, w.updatedMs, w.result, w.id, w.expect],
        );
        if (r.rowCount !== 1) throw new StaleStoreError(`command ${w.id} is no longer ${w.expect}`);
        if (w.audit !== undefined) tx.append([w.audit]);
        return null;
      }
    }
  }

  private async writeKey(tx: Tx, k: Omit<KeyRow, 'ver'>, expectVer: number | undefined): Promise<WriteResult> {
    if (expectVer === undefined) {
      const r = await tx.query(
        'INSERT INTO keys (owner, kind, scope, gen, state, enc, created_ms, ver) VALUES ($1,$2,$3,$4,$5,$6,$7,0) ON CONFLICT DO NOTHING',
        [buf(k.owner), k.kind, k.scope, k.gen, k.state, buf(k.enc), k.createdMs],
      );
      if (r.rowCount !== 1) throw new StaleStoreError(`key row ${k.kind} of ${hexOf(k.owner)} exists`);
      return { ver: 0 };
    }
    const r = await tx.query(
      'UPDATE keys SET state = $1, enc = $2, ver = ver + 1 WHERE owner = $3 AND kind = $4 AND scope = $5 AND gen = $6 AND ver = $7',
      [k.state, buf(k.enc), buf(k.owner), k.kind, k.scope, k.gen, expectVer],
    );
    if (r.rowCount !== 1) throw new StaleStoreError(`${k.kind} key row of ${hexOf(k.owner)} changed (expected version ${expectVer})`);
    return { ver: expectVer + 1 };
  }

  commit(writes: StoreWrite[]): Promise<WriteResult[]> {
    return this.run(async (tx) => {
      const out: WriteResult[] = [];
      for (const w of writes) out.push(await this.applyWrite(tx, w));
      return out;
    }, writes.some(audits));
  }

  async commitIngest(c: IngestCommit): Promise<IngestFrameResult[]> {
    if (c.frames.length === 0 && c.link.length === 0) return [];
    if (readingsOnly(c)) {
      for (let attempt = 1; ; attempt++) {
        try {
          // Named: each pooled connection parses and plans the statement once (planning a statement of
          // this size costs about as much as executing it for a batch of 1 000).
          return await fastIngest(c, (sql, args) =>
            this.pool.query({ name: sql === FAST_SQL ? 'vakt_fast_ingest' : undefined, text: sql, values: args }),
          );
        } catch (e) {
          // A deadlock with another node's batch: PostgreSQL rolled this one back; run it again.
          if (isRetryable(e) && attempt < MAX_ATTEMPTS) continue;
          // A reading the statement refused (a value out of range): redo with one savepoint per frame.
          if (!isDataError(e)) throw mapFault(e);
          break;
        }
      }
      return this.run((tx) => generalIngest(tx, c, (t, w) => this.applyWrite(t, w), true));
    }
    const audit = c.frames.some((f) => f.writes.some(audits));
    try {
      return await this.run((tx) => generalIngest(tx, c, (t, w) => this.applyWrite(t, w), false), audit);
    } catch (e) {
      if (!isDataError(e)) throw e;
    }
    return this.run((tx) => generalIngest(tx, c, (t, w) => this.applyWrite(t, w), true), audit);
  }

  // ------------------------------------------------------------------ sending counters

  /**
   * One statement: the row is created or raised under its row lock, and `prev` returns the limit it
   * replaced, so the range [max(prev, 1), lim) is this caller's alone — across nodes, restarts and
   * SIGKILL (a range whose frames were never sent is simply wasted). Never lowered (trigger).
   */
  async reserveSendRange(key: SendKey, n: number, limitMax: number): Promise<SendRange> {
    const r = await this.rows<{ prev: number; lim: number }>(
      `INSERT INTO send_ctr AS s (receiver, layer, op, gen, lim, prev) VALUES ($1, $2, $3, $4, GREATEST(LEAST(1 + $5::bigint, $6::bigint), 1), 0)
       ON CONFLICT (receiver, layer, op, gen) DO UPDATE SET prev = s.lim, lim = GREATEST(LEAST(GREATEST(s.lim, 1) + $5::bigint, $6::bigint), s.lim)
       RETURNING prev, lim`,
      [buf(key.receiver), key.layer, key.op, key.gen, n, limitMax],
    );
    const lo = Math.max(r[0]!.prev, 1);
    return { lo, hi: Math.max(r[0]!.lim, lo) };
  }

  async sendLimit(key: SendKey): Promise<number> {
    const r = await this.rows<{ lim: number }>('SELECT lim FROM send_ctr WHERE receiver = $1 AND layer = $2 AND op = $3 AND gen = $4', [
      buf(key.receiver),
      key.layer,
      key.op,
      key.gen,
    ]);
    return r[0]?.lim ?? 0;
  }

  // ------------------------------------------------------------------ commands and firmware

  async command(id: number): Promise<CommandRow | undefined> {
    return (await this.rows<CommandRow>(`SELECT ${COMMAND_COLUMNS} FROM commands WHERE id = $1`, [id]))[0];
  }

  async openKeyUpdateCommand(meter: Bytes): Promise<CommandRow | undefined> {
    return (
      await this.rows<CommandRow>(
        `SELECT ${COMMAND_COLUMNS} FROM commands WHERE meter_id = $1 AND kind = 'key_update' AND state IN ('queued','sent') ORDER BY id DESC LIMIT 1`,
        [buf(meter)],
      )
    )[0];
  }

  async lastKeyUpdateCommandId(meter: Bytes): Promise<number | undefined> {
    return (
      await this.rows<{ id: number }>("SELECT id FROM commands WHERE meter_id = $1 AND kind = 'key_update' ORDER BY id DESC LIMIT 1", [
        buf(meter),
      ])
    )[0]?.id;
  }

  async lastCompletedKeyUpdateMs(meter: Bytes): Promise<number | null> {
    return (
      await this.rows<{ m: number | null }>(
        "SELECT max(created_ms) AS m FROM commands WHERE meter_id = $1 AND kind = 'key_update' AND state = 'acknowledged'",
        [buf(meter)],
      )
    )[0]!.m;
  }

  /**
   * One statement: the due, unclaimed (or lapsed, or own) open commands of the concentrator's meters
   * are locked FOR UPDATE SKIP LOCKED — a row another node is claiming right now is skipped, not
   * waited for — and stamped with this node and the lease end. A node that dies holding claims
   * loses them at claim_until.
   */
  async claimCommands(concentrator: Bytes, nowMs: number, max: number, leaseMs: number): Promise<CommandRow[]> {
    const r = await this.rows<CommandRow>(
      `WITH due AS (
         SELECT id FROM commands
         WHERE state IN ('queued','sent') AND meter_id IN (SELECT id FROM meters WHERE concentrator_id = $1)
           AND (state = 'queued' OR next_try_ms <= $2 OR expires_ms <= $2)
           AND (claimed_by IS NULL OR claimed_by = $3 OR claim_until <= $2)
         ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED)
       UPDATE commands c SET claimed_by = $3, claim_until = $2::bigint + $5::bigint FROM due WHERE c.id = due.id
       RETURNING ${COMMAND_COLUMNS.replace(/(^|, )([a-z_]+)/g, '$1c.$2')}`,
      [buf(concentrator), nowMs, this.node, max, leaseMs],
    );
    return r.sort((a, b) => a.id - b.id);
  }

  listCommands(f: CommandFilter): Promise<CommandRow[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (f.meter !== undefined) {
      args.push(buf(f.meter));
      where.push(`meter_id = $${args.length}`);
    }
    if (f.state !== undefined) {
      args.push(f.state);
      where.push(`state = $${args.length}`);
    }
    args.push(f.limit);
    return this.rows<CommandRow>(
      `SELECT ${COMMAND_COLUMNS} FROM commands ${where.length > 0 ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT $${args.length}`,
      args,
    );
  }

  async firmwareImage(sha256: Bytes): Promise<{ version: number; data: Bytes } | undefined> {
    return (
      await this.rows<{ version: number; data: Buffer }>('SELECT version, data FROM firmware_images WHERE sha256 = $1', [buf(sha256)])
    )[0];
  }

  addFirmwareImage(sha256: Bytes, version: number, data: Bytes, addedMs: number, audit: AuditAppend[]): Promise<void> {
    return this.run(async (tx) => {
      await tx.query('INSERT INTO firmware_images (sha256, version, data, added_ms) VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING', [
        buf(sha256),
        version,
        buf(data),
        addedMs,
      ]);
      tx.append(audit);
    }, audit.length > 0);
  }

  firmwareImages(): Promise<{ sha256: Bytes; version: number; size: number; addedMs: number }[]> {
    return this.rows('SELECT sha256, version, length(data) AS size, added_ms AS "addedMs" FROM firmware_images ORDER BY added_ms');
  }
}
