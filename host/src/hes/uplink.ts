// What an authentic uplink body means (after ingest.ts verified it and the body table accepted it):
// readings and the load-profile bookkeeping (gap fill, ACK of the gap-free prefix), events, ACKs,
// and command responses. Everything it stores is a write of the frame's unit.
import { KX_NONE, OP_READING, OP_READ, OP_EVENT, OP_ACK, OP_FIRMWARE, ERR_CBOR } from '@vakt/shared';
import type { BodyValue } from '@vakt/shared/bodies';
import { ctEqual, toHex } from '../crypto/bytes.ts';
import { GAPFILL_MAX, STATUS_OK, STATUS_NAMES } from './commands.ts';
import type { CommandParams } from './commands.ts';
import { gapFillRanges } from './isolation.ts';
import { CommandRows } from './commandrows.ts';
import { KeyUpdate, ACK_OF_KEY_UPDATE } from './keyupdate.ts';
import { DEFAULT_EXPIRY_MS, EVENT_COUNTER_EXHAUSTION, LP_WINDOW, MAX_KEY_GEN, SYSTEM_ACTOR, isInt, opName } from './constants.ts';
import type { ConcState, HesCore, MeterState } from './state.ts';
import type { IngestResult } from './ingest.ts';

/** A refusal of the frame being handled (ingest.ts turns it into an audited IngestResult). */
export interface Refusal {
  code: number;
  message: string;
  subject: string;
  meter?: string;
  concentrator?: string;
  audit?: boolean;
}

/** EVENT codes that are security events (audited as meter.security_event). */
const SECURITY_EVENT_MIN = 16;
const SECURITY_EVENT_MAX = 19;
/** OP_RELAY responses carry their status one item later ([req, state, status]). */
const OP_RELAY = 0x03;

export class Uplink {
  readonly rows: CommandRows;
  readonly keys: KeyUpdate;
  /** Events stored by earlier frames of the running batch (not yet visible in the store). */
  private readonly batchEvents = new Set<string>();

  constructor(
    private readonly core: HesCore,
    private readonly refuse: (r: Refusal) => IngestResult,
    /** Names the write (by index in the frame's unit) of a new reading: its result tells a duplicate. */
    private readonly readingWrite: (at: number) => void,
  ) {
    this.rows = new CommandRows(core);
    this.keys = new KeyUpdate(core, this.rows, refuse);
  }

  /** Forgets the running batch's events (a new batch starts). */
  newBatch(): void {
    this.batchEvents.clear();
  }

  // b: the items of a body that matched the table, so every integer is whole and in its range.
  // Readings are handled synchronously (the hot path); events and responses read the store first.
  dispatch(
    m: MeterState,
    c: ConcState,
    op: number,
    counter: number,
    gen: number,
    b: BodyValue[],
    nowMs: number,
  ): IngestResult | Promise<IngestResult> {
    switch (op) {
      case OP_READING: {
        const [, seq, t, wh, w] = b;
        if (b.length !== 5 || !isInt(seq) || !isInt(t) || !isInt(wh) || !isInt(w) || seq < 1 || t < 0 || wh < 0)
          return this.bad(m, c, op, 'reading must be [0, seq ≥ 1, t, wh, w]');
        return this.reading(m, c, seq, t, wh, w, counter, gen, nowMs);
      }
      case OP_EVENT: {
        const [, code, t, detail] = b;
        if (!isInt(code) || !isInt(t) || !isInt(detail)) return this.bad(m, c, op, 'event must be [0, code, t, detail]');
        return this.event(m, c, code, t, String(detail), nowMs);
      }
      case OP_ACK:
        if (b[1] === ACK_OF_KEY_UPDATE && isInt(b[2])) this.keys.acknowledged(m, b[2], nowMs);
        return { ok: true, kind: 'ack', meter: m.hex, concentrator: c.hex };
      default:
        return this.response(m, c, op, b[0] as number, b, nowMs);
    }
  }

  private bad(m: MeterState, c: ConcState, op: number, what: string): IngestResult {
    return this.refuse({
      code: ERR_CBOR,
      message: `authentic ${opName(op)} frame from meter ${m.hex}: ${what}`,
      subject: m.hex,
      meter: m.hex,
      concentrator: c.hex,
    });
  }

  private reading(
    m: MeterState,
    c: ConcState,
    seq: number,
    t: number,
    wh: number,
    w: number,
    counter: number,
    gen: number,
    nowMs: number,
  ): IngestResult {
    const result: IngestResult = { ok: true, kind: 'reading', meter: m.hex, concentrator: c.hex, seq };
    if (this.isStored(m, seq)) {
      if (seq <= m.contig) m.ackDue = m.contig; // the meter resends: it missed our ACK
      return { ...result, kind: 'duplicate' };
    }
    const u = this.core.unit!;
    const at = u.length;
    u.push({ kind: 'reading', meter: m.id, seq, t, wh, w, counter, gen, via: c.id, receivedMs: nowMs });
    if (seq > m.maxSeq + 1) {
      const from = Math.max(m.maxSeq + 1, m.contig + 1, seq - LP_WINDOW);
      if (from <= seq - 1) this.queueGapFill(m, from, seq - 1, nowMs);
    }
    this.noteStored(m, seq);
    this.readingWrite(at);
    return result;
  }

  /** Whether interval seq of the meter is stored (memory knows every stored interval: 1..contig and above). */
  private isStored(m: MeterState, seq: number): boolean {
    return seq <= m.contig || m.above.has(seq);
  }

  // Advances the contiguous prefix; an ACK may only confirm intervals with no gap below them.
  private noteStored(m: MeterState, seq: number): void {
    if (seq > m.maxSeq) m.maxSeq = seq;
    if (seq <= m.contig) return;
    if (seq !== m.contig + 1) {
      m.above.add(seq);
      return;
    }
    m.contig = seq;
    while (m.above.delete(m.contig + 1)) m.contig++;
    m.ackDue = m.contig;
  }

  private queueGapFill(m: MeterState, from: number, to: number, nowMs: number): void {
    for (const [a, b] of gapFillRanges(from, to, GAPFILL_MAX, LP_WINDOW)) {
      this.rows.insert(SYSTEM_ACTOR, m, { kind: 'gapfill', from: a, to: b }, nowMs, DEFAULT_EXPIRY_MS);
    }
  }

  private async event(m: MeterState, c: ConcState, code: number, t: number, detail: string, nowMs: number): Promise<IngestResult> {
    const meter = m.hex;
    // The meter re-reports an event until its LINK_ACK arrives, under a new counter: one (code, t, detail) is one event.
    const key = `${meter}/${code}/${t}/${detail}`;
    if (this.batchEvents.has(key) || (await this.core.store.eventStored(m.id, code, t, detail)))
      return { ok: true, kind: 'duplicate', meter, concentrator: c.hex };
    this.batchEvents.add(key);
    this.core.unit!.push({ kind: 'event', meter: m.id, code, t, detail, receivedMs: nowMs });
    if (code >= SECURITY_EVENT_MIN && code <= SECURITY_EVENT_MAX)
      this.core.auditInUnit({ actor: meter, action: 'meter.security_event', subject: meter, detail: { code, t, detail }, tsMs: nowMs });
    // Counter near exhaustion (§6): the meter asks for new keys; the HES starts a full key update itself.
    // A report from before the last completed key update (its keys are fresh) starts nothing.
    if (code === EVENT_COUNTER_EXHAUSTION && m.ring.xState === KX_NONE && m.maxGen < MAX_KEY_GEN && !(await this.renewedSince(m, t))) {
      this.keys.begin(SYSTEM_ACTOR, m, 0, nowMs, DEFAULT_EXPIRY_MS);
    }
    return { ok: true, kind: 'event', meter, concentrator: c.hex };
  }

  /** True when a key update of the meter that began at or after unix time tS has completed (the keys a report of tS named are gone). */
  private async renewedSince(m: MeterState, tS: number): Promise<boolean> {
    const ms = await this.core.store.lastCompletedKeyUpdateMs(m.id);
    return ms !== null && tS * 1000 <= ms;
  }

  private async response(m: MeterState, c: ConcState, op: number, req: number, b: BodyValue[], nowMs: number): Promise<IngestResult> {
    const meter = m.hex;
    const concentrator = c.hex;
    const row = req > 0 ? await this.core.store.command(req) : undefined;
    if (op === OP_READ && b[1] === 2 && Array.isArray(b[2])) this.profileIntervals(m, c, b[2] as unknown[], nowMs);
    if (row === undefined || !ctEqual(row.meterId, m.id) || row.op !== op) return { ok: true, kind: 'response', meter, concentrator };
    if (row.state !== 'sent') return { ok: true, kind: 'response', meter, concentrator, command: row.id };
    const p = JSON.parse(row.params) as CommandParams;
    if (op === OP_READ && b[1] === 1) {
      const [, , t, wh, w] = b;
      if (isInt(t) && isInt(wh) && isInt(w)) this.core.unit!.push({ kind: 'registerRead', meter: m.id, req, t, wh, w, receivedMs: nowMs });
      this.rows.set(row, 'acknowledged', p, nowMs, { t, wh, w });
    } else if (op === OP_READ) {
      this.rows.set(row, 'acknowledged', p, nowMs, { intervals: Array.isArray(b[2]) ? b[2].length : 0 });
    } else if (op === OP_FIRMWARE && p.kind === 'firmware') {
      const status = b[1];
      const next = b[2];
      if (status !== STATUS_OK || !isInt(next))
        this.rows.set(row, 'failed', p, nowMs, { status: STATUS_NAMES[status as number] ?? status });
      else if (p.phase === 'activate') this.rows.set(row, 'acknowledged', p, nowMs, { status: 'ok', version: p.version });
      else this.rows.reschedule(row, next >= p.size ? { ...p, phase: 'activate' } : { ...p, phase: 'chunk', offset: next }, nowMs);
    } else {
      const status = op === OP_RELAY ? b[2] : b[1];
      const result = {
        status: STATUS_NAMES[status as number] ?? status,
        detail: b.slice(1).map((x) => (x instanceof Uint8Array ? toHex(x) : x instanceof Map ? Object.fromEntries(x) : x)),
      };
      this.rows.set(row, status === STATUS_OK ? 'acknowledged' : 'failed', p, nowMs, result);
    }
    return { ok: true, kind: 'response', meter, concentrator, command: row.id };
  }

  // Load-profile intervals are stored whatever the command state: they are authentic readings.
  private profileIntervals(m: MeterState, c: ConcState, ivs: unknown[], nowMs: number): void {
    for (const iv of ivs) {
      if (Array.isArray(iv) && iv.length === 4 && iv.every(isInt)) {
        const [seq, t, wh, w] = iv as number[];
        if (this.isStored(m, seq!)) continue;
        this.core.unit!.push({
          kind: 'reading',
          meter: m.id,
          seq: seq!,
          t: t!,
          wh: wh!,
          w: w!,
          counter: 0,
          gen: 0,
          via: c.id,
          receivedMs: nowMs,
        });
        this.noteStored(m, seq!);
      }
    }
  }
}
