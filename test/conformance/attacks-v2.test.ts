// The wire v2 rows of the attack table (PROTOCOL.md §12b): truncated-counter replay and desync,
// the 2^32 edge, short-address spoofing and collisions, a fragment from another sender, downgrade
// to wire v1. Run against the real core (the firmware and HES rows: scenario.test.ts, hostile.test.ts,
// test/host). Every attack is refused, never accepted, and leaves the receiver's state as it was.
import { describe, expect, it } from 'vitest';
import * as core from '@vakt/shared';
import { ADDR_A, ADDR_B, ctx, ID_A, ID_C, ID_H, lasts, makeWorld, receive, seal } from './frames-fixture.ts';
import { hdrOf } from './frames-hdrs.ts';
import { refOpen, refReconstruct, refSeal, REF_E2E, REF_UP } from './reference.ts';

const E2E = core.E2E_VERSION;
const LINK = core.LINK_VERSION;
const READING = new Uint8Array([0x85, 0x00, 0x05, 0x1a, 0x6a, 0xfd, 0x86, 0xc0, 0x18, 0x64, 0x00]);
const out = new Uint8Array(core.MAX_BODY);
const readingSlot = (w: ReturnType<typeof makeWorld>) => w.A.tx.find((s) => s.layer === E2E && s.op === core.OP_READING)!;
const hesReadingSlot = (w: ReturnType<typeof makeWorld>) =>
  w.H.rx.find((s) => s.op === core.OP_READING && Buffer.from(s.peer).equals(Buffer.from(ID_A)))!;

describe('counter reconstruction (§6), core and reference agree', () => {
  it('smallest value at or above last with the given low bits, for both windows, across wraps and at 2^32', () => {
    const lasts = [0, 1, 255, 256, 0xfff0, 0xffff, 0x10000, 0x01020304, 0xfffffeff, 0xfffffffe, 0xffffffff];
    for (const last of lasts) {
      for (const [bits, window] of [
        [8, core.HOP_CTR_WINDOW],
        [16, core.E2E_CTR_WINDOW],
      ] as const) {
        for (const low of [0, 1, 0x7f, window - 1, last % window, (last + 1) % window]) {
          const v = core.reconstructCounter(last, low, window);
          expect(v).toBe(refReconstruct(last, low, bits));
          expect(v >= last && v < last + window && v % window === low).toBe(true);
        }
      }
    }
    expect(core.reconstructCounter(0xfffffffe, 0xffff, core.E2E_CTR_WINDOW)).toBe(0xffffffff);
    expect(core.reconstructCounter(0xffffffff, 0x0000, core.E2E_CTR_WINDOW)).toBe(0x100000000); // above 2^32 - 1: never fresh
  });
});

describe('truncated-counter replay and desync', () => {
  it('an older short-form frame reconstructs above last and fails its tag; the last one again is ERR_REPLAY', () => {
    const w = makeWorld();
    const f1 = seal(w.A, E2E, core.OP_READING, ID_H, READING); // full (first of the key)
    const f2 = seal(w.A, E2E, core.OP_READING, ID_H, READING); // short
    const f3 = seal(w.A, E2E, core.OP_READING, ID_H, READING); // short
    expect([hdrOf(f1).full, hdrOf(f2).full, hdrOf(f3).full]).toEqual([1, 0, 0]);
    for (const f of [f1, f2, f3]) expect(receive(w.H, f, out)).toBe(READING.length);
    const st = lasts(w.H);
    expect(receive(w.H, f2, out)).toBe(core.ERR_TAG); // counter 2 reconstructed as 2 + 2^16
    expect(receive(w.H, f3, out)).toBe(core.ERR_REPLAY); // counter 3 = last: tag verifies, not fresh
    expect(receive(w.H, f1, out)).toBe(core.ERR_REPLAY); // full counter 1 < last
    expect(lasts(w.H)).toEqual(st);
  });

  it('beyond the window nothing is accepted; the next full-counter frame resynchronises; a replay never gets in', () => {
    const w = makeWorld();
    const tx = readingSlot(w);
    const rx = hesReadingSlot(w);
    expect(receive(w.H, seal(w.A, E2E, core.OP_READING, ID_H, READING), out)).toBe(READING.length);
    // The meter goes on for 2^16 frames the HES never sees (offline): its sender rule would send a
    // full counter every half window; the attacker suppresses exactly those.
    tx.ctr!.next += core.E2E_CTR_WINDOW;
    tx.ctr!.sync = tx.ctr!.next - 1; // the sender believes the receiver in step: short form
    const lost = seal(w.A, E2E, core.OP_READING, ID_H, READING);
    expect(hdrOf(lost).full).toBe(0);
    const before = rx.last;
    expect(receive(w.H, lost, out)).toBe(core.ERR_TAG); // reconstructed one window too low
    expect(rx.last).toBe(before);
    // Resync: the next full-counter frame (boot, half window, or lost acknowledgement) is accepted.
    tx.ctr!.sync = 0;
    const full = seal(w.A, E2E, core.OP_READING, ID_H, READING);
    expect(hdrOf(full).full).toBe(1);
    expect(receive(w.H, full, out)).toBe(READING.length);
    expect(rx.last).toBe(tx.ctr!.next - 1);
    // And from there the short form works again; the frame lost above is now an old one.
    expect(receive(w.H, seal(w.A, E2E, core.OP_READING, ID_H, READING), out)).toBe(READING.length);
    expect(receive(w.H, lost, out)).toBe(core.ERR_TAG);
  });

  it('the sender rule: full on the first frame of a key, at least every half window, and after sync = 0 (missing ack)', () => {
    const c = core.createSendCounter(5000, 64, () => true); // a reboot: resumes at the persisted limit
    const forms: boolean[] = [];
    for (let i = 0; i < 300; i++) {
      const v = core.takeCounter(c);
      const short = core.shortCounterOk(c, v, core.HOP_CTR_WINDOW);
      if (!short) c.sync = v;
      forms.push(short);
    }
    expect(forms[0]).toBe(false);
    const fulls = forms.map((s, i) => (s ? -1 : i)).filter((i) => i >= 0);
    for (let i = 1; i < fulls.length; i++) expect(fulls[i] - fulls[i - 1]).toBeLessThanOrEqual(core.HOP_CTR_WINDOW / 2);
    core.ackCounter(c, c.next - 1); // the receiver acknowledged the last one: short from here
    expect(core.shortCounterOk(c, c.next, core.HOP_CTR_WINDOW)).toBe(true);
    core.ackCounter(c, c.next + 5); // an acknowledgement of a value never sent is ignored
    expect(c.sync).toBe(c.next - 1);
  });

  it('the 2^32 edge: 2^32 - 1 is accepted in short form, nothing after it', () => {
    const w = makeWorld();
    const tx = readingSlot(w);
    const rx = hesReadingSlot(w);
    rx.last = 0xfffffffd;
    tx.ctr = core.createSendCounter(0xfffffffe, 64, () => true);
    tx.ctr.sync = 0xfffffffd;
    const a = seal(w.A, E2E, core.OP_READING, ID_H, READING);
    const b = seal(w.A, E2E, core.OP_READING, ID_H, READING);
    expect([hdrOf(a).full, hdrOf(b).full]).toEqual([0, 0]);
    expect(receive(w.H, a, out)).toBe(READING.length);
    expect(receive(w.H, b, out)).toBe(READING.length);
    expect(rx.last).toBe(0xffffffff);
    expect(core.sealFrame(ctx, tx, core.OP_READING, READING, 0, READING.length, new Uint8Array(64), 0)).toBe(core.ERR_COUNTER_EXHAUSTED);
    // A short value that can only mean 2^32 or more is refused before any cryptography.
    expect(receive(w.H, b, out)).toBe(core.ERR_REPLAY);
    const c = b.slice();
    c[3] ^= 1; // low bits 0xfffe: reconstructs to 2^32 + 0xfffe
    expect(receive(w.H, c, out)).toBe(core.ERR_REPLAY);
    expect(rx.last).toBe(0xffffffff);
    // The reference agrees: it opens a (re-sealed) 2^32 - 1 frame from last 2^32 - 2 only.
    const k = new Uint8Array(16).fill(3);
    const f = refSeal(
      { version: REF_E2E, dir: REF_UP, op: 1, gen: 0, sender: ID_A, receiver: ID_H, counter: 0xffffffff, body: READING },
      k,
    );
    expect(refOpen(f, k, { dir: REF_UP, sender: ID_A, receiver: ID_H, gen: 0, last: 0xfffffffe })?.counter).toBe(0xffffffff);
    expect(refOpen(f, k, { dir: REF_UP, sender: ID_A, receiver: ID_H, gen: 0, last: 0xffffffff })).toBeNull();
  });
});

describe('short addresses (§7)', () => {
  it("spoofing: meter A's radio frame under meter B's address is opened with B's key and fails; B's state is untouched", () => {
    const w = makeWorld();
    const f = seal(w.A, LINK, core.LINK_DATA, ID_C, seal(w.A, E2E, core.OP_READING, ID_H, READING));
    expect(hdrOf(f).addr).toBe(ADDR_A);
    const m = f.slice();
    m[2] = ADDR_B; // the address is one byte of the two here
    const before = lasts(w.C);
    expect(receive(w.C, m, out)).toBe(core.ERR_TAG);
    expect(lasts(w.C)).toEqual(before);
    expect(receive(w.C, f, out)).toBeGreaterThan(0);
  });

  it('a slot never takes a reserved address; a frame for an address nobody holds is ERR_UNKNOWN_SENDER', () => {
    for (const a of [0, 0xffff, 0x10000, -1, 1.5]) expect(() => core.createKeySlot(LINK, 0, core.DIR_UP, 0, ID_A, ID_C, a)).toThrow();
    expect(() => core.createKeySlot(LINK, 0, core.DIR_UP, 0, ID_A, ID_C)).toThrow();
    const w = makeWorld();
    const f = seal(w.A, LINK, core.LINK_ACK, ID_C, new Uint8Array([0x81, 0x01]));
    f[1] = 0xff;
    f[2] = 0xff;
    expect(receive(w.C, f, out)).toBe(core.ERR_UNKNOWN_SENDER);
  });

  it('a fragment from another sender: a frame reassembled from pieces of two meters fails the MIC of either', () => {
    const w = makeWorld();
    const big = new Uint8Array(60).map((_, i) => i);
    const fa = seal(w.A, LINK, core.LINK_DATA, ID_C, seal(w.A, E2E, core.OP_READ, ID_H, big));
    const fb = seal(w.B, LINK, core.LINK_DATA, ID_C, seal(w.B, E2E, core.OP_READ, ID_H, big));
    for (const cut of [8, 20, 40, fa.length - 4]) {
      const mixed = new Uint8Array([...fa.subarray(0, cut), ...fb.subarray(cut)]);
      expect([core.ERR_TAG, core.ERR_UNKNOWN_SENDER]).toContain(receive(w.C, mixed, out));
      const other = new Uint8Array([...fb.subarray(0, cut), ...fa.subarray(cut)]);
      expect([core.ERR_TAG, core.ERR_UNKNOWN_SENDER]).toContain(receive(w.C, other, out));
    }
    expect(receive(w.C, fa, out)).toBeGreaterThan(0);
    expect(receive(w.C, fb, out)).toBeGreaterThan(0);
  });
});

describe('downgrade to wire v1', () => {
  it('a v1 frame (first byte 0x01 or 0x81), even authentic under v1 rules, is refused before any key: ERR_VERSION', () => {
    const w = makeWorld();
    const v2 = seal(w.A, E2E, core.OP_READING, ID_H, READING);
    for (const b0 of [core.V1_E2E_VERSION, core.V1_LINK_VERSION]) {
      const v1 = new Uint8Array(26 + READING.length + 12);
      v1[0] = b0;
      v1.set(ID_A, 4);
      v1.set(ID_H, 12);
      v1[25] = READING.length;
      for (const dev of [w.A, w.B, w.C, w.H]) expect(receive(dev, v1, out)).toBe(core.ERR_VERSION);
    }
    expect(receive(w.H, v2, out)).toBe(READING.length);
    expect(receive(w.B, new Uint8Array([0xc1, 0, 1, 2, 3, 4, 5, 6]), out)).toBe(core.ERR_VERSION); // a fragment is no frame
  });
});
