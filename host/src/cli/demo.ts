/**
 * `vakt demo`: the whole system in one process, on the real code paths.
 * KPE produces keys and a signed, encrypted shipment; the HES library imports it and serves
 * concentrators over TCP on 127.0.0.1; concentrators and meters run the real firmware apps on sim
 * boards, a sample of meters over real serial PTY pairs (socat + serialport), the rest over
 * in-process serial pairs. Readings flow; a disconnect, a reconnect and a key update are carried
 * out; a replayed and a forged frame are injected and must be refused; a summary shows it all.
 * Every "ok" in the summary is a condition checked against the HES database or device state.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { SerialPort } from '@vakt/boards';
import { createManualClock, createSerialPair, SyntheticLoad } from '@vakt/boards/sim/index';
import {
  BACKHAUL_VERSION,
  createHeader,
  E2E_VERSION,
  encodeSerialFrame,
  HEADER_LEN,
  ID_LEN,
  LINK_DATA,
  LINK_VERSION,
  MAX_LINK_FRAME,
  OFF_COUNTER,
  OP_READING,
  OP_RELAY,
  parseHeader,
  SerialDeframer,
  serialEncodedMaxLen,
} from '@vakt/shared';
import { deviceStorage, requireMeterImage, runConcentrator, runMeter, type SimConcentrator, type SimMeter } from '../bridge/devices.ts';
import { HesLink } from '../bridge/hes-link.ts';
import { ModemPort } from '../bridge/modem.ts';
import { findSocat, openPtyPair, type PtyPair } from '../bridge/pty.ts';
import { Hes, type IngestResult, type MeterStatus } from '../hes/hes.ts';
import { HesServer } from '../hes/server.ts';
import type { MeterStats } from '@vakt/firmware/meter/index';
import { initKpe, produceBatch } from '../kpe/kpe.ts';
import { helpText, intOpt, parseCommand, stringOpt, type CommandSpec } from './args.ts';
import { CliError, usageError, type CliIo } from './io.ts';
import { printJson, printTable, progress } from './output.ts';
import { serveLive, type ConsoleOptions } from './live.ts';
import { Users } from '../hes/users.ts';
import { RADIO_KINDS, type RadioKind } from '../modem/emu/index.ts';
import { runRadioDemo } from '../modem/radio-demo.ts';

const SPEC: CommandSpec = {
  name: 'vakt demo',
  summary: 'end-to-end demo: KPE → HES → concentrator → meters over real serial PTYs',
  usage:
    '[--meters <n>] [--pty <n>] [--intervals <n>] [--no-socat] [--dir <dir>] [--console [--http-port <p>]] [--radio transparent|hc12|e32|e22|xbee|packet [--loss <p>] [--ber <b>] [--seed <n>]] [--json]',
  options: {
    meters: { type: 'string', placeholder: '<n>', description: 'simulated meters, 1..5000', default: '5' },
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

/** Interval length of the simulated meters (PROTOCOL.md default: 15 min). */
const INTERVAL_S = 900;
/** Simulated seconds per step of the demo loop. */
const STEP_S = 15;
/** Meters per concentrator; more meters get more concentrators. */
const METERS_PER_CONCENTRATOR = 250;
/** Longest wait for the transports to drain within one settle poll. */
const DRAIN_WAIT_MS = 250;
/** Bound of the wait for a quiet network after each step (polls of a few ms). */
const SETTLE_MAX_POLLS = 200;
/** Lifetime of the admin token written with --dir (to inspect the run afterwards). */
const DIR_TOKEN_MS = 30 * 86400_000;
/** Steps allowed for one command to complete (15 s each: 2 simulated hours). */
const COMMAND_STEPS = 480;

/** One line of the summary: what was done and whether it did what it should. */
export interface DemoStep {
  step: string;
  ok: boolean;
  detail: string;
}

/** What the demo did and measured (the --json output). */
export interface DemoSummary {
  ok: boolean;
  meters: number;
  ptyMeters: number;
  inProcessMeters: number;
  concentrators: number;
  socat: boolean;
  notice?: string;
  readingsStored: number;
  metersWithReadings: number;
  /** Meters whose newest stored reading has a positive energy register (the sim board's synthetic load reached the meter as pulses). */
  metersWithEnergy: number;
  simulatedHours: number;
  seconds: number;
  serial: { stalls: number; reopens: number; resent: number };
  hesIngest: { [outcome: string]: number };
  steps: DemoStep[];
  dir?: string;
}

/** Options of runDemo (the CLI's flags, already validated). */
export interface DemoOptions {
  meters: number;
  pty: number;
  intervals: number;
  socat: boolean;
  dir?: string;
  log: (line: string) => void;
  progress?: (title: string, total: number) => { update(n: number): void; stop(): void };
  /** Keep running after the steps with the web console served (see live.ts). */
  console?: ConsoleOptions;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A serial line whose written bytes can be recorded (the radio channel an attacker listens to). */
interface TappedLine extends SerialPort {
  capture: boolean;
  captured: Uint8Array[];
}
function tap(inner: SerialPort): TappedLine {
  const t: TappedLine = {
    capture: false,
    captured: [],
    write(data: Uint8Array): void {
      if (t.capture) t.captured.push(data.slice());
      inner.write(data);
    },
    onData: (cb) => inner.onData(cb),
  };
  return t;
}

/** Keeps the first frame written on `inner` that satisfies `pred` (the uplink an attacker records). */
interface Recorder extends SerialPort {
  first: Uint8Array | undefined;
}
function recordFirst(inner: SerialPort, pred: (frame: Uint8Array) => boolean): Recorder {
  const d = new SerialDeframer(MAX_LINK_FRAME, (b, o, l) => {
    if (r.first === undefined && pred(b.subarray(o, o + l))) r.first = b.slice(o, o + l);
  });
  const r: Recorder = {
    first: undefined,
    write(data: Uint8Array): void {
      if (r.first === undefined) d.push(data, 0, data.length);
      inner.write(data);
    },
    onData: (cb) => inner.onData(cb),
  };
  return r;
}

/** Cuts recorded wire bytes into CRC-checked frames. */
function deframeAll(chunks: Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  const d = new SerialDeframer(MAX_LINK_FRAME, (b, o, l) => out.push(b.slice(o, o + l)));
  for (const c of chunks) d.push(c, 0, c.length);
  return out;
}

/**
 * Where the end-to-end frame inside a DATA link frame starts (radio hop: after its header; backhaul:
 * after the header and the meter id, PROTOCOL.md §7) and its op; null for anything else.
 */
function innerOf(f: Uint8Array): { at: number; op: number } | null {
  const h = createHeader();
  if (parseHeader(f, 0, f.length, h) < 0 || h.op !== LINK_DATA || (h.version !== LINK_VERSION && h.version !== BACKHAUL_VERSION))
    return null;
  const at = h.version === LINK_VERSION ? h.hdrLen : HEADER_LEN + ID_LEN;
  const e = createHeader();
  if (parseHeader(f, at, h.frameLen - at - h.tagLen, e) < 0 || e.version !== E2E_VERSION) return null;
  return { at: at + e.hdrLen, op: e.op };
}

/** True for a backhaul DATA frame whose inner end-to-end frame is a READING. */
function isReadingData(f: Uint8Array): boolean {
  return f[0] === BACKHAUL_VERSION && innerOf(f)?.op === OP_READING;
}

/** Offset of the master key in a meter image: [0x88, 1, 1, 0x48, id(8), 0x50, mk(16), …] (PROTOCOL.md §11). */
const IMAGE_MASTER_KEY_OFF = 13;

/** A copy of a meter image with one bit of its master key flipped (the image still parses). */
function withWrongMasterKey(img: Uint8Array): Uint8Array {
  const bad = img.slice();
  bad[IMAGE_MASTER_KEY_OFF] ^= 0x01;
  const a = requireMeterImage(img, 'image');
  const b = requireMeterImage(bad, 'image');
  if (a.masterKey.every((x, i) => x === b.masterKey[i]) || !a.linkKey.every((x, i) => x === b.linkKey[i]))
    throw new Error('meter image layout changed');
  return bad;
}

/** Gives a captured backhaul frame a counter no receiver has seen yet, as a forger would. */
function freshCounter(f: Uint8Array): void {
  new DataView(f.buffer, f.byteOffset, f.length).setUint32(OFF_COUNTER, FORGED_COUNTER);
}
/** A counter far above anything a demo run reaches. */
const FORGED_COUNTER = 0xfffff000;

/** Serial wire encoding of one frame (COBS ‖ CRC16 ‖ 0x00), so a forgery is not mere line noise. */
function wire(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(serialEncodedMaxLen(frame.length));
  return out.slice(0, encodeSerialFrame(frame, 0, frame.length, out, 0));
}

/** Runs the demo; never throws for a failed step (it is reported in `steps`), only for setup errors. */
export async function runDemo(o: DemoOptions): Promise<DemoSummary> {
  const started = Date.now();
  const steps: DemoStep[] = [];
  const step = (name: string, ok: boolean, detail: string): void => {
    steps.push({ step: name, ok, detail });
    o.log(`${ok ? '✓' : '✗'} ${name}`);
  };
  const keep = o.dir !== undefined;
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'vakt-demo-'));
  mkdirSync(dir, { recursive: true });
  const cleanup: (() => Promise<void> | void)[] = [];
  let notice: string | undefined;
  const socat = o.socat && findSocat() !== null;
  if (!o.socat) notice = 'in-process serial links only (--no-socat)';
  else if (!socat)
    notice =
      'socat is not installed: every meter uses an in-process serial link instead of a PTY pair (apt-get install socat for real serial PTYs)';
  const ptyMeters = socat ? Math.min(o.pty, o.meters) : 0;
  if (notice !== undefined) o.log(`notice: ${notice}`);

  // Simulated time for every device and the HES, starting now.
  const clock = createManualClock(Math.floor(Date.now() / 1000));
  const nowMs = (): number => clock.nowMs;
  const modems: ModemPort[] = [];
  const links: HesLink[] = [];
  let hes: Hes | undefined;
  let server: HesServer | undefined;
  try {
    // ---- production: KPE keys, images, shipment ------------------------------------------------
    const kpe = initKpe(join(dir, 'kpe'));
    const storeKey = randomBytes(32);
    // With --dir the run can be inspected afterwards with the vakt hes commands, so keep its key (0600).
    if (keep)
      writeFileSync(
        join(dir, 'hes.key'),
        `# store key of the demo HES (${join(dir, 'hes.sqlite')})\n${Buffer.from(storeKey).toString('hex')}\n`,
        { mode: 0o600 },
      );
    const init = await Hes.init({
      dbPath: join(dir, 'hes.sqlite'),
      storeKey,
      kpePublicKeys: [kpe.pub],
      adminUser: 'admin',
      synchronous: 'normal',
    });
    hes = init.hes;
    const h = hes;
    // With --dir, the vakt hes commands need an operator's token too: an admin token file (0600).
    if (keep)
      writeFileSync(
        join(dir, 'admin.token'),
        (await new Users(h).createToken('init', 'admin', { ttlMs: DIR_TOKEN_MS, label: 'demo --dir' })).token + '\n',
        { mode: 0o600 },
      );
    cleanup.push(() => h.close());
    const nConc = Math.max(1, Math.ceil(o.meters / METERS_PER_CONCENTRATOR));
    // One extra meter will run with one bit of its master key changed: a wrong key must be reported, not be silence.
    const batch = produceBatch(kpe, { meters: o.meters + 1, concentrators: nConc, hesCert: init.cert, outDir: join(dir, 'out') });
    step(
      'KPE produced keys',
      batch.meters.length === o.meters + 1 && batch.concentrators.length === nConc,
      `${o.meters} meter(s) + 1 to be given a wrong key, ${nConc} concentrator(s): one provisioning image each, one signed encrypted shipment (#${batch.seq})`,
    );
    const imported = await h.importShipment(new Uint8Array(readFileSync(batch.shipmentFile)), 'admin', kpe.pub);
    step(
      'HES imported the shipment',
      imported.meters === o.meters + 1 && imported.concentrators === nConc,
      `signature and recipient checked; ${imported.meters} meter and ${imported.concentrators} concentrator key sets stored encrypted`,
    );

    // ---- deployment: HES server, concentrators, meters -----------------------------------------
    // Ingest outcomes per connection: concentrators' connections, and the attacker's.
    const concConns = new Set<number>();
    const attackResults: IngestResult[] = [];
    server = new HesServer(h, {
      host: '127.0.0.1',
      port: 0,
      nowMs,
      onResult: (r, conn) => {
        if (r.ok) concConns.add(conn);
        else if (!concConns.has(conn)) attackResults.push(r);
      },
    });
    const srv = server;
    cleanup.push(() => srv.close());
    const port = await srv.listen();
    const imageOf = new Map<string, Uint8Array>(batch.images.map((i) => [i.id, new Uint8Array(readFileSync(i.file))]));
    const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
    const wrongId = hex(batch.meters[o.meters]!.id);
    imageOf.set(wrongId, withWrongMasterKey(imageOf.get(wrongId)!));
    let wrongMeter: SimMeter | undefined;
    const concs: SimConcentrator[] = [];
    const meters: SimMeter[] = [];
    /** Each simulated meter's consumer, driven by the simulation loop. */
    const loadOf = new Map<SimMeter, SyntheticLoad>();
    const meterLineOf = new Map<string, { conc: SimConcentrator; line: TappedLine; modem?: ModemPort }>();
    const pairs: PtyPair[] = [];
    let upRecorder: Recorder | undefined;
    let ptyLeft = ptyMeters;
    for (const ck of batch.concentrators) {
      const cid = hex(ck.id);
      const mine = batch.meters.filter((m) => hex(m.concentratorId) === cid);
      const concLines: TappedLine[] = [];
      const meterEnds: { id: string; line: SerialPort; modem?: ModemPort }[] = [];
      for (const mk of mine) {
        const mid = hex(mk.id);
        if (ptyLeft > 0 && mid !== wrongId) {
          ptyLeft--;
          const pair = await openPtyPair();
          pairs.push(pair);
          cleanup.push(() => pair.close());
          const a = new ModemPort({ path: pair.a, watchdogMs: 1000, log: o.log });
          const b = new ModemPort({ path: pair.b, watchdogMs: 1000, log: o.log });
          await a.open();
          await b.open();
          modems.push(a, b);
          concLines.push(tap(a));
          meterEnds.push({ id: mid, line: b, modem: a });
        } else {
          const [a, b] = createSerialPair();
          cleanup.push(
            () => a.close(),
            () => b.close(),
          );
          concLines.push(tap(a));
          meterEnds.push({ id: mid, line: b });
        }
      }
      // Delivery to the HES is confirmed by LINK_ACK in the firmware: no transport resend window (duplicates would be audited as replays).
      const link = new HesLink({
        host: '127.0.0.1',
        port,
        minBackoffMs: 20,
        maxBackoffMs: 1000,
        log: (l) => {
          if (!/connected to/.test(l)) o.log(l);
        },
        resendWindowBytes: 0,
      });
      links.push(link);
      const per = mine.length;
      // The first concentrator's uplink is recorded until it carried a READING (for the replay/forgery).
      const up = upRecorder === undefined ? (upRecorder = recordFirst(link, isReadingData)) : link;
      const c = runConcentrator({
        image: imageOf.get(cid)!,
        hes: up,
        link,
        meterLines: concLines,
        storage: deviceStorage(imageOf.get(cid)!, undefined),
        clock,
        options: { attach: false, maxMeters: per + 8, upSlots: Math.max(16, 2 * per), downSlots: Math.max(16, 2 * per), retryS: 30 },
      });
      link.onData((chunk) => c.app.onHes(chunk));
      concLines.forEach((l, i) => l.onData((chunk) => c.app.onMeterLine(i + 1, chunk)));
      concs.push(c);
      meterEnds.forEach((e, i) => {
        // The loop below drives the meters (attach: false), their synthetic load included: one board
        // timer per meter on the shared manual clock would cost O(meters) per timer run.
        const m = runMeter({
          image: imageOf.get(e.id)!,
          line: e.line,
          storage: deviceStorage(imageOf.get(e.id)!, undefined),
          clock,
          options: { attach: false, intervalS: INTERVAL_S },
          syntheticLoad: false,
        });
        loadOf.set(m, new SyntheticLoad(clock.now()));
        e.line.onData((chunk) => m.app.onSerial(chunk));
        if (e.id === wrongId) wrongMeter = m;
        else meters.push(m);
        meterLineOf.set(e.id, { conc: c, line: concLines[i]!, ...(e.modem !== undefined ? { modem: e.modem } : {}) });
      });
      link.start();
    }
    step(
      'Network up',
      true,
      `${nConc} concentrator(s) on TCP 127.0.0.1:${port}; ${ptyMeters} meter(s) on real serial PTY pairs (socat + serialport)` +
        (o.meters - ptyMeters > 0 ? `, ${o.meters - ptyMeters} on in-process serial links` : '') +
        ' (+1 in-process meter with a wrong key)',
    );

    // ---- the simulation loop -------------------------------------------------------------------
    // Simulated time must not outrun the bytes: after each step, wait until the network is quiet
    // (no new HES ingest, no frame moved by a concentrator, every transport drained), so a response
    // is never counted late against the HES's retry timers just because the host was busy.
    const activity = (): number => {
      let n = 0;
      for (const v of srv.counts.values()) n += v;
      for (const c of concs) n += c.app.stats.forwardedUp + c.app.stats.forwardedDown + c.app.upQueue.size() + c.app.downQueue.size();
      return n;
    };
    const quietMs = ptyMeters > 0 ? 3 : 1;
    const settle = async (): Promise<void> => {
      let last = -1;
      for (let i = 0; i < SETTLE_MAX_POLLS; i++) {
        // Bounded: a transport that cannot drain (HES unreachable) must not hang the demo; its step fails instead.
        await Promise.race([Promise.all([...links.map((l) => l.drained()), ...modems.map((m) => m.drained())]), sleep(DRAIN_WAIT_MS)]);
        const a = activity();
        if (a === last) return;
        last = a;
        await sleep(quietMs);
      }
    };
    let simSteps = 0;
    const tick = async (): Promise<void> => {
      clock.advance(STEP_S * 1000);
      const t = clock.now();
      // Each meter counts its load's pulses, then ticks (as the sim board's load timer runs first).
      const run = (m: SimMeter): void => {
        const n = loadOf.get(m)!.advance(t);
        if (n > 0) m.app.onPulse(n);
        m.app.tick(t);
      };
      for (const m of meters) run(m);
      if (wrongMeter !== undefined) run(wrongMeter);
      for (const c of concs) c.app.tick(t);
      await srv.pump();
      simSteps++;
      await settle();
    };
    const runUntil = async (cond: () => boolean | Promise<boolean>, maxSteps: number): Promise<boolean> => {
      for (let i = 0; i < maxSteps; i++) {
        if (await cond()) return true;
        await tick();
      }
      return cond();
    };
    const status = async (): Promise<Map<string, MeterStatus>> => new Map((await h.meterStatus()).map((s) => [s.id, s]));

    // ---- operations: readings -------------------------------------------------------------------
    const want = o.intervals;
    const bar = o.progress?.(`readings (${o.meters} meters × ${want} intervals)`, o.meters);
    const readingsOk = await runUntil(
      async () => {
        let n = 0;
        for (const s of await h.meterStatus()) if (s.readings >= want && s.id !== wrongId) n++;
        bar?.update(n);
        return n === o.meters;
      },
      Math.ceil(((want + 2) * INTERVAL_S) / STEP_S) + 240,
    );
    bar?.stop();
    const st1 = await status();
    st1.delete(wrongId);
    const stored = [...st1.values()].reduce((n, s) => n + s.readings, 0);
    step(
      'Readings flow',
      readingsOk,
      `${stored} readings stored in the HES (${[...st1.values()].filter((s) => s.readings > 0).length}/${o.meters} meters); each sealed end to end by the meter, link-checked and forwarded by the concentrator, authenticated and replay-checked by the HES` +
        diagnoseUplink(srv.counts, concs),
    );

    const wrongOk = await runUntil(async () => (await status()).get(wrongId)!.status === 'WRONG KEY', 240);
    const ws = (await status()).get(wrongId)!;
    step(
      'Wrong key reported in plain words',
      wrongOk && ws.readings === 0,
      `meter ${wrongId} runs with one bit of its master key changed: HES status "${ws.status}" after ${ws.tagFailures} frames failed authentication, ${ws.readings} readings stored`,
    );

    // ---- operations: disconnect, reconnect, key update ------------------------------------------
    const target = meters[0]!; // a PTY meter when socat is there
    const tLine = meterLineOf.get(target.id)!;
    const cmdDone =
      (id: number): (() => Promise<boolean>) =>
      async () =>
        (await h.listCommands({ meter: target.id })).some((c) => c.id === id && c.state === 'acknowledged');
    const cmdState = async (meterId: string, id: number): Promise<string> =>
      (await h.listCommands({ meter: meterId })).find((c) => c.id === id)?.state ?? 'unknown';

    // Role check first: an operator has no relay right.
    await h.setUser('admin', 'olga', 'operator');
    let refusedRole = false;
    try {
      await h.enqueueCommand('olga', target.id, { kind: 'relay', state: 0 }, { nowMs: nowMs() });
    } catch (e) {
      refusedRole = /right|permission|not allowed/i.test((e as Error).message) || (e as Error).name === 'PermissionError';
    }
    step(
      'Operator without relay right refused',
      refusedRole,
      `user 'olga' (operator) tried to disconnect meter ${target.id}: refused and audited`,
    );

    tLine.line.capture = true;
    const off = await h.enqueueCommand('admin', target.id, { kind: 'relay', state: 0 }, { nowMs: nowMs() });
    const offOk = await runUntil(async () => (await cmdDone(off)()) && !target.app.relayClosed(), COMMAND_STEPS);
    tLine.line.capture = false;
    step(
      'Disconnect (relay open)',
      offOk,
      `command #${off} ${await cmdState(target.id, off)}; meter ${target.id} relay is ${target.app.relayClosed() ? 'CLOSED' : 'open'}`,
    );
    const on = await h.enqueueCommand('admin', target.id, { kind: 'relay', state: 1 }, { nowMs: nowMs() });
    const onOk = await runUntil(async () => (await cmdDone(on)()) && target.app.relayClosed(), COMMAND_STEPS);
    step(
      'Reconnect (relay closed)',
      onOk,
      `command #${on} ${await cmdState(target.id, on)}; relay is ${target.app.relayClosed() ? 'closed' : 'OPEN'}`,
    );

    const kuMeter = meters[Math.min(1, meters.length - 1)]!;
    const gen0 = (await status()).get(kuMeter.id)!.keyGen;
    const before = (await status()).get(kuMeter.id)!.readings;
    const ku = await h.enqueueCommand('admin', kuMeter.id, { kind: 'key_update', scope: 0 }, { nowMs: nowMs() });
    const kuOk = await runUntil(
      async () => {
        const s = (await status()).get(kuMeter.id)!;
        return (await cmdState(kuMeter.id, ku)) === 'acknowledged' && s.keyGen > gen0 && s.pendingGen === null && s.readings > before;
      },
      COMMAND_STEPS + Math.ceil((2 * INTERVAL_S) / STEP_S),
    );
    const s2 = (await status()).get(kuMeter.id)!;
    step(
      'Key update (master key)',
      kuOk,
      `command #${ku} ${await cmdState(kuMeter.id, ku)}; meter ${kuMeter.id} key generation ${gen0} → ${s2.keyGen}, status ${s2.status}; readings continue under the new key (${before} → ${s2.readings})`,
    );

    // ---- attacks ---------------------------------------------------------------------------------
    // 1. Replay of a captured uplink frame, from a new connection on the HES port.
    const attacker = connect({ host: '127.0.0.1', port });
    attacker.on('error', () => undefined);
    await new Promise<void>((r) => attacker.once('connect', () => r()));
    const expectAttack = async (bytes: Uint8Array): Promise<IngestResult | undefined> => {
      const n = attackResults.length;
      attacker.write(bytes);
      for (let i = 0; i < 200 && attackResults.length === n; i++) await sleep(5);
      return attackResults[n];
    };
    const capturedUp = upRecorder?.first;
    if (capturedUp !== undefined) {
      const rep = await expectAttack(wire(capturedUp));
      step(
        'Replayed uplink frame refused',
        rep !== undefined && !rep.ok && rep.error === 'ERR_REPLAY',
        rep === undefined
          ? 'no answer from the HES'
          : rep.ok
            ? 'ACCEPTED (should have been refused)'
            : `HES: ${rep.error} — ${rep.message}`,
      );
      // 2. Forgery: a fresh counter (so it is no replay) and one changed ciphertext byte of the inner
      //    reading, CRC recomputed (so it is not line noise): only the tag can tell.
      const forged = capturedUp.slice();
      freshCounter(forged);
      forged[innerOf(forged)!.at + 2] ^= 0x01; // a ciphertext byte of the reading
      const fr = await expectAttack(wire(forged));
      step(
        'Forged uplink frame refused',
        fr !== undefined && !fr.ok && fr.error === 'ERR_TAG',
        fr === undefined ? 'no answer from the HES' : fr.ok ? 'ACCEPTED (should have been refused)' : `HES: ${fr.error} — ${fr.message}`,
      );
    } else {
      step('Replayed uplink frame refused', false, 'no uplink frame was captured');
    }
    attacker.destroy();

    // 3. Replay of the captured disconnect command on the meter's radio line: power must stay on.
    const downFrames = deframeAll(tLine.line.captured).filter((f) => f[0] !== BACKHAUL_VERSION && innerOf(f)?.op === OP_RELAY);
    const mBefore = { ...target.app.stats };
    const refusedCount = (): number =>
      target.app.stats.replay + target.app.stats.linkErrors + target.app.stats.badTag + target.app.stats.policy;
    if (downFrames.length > 0) {
      const r0 = refusedCount();
      tLine.line.write(wire(downFrames[0]!));
      await runUntil(() => refusedCount() > r0, 40);
      step(
        'Replayed disconnect command refused by the meter',
        refusedCount() > r0 && target.app.relayClosed(),
        `captured on the radio line and sent again: meter refused it (${describeDelta(mBefore, target.app.stats)}); relay stays ${target.app.relayClosed() ? 'closed — power on' : 'OPEN'}`,
      );
      const forged = downFrames[0]!.slice();
      // Not a replay (the radio hop's short counter reconstructs above the last one): only the tag can tell.
      forged[innerOf(forged)!.at + 1] ^= 0x80; // one bit of the relay command's ciphertext
      const m2 = { ...target.app.stats };
      const tagFailures = (): number => target.app.stats.badTag + target.app.stats.linkErrors;
      const r1 = tagFailures();
      tLine.line.write(wire(forged));
      await runUntil(() => tagFailures() > r1, 40);
      step(
        'Forged command refused by the meter',
        tagFailures() > r1 && target.app.relayClosed(),
        `fresh counter, one bit changed, CRC fixed: meter refused it (${describeDelta(m2, target.app.stats)}); relay stays ${target.app.relayClosed() ? 'closed' : 'OPEN'}`,
      );
    } else {
      step('Replayed disconnect command refused by the meter', false, 'the disconnect command was not captured on the radio line');
    }

    // ---- summary figures -------------------------------------------------------------------------
    const final = (await h.meterStatus()).filter((x) => x.id !== wrongId);
    const serial = { stalls: 0, reopens: 0, resent: 0 };
    for (const m of modems) {
      serial.stalls += m.stats.stalls;
      serial.reopens += m.stats.reopens;
      serial.resent += m.stats.resent;
    }
    // Store-and-forward: every uplink frame a concentrator accepted must have been link-acknowledged by the HES.
    const drained = await runUntil(() => concs.every((c) => c.app.upQueue.size() === 0), 40);
    const waiting = concs.reduce((n, c) => n + c.app.upQueue.size(), 0);
    step(
      'Uplink queues drained',
      drained,
      drained
        ? 'every frame the concentrators accepted was acknowledged by the HES (LINK_ACK)'
        : `${waiting} frame(s) still wait for the HES's LINK_ACK${diagnoseUplink(srv.counts, concs)}`,
    );
    const audit = await verifyAudit(h);
    step('Audit chain verifies', audit.ok, audit.detail);
    const summary: DemoSummary = {
      ok: steps.every((s) => s.ok),
      meters: o.meters,
      ptyMeters,
      inProcessMeters: o.meters - ptyMeters,
      concentrators: nConc,
      socat,
      ...(notice !== undefined ? { notice } : {}),
      readingsStored: final.reduce((n, s) => n + s.readings, 0),
      metersWithReadings: final.filter((s) => s.readings > 0).length,
      metersWithEnergy: await countWithEnergy(h, final),
      simulatedHours: Math.round(((simSteps * STEP_S) / 3600) * 10) / 10,
      seconds: (Date.now() - started) / 1000,
      serial,
      hesIngest: Object.fromEntries(srv.counts),
      steps,
      ...(keep ? { dir: resolve(dir) } : {}),
    };
    if (o.console !== undefined) await serveLive(h, summary, o.console, tick);
    return summary;
  } finally {
    for (const l of links) await l.close();
    for (const m of modems) await m.close();
    for (const c of cleanup.reverse()) {
      try {
        await c();
      } catch {
        /* best effort: the demo's own resources */
      }
    }
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Explains a stalled uplink in plain words: the concentrator keeps each uplink frame until the HES
 * link-acknowledges it, so retransmissions refused as replays point at missing LINK_ACKs.
 */
function diagnoseUplink(counts: Map<string, number>, concs: SimConcentrator[]): string {
  const replays = counts.get('ERR_REPLAY') ?? 0;
  const accepted = (counts.get('reading') ?? 0) + (counts.get('event') ?? 0) + (counts.get('response') ?? 0);
  const queued = concs.reduce((n, c) => n + c.app.upQueue.size(), 0);
  if (replays <= accepted) return '';
  return (
    ` — WARNING: the HES refused ${replays} retransmitted frames as replays and ${queued} frames wait in the concentrators' uplink queues: ` +
    'the HES is not link-acknowledging uplink DATA (PROTOCOL.md §7; see docs/ARCHITECTURE.md "Open seams")'
  );
}

function describeDelta(a: MeterStats, b: MeterStats): string {
  const parts: string[] = [];
  for (const k of ['replay', 'linkErrors', 'badTag', 'policy']) {
    const d = b[k as keyof MeterStats] - a[k as keyof MeterStats];
    if (d > 0) parts.push(`${k} +${d}`);
  }
  return parts.length > 0 ? parts.join(', ') : 'no refusal counted';
}

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

/** Width of the summary's detail column (the table stays within ~130 columns). */
const DETAIL_WIDTH = 72;

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

/** A decimal option within [min, max]; a usage error otherwise. */
function numOpt(p: ReturnType<typeof parseCommand>, name: string, min: number, max: number): number {
  const s = stringOpt(p, name) ?? '0';
  const n = Number(s);
  if (s.trim() === '' || !Number.isFinite(n) || n < min || n > max)
    throw usageError(`--${name} must be a number from ${min} to ${max}, got '${s}'`);
  return n;
}

/** `vakt demo --radio <kind>`: the network over emulated modems, with a per-meter report. */
async function runRadio(p: ReturnType<typeof parseCommand>, radio: string, io: CliIo): Promise<number> {
  if (!(RADIO_KINDS as readonly string[]).includes(radio))
    throw usageError(`--radio must be one of ${RADIO_KINDS.join(', ')}, got '${radio}'`);
  const s = await runRadioDemo({
    radio: radio as RadioKind,
    meters: intOpt(p, 'meters', 1, 250, 5),
    intervals: intOpt(p, 'intervals', 1, 96, 4),
    loss: numOpt(p, 'loss', 0, 0.9),
    ber: numOpt(p, 'ber', 0, 0.01),
    seed: intOpt(p, 'seed', 0, 2 ** 31, 1),
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
  io.out(s.ok ? 'demo: every step succeeded' : 'demo: some steps FAILED (see above)');
  return s.ok ? 0 : 1;
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
  const meters = intOpt(p, 'meters', 1, 5000, 5);
  const pty = intOpt(p, 'pty', 0, 64, 4);
  const intervals = intOpt(p, 'intervals', 1, 96, 3);
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
      port: intOpt(p, 'http-port', 0, 65535, 0),
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

function printSummary(io: CliIo, s: DemoSummary): void {
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
      `  vakt hes meters --db ${join(s.dir, 'hes.sqlite')} --store-key-file ${join(s.dir, 'hes.key')} --token-file ${join(s.dir, 'admin.token')}`,
    );
  }
  io.out(s.ok ? 'demo: every step succeeded' : 'demo: some steps FAILED (see above)');
}
