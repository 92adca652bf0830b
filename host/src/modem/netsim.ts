/**
 * A whole radio network in simulated time: the real meter and concentrator firmware on sim boards,
 * each behind an emulated modem and its real driver on one emulated RadioChannel, and the real HES
 * library behind the concentrator's backhaul (in process, with a latency, no TCP). Used by the
 * lossy-channel tests, `npm run bench:radio` and `vakt demo --radio`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock, SerialPort } from '@vakt/boards';
import {
  createHeader,
  DIR_UP,
  encodeSerialFrame,
  LINK_DATA,
  LINK_VERSION,
  MAX_LINK_FRAME,
  OP_READING,
  parseRadioHeader,
  SerialDeframer,
  serialEncodedMaxLen,
} from '@vakt/shared';
import { SHORT_ADDR_LEN } from '@vakt/shared/fragment';
import { deviceStorage, runConcentrator, runMeter, type SimConcentrator, type SimMeter } from '../bridge/devices.ts';
import { Hes } from '../hes/hes.ts';
import { initKpe, produceBatch } from '../kpe/kpe.ts';
import { findBand, type BandProfile } from './airtime.ts';
import { RadioChannel, type ChannelOptions } from './emu/channel.ts';
import { emulatedModem, type EmulatedModem, type RadioKind } from './emu/index.ts';
import { Rng, SimScheduler } from './emu/sched.ts';
import { RadioPort, ROLE_PORT } from './radio-port.ts';

/** Settings of a simulated network. */
export interface NetSimOptions {
  meters: number;
  radio: RadioKind;
  channel: ChannelOptions;
  /** Band of the meters (default eu868-g, 1 %) and of the concentrator (default eu868-g3, 10 %: a gateway's downlink sub-band). */
  meterBand?: BandProfile;
  concentratorBand?: BandProfile;
  /** Meters' ALOHA jitter before a packet (default METER_JITTER_MS) and the concentrator's (default 2 s). */
  meterJitterMs?: number;
  concentratorJitterMs?: number;
  /** Load-profile interval (default 900 s). */
  intervalS?: number;
  /** Seconds between a meter's re-pushes of unacknowledged readings (default 300). */
  meterRetryS?: number;
  /** The HES's end-to-end command retry, ms (default HES_RETRY_MS). */
  hesRetryMs?: number;
  /** Copies of each fragment of a long downlink unit (default 3: firmware chunks on a lossy channel). */
  fragmentCopies?: number;
  /** Copies of each fragment of a meter's fragmented reply (default 2). */
  replyCopies?: number;
  /** Backhaul latency concentrator ↔ HES, ms (default 50). */
  backhaulMs?: number;
  log?: (line: string) => void;
}

/** A meter in the simulation with its radio. */
export interface NetMeter {
  sim: SimMeter;
  modem: EmulatedModem;
  port: RadioPort;
}

/** Period of the meters' tick (they only close intervals and retry: whole seconds suffice). */
const METER_TICK_MS = 5000;
const CONCENTRATOR_TICK_MS = 1000;
/**
 * The HES pumps due downlink this often without traffic (its TCP server: every second; here every
 * 10 s, as each pump is an SQLite transaction and commands retry after minutes on this radio). It
 * also pumps after every ingested batch, as the server does.
 */
const HES_PUMP_MS = 10_000;
/**
 * The HES's end-to-end retry on a slow radio: longer than the concentrator's own tries (5 × 30 s),
 * so the two layers do not both retransmit one command (the HES default of 30 s suits a fast line).
 */
export const HES_RETRY_MS = 600_000;
/**
 * Meters spread their spontaneous packets over this long (all close an interval at the same second).
 * Measured with 50 E32 meters at 10 % loss over 8 simulated hours: 120 s left 75 readings older than
 * an hour missing, 300 s none (median delay 5.5 min).
 */
export const METER_JITTER_MS = 300_000;
/** Simulated start: a whole day boundary, so intervals line up with the clock. */
const START_S = 1_800_000_000 - (1_800_000_000 % 86_400);

/** The running simulation. */
export class NetSim {
  readonly startMs = START_S * 1000;
  readonly sched = new SimScheduler(START_S * 1000);
  readonly channel: RadioChannel;
  readonly meters: NetMeter[] = [];
  conc!: SimConcentrator;
  concModem!: EmulatedModem;
  concPort!: RadioPort;
  hes!: Hes;
  /** Ingest outcomes by kind/error. */
  readonly ingest = new Map<string, number>();
  /** Per meter id: when each reading (seq) was closed by the meter and first stored by the HES (ms). */
  readonly closedAt = new Map<string, Map<number, number>>();
  readonly storedAt = new Map<string, Map<number, number>>();
  /** Per meter id: READING frames it handed to its radio (first sends and re-pushes). */
  readonly readingFrames = new Map<string, number>();
  /** READING link frames seen, by length (the ideal airtime uses the most common one). */
  readonly readingFrameLens = new Map<number, number>();
  private dir = '';
  private readonly rng: Rng;

  constructor(readonly o: NetSimOptions) {
    this.channel = new RadioChannel(this.sched, o.channel);
    this.rng = new Rng(o.channel.seed ^ 0x5eed);
  }

  /** A board clock on simulated time. */
  private clock(): Clock {
    const s = this.sched;
    let offsetS = 0;
    return {
      now: () => Math.floor(s.now() / 1000) + offsetS,
      set: (t: number) => {
        offsetS = t - Math.floor(s.now() / 1000);
      },
      every: (ms: number, cb: () => void) => s.every(ms, cb),
    };
  }

  /** Produces keys, starts the HES, the concentrator and the meters, configures every modem. */
  async start(): Promise<void> {
    const o = this.o;
    this.dir = mkdtempSync(join(tmpdir(), 'vakt-netsim-'));
    const kpe = initKpe(join(this.dir, 'kpe'));
    const init = await Hes.init({
      dbPath: join(this.dir, 'hes.sqlite'),
      storeKey: randomBytes(32),
      kpePublicKeys: [kpe.pub],
      adminUser: 'admin',
      synchronous: 'normal',
      retryMs: o.hesRetryMs ?? HES_RETRY_MS,
    });
    this.hes = init.hes;
    const batch = produceBatch(kpe, { meters: o.meters, concentrators: 1, hesCert: init.cert, outDir: join(this.dir, 'out') });
    await this.hes.importShipment(new Uint8Array(readFileSync(batch.shipmentFile)), 'admin', kpe.pub);
    const image = new Map(batch.images.map((i) => [i.id, new Uint8Array(readFileSync(i.file))]));
    const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
    const random = (): number => this.rng.next();
    const log = o.log ?? (() => undefined);

    const cid = hex(batch.concentrators[0]!.id);
    this.concModem = emulatedModem(o.radio, this.channel, {
      name: `concentrator ${cid}`,
      band: o.concentratorBand ?? findBand('eu868-g3'),
      accessJitterMs: o.concentratorJitterMs ?? 2000,
      random,
      log,
      maxQueue: 256,
      maxWaitMs: 120_000,
    });
    // Fragments of a v2 hop frame name the meter's short address from the frame itself (wire-v2 §7).
    this.concPort = new RadioPort(this.concModem.driver, {
      shortAddr: shortAddr(0),
      reassemblySlots: Math.max(8, Math.min(o.meters, 64)),
      fragmentCopies: o.fragmentCopies ?? ROLE_PORT.concentrator.fragmentCopies!,
    });
    const backhaul = this.backhaul(cid);
    const conc = runConcentrator({
      image: image.get(cid)!,
      hes: backhaul,
      meterLines: [this.concPort],
      storage: deviceStorage(image.get(cid)!, undefined),
      clock: this.clock(),
      options: {
        attach: false,
        maxMeters: o.meters + 8,
        upSlots: Math.max(16, 2 * o.meters),
        downSlots: Math.max(16, 2 * o.meters),
        retryS: 30,
      },
    });
    this.conc = conc;
    backhaul.onData((c) => conc.app.onHes(c));
    this.concPort.onData((c) => conc.app.onMeterLine(1, c));
    this.sched.every(CONCENTRATOR_TICK_MS, () => conc.app.tick(Math.floor(this.sched.now() / 1000)));

    batch.meters.forEach((mk, i) => {
      const id = hex(mk.id);
      const modem = emulatedModem(o.radio, this.channel, {
        name: `meter ${id}`,
        band: o.meterBand ?? findBand('eu868-g'),
        accessJitterMs: o.meterJitterMs ?? METER_JITTER_MS,
        random,
        log,
      });
      const mine = shortAddr(i + 1);
      const concAddr = shortAddr(0);
      const port = new RadioPort(modem.driver, {
        shortAddr: mine,
        accept: (a, o) => sameShort(a, o, mine) || sameShort(a, o, concAddr),
        replyCopies: o.replyCopies ?? ROLE_PORT.meter.replyCopies!,
      });
      const sim = runMeter({
        image: image.get(id)!,
        line: port,
        storage: deviceStorage(image.get(id)!, undefined),
        clock: this.clock(),
        syntheticLoad: false,
        options: { attach: false, intervalS: o.intervalS ?? 900, retryS: o.meterRetryS ?? 300 },
      });
      port.onData((c) => sim.app.onSerial(c));
      this.closedAt.set(sim.id, new Map());
      this.countReadings(sim.id, port);
      // Meters tick at different phases, as their crystals would.
      this.sched.after((i * 997) % METER_TICK_MS, () => this.sched.every(METER_TICK_MS, () => this.meterTick(sim)));
      this.meters.push({ sim, modem, port });
    });
    for (const m of [this.concModem, ...this.meters.map((x) => x.modem)]) await this.sched.settle(m.driver.start());
    conc.app.hello();
    this.sched.every(HES_PUMP_MS, () => this.pumpHes(cid, backhaul));
  }

  /** Counts the READING frames a meter writes: an UP hop DATA frame around an e2e READING (wire v2). */
  private countReadings(id: string, port: RadioPort): void {
    this.readingFrames.set(id, 0);
    const write = port.write.bind(port);
    const hop = createHeader();
    const e2e = createHeader();
    const d = new SerialDeframer(MAX_LINK_FRAME, (b, off, len) => {
      if (parseRadioHeader(b, off, len, hop) !== 0 || hop.version !== LINK_VERSION || hop.op !== LINK_DATA || hop.dir !== DIR_UP) return;
      if (parseRadioHeader(b, off + hop.hdrLen, hop.bodyLen, e2e) === 0 && e2e.op === OP_READING) {
        this.readingFrames.set(id, this.readingFrames.get(id)! + 1);
        this.readingFrameLens.set(len, (this.readingFrameLens.get(len) ?? 0) + 1);
      }
    });
    port.write = (data: Uint8Array): void => {
      d.push(data, 0, data.length);
      write(data);
    };
  }

  /** The most common READING link frame length (0 before any). */
  readingFrameLen(): number {
    let best = 0;
    let n = 0;
    for (const [len, k] of this.readingFrameLens)
      if (k > n || (k === n && len < best)) {
        best = len;
        n = k;
      }
    return best;
  }

  private meterTick(sim: SimMeter): void {
    const before = sim.app.profile.nextSeq_;
    sim.app.tick(Math.floor(this.sched.now() / 1000));
    const closed = this.closedAt.get(sim.id)!;
    for (let s = before; s < sim.app.profile.nextSeq_; s++) closed.set(s, this.sched.now());
  }

  /** The concentrator's serial[0]: frames reach the HES library after the backhaul latency, and its answers come back the same way. */
  private backhaul(cid: string): SerialPort & { deliver(frames: Uint8Array[]): void } {
    const cbs: ((c: Uint8Array) => void)[] = [];
    const lat = this.o.backhaulMs ?? 50;
    const out = new Uint8Array(serialEncodedMaxLen(MAX_LINK_FRAME));
    let bound = false;
    let pending: Uint8Array[] = [];
    const port = {
      write: (d: Uint8Array) => {
        deframer.push(d, 0, d.length);
      },
      onData: (cb: (c: Uint8Array) => void) => {
        cbs.push(cb);
      },
      deliver: (frames: Uint8Array[]) => {
        for (const f of frames) {
          const n = encodeSerialFrame(f, 0, f.length, out, 0);
          const c = out.slice(0, n);
          this.sched.after(lat, () => {
            for (const cb of cbs) cb(c);
          });
        }
      },
    };
    const ingest = async (): Promise<void> => {
      const batch = pending;
      pending = [];
      const results = await this.hes.ingestBatch(batch, this.nowMs());
      const counters: number[] = [];
      for (const r of results) {
        const key = r.ok ? r.kind : r.error;
        this.ingest.set(key, (this.ingest.get(key) ?? 0) + 1);
        if (r.ok && r.kind === 'reading' && r.meter !== undefined && r.seq !== undefined) {
          let m = this.storedAt.get(r.meter);
          if (m === undefined) this.storedAt.set(r.meter, (m = new Map()));
          if (!m.has(r.seq)) m.set(r.seq, this.sched.now());
        }
        if (r.concentrator === cid && (r.linkCounter !== undefined || (r.ok && r.kind === 'link_ack')) && !bound) {
          bound = true;
          this.hes.concentratorConnected(cid);
        }
        if (r.linkCounter !== undefined && r.concentrator === cid) counters.push(r.linkCounter);
      }
      if (bound) port.deliver(await this.hes.linkAcks(cid, counters));
      await this.pumpHes(cid, port);
    };
    const deframer = new SerialDeframer(MAX_LINK_FRAME, (b, off, len) => {
      if (pending.length === 0) this.sched.after(lat, ingest);
      pending.push(b.slice(off, off + len));
    });
    return port;
  }

  private async pumpHes(cid: string, port: { deliver(frames: Uint8Array[]): void }): Promise<void> {
    port.deliver(await this.hes.nextDownlink(cid, this.nowMs()));
  }

  /** Simulated time in whole ms (the HES stores integers). */
  nowMs(): number {
    return Math.floor(this.sched.now());
  }

  /** Runs simulated time forward by `ms` (the HES's async work included). */
  run(ms: number): Promise<void> {
    return this.sched.runUntilAsync(this.sched.now() + ms);
  }

  /** Runs until `cond` holds or `maxMs` passed (checked every `stepMs`); true if it held. */
  async runUntil(cond: () => boolean | Promise<boolean>, maxMs: number, stepMs = 10_000): Promise<boolean> {
    const end = this.sched.now() + maxMs;
    while (this.sched.now() < end) {
      if (await cond()) return true;
      await this.run(stepMs);
    }
    return cond();
  }

  async close(): Promise<void> {
    await this.hes.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function sameShort(a: Uint8Array, o: number, b: Uint8Array): boolean {
  for (let i = 0; i < SHORT_ADDR_LEN; i++) if (a[o + i] !== b[i]) return false;
  return true;
}

/** Short address of device `i` (0 = concentrator). */
export function shortAddr(i: number): Uint8Array {
  const a = new Uint8Array(SHORT_ADDR_LEN);
  for (let k = SHORT_ADDR_LEN - 1, v = i; k >= 0; k--, v = Math.floor(v / 256)) a[k] = v & 0xff;
  return a;
}
