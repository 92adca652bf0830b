// `vakt demo`, second part: deployment. The HES serves TCP on 127.0.0.1; each concentrator connects
// to it and to its meters, a sample of them over real serial PTY pairs (socat + serialport), the
// rest (and the wrong-key meter) over in-process serial pairs. Every device runs the real firmware.
import { readFileSync } from 'node:fs';
import type { SerialPort } from '@vakt/boards';
import { createManualClock, createSerialPair, SyntheticLoad } from '@vakt/boards/sim/index';
import { deviceStorage, runConcentrator, runMeter, type SimConcentrator, type SimMeter } from '../../bridge/devices.ts';
import { HesLink } from '../../bridge/hes-link.ts';
import { ModemPort } from '../../bridge/modem.ts';
import { openPtyPair } from '../../bridge/pty.ts';
import type { Hes, IngestResult } from '../../hes/hes.ts';
import { HesServer } from '../../hes/server.ts';
import { isReadingData, recordFirst, tap, type Recorder, type TappedLine } from './capture.ts';
import { withWrongMasterKey, type Production } from './production.ts';
import type { DemoOptions, DemoResources, StepFn } from './types.ts';

/** Interval length of the simulated meters (PROTOCOL.md default: 15 min). */
export const INTERVAL_S = 900;
/** Where every device and the HES read the time: simulated, advanced by the simulation loop. */
export type DemoClock = ReturnType<typeof createManualClock>;

/** Loopback address of the demo HES. */
const HES_HOST = '127.0.0.1';
/** Serial watchdog of each PTY modem port. */
const PTY_WATCHDOG_MS = 1000;
/** Reconnect backoff of the concentrators' HES links. */
const LINK_MIN_BACKOFF_MS = 20;
const LINK_MAX_BACKOFF_MS = 1000;
/** Meter table room a concentrator keeps beyond its own meters. */
const SPARE_METER_SLOTS = 8;
/** Fewest up/down queue slots of a concentrator; more meters get two slots each. */
const MIN_QUEUE_SLOTS = 16;
/** Seconds before a concentrator retries an unacknowledged downlink. */
const CONCENTRATOR_RETRY_S = 30;

/** A meter's serial line as its concentrator sees it: recordable, and the PTY modem when there is one. */
export interface MeterLine {
  conc: SimConcentrator;
  line: TappedLine;
  modem?: ModemPort;
}

/** The running network. */
export interface DemoNetwork {
  clock: DemoClock;
  server: HesServer;
  port: number;
  concs: SimConcentrator[];
  /** The meters with their right keys, in shipment order (PTY meters first). */
  meters: SimMeter[];
  wrongMeter: SimMeter | undefined;
  wrongId: string;
  /** Each simulated meter's consumer, driven by the simulation loop. */
  loadOf: Map<SimMeter, SyntheticLoad>;
  lineOf: Map<string, MeterLine>;
  /** The first concentrator's uplink, recorded until it carried a READING (for the replay/forgery). */
  upRecorder: Recorder | undefined;
  /** Ingest outcomes of connections that are not a concentrator's: the attacker's. */
  attackResults: IngestResult[];
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The HES server; refusals on connections no concentrator authenticated on are the attacker's. */
async function startServer(
  h: Hes,
  clock: DemoClock,
  res: DemoResources,
): Promise<{ server: HesServer; port: number; attackResults: IngestResult[] }> {
  // Ingest outcomes per connection: concentrators' connections, and the attacker's.
  const concConns = new Set<number>();
  const attackResults: IngestResult[] = [];
  const server = new HesServer(h, {
    host: HES_HOST,
    port: 0,
    nowMs: () => clock.nowMs,
    onResult: (r, conn) => {
      if (r.ok) concConns.add(conn);
      else if (!concConns.has(conn)) attackResults.push(r);
    },
  });
  res.cleanup.push(() => server.close());
  const port = await server.listen();
  return { server, port, attackResults };
}

/** One meter's end of its serial line, and the modem port of a PTY line. */
interface MeterEnd {
  id: string;
  line: SerialPort;
  modem?: ModemPort;
}

/** Serial lines between a concentrator and its meters: PTY pairs while `pty.left` lasts (never for the wrong-key meter). */
async function openMeterLines(
  ids: string[],
  wrongId: string,
  pty: { left: number },
  o: DemoOptions,
  res: DemoResources,
): Promise<{ concLines: TappedLine[]; meterEnds: MeterEnd[] }> {
  const concLines: TappedLine[] = [];
  const meterEnds: MeterEnd[] = [];
  for (const mid of ids) {
    if (pty.left > 0 && mid !== wrongId) {
      pty.left--;
      const pair = await openPtyPair();
      res.cleanup.push(() => pair.close());
      const a = new ModemPort({ path: pair.a, watchdogMs: PTY_WATCHDOG_MS, log: o.log });
      const b = new ModemPort({ path: pair.b, watchdogMs: PTY_WATCHDOG_MS, log: o.log });
      await a.open();
      await b.open();
      res.modems.push(a, b);
      concLines.push(tap(a));
      meterEnds.push({ id: mid, line: b, modem: a });
    } else {
      const [a, b] = createSerialPair();
      res.cleanup.push(
        () => a.close(),
        () => b.close(),
      );
      concLines.push(tap(a));
      meterEnds.push({ id: mid, line: b });
    }
  }
  return { concLines, meterEnds };
}

/** The link of one concentrator to the HES. */
function hesLink(port: number, o: DemoOptions): HesLink {
  // Delivery to the HES is confirmed by LINK_ACK in the firmware: no transport resend window (duplicates would be audited as replays).
  return new HesLink({
    host: HES_HOST,
    port,
    minBackoffMs: LINK_MIN_BACKOFF_MS,
    maxBackoffMs: LINK_MAX_BACKOFF_MS,
    log: (l) => {
      if (!/connected to/.test(l)) o.log(l);
    },
    resendWindowBytes: 0,
  });
}

/** Runs one concentrator's firmware between its HES link (`up`: maybe recorded) and its meter lines. */
function startConcentrator(image: Uint8Array, link: HesLink, up: SerialPort, concLines: TappedLine[], clock: DemoClock): SimConcentrator {
  const per = concLines.length;
  const slots = Math.max(MIN_QUEUE_SLOTS, 2 * per);
  const c = runConcentrator({
    image,
    hes: up,
    link,
    meterLines: concLines,
    storage: deviceStorage(image, undefined),
    clock,
    options: { attach: false, maxMeters: per + SPARE_METER_SLOTS, upSlots: slots, downSlots: slots, retryS: CONCENTRATOR_RETRY_S },
  });
  link.onData((chunk) => c.app.onHes(chunk));
  concLines.forEach((l, i) => l.onData((chunk) => c.app.onMeterLine(i + 1, chunk)));
  return c;
}

/** Runs one meter's firmware on its end of the line, with its synthetic load. */
function startMeter(image: Uint8Array, e: MeterEnd, clock: DemoClock, net: DemoNetwork): SimMeter {
  // The loop drives the meters (attach: false), their synthetic load included: one board
  // timer per meter on the shared manual clock would cost O(meters) per timer run.
  const m = runMeter({
    image,
    line: e.line,
    storage: deviceStorage(image, undefined),
    clock,
    options: { attach: false, intervalS: INTERVAL_S },
    syntheticLoad: false,
  });
  net.loadOf.set(m, new SyntheticLoad(clock.now()));
  e.line.onData((chunk) => m.app.onSerial(chunk));
  return m;
}

/** The HES server, the concentrators and the meters, started; the "Network up" step recorded. */
export async function deployNetwork(
  prod: Production,
  o: DemoOptions,
  ptyMeters: number,
  clock: DemoClock,
  res: DemoResources,
  step: StepFn,
): Promise<DemoNetwork> {
  const { batch, nConc } = prod;
  const { server, port, attackResults } = await startServer(prod.hes, clock, res);
  const imageOf = new Map<string, Uint8Array>(batch.images.map((i) => [i.id, new Uint8Array(readFileSync(i.file))]));
  const wrongId = hex(batch.meters[o.meters]!.id);
  imageOf.set(wrongId, withWrongMasterKey(imageOf.get(wrongId)!));
  const net: DemoNetwork = {
    clock,
    server,
    port,
    concs: [],
    meters: [],
    wrongMeter: undefined,
    wrongId,
    loadOf: new Map(),
    lineOf: new Map(),
    upRecorder: undefined,
    attackResults,
  };
  const pty = { left: ptyMeters };
  for (const ck of batch.concentrators) {
    const cid = hex(ck.id);
    const mine = batch.meters.filter((m) => hex(m.concentratorId) === cid).map((m) => hex(m.id));
    const { concLines, meterEnds } = await openMeterLines(mine, wrongId, pty, o, res);
    const link = hesLink(port, o);
    res.links.push(link);
    const up = net.upRecorder === undefined ? (net.upRecorder = recordFirst(link, isReadingData)) : link;
    const c = startConcentrator(imageOf.get(cid)!, link, up, concLines, clock);
    net.concs.push(c);
    meterEnds.forEach((e, i) => {
      const m = startMeter(imageOf.get(e.id)!, e, clock, net);
      if (e.id === wrongId) net.wrongMeter = m;
      else net.meters.push(m);
      net.lineOf.set(e.id, { conc: c, line: concLines[i]!, ...(e.modem !== undefined ? { modem: e.modem } : {}) });
    });
    link.start();
  }
  step(
    'Network up',
    true,
    `${nConc} concentrator(s) on TCP ${HES_HOST}:${port}; ${ptyMeters} meter(s) on real serial PTY pairs (socat + serialport)` +
      (o.meters - ptyMeters > 0 ? `, ${o.meters - ptyMeters} on in-process serial links` : '') +
      ' (+1 in-process meter with a wrong key)',
  );
  return net;
}

/**
 * Explains a stalled uplink in plain words: the concentrator keeps each uplink frame until the HES
 * link-acknowledges it, so retransmissions refused as replays point at missing LINK_ACKs.
 */
export function diagnoseUplink(net: DemoNetwork): string {
  const counts = net.server.counts;
  const replays = counts.get('ERR_REPLAY') ?? 0;
  const accepted = (counts.get('reading') ?? 0) + (counts.get('event') ?? 0) + (counts.get('response') ?? 0);
  const queued = net.concs.reduce((n, c) => n + c.app.upQueue.size(), 0);
  if (replays <= accepted) return '';
  return (
    ` — WARNING: the HES refused ${replays} retransmitted frames as replays and ${queued} frames wait in the concentrators' uplink queues: ` +
    'the HES is not link-acknowledging uplink DATA (PROTOCOL.md §7; see docs/ARCHITECTURE.md "Open seams")'
  );
}
