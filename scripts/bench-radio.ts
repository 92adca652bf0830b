/**
 * `npm run bench:radio`: readings over an emulated E32 channel (2.4 kbit/s LoRa, meters at 1 % duty
 * cycle, the concentrator at 10 %), 1 / 50 / 250 meters × 0 / 10 / 30 % packet loss (1e-4 BER with
 * loss). Deterministic: simulated time, seeded channel; the figures are counts, not timings.
 *
 * Per configuration: readings delivered per hour, median and p99 delay (interval close → stored at
 * the HES), airtime per delivered reading (every device's airtime / readings stored), retransmissions
 * per reading (reading frames the meters sent / readings stored − 1) and the ideal: the airtime of
 * one reading's bytes alone (the most common READING link frame and its CRC as one LoRa packet, no
 * acknowledgement).
 * Last line: one JSON object.
 *
 * Usage: npm run bench:radio [-- --meters 1,50 --loss 0,0.1 --hours 4 --seed 1]
 */
import { CRC16_LEN } from '@vakt/shared/crc16';
import { timeOnAirMs } from '../host/src/modem/airtime.ts';
import { ebyteLora } from '../host/src/modem/ebyte.ts';
import { E32_DEFAULT } from '../host/src/modem/emu/index.ts';
import { NetSim } from '../host/src/modem/netsim.ts';

const args = process.argv.slice(2);
const arg = (name: string, d: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1]! : d;
};
const METERS = arg('meters', '1,50,250').split(',').map(Number);
const LOSSES = arg('loss', '0,0.1,0.3').split(',').map(Number);
const SEED = Number(arg('seed', '1'));
/** Simulated hours per configuration (fewer for the big network: its cost grows with meters²). */
const hoursFor = (meters: number): number => Number(arg('hours', String(meters >= 250 ? 3 : meters >= 50 ? 6 : 24)));
/** Readings closed in the first hour are not counted (JOINs and boot events share the channel then). */
const WARMUP_MS = 3600_000;
/** Readings closed in the last half hour are not counted (they may still be on their way). */
const TAIL_MS = 1800_000;
/** BER applied with loss (the lossy channel). */
const BER = 1e-4;

interface Row {
  meters: number;
  loss: number;
  hours: number;
  readingsClosed: number;
  delivered: number;
  deliveredPerHour: number;
  medianDelayS: number;
  p99DelayS: number;
  airtimePerReadingMs: number;
  retransmissionsPerReading: number;
  idealAirtimeMs: number;
  timesIdeal: number;
  worstMeterDutyPct: number;
  concentratorDutyPct: number;
}

async function runOne(meters: number, loss: number): Promise<Row> {
  const hours = hoursFor(meters);
  const sim = new NetSim({ meters, radio: 'e32', channel: { seed: SEED, loss, ber: loss > 0 ? BER : 0 } });
  await sim.start();
  const t0 = sim.sched.now();
  await sim.run(hours * 3600_000);
  // Deliveries of readings closed after the warm-up and before the tail (time to arrive).
  const from = t0 + WARMUP_MS;
  const until = sim.sched.now() - TAIL_MS;
  const delays: number[] = [];
  let closed = 0;
  let delivered = 0;
  for (const m of sim.meters) {
    const stored = new Map((await sim.hes.readings(m.sim.id, 100_000)).map((r) => [r.seq, r.receivedMs]));
    for (const [seq, at] of sim.closedAt.get(m.sim.id)!) {
      if (at < from || at > until) continue;
      closed++;
      const s = stored.get(seq);
      if (s !== undefined) {
        delivered++;
        delays.push((s - at) / 1000);
      }
    }
  }
  delays.sort((a, b) => a - b);
  let totalStored = 0;
  for (const m of sim.meters) totalStored += (await sim.hes.readings(m.sim.id, 100_000)).length;
  let air = sim.concModem.driver.stats.airtimeMs;
  let worst = 0;
  for (const m of sim.meters) {
    air += m.modem.driver.stats.airtimeMs;
    worst = Math.max(worst, sim.channel.maxWindowAirtime(m.modem.module, 3600_000));
  }
  const readingFrames = [...sim.readingFrames.values()].reduce((a, b) => a + b, 0);
  const ideal = timeOnAirMs(ebyteLora(E32_DEFAULT.airRate), sim.readingFrameLen() + CRC16_LEN);
  const perReading = totalStored > 0 ? air / totalStored : 0;
  await sim.close();
  const r2 = (x: number): number => Math.round(x * 100) / 100;
  return {
    meters,
    loss,
    hours,
    readingsClosed: closed,
    delivered,
    deliveredPerHour: r2(delivered / Math.max(1e-9, (until - from) / 3600_000)),
    medianDelayS: r2(delays[delays.length >> 1] ?? NaN),
    p99DelayS: r2(delays[Math.floor(delays.length * 0.99)] ?? NaN),
    airtimePerReadingMs: r2(perReading),
    retransmissionsPerReading: r2(totalStored > 0 ? readingFrames / totalStored - 1 : NaN),
    idealAirtimeMs: r2(ideal),
    timesIdeal: r2(perReading / ideal),
    worstMeterDutyPct: r2(worst / 36_000),
    concentratorDutyPct: r2(sim.channel.maxWindowAirtime(sim.concModem.module, 3600_000) / 36_000),
  };
}

const rows: Row[] = [];
for (const meters of METERS) {
  for (const loss of LOSSES) {
    const r = await runOne(meters, loss);
    rows.push(r);
    console.log(
      `${String(meters).padStart(4)} meters ${String(loss * 100).padStart(3)} % loss: ${r.deliveredPerHour} readings/h (${r.delivered}/${r.readingsClosed}), delay median ${r.medianDelayS} s p99 ${r.p99DelayS} s, ` +
        `${r.airtimePerReadingMs} ms airtime/reading = ${r.timesIdeal}× ideal ${r.idealAirtimeMs} ms, ${r.retransmissionsPerReading} retransmissions/reading, worst meter ${r.worstMeterDutyPct} % duty, concentrator ${r.concentratorDutyPct} %`,
    );
  }
}
console.log(JSON.stringify({ bench: 'radio', radio: 'e32', airRate: E32_DEFAULT.airRate, seed: SEED, ber: BER, rows }));
