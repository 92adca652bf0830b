// `vakt demo`, last part: the closing checks (uplink queues drained, audit chain verifies), the
// figures of the run (DemoSummary) and the summary table printed at the end.
import { join } from 'node:path';
import type { CliIo } from '../io.ts';
import { printTable } from '../output.ts';
import type { Hes, MeterStatus } from '../../hes/hes.ts';
import { diagnoseUplink } from './network.ts';
import { DEMO_FILES } from './production.ts';
import type { DemoResources, DemoRun, DemoSummary } from './types.ts';

/** Steps allowed for the concentrators' uplink queues to drain. */
const DRAIN_STEPS = 40;
/** Width of the summary's detail column (the table stays within ~130 columns). */
const DETAIL_WIDTH = 72;

/** Meters whose newest stored reading has energy. */
async function countWithEnergy(h: Hes, st: MeterStatus[]): Promise<number> {
  let n = 0;
  for (const s of st) if (s.readings > 0 && (await h.readings(s.id, 1))[0]!.wh > 0) n++;
  return n;
}

async function verifyAudit(h: Hes): Promise<{ ok: boolean; detail: string }> {
  const r = await h.audit.verify();
  return {
    ok: r.ok,
    detail: r.ok
      ? `MAC chain over ${r.entries} audit entries verifies`
      : `audit chain BROKEN at entry ${r.badSeq ?? '?'}: ${r.error ?? ''}`,
  };
}

/** Store-and-forward: every uplink frame a concentrator accepted must have been link-acknowledged by the HES. */
export async function uplinkDrained({ net, sim, step }: DemoRun): Promise<void> {
  const drained = await sim.runUntil(() => net.concs.every((c) => c.app.upQueue.size() === 0), DRAIN_STEPS);
  const waiting = net.concs.reduce((n, c) => n + c.app.upQueue.size(), 0);
  step(
    'Uplink queues drained',
    drained,
    drained
      ? 'every frame the concentrators accepted was acknowledged by the HES (LINK_ACK)'
      : `${waiting} frame(s) still wait for the HES's LINK_ACK${diagnoseUplink(net)}`,
  );
}

/** The audit log's MAC chain verifies. */
export async function auditVerifies({ hes, step }: DemoRun): Promise<void> {
  const audit = await verifyAudit(hes);
  step('Audit chain verifies', audit.ok, audit.detail);
}

/** The serial statistics of every PTY modem port, added up. */
function serialTotals(res: DemoResources): DemoSummary['serial'] {
  const serial = { stalls: 0, reopens: 0, resent: 0 };
  for (const m of res.modems) {
    serial.stalls += m.stats.stalls;
    serial.reopens += m.stats.reopens;
    serial.resent += m.stats.resent;
  }
  return serial;
}

/** What the run did and measured, less the closing checks (`steps` is the run's list, filled on). */
export interface RunFacts {
  steps: DemoSummary['steps'];
  ptyMeters: number;
  concentrators: number;
  socat: boolean;
  notice: string | undefined;
  started: number;
  /** The kept directory, with --dir. */
  dir: string | undefined;
}

/** The closing checks, then the summary of the run. */
export async function summarize(run: DemoRun, res: DemoResources, f: RunFacts): Promise<DemoSummary> {
  const { o, hes: h, net, sim } = run;
  const final = (await h.meterStatus()).filter((x) => x.id !== net.wrongId);
  const serial = serialTotals(res);
  await uplinkDrained(run);
  await auditVerifies(run);
  return {
    ok: f.steps.every((s) => s.ok),
    meters: o.meters,
    ptyMeters: f.ptyMeters,
    inProcessMeters: o.meters - f.ptyMeters,
    concentrators: f.concentrators,
    socat: f.socat,
    ...(f.notice !== undefined ? { notice: f.notice } : {}),
    readingsStored: final.reduce((n, s) => n + s.readings, 0),
    metersWithReadings: final.filter((s) => s.readings > 0).length,
    metersWithEnergy: await countWithEnergy(h, final),
    simulatedHours: sim.simulatedHours,
    seconds: (Date.now() - f.started) / 1000,
    serial,
    hesIngest: Object.fromEntries(net.server.counts),
    steps: f.steps,
    ...(f.dir !== undefined ? { dir: f.dir } : {}),
  };
}

/** The last line of every demo's output. */
export function verdictLine(ok: boolean): string {
  return ok ? 'demo: every step succeeded' : 'demo: some steps FAILED (see above)';
}

/** Splits text into lines of at most `width` characters at spaces. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const w of text.split(' ')) {
    if (cur !== '' && cur.length + 1 + w.length > width) {
      lines.push(cur);
      cur = w;
    } else cur = cur === '' ? w : `${cur} ${w}`;
  }
  if (cur !== '') lines.push(cur);
  return lines;
}

/** The summary as two tables, the notice, where a kept run is and how to inspect it, and the verdict. */
export function printSummary(io: CliIo, s: DemoSummary): void {
  io.out('');
  const rows: string[][] = [];
  for (const x of s.steps) {
    wrap(x.detail, DETAIL_WIDTH).forEach((line, i) => rows.push(i === 0 ? [x.step, x.ok ? 'ok' : 'FAILED', line] : ['', '', line]));
  }
  printTable(io, ['step', 'result', 'what was checked'], rows);
  io.out('');
  printTable(
    io,
    ['meters', 'on PTYs', 'in-process', 'concentrators', 'readings', 'sim. hours', 'serial stalls', 'seconds'],
    [
      [
        s.meters,
        s.ptyMeters,
        s.inProcessMeters,
        s.concentrators,
        s.readingsStored,
        s.simulatedHours,
        s.serial.stalls,
        Math.round(s.seconds * 10) / 10,
      ],
    ],
  );
  if (s.notice !== undefined) io.out(`notice: ${s.notice}`);
  if (s.dir !== undefined) {
    io.out(`KPE output, HES database and audit log kept in ${s.dir}; inspect with e.g.`);
    io.out(
      `  vakt hes meters --db ${join(s.dir, DEMO_FILES.db)} --store-key-file ${join(s.dir, DEMO_FILES.storeKey)} --token-file ${join(s.dir, DEMO_FILES.adminToken)}`,
    );
  }
  io.out(verdictLine(s.ok));
}
