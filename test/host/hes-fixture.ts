// Shared set-up for HES tests: a KPE, an initialised HES, one imported batch and kit devices.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initKpe, produceBatch } from '../../host/src/kpe/kpe.ts';
import type { Kpe, BatchResult } from '../../host/src/kpe/kpe.ts';
import { Hes } from '../../host/src/hes/hes.ts';
import type { HesOpenOptions } from '../../host/src/hes/hes.ts';
import { KitMeter, KitConcentrator } from '../../host/src/hes/testkit.ts';
import { randomBytes, toHex } from '../../host/src/crypto/bytes.ts';
import { storeOf } from './hes-stores.ts';
import type { HesStoreCase } from './hes-stores.ts';

export interface Fixture {
  dir: string;
  /** The store's location: the SQLite file, or a PostgreSQL connection string. */
  dbPath: string;
  store: HesStoreCase;
  storeKey: Uint8Array;
  kpe: Kpe;
  hes: Hes;
  batch: BatchResult;
  meters: KitMeter[];
  concs: KitConcentrator[];
  concOf: (m: KitMeter) => KitConcentrator;
  reopen: (o?: Partial<HesOpenOptions>) => Promise<Hes>;
}

/** Fixtures made in this file, so a suite can close their HES at the end (PostgreSQL pools hold connections). */
const made: Fixture[] = [];

/** Closes the HES of every fixture made so far (idempotent; for afterEach). */
export async function closeFixtures(): Promise<void> {
  for (const f of made.splice(0)) await f.hes.close();
}

/**
 * Builds a fresh HES with `meters` meters on `concentrators` concentrators imported, on `store`
 * (default SQLite; see hes-stores.ts) in a new, empty store of its own.
 */
export async function makeFixture(
  meters = 4,
  concentrators = 2,
  o: Partial<HesOpenOptions> = {},
  store: HesStoreCase = storeOf(''),
): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'vakt-hes-'));
  const dbPath = await store.newLocation(dir);
  const storeKey = randomBytes(32);
  const kpe = initKpe(join(dir, 'kpe'));
  const { hes, cert } = await Hes.init({ dbPath, storeKey, kpePublicKeys: [kpe.pub], synchronous: 'normal', ...o });
  const batch = produceBatch(kpe, { meters, concentrators, hesCert: cert, outDir: join(dir, 'batch') });
  await hes.importShipment(readFileSync(batch.shipmentFile), 'admin');
  const concs = batch.concentrators.map((c) => new KitConcentrator(c.id, c.linkKey, c.linkGen, cert.hesId));
  const kitMeters = batch.meters.map((m) => new KitMeter(m.id, m.masterKey, cert.hesId));
  const f: Fixture = {
    dir,
    dbPath,
    store,
    storeKey,
    kpe,
    hes,
    batch,
    meters: kitMeters,
    concs,
    concOf: (m) => {
      const bm = batch.meters.find((x) => toHex(x.id) === toHex(m.id))!;
      return concs.find((c) => toHex(c.id) === toHex(bm.concentratorId))!;
    },
    reopen: async (ro = {}) => {
      await f.hes.close();
      f.hes = await Hes.open({ dbPath, storeKey, synchronous: 'normal', ...o, ...ro });
      return f.hes;
    },
  };
  made.push(f);
  return f;
}

/** Reading uplink of a kit meter wrapped by its concentrator. */
export function readingFrame(f: Fixture, m: KitMeter, seq: number, wh = seq * 10): Uint8Array {
  return f.concOf(m).wrap(m.seal(0x01, [0, seq, 1_700_000_000 + seq * 900, wh, 250]));
}

/** Delivers HES downlink for a concentrator to its kit meters; returns the meters' uplink replies as link frames. */
export function deliverDownlink(
  f: Fixture,
  c: KitConcentrator,
  frames: Uint8Array[],
  drop?: (op: number, body: unknown) => boolean,
): { replies: Uint8Array[]; seen: { op: number; body: unknown }[] } {
  const replies: Uint8Array[] = [];
  const seen: { op: number; body: unknown }[] = [];
  for (const lf of frames) {
    const u = c.unwrap(lf);
    if (typeof u === 'number') throw new Error(`concentrator could not open downlink: ${u}`);
    if (u.type !== 0x01) continue; // JOIN etc.
    const receiverHex = toHex(u.body.subarray(0, 8)); // backhaul DATA body: meter id ‖ e2e frame
    const m = f.meters.find((x) => toHex(x.id) === receiverHex)!;
    const r = m.receive(u.body);
    if (typeof r === 'number') throw new Error(`meter could not open downlink: ${r}`);
    seen.push({ op: r.op, body: r.body });
    if (drop !== undefined && drop(r.op, r.body)) continue;
    for (const rep of r.replies) replies.push(c.wrap(rep));
  }
  return { replies, seen };
}
