// The concentrator bundle (dist/firmware/concentrator.js) on Node and on Moddable XS: it learns a
// meter from an authentic JOIN, re-wraps that meter's end-to-end frame unchanged toward the HES
// under its own link key (D-8), and refuses a replayed and a forged meter frame. Frames are made
// and checked by the independent node:crypto reference; both engines must write identical bytes.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encode } from 'cbor-x';
import { buildFirmware } from '../../scripts/build-firmware.ts';
import { SerialDeframer } from '../../shared/src/serial.ts';
import { refSeal, refOpen, refLinkKey, REF_BACKHAUL, REF_E2E, REF_LINK, REF_UP, REF_DOWN } from '../conformance/reference.ts';
import { METER_ADDR, METER_ID, CONC_ID, HES_ID, LK, T0, OP_READING, e2eKey, serial } from '../xs/meter-scenario.ts';
import { runEngine, xsAvailable } from '../xs/engine-run.ts';

const HES_LK = Buffer.from('1112131415161718191a1b1c1d1e1f10', 'hex'); // TEST key
const LINK_DATA = 0x01,
  LINK_JOIN = 0x02;
const hesKey = (dir: number) => refLinkKey(HES_LK, CONC_ID, dir, 0);
const meterKey = (dir: number) => refLinkKey(LK, METER_ID, dir, 0);

const reading = refSeal(
  {
    version: REF_E2E,
    dir: REF_UP,
    op: OP_READING,
    gen: 0,
    sender: METER_ID,
    receiver: HES_ID,
    counter: 1,
    body: encode([0, 1, T0, 42, 7]),
  },
  e2eKey(OP_READING, REF_UP),
);
const meterUp = (lc: number) =>
  refSeal(
    {
      version: REF_LINK,
      dir: REF_UP,
      op: LINK_DATA,
      gen: 0,
      sender: METER_ID,
      receiver: CONC_ID,
      counter: lc,
      body: reading,
      addr: METER_ADDR,
    },
    meterKey(REF_UP),
  );

function scenario() {
  const join = refSeal(
    {
      version: REF_BACKHAUL,
      dir: REF_DOWN,
      op: LINK_JOIN,
      gen: 0,
      sender: HES_ID,
      receiver: CONC_ID,
      counter: 1,
      body: encode([METER_ID, LK, 0, METER_ADDR]),
    },
    hesKey(REF_DOWN),
  );
  const forged = Buffer.from(meterUp(2));
  forged[forged.length - 1] ^= 0x80; // last tag byte
  return {
    prov: Buffer.from(encode([1, 2, CONC_ID, HES_LK, 0, HES_ID])).toString('hex'),
    t0: T0,
    steps: [
      { do: 'meter', hex: serial(meterUp(1)) }, // 0: unknown meter: dropped
      { do: 'hes', hex: serial(join) }, // 1: JOIN
      { do: 'meter', hex: serial(meterUp(1)) }, // 2: forwarded
      { do: 'meter', hex: serial(meterUp(1)) }, // 3: replay
      { do: 'meter', hex: serial(forged) }, // 4: forged
    ],
  };
}

interface ConcStep {
  i: number;
  hes: string[];
  meter: string[];
  stats: Record<string, number>;
}
const parse = (stdout: string): ConcStep[] =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('@@step '))
    .map((l) => JSON.parse(l.slice(7)));

function frames(hexes: string[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  const d = new SerialDeframer(4096, (b, o, l) => out.push(b.slice(o, o + l)));
  for (const h of hexes) {
    const b = Buffer.from(h, 'hex');
    d.push(b, 0, b.length);
  }
  return out;
}

function check(steps: ConcStep[]): void {
  expect(steps.map((s) => s.i)).toEqual([0, 1, 2, 3, 4]);
  const dataToHes = (s: ConcStep) =>
    frames(s.hes)
      .map((f) => refOpen(f, hesKey(REF_UP)))
      .filter((o) => o && o.op === LINK_DATA);
  expect(dataToHes(steps[0])).toEqual([]);
  expect(steps[1].stats.joins).toBe(1);
  // Step 2: exactly one DATA frame to the HES, from the concentrator, carrying the meter's id and its e2e frame byte for byte (§7).
  const fwd = dataToHes(steps[2]);
  expect(fwd).toHaveLength(1);
  expect(Buffer.from(fwd[0]!.sender).equals(CONC_ID)).toBe(true);
  expect(Buffer.from(fwd[0]!.receiver).equals(HES_ID)).toBe(true);
  expect(Buffer.from(fwd[0]!.body).equals(Buffer.concat([METER_ID, reading]))).toBe(true);
  // Every frame toward the HES verifies under the concentrator's HES link key.
  for (const s of steps) for (const f of frames(s.hes)) expect(refOpen(f, hesKey(REF_UP))).not.toBeNull();
  // Steps 3, 4: replay and forgery are not forwarded and are counted.
  expect(dataToHes(steps[3])).toEqual([]);
  expect(dataToHes(steps[4])).toEqual([]);
  expect(steps[4].stats.meterLinkFailures).toBe(steps[2].stats.meterLinkFailures + 2);
  expect(steps[4].stats.forwardedUp).toBe(1);
}

describe('concentrator bundle: Node and Moddable XS', () => {
  let dir: string;
  let bundle: string;
  const harness = path.join(__dirname, '..', 'xs', 'conc-harness.js');
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vakt-xs-conc-'));
    const r = await buildFirmware({ outDir: dir, only: ['concentrator'] });
    expect(r.bundles.flatMap((b) => b.violations)).toEqual([]);
    bundle = path.join(dir, 'concentrator.js');
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('joins a meter, forwards its frame unchanged, refuses replay and forgery, identically on both engines', async () => {
    expect(xsAvailable()).toBe(true);
    const code = `VaktConcHarness.run(${JSON.stringify(scenario())});`;
    const node = await runEngine('node', [bundle, harness, '--eval', code]);
    expect(node.code, node.stderr).toBe(0);
    const xs = await runEngine('xs', [bundle, harness, '--eval', code]);
    expect(xs.code, xs.stderr).toBe(0);
    const ns = parse(node.stdout);
    check(ns);
    const xsSteps = parse(xs.stdout);
    check(xsSteps);
    expect(xsSteps).toEqual(ns);
  });
});
