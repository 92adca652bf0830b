// Concentrator store-and-forward fairness (issue 10): a meter whose frames are never acknowledged —
// a hostile key holder flooding, or frames the HES will not take — holds at most its share of the
// queue and its frames expire after bounded tries once the HES is seen to take others; the meter
// beside it keeps getting its frames stored and delivered.
import { describe, it, expect } from 'vitest';
import { randomBytes } from 'node:crypto';
import { encodeSerialFrame, serialEncodedMaxLen } from '@vakt/shared/serial';
import { createCryptoCtx } from '@vakt/shared/ctx';
import { createKeySlot, loadLinkKey, setSlotKey } from '@vakt/shared/keys';
import type { KeySlot } from '@vakt/shared/keys';
import { createSendCounter } from '@vakt/shared/counter';
import { sealFrame } from '@vakt/shared/seal';
import { E2E_VERSION, LINK_VERSION, MAX_LINK_FRAME } from '@vakt/shared/frame';
import { DIR_UP, LINK_DATA, OP_READING } from '@vakt/shared/policy';
import { Rig } from './harness.ts';

const T0 = 1_800_000_000;

/** A meter joined at the rig's concentrator, sending authentic link frames around opaque e2e frames. */
class LinkMeter {
  readonly id = new Uint8Array(randomBytes(8));
  private readonly lk = new Uint8Array(randomBytes(16));
  private readonly ctx = createCryptoCtx();
  private readonly link: KeySlot;
  private readonly e2e: KeySlot;
  private readonly inner = new Uint8Array(MAX_LINK_FRAME);
  private readonly out = new Uint8Array(MAX_LINK_FRAME);

  constructor(private readonly rig: Rig) {
    rig.hes.join(this.id, this.lk, 0);
    rig.net.run();
    // Its short address on the radio link: the one the HES gave it in the JOIN (PROTOCOL.md §7).
    this.link = createKeySlot(LINK_VERSION, 0, DIR_UP, 0, this.id, rig.w.id.conc, rig.hes.addrOf(this.id));
    loadLinkKey(this.ctx, this.link, this.lk, 0, this.id);
    this.link.ctr = createSendCounter(0, 1 << 20, () => true);
    this.e2e = createKeySlot(E2E_VERSION, OP_READING, DIR_UP, 0, this.id, rig.w.id.hes);
    setSlotKey(this.e2e, new Uint8Array(16).fill(9), 0);
    this.e2e.ctr = createSendCounter(0, 1 << 20, () => true);
  }

  send(): void {
    const n = sealFrame(this.ctx, this.e2e, OP_READING, new Uint8Array([0x80]), 0, 1, this.inner, 0);
    const m = sealFrame(this.ctx, this.link, LINK_DATA, this.inner, 0, n, this.out, 0);
    const s = new Uint8Array(serialEncodedMaxLen(m));
    const k = encodeSerialFrame(this.out, 0, m, s, 0);
    this.rig.conc.onMeterLine(1, s.subarray(0, k));
    this.rig.net.run();
  }

  slot(): number {
    return this.rig.conc.table.find(this.id, 0);
  }
}

describe('concentrator queue fairness', () => {
  it('a flooding meter holds at most its share while the HES is away; the meter beside it is still stored', () => {
    const rig = new Rig(T0, { intervalS: 900 }, { upSlots: 16, retryS: 30 });
    const a = new LinkMeter(rig);
    const b = new LinkMeter(rig);
    rig.net.drop = (tag) => tag === 'conc-up'; // HES link down
    for (let i = 0; i < 40; i++) a.send();
    for (let i = 0; i < 3; i++) b.send();
    const q = rig.conc.upQueue;
    expect(q.held(a.slot())).toBe(8); // half of 16
    expect(q.held(b.slot())).toBe(3);
    expect(q.refusedOwner).toBe(32);
    rig.net.drop = null;
    const before = rig.hes.linkAcked;
    for (let t = 1; t <= 5; t++) {
      rig.conc.tick(T0 + 60 * t);
      rig.net.run();
    }
    expect(rig.hes.linkAcked - before).toBe(11);
    expect(q.size()).toBe(0);
  });

  it("frames the HES never takes expire after bounded tries; the other meter's frames keep flowing at their rate", () => {
    const rig = new Rig(T0, { intervalS: 900 }, { upSlots: 16, retryS: 30 });
    const a = new LinkMeter(rig);
    const b = new LinkMeter(rig);
    rig.hes.neverAck = a.id; // poison: the HES refuses a's frames without settling them
    const q = rig.conc.upQueue;
    let delivered = 0;
    for (let minute = 1; minute <= 30; minute++) {
      a.send();
      const before = rig.hes.linkAcked;
      b.send();
      delivered += rig.hes.linkAcked - before;
      rig.conc.tick(T0 + 60 * minute);
      rig.net.run();
      expect(q.held(a.slot())).toBeLessThanOrEqual(8);
    }
    // Every frame of b was stored and acknowledged at once, for the whole half hour.
    expect(delivered).toBe(30);
    expect(q.held(b.slot())).toBe(0);
    // a's frames were tried a bounded number of times and then dropped, counted.
    expect(q.expired).toBeGreaterThan(0);
    expect(rig.hes.unacked).toBeLessThan(30 * 9);
  });
});
