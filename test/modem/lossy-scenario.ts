// The lossy-radio scenario shared by lossy.test.ts (npm test scale) and lossy.soak.test.ts (50 meters,
// a day): real meter/concentrator firmware and the HES library over emulated E32 modems.
import { expect } from 'vitest';
import { DUTY_WINDOW_MS, findBand } from '../../host/src/modem/airtime.ts';
import { NetSim } from '../../host/src/modem/netsim.ts';

export interface Scenario {
  meters: number;
  hours: number;
  loss: number;
  ber: number;
  seed: number;
  /** Also run a key update and a firmware download (default true). */
  operations?: boolean;
  /** Size of the firmware image (default 2048: four 512-byte chunks). */
  imageBytes?: number;
}

export interface ScenarioResult {
  readings: number;
  medianDelayS: number;
  p99DelayS: number;
  worstMeterAirtimeS: number;
  concentratorAirtimeS: number;
  commands: { [state: string]: number };
}

/** Longest extra simulated time for the last readings and commands to land. */
const DRAIN_MS = 8 * 3600_000;
/** A command enqueued every few hours per meter in the sample. */
const RELAY_EVERY_MS = 3 * 3600_000;

export async function runScenario(s: Scenario): Promise<ScenarioResult> {
  const sim = new NetSim({ meters: s.meters, radio: 'e32', channel: { seed: s.seed, loss: s.loss, ber: s.ber } });
  await sim.start();
  try {
    const h = sim.hes;
    const ids = sim.meters.map((m) => m.sim.id);
    const cmds: { meter: string; id: number }[] = [];
    const ops = s.operations !== false;
    // Operations: relay commands on a sample of meters, a key update, a firmware download.
    const sample = ids.slice(0, Math.min(5, ids.length));
    let enqueueing = true;
    sim.sched.every(RELAY_EVERY_MS, () => {
      if (!enqueueing) return;
      for (const [i, id] of sample.entries()) cmds.push({ meter: id, id: h.enqueueCommand('admin', id, { kind: 'relay', state: (i + cmds.length) % 2 as 0 | 1 }, { nowMs: sim.nowMs(), expiryMs: 2 * 3600_000 }) });
    });
    const kuMeter = sim.meters[0]!;
    const fwMeter = sim.meters[Math.min(1, sim.meters.length - 1)]!;
    const gen0 = h.meterStatus().find((x) => x.id === kuMeter.sim.id)!.keyGen;
    let ku = -1;
    let fw = -1;
    const image = Uint8Array.from({ length: s.imageBytes ?? 2048 }, (_, i) => (i * 7) & 0xff);
    if (ops) {
      sim.run(3600_000);
      ku = h.enqueueCommand('admin', kuMeter.sim.id, { kind: 'key_update', scope: 0 }, { nowMs: sim.nowMs() });
      const sha = h.addFirmware('admin', image, 42);
      fw = h.enqueueCommand('admin', fwMeter.sim.id, { kind: 'firmware', sha256: sha, size: image.length, version: 42 }, { nowMs: sim.nowMs() });
    }
    const dayEnd = sim.sched.now() + s.hours * 3600_000 - (ops ? 3600_000 : 0);
    sim.sched.runUntil(dayEnd);
    enqueueing = false;
    // Every reading a meter closed during the run must reach the HES; give the last ones time.
    const closedBy = new Map(sim.meters.map((m) => [m.sim.id, [...sim.closedAt.get(m.sim.id)!.keys()]]));
    const stored = (id: string): Set<number> => new Set(h.readings(id, 100_000).map((r) => r.seq));
    const state = (id: string, cid: number): string => h.listCommands({ meter: id }).find((c) => c.id === cid)?.state ?? 'missing';
    const done = (): boolean => sim.meters.every((m) => { const st = stored(m.sim.id); return closedBy.get(m.sim.id)!.every((q) => st.has(q)); })
      && (!ops || (state(kuMeter.sim.id, ku) === 'acknowledged' && state(fwMeter.sim.id, fw) === 'acknowledged'))
      && cmds.every((c) => ['acknowledged', 'expired', 'failed'].includes(state(c.meter, c.id)));
    sim.runUntil(done, DRAIN_MS, 60_000);

    // Exactly once, with the meter's own values.
    let readings = 0;
    const delays: number[] = [];
    for (const m of sim.meters) {
      const rows = h.readings(m.sim.id, 100_000);
      const seqs = rows.map((r) => r.seq);
      expect(new Set(seqs).size, `meter ${m.sim.id}: a reading stored twice`).toBe(seqs.length);
      const st = new Set(seqs);
      const missing = closedBy.get(m.sim.id)!.filter((q) => !st.has(q));
      expect(missing, `meter ${m.sim.id}: readings never reached the HES`).toEqual([]);
      const iv = { seq: 0, t: 0, wh: 0, w: 0 };
      for (const r of rows) {
        if (m.sim.app.profile.get(r.seq, iv)) expect([r.t, r.wh], `meter ${m.sim.id} seq ${r.seq}`).toEqual([iv.t, iv.wh]);
        const closed = sim.closedAt.get(m.sim.id)!.get(r.seq);
        if (closed !== undefined) delays.push((r.receivedMs - closed) / 1000);
      }
      readings += closedBy.get(m.sim.id)!.length;
    }
    // Duty cycle, measured on the channel's own log (not the drivers' accounting).
    const meterLimit = findBand('eu868-g').dutyCycle * DUTY_WINDOW_MS;
    let worst = 0;
    for (const m of sim.meters) worst = Math.max(worst, sim.channel.maxWindowAirtime(m.modem.module, DUTY_WINDOW_MS));
    expect(worst).toBeLessThanOrEqual(meterLimit);
    const concAir = sim.channel.maxWindowAirtime(sim.concModem.module, DUTY_WINDOW_MS);
    expect(concAir).toBeLessThanOrEqual(findBand('eu868-g3').dutyCycle * DUTY_WINDOW_MS);
    // Commands: acknowledged, or reported expired/failed — never still open past their expiry.
    const commands: { [state: string]: number } = {};
    for (const c of cmds) {
      const row = h.listCommands({ meter: c.meter }).find((x) => x.id === c.id)!;
      commands[row.state] = (commands[row.state] ?? 0) + 1;
      expect(['acknowledged', 'expired', 'failed'], `command ${c.id} ${row.kind}`).toContain(row.state);
    }
    if (ops) {
      const why = (id: string, cid: number): string => JSON.stringify(h.listCommands({ meter: id }).find((c) => c.id === cid));
      expect(state(kuMeter.sim.id, ku), why(kuMeter.sim.id, ku)).toBe('acknowledged');
      expect(h.meterStatus().find((x) => x.id === kuMeter.sim.id)!.keyGen).toBeGreaterThan(gen0);
      expect(state(fwMeter.sim.id, fw), `${why(fwMeter.sim.id, fw)} ${JSON.stringify(sim.concPort.stats)} ${JSON.stringify(sim.concModem.driver.stats)} ${JSON.stringify(fwMeter.port.stats)} replaced ${fwMeter.port.reassembler!.replaced} expired ${fwMeter.port.reassembler!.expired}`).toBe('acknowledged');
      expect(fwMeter.sim.app.config.fwVersion).toBe(42);
    }
    delays.sort((a, b) => a - b);
    return {
      readings,
      medianDelayS: delays[delays.length >> 1] ?? 0,
      p99DelayS: delays[Math.floor(delays.length * 0.99)] ?? 0,
      worstMeterAirtimeS: worst / 1000,
      concentratorAirtimeS: concAir / 1000,
      commands,
    };
  } finally {
    sim.close();
  }
}
