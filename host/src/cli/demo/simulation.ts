// `vakt demo`: the simulation loop. Simulated time moves in steps of STEP_S; after each step the
// loop waits until the network is quiet, so simulated time never outruns the bytes.
import type { SimMeter } from '../../bridge/devices.ts';
import type { DemoNetwork } from './network.ts';
import type { DemoResources } from './types.ts';

/** Simulated seconds per step of the demo loop. */
export const STEP_S = 15;
/** Longest wait for the transports to drain within one settle poll. */
const DRAIN_WAIT_MS = 250;
/** Bound of the wait for a quiet network after each step (polls of a few ms). */
const SETTLE_MAX_POLLS = 200;
/** Real milliseconds the network must stay unchanged to count as quiet: PTYs take longer than in-process lines. */
const QUIET_MS_PTY = 3;
const QUIET_MS_IN_PROCESS = 1;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The demo network's clock and the loop that drives its devices. */
export class Simulation {
  /** Steps run so far. */
  steps = 0;
  private readonly quietMs: number;

  constructor(
    private readonly net: DemoNetwork,
    private readonly res: DemoResources,
    ptyMeters: number,
  ) {
    this.quietMs = ptyMeters > 0 ? QUIET_MS_PTY : QUIET_MS_IN_PROCESS;
  }

  /** Simulated hours run so far, to one decimal. */
  get simulatedHours(): number {
    return Math.round(((this.steps * STEP_S) / 3600) * 10) / 10;
  }

  /** A number that changes whenever anything moves: HES ingest, frames forwarded or queued by a concentrator. */
  private activity(): number {
    let n = 0;
    for (const v of this.net.server.counts.values()) n += v;
    for (const c of this.net.concs)
      n += c.app.stats.forwardedUp + c.app.stats.forwardedDown + c.app.upQueue.size() + c.app.downQueue.size();
    return n;
  }

  /**
   * Waits until the network is quiet (no new HES ingest, no frame moved by a concentrator, every
   * transport drained), so a response is never counted late against the HES's retry timers just
   * because the host was busy.
   */
  private async settle(): Promise<void> {
    let last = -1;
    for (let i = 0; i < SETTLE_MAX_POLLS; i++) {
      // Bounded: a transport that cannot drain (HES unreachable) must not hang the demo; its step fails instead.
      await Promise.race([
        Promise.all([...this.res.links.map((l) => l.drained()), ...this.res.modems.map((m) => m.drained())]),
        sleep(DRAIN_WAIT_MS),
      ]);
      const a = this.activity();
      if (a === last) return;
      last = a;
      await sleep(this.quietMs);
    }
  }

  /** Each meter counts its load's pulses, then ticks (as the sim board's load timer runs first). */
  private runMeter(m: SimMeter, t: number): void {
    const n = this.net.loadOf.get(m)!.advance(t);
    if (n > 0) m.app.onPulse(n);
    m.app.tick(t);
  }

  /** One step: the clock advances, every device ticks, the HES pumps, then the network settles. */
  readonly tick = async (): Promise<void> => {
    this.net.clock.advance(STEP_S * 1000);
    const t = this.net.clock.now();
    for (const m of this.net.meters) this.runMeter(m, t);
    if (this.net.wrongMeter !== undefined) this.runMeter(this.net.wrongMeter, t);
    for (const c of this.net.concs) c.app.tick(t);
    await this.net.server.pump();
    this.steps++;
    await this.settle();
  };

  /** Steps until `cond` holds, at most `maxSteps` of them; the last word is `cond`'s. */
  async runUntil(cond: () => boolean | Promise<boolean>, maxSteps: number): Promise<boolean> {
    for (let i = 0; i < maxSteps; i++) {
      if (await cond()) return true;
      await this.tick();
    }
    return cond();
  }
}
