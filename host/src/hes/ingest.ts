// HES ingest: a batch of link frames is verified in memory (link MIC and replay, end-to-end tag and
// replay, body table), each frame becoming a plan — its end-to-end counter advance and the writes it
// carries — and the whole batch is committed in ONE store unit (commitIngest). The store applies a
// frame's writes only if its counter advance still wins there (the truth across restarts and nodes);
// a frame whose advance lost is answered as a duplicate (the same frame was accepted) or a replay.
import {
  E2E_CTR_WINDOW,
  createHeader,
  parseHeader,
  openFrame,
  errorName,
  sendGen,
  acceptsGen,
  hesOnUplink,
  KX_CONFIRMED,
  KU_CHANGED,
  E2E_VERSION,
  BACKHAUL_VERSION,
  DIR_UP,
  MAX_BODY,
  LINK_DATA,
  LINK_ACK,
  OP_KEY_UPDATE,
  ERR_TAG,
  ERR_REPLAY,
  ERR_UNKNOWN_SENDER,
  ERR_GENERATION,
  ERR_LENGTH,
  ERR_RECEIVER,
  ERR_POLICY,
  ERR_CBOR,
  equalBytes,
  reconstructCounter,
} from '@vakt/shared';
import type { FrameHeader, KeySlot } from '@vakt/shared';
import { decodeBody } from '@vakt/shared/bodies';
import { toHex } from '../crypto/bytes.ts';
import { ERR_FRAME_FAULT, frameFaultName } from './isolation.ts';
import { HesError, ID_LEN, KC_PSEUDO_OP, SYSTEM_ACTOR, WRONG_KEY_THRESHOLD, opName } from './constants.ts';
import { replayKeyOf } from './state.ts';
import type { ConcState, HesCore, MeterState } from './state.ts';
import { Uplink } from './uplink.ts';
import type { Refusal } from './uplink.ts';
import { StaleStoreError, StoreFaultError } from './store/types.ts';
import type { AuditAppend, IngestFrameResult, ReplayAdvance, StoreWrite } from './store/types.ts';

/** How ingestBatch treats the batch. */
export interface IngestOptions {
  /**
   * false: refusals of frames whose link layer did not authenticate are not audited one by one (the
   * caller counts them and audits summaries: the TCP server does so for peers that never
   * authenticated). Refusals after the link authenticated are always audited. Default true.
   */
  auditLinkRefusals?: boolean;
}

/** Result of ingesting one link frame. */
export type IngestResult =
  | {
      ok: true;
      kind: 'reading' | 'duplicate' | 'response' | 'event' | 'key_confirm' | 'ack' | 'link_ack';
      meter?: string;
      concentrator: string;
      seq?: number;
      command?: number;
      linkCounter?: number;
      repeat?: true;
    }
  | { ok: false; code: number; error: string; message: string; meter?: string; concentrator?: string; linkCounter?: number };
// linkCounter: set when the link frame itself was authentic (not for LINK_ACKs): the frame is settled,
// stored or refused for good, and the concentrator may drop it once told so (linkAcks).
// repeat: a 'duplicate' that is a byte-identical copy of an end-to-end frame already accepted (the
// concentrator resent it after a lost LINK_ACK): refused, not stored, acknowledged, not a security event.

/** Attempts of a batch whose conditional writes found the store changed by another writer. */
const STALE_RETRIES = 3;

/** One frame's part of the unit: its counter advance, its writes, and how its result settles after the commit. */
interface FramePlan {
  advance: ReplayAdvance | null;
  writes: StoreWrite[];
  result: IngestResult;
  /** Index of a reading write whose result decides 'reading' vs 'duplicate' (-1: none). */
  readingAt: number;
  slot: KeySlot | null;
  frame: Uint8Array | null;
}

export class Ingest {
  private readonly hdr: FrameHeader = createHeader();
  private readonly hdr2: FrameHeader = createHeader();
  private readonly linkBody = new Uint8Array(MAX_BODY);
  private readonly e2eBody = new Uint8Array(MAX_BODY);
  private readonly uplink: Uplink;
  /** Link slots advanced in the running batch. */
  private readonly links = new Map<KeySlot, Uint8Array>();
  private plan: FramePlan | null = null;
  private auditLinkRefusals = true;
  /** Set when in-memory state of the running batch may differ from the store after the commit: reloaded then. */
  private dirty = false;

  constructor(private readonly core: HesCore) {
    this.uplink = new Uplink(
      core,
      (r) => this.refuse(r),
      (at) => (this.plan!.readingAt = at),
    );
  }

  /**
   * Ingests link frames as one unit: every accepted frame's data and its replay counter commit
   * together, or nothing does (the in-memory state is then reloaded from the store).
   */
  ingestBatch(frames: Uint8Array[], nowMs: number, o: IngestOptions = {}): Promise<IngestResult[]> {
    return this.core.serial(async () => {
      this.auditLinkRefusals = o.auditLinkRefusals !== false;
      for (let attempt = 0; ; attempt++) {
        await this.core.sync();
        try {
          return await this.attempt(frames, nowMs);
        } catch (e) {
          this.core.unit = null;
          // Nothing was committed: memory (counters, key state, remembered frames) is rebuilt from the store.
          await this.core.reload();
          if (e instanceof StaleStoreError && attempt < STALE_RETRIES) continue;
          throw e;
        } finally {
          this.links.clear();
          this.plan = null;
          this.dirty = false;
        }
      }
    });
  }

  private async attempt(frames: Uint8Array[], nowMs: number): Promise<IngestResult[]> {
    const plans: FramePlan[] = [];
    this.uplink.newBatch();
    for (const f of frames) {
      // Planning is synchronous unless the frame needs a store read (a first use of a key, a command, an event).
      const p = this.planFrame(f, nowMs);
      plans.push(p instanceof Promise ? await p : p);
    }
    this.core.unit = null;
    const link = [...this.links].map(([slot, sender]) => ({ ...replayKeyOf(slot, sender), last: slot.last, frame: null }));
    const res = await this.core.store.commitIngest({ link, frames: plans.map((p) => ({ advance: p.advance, writes: p.writes })) });
    const late: AuditAppend[] = [];
    const out = plans.map((p, i) => this.settle(p, res[i]!, nowMs, late));
    if (late.length > 0) await this.core.store.appendAudit(late);
    if (this.dirty) await this.core.reload();
    return out;
  }

  /** Verifies one frame into a plan; an exception while handling it costs only that frame (ERR_INTERNAL). */
  private planFrame(f: Uint8Array, nowMs: number): FramePlan | Promise<FramePlan> {
    const p: FramePlan = { advance: null, writes: [], result: null!, readingAt: -1, slot: null, frame: null };
    this.plan = p;
    this.core.unit = p.writes;
    this.linkCounter = 0;
    let r: IngestResult | Promise<IngestResult>;
    try {
      r = this.ingestOne(f, nowMs);
    } catch (e) {
      return this.faulted(p, e);
    }
    if (r instanceof Promise)
      return r.then(
        (v) => this.planned(p, v),
        (e: unknown) => this.faulted(p, e),
      );
    return this.planned(p, r);
  }

  private planned(p: FramePlan, r: IngestResult): FramePlan {
    p.result = r;
    if (this.linkCounter > 0) r.linkCounter = this.linkCounter;
    return p;
  }

  private faulted(p: FramePlan, e: unknown): FramePlan {
    {
      if (e instanceof StoreFaultError || e instanceof StaleStoreError) throw e;
      // The frame's writes are dropped (its counter stays spent); memory it touched is reloaded after the commit.
      this.dirty = true;
      p.writes.length = 0;
      p.readingAt = -1;
      const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      return this.planned(
        p,
        this.refuse({
          code: ERR_FRAME_FAULT,
          message: `frame refused: the HES could not process it (${what.slice(0, 200)})`,
          subject: this.hdr.sender ? toHex(this.hdr.sender) : 'link',
        }),
      );
    }
  }

  /** A refusal result, audited in the frame's unit unless told not to. */
  private refuse(r: Refusal): IngestResult {
    const error = frameFaultName(r.code) ?? errorName(r.code);
    if (r.audit !== false)
      this.core.auditInUnit({
        actor: SYSTEM_ACTOR,
        action: `security.${error.toLowerCase()}`,
        subject: r.subject,
        detail: { message: r.message },
        tsMs: this.nowMs,
      });
    return {
      ok: false,
      code: r.code,
      error,
      message: r.message,
      ...(r.meter !== undefined ? { meter: r.meter } : {}),
      ...(r.concentrator !== undefined ? { concentrator: r.concentrator } : {}),
    };
  }

  private nowMs = 0;

  /** Link counter of the frame being planned when its link frame was authentic (0: not). */
  private linkCounter = 0;

  private ingestOne(f: Uint8Array, nowMs: number): IngestResult | Promise<IngestResult> {
    this.nowMs = nowMs;
    const h = this.hdr;
    const quiet = this.auditLinkRefusals;
    if (!(f instanceof Uint8Array)) return this.refuse({ code: ERR_POLICY, message: 'frame is not bytes', subject: 'link', audit: quiet });
    const r = parseHeader(f, 0, f.length, h);
    if (r < 0) return this.refuse({ code: r, message: `malformed link frame (${errorName(r)})`, subject: 'link', audit: quiet });
    if (h.version !== BACKHAUL_VERSION || h.dir !== DIR_UP)
      return this.refuse({ code: ERR_POLICY, message: 'expected an uplink backhaul link frame', subject: 'link', audit: quiet });
    const concHex = toHex(h.sender);
    const c = this.core.concs.get(concHex);
    const at = { subject: concHex, concentrator: concHex, audit: quiet };
    if (c === undefined) return this.refuse({ code: ERR_UNKNOWN_SENDER, message: `unknown concentrator ${concHex}`, ...at });
    if (h.gen !== c.linkGen)
      return this.refuse({
        code: ERR_GENERATION,
        message: `concentrator ${concHex} used link generation ${h.gen}, expected ${c.linkGen}`,
        ...at,
      });
    const n = openFrame(this.core.ctx, h, c.up, f, 0, this.linkBody, 0);
    if (n < 0) return this.refuse({ code: n, message: linkRefusal(n, concHex, h.counter), ...at });
    this.links.set(c.up, c.id);
    if (h.op === LINK_ACK) return { ok: true, kind: 'link_ack', concentrator: concHex };
    this.linkCounter = h.counter;
    if (h.op !== LINK_DATA)
      return this.refuse({
        code: ERR_POLICY,
        message: `link type ${h.op} not expected from a concentrator`,
        subject: concHex,
        concentrator: concHex,
      });
    return this.ingestE2e(this.linkBody.subarray(0, n), c, nowMs);
  }

  /** A backhaul DATA body: meter id (8) ‖ end-to-end frame (PROTOCOL.md §7); the e2e MAC binds the id. */
  private ingestE2e(data: Uint8Array, c: ConcState, nowMs: number): IngestResult | Promise<IngestResult> {
    const h = this.hdr2;
    const concentrator = c.hex;
    if (data.length <= ID_LEN)
      return this.refuse({
        code: ERR_LENGTH,
        message: `backhaul DATA body via ${concentrator} too short for meter id and frame`,
        subject: concentrator,
        concentrator,
      });
    const f = data.subarray(ID_LEN);
    const r = parseHeader(f, 0, f.length, h);
    if (r < 0)
      return this.refuse({
        code: r,
        message: `malformed end-to-end frame via ${concentrator} (${errorName(r)})`,
        subject: concentrator,
        concentrator,
      });
    if (h.version !== E2E_VERSION)
      return this.refuse({ code: ERR_POLICY, message: 'expected an end-to-end frame', subject: concentrator, concentrator });
    const meter = toHex(data.subarray(0, ID_LEN));
    const m = this.core.meters.get(meter);
    const at = { subject: meter, meter, concentrator };
    if (m === undefined)
      return this.refuse({ code: ERR_UNKNOWN_SENDER, message: `unknown meter ${meter} (not in any imported shipment)`, ...at });
    const slot = this.core.cachedRecvSlot(m, h.op, h.gen);
    // First use of a key: its replay state is read, then the frame is handled (nothing else runs meanwhile).
    if (slot === undefined) return this.core.recvSlot(m, h.op, h.gen).then((s) => this.verifyE2e(data, c, m, s, nowMs));
    return this.verifyE2e(data, c, m, slot, nowMs);
  }

  private verifyE2e(
    data: Uint8Array,
    c: ConcState,
    m: MeterState,
    slot: KeySlot | null,
    nowMs: number,
  ): IngestResult | Promise<IngestResult> {
    const h = this.hdr2;
    const f = data.subarray(ID_LEN);
    const meter = m.hex;
    const at = { subject: meter, meter, concentrator: c.hex };
    const kc = h.op === OP_KEY_UPDATE && m.kc !== null && m.kc.gen === h.gen ? m.kc : null;
    if (slot === null && kc === null) {
      return this.refuse({
        code: ERR_GENERATION,
        message: `meter ${meter} sent ${opName(h.op)} under key generation ${h.gen}; the HES holds generation ${sendGen(m.ring, h.op)}`,
        ...at,
      });
    }
    let n = -1;
    let used: KeySlot | null = null;
    // Under a pending update the KC slot is tried first, then the operation's own key.
    if (kc !== null) {
      n = openFrame(this.core.ctx, h, kc, f, 0, this.e2eBody, 0);
      if (n >= 0) used = kc;
    }
    if (used === null && slot !== null && (kc === null || n === ERR_TAG)) {
      n = openFrame(this.core.ctx, h, slot, f, 0, this.e2eBody, 0);
      if (n >= 0) used = slot;
    }
    if (n < 0 || used === null) return this.refusedE2e(m, c, n, slot, kc, f);
    this.accepted(m, used, f, h.counter);
    if (m.tagFailures !== 0) {
      m.tagFailures = 0;
      this.core.unit!.push({ kind: 'meterHealth', meter: m.id, tagFailures: 0, lastError: null });
    }
    if (used !== kc && m.ring.xState === KX_CONFIRMED) {
      // First uplink under the new generation retires the previous one (core hesOnUplink).
      const u = hesOnUplink(m.ring, h.op, h.gen, m.persist);
      if (u === KU_CHANGED) this.uplink.keys.activated(m, nowMs);
      else if (acceptsGen(m.ring, h.op, h.gen, false) && h.gen !== sendGen(m.ring, h.op)) m.activateNextMs = 0; // old generation: ACTIVATE may be lost
    }
    // Every authentic body is checked against the body table (PROTOCOL.md §10) before it means anything.
    const body = decodeBody(h.op, DIR_UP, this.e2eBody, 0, n);
    if (body.err < 0)
      return this.refuse({ code: ERR_CBOR, message: `authentic ${opName(h.op)} frame from meter ${meter} refused: ${body.reason}`, ...at });
    if (h.op === OP_KEY_UPDATE) return this.uplink.keys.uplink(m, c, this.e2eBody.subarray(0, n), used === kc, nowMs);
    return this.uplink.dispatch(m, c, h.op, h.counter, h.gen, body.items, nowMs);
  }

  // An authentic end-to-end frame: its counter advance (conditional in the store) and its copy for repeats.
  private accepted(m: MeterState, slot: KeySlot, f: Uint8Array, counter: number): void {
    const p = this.plan!;
    if (p.advance !== null) throw new HesError('internal: two end-to-end frames in one link frame');
    const copy = f.slice();
    const op = slot === m.kc ? KC_PSEUDO_OP + m.kcScope : slot.op;
    p.advance = { sender: m.id, layer: slot.layer, op, dir: slot.dir, gen: slot.gen, last: counter, frame: copy };
    p.slot = slot;
    p.frame = copy;
    this.core.rememberAccepted(slot, copy);
  }

  private refusedE2e(m: MeterState, c: ConcState, n: number, slot: KeySlot | null, kc: KeySlot | null, f: Uint8Array): IngestResult {
    const meter = m.hex;
    const at = { subject: meter, meter, concentrator: c.hex };
    // The concentrator resends a frame whose LINK_ACK was lost, unchanged: a benign duplicate. With a
    // short counter it reconstructs one window above the last and fails its tag (§6), with a full one
    // it is a replay; either way it is byte-identical to a frame accepted under the same key.
    if (
      (n === ERR_TAG || n === ERR_REPLAY) &&
      ((slot !== null && this.core.isRepeat(slot, f)) || (kc !== null && this.core.isRepeat(kc, f)))
    ) {
      return { ok: true, kind: 'duplicate', meter, concentrator: c.hex, repeat: true };
    }
    const h = this.hdr2;
    if (n === ERR_TAG && slot !== null && this.authenticOlder(slot, f)) {
      return this.refuse({
        code: ERR_REPLAY,
        message: `replayed frame from meter ${meter} (${opName(h.op)}, an authentic frame under a counter at or below the last accepted)`,
        ...at,
      });
    }
    if (n === ERR_TAG) {
      m.tagFailures++;
      const wrong = m.tagFailures >= WRONG_KEY_THRESHOLD;
      const msg = wrong
        ? `WRONG KEY for meter ${meter}: ${m.tagFailures} consecutive frames fail authentication (${opName(h.op)}, generation ${h.gen}); the HES key for this meter does not match the meter's key — check the imported shipment`
        : `bad tag from meter ${meter} via concentrator ${c.hex} (${opName(h.op)}, generation ${h.gen}): wrong key or forged frame`;
      this.core.unit!.push({ kind: 'meterHealth', meter: m.id, tagFailures: m.tagFailures, lastError: msg });
      return this.refuse({ code: n, message: msg, ...at });
    }
    if (n === ERR_REPLAY)
      return this.refuse({ code: n, message: `replayed frame from meter ${meter} (${opName(h.op)} counter ${h.counter})`, ...at });
    return this.refuse({ code: n, message: `frame from meter ${meter} refused (${errorName(n)})`, ...at });
  }

  /**
   * Whether a short-counter frame that failed its tag under the counter reconstructed above `last`
   * (PROTOCOL.md §6) authenticates under the highest counter at or below `last` with the same low
   * bits: an old frame resent, typically after failover or a restart (this node remembers only the
   * newest frame per key), not a forgery or a wrong key. One more CCM check, on tag failures only;
   * the slot is left as it was.
   */
  private authenticOlder(slot: KeySlot, f: Uint8Array): boolean {
    const h = this.hdr2;
    if (h.full !== 0) return false;
    const last = slot.last;
    // The core's reconstruction gives the smallest value at or above last with these low bits; the
    // one below it (or last itself) is the highest at or below last.
    const atOrAbove = reconstructCounter(last, h.counter, E2E_CTR_WINDOW);
    const older = atOrAbove === last ? last : atOrAbove - E2E_CTR_WINDOW;
    if (older < 1) return false;
    slot.last = older - 1; // openFrame reconstructs `older` from it and, on success, sets last = older
    try {
      return openFrame(this.core.ctx, h, slot, f, 0, this.e2eBody, 0) >= 0;
    } finally {
      slot.last = last;
    }
  }

  /** The final result of a planned frame after the commit. */
  private settle(p: FramePlan, r: IngestFrameResult, nowMs: number, late: AuditAppend[]): IngestResult {
    if (r.won) {
      // Another node may have stored the interval first: then it is a duplicate here.
      if (p.readingAt >= 0 && (r.results[p.readingAt] as { inserted: boolean }).inserted === false && p.result.ok)
        p.result.kind = 'duplicate';
      return p.result;
    }
    // Nothing of the frame was stored; what memory assumed about it is rebuilt from the store.
    this.dirty = true;
    const linkCounter = p.result.linkCounter;
    const meter = p.advance !== null ? toHex(p.advance.sender) : undefined;
    const base = {
      ...(meter !== undefined ? { meter } : {}),
      ...(p.result.concentrator !== undefined ? { concentrator: p.result.concentrator } : {}),
      ...(linkCounter !== undefined ? { linkCounter } : {}),
    };
    if ('fault' in r) {
      const message = `frame refused: the store could not take it (${r.fault.slice(0, 200)})`;
      late.push({ actor: SYSTEM_ACTOR, action: 'security.err_internal', subject: meter ?? 'link', detail: { message }, tsMs: nowMs });
      return { ok: false, code: ERR_FRAME_FAULT, error: frameFaultName(ERR_FRAME_FAULT)!, message, ...base };
    }
    // The advance lost: this counter was accepted before (another node, or before a restart).
    const cur = r.current;
    if (p.slot !== null && cur.last > p.slot.last) p.slot.last = cur.last;
    if (
      p.frame !== null &&
      cur.frame !== null &&
      cur.frame.length === p.frame.length &&
      equalBytes(cur.frame, 0, p.frame, 0, p.frame.length)
    ) {
      return { ok: true, kind: 'duplicate', concentrator: p.result.concentrator ?? '', repeat: true, ...base };
    }
    const message = `replayed frame from meter ${meter} (counter ${p.advance?.last} already accepted)`;
    late.push({ actor: SYSTEM_ACTOR, action: 'security.err_replay', subject: meter ?? 'link', detail: { message }, tsMs: nowMs });
    return { ok: false, code: ERR_REPLAY, error: errorName(ERR_REPLAY), message, ...base };
  }
}

function linkRefusal(n: number, concHex: string, counter: number): string {
  return n === ERR_TAG
    ? `link tag from concentrator ${concHex} does not verify: wrong link key or forged frame`
    : n === ERR_REPLAY
      ? `replayed link frame from concentrator ${concHex} (counter ${counter})`
      : n === ERR_RECEIVER
        ? `link frame from ${concHex} addressed to another HES`
        : `link frame from ${concHex} refused (${errorName(n)})`;
}

export type { ConcState, MeterState };
