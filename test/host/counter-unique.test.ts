// No (key, counter) is ever sealed twice by the HES (issue 10): across restarts, SIGKILLs at random
// moments, and two HES processes writing one store at once (what the serve lease prevents, and the
// compare-and-set reservation survives anyway). Every downlink frame a child HES hands out — JOIN,
// LINK_ACK, DATA with an end-to-end command or ACK inside — is recorded with its link key and
// counter and, for DATA, its end-to-end key and counter; none may repeat. (Uplink counters of
// meters and concentrators across power cuts: test/firmware/powercut*.test.ts.)
import { describe, it, expect, afterEach } from 'vitest';
import { createHeader, parseHeader, reconstructCounter, E2E_CTR_WINDOW, ID_LEN } from '@vakt/shared';
import { toHex } from '../../host/src/crypto/bytes.ts';
import { makeFixture as makeFixtureOn, closeFixtures, readingFrame } from './hes-fixture.ts';
import { hesStores } from './hes-stores.ts';
import type { Fixture } from './hes-fixture.ts';
import { GuardedHes } from './hes-guard.ts';

const hdr = createHeader();

/** Key and counter of a backhaul frame's header: "layer/sender/receiver/gen#counter" split in key and counter. */
function keyOf(f: Uint8Array): { key: string; counter: number } {
  if (parseHeader(f, 0, f.length, hdr) < 0) throw new Error('unparsable downlink frame');
  // Link keys are per (sender, receiver, gen) whatever the link type.
  return { key: `${hdr.version}/${toHex(hdr.sender)}/${toHex(hdr.receiver)}/${hdr.gen}`, counter: hdr.counter };
}

/**
 * Key and counter of the e2e frame in a backhaul DATA body (meter id ‖ e2e frame, PROTOCOL.md §7):
 * "e2e/meter/op/gen"; a short counter is reconstructed from the last value seen under the key, as
 * the meter does (the HES's first frame per key after a (re)start carries the full counter, §6).
 */
function e2eKeyOf(body: Uint8Array, last: (key: string) => number): { key: string; counter: number } {
  if (parseHeader(body, ID_LEN, body.length - ID_LEN, hdr) < 0) throw new Error('unparsable end-to-end frame');
  const key = `e2e/${toHex(body.subarray(0, ID_LEN))}/${hdr.op}/${hdr.gen}`;
  return { key, counter: hdr.full === 1 ? hdr.counter : reconstructCounter(last(key), hdr.counter, E2E_CTR_WINDOW) };
}

class Witness {
  readonly seen = new Map<string, Set<number>>();
  frames = 0;
  dups: string[] = [];
  private readonly max = new Map<string, number>();
  add(key: string, counter: number): void {
    this.max.set(key, Math.max(this.max.get(key) ?? 0, counter));
    let s = this.seen.get(key);
    if (s === undefined) this.seen.set(key, (s = new Set()));
    if (s.has(counter)) this.dups.push(`${key}#${counter}`);
    s.add(counter);
  }
  record(f: Fixture, frames: string[]): void {
    for (const b64 of frames) {
      const lf = new Uint8Array(Buffer.from(b64, 'base64'));
      const l = keyOf(lf);
      this.add(l.key, l.counter);
      this.frames++;
      const u = f.concs[0]!.unwrap(lf);
      if (typeof u !== 'number' && u.type === 0x01) {
        const e = e2eKeyOf(u.body, (k) => this.max.get(k) ?? 0);
        this.add(e.key, e.counter);
      }
    }
  }
}

let seq = 0;
/** One random step against a child: readings (-> LINK_ACKs), commands, downlink. Resolves to the frames handed out. */
async function step(f: Fixture, g: GuardedHes, rnd: () => number, now: number): Promise<string[]> {
  const conc = toHex(f.concs[0]!.id);
  const m = f.meters[Math.floor(rnd() * f.meters.length)]!;
  const k = rnd();
  if (k < 0.4) {
    seq++;
    const res = await g.ingest([readingFrame(f, m, seq)], now);
    const counters = res.filter((r) => r.linkCounter !== undefined).map((r) => r.linkCounter!);
    return (await g.call({ op: 'acks', conc, counters })).frames;
  }
  if (k < 0.6) {
    await g.call({ op: 'enqueue', meter: toHex(m.id), now });
    return [];
  }
  return (await g.call({ op: 'down', conc, now })).frames;
}

function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

for (const store of hesStores()) {
  describe.skipIf(store.skip !== null)(`on ${store.kind}`, () => {
    const makeFixture: typeof makeFixtureOn = (meters, concentrators, o) => makeFixtureOn(meters, concentrators, o, store);
    afterEach(closeFixtures); // each case's HES closed: PostgreSQL pools hold server connections

    describe('HES sender counters', () => {
      it('never repeat across restarts and SIGKILLs at random moments (e2e and link, LINK_ACK included)', async () => {
        const f = await makeFixture(3, 1, { reserve: 4 });
        const w = new Witness();
        const rnd = lcg(20261206);
        let now = Date.now();
        for (let life = 0; life < 8; life++) {
          const g = new GuardedHes(f);
          await g.ready;
          const steps = 5 + Math.floor(rnd() * 15);
          for (let i = 0; i < steps; i++) w.record(f, await step(f, g, rnd, (now += 40_000)));
          // Killed in the middle of a request: whatever it sealed and never handed out is lost with it.
          void step(f, g, rnd, (now += 40_000)).catch(() => undefined);
          await new Promise((r) => setTimeout(r, rnd() * 20));
          await g.close();
        }
        expect(w.dups).toEqual([]);
        expect(w.frames).toBeGreaterThan(40);
        expect(w.seen.size).toBeGreaterThan(3);
      });

      it('never repeat when two HES processes seal from one store at once', async () => {
        const f = await makeFixture(2, 1, { reserve: 2 });
        const w = new Witness();
        const g1 = new GuardedHes(f);
        const g2 = new GuardedHes(f);
        await Promise.all([g1.ready, g2.ready]);
        const r1 = lcg(1);
        const r2 = lcg(2);
        let now = Date.now();
        for (let i = 0; i < 25; i++) {
          now += 40_000;
          const [a, b] = await Promise.all([step(f, g1, r1, now), step(f, g2, r2, now)]);
          w.record(f, a);
          w.record(f, b);
        }
        await g1.close();
        await g2.close();
        expect(w.dups).toEqual([]);
        expect(w.frames).toBeGreaterThan(20);
      });
    });
  });
}
