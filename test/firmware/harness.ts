// Test harness for the firmware apps: fake board parts, a message network with explicit delivery
// (no re-entrancy), a power-cuttable storage fake, and a minimal HES built directly on the core API.
import { encode as cborEncode } from 'cbor-x';
import { createCryptoCtx } from '@vakt/shared/ctx';
import type { CryptoCtx } from '@vakt/shared/ctx';
import {
  createHeader,
  parseHeader,
  BACKHAUL_VERSION,
  E2E_CTR_WINDOW,
  E2E_VERSION,
  HEADER_LEN,
  HOP_CTR_WINDOW,
  ID_LEN,
  LINK_VERSION,
  MAX_LINK_FRAME,
} from '@vakt/shared/frame';
import { reconstructCounter } from '@vakt/shared/replay';
import { openFrame, sealFrame } from '@vakt/shared/seal';
import { createKeySlot, loadE2eKey, loadE2eKeyFromMaster, loadKcKey, loadLinkKey } from '@vakt/shared/keys';
import type { KeySlot } from '@vakt/shared/keys';
import { createSendCounter } from '@vakt/shared/counter';
import { equalBytes } from '@vakt/shared/utils';
import { DIR_DOWN, DIR_UP, LINK_ACK, LINK_DATA, LINK_JOIN, LINK_LEAVE, OP_FIRMWARE, OP_KEY_UPDATE } from '@vakt/shared/policy';
import { SerialDeframer, encodeSerialFrame, serialEncodedMaxLen } from '@vakt/shared/serial';
import { decodeValue, encodeValue } from '@vakt/shared/cbor';
import type { CborValue } from '@vakt/shared/cbor';
import type { Board, SerialPort, Storage } from '@vakt/boards';
import { startMeter, startConcentrator } from '@vakt/firmware';
import { SyntheticLoad } from '@vakt/boards/sim/load';
import { refCmac, refE2eKey, refOpRoot } from '../conformance/reference.ts';
import type { MeterApp, MeterOptions, ConcentratorApp, ConcentratorOptions } from '@vakt/firmware';

/** Thrown by the storage fake at the instant power is cut. */
export class PowerCut extends Error {}

export type CutMode = 'before' | 'torn' | 'after';

/**
 * Board storage fake. Writes are atomic per record (the Board contract), so a torn write leaves the
 * old record, exactly like a cut before the write; 'after' applies the write and then dies.
 * Once dead, every write throws and changes nothing until revive() (the reboot).
 */
export class FakeStorage implements Storage {
  readonly recs = new Map<string, Uint8Array>();
  writes = 0;
  cutAt = -1;
  mode: CutMode = 'before';
  dead = false;

  read(name: string): Uint8Array | undefined {
    const r = this.recs.get(name);
    return r === undefined ? undefined : new Uint8Array(r);
  }
  write(name: string, data: Uint8Array): void {
    if (this.dead) throw new PowerCut('storage dead');
    const idx = this.writes++;
    if (idx === this.cutAt) {
      this.dead = true;
      if (this.mode === 'after') this.recs.set(name, new Uint8Array(data));
      throw new PowerCut('power cut at write ' + idx);
    }
    this.recs.set(name, new Uint8Array(data));
  }
  erase(name: string): void {
    if (this.dead) throw new PowerCut('storage dead');
    this.recs.delete(name);
  }
  revive(): void {
    this.dead = false;
    this.cutAt = -1;
  }
  bytes(): number {
    let n = 0;
    for (const v of this.recs.values()) n += v.length;
    return n;
  }
}

/** A manual clock; the apps are driven with tick(now) so every() only records. */
export class FakeClock {
  t: number;
  constructor(t: number) {
    this.t = t;
  }
  now(): number {
    return this.t;
  }
  set(t: number): void {
    this.t = t;
  }
  every(): unknown {
    return 0;
  }
}

interface Msg {
  to: (b: Uint8Array) => void;
  bytes: Uint8Array;
  tag: string;
}

/**
 * A network of in-memory wires with a delivery queue: what a port writes is cut into frames at
 * each 0x00 delimiter (as a radio modem sees the line; the apps may write one frame in several
 * writes), each frame is queued as one message, run() delivers in order.
 */
export class Net {
  readonly q: Msg[] = [];
  /** Return true to drop a message (lossy link). */
  drop: ((tag: string, bytes: Uint8Array) => boolean) | null = null;
  /** Called with every message before delivery (taps). */
  taps: ((tag: string, bytes: Uint8Array) => void)[] = [];
  delivered = 0;

  port(tag: string, to: () => (b: Uint8Array) => void, alive?: () => boolean): SerialPort {
    const self = this;
    let pending: number[] = []; // bytes of the frame being written
    return {
      write(data: Uint8Array): void {
        if (alive !== undefined && !alive()) {
          pending = []; // a dead device transmits nothing, not even the rest of a frame
          return;
        }
        for (const b of data) {
          pending.push(b);
          if (b !== 0) continue;
          const frame = new Uint8Array(pending);
          pending = [];
          for (const t of self.taps) t(tag, frame);
          if (self.drop !== null && self.drop(tag, frame)) continue;
          self.q.push({ to: to(), bytes: frame, tag });
        }
      },
      onData(): void {},
    };
  }

  run(limit = 100000): void {
    let n = 0;
    while (this.q.length > 0) {
      const m = this.q.shift()!;
      m.to(m.bytes);
      this.delivered++;
      if (++n > limit) throw new Error('network did not settle');
    }
  }
}

export function ids(): { meter: Uint8Array; conc: Uint8Array; hes: Uint8Array } {
  return {
    meter: Uint8Array.from([0x4d, 1, 2, 3, 4, 5, 6, 7]),
    conc: Uint8Array.from([0x43, 9, 9, 9, 9, 9, 9, 1]),
    hes: Uint8Array.from([0x48, 0xe5, 0, 0, 0, 0, 0, 1]),
  };
}

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 31 + i * 7 + 1) & 0xff;
  return b;
}

/** Everything provisioned for one meter + one concentrator (test fixture keys, not secrets). */
export interface World {
  id: ReturnType<typeof ids>;
  mk: Uint8Array;
  meterLk: Uint8Array;
  concLk: Uint8Array;
  meterProv: Uint8Array;
  concProv: Uint8Array;
}

/** The rig meter's short address (its provisioning image and JOIN). */
export const METER_ADDR = 1;

/** Builds the KPE-style provisioning images of PROTOCOL.md §11 with cbor-x (an independent encoder). */
export function makeWorld(): World {
  const id = ids();
  const mk = bytes(16, 1);
  const meterLk = bytes(16, 2);
  const concLk = bytes(16, 3);
  // Short address 1 on the concentrator's radio hop (the HES JOINs the meter with it).
  const meterProv = new Uint8Array(
    cborEncode([
      1,
      1,
      Buffer.from(id.meter),
      Buffer.from(mk),
      Buffer.from(meterLk),
      0,
      Buffer.from(id.conc),
      Buffer.from(id.hes),
      METER_ADDR,
    ]),
  );
  const concProv = new Uint8Array(cborEncode([1, 2, Buffer.from(id.conc), Buffer.from(concLk), 0, Buffer.from(id.hes)]));
  return { id, mk, meterLk, concLk, meterProv, concProv };
}

/** What the HES received end to end from the meter. */
export interface Uplink {
  op: number;
  gen: number;
  counter: number;
  body: CborValue;
  kc: boolean;
}

/**
 * A minimal HES on the core API: holds the meter's master key (and any replaced keys), the
 * concentrator link key; seals downlink commands, opens uplink frames, link-ACKs DATA frames.
 */
export class MiniHes {
  ctx: CryptoCtx = createCryptoCtx();
  readonly inbox: Uplink[] = [];
  linkFailures = 0;
  e2eFailures: string[] = [];
  /** Master key per generation; operation-root keys per "op:gen" for individual replacements. */
  mkByGen = new Map<number, Uint8Array>();
  okByOpGen = new Map<string, Uint8Array>();
  /** Downlink generation in force per op. */
  gen: number[] = new Array(10).fill(0);
  private slots = new Map<string, KeySlot>();
  private linkUp: KeySlot;
  private linkDown: KeySlot;
  private deframer: SerialDeframer;
  private hdr = createHeader();
  private inner = createHeader();
  private buf = new Uint8Array(MAX_LINK_FRAME);
  private out = new Uint8Array(MAX_LINK_FRAME);
  private body = new Uint8Array(MAX_LINK_FRAME);
  private tx = new Uint8Array(serialEncodedMaxLen(MAX_LINK_FRAME));
  send: (b: Uint8Array) => void = () => {};
  /** Pending key update: scope, gen, key, confirmed. */
  pendingKu: { scope: number; gen: number; key: Uint8Array; confirmed: boolean; req: number } | null = null;
  /** Link counters of DATA frames the concentrator forwarded to us. */
  linkAcked = 0;
  private req = 100;
  /** Inner sender whose DATA frames are never link-acknowledged (null: none), and how many were not. */
  neverAck: Uint8Array | null = null;
  unacked = 0;
  /** Acknowledge every READING as soon as it arrives ([0, 1, seq]). */
  autoAck = false;

  constructor(readonly w: World) {
    this.mkByGen.set(0, w.mk);
    this.linkUp = createKeySlot(BACKHAUL_VERSION, 0, DIR_UP, 0, w.id.hes, w.id.conc);
    this.linkDown = createKeySlot(BACKHAUL_VERSION, 0, DIR_DOWN, 0, w.id.hes, w.id.conc);
    this.addrs.set(Buffer.from(w.id.meter).toString('hex'), METER_ADDR);
    loadLinkKey(this.ctx, this.linkUp, w.concLk, 0, w.id.conc);
    loadLinkKey(this.ctx, this.linkDown, w.concLk, 0, w.id.conc);
    this.linkDown.ctr = createSendCounter(0, 64, () => true);
    this.deframer = new SerialDeframer(MAX_LINK_FRAME, (b, o, l) => this.onFrame(b, o, l));
  }

  /** Short addresses given in JOINs, by meter id (hex): the rig meter has METER_ADDR, others the next free one. */
  private readonly addrs = new Map<string, number>();
  addrOf(meterId: Uint8Array): number {
    const k = Buffer.from(meterId).toString('hex');
    let a = this.addrs.get(k);
    if (a === undefined) this.addrs.set(k, (a = this.addrs.size + 1));
    return a;
  }

  nextReq(): number {
    return ++this.req;
  }

  /** The e2e slot for (op, dir, gen), created on first use with the key material of that generation. */
  slot(op: number, dir: number, gen: number): KeySlot {
    const k = op + ':' + dir + ':' + gen;
    let s = this.slots.get(k);
    if (s === undefined) {
      s = createKeySlot(E2E_VERSION, op, dir, gen, this.w.id.hes, this.w.id.meter);
      const ok = this.okByOpGen.get(op + ':' + gen);
      const mk = this.mkByGen.get(gen);
      if (ok !== undefined) loadE2eKey(this.ctx, s, ok, 0, this.w.id.meter);
      else if (mk !== undefined) loadE2eKeyFromMaster(this.ctx, s, mk, 0, this.w.id.meter);
      else throw new Error('HES has no key for op ' + op + ' gen ' + gen);
      if (dir === DIR_DOWN) s.ctr = createSendCounter(0, 64, () => true);
      this.slots.set(k, s);
    }
    return s;
  }

  private kcSlot(scope: number, gen: number, key: Uint8Array): KeySlot {
    const k = 'kc:' + scope + ':' + gen;
    let s = this.slots.get(k);
    if (s === undefined) {
      s = createKeySlot(E2E_VERSION, OP_KEY_UPDATE, DIR_UP, gen, this.w.id.hes, this.w.id.meter);
      loadKcKey(this.ctx, s, key, 0, this.w.id.meter, scope);
      this.slots.set(k, s);
    }
    return s;
  }

  onBytes(b: Uint8Array): void {
    this.deframer.push(b, 0, b.length);
  }

  private sendLink(type: number, body: Uint8Array, len: number): void {
    const n = sealFrame(this.ctx, this.linkDown, type, body, 0, len, this.out, 0);
    if (n < 0) throw new Error('HES link seal failed ' + n);
    const m = encodeSerialFrame(this.out, 0, n, this.tx, 0);
    this.send(this.tx.slice(0, m));
  }

  /**
   * The whole-image MAC of a FIRMWARE BEGIN (PROTOCOL.md §10, D-10): CMAC(KF[g], image) with
   * KF[g] = KDF(OK[FIRMWARE, g], "vakt-e2e", meterId ‖ 6 ‖ 2 ‖ g), computed by the node:crypto
   * reference, for the FIRMWARE generation in force (or gen).
   */
  imageMac(image: Uint8Array, gen?: number): Uint8Array {
    const g = gen === undefined ? this.gen[OP_FIRMWARE] : gen;
    const id = this.w.id.meter;
    let ok: Uint8Array | undefined = this.okByOpGen.get(OP_FIRMWARE + ':' + g);
    if (ok === undefined) ok = refOpRoot(this.mkByGen.get(g)!, id, OP_FIRMWARE, g);
    return new Uint8Array(refCmac(refE2eKey(ok, id, OP_FIRMWARE, 2, g), image));
  }

  /**
   * Seals a command end to end under the downlink key in force for op, wraps it for the concentrator,
   * sends it. full: carry the full counter on the wire (else the sender's rule of PROTOCOL.md §6 decides).
   */
  command(op: number, value: CborValue, gen?: number, full?: boolean): void {
    const len = encodeValue(value, this.body, 0);
    if (len < 0) throw new Error('encode ' + len);
    this.commandRaw(op, this.body.subarray(0, len), gen, full);
  }

  /** Seals a command whose body is the given bytes as they are (hostile-body tests), then as command(). */
  commandRaw(op: number, body: Uint8Array, gen?: number, full?: boolean): void {
    const g = gen === undefined ? this.gen[op] : gen;
    if (full === true) this.slot(op, DIR_DOWN, g).ctr!.sync = 0;
    // Backhaul DATA body: meter id ‖ e2e frame (PROTOCOL.md §7).
    const n = sealFrame(this.ctx, this.slot(op, DIR_DOWN, g), op, body, 0, body.length, this.out, HEADER_LEN + ID_LEN);
    if (n < 0) throw new Error('HES e2e seal failed ' + n);
    this.lastSealed = this.out.slice(HEADER_LEN + ID_LEN, HEADER_LEN + ID_LEN + n);
    this.forward(this.lastSealed);
  }

  /** Raw already-sealed e2e frame to the rig meter, e.g. a recorded one for a replay attempt. */
  forward(e2e: Uint8Array): void {
    const data = new Uint8Array(ID_LEN + e2e.length);
    data.set(this.w.id.meter, 0);
    data.set(e2e, ID_LEN);
    this.sendLink(LINK_DATA, data, data.length);
  }

  private lastSealed: Uint8Array | null = null;

  /** A copy of the last e2e frame sealed by command() (for replay and forgery tests). */
  lastE2e(): Uint8Array {
    if (this.lastSealed === null) throw new Error('no frame sealed yet');
    return this.lastSealed.slice();
  }

  join(meterId: Uint8Array, lk: Uint8Array, gen: number, addr = this.addrOf(meterId)): void {
    const len = encodeValue([meterId, lk, gen, addr], this.body, 0);
    this.sendLink(LINK_JOIN, this.body, len);
  }

  leave(meterId: Uint8Array): void {
    const len = encodeValue([meterId], this.body, 0);
    this.sendLink(LINK_LEAVE, this.body, len);
  }

  /** Starts (or repeats) a key update: TRANSPORT [req, 1, scope, newGen, key]. */
  transport(scope: number, gen: number, key: Uint8Array): void {
    if (this.pendingKu === null || this.pendingKu.gen !== gen || this.pendingKu.scope !== scope) {
      this.pendingKu = { scope, gen, key, confirmed: false, req: this.nextReq() };
    }
    this.command(OP_KEY_UPDATE, [this.pendingKu.req, 1, scope, gen, key]);
  }

  /** ACTIVATE under the key-update key in force after confirmation (new one if the update replaced it). */
  activate(): void {
    const p = this.pendingKu!;
    this.command(OP_KEY_UPDATE, [p.req, 3, p.scope, p.gen]);
  }

  private onConfirm(scope: number, gen: number): void {
    const p = this.pendingKu;
    if (p === null || p.scope !== scope || p.gen !== gen) return;
    if (!p.confirmed) {
      p.confirmed = true;
      if (scope === 0) {
        this.mkByGen.set(gen, p.key);
        for (let op = 1; op <= 9; op++) this.gen[op] = gen;
      } else {
        this.okByOpGen.set(scope + ':' + gen, p.key);
        this.gen[scope] = gen;
      }
    }
  }

  private onFrame(b: Uint8Array, o: number, l: number): void {
    const h = this.hdr;
    if (parseHeader(b, o, l, h) < 0) {
      this.linkFailures++;
      return;
    }
    const n = openFrame(this.ctx, h, this.linkUp, b, o, this.buf, 0);
    if (n < 0) {
      this.linkFailures++;
      return;
    }
    if (h.op === LINK_ACK) return;
    if (h.op !== LINK_DATA) return;
    // A HES that never settles this sender's frames (a poison frame it cannot take: issue 10 tests).
    // (The backhaul DATA body names the meter first: meter id ‖ e2e frame, PROTOCOL.md §7.)
    if (this.neverAck !== null && n > ID_LEN && equalBytes(this.buf, 0, this.neverAck, 0, ID_LEN)) {
      this.unacked++;
      return;
    }
    // Store-and-forward acknowledgement to the concentrator.
    const ack = encodeValue([h.counter], this.body, 0);
    this.sendLink(LINK_ACK, this.body, ack);
    this.linkAcked++;
    const ih = this.inner;
    // meter id ‖ e2e frame; the id names the key, the MAC checks it.
    const e = n > ID_LEN ? parseHeader(this.buf, ID_LEN, n - ID_LEN, ih) : -1;
    if (e < 0) {
      this.e2eFailures.push('parse ' + e);
      return;
    }
    let slot: KeySlot;
    let kc = false;
    if (ih.op === OP_KEY_UPDATE) {
      const p = this.pendingKu;
      if (p === null || ih.gen !== p.gen) {
        this.e2eFailures.push('unexpected key update uplink');
        return;
      }
      slot = this.kcSlot(p.scope, p.gen, p.key);
      kc = true;
    } else {
      slot = this.slot(ih.op, DIR_UP, ih.gen);
    }
    const m = openFrame(this.ctx, ih, slot, this.buf, ID_LEN, this.body, 0);
    if (m < 0) {
      this.e2eFailures.push('open op ' + ih.op + ' gen ' + ih.gen + ': ' + m);
      return;
    }
    const d = decodeValue(this.body, 0, m);
    if (d.err < 0) {
      this.e2eFailures.push('cbor');
      return;
    }
    const v = d.value as CborValue[];
    if (kc && v[1] === 2) this.onConfirm(v[2] as number, v[3] as number);
    if (this.autoAck && ih.op === 1) this.command(9, [0, 1, v[1] as number]);
    this.inbox.push({ op: ih.op, gen: ih.gen, counter: ih.counter, body: d.value, kc });
  }

  take(op: number): Uplink[] {
    const out: Uplink[] = [];
    for (let i = 0; i < this.inbox.length; i++) {
      if (this.inbox[i].op === op) {
        out.push(this.inbox[i]);
        this.inbox.splice(i, 1);
        i--;
      }
    }
    return out;
  }
}

/**
 * Records every (key, counter) a meter puts on its radio wire, at both layers; flags any reuse. Short
 * counters are reconstructed from the last value seen under the key, as a receiver does (§6); after a
 * reboot the meter's first frame under each key carries the full counter, so a counter reused
 * across a power cut is seen exactly.
 */
export class CounterWitness {
  readonly seen = new Set<string>();
  private readonly last = new Map<string, number>();
  readonly reused: string[] = [];
  frames = 0;
  private df: SerialDeframer;
  private h = createHeader();
  private ih = createHeader();

  constructor() {
    this.df = new SerialDeframer(MAX_LINK_FRAME, (b, o, l) => this.onFrame(b, o, l));
  }
  push(bytes: Uint8Array): void {
    this.df.push(bytes, 0, bytes.length);
  }
  private note(key: string, wire: number, full: number, window: number): void {
    const counter = full === 1 ? wire : reconstructCounter(this.last.get(key) ?? 0, wire, window);
    if (counter > (this.last.get(key) ?? 0)) this.last.set(key, counter);
    const k = key + '#' + counter;
    if (this.seen.has(k)) this.reused.push(k);
    this.seen.add(k);
  }
  private onFrame(b: Uint8Array, o: number, l: number): void {
    if (parseHeader(b, o, l, this.h) < 0) return;
    this.frames++;
    const h = this.h;
    this.note('link:' + h.addr + ':' + h.dir, h.counter, h.full, HOP_CTR_WINDOW);
    if (h.op === LINK_DATA && parseHeader(b, o + h.hdrLen, h.bodyLen, this.ih) === 0) {
      const ih = this.ih;
      this.note('e2e:' + h.addr + ':' + ih.op + ':' + h.dir + ':' + ih.gen, ih.counter, ih.full, E2E_CTR_WINDOW);
    }
  }
}

/** The counter on the wire of a deframed link frame (a hop frame's short form is the low 8 bits), and its body. */
export function linkFrameOf(frame: Uint8Array): { counter: number; full: number; body: Uint8Array } {
  const h = createHeader();
  if (parseHeader(frame, 0, frame.length, h) < 0) throw new Error('not a link frame');
  return { counter: h.counter, full: h.full, body: frame.subarray(h.hdrLen, h.hdrLen + h.bodyLen) };
}

/** A meter + concentrator + MiniHes wired through a Net. */
export class Rig {
  net = new Net();
  w: World;
  hes: MiniHes;
  meterStorage = new FakeStorage();
  concStorage = new FakeStorage();
  clock: FakeClock;
  meter!: MeterApp;
  conc!: ConcentratorApp;
  meterWitness = new CounterWitness();
  relay: boolean[] = [];
  logs: string[] = [];
  /** The consumer behind the meter: the sim board's synthetic load, delivered as pulses by advance(). */
  load: SyntheticLoad;

  constructor(
    t0: number,
    readonly meterOpts: MeterOptions = {},
    readonly concOpts: ConcentratorOptions = {},
    beforeMeterBoot?: (rig: Rig) => void,
  ) {
    this.w = makeWorld();
    this.clock = new FakeClock(t0);
    this.load = new SyntheticLoad(t0);
    this.hes = new MiniHes(this.w);
    this.meterStorage.recs.set('prov', this.w.meterProv);
    this.concStorage.recs.set('prov', this.w.concProv);
    this.net.taps.push((tag, b) => {
      if (tag === 'meter') this.meterWitness.push(b);
    });
    this.hes.send = this.net.port('hes', () => (b) => this.conc.onHes(b)).write;
    this.bootConcentrator();
    this.joinMeter();
    if (beforeMeterBoot !== undefined) beforeMeterBoot(this);
    this.bootMeter();
    this.net.run();
  }

  board(storage: FakeStorage, serial: SerialPort[]): Board {
    return {
      profile: { name: 'test', engine: 'node' },
      serial,
      storage,
      clock: this.clock,
      pins: {
        relay: (c: boolean) => {
          this.relay.push(c);
        },
        onPulse: () => {},
        onTamper: () => {},
      },
      log: (m: string) => {
        this.logs.push(m);
      },
    };
  }

  bootMeter(): MeterApp {
    const st = this.meterStorage;
    const port = this.net.port(
      'meter',
      () => (b) => this.conc.onMeterLine(1, b),
      () => !st.dead,
    );
    this.meter = startMeter(this.board(st, [port]), { attach: false, ...this.meterOpts });
    return this.meter;
  }

  bootConcentrator(): ConcentratorApp {
    const st = this.concStorage;
    const toHes = this.net.port(
      'conc-up',
      () => (b) => this.hes.onBytes(b),
      () => !st.dead,
    );
    // A meter whose power is off hears nothing.
    const toMeter = this.net.port(
      'conc-down',
      () => (b) => {
        if (!this.meterStorage.dead) this.meter.onSerial(b);
      },
      () => !st.dead,
    );
    this.conc = startConcentrator(this.board(st, [toHes, toMeter]), { attach: false, ...this.concOpts });
    return this.conc;
  }

  /** HES provisions the meter at the concentrator (JOIN under the concentrator link key). */
  joinMeter(): void {
    this.hes.join(this.w.id.meter, this.w.meterLk, 0);
    this.net.run();
  }

  /** Advances time by dt seconds in steps, feeding the load's pulses, ticking both apps and settling the network each step. */
  advance(dt: number, step = 60): void {
    const end = this.clock.t + dt;
    while (this.clock.t < end) {
      this.clock.t = Math.min(end, this.clock.t + step);
      // The load runs whether or not the meter is powered; a dead meter counts nothing.
      const pulses = this.load.advance(this.clock.t);
      if (!this.meterStorage.dead) {
        if (pulses > 0) this.meter.onPulse(pulses);
        this.meter.tick(this.clock.t);
      }
      this.net.run();
      this.conc.tick(this.clock.t);
      this.net.run();
    }
  }
}

/** What a serial-encoded frame on a wire is: link type, direction, and the inner e2e op (0 if none). */
export function classify(bytes: Uint8Array): { layer: number; link: number; dir: number; op: number; body: CborValue | null } {
  const df = new SerialDeframer(MAX_LINK_FRAME);
  df.push(bytes, 0, bytes.length);
  const h = createHeader();
  if (df.frameLen < 0 || parseHeader(df.buf, 0, df.frameLen, h) < 0) return { layer: -1, link: -1, dir: -1, op: 0, body: null };
  let op = 0;
  if (h.op === LINK_DATA) {
    const ih = createHeader();
    // Radio hop: the body is the e2e frame; backhaul: meter id ‖ e2e frame.
    const at = h.version === LINK_VERSION ? h.hdrLen : HEADER_LEN + ID_LEN;
    if (parseHeader(df.buf, at, h.frameLen - at - h.tagLen, ih) === 0) op = ih.op;
  }
  return { layer: h.version, link: h.op, dir: h.dir, op, body: null };
}
