// openFrame trusts the header object parseHeader filled only while it still describes the frame
// bytes it is given (docs/PROTOCOL.md §13): a stale header (from another frame, or from these
// bytes before they were overwritten), a shifted offset or a hand-edited field is refused with
// ERR_BUFFER, the output is left alone and the replay state does not move. And sealFrame's
// direct path (body in another buffer) gives the same bytes as sealing a body already in place,
// also when the body is a view into the output's header region.
import { describe, expect, it } from 'vitest';
import * as core from '@vakt/shared';
import { ctx, ID_A, ID_H, lasts, makeWorld, MK_A, seal, txSlot } from './frames-fixture.ts';
import * as ref from './reference.ts';

const E2E = core.E2E_VERSION;
/** The FrameHeader fields an e2e frame's wire bytes determine (ids and direction come from the slot, §3). */
const E2E_WIRE_FIELDS = ['version', 'enc', 'op', 'gen', 'counter', 'full', 'addr', 'hdrLen', 'bodyLen', 'tagLen', 'frameLen'] as const;
const body = (n: number, k: number): Uint8Array => new Uint8Array(n).map((_, i) => (i * 13 + k) & 255);

describe('openFrame and a header that does not describe the frame', () => {
  it('a header parsed from another frame of the same slot and length is refused, not trusted', () => {
    const w = makeWorld();
    const f1 = seal(w.H, E2E, core.OP_RELAY, ID_A, body(20, 1));
    const f2 = seal(w.H, E2E, core.OP_RELAY, ID_A, body(20, 2));
    const slot = w.A.rx.find((s) => s.op === core.OP_RELAY)!;
    const hdr = core.createHeader();
    expect(core.parseHeader(f2, 0, f2.length, hdr)).toBe(0); // counter 2
    const out = new Uint8Array(64).fill(0x77);
    // Opening f1 with f2's header would record counter 2 for f1's counter 1 if hdr were trusted.
    expect(core.openFrame(ctx, hdr, slot, f1, 0, out, 0)).toBe(core.ERR_BUFFER);
    expect(slot.last).toBe(0);
    expect(out.every((x) => x === 0x77)).toBe(true);
    // Parsed properly, both open in order.
    expect(core.parseHeader(f1, 0, f1.length, hdr)).toBe(0);
    expect(core.openFrame(ctx, hdr, slot, f1, 0, out, 0)).toBe(20);
    expect(core.parseHeader(f2, 0, f2.length, hdr)).toBe(0);
    expect(core.openFrame(ctx, hdr, slot, f2, 0, out, 0)).toBe(20);
    expect(slot.last).toBe(2);
  });

  it('a buffer overwritten after parseHeader, a shifted offset, an edited field or a fresh header are refused', () => {
    const w = makeWorld();
    const slot = w.A.rx.find((s) => s.op === core.OP_CONFIG)!;
    const f = seal(w.H, E2E, core.OP_CONFIG, ID_A, body(33, 5));
    const buf = new Uint8Array(f.length + 4);
    buf.set(f, 2);
    const hdr = core.createHeader();
    const out = new Uint8Array(64);
    const before = lasts(w.A);
    expect(core.openFrame(ctx, core.createHeader(), slot, buf, 2, out, 0)).toBe(core.ERR_BUFFER);
    expect(core.parseHeader(buf, 2, f.length, hdr)).toBe(0);
    for (const off of [0, 1, 3, 4, -1, 0.5, NaN]) expect(core.openFrame(ctx, hdr, slot, buf, off, out, 0)).toBe(core.ERR_BUFFER);
    for (let i = 0; i < hdr.hdrLen; i++) {
      const m = buf.slice();
      m[2 + i] ^= 0x01;
      expect(core.openFrame(ctx, hdr, slot, m, 2, out, 0)).toBe(core.ERR_BUFFER);
    }
    const fields = E2E_WIRE_FIELDS;
    for (const k of fields) {
      const h = { ...hdr, sender: hdr.sender.slice(), receiver: hdr.receiver.slice() };
      h[k] = (h[k] + 1) & 0xff;
      expect(core.openFrame(ctx, h, slot, buf, 2, out, 0)).toBe(core.ERR_BUFFER);
    }
    expect(core.openFrame(ctx, hdr, slot, buf.subarray(0, buf.length - 3), 2, out, 0)).toBe(core.ERR_BUFFER);
    expect(lasts(w.A)).toEqual(before);
    expect(core.openFrame(ctx, hdr, slot, buf, 2, out, 0)).toBe(33);
  });
});

describe('parseHeader in verify mode (what openFrame checks)', () => {
  it('accepts the header parsed from the same bytes, refuses any edited field or id, never writes hdr', () => {
    const w = makeWorld();
    const f = seal(w.H, E2E, core.OP_CONFIG, ID_A, body(17, 4));
    const hdr = core.createHeader();
    expect(core.parseHeader(f, 0, f.length, hdr)).toBe(0);
    expect(core.parseHeader(f, 0, f.length, hdr, true)).toBe(0);
    const fields = E2E_WIRE_FIELDS;
    for (const k of fields) {
      for (const d of [1, 0.5, 256, 0x100000000]) {
        const h = { ...hdr, sender: hdr.sender.slice(), receiver: hdr.receiver.slice() };
        h[k] = h[k] + d;
        const before = JSON.stringify({ ...h, sender: Array.from(h.sender), receiver: Array.from(h.receiver) });
        expect(core.parseHeader(f, 0, f.length, h, true)).toBe(core.ERR_BUFFER);
        expect(JSON.stringify({ ...h, sender: Array.from(h.sender), receiver: Array.from(h.receiver) })).toBe(before);
      }
    }
    // A backhaul header carries the ids (and flags): an edited id is refused too.
    const bf = seal(w.C, core.BACKHAUL_VERSION, core.LINK_ACK, ID_H, body(3, 1));
    const bh = core.createHeader();
    expect(core.parseHeader(bf, 0, bf.length, bh)).toBe(0);
    expect(core.parseHeader(bf, 0, bf.length, bh, true)).toBe(0);
    for (const id of ['sender', 'receiver'] as const) {
      const h = { ...bh, sender: bh.sender.slice(), receiver: bh.receiver.slice() };
      h[id][7] ^= 1;
      expect(core.parseHeader(bf, 0, bf.length, h, true)).toBe(core.ERR_BUFFER);
    }
    for (const k of ['flags', 'dir'] as const) {
      const h = { ...bh, sender: bh.sender.slice(), receiver: bh.receiver.slice() };
      h[k] = h[k] ^ 1;
      expect(core.parseHeader(bf, 0, bf.length, h, true)).toBe(core.ERR_BUFFER);
    }
    // Bytes that do not parse give the parse error, hdr untouched.
    const m = f.slice();
    m[0] = 0x02;
    expect(core.parseHeader(m, 0, m.length, hdr, true)).toBe(core.ERR_VERSION);
    expect(core.parseHeader(f, 0, f.length, hdr, true)).toBe(0);
  });
});

describe('sealFrame with the body in another buffer', () => {
  it('gives the reference bytes for every op, whatever the body length (0..70)', () => {
    const w = makeWorld();
    for (let op = 1; op <= core.OP_MAX; op++) {
      if (!core.policyAllows(E2E, op, core.DIR_DOWN)) continue;
      const s = txSlot(w.H, E2E, op, ID_A);
      for (let n = 0; n <= 70; n++) {
        const b = body(n, op);
        const ctr = s.ctr!.next;
        const sync = s.ctr!.sync;
        const out = new Uint8Array(core.MAX_E2E_FRAME);
        const len = core.sealFrame(ctx, s, op, b, 0, n, out, 3);
        // The same frame from a body already in place in the output (moved to after the wire header).
        s.ctr!.next = ctr; // test only: same counter (and counter form) to compare bytes
        s.ctr!.sync = sync;
        const inPlace = new Uint8Array(core.MAX_E2E_FRAME);
        inPlace.set(b, 3 + core.HEADER_LEN);
        expect(core.sealFrame(ctx, s, op, inPlace, 3 + core.HEADER_LEN, n, inPlace, 3)).toBe(len);
        expect(Buffer.from(out.subarray(3, 3 + len)).equals(Buffer.from(inPlace.subarray(3, 3 + len)))).toBe(true);
      }
    }
  });

  it('agrees with the node:crypto reference', () => {
    const w = makeWorld();
    const s = txSlot(w.A, E2E, core.OP_READING, ID_H);
    const rawKey = ref.refE2eKey(ref.refOpRoot(MK_A, ID_A, core.OP_READING, 0), ID_A, core.OP_READING, core.DIR_UP, 0);
    for (const n of [0, 1, 15, 16, 17, 64, 100, core.MAX_BODY]) {
      const b = body(n, 9);
      const out = new Uint8Array(core.MAX_E2E_FRAME);
      const len = core.sealFrame(ctx, s, core.OP_READING, b, 0, n, out, 0);
      const hdr = core.createHeader();
      expect(core.parseHeader(out, 0, len, hdr)).toBe(0);
      const r = ref.refSeal(
        {
          version: E2E,
          dir: core.DIR_UP,
          op: core.OP_READING,
          gen: 0,
          sender: Buffer.from(ID_A),
          receiver: Buffer.from(ID_H),
          counter: s.ctr!.next - 1,
          body: Buffer.from(b),
          full: hdr.full === 1,
        },
        rawKey,
      );
      expect(Buffer.from(out.subarray(0, len)).toString('hex')).toBe(r.toString('hex'));
    }
  });

  it('a body that is a view into the output header region is read before the header is written', () => {
    const w = makeWorld();
    const s = txSlot(w.H, E2E, core.OP_RELAY, ID_A);
    const b = body(20, 3);
    const ctr = s.ctr!.next;
    const sync = s.ctr!.sync;
    const ref1 = new Uint8Array(100);
    const n = core.sealFrame(ctx, s, core.OP_RELAY, b, 0, b.length, ref1, 0);
    s.ctr!.next = ctr;
    s.ctr!.sync = sync;
    const out = new Uint8Array(100);
    out.set(b, 2); // body partly inside what becomes the header
    expect(core.sealFrame(ctx, s, core.OP_RELAY, out.subarray(2, 22), 0, 20, out, 0)).toBe(n);
    expect(Buffer.from(out.subarray(0, n)).equals(Buffer.from(ref1.subarray(0, n)))).toBe(true);
  });
});
