// HES: store, keys at rest, shipment import refusals, roles, audit chain, ingest, commands, key update.
import { describe, it, expect, afterEach } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { ERR_REPLAY, ERR_TAG, ERR_UNKNOWN_SENDER, ERR_GENERATION, ERR_LENGTH } from '@vakt/shared';
import { Hes, HesError } from '../../host/src/hes/hes.ts';
import { PermissionError } from '../../host/src/hes/roles.ts';
import { canTransition, COMMAND_STATES } from '../../host/src/hes/commands.ts';
import { ShipmentError, sealShipment } from '../../host/src/crypto/shipment.ts';
import { produceBatch, initKpe } from '../../host/src/kpe/kpe.ts';
import { encodePayload } from '../../host/src/kpe/payload.ts';
import { KitMeter, KitConcentrator } from '../../host/src/hes/testkit.ts';
import { toHex, randomBytes } from '../../host/src/crypto/bytes.ts';
import { makeFixture as makeFixtureOn, readingFrame, deliverDownlink, closeFixtures } from './hes-fixture.ts';
import { hesStores, containsBytes } from './hes-stores.ts';
import { refCmac, refE2eKey, refOpRoot } from '../conformance/reference.ts';

const count = (h: Hes, t: string) => h.store.count(t);

for (const store of hesStores()) {
  describe.skipIf(store.skip !== null)(`HES on ${store.kind}`, () => {
    const makeFixture: typeof makeFixtureOn = (meters, concentrators, o) => makeFixtureOn(meters, concentrators, o, store);
    afterEach(closeFixtures); // each case's HES closed: PostgreSQL pools hold server connections

    describe('store and keys at rest', () => {
      it('keeps no key in clear in the database and refuses a wrong store key plainly', async () => {
        const f = await makeFixture(3, 1);
        await f.hes.close();
        const raw = await store.atRest(f.dbPath);
        expect(raw.length).toBeGreaterThan(1000);
        for (const m of f.batch.meters) {
          expect(containsBytes(raw, m.masterKey)).toBe(false);
          expect(containsBytes(raw, m.linkKey)).toBe(false);
        }
        expect(containsBytes(raw, f.storeKey)).toBe(false);
        await expect(Hes.open({ dbPath: f.dbPath, storeKey: randomBytes(32) })).rejects.toThrow(/wrong store key/);
        await expect(Hes.open({ dbPath: await store.newLocation(join(f.dir, 'nope')), storeKey: f.storeKey })).rejects.toThrow(
          /no HES database|is not an initialised HES database/,
        );
        const h = await Hes.open({ dbPath: f.dbPath, storeKey: f.storeKey });
        expect((await h.meterStatus()).length).toBe(3);
        await h.close();
      });

      it('detects a key blob moved onto another meter', async () => {
        const f = await makeFixture(2, 1);
        await f.hes.close();
        const db = await store.raw(f.dbPath);
        const rows = await db.all<{ owner: Buffer; enc: Buffer }>("SELECT owner, enc FROM keys WHERE kind = 'ring'");
        await db.run("UPDATE keys SET enc = ? WHERE owner = ? AND kind = 'ring'", [rows[1]!.enc, rows[0]!.owner]);
        await db.close();
        await expect(Hes.open({ dbPath: f.dbPath, storeKey: f.storeKey })).rejects.toThrow(
          /does not decrypt: wrong store key or tampered row/,
        );
      });
    });

    describe('shipment import', () => {
      const refusal = async (fn: () => Promise<unknown>) => {
        try {
          await fn();
        } catch (e) {
          if (e instanceof ShipmentError) return e.code;
          throw e;
        }
        return 'ACCEPTED';
      };

      it('refuses replayed, older, tampered, truncated, foreign, misaddressed and conflicting shipments, importing nothing', async () => {
        const f = await makeFixture(2, 1);
        const cert = f.hes.cert();
        const before = async () => (await Promise.all(['meters', 'concentrators', 'keys', 'shipments'].map((t) => count(f.hes, t)))).join();
        const s1 = readFileSync(f.batch.shipmentFile);
        const snap = await before();
        expect(await refusal(() => f.hes.importShipment(s1, 'admin'))).toBe('REPLAY');
        const b2 = produceBatch(f.kpe, { meters: 1, concentrators: 1, hesCert: cert, outDir: join(f.dir, 'b2') });
        const b3 = produceBatch(f.kpe, { meters: 1, concentrators: 1, hesCert: cert, outDir: join(f.dir, 'b3') });
        const s3 = readFileSync(b3.shipmentFile);
        const t = new Uint8Array(s3);
        t[300] ^= 0x80;
        expect(await refusal(() => f.hes.importShipment(t, 'admin'))).toBe('BAD_SIGNATURE');
        expect(await refusal(() => f.hes.importShipment(s3.subarray(0, s3.length - 1), 'admin'))).toBe('MALFORMED');
        expect(await refusal(() => f.hes.importShipment(new Uint8Array(0), 'admin'))).toBe('MALFORMED');
        const evil = initKpe(join(f.dir, 'evil'));
        const be = produceBatch(evil, { meters: 1, concentrators: 1, hesCert: cert, outDir: join(f.dir, 'be') });
        expect(await refusal(() => f.hes.importShipment(readFileSync(be.shipmentFile), 'admin'))).toBe('FOREIGN_SIGNER');
        const other = await makeFixture(0, 1);
        const bo = produceBatch(f.kpe, { meters: 1, concentrators: 1, hesCert: other.hes.cert(), outDir: join(f.dir, 'bo') });
        expect(await refusal(() => f.hes.importShipment(readFileSync(bo.shipmentFile), 'admin'))).toBe('WRONG_RECIPIENT');
        // A correctly signed shipment that re-uses an already provisioned meter id must not replace its keys.
        const m0 = f.batch.meters[0]!;
        const conflicting = sealShipment({
          payload: encodePayload({
            hesId: cert.hesId,
            meters: [{ ...m0, masterKey: new Uint8Array(16).fill(1) }],
            concentrators: [{ id: m0.concentratorId, linkKey: new Uint8Array(16), linkGen: 0 }],
          }),
          seq: 100,
          kpeSecret: f.kpe.secret,
          hesId: cert.hesId,
          hesPub: cert.x25519,
        });
        expect(await refusal(() => f.hes.importShipment(conflicting, 'admin'))).toBe('CONFLICT');
        expect(await before()).toBe(snap);
        // Sequence 3 first, then 2 is out of order (a replay of an older, never-imported shipment).
        expect((await f.hes.importShipment(s3, 'admin')).seq).toBe(3);
        expect(await refusal(() => f.hes.importShipment(readFileSync(b2.shipmentFile), 'admin'))).toBe('REPLAY');
        expect(await count(f.hes, 'meters')).toBe(3);
        const refusals = (await f.hes.audit.list()).filter((e) => e.action === 'shipment.refused').map((e) => e.subject);
        expect(refusals).toEqual([
          'REPLAY',
          'BAD_SIGNATURE',
          'MALFORMED',
          'MALFORMED',
          'FOREIGN_SIGNER',
          'WRONG_RECIPIENT',
          'CONFLICT',
          'REPLAY',
        ]);
        // An explicit key argument cannot widen the pin.
        const b4 = produceBatch(evil, { meters: 1, concentrators: 1, hesCert: cert, outDir: join(f.dir, 'b4') });
        expect(await refusal(() => f.hes.importShipment(readFileSync(b4.shipmentFile), 'admin', evil.pub))).toBe('FOREIGN_SIGNER');
        expect((await f.hes.audit.verify()).ok).toBe(true);
      });

      it('needs the import right', async () => {
        const f = await makeFixture(1, 1);
        await f.hes.setUser('admin', 'olga', 'operator');
        const b = produceBatch(f.kpe, { meters: 1, concentrators: 1, hesCert: f.hes.cert(), outDir: join(f.dir, 'x') });
        await expect(f.hes.importShipment(readFileSync(b.shipmentFile), 'olga')).rejects.toThrow(PermissionError);
      });
    });

    describe('audit log', () => {
      it('verifies, and detects a change to any column of any row, a removed row and a cut tail', async () => {
        const f = await makeFixture(2, 1);
        await f.hes.setUser('admin', 'vera', 'viewer');
        await expect(f.hes.enqueueCommand('vera', toHex(f.meters[0]!.id), { kind: 'read' })).rejects.toThrow(PermissionError);
        await f.hes.ingest(readingFrame(f, f.meters[0]!, 1));
        await f.hes.ingest(readingFrame(f, f.meters[0]!, 1)); // bytes differ (new counter), duplicate seq: no audit
        const n = await f.hes.audit.verify();
        expect(n.ok).toBe(true);
        expect(n.entries).toBeGreaterThanOrEqual(4);
        await f.hes.close();
        const db = await store.raw(f.dbPath);
        await expect(db.run("UPDATE audit SET actor = 'x' WHERE seq = 1")).rejects.toThrow(/append-only/);
        await store.allowAuditTampering(db);
        const cols = ['ts_ms', 'actor', 'action', 'subject', 'detail', 'prev', 'mac'];
        const total = Number((await db.all<{ n: number }>('SELECT count(*) AS n FROM audit'))[0]!.n);
        for (let seq = 1; seq <= total; seq++) {
          for (const col of cols) {
            const orig = (await db.all<{ v: unknown }>(`SELECT ${col} AS v FROM audit WHERE seq = ?`, [seq]))[0]!;
            const changed =
              typeof orig.v === 'number' || col === 'ts_ms'
                ? Number(orig.v) + 1
                : Buffer.isBuffer(orig.v)
                  ? Buffer.from(orig.v.map((x, i) => (i === 0 ? x ^ 1 : x)))
                  : String(orig.v) + ' ';
            await db.run(`UPDATE audit SET ${col} = ? WHERE seq = ?`, [changed, seq]);
            const hh = await Hes.open({ dbPath: f.dbPath, storeKey: f.storeKey });
            const r = await hh.audit.verify();
            await hh.close();
            expect(r.ok, `seq ${seq} col ${col}`).toBe(false);
            expect(r.badSeq).toBe(seq);
            await db.run(`UPDATE audit SET ${col} = ? WHERE seq = ?`, [orig.v, seq]);
          }
        }
        const ok = await Hes.open({ dbPath: f.dbPath, storeKey: f.storeKey });
        expect((await ok.audit.verify()).ok).toBe(true);
        await ok.close();
        const cut = ['seq', 'ts_ms', 'actor', 'action', 'subject', 'detail', 'prev', 'mac'];
        const last = (await db.all<Record<string, unknown>>(`SELECT ${cut.join(', ')} FROM audit WHERE seq = ?`, [total]))[0]!;
        await db.run('DELETE FROM audit WHERE seq = ?', [total]);
        let h = await Hes.open({ dbPath: f.dbPath, storeKey: f.storeKey });
        expect((await h.audit.verify()).error).toMatch(/recorded head/);
        await h.close();
        await db.run(
          `INSERT INTO audit (${cut.join(', ')}) VALUES (${cut.map(() => '?').join(', ')})`,
          cut.map((c) => last[c]),
        );
        await db.run('DELETE FROM audit WHERE seq = 2', []);
        h = await Hes.open({ dbPath: f.dbPath, storeKey: f.storeKey });
        expect((await h.audit.verify()).error).toMatch(/entry 2 is missing/);
        await h.close();
        await db.close();
      });
    });

    describe('audit anchor', () => {
      it('an externally kept head detects a database restored from an older copy', async () => {
        const f = await makeFixture(1, 1);
        await f.hes.close();
        const old = await store.snapshot(f.dbPath);
        let h = await Hes.open({ dbPath: f.dbPath, storeKey: f.storeKey, synchronous: 'normal' });
        await h.setUser('admin', 'vera', 'viewer');
        const anchor = await h.audit.headString();
        expect((await h.audit.verifyAgainst(anchor)).ok).toBe(true);
        await h.close();
        await old.restore(); // a consistent older copy: its own chain verifies
        h = await Hes.open({ dbPath: f.dbPath, storeKey: f.storeKey });
        expect((await h.audit.verify()).ok).toBe(true);
        expect((await h.audit.verifyAgainst(anchor)).error).toMatch(/rolled back/);
        await h.close();
      });
    });

    describe('roles', () => {
      it('grants reads/tariffs to operators and disconnect/key update/firmware only to admins; refusals are audited', async () => {
        const f = await makeFixture(1, 1);
        const id = toHex(f.meters[0]!.id);
        await f.hes.setUser('admin', 'vera', 'viewer');
        await f.hes.setUser('admin', 'olga', 'operator');
        await expect(f.hes.setUser('olga', 'x', 'admin')).rejects.toThrow(PermissionError);
        await expect(f.hes.enqueueCommand('vera', id, { kind: 'read' })).rejects.toThrow(/lacks the right "read"/);
        await expect(f.hes.enqueueCommand('nobody', id, { kind: 'read' })).rejects.toThrow(/unknown user/);
        expect(await f.hes.enqueueCommand('olga', id, { kind: 'read' })).toBeGreaterThan(0);
        expect(await f.hes.enqueueCommand('olga', id, { kind: 'config', tariff: 2 })).toBeGreaterThan(0);
        expect(await f.hes.enqueueCommand('olga', id, { kind: 'clock' })).toBeGreaterThan(0);
        await expect(f.hes.enqueueCommand('olga', id, { kind: 'relay', state: 0 })).rejects.toThrow(PermissionError);
        await expect(f.hes.enqueueCommand('olga', id, { kind: 'key_update', scope: 0 })).rejects.toThrow(PermissionError);
        expect(await f.hes.enqueueCommand('admin', id, { kind: 'relay', state: 0 })).toBeGreaterThan(0);
        const denied = (await f.hes.audit.list()).filter((e) => e.action === 'policy.denied');
        expect(denied.map((e) => e.actor)).toEqual(['olga', 'vera', 'nobody', 'olga', 'olga']);
      });
    });

    describe('command state machine', () => {
      it('allows only forward transitions; terminal states are final', async () => {
        const allowed = COMMAND_STATES.flatMap((a) => COMMAND_STATES.filter((b) => canTransition(a, b)).map((b) => `${a}>${b}`));
        expect(allowed.sort()).toEqual(
          ['queued>expired', 'queued>failed', 'queued>sent', 'sent>acknowledged', 'sent>expired', 'sent>failed', 'sent>sent'].sort(),
        );
      });
    });

    describe('ingest', () => {
      it('stores readings durably, refuses replays (also after a restart) and counts nothing twice', async () => {
        const f = await makeFixture(2, 1);
        const m = f.meters[0]!;
        const fr1 = readingFrame(f, m, 1);
        expect(await f.hes.ingest(fr1)).toMatchObject({ ok: true, kind: 'reading', seq: 1 });
        expect(await f.hes.ingest(fr1)).toMatchObject({ ok: false, code: ERR_REPLAY });
        const fr2 = readingFrame(f, m, 2);
        const r = await f.hes.ingestBatch([fr2, readingFrame(f, m, 3), readingFrame(f, m, 2)]);
        expect(r.map((x) => (x.ok ? x.kind : x.error))).toEqual(['reading', 'reading', 'duplicate']);
        await f.reopen();
        expect(await f.hes.ingest(fr2)).toMatchObject({ ok: false, code: ERR_REPLAY });
        expect((await f.hes.readings(toHex(m.id))).map((x) => x.seq)).toEqual([1, 2, 3]);
        expect(await f.hes.ingest(readingFrame(f, m, 4))).toMatchObject({ ok: true, kind: 'reading' });
        const replays = (await f.hes.audit.list()).filter((e) => e.action === 'security.err_replay');
        expect(replays.length).toBe(2);
      });

      it('says WRONG KEY plainly after repeated authentication failures, and recovers', async () => {
        const f = await makeFixture(1, 1);
        const m = f.meters[0]!;
        const c = f.concOf(m);
        const bad = () => f.hes.ingest(c.wrap(m.sealWithWrongKey(0x01, [0, 1, 1, 1, 1])));
        expect(await bad()).toMatchObject({ ok: false, code: ERR_TAG });
        await bad();
        const r = await bad();
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.message).toMatch(/^WRONG KEY for meter [0-9a-f]{16}: 3 consecutive/);
        expect((await f.hes.meterStatus())[0]!.status).toBe('WRONG KEY');
        expect(await f.hes.ingest(readingFrame(f, m, 1))).toMatchObject({ ok: true });
        expect((await f.hes.meterStatus())[0]!.status).toBe('ok');
      });

      it('refuses unknown meters, unknown concentrators, forged link tags and garbage, auditing each', async () => {
        const f = await makeFixture(1, 1);
        const c = f.concs[0]!;
        const stranger = new KitMeter(randomBytes(8), randomBytes(16), f.hes.hesId);
        expect(await f.hes.ingest(c.wrap(stranger.seal(0x01, [0, 1, 1, 1, 1])))).toMatchObject({ ok: false, code: ERR_UNKNOWN_SENDER });
        const good = readingFrame(f, f.meters[0]!, 1);
        const forged = good.slice();
        forged[forged.length - 1] ^= 1;
        expect(await f.hes.ingest(forged)).toMatchObject({ ok: false, code: ERR_TAG });
        expect(await f.hes.ingest(good.subarray(0, 30))).toMatchObject({ ok: false, code: ERR_LENGTH });
        for (let i = 0; i < 200; i++) {
          const g = randomBytes(Math.floor(Math.random() * 120));
          if (g.length > 0 && i % 2 === 0) g[0] = 0x81;
          expect((await f.hes.ingest(g)).ok).toBe(false);
        }
        expect(await f.hes.ingest(good)).toMatchObject({ ok: true });
        expect((await f.hes.audit.verify()).ok).toBe(true);
        expect(await count(f.hes, 'readings')).toBe(1);
      });

      it('notices load-profile gaps and fills them through a READ command', async () => {
        const f = await makeFixture(1, 1);
        const m = f.meters[0]!;
        const c = f.concOf(m);
        await f.hes.ingestBatch([readingFrame(f, m, 1), readingFrame(f, m, 2), readingFrame(f, m, 6)]);
        const cmds = await f.hes.listCommands({ state: 'queued' });
        expect(cmds.map((x) => [x.kind, x.params])).toEqual([['gapfill', { kind: 'gapfill', from: 3, to: 5 }]]);
        const down = await f.hes.nextDownlink(toHex(c.id), Date.now());
        const { replies, seen } = deliverDownlink(f, c, down);
        expect(seen.map((s) => s.op)).toContain(0x02);
        // The ACK confirms only the gap-free prefix: the meter must keep 3..6 until they are stored.
        expect(seen.filter((s) => s.op === 0x09).map((s) => s.body)).toEqual([[0, 1, 2]]);
        await f.hes.ingestBatch(replies);
        expect((await f.hes.readings(toHex(m.id))).map((x) => x.seq)).toEqual([1, 2, 3, 4, 5, 6]);
        expect((await f.hes.listCommands())[0]!.state).toBe('acknowledged');
        const after = deliverDownlink(f, c, await f.hes.nextDownlink(toHex(c.id), Date.now()));
        expect(after.seen.filter((s) => s.op === 0x09).map((s) => s.body)).toEqual([[0, 1, 6]]);
        // After a restart the prefix is recomputed from the store; a resent old reading is re-acknowledged.
        await f.reopen();
        expect(await f.hes.ingest(readingFrame(f, m, 5))).toMatchObject({ ok: true, kind: 'duplicate' });
        const again = deliverDownlink(f, c, await f.hes.nextDownlink(toHex(c.id), Date.now()));
        expect(again.seen.filter((s) => s.op === 0x09).map((s) => s.body)).toEqual([[0, 1, 6]]);
      });
    });

    describe('commands', () => {
      it('relay: queued → sent → acknowledged; a lost answer is retried, then fails; expiry', async () => {
        const f = await makeFixture(1, 1);
        const m = f.meters[0]!;
        const c = f.concOf(m);
        const id = toHex(m.id);
        const t0 = 1_800_000_000_000;
        const a = await f.hes.enqueueCommand('admin', id, { kind: 'relay', state: 0 }, { nowMs: t0 });
        let d = deliverDownlink(f, c, await f.hes.nextDownlink(toHex(c.id), t0));
        expect((await f.hes.listCommands())[0]).toMatchObject({ id: a, state: 'sent', attempts: 1 });
        await f.hes.ingestBatch(d.replies, t0 + 1);
        expect((await f.hes.listCommands())[0]).toMatchObject({ id: a, state: 'acknowledged' });

        const b = await f.hes.enqueueCommand('admin', id, { kind: 'relay', state: 1 }, { nowMs: t0 });
        for (let i = 1; i <= 5; i++) {
          d = deliverDownlink(f, c, await f.hes.nextDownlink(toHex(c.id), t0 + i * 60_000));
          expect(d.seen.filter((s) => s.op === 0x03).length).toBe(1); // answers dropped on the floor
        }
        await f.hes.nextDownlink(toHex(c.id), t0 + 10 * 60_000);
        expect((await f.hes.listCommands()).find((x) => x.id === b)).toMatchObject({ state: 'failed', attempts: 5 });

        const e = await f.hes.enqueueCommand('admin', id, { kind: 'clock' }, { nowMs: t0, expiryMs: 1000 });
        await f.hes.nextDownlink(toHex(c.id), t0 + 2000);
        expect((await f.hes.listCommands()).find((x) => x.id === e)).toMatchObject({ state: 'expired' });
        const actions = (await f.hes.audit.list()).map((x) => x.action);
        expect(actions).toContain('command.acknowledged');
        expect(actions).toContain('command.failed');
        expect(actions).toContain('command.expired');
      });

      it('key update of all keys: lost CONFIRM is retried, old key valid until the meter confirms, then activated', async () => {
        const f = await makeFixture(1, 1);
        const m = f.meters[0]!;
        const c = f.concOf(m);
        const id = toHex(m.id);
        const cid = toHex(c.id);
        const t0 = 1_800_000_000_000;
        await f.hes.ingest(readingFrame(f, m, 1), t0);
        const k = await f.hes.enqueueCommand('admin', id, { kind: 'key_update', scope: 0 }, { nowMs: t0 });
        // TRANSPORT reaches the meter, its CONFIRM is lost.
        let d = deliverDownlink(f, c, await f.hes.nextDownlink(cid, t0), (op) => op === 0x07);
        expect(m.staged).toBe(true);
        // Old key still works both ways; restart in between keeps the pending key.
        await f.reopen();
        expect(await f.hes.ingest(readingFrame(f, m, 2), t0 + 1)).toMatchObject({ ok: true, kind: 'reading' });
        expect((await f.hes.listCommands()).find((x) => x.id === k)!.state).toBe('sent');
        // Retry after the retry interval: same key, new CONFIRM, delivered this time.
        d = deliverDownlink(f, c, await f.hes.nextDownlink(cid, t0 + 60_000));
        const ku = d.seen.filter((s) => s.op === 0x07);
        expect(ku.length).toBe(1);
        expect((await f.hes.ingestBatch(d.replies, t0 + 60_001)).map((r) => r.ok && r.kind)).toEqual(['key_confirm']);
        expect((await f.hes.listCommands()).find((x) => x.id === k)!.state).toBe('acknowledged');
        // Meter has not activated yet (ACTIVATE not delivered): its old-generation uplink is still accepted.
        expect(m.mkGen).toBe(0);
        expect(await f.hes.ingest(readingFrame(f, m, 3), t0 + 60_002)).toMatchObject({ ok: true });
        await f.reopen();
        expect(await f.hes.ingest(readingFrame(f, m, 4), t0 + 60_003)).toMatchObject({ ok: true });
        // ACTIVATE (re-sent because the meter kept using the old key) activates the staged key on the meter.
        d = deliverDownlink(f, c, await f.hes.nextDownlink(cid, t0 + 60_004));
        expect(m.mkGen).toBe(1);
        expect(await f.hes.ingest(readingFrame(f, m, 5), t0 + 60_005)).toMatchObject({ ok: true, kind: 'reading' });
        expect((await f.hes.meterStatus())[0]!.keyGen).toBe(1);
        // The old generation is now retired: a frame under it is refused as a downgrade.
        const old = new KitMeter(m.id, f.batch.meters[0]!.masterKey, f.hes.hesId);
        expect(await f.hes.ingest(c.wrap(old.seal(0x01, [0, 9, 1, 1, 1])))).toMatchObject({ ok: false, code: ERR_GENERATION });
        await f.reopen();
        expect(await f.hes.ingest(readingFrame(f, m, 6))).toMatchObject({ ok: true });
        expect((await f.hes.readings(id)).map((x) => x.seq)).toEqual([1, 2, 3, 4, 5, 6]);
        expect((await f.hes.audit.verify()).ok).toBe(true);
      });

      it('key update of one operation key; a cancelled update leaves the old key in force and never reuses its generation', async () => {
        const f = await makeFixture(1, 1);
        const m = f.meters[0]!;
        const c = f.concOf(m);
        const id = toHex(m.id);
        const cid = toHex(c.id);
        const k1 = await f.hes.enqueueCommand('admin', id, { kind: 'key_update', scope: 0x01 });
        deliverDownlink(f, c, await f.hes.nextDownlink(cid), () => true);
        await f.hes.cancelCommand('admin', k1);
        expect(await f.hes.ingest(readingFrame(f, m, 1))).toMatchObject({ ok: true });
        await expect(f.hes.cancelCommand('admin', k1)).rejects.toThrow(HesError);
        await f.hes.enqueueCommand('admin', id, { kind: 'key_update', scope: 0x01 });
        const d = deliverDownlink(f, c, await f.hes.nextDownlink(cid));
        // The meter replaces its staged generation-1 key by the later generation 2 (§8: the HES abandoned 1).
        expect((await f.hes.ingestBatch(d.replies)).map((r) => r.ok && r.kind)).toEqual(['key_confirm']);
        deliverDownlink(f, c, await f.hes.nextDownlink(cid));
        expect(m.gen(0x01)).toBe(2);
        expect(await f.hes.ingest(readingFrame(f, m, 2))).toMatchObject({ ok: true, kind: 'reading' });
        expect(await f.hes.ingest(c.wrap(m.seal(0x08, [0, 3, 1, 0])))).toMatchObject({ ok: true, kind: 'event' }); // other ops stay at gen 0
      });
    });

    describe('keys survive only under the pinned KPE', () => {
      it('a foreign signer with a valid-looking shipment cannot add meters', async () => {
        const f = await makeFixture(1, 1);
        const evilKey = ed25519.utils.randomSecretKey();
        const cert = f.hes.cert();
        const s = sealShipment({
          payload: encodePayload({
            hesId: cert.hesId,
            meters: [],
            concentrators: [{ id: randomBytes(8), linkKey: randomBytes(16), linkGen: 0 }],
          }),
          seq: 99,
          kpeSecret: evilKey,
          hesId: cert.hesId,
          hesPub: cert.x25519,
        });
        await expect(f.hes.importShipment(s, 'admin')).rejects.toThrow(/not the pinned KPE key/);
        expect(await count(f.hes, 'concentrators')).toBe(1);
      });
    });

    describe('commands, more', () => {
      it('key update of the key-update key itself (scope 7) is retired by the ACK of ACTIVATE; a repeated CONFIRM changes nothing', async () => {
        const f = await makeFixture(1, 1);
        const m = f.meters[0]!;
        const c = f.concOf(m);
        const id = toHex(m.id);
        const cid = toHex(c.id);
        const t0 = 1_800_000_000_000;
        await f.hes.enqueueCommand('admin', id, { kind: 'key_update', scope: 7 }, { nowMs: t0 });
        const first = deliverDownlink(f, c, await f.hes.nextDownlink(cid, t0)); // TRANSPORT -> CONFIRM #1 (held back)
        const second = deliverDownlink(f, c, await f.hes.nextDownlink(cid, t0 + 60_000)); // retried TRANSPORT -> CONFIRM #2
        expect(first.replies.length).toBe(1);
        expect(second.replies.length).toBe(1);
        expect(await f.hes.ingest(first.replies[0]!, t0 + 60_001)).toMatchObject({ ok: true, kind: 'key_confirm' });
        expect((await f.hes.meterStatus())[0]!.status).toBe('key update confirmed');
        expect(await f.hes.ingest(second.replies[0]!, t0 + 60_002)).toMatchObject({ ok: true, kind: 'key_confirm' });
        expect((await f.hes.meterStatus())[0]!.status).toBe('key update confirmed');
        const act = deliverDownlink(f, c, await f.hes.nextDownlink(cid, t0 + 60_003)); // ACTIVATE under the new KU key -> ACK
        expect(m.gen(7)).toBe(1);
        expect(act.replies.length).toBe(1);
        expect(await f.hes.ingest(act.replies[0]!, t0 + 60_004)).toMatchObject({ ok: true, kind: 'ack' });
        expect((await f.hes.meterStatus())[0]!.status).toBe('ok');
        expect((await f.hes.audit.list()).map((e) => e.action)).toContain('key_update.activated');
        // Other operations never changed generation.
        expect(await f.hes.ingest(c.wrap(m.seal(0x01, [0, 1, 1, 1, 1])))).toMatchObject({ ok: true, kind: 'reading' });
      });

      it('a repeated CONFIRM after an HES restart (or a reload by another node) is still taken under KC', async () => {
        const f = await makeFixture(1, 1);
        const m = f.meters[0]!;
        const c = f.concOf(m);
        const cid = toHex(c.id);
        const t0 = 1_800_000_000_000;
        await f.hes.enqueueCommand('admin', toHex(m.id), { kind: 'key_update', scope: 0 }, { nowMs: t0 });
        const first = deliverDownlink(f, c, await f.hes.nextDownlink(cid, t0));
        const second = deliverDownlink(f, c, await f.hes.nextDownlink(cid, t0 + 60_000)); // retried TRANSPORT
        expect(await f.hes.ingest(first.replies[0]!, t0 + 60_001)).toMatchObject({ ok: true, kind: 'key_confirm' });
        await f.reopen(); // the confirmed update lives only in the store now
        expect(await f.hes.ingest(second.replies[0]!, t0 + 60_002)).toMatchObject({ ok: true, kind: 'key_confirm' });
        const act = deliverDownlink(f, c, await f.hes.nextDownlink(cid, t0 + 60_003));
        expect(await f.hes.ingestBatch(act.replies, t0 + 60_004)).toMatchObject([{ ok: true }]);
        expect(m.mkGen).toBe(1);
        expect(await f.hes.ingest(readingFrame(f, m, 1))).toMatchObject({ ok: true, kind: 'reading' });
        expect((await f.hes.meterStatus())[0]!.status).toBe('ok');
      });

      it('config, clock and on-demand read are acknowledged by the meter answers', async () => {
        const f = await makeFixture(1, 1);
        const m = f.meters[0]!;
        const c = f.concOf(m);
        const id = toHex(m.id);
        const ids = [
          await f.hes.enqueueCommand('admin', id, { kind: 'config', tariff: 2, pushInterval: 900 }),
          await f.hes.enqueueCommand('admin', id, { kind: 'clock' }),
          await f.hes.enqueueCommand('admin', id, { kind: 'read' }),
        ];
        const d = deliverDownlink(f, c, await f.hes.nextDownlink(toHex(c.id)));
        const cfg = d.seen.find((s) => s.op === 0x04)!.body as unknown[];
        expect(cfg[1]).toEqual(
          new Map([
            [1, 2],
            [2, 900],
          ]),
        );
        await f.hes.ingestBatch(d.replies);
        for (const i of ids) expect((await f.hes.listCommands()).find((x) => x.id === i)!.state).toBe('acknowledged');
        expect((await f.hes.listCommands()).find((x) => x.id === ids[2])!.result).toMatchObject({ wh: 12345 });
        await expect(f.hes.enqueueCommand('admin', id, { kind: 'config' })).rejects.toThrow(/tariff/);
        await expect(f.hes.enqueueCommand('admin', id, { kind: 'relay', state: 2 as 0 })).rejects.toThrow(/relay state/);
        await expect(f.hes.enqueueCommand('admin', '0000000000000000', { kind: 'read' })).rejects.toThrow(/unknown meter/);
      });

      it('runs a firmware campaign: begin, every chunk, activate; the meter receives the exact image', async () => {
        const f = await makeFixture(2, 1);
        const image = randomBytes(1300);
        const sha = await f.hes.addFirmware('admin', image, 7);
        const c = f.concs[0]!;
        const cmds: number[] = [];
        for (const m of f.meters)
          cmds.push(await f.hes.enqueueCommand('admin', toHex(m.id), { kind: 'firmware', sha256: sha, size: image.length, version: 7 }));
        for (let i = 0; i < 10; i++) {
          const d = deliverDownlink(f, c, await f.hes.nextDownlink(toHex(c.id)));
          if (d.replies.length === 0) break;
          await f.hes.ingestBatch(d.replies);
        }
        for (const id of cmds)
          expect((await f.hes.listCommands()).find((x) => x.id === id)).toMatchObject({
            state: 'acknowledged',
            result: { status: 'ok', version: 7 },
          });
        for (const m of f.meters) expect(toHex(Buffer.concat(m.fw!.data))).toBe(toHex(image));
        // Each BEGIN carried CMAC(KF[0], image) of its own meter (PROTOCOL.md §10, D-10), by the node:crypto reference.
        const macs = f.meters.map((m, i) => {
          const mk = f.batch.meters[i]!.masterKey;
          expect(m.fw!.gen).toBe(0);
          expect(toHex(m.fw!.mac)).toBe(toHex(refCmac(refE2eKey(refOpRoot(mk, m.id, 6, 0), m.id, 6, 2, 0), image)));
          return toHex(m.fw!.mac);
        });
        expect(new Set(macs).size).toBe(f.meters.length);
        await f.hes.setUser('admin', 'olga', 'operator');
        await expect(f.hes.addFirmware('olga', image, 8)).rejects.toThrow(PermissionError);
      });
    });

    describe('firmware campaign across a key update', () => {
      it('begins the download again under the new FIRMWARE generation, with the MAC under the new image key', async () => {
        const f = await makeFixture(1, 1);
        const m = f.meters[0]!;
        const c = f.concOf(m);
        const image = randomBytes(1300);
        const sha = await f.hes.addFirmware('admin', image, 9);
        const fw = await f.hes.enqueueCommand('admin', toHex(m.id), { kind: 'firmware', sha256: sha, size: image.length, version: 9 });
        await f.hes.ingestBatch(deliverDownlink(f, c, await f.hes.nextDownlink(toHex(c.id))).replies); // BEGIN under generation 0
        expect(m.fw!.gen).toBe(0);
        await f.hes.enqueueCommand('admin', toHex(m.id), { kind: 'key_update', scope: 6 }); // replaces OK[FIRMWARE]
        const begins: number[] = [];
        for (let i = 0; i < 20; i++) {
          const d = deliverDownlink(f, c, await f.hes.nextDownlink(toHex(c.id)));
          for (const x of d.seen) if (x.op === 6 && (x.body as unknown[])[1] === 1) begins.push(m.gen(6));
          if (d.replies.length === 0) break;
          await f.hes.ingestBatch(d.replies);
        }
        expect(m.gen(6)).toBe(1);
        expect(begins).toEqual([1]); // one new BEGIN, under the new generation
        expect((await f.hes.listCommands()).find((x) => x.id === fw)).toMatchObject({
          state: 'acknowledged',
          result: { status: 'ok', version: 9 },
        });
        expect(m.fw!.gen).toBe(1);
        expect(toHex(Buffer.concat(m.fw!.data))).toBe(toHex(image));
        const ok1 = m.ring.roots.subarray(6 * 16, 7 * 16); // OK[FIRMWARE, 1], the transported key
        expect(toHex(m.fw!.mac)).toBe(toHex(refCmac(refE2eKey(ok1, m.id, 6, 2, 1), image)));
      });
    });

    describe('hostile but authentic input', () => {
      it('a meter sending odd bodies on every uplink op never aborts a batch or breaks the store', async () => {
        const f = await makeFixture(1, 1);
        const m = f.meters[0]!;
        const c = f.concOf(m);
        let seed = 99;
        const rnd = (n: number) => {
          seed = (seed * 1103515245 + 12345) & 0x7fffffff;
          return seed % n;
        };
        const atoms = [
          0,
          1,
          2,
          7,
          -1,
          255,
          2 ** 32,
          2 ** 53 - 1,
          'x',
          '',
          true,
          null,
          new Uint8Array(16),
          new Uint8Array(0),
          new Map([[1, 2]]),
        ];
        const value = (d: number): any =>
          d > 0 && rnd(3) === 0 ? Array.from({ length: rnd(6) }, () => value(d - 1)) : atoms[rnd(atoms.length)];
        // A command in flight, so that responses can match a request id.
        const cmd = await f.hes.enqueueCommand('admin', toHex(m.id), { kind: 'relay', state: 0 });
        deliverDownlink(f, c, await f.hes.nextDownlink(toHex(c.id)), () => true);
        const frames: Uint8Array[] = [];
        for (let i = 0; i < 400; i++) {
          const op = [1, 2, 3, 4, 5, 6, 7, 8, 9][rnd(9)]!;
          const body = [rnd(2) === 0 ? cmd : value(0), ...Array.from({ length: rnd(6) }, () => value(2))];
          frames.push(c.wrap(m.seal(op, body as never)));
        }
        const res = await f.hes.ingestBatch(frames);
        expect(res.length).toBe(400);
        for (const r of res) if (!r.ok) expect(['ERR_CBOR', 'ERR_POLICY', 'ERR_KEY_STATE']).toContain(r.error);
        expect((await f.hes.audit.verify()).ok).toBe(true);
        // Still fully working afterwards.
        expect(await f.hes.ingest(readingFrame(f, m, 1))).toMatchObject({ ok: true });
      });
    });

    describe('two processes on one store', () => {
      it('a key update or an import committed by a CLI process is picked up by the serving process', async () => {
        const f = await makeFixture(1, 1);
        const m = f.meters[0]!;
        const c = f.concOf(m);
        const cid = toHex(c.id);
        const cli = await Hes.open({ dbPath: f.dbPath, storeKey: f.storeKey, synchronous: 'normal' });
        await f.hes.ingest(readingFrame(f, m, 1)); // the server holds its state in memory
        await cli.enqueueCommand('admin', toHex(m.id), { kind: 'key_update', scope: 0 });
        // The server sees the pending key and sends TRANSPORT; the update completes through it.
        let d = deliverDownlink(f, c, await f.hes.nextDownlink(cid));
        expect(d.seen.some((s) => s.op === 0x07)).toBe(true);
        expect((await f.hes.ingestBatch(d.replies)).map((r) => r.ok && r.kind)).toEqual(['key_confirm']);
        d = deliverDownlink(f, c, await f.hes.nextDownlink(cid));
        expect(m.mkGen).toBe(1);
        expect(await f.hes.ingest(readingFrame(f, m, 2))).toMatchObject({ ok: true, kind: 'reading' });
        // The CLI process, now stale, refreshes before deciding: a second update gets generation 2.
        await cli.enqueueCommand('admin', toHex(m.id), { kind: 'key_update', scope: 0 });
        expect((await cli.meterStatus())[0]).toMatchObject({ keyGen: 1, pendingGen: 2 });
        // A shipment imported by the CLI process: the server ingests from the new meter without a restart.
        const b = produceBatch(f.kpe, { meters: 1, concentrators: 1, hesCert: f.hes.cert(), outDir: join(f.dir, 'b2') });
        await cli.importShipment(readFileSync(b.shipmentFile), 'admin');
        const nm = new KitMeter(b.meters[0]!.id, b.meters[0]!.masterKey, f.hes.hesId);
        const nc = new KitConcentrator(b.concentrators[0]!.id, b.concentrators[0]!.linkKey, 0, f.hes.hesId);
        expect(await f.hes.ingest(nc.wrap(nm.seal(0x01, [0, 1, 1, 1, 1])))).toMatchObject({ ok: true, kind: 'reading' });
        await cli.close();
      });
    });

    describe('counter exhaustion', () => {
      it('EVENT 19 from a meter starts a full key update by the HES itself', async () => {
        const f = await makeFixture(1, 1);
        const m = f.meters[0]!;
        const c = f.concOf(m);
        expect(await f.hes.ingest(c.wrap(m.seal(0x08, [0, 19, 1_700_000_000, 1])))).toMatchObject({ ok: true, kind: 'event' });
        const k = await f.hes.listCommands({ state: 'queued' });
        expect(k.map((x) => [x.kind, x.actor, (x.params as { scope: number }).scope])).toEqual([['key_update', 'hes', 0]]);
        // A second warning while the update runs queues nothing more.
        await f.hes.ingest(c.wrap(m.seal(0x08, [0, 19, 1_700_000_001, 1])));
        expect((await f.hes.listCommands()).length).toBe(1);
        const d = deliverDownlink(f, c, await f.hes.nextDownlink(toHex(c.id)));
        expect((await f.hes.ingestBatch(d.replies)).map((r) => r.ok && r.kind)).toEqual(['key_confirm']);
        expect((await f.hes.audit.list()).some((e) => e.action === 'meter.security_event')).toBe(true);
      });
    });
  });
}
