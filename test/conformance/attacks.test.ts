// Frame-level attack table (seed white paper, Table 2: eavesdropping, modification, replay,
// reflection, spoofing; plus wrong-operation key, truncation/extension, key-generation downgrade
// and counter rollback), on wire v2 (PROTOCOL.md §3: compact e2e and radio-hop headers, backhaul
// header; the wire-v2-specific rows are in attacks-v2.test.ts). Every attack must be refused with
// the right typed error, leave the receiver's replay state untouched and hand out no plaintext.
import { describe, expect, it } from 'vitest';
import * as core from '@vakt/shared';
import { ctx, HDR, ID_A, ID_B, ID_C, ID_H, lasts, makeWorld, MK_A, receive, seal } from './frames-fixture.ts';
import { hdrOf, setOp } from './frames-hdrs.ts';

const E2E = core.E2E_VERSION;
const LINK = core.LINK_VERSION;
const BH = core.BACKHAUL_VERSION;
const name = (c: number): string => (c >= 0 ? 'OK(' + c + ')' : core.errorName(c));
const cbor = (...xs: number[]): Uint8Array => new Uint8Array(xs);
// [0, 4242, 1795000000, 1234567, 870]: a READING body
const READING = cbor(0x85, 0x00, 0x19, 0x10, 0x92, 0x1a, 0x6a, 0xfd, 0x86, 0xc0, 0x1a, 0x00, 0x12, 0xd6, 0x87, 0x19, 0x03, 0x66);
const RELAY_OFF = cbor(0x82, 0x13, 0x00); // [19, 0] disconnect
const CLOCK_SET = cbor(0x82, 0x15, 0x1a, 0x6a, 0xfd, 0x86, 0xc0);

/** What a single-bit flip of byte i (bit `bit`) of a frame of this kind must be refused with (PROTOCOL.md §3 check order). */
function fieldErrors(version: number, hdrLen: number, i: number, bit: number): number[] {
  if (version === BH) {
    if (i === core.OFF_VERSION) return [core.ERR_VERSION, core.ERR_OP, core.ERR_POLICY, core.ERR_LENGTH];
    if (i === core.OFF_FLAGS) return bit >= 2 ? [core.ERR_FLAGS] : [core.ERR_POLICY, core.ERR_UNKNOWN_SENDER];
    if (i === core.OFF_OP) return [core.ERR_OP, core.ERR_POLICY, core.ERR_LENGTH, core.ERR_UNKNOWN_SENDER, core.ERR_TAG];
    if (i === core.OFF_GEN) return [core.ERR_GENERATION];
    if (i < core.OFF_RECEIVER) return [core.ERR_UNKNOWN_SENDER];
    if (i < core.OFF_COUNTER) return [core.ERR_RECEIVER];
    if (i < core.OFF_BODY_LEN) return [core.ERR_TAG];
    if (i < core.HEADER_LEN) return [core.ERR_LENGTH];
    return [core.ERR_TAG];
  }
  // e2e 001X oooo ‖ gen ‖ counter; hop 01XD tttt ‖ addr(2) ‖ counter. The first byte: its marker bits
  // make it another kind or none (ERR_VERSION and whatever that kind then says), X changes the header
  // length (the tag fails), the op / type / direction bits the key or policy.
  const any = [
    core.ERR_VERSION,
    core.ERR_OP,
    core.ERR_POLICY,
    core.ERR_LENGTH,
    core.ERR_UNKNOWN_SENDER,
    core.ERR_RECEIVER,
    core.ERR_GENERATION,
    core.ERR_TAG,
  ];
  if (i === 0) return any;
  if (version === E2E && i === 1) return [core.ERR_GENERATION];
  if (version === LINK && i < 3) return [core.ERR_UNKNOWN_SENDER, core.ERR_RECEIVER]; // short address: no such meter here
  if (i < hdrLen) return [core.ERR_TAG]; // counter: another reconstructed value, R and nonce differ
  return [core.ERR_TAG]; // body and tag
}

function expectRefused(code: number, want: number | number[]): void {
  const wants = Array.isArray(want) ? want : [want];
  expect(wants.map(name)).toContain(name(code));
}

describe('eavesdropping', () => {
  it('no 3-byte window of any plaintext appears in an ENC frame (body + tag), for every ENC op and link type', () => {
    const w = makeWorld();
    const big = new Uint8Array(200).map((_, i) => (i * 37 + 11) & 255);
    const cases: [typeof w.A, number, number, Uint8Array, Uint8Array][] = [
      [w.A, E2E, core.OP_READING, ID_H, READING],
      [w.A, E2E, core.OP_READ, ID_H, big],
      [w.A, E2E, core.OP_EVENT, ID_H, big],
      [w.A, E2E, core.OP_RELAY, ID_H, big],
      [w.A, E2E, core.OP_CONFIG, ID_H, big],
      [w.H, E2E, core.OP_READ, ID_A, big],
      [w.H, E2E, core.OP_RELAY, ID_A, big],
      [w.H, E2E, core.OP_CONFIG, ID_A, big],
      [w.H, E2E, core.OP_KEY_UPDATE, ID_A, big],
      [w.H, BH, core.LINK_JOIN, ID_C, big],
      [w.H, BH, core.LINK_LEAVE, ID_C, big],
    ];
    for (const [dev, layer, op, peer, body] of cases) {
      expect(core.policyEnc(layer, op)).toBe(1);
      const f = seal(dev, layer, op, peer, body);
      const hay = Buffer.from(f.subarray(hdrOf(f).hdrLen));
      for (let i = 0; i + 3 <= body.length; i++) {
        expect(hay.indexOf(Buffer.from(body.subarray(i, i + 3)))).toBe(-1);
      }
    }
  });

  it('MIC-only ops (CLOCK, FIRMWARE, ACK, link DATA/LINK_ACK) carry the body in clear by policy, still authenticated', () => {
    const w = makeWorld();
    const f = seal(w.H, E2E, core.OP_CLOCK, ID_A, CLOCK_SET);
    const hl = hdrOf(f).hdrLen;
    expect(Buffer.from(f.subarray(hl, hl + CLOCK_SET.length)).equals(Buffer.from(CLOCK_SET))).toBe(true);
    for (let op = 1; op <= core.OP_MAX; op++) expect(core.policyEnc(E2E, op)).toBe([5, 6, 9].includes(op) ? 0 : 1);
  });
});

describe('modification: every single-bit flip of every byte is refused', () => {
  const cases: [string, (w: ReturnType<typeof makeWorld>) => [Uint8Array, ReturnType<typeof makeWorld>['A']]][] = [
    ['e2e READING (ENC) to the HES', (w) => [seal(w.A, E2E, core.OP_READING, ID_H, READING), w.H]],
    ['e2e CLOCK (MIC only) to meter A', (w) => [seal(w.H, E2E, core.OP_CLOCK, ID_A, CLOCK_SET), w.A]],
    ['e2e RELAY (16-byte tag) to meter A', (w) => [seal(w.H, E2E, core.OP_RELAY, ID_A, RELAY_OFF), w.A]],
    ['e2e ACK with empty body to meter A', (w) => [seal(w.H, E2E, core.OP_ACK, ID_A, new Uint8Array(0)), w.A]],
    [
      'e2e RELAY, short counter form, to meter A',
      (w) => {
        seal(w.H, E2E, core.OP_RELAY, ID_A, RELAY_OFF); // the first frame of a key carries the full counter (§6)
        const f = seal(w.H, E2E, core.OP_RELAY, ID_A, RELAY_OFF);
        expect(hdrOf(f).full).toBe(0);
        return [f, w.A];
      },
    ],
    [
      'radio-hop DATA to the concentrator',
      (w) => [seal(w.A, LINK, core.LINK_DATA, ID_C, seal(w.A, E2E, core.OP_READING, ID_H, READING)), w.C],
    ],
    ['backhaul JOIN (ENC) to the concentrator', (w) => [seal(w.H, BH, core.LINK_JOIN, ID_C, new Uint8Array(27).fill(7)), w.C]],
  ];
  for (const [label, make] of cases) {
    it(label, () => {
      const w = makeWorld();
      const [frame, rx] = make(w);
      const before = lasts(rx);
      const out = new Uint8Array(core.MAX_BODY);
      const n = frame.length;
      const h = hdrOf(frame);
      const bodyLen = h.bodyLen;
      let flips = 0;
      for (let i = 0; i < n; i++) {
        for (let bit = 0; bit < 8; bit++) {
          const m = frame.slice();
          m[i] ^= 1 << bit;
          out.fill(0xa5);
          const r = receive(rx, m, out);
          flips++;
          expect(r).toBeLessThan(0);
          // The right typed error per field.
          expectRefused(r, fieldErrors(h.version, h.hdrLen, i, bit));
          // No plaintext handed out, no replay state consumed.
          if (r === core.ERR_TAG || r === core.ERR_RECEIVER || r === core.ERR_REPLAY) {
            // (a flipped X bit changes the header length, so the body the receiver saw is HDR.bodyLen long)
            for (let k = 0; k < Math.min(bodyLen, HDR.bodyLen); k++) expect(out[k]).toBe(0);
          }
        }
      }
      expect(flips).toBe(n * 8);
      expect(lasts(rx)).toEqual(before);
      // The untouched frame still opens: nothing was consumed by the forgeries.
      expect(receive(rx, frame, out)).toBe(bodyLen);
    });
  }
});

describe('replay', () => {
  it('the same frame twice: second is ERR_REPLAY, state and output unchanged (full and short counter form)', () => {
    const w = makeWorld();
    const out = new Uint8Array(64);
    for (const full of [1, 0]) {
      const f = seal(w.H, E2E, core.OP_RELAY, ID_A, RELAY_OFF);
      expect(hdrOf(f).full).toBe(full);
      expect(receive(w.A, f, out)).toBe(RELAY_OFF.length);
      const st = lasts(w.A);
      out.fill(0xa5);
      // Short form: its low bits reconstruct to last itself, the tag verifies, and last is not fresh.
      expect(receive(w.A, f, out)).toBe(core.ERR_REPLAY);
      expect(Array.from(out.subarray(0, RELAY_OFF.length))).toEqual([0, 0, 0]);
      expect(lasts(w.A)).toEqual(st);
    }
  });
  it('an older counter after a newer one is ERR_REPLAY (e2e and link)', () => {
    const w = makeWorld();
    const out = new Uint8Array(core.MAX_BODY);
    const f1 = seal(w.A, E2E, core.OP_READING, ID_H, READING);
    const f2 = seal(w.A, E2E, core.OP_READING, ID_H, READING);
    expect(receive(w.H, f2, out)).toBe(READING.length);
    expect(receive(w.H, f1, out)).toBe(core.ERR_REPLAY);
    const l1 = seal(w.C, BH, core.LINK_ACK, ID_H, cbor(0x81, 0x01));
    const l2 = seal(w.C, BH, core.LINK_ACK, ID_H, cbor(0x81, 0x02));
    expect(receive(w.H, l2, out)).toBe(2);
    expect(receive(w.H, l1, out)).toBe(core.ERR_REPLAY);
  });
  it('one counter space per key: the same counter under another op is fresh, under the same key it is not', () => {
    const w = makeWorld();
    const out = new Uint8Array(core.MAX_BODY);
    const a = seal(w.A, E2E, core.OP_READING, ID_H, READING);
    const b = seal(w.A, E2E, core.OP_EVENT, ID_H, READING);
    expect(a.subarray(2, 6)).toEqual(b.subarray(2, 6)); // both counter 1 (full form), different keys and nonces
    expect(receive(w.H, a, out)).toBe(READING.length);
    expect(receive(w.H, b, out)).toBe(READING.length);
  });
});

describe('reflection', () => {
  it('a HES -> meter frame fed back to the HES is refused', () => {
    const w = makeWorld();
    const out = new Uint8Array(64);
    const f = seal(w.H, E2E, core.OP_RELAY, ID_A, RELAY_OFF);
    // The e2e frame names neither direction nor ids: the HES opens it with its RELAY UP key of meter A,
    // whose reconstructed header says UP, sender A, receiver H. Another key (D-3), another R: the tag fails.
    expect(receive(w.H, f, out)).toBe(core.ERR_TAG);
    const slot = w.H.rx.find((s) => s.op === core.OP_RELAY && Buffer.from(s.peer).equals(Buffer.from(ID_A)))!;
    expect(slot.last).toBe(0);
    // Even with the HES's DOWN sending key as a receive slot (a broken HES), R says sender A, receiver H: the tag fails.
    const hdr = hdrOf(f);
    const down = core.createKeySlot(E2E, core.OP_RELAY, core.DIR_DOWN, 0, ID_H, ID_A);
    down.rk.set(w.H.tx.find((s) => s.op === core.OP_RELAY && Buffer.from(s.peer).equals(Buffer.from(ID_A)))!.rk);
    expect(core.openFrame(ctx, hdr, down, f, 0, out, 0)).toBe(core.ERR_TAG);
  });
  it('a meter frame fed back to the meter is refused; rewritten as a downlink it fails the tag', () => {
    const w = makeWorld();
    const out = new Uint8Array(64);
    const f = seal(w.A, E2E, core.OP_RELAY, ID_H, cbor(0x83, 0x13, 0x00, 0x00));
    // Meter A opens it with its RELAY DOWN key and R = (DOWN, sender H, receiver A): the tag fails.
    expect(receive(w.A, f, out)).toBe(core.ERR_TAG);
    // READING is UP only: the meter holds no READING receive key at all.
    const r = seal(w.A, E2E, core.OP_READING, ID_H, READING);
    expect(receive(w.A, r, out)).toBe(core.ERR_UNKNOWN_SENDER);
    expect(lasts(w.A).every((x) => x === 0)).toBe(true);
  });
  it('link frames do not reflect either', () => {
    const w = makeWorld();
    const out = new Uint8Array(core.MAX_BODY);
    const f = seal(w.C, BH, core.LINK_ACK, ID_H, cbor(0x81, 0x01));
    expect(receive(w.C, f, out)).toBe(core.ERR_UNKNOWN_SENDER);
    // A meter's radio-hop frame back to it: it is UP, the meter only receives DOWN.
    const u = seal(w.A, LINK, core.LINK_ACK, ID_C, cbor(0x81, 0x01));
    expect(receive(w.A, u, out)).toBe(core.ERR_UNKNOWN_SENDER);
    // Its direction bit flipped to DOWN: the meter's DOWN key and R (DOWN, sender C) refuse it.
    const d = u.slice();
    d[0] ^= core.HOP_DOWN;
    expect(receive(w.A, d, out)).toBe(core.ERR_TAG);
  });
});

describe('spoofing', () => {
  it("meter A sealing with its own keys but claiming meter B's id is refused (ERR_TAG)", () => {
    const w = makeWorld();
    const out = new Uint8Array(64);
    const s = core.createKeySlot(E2E, core.OP_READING, core.DIR_UP, 0, ID_B, ID_H); // B's id, A's key
    core.loadE2eKeyFromMaster(ctx, s, MK_A, 0, ID_A);
    s.ctr = core.createSendCounter(0, 8, () => true);
    const f = new Uint8Array(100);
    const n = core.sealFrame(ctx, s, core.OP_READING, READING, 0, READING.length, f, 0);
    const before = lasts(w.H);
    // The backhaul names meter B (the id is not on the e2e wire): B's key and R with B's id refuse it.
    expect(receive(w.H, f.subarray(0, n), out, ID_B)).toBe(core.ERR_TAG);
    expect(lasts(w.H)).toEqual(before);
  });
  it('a frame from an unknown device is ERR_UNKNOWN_SENDER', () => {
    const w = makeWorld();
    const f = seal(w.A, E2E, core.OP_READING, ID_H, READING);
    expect(receive(w.H, f, new Uint8Array(64), new Uint8Array(8).fill(0x99))).toBe(core.ERR_UNKNOWN_SENDER);
    // On the radio hop, an unknown short address.
    const l = seal(w.A, LINK, core.LINK_DATA, ID_C, f);
    l[2] = 0x77;
    expect(receive(w.C, l, new Uint8Array(64))).toBe(core.ERR_UNKNOWN_SENDER);
  });
  it('a concentrator with only link keys cannot forge an end-to-end command, even inside a valid link frame', () => {
    const w = makeWorld();
    const out = new Uint8Array(core.MAX_BODY);
    // The concentrator seals a RELAY disconnect "from the HES" under every key it holds (its link keys).
    for (const k of w.C.tx.concat(w.C.rx)) {
      const s = core.createKeySlot(E2E, core.OP_RELAY, core.DIR_DOWN, 0, ID_H, ID_A);
      s.rk.set(k.rk);
      s.ctr = core.createSendCounter(0, 8, () => true);
      const f = new Uint8Array(100);
      const n = core.sealFrame(ctx, s, core.OP_RELAY, RELAY_OFF, 0, RELAY_OFF.length, f, 0);
      const forged = f.slice(0, n);
      expect(receive(w.A, forged, out)).toBe(core.ERR_TAG);
      // Wrapped in an authentic link DATA frame: the link layer accepts (it only attributes the
      // forwarder), the end-to-end layer refuses.
      const wrapped = seal(w.C, LINK, core.LINK_DATA, ID_A, forged);
      const m = receive(w.A, wrapped, out);
      expect(m).toBe(forged.length);
      expect(receive(w.A, out.slice(0, m), new Uint8Array(64))).toBe(core.ERR_TAG);
    }
  });
});

describe('wrong-operation key', () => {
  it('a disconnect sealed under the reading key is refused (ERR_TAG), and labelled as READING DOWN it is ERR_POLICY', () => {
    const w = makeWorld();
    const out = new Uint8Array(64);
    for (const keyOp of [core.OP_READING, core.OP_READ, core.OP_CONFIG, core.OP_EVENT]) {
      for (const keyDir of [core.DIR_UP, core.DIR_DOWN]) {
        const s = core.createKeySlot(E2E, core.OP_RELAY, core.DIR_DOWN, 0, ID_H, ID_A);
        const k = new Uint8Array(16);
        const ok = new Uint8Array(16);
        core.deriveOpRoot(ctx, MK_A, 0, ID_A, keyOp, 0, ok, 0);
        core.deriveE2eKey(ctx, ok, 0, ID_A, keyOp, keyDir, 0, k, 0);
        core.setSlotKey(s, k, 0);
        s.ctr = core.createSendCounter(0, 8, () => true);
        const f = new Uint8Array(100);
        const n = core.sealFrame(ctx, s, core.OP_RELAY, RELAY_OFF, 0, RELAY_OFF.length, f, 0);
        expect(receive(w.A, f.subarray(0, n), out)).toBe(core.ERR_TAG);
      }
    }
    const f = seal(w.H, E2E, core.OP_RELAY, ID_A, RELAY_OFF);
    setOp(f, core.OP_READING);
    // No READING receive key on a meter (READING is UP only); a slot forced on it is refused by policy.
    expect(receive(w.A, f, out)).toBe(core.ERR_UNKNOWN_SENDER);
    const rd = core.createKeySlot(E2E, core.OP_READING, core.DIR_DOWN, 0, ID_A, ID_H);
    expect(core.openFrame(ctx, hdrOf(f), rd, f, 0, out, 0)).toBe(core.ERR_POLICY);
    // Relabelled as another DOWN op with the same tag length (CONFIG, 16): wrong key -> ERR_TAG.
    const g = seal(w.H, E2E, core.OP_RELAY, ID_A, RELAY_OFF);
    setOp(g, core.OP_CONFIG);
    expect(receive(w.A, g, out)).toBe(core.ERR_TAG);
    // A sender cannot seal an op under another op's slot.
    const slot = w.H.tx.find((s) => s.op === core.OP_READ)!;
    expect(core.sealFrame(ctx, slot, core.OP_RELAY, RELAY_OFF, 0, 3, new Uint8Array(100), 0)).toBe(core.ERR_OP);
  });
});

describe('truncation and extension', () => {
  it('every other length of an e2e and a radio-hop frame is refused (ERR_LENGTH below header + tag, else ERR_TAG: the length is in R); nothing consumed', () => {
    const w = makeWorld();
    const out = new Uint8Array(core.MAX_BODY);
    const e = seal(w.H, E2E, core.OP_RELAY, ID_A, RELAY_OFF);
    const l = seal(w.C, LINK, core.LINK_DATA, ID_A, e);
    for (const f of [e, l]) {
      const h = hdrOf(f);
      const big = new Uint8Array(f.length + 64);
      big.set(f);
      for (let len = 0; len <= big.length; len++) {
        if (len === f.length) continue;
        const r = receive(w.A, big.subarray(0, len), out);
        expect(name(r)).toBe(name(len < h.hdrLen + h.tagLen ? core.ERR_LENGTH : core.ERR_TAG));
      }
    }
    expect(lasts(w.A).every((x) => x === 0)).toBe(true);
    expect(receive(w.A, l, out)).toBe(e.length);
    expect(receive(w.A, e, out)).toBe(RELAY_OFF.length);
  });
  it('every other length of a backhaul frame is ERR_LENGTH; truncating the body and fixing its length field breaks the tag', () => {
    const w = makeWorld();
    const f = seal(w.C, BH, core.LINK_DATA, ID_H, READING);
    const big = new Uint8Array(f.length + 64);
    big.set(f);
    for (let len = 0; len <= big.length; len++)
      if (len !== f.length) expect(receive(w.H, big.subarray(0, len), new Uint8Array(2000))).toBe(core.ERR_LENGTH);
    const tag = core.policyTagLen(BH, core.LINK_DATA);
    const n = READING.length - 5;
    const m = new Uint8Array(core.HEADER_LEN + n + tag);
    m.set(f.subarray(0, core.HEADER_LEN + n));
    m.set(f.subarray(f.length - tag), core.HEADER_LEN + n);
    m[24] = 0;
    m[25] = n;
    expect(receive(w.H, m, new Uint8Array(64))).toBe(core.ERR_TAG);
  });
  it('a body longer than MAX_BODY is refused on both sides', () => {
    const w = makeWorld();
    const slot = w.H.tx.find((s) => s.op === core.OP_FIRMWARE)!;
    const big = new Uint8Array(core.MAX_BODY + 1);
    expect(core.sealFrame(ctx, slot, core.OP_FIRMWARE, big, 0, big.length, new Uint8Array(2000), 0)).toBe(core.ERR_TOO_LARGE);
    const f = new Uint8Array(core.E2E_HDR_SHORT + core.MAX_BODY + 1 + 16);
    f[0] = core.E2E_MARK | core.OP_FIRMWARE;
    expect(receive(w.A, f, new Uint8Array(2000))).toBe(core.ERR_LENGTH);
  });
});

describe('key-generation downgrade', () => {
  it('after RELAY moves to generation 1, a recorded authentic generation-0 command is ERR_GENERATION', () => {
    const w = makeWorld();
    const out = new Uint8Array(64);
    const old = seal(w.H, E2E, core.OP_RELAY, ID_A, RELAY_OFF); // recorded by the attacker, never delivered
    // Meter A replaces its RELAY receive slot by generation 1 (as after a key update).
    const i = w.A.rx.findIndex((s) => s.layer === E2E && s.op === core.OP_RELAY);
    const newRoot = new Uint8Array(16).fill(0x5a);
    const s1 = core.createKeySlot(E2E, core.OP_RELAY, core.DIR_DOWN, 1, ID_A, ID_H);
    core.loadE2eKey(ctx, s1, newRoot, 0, ID_A);
    w.A.rx[i] = s1;
    expect(receive(w.A, old, out)).toBe(core.ERR_GENERATION);
    // Relabelling the old frame as generation 1 breaks the tag (the generation is authenticated).
    const m = old.slice();
    m[1] = 1; // the e2e gen byte
    expect(receive(w.A, m, out)).toBe(core.ERR_TAG);
    expect(s1.last).toBe(0);
  });
  it('a key-update TRANSPORT to an older or equal generation is ERR_GENERATION', () => {
    const ring = core.createKeyRing(ctx, ID_A, MK_A, 0, 3);
    const k = new Uint8Array(16).fill(1);
    for (const g of [0, 1, 2, 3]) expect(core.meterOnTransport(ring, core.OP_RELAY, g, k, 0, () => true)).toBe(core.ERR_GENERATION);
    expect(core.meterOnTransport(ring, core.OP_RELAY, 4, k, 0, () => true)).toBe(core.KU_CHANGED);
  });
});

describe('counter rollback after a reboot', () => {
  it('the sender resumes above everything it may have sent; a rolled-back sender is refused', () => {
    const w = makeWorld();
    const out = new Uint8Array(64);
    let disk = 0;
    const persist = (l: number): boolean => {
      disk = l;
      return true;
    };
    const slot = w.A.tx.find((s) => s.layer === E2E && s.op === core.OP_READING)!;
    slot.ctr = core.createSendCounter(disk, 4, persist);
    const seen: number[] = [];
    const recorded: Uint8Array[] = [];
    for (let boot = 0; boot < 5; boot++) {
      for (let k = 0; k < boot + 2; k++) {
        const f = seal(w.A, E2E, core.OP_READING, ID_H, READING);
        recorded.push(f);
        const h = hdrOf(f);
        if (h.full === 1) seen.push(h.counter); // the first frame after every boot carries the full counter (§6)
        expect(receive(w.H, f, out)).toBe(READING.length);
      }
      slot.ctr = core.createSendCounter(disk, 4, persist); // reboot: RAM lost, flash kept
    }
    expect(new Set(seen).size).toBe(seen.length);
    // A sender that lost its counter (rolled back to a fresh state) produces only refused frames: its
    // first (full counter) is a replay, the next (short counters) reconstruct above last and fail their tag.
    slot.ctr = core.createSendCounter(0, 4, () => true);
    for (let k = 0; k < 5; k++)
      expect(receive(w.H, seal(w.A, E2E, core.OP_READING, ID_H, READING), out)).toBe(k === 0 ? core.ERR_REPLAY : core.ERR_TAG);
    // The receiver reboots with the replay state it persisted: every recorded frame is still a replay.
    const i = w.H.rx.findIndex((s) => s.op === core.OP_READING && Buffer.from(s.peer).equals(Buffer.from(ID_A)));
    const persistedLast = w.H.rx[i].last;
    const fresh = core.createKeySlot(E2E, core.OP_READING, core.DIR_UP, 0, ID_H, ID_A);
    core.loadE2eKeyFromMaster(ctx, fresh, MK_A, 0, ID_A);
    fresh.last = persistedLast;
    w.H.rx[i] = fresh;
    // (full counter: ERR_REPLAY; short: it reconstructs above last and fails its tag, or to last itself: ERR_REPLAY)
    for (const f of recorded) expectRefused(receive(w.H, f, out), hdrOf(f).full === 1 ? core.ERR_REPLAY : [core.ERR_REPLAY, core.ERR_TAG]);
    expect(w.H.rx[i].last).toBe(persistedLast);
    // The honest sender, resumed from its flash, is above all of it and accepted.
    slot.ctr = core.createSendCounter(disk, 4, persist);
    expect(receive(w.H, seal(w.A, E2E, core.OP_READING, ID_H, READING), out)).toBe(READING.length);
  });
});
