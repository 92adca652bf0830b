// `vakt demo`, fourth part: attacks, each of which must be refused. On the HES port, a replayed and
// a forged uplink frame; on a meter's radio line, a replayed and a forged disconnect command.
import { connect, type Socket } from 'node:net';
import { BACKHAUL_VERSION, OP_RELAY } from '@vakt/shared';
import type { SimMeter } from '../../bridge/devices.ts';
import type { IngestResult } from '../../hes/hes.ts';
import type { MeterStats } from '@vakt/firmware/meter/index';
import { deframeAll, freshCounter, innerOf, wire } from './capture.ts';
import type { DemoNetwork, MeterLine } from './network.ts';
import { sleep } from './simulation.ts';
import type { DemoRun } from './types.ts';

/** Polls (of ATTACK_POLL_MS) for the HES's answer to one injected frame. */
const ATTACK_ANSWER_POLLS = 200;
const ATTACK_POLL_MS = 5;
/** Simulation steps for the meter to count a refusal of an injected frame. */
const METER_REFUSAL_STEPS = 40;
/** Offset in the inner end-to-end frame of the reading's ciphertext byte the forger changes, and its bit. */
const FORGED_READING_BYTE = 2;
const FORGED_READING_BIT = 0x01;
/** Offset in the inner end-to-end frame of the relay command's ciphertext byte the forger changes, and its bit. */
const FORGED_COMMAND_BYTE = 1;
const FORGED_COMMAND_BIT = 0x80;

/** The meter's refusal counters that moved between `a` and `b`, in words. */
function describeDelta(a: MeterStats, b: MeterStats): string {
  const parts: string[] = [];
  for (const k of ['replay', 'linkErrors', 'badTag', 'policy']) {
    const d = b[k as keyof MeterStats] - a[k as keyof MeterStats];
    if (d > 0) parts.push(`${k} +${d}`);
  }
  return parts.length > 0 ? parts.join(', ') : 'no refusal counted';
}

/** The HES's verdict on an injected frame, in words. */
function verdict(r: IngestResult | undefined): string {
  return r === undefined ? 'no answer from the HES' : r.ok ? 'ACCEPTED (should have been refused)' : `HES: ${r.error} — ${r.message}`;
}

/** Writes `bytes` on the attacker's connection; the HES's answer to it, if one comes in time. */
async function expectAttack(attacker: Socket, net: DemoNetwork, bytes: Uint8Array): Promise<IngestResult | undefined> {
  const results = net.attackResults;
  const n = results.length;
  attacker.write(bytes);
  for (let i = 0; i < ATTACK_ANSWER_POLLS && results.length === n; i++) await sleep(ATTACK_POLL_MS);
  return results[n];
}

/** 1. Replay of a captured uplink frame, from a new connection on the HES port; 2. a forgery of it. */
export async function uplinkAttacks({ net, step }: DemoRun): Promise<void> {
  const attacker = connect({ host: '127.0.0.1', port: net.port });
  attacker.on('error', () => undefined);
  await new Promise<void>((r) => attacker.once('connect', () => r()));
  const capturedUp = net.upRecorder?.first;
  if (capturedUp !== undefined) {
    const rep = await expectAttack(attacker, net, wire(capturedUp));
    step('Replayed uplink frame refused', rep !== undefined && !rep.ok && rep.error === 'ERR_REPLAY', verdict(rep));
    // 2. Forgery: a fresh counter (so it is no replay) and one changed ciphertext byte of the inner
    //    reading, CRC recomputed (so it is not line noise): only the tag can tell.
    const forged = capturedUp.slice();
    freshCounter(forged);
    forged[innerOf(forged)!.at + FORGED_READING_BYTE] ^= FORGED_READING_BIT;
    const fr = await expectAttack(attacker, net, wire(forged));
    step('Forged uplink frame refused', fr !== undefined && !fr.ok && fr.error === 'ERR_TAG', verdict(fr));
  } else {
    step('Replayed uplink frame refused', false, 'no uplink frame was captured');
  }
  attacker.destroy();
}

/** 3. Replay of the captured disconnect command on the meter's radio line (power must stay on); 4. a forgery of it. */
export async function downlinkAttacks({ sim, step }: DemoRun, target: SimMeter, tLine: MeterLine): Promise<void> {
  const downFrames = deframeAll(tLine.line.captured).filter((f) => f[0] !== BACKHAUL_VERSION && innerOf(f)?.op === OP_RELAY);
  if (downFrames.length === 0) {
    step('Replayed disconnect command refused by the meter', false, 'the disconnect command was not captured on the radio line');
    return;
  }
  const stats = (): MeterStats => target.app.stats;
  const mBefore = { ...stats() };
  const refusedCount = (): number => stats().replay + stats().linkErrors + stats().badTag + stats().policy;
  const r0 = refusedCount();
  tLine.line.write(wire(downFrames[0]!));
  await sim.runUntil(() => refusedCount() > r0, METER_REFUSAL_STEPS);
  step(
    'Replayed disconnect command refused by the meter',
    refusedCount() > r0 && target.app.relayClosed(),
    `captured on the radio line and sent again: meter refused it (${describeDelta(mBefore, stats())}); relay stays ${target.app.relayClosed() ? 'closed — power on' : 'OPEN'}`,
  );
  const forged = downFrames[0]!.slice();
  // Not a replay (the radio hop's short counter reconstructs above the last one): only the tag can tell.
  forged[innerOf(forged)!.at + FORGED_COMMAND_BYTE] ^= FORGED_COMMAND_BIT;
  const m2 = { ...stats() };
  const tagFailures = (): number => stats().badTag + stats().linkErrors;
  const r1 = tagFailures();
  tLine.line.write(wire(forged));
  await sim.runUntil(() => tagFailures() > r1, METER_REFUSAL_STEPS);
  step(
    'Forged command refused by the meter',
    tagFailures() > r1 && target.app.relayClosed(),
    `fresh counter, one bit changed, CRC fixed: meter refused it (${describeDelta(m2, stats())}); relay stays ${target.app.relayClosed() ? 'closed' : 'OPEN'}`,
  );
}
