// Every meter code path on the real engines. Espruino parses function bodies only when they first
// run, so a path never executed on the engine is a path never checked there. This scenario drives
// every operation (reading push, register and profile read, ACK, relay, config, clock, firmware
// download + activation + corrupted-image rollback, operation-key and master-key update with a
// repeated TRANSPORT, replay, forgery, garbage, reboot) through the meter bundle on Node's bare vm,
// Moddable XS and (when ESPRUINO_BIN is set) Espruino. The downlink is precomputed here with the
// core API; the uplink transcripts must be byte-identical on every engine and are verified frame
// by frame with the HES-side keys.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildFirmware } from '../../scripts/build-firmware.ts';
import { runEngine, parseSteps, espruinoBin, xsAvailable, harnessPieces } from '../xs/engine-run.ts';
import type { StepResult } from '../xs/engine-run.ts';
import { createCryptoCtx } from '@vakt/shared/ctx';
import { createHeader, parseHeader, E2E_VERSION, LINK_VERSION, MAX_LINK_FRAME } from '@vakt/shared/frame';
import { sealFrame, openFrame } from '@vakt/shared/seal';
import { createKeySlot, loadE2eKey, loadE2eKeyFromMaster, loadKcKey, loadLinkKey } from '@vakt/shared/keys';
import type { KeySlot } from '@vakt/shared/keys';
import { createSendCounter } from '@vakt/shared/counter';
import {
  DIR_DOWN,
  DIR_UP,
  LINK_DATA,
  OP_ACK,
  OP_CLOCK,
  OP_CONFIG,
  OP_EVENT,
  OP_FIRMWARE,
  OP_KEY_UPDATE,
  OP_READ,
  OP_READING,
  OP_RELAY,
} from '@vakt/shared/policy';
import { SerialDeframer, encodeSerialFrame, serialEncodedMaxLen } from '@vakt/shared/serial';
import { decodeValue, encodeValue } from '@vakt/shared/cbor';
import type { CborValue } from '@vakt/shared/cbor';
import { METER_ADDR, makeWorld } from './harness.ts';
import { refCmac, refE2eKey, refOpRoot } from '../conformance/reference.ts';

const harness = path.join(__dirname, '..', 'xs', 'meter-harness.js');
const T0 = 1_800_000_000;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** HES + concentrator side of the scenario: seals downlink exactly as they would. */
class Downlink {
  ctx = createCryptoCtx();
  w = makeWorld();
  private slots = new Map<string, KeySlot>();
  mk = new Map<number, Uint8Array>([[0, this.w.mk]]);
  ok = new Map<string, Uint8Array>();
  kc = new Map<number, { scope: number; key: Uint8Array }>();
  link: KeySlot;
  linkUp: KeySlot;
  lastCmd: Uint8Array | null = null;
  constructor() {
    this.link = createKeySlot(LINK_VERSION, 0, DIR_DOWN, 0, this.w.id.conc, this.w.id.meter, METER_ADDR);
    loadLinkKey(this.ctx, this.link, this.w.meterLk, 0, this.w.id.meter);
    this.link.ctr = createSendCounter(0, 64, () => true);
    this.linkUp = createKeySlot(LINK_VERSION, 0, DIR_UP, 0, this.w.id.conc, this.w.id.meter, METER_ADDR);
    loadLinkKey(this.ctx, this.linkUp, this.w.meterLk, 0, this.w.id.meter);
  }
  slot(op: number, dir: number, gen: number): KeySlot {
    const k = op + ':' + dir + ':' + gen;
    let s = this.slots.get(k);
    if (s === undefined) {
      s = createKeySlot(E2E_VERSION, op, dir, gen, this.w.id.hes, this.w.id.meter);
      const ok = this.ok.get(op + ':' + gen);
      if (ok !== undefined) loadE2eKey(this.ctx, s, ok, 0, this.w.id.meter);
      else loadE2eKeyFromMaster(this.ctx, s, this.mk.get(gen)!, 0, this.w.id.meter);
      if (dir === DIR_DOWN) s.ctr = createSendCounter(0, 64, () => true);
      this.slots.set(k, s);
    }
    return s;
  }
  /** One serial chunk carrying a link DATA frame with the sealed command (hex). */
  cmd(op: number, v: CborValue, gen: number): { e2e: Uint8Array; hex: string } {
    const body = new Uint8Array(2048);
    const n = encodeValue(v, body, 0);
    const e2e = new Uint8Array(MAX_LINK_FRAME);
    const m = sealFrame(this.ctx, this.slot(op, DIR_DOWN, gen), op, body, 0, n, e2e, 0);
    if (m < 0) throw new Error('seal ' + m);
    if (m > 1024) throw new Error('end-to-end frame too large to forward: ' + m);
    this.lastCmd = e2e.slice(0, m);
    return { e2e: e2e.slice(0, m), hex: this.wrap(e2e.subarray(0, m)) };
  }
  wrap(e2e: Uint8Array): string {
    const out = new Uint8Array(MAX_LINK_FRAME);
    const l = sealFrame(this.ctx, this.link, LINK_DATA, e2e, 0, e2e.length, out, 0);
    const ser = new Uint8Array(serialEncodedMaxLen(l));
    return hex(ser.subarray(0, encodeSerialFrame(out, 0, l, ser, 0)));
  }
  /** Opens a meter uplink chunk: link frame, then the end-to-end frame under the HES's keys. */
  open(chunk: string): { link: number; op: number; gen: number; counter: number; body: CborValue } | null {
    const b = Buffer.from(chunk, 'hex');
    const d = new SerialDeframer(MAX_LINK_FRAME);
    d.push(b, 0, b.length);
    const h = createHeader();
    if (d.frameLen < 0 || parseHeader(d.buf, 0, d.frameLen, h) < 0) return null;
    const lb = new Uint8Array(MAX_LINK_FRAME);
    const ln = openFrame(this.ctx, h, this.linkUp, d.buf, 0, lb, 0);
    if (ln < 0) throw new Error('link open ' + ln);
    if (h.op !== LINK_DATA) return { link: h.op, op: 0, gen: 0, counter: h.counter, body: decodeValue(lb, 0, ln).value };
    const ih = createHeader();
    if (parseHeader(lb, 0, ln, ih) < 0) throw new Error('inner header');
    let s: KeySlot;
    const k = this.kc.get(ih.gen);
    if (ih.op === OP_KEY_UPDATE && k !== undefined) {
      s = createKeySlot(E2E_VERSION, OP_KEY_UPDATE, DIR_UP, ih.gen, this.w.id.hes, this.w.id.meter);
      loadKcKey(this.ctx, s, k.key, 0, this.w.id.meter, k.scope);
    } else s = this.slot(ih.op, DIR_UP, ih.gen);
    const out = new Uint8Array(MAX_LINK_FRAME);
    const n = openFrame(this.ctx, ih, s, lb, 0, out, 0);
    if (n < 0) throw new Error('e2e open op ' + ih.op + ' gen ' + ih.gen + ': ' + n);
    return { link: LINK_DATA, op: ih.op, gen: ih.gen, counter: ih.counter, body: decodeValue(out, 0, n).value };
  }
}

type Step = { do: 'tick'; t: number } | { do: 'rx'; hex: string } | { do: 'pulse'; n: number } | { do: 'reboot' };

function buildScenario(dl: Downlink): { steps: Step[]; labels: string[] } {
  const steps: Step[] = [];
  const labels: string[] = [];
  const add = (label: string, s: Step) => {
    labels.push(label);
    steps.push(s);
  };
  const rx = (label: string, op: number, v: CborValue, gen: number) => add(label, { do: 'rx', hex: dl.cmd(op, v, gen).hex });
  add('pulse', { do: 'pulse', n: 250 });
  add('interval', { do: 'tick', t: T0 + 900 });
  add('interval2', { do: 'tick', t: T0 + 1800 });
  rx('read-register', OP_READ, [1, 1], 0);
  rx('read-profile', OP_READ, [2, 2, 1, 5], 0);
  rx('read-bad', OP_READ, [3, 9], 0);
  rx('ack', OP_ACK, [0, OP_READING, 2], 0);
  rx('relay-open', OP_RELAY, [4, 0], 0);
  rx('config', OP_CONFIG, [5, { 1: 3, 2: 1800 }], 0);
  rx('config-bad', OP_CONFIG, [6, { 7: 1 }], 0);
  rx('clock', OP_CLOCK, [7, T0 + 2000], 0);
  const img = new Uint8Array(160).map((_, i) => (i * 29 + 3) & 0xff);
  // Whole-image MAC under KF[0] (PROTOCOL.md §10, D-10), by the node:crypto reference.
  const id = dl.w.id.meter;
  const mac = new Uint8Array(refCmac(refE2eKey(refOpRoot(dl.w.mk, id, OP_FIRMWARE, 0), id, OP_FIRMWARE, 2, 0), img));
  rx('fw-begin', OP_FIRMWARE, [8, 1, img.length, mac, 4], 0);
  rx('fw-chunk0', OP_FIRMWARE, [8, 2, 0, img.subarray(0, 100)], 0);
  rx('fw-gap', OP_FIRMWARE, [8, 2, 120, img.subarray(120, 130)], 0);
  rx('fw-chunk1', OP_FIRMWARE, [8, 2, 100, img.subarray(100)], 0);
  rx('fw-activate', OP_FIRMWARE, [8, 3], 0);
  const bad = new Uint8Array(img);
  bad[10] ^= 4;
  rx('fw2-begin', OP_FIRMWARE, [9, 1, bad.length, mac, 5], 0);
  rx('fw2-chunk0', OP_FIRMWARE, [9, 2, 0, bad.subarray(0, 80)], 0);
  rx('fw2-chunk1', OP_FIRMWARE, [9, 2, 80, bad.subarray(80)], 0);
  rx('fw2-activate', OP_FIRMWARE, [9, 3], 0);
  // Operation-key update of RELAY: TRANSPORT twice, ACTIVATE under the old key-update key.
  const kRelay = new Uint8Array(16).fill(0x3c);
  dl.kc.set(1, { scope: OP_RELAY, key: kRelay });
  rx('ku-transport', OP_KEY_UPDATE, [10, 1, OP_RELAY, 1, kRelay], 0);
  rx('ku-transport-repeat', OP_KEY_UPDATE, [10, 1, OP_RELAY, 1, kRelay], 0);
  rx('ku-activate', OP_KEY_UPDATE, [10, 3, OP_RELAY, 1], 0);
  dl.ok.set(OP_RELAY + ':1', kRelay);
  rx('relay-gen1', OP_RELAY, [11, 1], 1);
  // Master-key update to generation 2, activated by a frame under the staged generation.
  const mk2 = new Uint8Array(16).fill(0xc3);
  dl.kc.set(2, { scope: 0, key: mk2 });
  rx('mk-transport', OP_KEY_UPDATE, [12, 1, 0, 2, mk2], 0);
  dl.mk.set(2, mk2);
  rx('mk-activate', OP_KEY_UPDATE, [12, 3, 0, 2], 2);
  // Attacks and noise.
  const old = dl.cmd(OP_CLOCK, [13, T0 + 2100], 2);
  add('clock-gen2', { do: 'rx', hex: old.hex });
  rx('clock-gen2-again', OP_CLOCK, [13, T0 + 2100], 2);
  add('duplicate', { do: 'rx', hex: dl.wrap(dl.lastCmd!) });
  add('replay', { do: 'rx', hex: dl.wrap(old.e2e) });
  const forged = dl.cmd(OP_CLOCK, [14, T0], 2).e2e;
  forged[forged.length - 1] ^= 1;
  add('forgery', { do: 'rx', hex: dl.wrap(forged) });
  rx('downgrade', OP_RELAY, [15, 0], 1);
  add('garbage', { do: 'rx', hex: '00ff13' + 'ab'.repeat(40) + '00' + '0102030000' });
  add('reboot', { do: 'reboot' });
  rx('read-after-reboot', OP_READ, [16, 1], 2);
  add('interval3', { do: 'tick', t: T0 + 3600 });
  return { steps, labels };
}

describe('every meter path on the real engines', () => {
  let dir: string;
  let meter: string;
  let adapter: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vakt-paths-'));
    const r = await buildFirmware({ outDir: dir, only: ['meter', 'adapters'] });
    expect(r.bundles.flatMap((b) => b.violations)).toEqual([]);
    meter = path.join(dir, 'meter.js');
    adapter = path.join(dir, 'espruino-adapter.js');
  }, 120_000);
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function verify(dl: Downlink, labels: string[], steps: StepResult[]): void {
    const up = new Map<string, ReturnType<Downlink['open']>[]>();
    for (const s of steps) {
      const label = s.i < 0 ? 'boot' : labels[s.i];
      up.set(
        label,
        s.out.map((o) => dl.open(o)),
      );
    }
    const e2e = (label: string) =>
      up
        .get(label)!
        .filter((f) => f !== null && f.link === LINK_DATA)
        .map((f) => f!);
    const bodyOf = (label: string, op: number) =>
      e2e(label)
        .filter((f) => f.op === op)
        .map((f) => f.body as CborValue[]);
    expect(bodyOf('boot', OP_EVENT)[0].slice(0, 2)).toEqual([0, 2]);
    expect(bodyOf('interval', OP_READING)[0].slice(0, 4)).toEqual([0, 1, T0 + 900, 250]);
    expect(bodyOf('read-register', OP_READ)[0].slice(0, 2)).toEqual([1, 1]);
    expect((bodyOf('read-profile', OP_READ)[0][2] as CborValue[]).length).toBe(2);
    expect(bodyOf('read-bad', OP_READ)[0]).toEqual([3, 2]);
    expect(bodyOf('relay-open', OP_RELAY)[0]).toEqual([4, 0, 0]);
    expect(bodyOf('config', OP_CONFIG)[0]).toEqual([5, 0]);
    expect(bodyOf('config-bad', OP_CONFIG)[0]).toEqual([6, 2]);
    expect(bodyOf('clock', OP_CLOCK)[0]).toEqual([7, 0, T0 + 1800]);
    expect(bodyOf('fw-gap', OP_FIRMWARE)[0]).toEqual([8, 2, 100]);
    expect(bodyOf('fw-activate', OP_FIRMWARE)[0]).toEqual([8, 0, 0]);
    expect(bodyOf('fw2-activate', OP_FIRMWARE)[0]).toEqual([9, 1, 0]);
    const confirms = [...e2e('ku-transport'), ...e2e('ku-transport-repeat')].filter((f) => f.op === OP_KEY_UPDATE);
    expect(confirms.map((f) => [f.gen, f.body])).toEqual([
      [1, [10, 2, OP_RELAY, 1]],
      [1, [10, 2, OP_RELAY, 1]],
    ]);
    // Each ACTIVATE is answered by ACK [req, 7, newGen] under the ACK key in force (PROTOCOL.md §8 step 4).
    expect(
      e2e('ku-activate')
        .filter((f) => f.op === OP_ACK)
        .map((f) => [f.gen, f.body]),
    ).toEqual([[0, [10, OP_KEY_UPDATE, 1]]]);
    expect(
      e2e('mk-activate')
        .filter((f) => f.op === OP_ACK)
        .map((f) => [f.gen, f.body]),
    ).toEqual([[2, [12, OP_KEY_UPDATE, 2]]]);
    expect(
      e2e('relay-gen1')
        .filter((f) => f.op === OP_RELAY)
        .map((f) => [f.gen, f.body]),
    ).toEqual([[1, [11, 1, 0]]]);
    expect(
      e2e('mk-transport')
        .filter((f) => f.op === OP_KEY_UPDATE)
        .map((f) => f.gen),
    ).toEqual([2]);
    expect(
      e2e('clock-gen2')
        .filter((f) => f.op === OP_CLOCK)
        .map((f) => f.gen),
    ).toEqual([2]);
    expect(
      e2e('read-after-reboot')
        .filter((f) => f.op === OP_READ)
        .map((f) => f.gen),
    ).toEqual([2]);
    const st = steps.find((x) => x.i === labels.indexOf('garbage'))!.stats; // before the reboot resets them
    expect(st.replay).toBe(1);
    // The retransmitted last command is a duplicate: LINK_ACKed, no replay counted, no response.
    const statsAt = (label: string) => steps.find((x) => x.i === labels.indexOf(label))!.stats;
    expect(statsAt('duplicate').replay).toBe(statsAt('clock-gen2-again').replay);
    expect(statsAt('replay').replay).toBe(statsAt('duplicate').replay + 1);
    expect(e2e('duplicate')).toEqual([]);
    expect(up.get('duplicate')!.map((f) => f!.link)).toEqual([4]);
    expect(st.badTag).toBe(1);
    expect(st.policy).toBeGreaterThanOrEqual(1);
    // Nothing sealed twice under one key and counter.
    const seen = new Set<string>();
    for (const fs2 of up.values())
      for (const f of fs2) {
        if (f === null || f.link !== LINK_DATA) continue;
        const k = f.op + ':' + f.gen + ':' + f.counter;
        expect(seen.has(k), k).toBe(false);
        seen.add(k);
      }
  }

  async function runOn(engine: 'node' | 'xs' | 'espruino'): Promise<{ steps: StepResult[]; labels: string[]; dl: Downlink }> {
    const dl = new Downlink();
    const { steps, labels } = buildScenario(dl);
    // On Espruino the meter uses native AES, as on a Puck.js: the whole path set fits its pool only so.
    const scn = { prov: hex(dl.w.meterProv), t0: T0, engine: 'espruino', nativeAes: engine === 'espruino', steps };
    // The scenario text and objects live in the engine's RAM beside the meter: keep it small for Espruino.
    expect(JSON.stringify(scn).length).toBeLessThan(12000);
    // On Espruino the board adapter comes too: the harness keeps the records in Storage with it, as a board does.
    const code = engine === 'espruino' ? [meter, adapter, harness] : [meter, harness];
    const r = await runEngine(engine, [...code, ...harnessPieces(scn)]);
    expect(r.code, r.stderr + r.stdout.slice(-3000)).toBe(0);
    return { steps: parseSteps(r.stdout), labels, dl };
  }

  it('runs on Node (bare vm) and every uplink verifies', async () => {
    const { steps, labels, dl } = await runOn('node');
    expect(steps.length).toBe(labels.length + 1);
    verify(dl, labels, steps);
  }, 120_000);

  it.skipIf(!xsAvailable())(
    'runs on Moddable XS with the same transcript',
    async () => {
      const node = await runOn('node');
      const xs = await runOn('xs');
      expect(xs.steps).toEqual(node.steps);
      verify(xs.dl, xs.labels, xs.steps);
    },
    180_000,
  );

  it.skipIf(!espruinoBin())(
    'runs on the Espruino interpreter with the same transcript (ESPRUINO_BIN)',
    async () => {
      const node = await runOn('node');
      const esp = await runOn('espruino');
      expect(esp.steps).toEqual(node.steps);
      verify(esp.dl, esp.labels, esp.steps);
    },
    180_000,
  );
});
