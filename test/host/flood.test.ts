// The HES TCP server under a flood from peers that never authenticate (issue 10; localhost only,
// bounded in count and time): 40 connections sending 20,000 CRC-valid garbage frames and 10 that
// send nothing. Bounded: unauthenticated connections (cap, oldest closed), their time to
// authenticate, memory, and the audit log (summaries, not a row per frame). The honest
// concentrator's readings are all acknowledged meanwhile.
import { describe, it, expect, afterEach } from 'vitest';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { LINK_ACK } from '@vakt/shared';
import { HesServer } from '../../host/src/hes/server.ts';
import { cborEncode } from '../../host/src/crypto/cbor.ts';
import { toHex } from '../../host/src/crypto/bytes.ts';
import { makeFixture as makeFixtureOn, closeFixtures, readingFrame } from './hes-fixture.ts';
import { hesStores } from './hes-stores.ts';
import { concLine, serialOf } from '../support/conc-line.ts';

const GARBAGE_CONNS = 40;
const FRAMES_EACH = 500;
const SILENT_CONNS = 10;
const CAP = 32;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timeout');
    await sleep(10);
  }
}

for (const store of hesStores()) {
  describe.skipIf(store.skip !== null)(`on ${store.kind}`, () => {
    const makeFixture: typeof makeFixtureOn = (meters, concentrators, o) => makeFixtureOn(meters, concentrators, o, store);
    afterEach(closeFixtures); // each case's HES closed: PostgreSQL pools hold server connections

    describe('HES server under an unauthenticated flood', () => {
      it('bounded connections, memory and audit growth; the honest concentrator is acknowledged throughout', async () => {
        const f = await makeFixture(1, 1);
        const m = f.meters[0]!;
        const c = f.concOf(m);
        const srv = new HesServer(f.hes, { port: 0, maxUnauthenticated: CAP, authTimeoutMs: 1500, summaryIntervalMs: 1000 });
        const port = await srv.listen();
        const auditBefore = (await f.hes.audit.list(1, 1_000_000)).length;
        const heapBefore = process.memoryUsage().heapUsed;
        const socks: Socket[] = [];
        try {
          // The honest concentrator: authenticated first, then one reading every 50 ms.
          const line = concLine(port, c);
          const { acked, sock: honest } = line;
          await until(() => honest.readyState === 'open');
          line.send(c.wrap(cborEncode([0]), LINK_ACK));
          await until(() => srv.connected().length === 1);

          // The flood: garbage with a valid CRC (so every frame reaches the HES), and silent connections.
          const t0 = Date.now();
          for (let i = 0; i < GARBAGE_CONNS; i++) {
            const s = connect(port, '127.0.0.1');
            s.on('error', () => undefined);
            socks.push(s);
            s.on('connect', () => {
              const frames = Array.from({ length: FRAMES_EACH }, (_, k) => new Uint8Array(randomBytes(30 + ((i + k) % 90))));
              s.write(serialOf(frames));
            });
          }
          for (let i = 0; i < SILENT_CONNS; i++) {
            const s = connect(port, '127.0.0.1');
            s.on('error', () => undefined);
            socks.push(s);
          }
          const sent: number[] = [];
          for (let seq = 1; seq <= 40; seq++) {
            line.send(readingFrame(f, m, seq));
            sent.push(c.lastCounter);
            await sleep(50);
          }
          await until(() => sent.every((k) => acked.has(k)));
          expect((await f.hes.readings(toHex(m.id), 1000)).length).toBe(40);
          // Every unauthenticated connection is gone after its time to authenticate; the honest one stays.
          await until(() => socks.every((s) => s.destroyed || s.closed), 10_000);
          expect(srv.connected()).toEqual([toHex(c.id)]);
          expect(srv.evicted + srv.timedOut).toBeGreaterThanOrEqual(GARBAGE_CONNS + SILENT_CONNS - CAP);
          await srv.close();
          const elapsed = Date.now() - t0;
          // Audit: a summary per interval at most (plus the server's closing one), not a row per frame.
          const added = (await f.hes.audit.list(1, 1_000_000)).length - auditBefore;
          expect(srv.refusals.total).toBeGreaterThan(GARBAGE_CONNS * FRAMES_EACH * 0.5);
          expect(added).toBeLessThanOrEqual(Math.ceil(elapsed / 1000) + 2);
          const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
          expect(heapGrowth).toBeLessThan(64 * 1024 * 1024);
          honest.destroy();
        } finally {
          for (const s of socks) s.destroy();
          await srv.close().catch(() => undefined);
        }
      });
    });
  });
}
