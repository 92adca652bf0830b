/**
 * `vakt demo --radio <kind> [--loss P] [--ber B]`: the demo's network over emulated radio modems
 * (netsim.ts) in simulated time — real firmware, real drivers against emulated modules, the HES
 * library — and a per-meter report: frames sent, re-pushed readings, bytes and airtime on the air
 * against the duty-cycle budget, readings delivered. Each step's "ok" is checked, as in the demo.
 */
import { DUTY_WINDOW_MS } from './airtime.ts';
import type { RadioKind } from './emu/index.ts';
import { NetSim } from './netsim.ts';

export interface RadioDemoOptions {
  radio: RadioKind;
  meters: number;
  intervals: number;
  loss: number;
  ber: number;
  seed: number;
  log: (line: string) => void;
}

/** One meter's line of the report. */
export interface RadioMeterReport {
  meter: string;
  framesSent: number;
  /** READING frames sent more than once (re-pushes after a lost answer). */
  retries: number;
  onAirBytes: number;
  airtimeS: number;
  /** Most airtime in any hour, against the band's limit. */
  worstHourS: number;
  budgetS: number;
  readingsDelivered: number;
  readingsClosed: number;
}

export interface RadioDemoSummary {
  ok: boolean;
  radio: RadioKind;
  loss: number;
  ber: number;
  seed: number;
  simulatedHours: number;
  steps: { step: string; ok: boolean; detail: string }[];
  meters: RadioMeterReport[];
  channel: { [k: string]: number };
}

/** Intervals of 15 min; the run adds an hour for the last readings and the commands. */
const INTERVAL_MS = 900_000;
const SETTLE_MS = 3600_000;

export async function runRadioDemo(o: RadioDemoOptions): Promise<RadioDemoSummary> {
  const sim = new NetSim({ meters: o.meters, radio: o.radio, channel: { seed: o.seed, loss: o.loss, ber: o.ber } });
  const steps: RadioDemoSummary['steps'] = [];
  const step = (s: string, ok: boolean, detail: string): void => {
    steps.push({ step: s, ok, detail });
    o.log(`${ok ? '✓' : '✗'} ${s}`);
  };
  await sim.start();
  try {
    step(
      'Modems configured and read back',
      true,
      `${o.meters + 1} emulated ${o.radio} modems: configuration written, read back, payload limit ${sim.concModem.driver.maxPayload === Infinity ? 'none (stream)' : `${sim.concModem.driver.maxPayload} B`}`,
    );
    const h = sim.hes;
    await sim.run(o.intervals * INTERVAL_MS);
    const target = sim.meters[0]!;
    const off = await h.enqueueCommand('admin', target.sim.id, { kind: 'relay', state: 0 }, { nowMs: sim.nowMs() });
    const offOk = await sim.runUntil(
      async () =>
        (await h.listCommands({ meter: target.sim.id })).some((c) => c.id === off && c.state === 'acknowledged') &&
        !target.sim.app.relayClosed(),
      2 * SETTLE_MS,
    );
    step(
      'Disconnect over the radio',
      offOk,
      `relay command #${off}: meter ${target.sim.id} relay ${target.sim.app.relayClosed() ? 'CLOSED' : 'open'}`,
    );
    const closed = (id: string): number => sim.closedAt.get(id)!.size;
    const deliveredNow = async (): Promise<Map<string, number>> => {
      const d = new Map<string, number>();
      for (const m of sim.meters) d.set(m.sim.id, (await h.readings(m.sim.id, 100_000)).length);
      return d;
    };
    const allIn = await sim.runUntil(async () => {
      const d = await deliveredNow();
      return sim.meters.every((m) => d.get(m.sim.id)! >= closed(m.sim.id) - 1);
    }, SETTLE_MS);
    const counts = await deliveredNow();
    const delivered = (id: string): number => counts.get(id)!;
    const totalClosed = sim.meters.reduce((n, m) => n + closed(m.sim.id), 0);
    const totalIn = sim.meters.reduce((n, m) => n + delivered(m.sim.id), 0);
    step(
      'Readings delivered',
      allIn,
      `${totalIn} of ${totalClosed} readings closed by the meters stored at the HES (the newest may still be on their way)`,
    );
    const meters: RadioMeterReport[] = sim.meters.map((m) => {
      const d = m.modem.driver.stats;
      const sent = sim.readingFrames.get(m.sim.id)!;
      return {
        meter: m.sim.id,
        framesSent: m.port.stats.framesOut,
        retries: Math.max(0, sent - closed(m.sim.id)),
        onAirBytes: d.bytesSent,
        airtimeS: Math.round(d.airtimeMs) / 1000,
        worstHourS: Math.round(sim.channel.maxWindowAirtime(m.modem.module, DUTY_WINDOW_MS)) / 1000,
        budgetS: m.modem.driver.budget.limitMs / 1000,
        readingsDelivered: delivered(m.sim.id),
        readingsClosed: closed(m.sim.id),
      };
    });
    const within = meters.every((r) => r.worstHourS <= r.budgetS);
    step(
      'Duty cycle kept',
      within,
      `worst meter ${Math.max(...meters.map((r) => r.worstHourS))} s of ${meters[0]?.budgetS ?? 0} s in any hour (measured on the emulated channel)`,
    );
    return {
      ok: steps.every((s) => s.ok),
      radio: o.radio,
      loss: o.loss,
      ber: o.ber,
      seed: o.seed,
      simulatedHours: Math.round((sim.sched.now() - sim.startMs) / 36_000) / 100,
      steps,
      meters,
      channel: { ...sim.channel.stats },
    };
  } finally {
    await sim.close();
  }
}
