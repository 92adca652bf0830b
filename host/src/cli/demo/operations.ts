// `vakt demo`, third part: operations, each a step of the summary checked against the HES database
// or the device: readings flow, a wrong key is reported, an operator without the right is refused,
// a disconnect, a reconnect and a master-key update are carried out.
import type { SimMeter } from '../../bridge/devices.ts';
import type { Hes, MeterStatus } from '../../hes/hes.ts';
import { diagnoseUplink, INTERVAL_S, type MeterLine } from './network.ts';
import { STEP_S } from './simulation.ts';
import type { DemoRun } from './types.ts';

/** Steps allowed for one command to complete (15 s each: 2 simulated hours). */
const COMMAND_STEPS = 480;
/** Steps of slack beyond the intervals asked for (15 s each: 1 simulated hour). */
const SLACK_STEPS = 240;

/** Every meter's status at the HES, by meter id. */
export async function statusById(h: Hes): Promise<Map<string, MeterStatus>> {
  return new Map((await h.meterStatus()).map((s) => [s.id, s]));
}

/** State of command `id` of a meter at the HES ('unknown' when it is not listed). */
async function commandState(h: Hes, meterId: string, id: number): Promise<string> {
  return (await h.listCommands({ meter: meterId })).find((c) => c.id === id)?.state ?? 'unknown';
}

/** Every meter with the right key stores `o.intervals` readings at the HES. */
export async function readingsFlow({ o, hes: h, net, sim, step }: DemoRun): Promise<void> {
  const want = o.intervals;
  const bar = o.progress?.(`readings (${o.meters} meters × ${want} intervals)`, o.meters);
  const readingsOk = await sim.runUntil(
    async () => {
      let n = 0;
      for (const s of await h.meterStatus()) if (s.readings >= want && s.id !== net.wrongId) n++;
      bar?.update(n);
      return n === o.meters;
    },
    Math.ceil(((want + 2) * INTERVAL_S) / STEP_S) + SLACK_STEPS,
  );
  bar?.stop();
  const st1 = await statusById(h);
  st1.delete(net.wrongId);
  const stored = [...st1.values()].reduce((n, s) => n + s.readings, 0);
  step(
    'Readings flow',
    readingsOk,
    `${stored} readings stored in the HES (${[...st1.values()].filter((s) => s.readings > 0).length}/${o.meters} meters); each sealed end to end by the meter, link-checked and forwarded by the concentrator, authenticated and replay-checked by the HES` +
      diagnoseUplink(net),
  );
}

/** The meter with one bit of its master key changed shows WRONG KEY at the HES, and no reading. */
export async function wrongKeyReported({ hes: h, net, sim, step }: DemoRun): Promise<void> {
  const wrongId = net.wrongId;
  const wrongOk = await sim.runUntil(async () => (await statusById(h)).get(wrongId)!.status === 'WRONG KEY', SLACK_STEPS);
  const ws = (await statusById(h)).get(wrongId)!;
  step(
    'Wrong key reported in plain words',
    wrongOk && ws.readings === 0,
    `meter ${wrongId} runs with one bit of its master key changed: HES status "${ws.status}" after ${ws.tagFailures} frames failed authentication, ${ws.readings} readings stored`,
  );
}

/** An operator has no relay right: the HES refuses (and audits) the disconnect. */
export async function operatorRefused({ hes: h, net, step }: DemoRun, target: SimMeter): Promise<void> {
  await h.setUser('admin', 'olga', 'operator');
  let refusedRole = false;
  try {
    await h.enqueueCommand('olga', target.id, { kind: 'relay', state: 0 }, { nowMs: net.clock.nowMs });
  } catch (e) {
    refusedRole = /right|permission|not allowed/i.test((e as Error).message) || (e as Error).name === 'PermissionError';
  }
  step(
    'Operator without relay right refused',
    refusedRole,
    `user 'olga' (operator) tried to disconnect meter ${target.id}: refused and audited`,
  );
}

/** Disconnect, then reconnect: the relay opens and closes; the disconnect is recorded on the meter's line for the attacks. */
export async function disconnectReconnect({ hes: h, net, sim, step }: DemoRun, target: SimMeter, tLine: MeterLine): Promise<void> {
  const acknowledged = async (id: number): Promise<boolean> =>
    (await h.listCommands({ meter: target.id })).some((c) => c.id === id && c.state === 'acknowledged');
  tLine.line.capture = true;
  const off = await h.enqueueCommand('admin', target.id, { kind: 'relay', state: 0 }, { nowMs: net.clock.nowMs });
  const offOk = await sim.runUntil(async () => (await acknowledged(off)) && !target.app.relayClosed(), COMMAND_STEPS);
  tLine.line.capture = false;
  step(
    'Disconnect (relay open)',
    offOk,
    `command #${off} ${await commandState(h, target.id, off)}; meter ${target.id} relay is ${target.app.relayClosed() ? 'CLOSED' : 'open'}`,
  );
  const on = await h.enqueueCommand('admin', target.id, { kind: 'relay', state: 1 }, { nowMs: net.clock.nowMs });
  const onOk = await sim.runUntil(async () => (await acknowledged(on)) && target.app.relayClosed(), COMMAND_STEPS);
  step(
    'Reconnect (relay closed)',
    onOk,
    `command #${on} ${await commandState(h, target.id, on)}; relay is ${target.app.relayClosed() ? 'closed' : 'OPEN'}`,
  );
}

/** A master-key update: the meter confirms, its key generation moves on and its readings continue under the new key. */
export async function keyUpdate({ hes: h, net, sim, step }: DemoRun): Promise<void> {
  const kuMeter = net.meters[Math.min(1, net.meters.length - 1)]!;
  const gen0 = (await statusById(h)).get(kuMeter.id)!.keyGen;
  const before = (await statusById(h)).get(kuMeter.id)!.readings;
  const ku = await h.enqueueCommand('admin', kuMeter.id, { kind: 'key_update', scope: 0 }, { nowMs: net.clock.nowMs });
  const kuOk = await sim.runUntil(
    async () => {
      const s = (await statusById(h)).get(kuMeter.id)!;
      return (await commandState(h, kuMeter.id, ku)) === 'acknowledged' && s.keyGen > gen0 && s.pendingGen === null && s.readings > before;
    },
    COMMAND_STEPS + Math.ceil((2 * INTERVAL_S) / STEP_S),
  );
  const s2 = (await statusById(h)).get(kuMeter.id)!;
  step(
    'Key update (master key)',
    kuOk,
    `command #${ku} ${await commandState(h, kuMeter.id, ku)}; meter ${kuMeter.id} key generation ${gen0} → ${s2.keyGen}, status ${s2.status}; readings continue under the new key (${before} → ${s2.readings})`,
  );
}
