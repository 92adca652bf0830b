// `vakt demo`, first part: production. The KPE makes the keys, one provisioning image per device
// and a signed, encrypted shipment; the HES is created and imports it.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireMeterImage } from '../../bridge/devices.ts';
import { Hes } from '../../hes/hes.ts';
import { Users } from '../../hes/users.ts';
import { initKpe, produceBatch, type BatchResult } from '../../kpe/kpe.ts';
import type { DemoOptions, DemoResources, StepFn } from './types.ts';

/** Meters per concentrator; more meters get more concentrators. */
const METERS_PER_CONCENTRATOR = 250;
/** Lifetime of the admin token written with --dir (to inspect the run afterwards). */
const DIR_TOKEN_MS = 30 * 86400_000;
/** Bytes of the HES store key. */
const STORE_KEY_BYTES = 32;
/** Offset of the master key in a meter image: [0x88, 1, 1, 0x48, id(8), 0x50, mk(16), …] (PROTOCOL.md §11). */
const IMAGE_MASTER_KEY_OFF = 13;

/** What production hands to the deployment. */
export interface Production {
  hes: Hes;
  batch: BatchResult;
  /** Concentrators in the batch. */
  nConc: number;
}

/** The files of the demo HES in its directory (kept with --dir, to inspect with `vakt hes`). */
export const DEMO_FILES = { db: 'hes.sqlite', storeKey: 'hes.key', adminToken: 'admin.token' };

/**
 * Keys, images and the shipment (one meter more than asked for: it will run with a wrong key),
 * the HES created and the shipment imported; two steps recorded.
 */
export async function produce(o: DemoOptions, dir: string, keep: boolean, res: DemoResources, step: StepFn): Promise<Production> {
  const kpe = initKpe(join(dir, 'kpe'));
  const storeKey = randomBytes(STORE_KEY_BYTES);
  // With --dir the run can be inspected afterwards with the vakt hes commands, so keep its key (0600).
  if (keep)
    writeFileSync(
      join(dir, DEMO_FILES.storeKey),
      `# store key of the demo HES (${join(dir, DEMO_FILES.db)})\n${Buffer.from(storeKey).toString('hex')}\n`,
      { mode: 0o600 },
    );
  const init = await Hes.init({
    dbPath: join(dir, DEMO_FILES.db),
    storeKey,
    kpePublicKeys: [kpe.pub],
    adminUser: 'admin',
    synchronous: 'normal',
  });
  const h = init.hes;
  // With --dir, the vakt hes commands need an operator's token too: an admin token file (0600).
  if (keep)
    writeFileSync(
      join(dir, DEMO_FILES.adminToken),
      (await new Users(h).createToken('init', 'admin', { ttlMs: DIR_TOKEN_MS, label: 'demo --dir' })).token + '\n',
      { mode: 0o600 },
    );
  res.cleanup.push(() => h.close());
  const nConc = Math.max(1, Math.ceil(o.meters / METERS_PER_CONCENTRATOR));
  // One extra meter will run with one bit of its master key changed: a wrong key must be reported, not be silence.
  const batch = produceBatch(kpe, { meters: o.meters + 1, concentrators: nConc, hesCert: init.cert, outDir: join(dir, 'out') });
  step(
    'KPE produced keys',
    batch.meters.length === o.meters + 1 && batch.concentrators.length === nConc,
    `${o.meters} meter(s) + 1 to be given a wrong key, ${nConc} concentrator(s): one provisioning image each, one signed encrypted shipment (#${batch.seq})`,
  );
  const imported = await h.importShipment(new Uint8Array(readFileSync(batch.shipmentFile)), 'admin', kpe.pub);
  step(
    'HES imported the shipment',
    imported.meters === o.meters + 1 && imported.concentrators === nConc,
    `signature and recipient checked; ${imported.meters} meter and ${imported.concentrators} concentrator key sets stored encrypted`,
  );
  return { hes: h, batch, nConc };
}

/** A copy of a meter image with one bit of its master key flipped (the image still parses). */
export function withWrongMasterKey(img: Uint8Array): Uint8Array {
  const bad = img.slice();
  bad[IMAGE_MASTER_KEY_OFF] ^= 0x01;
  const a = requireMeterImage(img, 'image');
  const b = requireMeterImage(bad, 'image');
  if (a.masterKey.every((x, i) => x === b.masterKey[i]) || !a.linkKey.every((x, i) => x === b.linkKey[i]))
    throw new Error('meter image layout changed');
  return bad;
}
