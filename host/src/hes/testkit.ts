// Minimal in-process meter and concentrator built on the core, for HES tests, crash tests and the
// benchmark (the firmware apps are tested separately). They follow PROTOCOL.md §3–§8 literally.
import {
  createCryptoCtx,
  createHeader,
  createKeySlot,
  createSendCounter,
  parseHeader,
  openFrame,
  sealFrame,
  loadE2eKey,
  loadE2eKeyFromMaster,
  loadLinkKey,
  loadKcKey,
  deriveOpRoot,
  E2E_VERSION,
  LINK_VERSION,
  DIR_UP,
  DIR_DOWN,
  MAX_BODY,
  MAX_LINK_FRAME,
  LINK_DATA,
  OP_KEY_UPDATE,
  OP_MAX,
} from '@vakt/shared';
import type { CryptoCtx, KeySlot, FrameHeader } from '@vakt/shared';
import { cborEncode, cborDecode } from '../crypto/cbor.ts';
import type { CborValue } from '../crypto/cbor.ts';

const KEY_LEN = 16;

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
    this.up = createKeySlot(LINK_VERSION, 0, DIR_UP, linkGen, id, hesId);
    loadLinkKey(this.ctx, this.up, linkKey, 0, id);
    this.up.ctr = memCounter();
    this.down = createKeySlot(LINK_VERSION, 0, DIR_DOWN, linkGen, id, hesId);
    loadLinkKey(this.ctx, this.down, linkKey, 0, id);
  }

  /** Link frame of the given type carrying body (DATA: one e2e frame). */
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

/** A meter's end-to-end side with key update (§8): staged key, CONFIRM under KC, activation on first new downlink. */
export class KitMeter {
  readonly id: Uint8Array;
  private readonly hesId: Uint8Array;
  private readonly ctx: CryptoCtx = createCryptoCtx();
  private readonly hdr: FrameHeader = createHeader();
  mkGen = 0;
  private mk: Uint8Array;
  private readonly roots = new Map<number, { gen: number; root: Uint8Array }>();
  private readonly sendSlots = new Map<string, KeySlot>();
  private readonly recvSlots = new Map<string, KeySlot>();
  staged: { scope: number; gen: number; key: Uint8Array } | null = null;
  private readonly buf = new Uint8Array(MAX_BODY);

  constructor(id: Uint8Array, masterKey: Uint8Array, hesId: Uint8Array) {
    this.id = id;
    this.mk = masterKey.slice();
    this.hesId = hesId;
  }

  /** Current (generation, root) of an op. */
  opRoot(op: number): { gen: number; root: Uint8Array } {
    const o = this.roots.get(op);
    if (o !== undefined) return o;
    const root = new Uint8Array(KEY_LEN);
    deriveOpRoot(this.ctx, this.mk, 0, this.id, op, this.mkGen, root, 0);
    return { gen: this.mkGen, root };
  }

  private slot(map: Map<string, KeySlot>, op: number, dir: number, gen: number, root: Uint8Array): KeySlot {
    const k = `${op}/${dir}/${gen}`;
    let s = map.get(k);
    if (s === undefined) {
      s = createKeySlot(E2E_VERSION, op, dir, gen, this.id, this.hesId);
      loadE2eKey(this.ctx, s, root, 0, this.id);
      if (dir === DIR_UP) s.ctr = memCounter();
      map.set(k, s);
    }
    return s;
  }

  /** Seals an uplink frame of op with a CBOR body under the current key (or a given slot). */
  seal(op: number, body: CborValue, slot?: KeySlot): Uint8Array {
    const cur = this.opRoot(op);
    const s = slot ?? this.slot(this.sendSlots, op, DIR_UP, cur.gen, cur.root);
    const b = cborEncode(body);
    const n = sealFrame(this.ctx, s, op, b, 0, b.length, this.buf, 0);
    if (n < 0) throw new Error(`kit: e2e seal failed ${n}`);
    return this.buf.slice(0, n);
  }

  /** Same frame sealed with a deliberately wrong master key (for "wrong key" tests). */
  sealWithWrongKey(op: number, body: CborValue): Uint8Array {
    const s = createKeySlot(E2E_VERSION, op, DIR_UP, this.mkGen, this.id, this.hesId);
    loadE2eKeyFromMaster(this.ctx, s, new Uint8Array(KEY_LEN).fill(0x42), 0, this.id);
    s.ctr = memCounter();
    return this.seal(op, body, s);
  }

  /**
   * Handles one downlink e2e frame: returns its op and body and any uplink answers the meter sends
   * (key update CONFIRM; a status reply for commands). Returns a negative code when it does not open.
   */
  receive(f: Uint8Array): { op: number; body: unknown; replies: Uint8Array[] } | number {
    const r = parseHeader(f, 0, f.length, this.hdr);
    if (r < 0) return r;
    const op = this.hdr.op;
    const gen = this.hdr.gen;
    const cur = this.opRoot(op);
    let root: Uint8Array | null = null;
    let viaStaged = false;
    if (gen === cur.gen) root = cur.root;
    else if (this.staged !== null && gen === this.staged.gen && (this.staged.scope === 0 || this.staged.scope === op)) {
      if (this.staged.scope === 0) {
        root = new Uint8Array(KEY_LEN);
        deriveOpRoot(this.ctx, this.staged.key, 0, this.id, op, gen, root, 0);
      } else root = this.staged.key;
      viaStaged = true;
    }
    if (root === null) return -8;
    const s = this.slot(this.recvSlots, op, DIR_DOWN, gen, root);
    const n = openFrame(this.ctx, this.hdr, s, f, 0, this.buf, 0);
    if (n < 0) return n;
    if (viaStaged) this.activate();
    const body = cborDecode(this.buf.slice(0, n)) as unknown[];
    const replies: Uint8Array[] = [];
    if (op === OP_KEY_UPDATE && body[1] === 1) {
      const [req, , scope, newGen, key] = body as [number, number, number, number, Uint8Array];
      if (this.staged === null || this.staged.gen !== newGen) this.staged = { scope, gen: newGen, key: key.slice() };
      const kc = createKeySlot(E2E_VERSION, OP_KEY_UPDATE, DIR_UP, newGen, this.id, this.hesId);
      loadKcKey(this.ctx, kc, this.staged.key, 0, this.id, scope);
      kc.ctr = this.kcCounter(scope, newGen);
      replies.push(this.seal(OP_KEY_UPDATE, [req, 2, scope, newGen], kc));
    } else if (op === OP_KEY_UPDATE && body[1] === 3) {
      // ACTIVATE names the staged generation; for an op key it arrives under the old key-update key.
      if (this.staged !== null && body[2] === this.staged.scope && body[3] === this.staged.gen) this.activate();
    } else if (op !== OP_KEY_UPDATE && op !== 0x09 && Array.isArray(body)) {
      const req = body[0] as number;
      if (op === 0x02 && body[1] === 1) replies.push(this.seal(op, [req, 1, 1_700_000_000, 12345, 678]));
      else if (op === 0x02 && body[1] === 2) {
        const from = body[2] as number;
        const to = body[3] as number;
        const iv: CborValue[] = [];
        for (let q = from; q <= to; q++) iv.push([q, 1_700_000_000 + q * 900, q * 10, 100]);
        replies.push(this.seal(op, [req, 2, iv]));
      } else if (op === 0x03) replies.push(this.seal(op, [req, body[1] as number, 0]));
      else if (op === 0x06) replies.push(this.seal(op, [req, 0, 0]));
      else replies.push(this.seal(op, [req, 0]));
    }
    return { op, body, replies };
  }

  private readonly kcCounters = new Map<string, ReturnType<typeof memCounter>>();
  private kcCounter(scope: number, gen: number) {
    const k = `${scope}/${gen}`;
    let c = this.kcCounters.get(k);
    if (c === undefined) this.kcCounters.set(k, (c = memCounter()));
    return c;
  }

  private activate(): void {
    const s = this.staged!;
    if (s.scope === 0) {
      this.mk = s.key.slice();
      this.mkGen = s.gen;
      this.roots.clear();
    } else this.roots.set(s.scope, { gen: s.gen, root: s.key.slice() });
    this.staged = null;
  }
}

/** Ops a meter has keys for. */
export const ALL_OPS = Array.from({ length: OP_MAX }, (_, i) => i + 1);
