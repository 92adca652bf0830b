// Minimal in-process meter and concentrator built on the core, for HES tests, crash tests and the
// benchmark (the firmware apps are tested separately). They follow PROTOCOL.md §3–§8 literally.
// Wire v2: the kit meter's frames are what a concentrator forwards on the backhaul, meter id (8) ‖
// end-to-end frame (§7), and it receives the same shape; the kit concentrator speaks the backhaul.
import {
  createCryptoCtx,
  createHeader,
  createKeySlot,
  createSendCounter,
  parseHeader,
  openFrame,
  sealFrame,
  loadE2eKeyFromMaster,
  loadLinkKey,
  createKeyRing,
  sendGen,
  acceptsGen,
  loadRingSlot,
  loadRingKcSlot,
  meterOnTransport,
  meterOnAuthentic,
  meterOnActivate,
  parseKeyUpdate,
  createKeyUpdateMsg,
  KX_STAGED,
  OP_ACK,
  E2E_VERSION,
  BACKHAUL_VERSION,
  ID_LEN,
  DIR_UP,
  DIR_DOWN,
  MAX_BODY,
  MAX_LINK_FRAME,
  LINK_DATA,
  OP_KEY_UPDATE,
  OP_MAX,
} from '@vakt/shared';
import type { CryptoCtx, KeySlot, FrameHeader, KeyRing } from '@vakt/shared';
import { cborEncode, cborDecode } from '../crypto/cbor.ts';
import type { CborValue } from '../crypto/cbor.ts';

function memCounter() {
  return createSendCounter(0, 1 << 20, () => true);
}

/** A concentrator's HES hop: wraps e2e frames into link DATA frames and unwraps downlink. */
export class KitConcentrator {
  readonly id: Uint8Array;
  private readonly ctx: CryptoCtx = createCryptoCtx();
  private readonly up: KeySlot;
  private readonly down: KeySlot;
  private readonly hdr: FrameHeader = createHeader();
  private readonly buf = new Uint8Array(MAX_LINK_FRAME);

  constructor(id: Uint8Array, linkKey: Uint8Array, linkGen: number, hesId: Uint8Array) {
    this.id = id;
    this.up = createKeySlot(BACKHAUL_VERSION, 0, DIR_UP, linkGen, id, hesId);
    loadLinkKey(this.ctx, this.up, linkKey, 0, id);
    this.up.ctr = memCounter();
    this.down = createKeySlot(BACKHAUL_VERSION, 0, DIR_DOWN, linkGen, id, hesId);
    loadLinkKey(this.ctx, this.down, linkKey, 0, id);
  }

  /** Link counter of the last frame wrap() sealed (what the HES's LINK_ACK names). */
  get lastCounter(): number {
    return this.up.ctr!.next - 1;
  }

  /** Backhaul link frame of the given type carrying body (DATA: meter id ‖ e2e frame, as KitMeter.seal returns it). */
  wrap(body: Uint8Array, type = LINK_DATA): Uint8Array {
    const n = sealFrame(this.ctx, this.up, type, body, 0, body.length, this.buf, 0);
    if (n < 0) throw new Error(`kit: link seal failed ${n}`);
    return this.buf.slice(0, n);
  }

  /** Opens a downlink link frame: its type and body, or a negative error code. */
  unwrap(f: Uint8Array): { type: number; body: Uint8Array } | number {
    const r = parseHeader(f, 0, f.length, this.hdr);
    if (r < 0) return r;
    const out = new Uint8Array(MAX_BODY);
    const n = openFrame(this.ctx, this.hdr, this.down, f, 0, out, 0);
    if (n < 0) return n;
    return { type: this.hdr.op, body: out.slice(0, n) };
  }
}

/** A meter's end-to-end side on the core KeyRing (§8): staged key, CONFIRM under KC, activation, ACK of ACTIVATE. */
export class KitMeter {
  readonly id: Uint8Array;
  private readonly hesId: Uint8Array;
  private readonly ctx: CryptoCtx = createCryptoCtx();
  private readonly hdr: FrameHeader = createHeader();
  readonly ring: KeyRing;
  private readonly persist = (): boolean => true;
  private readonly sendSlots = new Map<string, KeySlot>();
  private readonly recvSlots = new Map<string, KeySlot>();
  private kc: KeySlot | null = null;
  private readonly buf = new Uint8Array(MAX_BODY);
  private readonly msg = createKeyUpdateMsg();
  /** Firmware received so far (begin resets it), with the image MAC and key generation of the BEGIN. */
  fw: { size: number; mac: Uint8Array; gen: number; data: Uint8Array[] } | null = null;

  constructor(id: Uint8Array, masterKey: Uint8Array, hesId: Uint8Array) {
    this.id = id;
    this.hesId = hesId;
    this.ring = createKeyRing(this.ctx, id, masterKey, 0, 0);
  }

  get mkGen(): number {
    return this.ring.mkGen;
  }

  /** Generation in force for op. */
  gen(op: number): number {
    return sendGen(this.ring, op);
  }

  /** True while a key is staged. */
  get staged(): boolean {
    return this.ring.xState === KX_STAGED;
  }

  private slot(map: Map<string, KeySlot>, op: number, dir: number, gen: number): KeySlot | null {
    const k = `${op}/${dir}/${gen}`;
    let s = map.get(k);
    if (s === undefined) {
      s = createKeySlot(E2E_VERSION, op, dir, gen, this.id, this.hesId);
      if (loadRingSlot(this.ctx, this.ring, s) !== 0) return null;
      if (dir === DIR_UP) s.ctr = memCounter();
      map.set(k, s);
    }
    return s;
  }

  /** Seals an uplink frame of op with a CBOR body under the key in force (or a given slot); returns meter id ‖ e2e frame. */
  seal(op: number, body: CborValue, slot?: KeySlot): Uint8Array {
    const s = slot ?? this.slot(this.sendSlots, op, DIR_UP, sendGen(this.ring, op))!;
    const b = cborEncode(body);
    this.buf.set(this.id, 0);
    const n = sealFrame(this.ctx, s, op, b, 0, b.length, this.buf, ID_LEN);
    if (n < 0) throw new Error(`kit: e2e seal failed ${n}`);
    return this.buf.slice(0, ID_LEN + n);
  }

  /** Seals an uplink frame of op whose body is the given bytes, as they are (hostile-body tests); returns meter id ‖ e2e frame. */
  sealRaw(op: number, body: Uint8Array): Uint8Array {
    const s = this.slot(this.sendSlots, op, DIR_UP, sendGen(this.ring, op))!;
    this.buf.set(this.id, 0);
    const n = sealFrame(this.ctx, s, op, body, 0, body.length, this.buf, ID_LEN);
    if (n < 0) throw new Error(`kit: e2e seal failed ${n}`);
    return this.buf.slice(0, ID_LEN + n);
  }

  /** Same frame sealed with a deliberately wrong master key (for "wrong key" tests). */
  sealWithWrongKey(op: number, body: CborValue): Uint8Array {
    const s = createKeySlot(E2E_VERSION, op, DIR_UP, this.ring.gens[op]!, this.id, this.hesId);
    loadE2eKeyFromMaster(this.ctx, s, new Uint8Array(16).fill(0x42), 0, this.id);
    s.ctr = memCounter();
    return this.seal(op, body, s);
  }

  /**
   * Handles one downlink e2e frame with the core meter calls; returns its op, body and the uplink
   * answers (CONFIRM, ACK of ACTIVATE, command replies), or a negative code when it does not open.
   */
  receive(data: Uint8Array): { op: number; body: unknown; replies: Uint8Array[] } | number {
    // meter id ‖ e2e frame (the backhaul DATA body): the id must be ours.
    if (data.length <= ID_LEN || data.subarray(0, ID_LEN).some((x, i) => x !== this.id[i])) return -6;
    const f = data.subarray(ID_LEN);
    const r = parseHeader(f, 0, f.length, this.hdr);
    if (r < 0) return r;
    const op = this.hdr.op;
    const gen = this.hdr.gen;
    if (!acceptsGen(this.ring, op, gen, true)) return -8;
    const s = this.slot(this.recvSlots, op, DIR_DOWN, gen);
    if (s === null) return -8;
    const n = openFrame(this.ctx, this.hdr, s, f, 0, this.buf, 0);
    if (n < 0) return n;
    meterOnAuthentic(this.ctx, this.ring, op, gen, this.persist);
    const replies: Uint8Array[] = [];
    if (op === OP_KEY_UPDATE) {
      if (parseKeyUpdate(this.buf, 0, n, this.msg) < 0) return -23;
      const m = this.msg;
      if (m.kind === 1) {
        const t = meterOnTransport(this.ring, m.scope, m.gen, this.buf, m.keyOff, this.persist);
        if (t >= 0) {
          if (this.kc === null || this.kc.gen !== m.gen) {
            this.kc = createKeySlot(E2E_VERSION, OP_KEY_UPDATE, DIR_UP, m.gen, this.id, this.hesId);
            loadRingKcSlot(this.ctx, this.ring, this.kc);
            this.kc.ctr = memCounter();
          }
          replies.push(this.seal(OP_KEY_UPDATE, [m.req, 2, m.scope, m.gen], this.kc));
        }
      } else if (m.kind === 3) {
        const a = meterOnActivate(this.ctx, this.ring, m.scope, m.gen, this.persist);
        if (a >= 0) replies.push(this.seal(OP_ACK, [m.req, OP_KEY_UPDATE, m.gen]));
      }
      return { op, body: { kind: m.kind, scope: m.scope, gen: m.gen }, replies };
    }
    const body = cborDecode(this.buf.slice(0, n)) as unknown[];
    if (op !== OP_ACK && Array.isArray(body)) {
      const req = body[0] as number;
      if (op === 0x02 && body[1] === 1) replies.push(this.seal(op, [req, 1, 1_700_000_000, 12345, 678]));
      else if (op === 0x02 && body[1] === 2) {
        const from = body[2] as number;
        const to = body[3] as number;
        const iv: CborValue[] = [];
        for (let q = from; q <= to; q++) iv.push([q, 1_700_000_000 + q * 900, q * 10, 100]);
        replies.push(this.seal(op, [req, 2, iv]));
      } else if (op === 0x03) replies.push(this.seal(op, [req, body[1] as number, 0]));
      else if (op === 0x06) {
        // begin [req,1,size,mac,version] → next offset 0; chunk [req,2,off,bytes] → off + len; activate [req,3] → size.
        // The kit does not check the MAC (tests compare fw.mac with the node:crypto reference).
        if (body[1] === 1) this.fw = { size: body[2] as number, mac: body[3] as Uint8Array, gen, data: [] };
        if (body[1] === 2 && this.fw !== null) this.fw.data.push(body[3] as Uint8Array);
        const next =
          this.fw === null ? 0 : body[1] === 2 ? (body[2] as number) + (body[3] as Uint8Array).length : body[1] === 3 ? this.fw.size : 0;
        replies.push(this.seal(op, [req, 0, next]));
      } else replies.push(this.seal(op, [req, 0]));
    }
    return { op, body, replies };
  }
}

/** Ops a meter has keys for. */
export const ALL_OPS = Array.from({ length: OP_MAX }, (_, i) => i + 1);
