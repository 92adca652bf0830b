// The operator side of the command queue: queue (rights checked, refusals audited; a key update
// draws its key and persists it as pending first), cancel, list, and firmware images.
import { createHash } from 'node:crypto';
import { KX_STAGED, KX_CONFIRMED } from '@vakt/shared';
import { fromHex, toHex } from '../crypto/bytes.ts';
import { KIND_INFO, canTransition, validateParams } from './commands.ts';
import type { CommandParams, CommandState } from './commands.ts';
import { DEFAULT_EXPIRY_MS, HesError, ID_LEN } from './constants.ts';
import type { CommandRows } from './commandrows.ts';
import type { KeyUpdate } from './keyupdate.ts';
import type { Access } from './access.ts';
import type { HesCore } from './state.ts';
import { StaleStoreError } from './store/types.ts';
import type { StoreWrite, WriteResult } from './store/types.ts';

/** Attempts of a unit whose conditional writes found the store changed by another writer. */
const STALE_RETRIES = 3;

export interface CommandInfo {
  id: number;
  meter: string;
  kind: string;
  state: string;
  actor: string;
  attempts: number;
  params: unknown;
  result: unknown;
  updatedMs: number;
}

export class CommandQueue {
  constructor(
    private readonly core: HesCore,
    private readonly rows: CommandRows,
    private readonly keys: KeyUpdate,
    private readonly access: Access,
  ) {}

  /**
   * Runs build() as one unit (its writes committed together) after syncing with the store; a
   * stale conditional write reloads and runs it again. Returns build's value and the write results.
   */
  private unit<T>(build: () => Promise<T> | T): Promise<{ value: T; results: WriteResult[] }> {
    return this.core.serial(async () => {
      for (let attempt = 0; ; attempt++) {
        await this.core.sync();
        const unit: StoreWrite[] = [];
        this.core.unit = unit;
        try {
          const value = await build();
          this.core.unit = null;
          return { value, results: unit.length > 0 ? await this.core.store.commit(unit) : [] };
        } catch (e) {
          this.core.unit = null;
          await this.core.reload();
          if (!(e instanceof StaleStoreError) || attempt >= STALE_RETRIES) throw e;
        }
      }
    });
  }

  /**
   * Queues a command for a meter after checking the actor's right (refusals are audited).
   * A key update draws its new key and generation here and persists it as pending before any frame is sent.
   */
  async enqueue(actor: string, meterId: string, p: CommandParams, o: { nowMs?: number; expiryMs?: number } = {}): Promise<number> {
    const now = o.nowMs ?? Date.now();
    await this.access.require(actor, KIND_INFO[p.kind].right, meterId);
    validateParams(p);
    if (p.kind === 'firmware' && (await this.core.store.firmwareImage(fromHex(p.sha256))) === undefined) {
      throw new HesError(`firmware image ${p.sha256} is not stored (add it with "hes firmware add")`);
    }
    const expiry = o.expiryMs ?? DEFAULT_EXPIRY_MS;
    const { value, results } = await this.unit(() => {
      const m = this.core.meters.get(meterId.toLowerCase());
      if (m === undefined) throw new HesError(`unknown meter ${meterId}`);
      if (p.kind !== 'key_update') return this.rows.insert(actor, m, p, now, expiry);
      if (m.ring.xState === KX_STAGED) throw new HesError(`meter ${meterId} already has a key update in progress`);
      if (m.ring.xState === KX_CONFIRMED)
        throw new HesError(`meter ${meterId} has not yet activated its previous key update; wait for its first frame under the new key`);
      return this.keys.begin(actor, m, p.scope, now, expiry);
    });
    return (results[value] as { id: number }).id;
  }

  /** Cancels a queued or sent command (right of its kind); a pending key update is abandoned, the old key stays. */
  async cancel(actor: string, id: number, nowMs: number = Date.now()): Promise<void> {
    const first = await this.core.store.command(id);
    if (first === undefined) throw new HesError(`no command ${id}`);
    await this.access.require(actor, KIND_INFO[first.kind].right, `${toHex(first.meterId)}#${id}`);
    await this.unit(async () => {
      const row = (await this.core.store.command(id))!;
      if (!canTransition(row.state, 'failed')) throw new HesError(`command ${id} is already ${row.state}`);
      this.rows.end(row, 'failed', nowMs, { cancelledBy: actor });
    });
  }

  /** Lists commands (optionally of one meter / state), newest first. */
  async list(f: { meter?: string; state?: CommandState; limit?: number } = {}): Promise<CommandInfo[]> {
    const rows = await this.core.store.listCommands({
      ...(f.meter !== undefined ? { meter: fromHex(f.meter, ID_LEN) } : {}),
      ...(f.state !== undefined ? { state: f.state } : {}),
      limit: f.limit ?? 100,
    });
    return rows.map((r) => ({
      id: r.id,
      meter: toHex(r.meterId),
      kind: r.kind,
      state: r.state,
      actor: r.actor,
      attempts: r.attempts,
      params: JSON.parse(r.params),
      result: r.result === null ? null : JSON.parse(r.result),
      updatedMs: r.updatedMs,
    }));
  }

  /** Stores a firmware image for campaigns (right: firmware); returns its SHA-256 hex. */
  async addFirmware(actor: string, image: Uint8Array, version: number): Promise<string> {
    await this.access.require(actor, 'firmware', 'image');
    const sha = new Uint8Array(createHash('sha256').update(image).digest());
    const now = Date.now();
    await this.core.store.addFirmwareImage(sha, version, image, now, [
      { actor, action: 'firmware.added', subject: toHex(sha), detail: { version, size: image.length }, tsMs: now },
    ]);
    return toHex(sha);
  }
}
