// Two meters behind one concentrator over the real TCP server (issue 10): meter A holds its keys
// and sends authentic frames with hostile bodies; meter B's readings keep landing, one per round,
// exactly as without A, and every frame of both is link-acknowledged, so the concentrator's
// store-and-forward queue drains.
import { describe, it, expect, afterEach } from 'vitest';
import { LINK_ACK, OP_READING, OP_EVENT, OP_READ } from '@vakt/shared';
import { HesServer } from '../../host/src/hes/server.ts';
import { cborEncode } from '../../host/src/crypto/cbor.ts';
import { toHex } from '../../host/src/crypto/bytes.ts';
import { makeFixture as makeFixtureOn, closeFixtures } from './hes-fixture.ts';
import { hesStores } from './hes-stores.ts';
import { HOSTILE_ITEMS, head, encodeItems } from '../support/hostile-bodies.ts';
import { concLine } from '../support/conc-line.ts';

const T0 = 1_700_000_000;

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timeout');
    await new Promise((r) => setTimeout(r, 5));
  }
}

for (const store of hesStores()) {
  describe.skipIf(store.skip !== null)(`on ${store.kind}`, () => {
    const makeFixture: typeof makeFixtureOn = (meters, concentrators, o) => makeFixtureOn(meters, concentrators, o, store);
    afterEach(closeFixtures); // each case's HES closed: PostgreSQL pools hold server connections

    describe('two meters, one concentrator, real TCP server', () => {
      it("meter A's hostile bodies cost B nothing: B's readings land one per round, every frame is acknowledged", async () => {
        const f = await makeFixture(2, 1);
        const [a, b] = [f.meters[0]!, f.meters[1]!];
        const c = f.concOf(a);
        const srv = new HesServer(f.hes, { port: 0 });
        const port = await srv.listen();
        try {
          const line = concLine(port, c);
          await until(() => line.sock.readyState === 'open');
          line.send(c.wrap(cborEncode([0]), LINK_ACK));
          await until(() => srv.connected().length === 1);
          const hostile = [
            (i: number) =>
              a.sealRaw(
                OP_READING,
                encodeItems([head(0, 0), HOSTILE_ITEMS[(i * 7) % HOSTILE_ITEMS.length]!.bytes, head(0, T0), head(0, 1), head(0, 1)]),
              ),
            (i: number) =>
              a.sealRaw(
                OP_EVENT,
                encodeItems([head(0, 0), head(0, 3), head(0, T0 + i), new Uint8Array([0xd9, 0x01, 0x2c, 0xc2, 0x41, i & 0xff])]),
              ),
            (i: number) =>
              a.sealRaw(OP_READ, new Uint8Array([...encodeItems([head(0, i), head(0, 1), head(0, T0), head(0, 5), head(0, 5)]), 0xff])),
            () =>
              a.sealRaw(
                OP_READING,
                encodeItems([head(0, 0), HOSTILE_ITEMS.find((h) => h.name === 'float64 1e18')!.bytes, head(0, T0), head(0, 1), head(0, 1)]),
              ),
          ];
          const ROUNDS = 24;
          const rounds: number[] = [];
          for (let i = 1; i <= ROUNDS; i++) {
            const frames: Uint8Array[] = [];
            const counters: number[] = [];
            for (const e2e of [
              hostile[i % hostile.length]!(i),
              b.seal(OP_READING, [0, i, T0 + i * 900, i * 10, 100]),
              hostile[(i + 1) % hostile.length]!(i),
            ]) {
              frames.push(c.wrap(e2e));
              counters.push(c.lastCounter);
            }
            line.send(...frames);
            // Each round settles completely (all three acknowledged) before the next: B's reading is never held back.
            await until(() => counters.every((k) => line.acked.has(k)), 5000);
            rounds.push((await f.hes.readings(toHex(b.id), 1000)).length);
          }
          expect(rounds).toEqual(Array.from({ length: ROUNDS }, (_, i) => i + 1));
          expect((await f.hes.readings(toHex(a.id))).length).toBe(0);
          expect(srv.counts.get('reading')).toBe(ROUNDS);
          expect(srv.counts.get('ERR_CBOR')).toBe(2 * ROUNDS);
          expect(srv.counts.get('ERR_INTERNAL') ?? 0).toBe(0);
          line.sock.destroy();
        } finally {
          await srv.close();
        }
      });
    });
  });
}
