// Crash tests: the HES runs in a child process that is SIGKILLed at random points during ingest
// batches and key updates; after every kill the database is reopened and the invariants checked:
// no accepted reading lost, none stored twice, no replay counter went backwards, audit chain intact,
// and (key update) the meter always ends up reachable with a working key.
import { describe, it, expect, afterEach } from 'vitest';
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Hes } from '../../host/src/hes/hes.ts';
import { E2E_VERSION } from '@vakt/shared';
import { toHex } from '../../host/src/crypto/bytes.ts';
import { makeFixture as makeFixtureOn, closeFixtures, deliverDownlink } from './hes-fixture.ts';
import { hesStores } from './hes-stores.ts';
import type { Fixture } from './hes-fixture.ts';

const CHILD = join(import.meta.dirname, 'crash-child.ts');

class Child {
  private p: ChildProcess;
  private next = 1;
  private readonly waiting = new Map<number, (v: any) => void>();
  readonly ready: Promise<void>;
  exited = false;
  constructor(f: Fixture) {
    this.p = fork(CHILD, [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, VAKT_CRASH_DB: f.dbPath, VAKT_CRASH_KEY: toHex(f.storeKey) },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    this.ready = new Promise((res) => this.waiting.set(0, () => res()));
    this.p.on('message', (m: any) => {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      w?.(m);
    });
    this.p.on('exit', () => {
      this.exited = true;
      for (const w of this.waiting.values()) w(null);
      this.waiting.clear();
    });
  }
  /** Sends a request; resolves with the reply, or null when the child died first. */
  call(req: Record<string, unknown>): Promise<any> {
    if (this.exited) return Promise.resolve(null);
    const id = this.next++;
    return new Promise((res) => {
      this.waiting.set(id, res);
      this.p.send({ ...req, id });
    });
  }
  kill(): Promise<void> {
    return new Promise((res) => {
      if (this.exited) return res();
      this.p.once('exit', () => res());
      this.p.kill('SIGKILL');
    });
  }
}

type ReplaySnap = Map<string, number>;

async function checkInvariants(f: Fixture, accepted: Set<string>, prev: ReplaySnap): Promise<ReplaySnap> {
  const h = await Hes.open({ dbPath: f.dbPath, storeKey: f.storeKey });
  const db = await f.store.raw(f.dbPath);
  try {
    const stored = await db.all<{ meter_id: Buffer; seq: number; counter: number; gen: number }>(
      'SELECT meter_id, seq, counter, gen FROM readings',
    );
    const keys = new Set(stored.map((r) => `${toHex(r.meter_id)}:${r.seq}`));
    for (const a of accepted) expect(keys.has(a), `accepted reading ${a} lost`).toBe(true);
    const snap: ReplaySnap = new Map();
    for (const r of await db.all<{ sender: Buffer; layer: number; op: number; dir: number; gen: number; last: number }>(
      'SELECT sender, layer, op, dir, gen, last FROM replay',
    )) {
      snap.set(`${toHex(r.sender)}/${r.layer}/${r.op}/${r.dir}/${r.gen}`, r.last);
    }
    for (const [k, v] of prev) expect(snap.get(k) ?? -1, `replay counter ${k} went backwards`).toBeGreaterThanOrEqual(v);
    // Every stored live reading is covered by its replay counter, so its frame can never be accepted again.
    for (const r of stored) {
      if (r.counter === 0) continue; // gap-fill intervals carry the counter of their response frame
      const last = snap.get(`${toHex(r.meter_id)}/${E2E_VERSION}/1/0/${r.gen}`) ?? 0; // layer code of e2e frames (0x02)
      expect(last, 'reading stored without its replay counter').toBeGreaterThanOrEqual(r.counter);
    }
    expect((await h.audit.verify()).ok).toBe(true);
    return snap;
  } finally {
    await db.close();
    await h.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const store of hesStores()) {
  describe.skipIf(store.skip !== null)(`on ${store.kind}`, () => {
    const makeFixture: typeof makeFixtureOn = (meters, concentrators, o) => makeFixtureOn(meters, concentrators, o, store);
    afterEach(closeFixtures); // each case's HES closed: PostgreSQL pools hold server connections

    describe('crash: SIGKILL during ingest batches', () => {
      it('loses no accepted reading, counts none twice, never moves a replay counter back', async () => {
        const f = await makeFixture(40, 2);
        await f.hes.close();
        // 1 600 readings (40 per meter), many frames sent several times (retransmissions after a kill).
        const frames: { frame: string; key: string }[] = [];
        for (let seq = 1; seq <= 40; seq++) {
          for (const m of f.meters) {
            const c = f.concOf(m);
            frames.push({
              frame: Buffer.from(c.wrap(m.seal(0x01, [0, seq, 1_700_000_000 + seq, seq, 1]))).toString('base64'),
              key: `${toHex(m.id)}:${seq}`,
            });
          }
        }
        const accepted = new Set<string>();
        const refusedAsReplay = new Set<string>();
        let snap: ReplaySnap = new Map();
        let pos = 0;
        let kills = 0;
        let rng = 12345;
        const rand = (n: number) => {
          rng = (rng * 1103515245 + 12345) & 0x7fffffff;
          return rng % n;
        };
        while (pos < frames.length) {
          const child = new Child(f);
          await child.ready;
          const killAfter = kills < 6 ? 5 + rand(60) : 1e9;
          const killer = setTimeout(() => void child.kill(), killAfter);
          // Resend from a little before the last acknowledged position: duplicates must stay single.
          let p = Math.max(0, pos - rand(200));
          while (p < frames.length && !child.exited) {
            const size = [1, 10, 100, 400][rand(4)]!;
            const chunk = frames.slice(p, p + size);
            const reply = await child.call({ op: 'ingest', frames: chunk.map((x) => x.frame), now: Date.now() });
            if (reply === null) break;
            expect(reply.ok).toBe(true);
            reply.res.forEach((r: any, i: number) => {
              if (r.ok && r.kind === 'reading') {
                expect(accepted.has(chunk[i]!.key), `reading ${chunk[i]!.key} accepted twice`).toBe(false);
                accepted.add(chunk[i]!.key);
              } else if (!r.ok) {
                // A resent frame, never anything else: its first copy was committed (perhaps just before a
                // kill, so its reply never arrived) and must be in the store (checked after the next kill).
                expect(r.error).toBe('ERR_REPLAY');
                refusedAsReplay.add(chunk[i]!.key);
              }
            });
            p += chunk.length;
            pos = Math.max(pos, p);
          }
          clearTimeout(killer);
          if (!child.exited) await child.kill();
          else kills++;
          snap = await checkInvariants(f, new Set([...accepted, ...refusedAsReplay]), snap);
        }
        expect(kills).toBeGreaterThanOrEqual(3);
        // Every reading stored exactly once (primary key), none missing: those whose reply was lost to a
        // kill were refused as replays on resend and found in the store.
        const h = await Hes.open({ dbPath: f.dbPath, storeKey: f.storeKey });
        expect(await h.store.count('readings')).toBe(frames.length);
        await h.close();
        for (const x of frames) expect(accepted.has(x.key) || refusedAsReplay.has(x.key)).toBe(true);
      }, 180_000);
    });

    describe('crash: SIGKILL during key updates', () => {
      it('never leaves the meter without a working key', async () => {
        const MAX_ROUNDS_PER_LIFE = 5_000;
        const f = await makeFixture(2, 1);
        await f.hes.close();
        const m = f.meters[0]!;
        const c = f.concOf(m);
        const cid = toHex(c.id);
        const mid = toHex(m.id);
        const accepted = new Set<string>();
        let snap: ReplaySnap = new Map();
        let now = 1_900_000_000_000;
        let seq = 0;
        let rng = 777;
        const rand = (n: number) => {
          rng = (rng * 1103515245 + 12345) & 0x7fffffff;
          return rng % n;
        };
        let updatesConfirmed = 0;
        let kills = 0;
        let lastStatus = 'ok';
        const killedDuring: string[] = [];
        const round = async (child: Child): Promise<boolean> => {
          now += 61_000; // past the retry interval: TRANSPORT / ACTIVATE are re-sent when due
          const st = await child.call({ op: 'status' });
          if (st === null) return false;
          const s = st.status.find((x: any) => x.id === mid);
          lastStatus = s.status;
          if (s.status === 'ok' && rand(2) === 0) {
            const e = await child.call({ op: 'enqueue', meter: mid, params: { kind: 'key_update', scope: [0, 1, 7][rand(3)] }, now });
            if (e === null) return false;
          }
          seq++;
          const up = [c.wrap(m.seal(0x01, [0, seq, seq, seq, 1]))];
          const r1 = await child.call({ op: 'ingest', frames: up.map((x) => Buffer.from(x).toString('base64')), now });
          if (r1 === null) return false;
          if (r1.res[0].ok) accepted.add(`${mid}:${seq}`);
          else expect(r1.res[0].error, JSON.stringify(r1.res[0])).toBe('ERR_GENERATION'); // only while keys are in transit
          const d = await child.call({ op: 'down', conc: cid, now });
          if (d === null) return false;
          const frames = d.frames.map((x: string) => new Uint8Array(Buffer.from(x, 'base64')));
          // The radio loses some downlink and some answers.
          const kept = frames.filter(() => rand(4) !== 0);
          const { replies } = deliverDownlink(f, c, kept);
          const sent = replies.filter(() => rand(4) !== 0);
          if (sent.length > 0) {
            const r2 = await child.call({ op: 'ingest', frames: sent.map((x) => Buffer.from(x).toString('base64')), now });
            if (r2 === null) return false;
            for (const r of r2.res) if (r.ok && r.kind === 'key_confirm') updatesConfirmed++;
          }
          return true;
        };
        for (let life = 0; life < 10; life++) {
          const child = new Child(f);
          await child.ready;
          const killer = setTimeout(() => void child.kill(), 30 + rand(400));
          // Rounds go on until the timer kills the child (a fast machine finishes 40 rounds before a
          // 430 ms timer; every life must end in a kill); the cap only bounds a hung child.
          for (let i = 0; i < MAX_ROUNDS_PER_LIFE && !child.exited; i++) if (!(await round(child))) break;
          clearTimeout(killer);
          if (child.exited) {
            kills++;
            killedDuring.push(lastStatus);
          } else await child.kill();
          snap = await checkInvariants(f, accepted, snap);
          await sleep(1);
        }
        // Settle without kills or losses: the meter must be reachable both ways with the key in force.
        const child = new Child(f);
        await child.ready;
        let reachable = false;
        for (let i = 0; i < 20 && !reachable; i++) {
          now += 61_000;
          const d = await child.call({ op: 'down', conc: cid, now });
          const { replies } = deliverDownlink(
            f,
            c,
            d.frames.map((x: string) => new Uint8Array(Buffer.from(x, 'base64'))),
          );
          if (replies.length > 0) {
            const r2 = await child.call({ op: 'ingest', frames: replies.map((x) => Buffer.from(x).toString('base64')), now });
            for (const r of r2.res) if (r.ok && r.kind === 'key_confirm') updatesConfirmed++;
          }
          const st = (await child.call({ op: 'status' })).status.find((x: any) => x.id === mid);
          seq++;
          const r = await child.call({
            op: 'ingest',
            frames: [Buffer.from(c.wrap(m.seal(0x01, [0, seq, seq, seq, 1]))).toString('base64')],
            now,
          });
          if (r.res[0].ok) accepted.add(`${mid}:${seq}`);
          reachable = r.res[0].ok && st.status === 'ok';
        }
        expect(reachable).toBe(true);
        const cmd = await child.call({ op: 'enqueue', meter: mid, params: { kind: 'relay', state: 1 }, now });
        const d = await child.call({ op: 'down', conc: cid, now: now + 1 });
        const { replies, seen } = deliverDownlink(
          f,
          c,
          d.frames.map((x: string) => new Uint8Array(Buffer.from(x, 'base64'))),
        );
        expect(seen.some((s) => s.op === 0x03)).toBe(true);
        const r = await child.call({ op: 'ingest', frames: replies.map((x) => Buffer.from(x).toString('base64')), now: now + 2 });
        expect(r.res.some((x: any) => x.ok && x.command === cmd.cmd)).toBe(true);
        await child.kill();
        await checkInvariants(f, accepted, snap);
        expect(kills).toBeGreaterThanOrEqual(3);
        // Some kills hit a key update in flight (pending: TRANSPORT out, or confirmed: ACTIVATE out).
        expect(killedDuring.filter((x) => x !== 'ok').length, killedDuring.join()).toBeGreaterThanOrEqual(1);
        expect(updatesConfirmed).toBeGreaterThanOrEqual(1);
        // At least one update went all the way: the meter's keys are no longer those of its shipment.
        expect(Math.max(m.ring.mkGen, ...Array.from(m.ring.gens))).toBeGreaterThan(0);
      }, 180_000);
    });
  });
}
