// SQLite store, part 2: devices and key rows, shipments, replay state, the units of work
// (commitIngest, commit), sending-counter ranges, the command queue and firmware images.
import { SqliteBase, mapFault } from './base.ts';
import { StaleStoreError } from '../types.ts';
import type {
  AuditAppend,
  Bytes,
  CommandFilter,
  CommandRow,
  DeviceSnapshot,
  IngestCommit,
  IngestFrame,
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

/** The conditional counter advance of one frame (store.md §2): wins only above the stored counter. */
const ADVANCE_SQL =
  'INSERT INTO replay (sender, layer, op, dir, gen, last, frame) VALUES (?,?,?,?,?,?,?) ON CONFLICT (sender, layer, op, dir, gen) DO UPDATE SET last = excluded.last, frame = excluded.frame WHERE excluded.last > replay.last';
const REPLAY_GET_SQL = 'SELECT last, frame FROM replay WHERE sender = ? AND layer = ? AND op = ? AND dir = ? AND gen = ?';

const COMMAND_COLUMNS =
  'id, meter_id AS meterId, kind, op, params, state, actor, created_ms AS createdMs, updated_ms AS updatedMs, expires_ms AS expiresMs, attempts, next_try_ms AS nextTryMs, result';

function hexOf(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}

export class SqliteCore extends SqliteBase {
  // ------------------------------------------------------------------ devices, keys, shipments

  loadDevices(): Promise<DeviceSnapshot> {
    return this.read(() =>
      this.db.transaction(() => ({
        concentrators: this.db.prepare('SELECT id, link_gen AS linkGen FROM concentrators').all() as DeviceSnapshot['concentrators'],
        meters: this.db
          .prepare(
            'SELECT id, concentrator_id AS concentratorId, link_gen AS linkGen, short_addr AS shortAddr, tag_failures AS tagFailures, max_gen AS maxGen FROM meters',
          )
          .all() as DeviceSnapshot['meters'],
        keys: this.db
          .prepare("SELECT owner, kind, scope, gen, state, enc, created_ms AS createdMs, ver FROM keys WHERE state = 'active'")
          .all() as KeyRow[],
        progress: this.progress(),
      }))(),
    );
  }

  private progress(): ReadingProgress[] {
    // Contiguous prefix per meter: the smallest stored interval whose successor is missing, when 1 is stored.
    const contig = new Map<string, number>();
    for (const r of this.db
      .prepare(
        'SELECT meter_id, min(seq) AS s FROM readings r WHERE NOT EXISTS (SELECT 1 FROM readings q WHERE q.meter_id = r.meter_id AND q.seq = r.seq + 1) ' +
          'AND EXISTS (SELECT 1 FROM readings o WHERE o.meter_id = r.meter_id AND o.seq = 1) GROUP BY meter_id',
      )
      .all() as { meter_id: Buffer; s: number }[]) {
      contig.set(hexOf(r.meter_id), r.s);
    }
    const out: ReadingProgress[] = [];
    const above = this.db.prepare('SELECT seq FROM readings WHERE meter_id = ? AND seq > ?').pluck();
    for (const r of this.db.prepare('SELECT meter_id, max(seq) AS s FROM readings GROUP BY meter_id').all() as {
      meter_id: Buffer;
      s: number;
    }[]) {
      const c = contig.get(hexOf(r.meter_id)) ?? 0;
      out.push({ meter: r.meter_id, maxSeq: r.s, contig: c, above: r.s > c ? (above.all(r.meter_id, c + 1) as number[]) : [] });
    }
    return out;
  }

  pinnedKpeKeys(): Promise<Bytes[]> {
    return this.read(() => this.stmt('SELECT pub FROM kpe_keys').pluck().all() as Bytes[]);
  }

  pinKpeKey(pub: Bytes, addedMs: number, audit: AuditAppend[]): Promise<void> {
    return this.write(() => {
      this.stmt('INSERT OR IGNORE INTO kpe_keys (pub, added_ms) VALUES (?, ?)').run(pub, addedMs);
      this.appendNow(audit);
    });
  }

  shipmentSeen(id: Bytes, kpePub: Bytes): Promise<{ seen: boolean; lastSeq: number | null }> {
    return this.read(() => ({
      seen: this.stmt('SELECT 1 FROM shipments WHERE id = ?').get(id) !== undefined,
      lastSeq: (this.stmt('SELECT max(seq) AS s FROM shipments WHERE kpe_pub = ?').get(kpePub) as { s: number | null }).s,
    }));
  }

  provisioned(ids: Bytes[]): Promise<Bytes[]> {
    return this.read(() => {
      const q = this.stmt('SELECT 1 FROM meters WHERE id = ? UNION ALL SELECT 1 FROM concentrators WHERE id = ?');
      return ids.filter((id) => q.get(id, id) !== undefined);
    });
  }

  importShipment(s: ShipmentImport): Promise<void> {
    return this.write(() =>
      this.unique(() => {
        this.stmt('INSERT INTO shipments (id, kpe_pub, seq, created_ms, imported_ms, meters, concentrators) VALUES (?,?,?,?,?,?,?)').run(
          s.id,
          s.kpePub,
          s.seq,
          s.createdMs,
          s.importedMs,
          s.meters.length,
          s.concentrators.length,
        );
        const ic = this.stmt('INSERT INTO concentrators (id, link_gen, shipment, added_ms) VALUES (?,?,?,?)');
        for (const c of s.concentrators) ic.run(c.id, c.linkGen, s.id, s.importedMs);
        const im = this.stmt('INSERT INTO meters (id, concentrator_id, link_gen, shipment, added_ms, short_addr) VALUES (?,?,?,?,?,?)');
        for (const m of s.meters) im.run(m.id, m.concentratorId, m.linkGen, s.id, s.importedMs, m.shortAddr);
        for (const k of s.keys) this.applyWrite({ kind: 'key', row: k });
        this.appendNow(s.audit);
      }, 'shipment or device already imported'),
    );
  }

  // ------------------------------------------------------------------ replay and units of work

  replayStates(keys: ReplayKey[]): Promise<ReplayState[]> {
    return this.read(() => {
      const q = this.stmt(REPLAY_GET_SQL);
      return keys.map((k) => (q.get(k.sender, k.layer, k.op, k.dir, k.gen) as ReplayState | undefined) ?? { last: 0, frame: null });
    });
  }

  eventStored(meter: Bytes, code: number, t: number, detail: string | null): Promise<boolean> {
    return this.read(() => this.eventSeen(meter, code, t, detail));
  }

  private eventSeen(meter: Bytes, code: number, t: number, detail: string | null): boolean {
    return (
      this.stmt('SELECT 1 FROM events WHERE meter_id = ? AND code = ? AND t = ? AND detail IS ? LIMIT 1').get(meter, code, t, detail) !==
      undefined
    );
  }

  /** One write inside the open transaction (store.md §4 for the conditions). */
  protected applyWrite(w: StoreWrite): WriteResult {
    switch (w.kind) {
      case 'audit':
        this.appendNow([w.entry]);
        return null;
      case 'reading':
        return {
          inserted:
            this.stmt(
              'INSERT OR IGNORE INTO readings (meter_id, seq, t, wh, w, counter, gen, via, received_ms) VALUES (?,?,?,?,?,?,?,?,?)',
            ).run(w.meter, w.seq, w.t, w.wh, w.w, w.counter, w.gen, w.via, w.receivedMs).changes === 1,
        };
      case 'registerRead':
        this.stmt('INSERT INTO register_reads (meter_id, req, t, wh, w, received_ms) VALUES (?,?,?,?,?,?)').run(
          w.meter,
          w.req,
          w.t,
          w.wh,
          w.w,
          w.receivedMs,
        );
        return null;
      case 'event':
        if (this.eventSeen(w.meter, w.code, w.t, w.detail)) return { inserted: false };
        this.stmt('INSERT INTO events (meter_id, code, t, detail, received_ms) VALUES (?,?,?,?,?)').run(
          w.meter,
          w.code,
          w.t,
          w.detail,
          w.receivedMs,
        );
        return { inserted: true };
      case 'meterHealth':
        this.stmt('UPDATE meters SET tag_failures = ?, last_error = ? WHERE id = ?').run(w.tagFailures, w.lastError, w.meter);
        return null;
      case 'meterMaxGen':
        this.stmt('UPDATE meters SET max_gen = ? WHERE id = ? AND max_gen < ?').run(w.maxGen, w.meter, w.maxGen);
        return null;
      case 'key':
        return this.writeKey(w.row, w.expectVer);
      case 'insertCommand': {
        const c = w.cmd;
        const id = Number(
          this.stmt(
            "INSERT INTO commands (meter_id, kind, op, params, state, actor, created_ms, updated_ms, expires_ms, attempts, next_try_ms) VALUES (?,?,?,?,'queued',?,?,?,?,0,0)",
          ).run(c.meterId, c.kind, c.op, c.params, c.actor, c.createdMs, c.createdMs, c.expiresMs).lastInsertRowid,
        );
        this.appendNow([
          { actor: c.actor, action: 'command.queued', subject: `${hexOf(c.meterId)}#${id}`, detail: c.params, tsMs: c.createdMs },
        ]);
        return { id };
      }
      case 'updateCommand': {
        const n = this.stmt(
          'UPDATE commands SET state = ?, params = ?, attempts = ?, next_try_ms = ?, updated_ms = ?, result = ?, claimed_by = NULL, claim_until = 0 WHERE id = ? AND state = ?',
        ).run(w.state, w.params, w.attempts, w.nextTryMs, w.updatedMs, w.result, w.id, w.expect).changes;
        if (n !== 1) throw new StaleStoreError(`command ${w.id} is no longer ${w.expect}`);
        if (w.audit !== undefined) this.appendNow([w.audit]);
        return null;
      }
    }
  }

  private writeKey(k: Omit<KeyRow, 'ver'>, expectVer: number | undefined): WriteResult {
    if (expectVer === undefined) {
      this.unique(
        () =>
          this.stmt('INSERT INTO keys (owner, kind, scope, gen, state, enc, created_ms, ver) VALUES (?,?,?,?,?,?,?,0)').run(
            k.owner,
            k.kind,
            k.scope,
            k.gen,
            k.state,
            k.enc,
            k.createdMs,
          ),
        `key row ${k.kind} of ${hexOf(k.owner)} exists`,
      );
      return { ver: 0 };
    }
    const n = this.stmt(
      'UPDATE keys SET state = ?, enc = ?, ver = ver + 1 WHERE owner = ? AND kind = ? AND scope = ? AND gen = ? AND ver = ?',
    ).run(k.state, k.enc, k.owner, k.kind, k.scope, k.gen, expectVer).changes;
    if (n !== 1) throw new StaleStoreError(`${k.kind} key row of ${hexOf(k.owner)} changed (expected version ${expectVer})`);
    return { ver: expectVer + 1 };
  }

  commit(writes: StoreWrite[]): Promise<WriteResult[]> {
    return this.write(() => writes.map((w) => this.applyWrite(w)));
  }

  /**
   * First the whole batch without per-frame savepoints (the common case: no frame violates a
   * constraint); only if one does is the batch rolled back and applied again with a savepoint per
   * frame, so that the violation costs that frame alone.
   */
  commitIngest(c: IngestCommit): Promise<IngestFrameResult[]> {
    try {
      return Promise.resolve(this.db.transaction(() => this.applyIngest(c, false)).immediate());
    } catch (e) {
      if (e instanceof StaleStoreError || !this.isConstraint(e)) return Promise.reject(e instanceof StaleStoreError ? e : mapFault(e));
    }
    return this.write(() => this.applyIngest(c, true));
  }

  private applyIngest(c: IngestCommit, isolate: boolean): IngestFrameResult[] {
    const link = this.stmt(
      'INSERT INTO replay (sender, layer, op, dir, gen, last) VALUES (?,?,?,?,?,?) ON CONFLICT (sender, layer, op, dir, gen) DO UPDATE SET last = excluded.last WHERE excluded.last > replay.last',
    );
    for (const a of c.link) link.run(a.sender, a.layer, a.op, a.dir, a.gen, a.last);
    const out: IngestFrameResult[] = [];
    for (const f of c.frames) {
      if (!isolate || f.writes.length === 0) {
        out.push(this.applyFrame(f));
        continue;
      }
      try {
        out.push(this.db.transaction(() => this.applyFrame(f))());
      } catch (e) {
        if (e instanceof StaleStoreError || !this.isConstraint(e)) throw e;
        out.push({ won: false, fault: (e as Error).message });
      }
    }
    return out;
  }

  /** One frame: its conditional counter advance, then (if it won) its writes. */
  private applyFrame(f: IngestFrame): IngestFrameResult {
    const a = f.advance;
    if (a !== null && this.stmt(ADVANCE_SQL).run(a.sender, a.layer, a.op, a.dir, a.gen, a.last, a.frame).changes !== 1) {
      return { won: false, current: this.stmt(REPLAY_GET_SQL).get(a.sender, a.layer, a.op, a.dir, a.gen) as ReplayState };
    }
    const results: WriteResult[] = new Array(f.writes.length);
    for (let i = 0; i < f.writes.length; i++) results[i] = this.applyWrite(f.writes[i]!);
    return { won: true, results };
  }

  private isConstraint(e: unknown): boolean {
    return e instanceof Error && 'code' in e && typeof e.code === 'string' && e.code.startsWith('SQLITE_CONSTRAINT');
  }

  // ------------------------------------------------------------------ sending counters

  reserveSendRange(key: SendKey, n: number, limitMax: number): Promise<SendRange> {
    return this.write(() => {
      const lo = Math.max(this.limitNow(key), 1);
      const hi = Math.min(lo + n, limitMax);
      if (hi <= lo) return { lo, hi: lo };
      this.stmt(
        'INSERT INTO send_ctr (receiver, layer, op, gen, lim) VALUES (?,?,?,?,?) ON CONFLICT (receiver, layer, op, gen) DO UPDATE SET lim = excluded.lim',
      ).run(key.receiver, key.layer, key.op, key.gen, hi);
      return { lo, hi };
    });
  }

  private limitNow(k: SendKey): number {
    return (
      (this.stmt('SELECT lim FROM send_ctr WHERE receiver = ? AND layer = ? AND op = ? AND gen = ?')
        .pluck()
        .get(k.receiver, k.layer, k.op, k.gen) as number | undefined) ?? 0
    );
  }

  sendLimit(key: SendKey): Promise<number> {
    return this.read(() => this.limitNow(key));
  }

  // ------------------------------------------------------------------ commands and firmware

  command(id: number): Promise<CommandRow | undefined> {
    return this.read(() => this.stmt(`SELECT ${COMMAND_COLUMNS} FROM commands WHERE id = ?`).get(id) as CommandRow | undefined);
  }

  openKeyUpdateCommand(meter: Bytes): Promise<CommandRow | undefined> {
    return this.read(
      () =>
        this.stmt(
          `SELECT ${COMMAND_COLUMNS} FROM commands WHERE meter_id = ? AND kind = 'key_update' AND state IN ('queued','sent') ORDER BY id DESC LIMIT 1`,
        ).get(meter) as CommandRow | undefined,
    );
  }

  lastKeyUpdateCommandId(meter: Bytes): Promise<number | undefined> {
    return this.read(
      () =>
        this.stmt("SELECT id FROM commands WHERE meter_id = ? AND kind = 'key_update' ORDER BY id DESC LIMIT 1").pluck().get(meter) as
          number | undefined,
    );
  }

  lastCompletedKeyUpdateMs(meter: Bytes): Promise<number | null> {
    return this.read(
      () =>
        this.stmt("SELECT max(created_ms) FROM commands WHERE meter_id = ? AND kind = 'key_update' AND state = 'acknowledged'")
          .pluck()
          .get(meter) as number | null,
    );
  }

  claimCommands(concentrator: Bytes, nowMs: number, max: number, leaseMs: number): Promise<CommandRow[]> {
    return this.write(() => {
      const rows = this.stmt(
        `SELECT ${COMMAND_COLUMNS} FROM commands WHERE state IN ('queued','sent') AND meter_id IN (SELECT id FROM meters WHERE concentrator_id = ?) ` +
          "AND (state = 'queued' OR next_try_ms <= ? OR expires_ms <= ?) AND (claimed_by IS NULL OR claimed_by = ? OR claim_until <= ?) ORDER BY id LIMIT ?",
      ).all(concentrator, nowMs, nowMs, this.node, nowMs, max) as CommandRow[];
      const claim = this.stmt('UPDATE commands SET claimed_by = ?, claim_until = ? WHERE id = ?');
      for (const r of rows) claim.run(this.node, nowMs + leaseMs, r.id);
      return rows;
    });
  }

  listCommands(f: CommandFilter): Promise<CommandRow[]> {
    return this.read(() => {
      const where: string[] = [];
      const args: unknown[] = [];
      if (f.meter !== undefined) {
        where.push('meter_id = ?');
        args.push(f.meter);
      }
      if (f.state !== undefined) {
        where.push('state = ?');
        args.push(f.state);
      }
      const sql = `SELECT ${COMMAND_COLUMNS} FROM commands ${where.length > 0 ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ?`;
      return this.db.prepare(sql).all(...args, f.limit) as CommandRow[];
    });
  }

  firmwareImage(sha256: Bytes): Promise<{ version: number; data: Bytes } | undefined> {
    return this.read(
      () =>
        this.stmt('SELECT version, data FROM firmware_images WHERE sha256 = ?').get(sha256) as { version: number; data: Bytes } | undefined,
    );
  }

  addFirmwareImage(sha256: Bytes, version: number, data: Bytes, addedMs: number, audit: AuditAppend[]): Promise<void> {
    return this.write(() => {
      this.stmt('INSERT OR IGNORE INTO firmware_images (sha256, version, data, added_ms) VALUES (?,?,?,?)').run(
        sha256,
        version,
        data,
        addedMs,
      );
      this.appendNow(audit);
    });
  }

  firmwareImages(): Promise<{ sha256: Bytes; version: number; size: number; addedMs: number }[]> {
    return this.read(
      () =>
        this.stmt('SELECT sha256, version, length(data) AS size, added_ms AS addedMs FROM firmware_images ORDER BY added_ms').all() as {
          sha256: Bytes;
          version: number;
          size: number;
          addedMs: number;
        }[],
    );
  }
}
