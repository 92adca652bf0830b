/**
 * `vakt demo`: the whole system in one process, on the real code paths.
 * KPE produces keys and a signed, encrypted shipment; the HES library imports it and serves
 * concentrators over TCP on 127.0.0.1; concentrators and meters run the real firmware apps on sim
 * boards, a sample of meters over real serial PTY pairs (socat + serialport), the rest over
 * in-process serial pairs. Readings flow; a disconnect, a reconnect and a key update are carried
 * out; a replayed and a forged frame are injected and must be refused; a summary shows it all.
 * Every "ok" in the summary is a condition checked against the HES database or device state.
 *
 * This file holds the command (options, entry point) and runDemo, the story in order; each part
 * is in demo/: production, network (deployment), simulation (the loop), operations, attacks
 * (with capture.ts, the attacker's tools), summary; `--radio` is demo/radio.ts.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createManualClock } from '@vakt/boards/sim/index';
import { findSocat } from '../bridge/pty.ts';
import { helpText, intOpt, MAX_PORT, parseCommand, stringOpt, type CommandSpec } from './args.ts';
import { CliError, type CliIo } from './io.ts';
import { printJson, progress } from './output.ts';
import { serveLive } from './live.ts';
import { produce } from './demo/production.ts';
import { deployNetwork } from './demo/network.ts';
import { Simulation } from './demo/simulation.ts';
import { disconnectReconnect, keyUpdate, operatorRefused, readingsFlow, wrongKeyReported } from './demo/operations.ts';
import { downlinkAttacks, uplinkAttacks } from './demo/attacks.ts';
import { printSummary, summarize } from './demo/summary.ts';
import { MAX_INTERVALS, runRadio } from './demo/radio.ts';
import type { DemoOptions, DemoResources, DemoRun, DemoStep, DemoSummary, StepFn } from './demo/types.ts';

export type { DemoOptions, DemoStep, DemoSummary } from './demo/types.ts';

/** Most meters one demo runs. */
const MAX_METERS = 5000;
/** Most meters on PTY pairs. */
const MAX_PTY_METERS = 64;

const SPEC: CommandSpec = {
  name: 'vakt demo',
  summary: 'end-to-end demo: KPE → HES → concentrator → meters over real serial PTYs',
  usage:
    '[--meters <n>] [--pty <n>] [--intervals <n>] [--no-socat] [--dir <dir>] [--console [--http-port <p>]] [--radio transparent|hc12|e32|e22|xbee|packet [--loss <p>] [--ber <b>] [--seed <n>]] [--json]',
  options: {
    meters: { type: 'string', placeholder: '<n>', description: `simulated meters, 1..${MAX_METERS}`, default: '5' },
    pty: {
      type: 'string',
      placeholder: '<n>',
      description: 'meters connected over real socat PTY pairs (the rest in-process)',
      default: '4',
    },
    intervals: {
      type: 'string',
      placeholder: '<n>',
      description: '15-minute load-profile intervals to run before the operations',
      default: '3',
    },
    'no-socat': { type: 'boolean', description: 'use in-process serial links only, even if socat is installed' },
    dir: {
      type: 'string',
      placeholder: '<dir>',
      description: 'keep the KPE output, HES database and audit log here (default: a temporary directory, removed afterwards)',
    },
    console: {
      type: 'boolean',
      description: 'afterwards keep the network running and serve the web console (URL and a one-time admin token printed) until Ctrl-C',
    },
    'http-port': {
      type: 'string',
      placeholder: '<p>',
      description: 'with --console: HTTP port on 127.0.0.1 (0 = any free port)',
      default: '0',
    },
    radio: {
      type: 'string',
      placeholder: '<kind>',
      description: 'run over emulated radio modems in simulated time (host/src/modem): transparent, hc12, e32, e22, xbee, packet',
    },
    loss: { type: 'string', placeholder: '<p>', description: 'with --radio: packet loss probability 0..0.9', default: '0' },
    ber: { type: 'string', placeholder: '<b>', description: 'with --radio: bit error rate 0..0.01', default: '0' },
    seed: {
      type: 'string',
      placeholder: '<n>',
      description: 'with --radio: channel seed (the same seed replays the same run)',
      default: '1',
    },
  },
  notes: [
    'Time is simulated (15-minute intervals pass in a fraction of a second); bytes travel for real: over PTYs, TCP on 127.0.0.1, through the firmware and the HES database.',
    'Exit status 0 only when every step of the summary succeeded.',
    'With --radio, meters and concentrator talk through emulated modems (config read back, packet limit, fragments, duty cycle, airtime, loss) and the summary is per meter.',
  ],
  examples: [
    'vakt demo',
    'vakt demo --meters 1000',
    'vakt demo --json | jq .steps',
    'vakt demo --console',
    'vakt demo --radio e32 --loss 0.1 --ber 1e-4',
  ],
};

/** Whether meters get PTY pairs, and the notice when they cannot. */
function serialChoice(o: DemoOptions): { socat: boolean; notice: string | undefined } {
  const socat = o.socat && findSocat() !== null;
  if (!o.socat) return { socat, notice: 'in-process serial links only (--no-socat)' };
  if (!socat)
    return {
      socat,
      notice:
        'socat is not installed: every meter uses an in-process serial link instead of a PTY pair (apt-get install socat for real serial PTYs)',
    };
  return { socat, notice: undefined };
}

/** Closes what a run opened: the HES links, the modem ports, then the rest in reverse order, best effort. */
async function closeAll(res: DemoResources): Promise<void> {
  for (const l of res.links) await l.close();
  for (const m of res.modems) await m.close();
  for (const c of res.cleanup.reverse()) {
    try {
      await c();
    } catch {
      /* best effort: the demo's own resources */
    }
  }
}

/** Runs the demo; never throws for a failed step (it is reported in `steps`), only for setup errors. */
export async function runDemo(o: DemoOptions): Promise<DemoSummary> {
  const started = Date.now();
  const steps: DemoStep[] = [];
  const step: StepFn = (name, ok, detail) => {
    steps.push({ step: name, ok, detail });
    o.log(`${ok ? '✓' : '✗'} ${name}`);
  };
  const keep = o.dir !== undefined;
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'vakt-demo-'));
  mkdirSync(dir, { recursive: true });
  const { socat, notice } = serialChoice(o);
  const ptyMeters = socat ? Math.min(o.pty, o.meters) : 0;
  if (notice !== undefined) o.log(`notice: ${notice}`);
  // Simulated time for every device and the HES, starting now.
  const clock = createManualClock(Math.floor(Date.now() / 1000));
  const res: DemoResources = { links: [], modems: [], cleanup: [] };
  try {
    const prod = await produce(o, dir, keep, res, step);
    const net = await deployNetwork(prod, o, ptyMeters, clock, res, step);
    const sim = new Simulation(net, res, ptyMeters);
    const run: DemoRun = { o, hes: prod.hes, net, sim, step };
    await readingsFlow(run);
    await wrongKeyReported(run);
    const target = net.meters[0]!; // a PTY meter when socat is there
    const tLine = net.lineOf.get(target.id)!;
    // Role check first: an operator has no relay right.
    await operatorRefused(run, target);
    await disconnectReconnect(run, target, tLine);
    await keyUpdate(run);
    await uplinkAttacks(run);
    await downlinkAttacks(run, target, tLine);
    const facts = { steps, ptyMeters, concentrators: prod.nConc, socat, notice, started, dir: keep ? resolve(dir) : undefined };
    const summary = await summarize(run, res, facts);
    if (o.console !== undefined) await serveLive(prod.hes, summary, o.console, sim.tick);
    return summary;
  } finally {
    await closeAll(res);
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

/** Entry point of `vakt demo`. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const p = parseCommand(SPEC, argv);
  if (p.help) {
    io.out(helpText(SPEC));
    return 0;
  }
  const radio = stringOpt(p, 'radio');
  if (radio !== undefined) return runRadio(p, radio, io);
  const meters = intOpt(p, 'meters', 1, MAX_METERS, 5);
  const pty = intOpt(p, 'pty', 0, MAX_PTY_METERS, 4);
  const intervals = intOpt(p, 'intervals', 1, MAX_INTERVALS, 3);
  const dirOpt = stringOpt(p, 'dir');
  const opts: DemoOptions = {
    meters,
    pty,
    intervals,
    socat: p.values['no-socat'] !== true,
    log: (l) => {
      if (!p.json) io.out(l);
    },
    progress: (title, total) => progress(io, p.json, title, total),
    ...(dirOpt !== undefined ? { dir: resolve(io.cwd, dirOpt) } : {}),
  };
  if (p.values.console === true) {
    opts.console = {
      port: intOpt(p, 'http-port', 0, MAX_PORT, 0),
      signal: io.signal,
      // The summary comes first, then where to look: the network keeps running behind the console.
      ready: (s, url, token) => {
        if (p.json) printJson(io, { ...s, console: { url, token } });
        else {
          printSummary(io, s);
          io.out('');
          io.out(`web console (logs you in as admin once; the token in the link is then used up): ${url}#token=${token}`);
          io.out('the demo network keeps running (a 15-minute interval every ~15 s); Ctrl-C to stop');
        }
      },
    };
  }
  let s: DemoSummary;
  try {
    s = await runDemo(opts);
  } catch (e) {
    throw new CliError(`demo setup failed: ${(e as Error).message}`);
  }
  if (opts.console !== undefined) return s.ok ? 0 : 1;
  if (p.json) {
    printJson(io, s);
    return s.ok ? 0 : 1;
  }
  printSummary(io, s);
  return s.ok ? 0 : 1;
}
