// Key update on the HES side (PROTOCOL.md §8): begin (fresh key and generation, persisted as the
// meter's ring row and a key_update command row before any TRANSPORT), CONFIRM under KC, ACTIVATE
// and the first uplink under the new generation. Every phase lives in store rows (the ring key row
// with its pending/confirmed update, the command row), so any HES node can continue it.
import {
  hesBeginUpdate,
  hesOnConfirm,
  hesOnActivated,
  parseKeyUpdate,
  createKeyUpdateMsg,
  errorName,
  OP_MAX,
  OP_KEY_UPDATE,
  KU_CHANGED,
  ERR_KEY_STATE,
  ERR_POLICY,
  ERR_CBOR,
} from '@vakt/shared';
import { randomBytes } from '../crypto/bytes.ts';
import type { CommandParams } from './commands.ts';
import { HesError, KEY_LEN, MAX_KEY_GEN, SYSTEM_ACTOR } from './constants.ts';
import type { CommandRows } from './commandrows.ts';
import type { ConcState, HesCore, MeterState } from './state.ts';
import type { IngestResult } from './ingest.ts';
import type { Refusal } from './uplink.ts';

/** ACK body kind naming a key update ([req, OP_KEY_UPDATE, newGen], PROTOCOL.md §8 step 4). */
export const ACK_OF_KEY_UPDATE = OP_KEY_UPDATE;

export class KeyUpdate {
  private readonly msg = createKeyUpdateMsg();

  constructor(
    private readonly core: HesCore,
    private readonly rows: CommandRows,
    private readonly refuse: (r: Refusal) => IngestResult,
  ) {}

  /**
   * In the unit being built: draws a fresh key and a generation above every one the meter ever had,
   * queues the command and persists the pending key (core hesBeginUpdate) before any TRANSPORT.
   * Returns the index of the command's write in the unit.
   */
  begin(actor: string, m: MeterState, scope: number, now: number, expiry: number): number {
    let newGen = m.maxGen + 1;
    for (let op = 1; op <= OP_MAX; op++) if (m.ring.gens[op]! >= newGen) newGen = m.ring.gens[op]! + 1;
    if (m.ring.mkGen >= newGen) newGen = m.ring.mkGen + 1;
    if (newGen > MAX_KEY_GEN) throw new HesError(`meter ${m.hex} has used every key generation`);
    const key = randomBytes(KEY_LEN);
    try {
      const w = this.rows.insert(actor, m, { kind: 'key_update', scope, newGen, phase: 'transport' }, now, expiry);
      this.core.unit!.push({ kind: 'meterMaxGen', meter: m.id, maxGen: newGen });
      const r = hesBeginUpdate(m.ring, scope, newGen, key, 0, m.persist);
      if (r !== KU_CHANGED) throw new HesError(`key update refused by the key state: ${errorName(r)}`);
      m.maxGen = newGen;
      this.core.refreshKc(m);
      return w;
    } finally {
      key.fill(0);
    }
  }

  /** A KEY_UPDATE uplink: only CONFIRM (kind 2) under KC is expected from a meter. */
  async uplink(m: MeterState, c: ConcState, body: Uint8Array, underKc: boolean, nowMs: number): Promise<IngestResult> {
    const meter = m.hex;
    const at = { subject: meter, meter, concentrator: c.hex };
    const msg = this.msg;
    if (parseKeyUpdate(body, 0, body.length, msg) < 0)
      return this.refuse({ code: ERR_CBOR, message: `authentic KEY_UPDATE frame from meter ${meter} has a malformed body`, ...at });
    if (msg.kind !== 2 || !underKc)
      return this.refuse({ code: ERR_POLICY, message: `meter ${meter} sent an unexpected key-update message (kind ${msg.kind})`, ...at });
    const r = hesOnConfirm(this.core.ctx, m.ring, msg.scope, msg.gen, m.persist);
    if (r < 0) {
      return this.refuse({
        code: ERR_KEY_STATE,
        message: `meter ${meter} confirmed scope ${msg.scope} generation ${msg.gen}, which is not the pending update (${errorName(r)})`,
        ...at,
      });
    }
    if (r !== KU_CHANGED) {
      m.activateNextMs = 0; // repeated CONFIRM: the meter may not have seen ACTIVATE
      return { ok: true, kind: 'key_confirm', meter, concentrator: c.hex };
    }
    // The new key is in force for downlink; uplink under the previous generation stays accepted.
    this.core.pruneSlots(m);
    const row = await this.core.store.openKeyUpdateCommand(m.id);
    if (row !== undefined) {
      const params = JSON.parse(row.params) as CommandParams;
      if (row.state === 'queued') this.rows.set(row, 'sent', params, nowMs, undefined);
      this.rows.set(row, 'acknowledged', { ...params, phase: 'activate' } as CommandParams, nowMs, { scope: msg.scope, newGen: msg.gen });
    }
    this.core.auditInUnit({
      actor: SYSTEM_ACTOR,
      action: 'key_update.confirmed',
      subject: meter,
      detail: { scope: msg.scope, newGen: msg.gen },
      tsMs: nowMs,
    });
    m.activateNextMs = 0;
    return { ok: true, kind: 'key_confirm', meter, concentrator: c.hex, ...(row !== undefined ? { command: row.id } : {}) };
  }

  /** An ACK [req, OP_KEY_UPDATE, newGen]: the meter activated the new generation. */
  acknowledged(m: MeterState, gen: number, nowMs: number): void {
    if (hesOnActivated(m.ring, gen, m.persist) === KU_CHANGED) this.activated(m, nowMs);
  }

  activated(m: MeterState, nowMs: number): void {
    this.core.pruneSlots(m);
    this.core.auditInUnit({
      actor: SYSTEM_ACTOR,
      action: 'key_update.activated',
      subject: m.hex,
      detail: { mkGen: m.ring.mkGen },
      tsMs: nowMs,
    });
  }
}
