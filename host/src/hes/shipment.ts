// KPE shipment import (docs/HOST.md §3): pinned signer, signature, recipient, replay (id and
// sequence), payload, conflicts, then every device and key in one store unit. Any refusal is
// audited and imports nothing.
import { createKeyRing, encodeKeyRing, RING_LEN } from '@vakt/shared';
import { ctEqual, plain, toHex } from '../crypto/bytes.ts';
import { openShipment, ShipmentError } from '../crypto/shipment.ts';
import { decodePayload } from '../kpe/payload.ts';
import type { Access } from './access.ts';
import type { HesCore } from './state.ts';
import { StaleStoreError } from './store/types.ts';
import type { KeyRow } from './store/types.ts';

export interface ImportSummary {
  meters: number;
  concentrators: number;
  seq: number;
  id: string;
}

export class Shipments {
  constructor(
    private readonly core: HesCore,
    private readonly access: Access,
    private readonly hesSecret: () => Promise<Uint8Array>,
  ) {}

  /** Pins an additional KPE public key (right: users). */
  async pinKpe(actor: string, pub: Uint8Array): Promise<void> {
    await this.access.require(actor, 'users', toHex(pub));
    const now = Date.now();
    await this.core.store.pinKpeKey(pub, now, [{ actor, action: 'kpe.pin', subject: toHex(pub), detail: {}, tsMs: now }]);
  }

  /**
   * Imports a KPE shipment. `kpePublicKey`, when given, must be one of the pinned keys (a caller
   * cannot widen the pin).
   */
  async import(bytes: Uint8Array, actor: string, kpePublicKey?: Uint8Array): Promise<ImportSummary> {
    await this.access.require(actor, 'import', 'shipment');
    const store = this.core.store;
    const pinned = (await store.pinnedKpeKeys()).map(plain);
    const pins = kpePublicKey === undefined ? pinned : pinned.filter((p) => ctEqual(p, kpePublicKey));
    const refuse = async (e: ShipmentError): Promise<never> => {
      await store.appendAudit([{ actor, action: 'shipment.refused', subject: e.code, detail: { reason: e.message }, tsMs: Date.now() }]);
      throw e;
    };
    let opened: ReturnType<typeof openShipment>;
    try {
      opened = openShipment(bytes, { pinnedKpePubs: pins, hesId: this.core.hesId, hesSecret: await this.hesSecret() });
    } catch (e) {
      if (e instanceof ShipmentError) return refuse(e);
      throw e;
    }
    const h = opened.header;
    const seen = await store.shipmentSeen(h.id, h.kpePub);
    if (seen.seen) return refuse(new ShipmentError('REPLAY', `shipment ${toHex(h.id)} was already imported`));
    if (seen.lastSeq !== null && h.seq <= seen.lastSeq) {
      return refuse(
        new ShipmentError(
          'REPLAY',
          `shipment sequence ${h.seq} is not newer than the last imported (${seen.lastSeq}): replayed or out of order`,
        ),
      );
    }
    let p: ReturnType<typeof decodePayload>;
    try {
      p = decodePayload(opened.payload);
    } catch (e) {
      return refuse(new ShipmentError('MALFORMED', `shipment payload invalid: ${(e as Error).message}`));
    } finally {
      opened.payload.fill(0);
    }
    if (!ctEqual(p.hesId, this.core.hesId)) return refuse(new ShipmentError('WRONG_RECIPIENT', 'shipment payload names another HES'));
    const taken = await store.provisioned([...p.meters, ...p.concentrators].map((d) => d.id));
    if (taken.length > 0)
      return refuse(new ShipmentError('CONFLICT', `device ${toHex(taken[0]!)} is already provisioned; a shipment cannot replace its keys`));
    const now = Date.now();
    const kms = this.core.kms;
    const keys: Omit<KeyRow, 'ver'>[] = [];
    const row = (owner: Uint8Array, kind: 'ring' | 'lk', gen: number, key: Uint8Array) =>
      keys.push({ owner, kind, scope: 0, gen, state: 'active', enc: kms.seal(owner, kind, 0, gen, key), createdMs: now });
    for (const c of p.concentrators) row(c.id, 'lk', c.linkGen, c.linkKey);
    for (const m of p.meters) {
      const rb = new Uint8Array(RING_LEN);
      encodeKeyRing(createKeyRing(this.core.ctx, m.id, m.masterKey, 0, 0), rb, 0);
      row(m.id, 'ring', 0, rb);
      rb.fill(0);
      row(m.id, 'lk', m.linkGen, m.linkKey);
      m.masterKey.fill(0);
    }
    try {
      await store.importShipment({
        id: h.id,
        kpePub: h.kpePub,
        seq: h.seq,
        createdMs: h.createdMs,
        importedMs: now,
        concentrators: p.concentrators.map((c) => ({ id: c.id, linkGen: c.linkGen })),
        meters: p.meters.map((m) => ({ id: m.id, concentratorId: m.concentratorId, linkGen: m.linkGen, shortAddr: m.shortAddr })),
        keys,
        audit: [
          {
            actor,
            action: 'shipment.imported',
            subject: toHex(h.id),
            detail: { seq: h.seq, kpe: toHex(h.kpePub), meters: p.meters.length, concentrators: p.concentrators.length },
            tsMs: now,
          },
        ],
      });
    } catch (e) {
      // Imported meanwhile by another process or node: the same refusal as above.
      if (e instanceof StaleStoreError)
        return refuse(new ShipmentError('CONFLICT', `shipment ${toHex(h.id)} or one of its devices was imported meanwhile`));
      throw e;
    }
    await this.core.serial(() => this.core.reload());
    return { meters: p.meters.length, concentrators: p.concentrators.length, seq: h.seq, id: toHex(h.id) };
  }
}
