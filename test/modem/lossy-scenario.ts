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
    sim.sched.every(RELAY_EVERY_MS, async () => {
      if (!enqueueing) return;
      for (const [i, id] of sample.entries())
        cmds.push({
          meter: id,
          id: await h.enqueueCommand(
            'admin',
            id,
            { kind: 'relay', state: ((i + cmds.length) % 2) as 0 | 1 },
            { nowMs: sim.nowMs(), expiryMs: 2 * 3600_000 },
          ),
        });
    });
    const kuMeter = sim.meters[0]!;
    const fwMeter = sim.meters[Math.min(1, sim.meters.length - 1)]!;
    const gen0 = (await h.meterStatus()).find((x) => x.id === kuMeter.sim.id)!.keyGen;
    let ku = -1;
    let fw = -1;
    const image = Uint8Array.from({ length: s.imageBytes ?? 2048 }, (_, i) => (i * 7) & 0xff);
    if (ops) {
      await sim.run(3600_000);
      ku = await h.enqueueCommand('admin', kuMeter.sim.id, { kind: 'key_update', scope: 0 }, { nowMs: sim.nowMs() });
      const sha = await h.addFirmware('admin', image, 42);
      fw = await h.enqueueCommand(
        'admin',
        fwMeter.sim.id,
        { kind: 'firmware', sha256: sha, size: image.length, version: 42 },
        { nowMs: sim.nowMs() },
      );
    }
    const dayEnd = sim.sched.now() + s.hours * 3600_000 - (ops ? 3600_000 : 0);
    await sim.sched.runUntilAsync(dayEnd);
    enqueueing = false;
    // Every reading a meter closed during the run must reach the HES; give the last ones time.
    const closedBy = new Map(sim.meters.map((m) => [m.sim.id, [...sim.closedAt.get(m.sim.id)!.keys()]]));
    const stored = async (id: string): Promise<Set<number>> => new Set((await h.readings(id, 100_000)).map((r) => r.seq));
    const state = async (id: string, cid: number): Promise<string> =>
      (await h.listCommands({ meter: id })).find((c) => c.id === cid)?.state ?? 'missing';
    const done = async (): Promise<boolean> => {
      for (const m of sim.meters) {
        const st = await stored(m.sim.id);
        if (!closedBy.get(m.sim.id)!.every((q) => st.has(q))) return false;
      }
      if (ops && ((await state(kuMeter.sim.id, ku)) !== 'acknowledged' || (await state(fwMeter.sim.id, fw)) !== 'acknowledged'))
        return false;
      for (const c of cmds) if (!['acknowledged', 'expired', 'failed'].includes(await state(c.meter, c.id))) return false;
      return true;
    };
    await sim.runUntil(done, DRAIN_MS, 60_000);

    // Exactly once, with the meter's own values.
    let readings = 0;
    const delays: number[] = [];
    for (const m of sim.meters) {
      const rows = await h.readings(m.sim.id, 100_000);
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
    // No attacker on this channel: a bad tag or a replay (EVENT 16, 17) is a false alarm, e.g. a
    // stale retransmission the concentrator should have dropped (it does: sameE2eKey). Not checked:
    // EVENT 18 for a frame under the generation a key update just retired, resent by the concentrator
    // after the meter switched (it cannot know the meter switched; see docs/notes of issue 13).
    const alarms = sim.meters.map((m) => m.sim.app.stats.badTag + m.sim.app.stats.replay);
    expect(alarms, 'security events per meter').toEqual(alarms.map(() => 0));
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
      const row = (await h.listCommands({ meter: c.meter })).find((x) => x.id === c.id)!;
      commands[row.state] = (commands[row.state] ?? 0) + 1;
      expect(['acknowledged', 'expired', 'failed'], `command ${c.id} ${row.kind}`).toContain(row.state);
    }
    if (ops) {
      const why = async (id: string, cid: number): Promise<string> =>
        JSON.stringify((await h.listCommands({ meter: id })).find((c) => c.id === cid));
      expect(await state(kuMeter.sim.id, ku), await why(kuMeter.sim.id, ku)).toBe('acknowledged');
      expect((await h.meterStatus()).find((x) => x.id === kuMeter.sim.id)!.keyGen).toBeGreaterThan(gen0);
      expect(
        await state(fwMeter.sim.id, fw),
        `${await why(fwMeter.sim.id, fw)} ${JSON.stringify(sim.concPort.stats)} ${JSON.stringify(sim.concModem.driver.stats)} ${JSON.stringify(fwMeter.port.stats)} replaced ${fwMeter.port.reassembler!.replaced} expired ${fwMeter.port.reassembler!.expired}`,
      ).toBe('acknowledged');
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
    await sim.close();
  }
}
