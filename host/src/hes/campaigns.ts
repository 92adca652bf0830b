// Campaigns: one key-update or firmware command per meter of a group, started together and followed
// as one (states counted over its commands). The commands themselves are ordinary HES commands
// (rights, retries, expiry, audit); this module only remembers which belong together.
import type { Hes } from './hes.ts';
import { HesError } from './hes.ts';
import { KIND_INFO } from './commands.ts';
import type { CommandParams } from './commands.ts';

export const CAMPAIGN_KINDS = ['key_update', 'firmware'] as const;
export type CampaignKind = (typeof CAMPAIGN_KINDS)[number];

export interface CampaignSummary {
  id: number;
  kind: string;
  actor: string;
  params: unknown;
  createdMs: number;
  meters: number;
  states: { [state: string]: number };
  skipped: number;
}

export class Campaigns {
  constructor(private readonly hes: Hes) {}

  /**
   * Queues the command on every meter (actor's right checked first: a refusal changes nothing).
   * A meter that cannot take it now (e.g. a key update already in progress) is skipped with the reason.
   */
  async start(
    actor: string,
    meters: string[],
    params: CommandParams & { kind: CampaignKind },
    expiryMs?: number,
  ): Promise<{ id: number; commands: number[]; skipped: { meter: string; reason: string }[] }> {
    if (meters.length === 0) throw new HesError('a campaign needs at least one meter');
    const known = new Set((await this.hes.meterStatus()).map((m) => m.id));
    const unknown = meters.find((m) => !known.has(m));
    if (unknown !== undefined) throw new HesError(`unknown meter ${unknown}`);
    await this.hes.require(actor, KIND_INFO[params.kind].right, `campaign:${params.kind}`);
    const now = Date.now();
    const id = await this.hes.store.insertCampaign(params.kind, actor, JSON.stringify(params), now, (cid) => [
      { actor, action: 'campaign.start', subject: `campaign#${cid}`, detail: { ...params, meters: meters.length }, tsMs: now },
    ]);
    const commands: number[] = [];
    const skipped: { meter: string; reason: string }[] = [];
    for (const m of meters) {
      try {
        const cid = await this.hes.enqueueCommand(actor, m, params, expiryMs !== undefined ? { expiryMs } : {});
        commands.push(cid);
        await this.hes.store.addCampaignCommand(id, m, cid, null);
      } catch (e) {
        if (!(e instanceof HesError)) throw e;
        skipped.push({ meter: m, reason: e.message });
        await this.hes.store.addCampaignCommand(id, m, null, e.message);
      }
    }
    return { id, commands, skipped };
  }

  /** Campaigns, newest first, with the states of their commands counted. */
  async list(limit = 100): Promise<CampaignSummary[]> {
    return (await this.hes.store.listCampaigns(limit)).map((r) => {
      const meters = Object.values(r.states).reduce((a, b) => a + b, 0) + r.skipped;
      return {
        id: r.id,
        kind: r.kind,
        actor: r.actor,
        params: JSON.parse(r.params),
        createdMs: r.createdMs,
        meters,
        states: r.states,
        skipped: r.skipped,
      };
    });
  }
}
