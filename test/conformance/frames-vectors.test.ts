// Re-verifies every committed wire vector (test/vectors/*.json, TEST keys only) with BOTH the core
// (shared/src) and the independent node:crypto reference (reference.ts): key chains, header bytes,
// sealed frame bytes and opened bodies. Any change of the wire format fails here.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as core from '@vakt/shared';
import * as ref from './reference.ts';

interface Vec {
  name: string;
  version: number;
  op: number;
  dir: number;
  enc: number;
  tagLen: number;
  gen: number;
  sender: string;
  receiver: string;
  counter: number;
  full: number;
  receiverLast: number;
  addr?: number;
  body: string;
  key: {
    kind: string;
    from: string;
    op?: number;
    dir: number;
    gen: number;
    opRoot?: string;
    transportedKey?: string;
    scope?: number;
    hop?: string;
    deviceId?: string;
  };
  frameKey: string;
  nonce: string;
  reconstructedHeader: string;
  wireHeader: string;
  frame: string;
}
interface Deriv {
  kind: string;
  label: string;
  inputKey: string;
  context: string;
  cmacInput: string;
  output: string;
}
interface VecFile {
  warning: string;
  testKeys: Record<string, string>;
  derivations: Deriv[];
  frames: Vec[];
}

const load = (p: string): VecFile => JSON.parse(readFileSync(new URL('../vectors/' + p, import.meta.url), 'utf8'));
const b = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const hx = (u: Uint8Array): string => Buffer.from(u).toString('hex');
const ctx = core.createCryptoCtx();

/** Recomputes the frame key of a vector from the TEST master/link keys, with the core and with the reference. */
function frameKeys(v: Vec, keys: Record<string, string>): [string, string] {
  const meterId = b(keys.meterId);
  const k = v.key;
  const c = new Uint8Array(16);
  let r: Buffer;
  if (k.kind === 'e2e') {
    const fromMaster = k.from === 'masterKey' || k.from === 'newMasterKey';
    const root = fromMaster ? null : b(k.transportedKey!);
    if (root === null) {
      const mk = b(k.from === 'newMasterKey' ? keys.newMasterKey : keys.masterKey);
      const ok = new Uint8Array(16);
      core.deriveOpRoot(ctx, mk, 0, meterId, v.op, k.gen, ok, 0);
      expect(hx(ok)).toBe(k.opRoot);
      core.deriveE2eKey(ctx, ok, 0, meterId, v.op, k.dir, k.gen, c, 0);
      const rok = ref.refOpRoot(mk, meterId, v.op, k.gen);
      expect(hx(rok)).toBe(k.opRoot);
      r = ref.refE2eKey(rok, meterId, v.op, k.dir, k.gen);
    } else {
      core.deriveE2eKey(ctx, root, 0, meterId, v.op, k.dir, k.gen, c, 0);
      r = ref.refE2eKey(root, meterId, v.op, k.dir, k.gen);
    }
  } else if (k.kind === 'kc') {
    const nk = b(k.transportedKey!);
    core.deriveKcKey(ctx, nk, 0, meterId, k.scope!, k.gen, c, 0);
    r = ref.refKcKey(nk, meterId, k.scope!, k.gen);
  } else {
    const lk = b(k.from === 'meterLinkKey' ? keys.meterLinkKey : keys.concLinkKey);
    const id = b(k.deviceId!);
    expect(hx(id)).toBe(k.hop === 'meter' ? keys.meterId : keys.concentratorId);
    core.deriveLinkKey(ctx, lk, 0, id, k.dir, k.gen, c, 0);
    r = ref.refLinkKey(lk, id, k.dir, k.gen);
  }
  return [hx(c), hx(r)];
}

function checkFile(file: string, layer: number): void {
  const f = load(file);
  describe(file, () => {
    it('is marked as TEST keys and covers the layer', () => {
      expect(f.warning).toMatch(/TEST KEYS ONLY/);
      expect(f.frames.length).toBeGreaterThan(5);
      for (const v of f.frames) expect(v.version).toBe(layer);
    });

    it('every derivation (with its CMAC input) matches core and reference', () => {
      for (const d of f.derivations) {
        const label = Buffer.from(d.label, 'ascii');
        const ctxBytes = b(d.context);
        expect(hx(Buffer.concat([Buffer.from([1]), label, Buffer.from([0]), ctxBytes, Buffer.from([0, 0x80])]))).toBe(d.cmacInput);
        expect(hx(ref.refCmac(b(d.inputKey), b(d.cmacInput)))).toBe(d.output);
        const rk = new Uint32Array(44);
        core.expandKey(b(d.inputKey), 0, rk);
        const out = new Uint8Array(16);
        core.kdf(ctx, rk, new Uint8Array(label), ctxBytes, 0, ctxBytes.length, out, 0);
        expect(hx(out)).toBe(d.output);
      }
    });

    for (const v of f.frames) {
      it(v.name, () => {
        // Key chain, both implementations.
        const [ck, rk] = frameKeys(v, f.testKeys);
        expect(ck).toBe(v.frameKey);
        expect(rk).toBe(v.frameKey);
        const key = b(v.frameKey);
        const body = b(v.body);
        const fields = {
          version: v.version,
          dir: v.dir,
          op: v.op,
          gen: v.gen,
          sender: b(v.sender),
          receiver: b(v.receiver),
          counter: v.counter,
          body,
          full: v.full === 1,
          addr: v.addr,
        };
        const bh = v.version === core.BACKHAUL_VERSION;
        // Reference recomputes the exact bytes from the inputs: R, the wire header, the frame.
        expect(hx(ref.refHeader(fields))).toBe(v.reconstructedHeader);
        expect(hx(ref.refWireHeader(fields))).toBe(v.wireHeader);
        expect(v.frame.startsWith(v.wireHeader)).toBe(true);
        expect(hx(ref.refSeal(fields, key))).toBe(v.frame);
        const rxState = { dir: v.dir, sender: b(v.sender), receiver: b(v.receiver), gen: v.gen, last: v.receiverLast };
        const ro = ref.refOpen(b(v.frame), key, rxState);
        expect(ro).not.toBeNull();
        expect(hx(ro!.body)).toBe(v.body);
        expect(ro!.counter).toBe(v.counter);
        // Core seals the same bytes (short form while the receiver is known to be in step, §6).
        const tx = core.createKeySlot(v.version, v.op, v.dir, v.gen, b(v.sender), b(v.receiver), v.addr);
        core.setSlotKey(tx, key, 0);
        tx.ctr = core.createSendCounter(v.counter, 1, () => true);
        tx.ctr.sync = v.full === 1 ? 0 : v.counter;
        const out = new Uint8Array(core.MAX_E2E_FRAME + 8);
        const n = core.sealFrame(ctx, tx, v.op, body, 0, body.length, out, 3);
        expect(n).toBe(b(v.frame).length);
        expect(hx(out.subarray(3, 3 + n))).toBe(v.frame);
        // Core parses and opens it from the receiver's state.
        const frame = b(v.frame);
        const hdr = core.createHeader();
        expect(core.parseHeader(frame, 0, frame.length, hdr)).toBe(0);
        expect([hdr.version, hdr.op, hdr.enc, hdr.full, hdr.bodyLen, hdr.tagLen, hdr.hdrLen]).toEqual([
          v.version,
          v.op,
          v.enc,
          v.full,
          body.length,
          v.tagLen,
          v.wireHeader.length / 2,
        ]);
        if (v.version !== core.E2E_VERSION) expect(hdr.dir).toBe(v.dir);
        if (v.version !== core.LINK_VERSION) expect(hdr.gen).toBe(v.gen);
        if (v.version === core.LINK_VERSION) expect(hdr.addr).toBe(v.addr);
        const nonce = new Uint8Array(13);
        core.writeNonce(b(v.reconstructedHeader), 0, nonce, 0);
        expect(hx(nonce)).toBe(v.nonce);
        const rx = core.createKeySlot(v.version, v.op, v.dir, v.gen, b(v.receiver), b(v.sender), v.addr);
        core.setSlotKey(rx, key, 0);
        rx.last = v.receiverLast;
        const pt = new Uint8Array(body.length + 4);
        expect(core.openFrame(ctx, hdr, rx, frame, 0, pt, 2)).toBe(body.length);
        expect(hx(pt.subarray(2, 2 + body.length))).toBe(v.body);
        expect(rx.last).toBe(v.counter);
        expect(hdr.counter).toBe(v.counter);
        expect(hx(hdr.sender)).toBe(v.sender);
        expect(hx(hdr.receiver)).toBe(v.receiver);
        // ENC frames do not carry the body in clear; MIC-only ones carry it right after the wire header.
        if (v.enc === 1 && body.length >= 4) expect(v.frame.includes(v.body)).toBe(false);
        if (v.enc === 0) expect(v.frame.slice(v.wireHeader.length, v.wireHeader.length + v.body.length)).toBe(v.body);
        if (bh) expect(v.wireHeader).toBe(v.reconstructedHeader);
      });
    }
  });
}

checkFile('e2e.json', core.E2E_VERSION);
checkFile('link.json', core.LINK_VERSION);
checkFile('backhaul.json', core.BACKHAUL_VERSION);

describe('vector coverage', () => {
  const e = load('e2e.json').frames;
  const l = load('link.json').frames;
  const bh = load('backhaul.json').frames;
  it('every end-to-end op in every allowed direction, both ENC modes', () => {
    for (let op = 1; op <= core.OP_MAX; op++) {
      for (const dir of [0, 1]) {
        const allowed = core.policyAllows(core.E2E_VERSION, op, dir);
        expect(e.some((v) => v.op === op && v.dir === dir)).toBe(allowed);
      }
    }
    expect(new Set(e.map((v) => v.enc))).toEqual(new Set([0, 1]));
    expect(e.filter((v) => v.key.kind === 'kc').map((v) => v.key.scope)).toEqual([core.OP_RELAY, core.SCOPE_MASTER]);
  });
  it('every link type in every allowed direction, on the radio hop and on the backhaul; both counter forms', () => {
    for (let t = 1; t <= core.LINK_MAX; t++) {
      for (const dir of [0, 1]) {
        expect(l.some((v) => v.op === t && v.dir === dir)).toBe(core.policyAllows(core.LINK_VERSION, t, dir));
        expect(bh.some((v) => v.op === t && v.dir === dir)).toBe(core.policyAllows(core.BACKHAUL_VERSION, t, dir));
      }
    }
    for (const list of [e, l]) expect(new Set(list.map((v) => v.full))).toEqual(new Set([0, 1]));
  });
  it('DATA bodies are the committed end-to-end frames, unchanged (backhaul: after the meter id)', () => {
    for (const v of l.filter((x) => x.op === 1)) expect(e.some((x) => x.frame === v.body)).toBe(true);
    for (const v of bh.filter((x) => x.op === 1)) expect(e.some((x) => load('e2e.json').testKeys.meterId + x.frame === v.body)).toBe(true);
  });
});

describe('PROTOCOL.md §8b worked examples', () => {
  const doc = readFileSync(new URL('../../docs/PROTOCOL.md', import.meta.url), 'utf8');
  const sec = doc.slice(doc.indexOf('## 8b.'), doc.indexOf('## 9.'));
  const E = load('e2e.json').frames;
  const L = load('link.json').frames;
  const e = E.find((v) => v.name === 'READING up, 11-byte body (the issue-11 budget)')!;
  const l = L.find((v) => v.name === 'DATA up meter -> concentrator (11-byte READING)')!;
  const ce = E.find((v) => v.name === 'RELAY down disconnect')!;
  const cl = L.find((v) => v.name === 'DATA down concentrator -> meter (RELAY)')!;
  const flat = (s: string) => s.replace(/[\s‖|`]/g, '');
  const ecb = (key: Uint8Array, block: Uint8Array): Uint8Array => {
    const rk = new Uint32Array(44);
    core.expandKey(key, 0, rk);
    const out = new Uint8Array(16);
    core.softAes.encryptBlock(rk, block, 0, out, 0);
    return out;
  };
  // CCM tag by hand (RFC 3610 §2.2-2.3) from the B0 given in the document.
  function tagFromB0(key: Uint8Array, b0: Uint8Array, aad: Uint8Array, msg: Uint8Array, nonce: Uint8Array, t: number): string {
    const blocks: number[] = [...b0, (aad.length >> 8) & 255, aad.length & 255, ...aad];
    while (blocks.length % 16) blocks.push(0);
    blocks.push(...msg);
    while (blocks.length % 16) blocks.push(0);
    let x: Uint8Array = new Uint8Array(16);
    for (let i = 0; i < blocks.length; i += 16)
      x = ecb(
        key,
        x.map((v, j) => v ^ blocks[i + j]),
      );
    const a0 = new Uint8Array(16);
    a0[0] = 1;
    a0.set(nonce, 1);
    const s0 = ecb(key, a0);
    return hx(x.subarray(0, t).map((v, j) => v ^ s0[j]));
  }
  it('the frames, keys, wire headers and reconstructed headers in the text are the vectors', () => {
    const text = flat(sec);
    for (const v of [e, l, ce, cl]) {
      expect(text).toContain(v.frame);
      expect(text).toContain(v.frameKey);
      expect(text).toContain(v.reconstructedHeader);
      expect(text).toContain(v.wireHeader);
    }
    expect(text).toContain(e.key.opRoot!);
  });
  it('the B0 blocks given in the text reproduce the tags (hand-made CCM on the block cipher, a = R ‖ wire header ‖ MIC-only body)', () => {
    const cases: [Vec, string][] = [
      [e, '59 4d455445523030310102030501 000b'],
      [l, '49 4d455445523030310102040001 0000'],
      [ce, '79 4845532d303030310000000303 0003'],
      [cl, '49 434f4e43453030310000000901 0000'],
    ];
    for (const [v, b0] of cases) {
      expect(flat(sec)).toContain(flat(b0));
      const f = b(v.frame);
      const hl = v.wireHeader.length / 2;
      const n = v.body.length / 2;
      const aad = Buffer.concat([b(v.reconstructedHeader), f.subarray(0, hl), v.enc === 1 ? new Uint8Array(0) : f.subarray(hl, hl + n)]);
      const msg = v.enc === 1 ? b(v.body) : new Uint8Array(0);
      expect(tagFromB0(b(v.frameKey), b(flat(b0)), aad, msg, b(v.nonce), v.tagLen)).toBe(v.frame.slice(-2 * v.tagLen));
    }
  });
  it('the line form of the reading is 35 bytes (the issue-11 budget: at most 40)', () => {
    const f = b(l.frame);
    const out = new Uint8Array(core.serialEncodedMaxLen(f.length));
    const n = core.encodeSerialFrame(f, 0, f.length, out, 0);
    expect(n).toBe(35);
    expect(flat(sec)).toContain(hx(out.subarray(0, n)));
  });
});

describe('key-update vectors replayed through keyupdate.ts (meter side)', () => {
  it('RELAY update to gen 1, then master update to gen 2: every frame opens or seals to the vector bytes', () => {
    const f = load('e2e.json');
    const T = f.testKeys;
    const V = (n: string) => f.frames.find((v) => v.name === n)!;
    const meter = b(T.meterId);
    const hes = b(T.hesId);
    const ring = core.createKeyRing(ctx, meter, b(T.masterKey), 0, 0);
    const persist = () => true;
    const msg = core.createKeyUpdateMsg();
    const hdr = core.createHeader();
    const body = new Uint8Array(core.MAX_BODY);
    const open = (v: Vec): number => {
      const fr = b(v.frame);
      expect(core.parseHeader(fr, 0, fr.length, hdr)).toBe(0);
      expect(core.acceptsGen(ring, hdr.op, hdr.gen, true)).toBe(true);
      const s = core.createKeySlot(core.E2E_VERSION, hdr.op, v.dir, hdr.gen, meter, hes);
      expect(core.loadRingSlot(ctx, ring, s)).toBe(0);
      s.last = v.receiverLast;
      const n = core.openFrame(ctx, hdr, s, fr, 0, body, 0);
      expect(n).toBe(v.body.length / 2);
      expect(core.meterOnAuthentic(ctx, ring, hdr.op, hdr.gen, persist)).toBeGreaterThanOrEqual(0);
      return n;
    };
    const sealAs = (v: Vec, kc: boolean): string => {
      const s = core.createKeySlot(core.E2E_VERSION, v.op, v.dir, v.gen, meter, hes);
      expect(kc ? core.loadRingKcSlot(ctx, ring, s) : core.loadRingSlot(ctx, ring, s)).toBe(0);
      s.ctr = core.createSendCounter(v.counter, 1, () => true);
      s.ctr.sync = v.full === 1 ? 0 : v.counter;
      const out = new Uint8Array(core.MAX_E2E_FRAME);
      const pt = b(v.body);
      const n = core.sealFrame(ctx, s, v.op, pt, 0, pt.length, out, 0);
      return hx(out.subarray(0, n));
    };
    // RELAY (scope 3) to generation 1.
    let n = open(V('KEY_UPDATE down TRANSPORT (scope RELAY, gen 1)'));
    expect(core.parseKeyUpdate(body, 0, n, msg)).toBe(0);
    expect(core.meterOnTransport(ring, msg.scope, msg.gen, body, msg.keyOff, persist)).toBe(core.KU_CHANGED);
    expect(sealAs(V('KEY_UPDATE up CONFIRM under KC[RELAY, 1]'), true)).toBe(V('KEY_UPDATE up CONFIRM under KC[RELAY, 1]').frame);
    n = open(V('KEY_UPDATE down ACTIVATE'));
    expect(core.parseKeyUpdate(body, 0, n, msg)).toBe(0);
    expect(core.meterOnActivate(ctx, ring, msg.scope, msg.gen, persist)).toBe(core.KU_CHANGED);
    expect(ring.gens[core.OP_RELAY]).toBe(1);
    open(V('RELAY down under the transported generation 1'));
    // Master key (scope 0) to generation 2.
    n = open(V('KEY_UPDATE down TRANSPORT (scope master, gen 2)'));
    expect(core.parseKeyUpdate(body, 0, n, msg)).toBe(0);
    expect(core.meterOnTransport(ring, msg.scope, msg.gen, body, msg.keyOff, persist)).toBe(core.KU_CHANGED);
    expect(sealAs(V('KEY_UPDATE up CONFIRM under KC[master, 2]'), true)).toBe(V('KEY_UPDATE up CONFIRM under KC[master, 2]').frame);
    n = open(V('KEY_UPDATE down ACTIVATE under the new master key (gen 2)')); // authentic under the staged gen: activates
    expect(ring.xState).toBe(core.KX_NONE);
    expect(core.parseKeyUpdate(body, 0, n, msg)).toBe(0);
    expect(core.meterOnActivate(ctx, ring, msg.scope, msg.gen, persist)).toBe(core.KU_NOCHANGE);
    for (let op = 1; op <= core.OP_MAX; op++) expect(ring.gens[op]).toBe(2);
    expect(hx(ring.mk)).toBe(T.newMasterKey);
    expect(sealAs(V('ACK up of the ACTIVATE (gen 2)'), false)).toBe(V('ACK up of the ACTIVATE (gen 2)').frame);
    expect(sealAs(V('READING up under the new master key (gen 2)'), false)).toBe(V('READING up under the new master key (gen 2)').frame);
  });
});
