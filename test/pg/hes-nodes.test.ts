// Two and four HES nodes (the Hes library, each with its own PostgreSQL pool and node name) on one
// database, fed one stream (issue 14): readings sent to one node or to two at the same instant,
// byte-identical resends, replays of old frames re-wrapped by the concentrator. Then all nodes
// serve the same concentrator's downlink at once.
// - every reading stored exactly once, none missing; every replay refused (never stored);
// - the meters' replay counters never go down;
// - no (key, counter) is sealed twice by any node: every downlink link frame and end-to-end frame
//   of all nodes carries a counter no other frame of its key carries;
// - each queued command is sent once per attempt, by one node (claims);
// - a key update whose node dies after TRANSPORT is completed by another node from the rows.
import { afterAll, describe, expect, it } from 'vitest';
import { createHeader, parseHeader } from '@vakt/shared/frame';
import { Hes, type IngestResult } from '../../host/src/hes/hes.ts';
import { toHex } from '../../host/src/crypto/bytes.ts';
import { deliverDownlink, makeFixture, readingFrame } from '../host/hes-fixture.ts';
import { freshDatabase, pgCluster, skipNotice } from './cluster.ts';

const cluster = await pgCluster();
skipNotice(cluster, 'several HES nodes on PostgreSQL');
afterAll(() => cluster.stop());

const METERS = 4;
const ROUNDS = 24;
const E2E = 0x20;
const T0 = 1_700_000_000_000;

const opened: Hes[] = [];
afterAll(async () => {
  for (const h of opened) await h.close().catch(() => undefined);
});

describe.skipIf(cluster.url === undefined)('several HES nodes on one PostgreSQL database', () => {
  for (const n of [2, 4]) {
    it(`${n} nodes ingest one stream with duplicates, simultaneous copies and replays, then serve one concentrator's downlink at once`, async () => {
      const url = await freshDatabase(cluster.url!);
      const f = await makeFixture(METERS, 1, { dbPath: url });
      opened.push(f.hes);
      const nodes = [f.hes];
      for (let i = 1; i < n; i++) {
        const h = await Hes.open({ dbPath: url, storeKey: f.storeKey, node: `node${i}` });
        opened.push(h);
        nodes.push(h);
      }
      const conc = f.concs[0]!;
      const concHex = toHex(conc.id);
      const sentE2e: { meter: number; seq: number; e2e: Uint8Array }[] = [];
      const results: { kind: string; seq?: number; meter?: string; replayOf?: boolean }[] = [];
      let lastCounters: number[] = Array.from({ length: METERS }, () => 0);
      for (let r = 1; r <= ROUNDS; r++) {
        const perNode: Uint8Array[][] = nodes.map(() => []);
        const isReplay = new Set<Uint8Array>();
        const cat = new Map<Uint8Array, string>();
        f.meters.forEach((m, k) => {
          const e2e = m.seal(0x01, [0, r, 1_700_000_000 + r * 900, r * 10, 250]).slice();
          sentE2e.push({ meter: k, seq: r, e2e });
          // The kit's wrap may work in place: every wrap gets its own copy of the end-to-end bytes.
          const lf = conc.wrap(e2e.slice());
          const a = (r + k) % n;
          perNode[a]!.push(lf);
          cat.set(lf, 'normal');
          // Every third frame also reaches another node at the same instant (a concentrator resend racing).
          // (Each node gets its own copy of the bytes, as over its own TCP connection: the HES opens frames in place.)
          if ((r + k) % 3 === 0) {
            const cp = lf.slice();
            cat.set(cp, 'copy');
            perNode[(a + 1) % n]!.push(cp);
          }
          // A byte-identical resend of the previous round's frame in a new link frame (lost LINK_ACK).
          if (r > 1 && (r + k) % 4 === 0) {
            const rs = conc.wrap(sentE2e[sentE2e.length - 1 - METERS]!.e2e.slice());
            cat.set(rs, 'resend');
            perNode[(a + 2) % n]!.push(rs);
          }
          // A replay: an older frame of this meter, beyond the HES's memory of recent frames (4).
          if (r > 6 && (r + k) % 5 === 0) {
            const old = conc.wrap(sentE2e.find((s) => s.meter === k && s.seq === r - 6)!.e2e.slice());
            isReplay.add(old);
            perNode[(a + 3) % n]!.push(old);
          }
        });
        const out = await Promise.all(nodes.map((h, i) => h.ingestBatch(perNode[i]!, T0 + r * 900_000)));
        out.forEach((res, i) =>
          res.forEach((x: IngestResult, j) => {
            const replayOf = isReplay.has(perNode[i]![j]!);
            const c = cat.get(perNode[i]![j]!) ?? 'replay';
            // A fresh frame (or its simultaneous copy) is never refused for its tag: the nodes agree on keys.
            if (c === 'normal' || c === 'copy')
              expect(x.ok, `${c} frame refused by node ${i} in round ${r}: ${x.ok ? '' : x.message}`).toBe(true);
            results.push({
              kind: x.ok ? x.kind : x.error,
              ...(x.ok && x.seq !== undefined ? { seq: x.seq } : {}),
              ...(x.meter !== undefined ? { meter: x.meter } : {}),
              replayOf,
            });
            if (replayOf) expect(x.ok && x.kind === 'reading', `replayed frame stored by node ${i} in round ${r}`).toBe(false);
          }),
        );
        // Replay counters never go down.
        const st = await f.hes.store.replayStates(f.meters.map((m) => ({ sender: m.id, layer: E2E, op: 1, dir: 0, gen: 0 })));
        st.forEach((s, k) => expect(s.last).toBeGreaterThanOrEqual(lastCounters[k]!));
        lastCounters = st.map((s) => s.last);
      }
      // Every reading stored exactly once (one 'reading' result in the whole cluster), none missing.
      for (const m of f.meters) {
        const rows = await f.hes.readings(toHex(m.id), 1000);
        expect(rows.map((x) => x.seq)).toEqual(Array.from({ length: ROUNDS }, (_, i) => i + 1));
        const stored = results.filter((x) => x.kind === 'reading' && x.meter === toHex(m.id));
        expect(stored.length).toBe(ROUNDS);
      }
      expect(results.filter((x) => x.replayOf).every((x) => x.kind !== 'reading')).toBe(true);
      // Replays were refused as replays (wire v2 carries only the counter's low bits: a frame behind
      // fails its tag above `last`, and the HES then finds it authentic below), never stored, never a bad tag.
      expect(results.filter((x) => x.replayOf).every((x) => x.kind === 'ERR_REPLAY' || x.kind === 'duplicate')).toBe(true);

      // Downlink: a command per meter, every node serving the concentrator at once, retries included.
      for (const m of f.meters) await f.hes.enqueueCommand('admin', toHex(m.id), { kind: 'read' }, { nowMs: T0 });
      const linkCtr = new Set<number>();
      const e2eCtr = new Set<string>();
      const hdr = createHeader();
      const inner = createHeader();
      let frames = 0;
      for (let step = 0; step < 4; step++) {
        const now = T0 + ROUNDS * 900_000 + step * 31_000; // past the 30 s retry
        const down = await Promise.all(nodes.map((h) => h.nextDownlink(concHex, now)));
        for (const lf of down.flat()) {
          frames++;
          expect(parseHeader(lf, 0, lf.length, hdr)).toBeGreaterThanOrEqual(0);
          expect(linkCtr.has(hdr.counter), `link counter ${hdr.counter} sealed twice`).toBe(false);
          linkCtr.add(hdr.counter);
          const u = conc.unwrap(lf);
          if (typeof u === 'number' || u.type !== 0x01) continue;
          const meter = toHex(u.body.subarray(0, 8));
          expect(parseHeader(u.body, 8, u.body.length - 8, inner)).toBeGreaterThanOrEqual(0);
          const key = `${meter}:${inner.op}:${inner.gen}:${inner.counter}`;
          expect(e2eCtr.has(key), `e2e ${key} sealed twice`).toBe(false);
          e2eCtr.add(key);
        }
      }
      expect(frames).toBeGreaterThanOrEqual(METERS); // JOINs and commands went out
      const cmds = await f.hes.listCommands({});
      expect(cmds.filter((c) => c.kind === 'read').every((c) => c.state === 'sent')).toBe(true);
      // One attempt per 31 s step, by one node: attempts are not multiplied by the number of nodes.
      for (const c of cmds.filter((x) => x.kind === 'read')) expect(c.attempts).toBeLessThanOrEqual(4);
      expect((await f.hes.audit.verify()).ok).toBe(true);
    }, 180_000);
  }

  it('a key update survives its node: node A sends TRANSPORT and dies, node B takes the CONFIRM, sends ACTIVATE, the meter switches', async () => {
    const url = await freshDatabase(cluster.url!);
    const f = await makeFixture(1, 1, { dbPath: url });
    const a = f.hes;
    const b = await Hes.open({ dbPath: url, storeKey: f.storeKey, node: 'b' });
    opened.push(a, b);
    const m = f.meters[0]!;
    const c = f.concOf(m);
    const id = toHex(m.id);
    const cid = toHex(c.id);
    const t0 = 1_800_000_000_000;
    expect(await a.ingest(readingFrame(f, m, 1), t0)).toMatchObject({ ok: true, kind: 'reading' });
    const k = await a.enqueueCommand('admin', id, { kind: 'key_update', scope: 0 }, { nowMs: t0 });
    // Node A sends TRANSPORT; the meter stages the key and answers CONFIRM — but A is gone (never
    // used again, its connections left as they are: as after SIGKILL).
    const d1 = deliverDownlink(f, c, await a.nextDownlink(cid, t0));
    expect(m.staged).toBe(true);
    // The concentrator resends the CONFIRM to node B, which continues from the rows (ring + command).
    expect((await b.ingestBatch(d1.replies, t0 + 1_000)).map((r) => r.ok && r.kind)).toEqual(['key_confirm']);
    expect((await b.listCommands()).find((x) => x.id === k)!.state).toBe('acknowledged');
    // B sends ACTIVATE; the meter switches to the new generation; B accepts its readings.
    deliverDownlink(f, c, await b.nextDownlink(cid, t0 + 61_000));
    expect(m.mkGen).toBe(1);
    expect(await b.ingest(readingFrame(f, m, 2), t0 + 62_000)).toMatchObject({ ok: true, kind: 'reading' });
    expect((await b.meterStatus())[0]!.keyGen).toBe(1);
    expect((await b.audit.verify()).ok).toBe(true);
  }, 120_000);
});
