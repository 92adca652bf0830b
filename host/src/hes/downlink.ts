// HES downlink: the frames a concentrator gets — JOINs (its meters' link keys), due commands claimed
// from the shared queue (first send, retry, expiry), ACTIVATE repeats, reading ACKs — and LINK_ACKs
// for settled uplink. Every counter comes from a range reserved in the store first; command state
// changes commit (conditionally) before the frames are returned, so a frame is never sent twice
// under one counter and a command is sent by one node.
import {
  writeKeyUpdate,
  errorName,
  sendGen,
  KX_NONE,
  KX_STAGED,
  KX_CONFIRMED,
  LINK_DATA,
  LINK_JOIN,
  LINK_ACK,
  MAX_BODY,
  MAX_LINK_FRAME,
  OP_READING,
  OP_ACK,
  OP_KEY_UPDATE,
  OP_FIRMWARE,
  ERR_COUNTER_EXHAUSTED,
} from '@vakt/shared';
import type { KeySlot } from '@vakt/shared';
import { cborEncode } from '../crypto/cbor.ts';
import type { CborValue } from '../crypto/cbor.ts';
import { fromHex, plain, toHex } from '../crypto/bytes.ts';
import { KIND_INFO, canTransition, simpleBody, FW_BEGIN, FW_CHUNK, FW_ACTIVATE, FW_CHUNK_LEN, firmwareImageMac } from './commands.ts';
import type { CommandParams } from './commands.ts';
import { SealError } from './isolation.ts';
import { CommandRows } from './commandrows.ts';
import type { KeyUpdate } from './keyupdate.ts';
import { DEFAULT_EXPIRY_MS, HesError, ID_LEN, KEY_LEN, MAX_ATTEMPTS, MAX_KEY_GEN, SYSTEM_ACTOR, opName } from './constants.ts';
import type { ConcState, HesCore, MeterState } from './state.ts';
import { StaleStoreError, StoreFaultError } from './store/types.ts';
import type { CommandRow } from './store/types.ts';

/** KEY_UPDATE body kinds the HES sends (PROTOCOL.md §8). */
const KU_TRANSPORT = 1;
const KU_ACTIVATE = 3;
/** Largest KEY_UPDATE body. */
const KU_BODY_MAX = 64;

export class Downlink {
  private readonly sealBuf = new Uint8Array(MAX_LINK_FRAME);
  private readonly e2eBuf = new Uint8Array(MAX_BODY);
  /** Set when a frame of the running pump faulted: in-memory state is reloaded after the commit. */
  private faulted = false;

  constructor(
    private readonly core: HesCore,
    private readonly rows: CommandRows,
    private readonly keys: KeyUpdate,
  ) {}

  /** Marks the concentrator as (re)connected: its meters' link keys are sent again (JOIN). */
  connected(concentratorId: string): void {
    this.core.concs.get(concentratorId.toLowerCase())?.joined.clear();
  }

  /** Link frames to send to one concentrator now (see Hes.nextDownlink). */
  next(concentratorId: string, nowMs: number, max: number): Promise<Uint8Array[]> {
    return this.core.serial(async () => {
      await this.core.sync();
      const c = this.core.concs.get(concentratorId.toLowerCase());
      if (c === undefined) return [];
      const out: Uint8Array[] = [];
      const joined: string[] = [];
      this.core.unit = [];
      try {
        await this.pump(c, out, joined, nowMs, max);
        const unit = this.core.unit;
        this.core.unit = null;
        if (unit.length > 0) await this.core.store.commit(unit);
        for (const mh of joined) c.joined.add(mh);
        if (this.faulted) await this.core.reload();
        return out;
      } catch (e) {
        // Nothing was committed: in-memory marks (ACKs due, key state) are rebuilt from the store.
        await this.core.reload();
        if (e instanceof StaleStoreError) return [];
        throw e;
      } finally {
        this.core.unit = null;
        this.faulted = false;
      }
    });
  }

  private async pump(c: ConcState, out: Uint8Array[], joined: string[], nowMs: number, max: number): Promise<void> {
    for (const mh of c.meters) {
      if (out.length >= max) break;
      if (c.joined.has(mh)) continue;
      const m = this.core.meters.get(mh)!;
      out.push(await this.sealLink(c, LINK_JOIN, cborEncode([m.id, m.linkKey, m.linkGen, m.shortAddr])));
      joined.push(mh);
    }
    const due = out.length < max ? await this.core.store.claimCommands(c.id, nowMs, max - out.length, this.core.config.retryMs) : [];
    const byMeter = new Map<string, CommandRow[]>();
    for (const r of due) {
      const h = toHex(r.meterId);
      const rows = byMeter.get(h);
      if (rows === undefined) byMeter.set(h, [r]);
      else rows.push(r);
    }
    for (const mh of c.meters) {
      if (out.length >= max) break;
      const m = this.core.meters.get(mh)!;
      for (const row of byMeter.get(mh) ?? []) {
        if (out.length >= max) break;
        const f = await this.guarded(m, KIND_INFO[row.kind].op, nowMs, () => this.commandFrame(c, m, row, nowMs), row);
        if (f !== null) out.push(f);
      }
      if (m.ring.xState === KX_CONFIRMED && m.activateNextMs <= nowMs && out.length < max) {
        const id = (await this.core.store.lastKeyUpdateCommandId(m.id)) ?? 0;
        const f = await this.guarded(m, OP_KEY_UPDATE, nowMs, () => this.keyUpdateFrame(c, m, id, KU_ACTIVATE, m.ring.xScope, m.ring.xGen));
        if (f !== null) out.push(f);
        m.activateNextMs = nowMs + this.core.config.retryMs;
      }
      if (m.ackDue > 0 && out.length < max) {
        const f = await this.guarded(m, OP_ACK, nowMs, () => this.e2eFrame(c, m, OP_ACK, cborEncode([0, OP_READING, m.ackDue])));
        if (f !== null) out.push(f);
        m.ackDue = 0;
      }
    }
  }

  /**
   * Builds one downlink frame of meter m; a fault costs only that frame (its writes are dropped from
   * the unit): a key whose counter ran out starts its key update (once) and its frames wait for the
   * new key; any other fault fails the command, audited. Other meters' frames are untouched. A
   * concentrator's own link key running out still fails that concentrator's pump (its own traffic only).
   */
  private async guarded(
    m: MeterState,
    op: number,
    nowMs: number,
    make: () => Promise<Uint8Array | null>,
    row?: CommandRow,
  ): Promise<Uint8Array | null> {
    if (this.core.exhausted.has(`${m.hex}/${op}/${sendGen(m.ring, op)}`)) return null;
    const unit = this.core.unit!;
    const mark = unit.length;
    try {
      return await make();
    } catch (e) {
      if (e instanceof StaleStoreError || e instanceof StoreFaultError || (e instanceof SealError && e.meter === undefined)) throw e;
      unit.length = mark;
      this.faulted = true;
      this.frameFault(m, op, nowMs, e, row);
      return null;
    }
  }

  private frameFault(m: MeterState, op: number, nowMs: number, e: unknown, row: CommandRow | undefined): void {
    const unit = this.core.unit!;
    const isolated = (fn: () => void) => {
      const mark = unit.length;
      try {
        fn();
      } catch {
        unit.length = mark;
      }
    };
    if (e instanceof SealError && e.code === ERR_COUNTER_EXHAUSTED) {
      const gen = sendGen(m.ring, op);
      this.core.exhausted.add(`${m.hex}/${op}/${gen}`);
      const canUpdate = op !== OP_KEY_UPDATE && m.ring.xState === KX_NONE && m.maxGen < MAX_KEY_GEN;
      const action = canUpdate
        ? `key update of ${opName(op)} queued`
        : op === OP_KEY_UPDATE
          ? 'the KEY_UPDATE key itself: re-provision the meter'
          : 'a key update is already under way';
      this.core.auditInUnit({
        actor: SYSTEM_ACTOR,
        action: 'key.exhausted',
        subject: m.hex,
        detail: { op: opName(op), gen, action },
        tsMs: nowMs,
      });
      if (canUpdate) isolated(() => this.keys.begin(SYSTEM_ACTOR, m, op, nowMs, DEFAULT_EXPIRY_MS));
      return;
    }
    const msg = (e instanceof Error ? e.message : String(e)).slice(0, 200);
    this.core.auditInUnit({
      actor: SYSTEM_ACTOR,
      action: 'downlink.fault',
      subject: m.hex,
      detail: { op: opName(op), command: row?.id ?? null, error: msg },
      tsMs: nowMs,
    });
    if (row !== undefined && canTransition(row.state, 'failed')) isolated(() => this.rows.end(row, 'failed', nowMs, { error: msg }));
  }

  /**
   * LINK_ACK frames [counter] for link frames of one concentrator that ingest settled; call only
   * after the batch committed (ingestBatch returned).
   */
  linkAcks(concentratorId: string, counters: number[]): Promise<Uint8Array[]> {
    return this.core.serial(async () => {
      const c = this.core.concs.get(concentratorId.toLowerCase());
      if (c === undefined || counters.length === 0) return [];
      const out: Uint8Array[] = [];
      for (let i = 0; i < counters.length; i++) out.push(await this.sealLink(c, LINK_ACK, cborEncode([counters[i]!]), counters.length - i));
      return out;
    });
  }

  private async sealLink(c: ConcState, type: number, body: Uint8Array, need = 1): Promise<Uint8Array> {
    const n = await this.core.seal(this.core.linkDown(c), type, body, this.sealBuf, 0, need);
    if (n < 0) throw new SealError(n, `link frame for ${c.hex} (${errorName(n)})`);
    return this.sealBuf.slice(0, n);
  }

  private async e2eFrame(c: ConcState, m: MeterState, op: number, body: Uint8Array, slot?: KeySlot): Promise<Uint8Array> {
    const s = slot ?? this.core.sendSlot(m, op);
    // Backhaul DATA body: meter id ‖ end-to-end frame (PROTOCOL.md §7).
    const tmp = this.e2eBuf;
    tmp.set(m.id, 0);
    const n = await this.core.seal(s, op, body, tmp, ID_LEN);
    if (n < 0) throw new SealError(n, `${opName(op)} for meter ${m.hex} (${errorName(n)})`, m.hex, op);
    return this.sealLink(c, LINK_DATA, tmp.slice(0, ID_LEN + n));
  }

  private async keyUpdateFrame(c: ConcState, m: MeterState, req: number, kind: number, scope: number, gen: number): Promise<Uint8Array> {
    const b = new Uint8Array(KU_BODY_MAX);
    const n = writeKeyUpdate(b, 0, req, kind, scope, gen, kind === KU_TRANSPORT ? m.ring.xKey : null, 0);
    if (n < 0) throw new HesError(`cannot encode key update body: ${errorName(n)}`);
    try {
      return await this.e2eFrame(c, m, OP_KEY_UPDATE, b.subarray(0, n));
    } finally {
      b.fill(0);
    }
  }

  private async commandFrame(c: ConcState, m: MeterState, row: CommandRow, nowMs: number): Promise<Uint8Array | null> {
    const p = JSON.parse(row.params) as CommandParams;
    if (row.expiresMs <= nowMs) {
      this.rows.end(row, 'expired', nowMs, { attempts: row.attempts });
      return null;
    }
    if (row.state === 'sent' && row.nextTryMs > nowMs) return null;
    if (row.state === 'sent' && row.attempts >= MAX_ATTEMPTS && p.kind !== 'key_update') {
      this.rows.end(row, 'failed', nowMs, { error: `no answer after ${row.attempts} attempts` });
      return null;
    }
    if (p.kind === 'key_update') {
      if (m.ring.xState !== KX_STAGED) return null;
      const f = await this.keyUpdateFrame(c, m, row.id, KU_TRANSPORT, m.ring.xScope, m.ring.xGen);
      this.rows.set(row, 'sent', p, nowMs, undefined, nowMs + this.core.config.retryMs, row.attempts + 1);
      return f;
    }
    const body = p.kind === 'firmware' ? await this.firmwareBody(m, row, p, nowMs) : simpleBody(row.id, p, Math.floor(nowMs / 1000));
    if (body === null) return null;
    const f = await this.e2eFrame(c, m, KIND_INFO[p.kind].op, cborEncode(body));
    this.rows.set(row, 'sent', p, nowMs, undefined, nowMs + this.core.config.retryMs, row.attempts + 1);
    return f;
  }

  private async firmwareBody(
    m: MeterState,
    row: CommandRow,
    p: CommandParams & { kind: 'firmware' },
    nowMs: number,
  ): Promise<CborValue | null> {
    const img = await this.core.store.firmwareImage(fromHex(p.sha256));
    if (img === undefined) {
      this.rows.end(row, 'failed', nowMs, { error: 'firmware image missing' });
      return null;
    }
    // The image MAC is bound to the FIRMWARE key generation of BEGIN: after a key update the
    // meter would refuse ACTIVATE, so the download begins again under the new generation (PROTOCOL.md §10).
    const g = sendGen(m.ring, OP_FIRMWARE);
    if (p.phase !== undefined && p.phase !== 'begin' && p.gen !== g) {
      p.phase = 'begin';
      delete p.offset;
    }
    const phase = p.phase ?? 'begin';
    if (phase === 'begin') {
      p.gen = g;
      return [row.id, FW_BEGIN, p.size, firmwareImageMac(this.core.ctx, m.ring.roots, OP_FIRMWARE * KEY_LEN, m.id, g, img.data), p.version];
    }
    if (phase === 'chunk') {
      const off = p.offset ?? 0;
      return [row.id, FW_CHUNK, off, plain(img.data.subarray(off, Math.min(off + FW_CHUNK_LEN, p.size)))];
    }
    return [row.id, FW_ACTIVATE];
  }
}
