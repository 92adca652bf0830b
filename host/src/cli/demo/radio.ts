// `vakt demo --radio <kind>`: the network over emulated radio modems in simulated time, with a
// per-meter report (frames, retries, on-air bytes, airtime against the duty-cycle budget).
import { intOpt, stringOpt, type Parsed } from '../args.ts';
import { usageError, type CliIo } from '../io.ts';
import { printJson, printTable } from '../output.ts';
import { RADIO_KINDS, type RadioKind } from '../../modem/emu/index.ts';
import { runRadioDemo } from '../../modem/radio-demo.ts';
import { verdictLine } from './summary.ts';

/** Most meters one radio demo runs (one concentrator's radio cell). */
const MAX_RADIO_METERS = 250;
/** Most 15-minute intervals a demo runs (one day). */
export const MAX_INTERVALS = 96;
/** Highest --loss and --ber. */
const MAX_LOSS = 0.9;
const MAX_BER = 0.01;
/** Highest --seed. */
const MAX_SEED = 2 ** 31;

/** A decimal option within [min, max]; a usage error otherwise. */
function numOpt(p: Parsed, name: string, min: number, max: number): number {
  const s = stringOpt(p, name) ?? '0';
  const n = Number(s);
  if (s.trim() === '' || !Number.isFinite(n) || n < min || n > max)
    throw usageError(`--${name} must be a number from ${min} to ${max}, got '${s}'`);
  return n;
}

/** `vakt demo --radio <kind>`: the network over emulated modems, with a per-meter report. */
export async function runRadio(p: Parsed, radio: string, io: CliIo): Promise<number> {
  if (!(RADIO_KINDS as readonly string[]).includes(radio))
    throw usageError(`--radio must be one of ${RADIO_KINDS.join(', ')}, got '${radio}'`);
  const s = await runRadioDemo({
    radio: radio as RadioKind,
    meters: intOpt(p, 'meters', 1, MAX_RADIO_METERS, 5),
    intervals: intOpt(p, 'intervals', 1, MAX_INTERVALS, 4),
    loss: numOpt(p, 'loss', 0, MAX_LOSS),
    ber: numOpt(p, 'ber', 0, MAX_BER),
    seed: intOpt(p, 'seed', 0, MAX_SEED, 1),
    log: (l) => {
      if (!p.json) io.out(l);
    },
  });
  if (p.json) {
    printJson(io, s);
    return s.ok ? 0 : 1;
  }
  io.out('');
  printTable(
    io,
    ['meter', 'frames sent', 'retries', 'on-air bytes', 'airtime s', 'worst hour s / budget', 'readings delivered'],
    s.meters.map((m) => [
      m.meter,
      m.framesSent,
      m.retries,
      m.onAirBytes,
      m.airtimeS,
      `${m.worstHourS} / ${m.budgetS}`,
      `${m.readingsDelivered} / ${m.readingsClosed}`,
    ]),
  );
  io.out(
    `channel: ${Object.entries(s.channel)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}; ${s.simulatedHours} simulated hours, seed ${s.seed}`,
  );
  for (const x of s.steps) if (!x.ok) io.out(`FAILED: ${x.step}: ${x.detail}`);
  io.out(verdictLine(s.ok));
  return s.ok ? 0 : 1;
}
