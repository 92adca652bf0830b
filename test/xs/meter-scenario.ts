// The meter scenario every engine must pass (Node, XS, Espruino, the flashed Espruino deliverable):
// provision, push a reading, accept an authenticated command, refuse its replay, refuse forged
// commands, survive a simulated reboot without counter reuse. Downlink frames are sealed and every
// uplink frame is verified by the independent node:crypto reference (test/conformance/reference.ts).
import { expect } from 'vitest';
import { encode, decode } from 'cbor-x';
import { encodeSerialFrame, serialEncodedMaxLen, SerialDeframer } from '../../shared/src/serial.ts';
import { refSeal, refOpen, refOpRoot, refE2eKey, refLinkKey, REF_E2E, REF_LINK, REF_UP, REF_DOWN } from '../conformance/reference.ts';
import type { RefOpened } from '../conformance/reference.ts';
import type { StepResult } from './engine-run.ts';

// TEST fixtures only: fixed ids and keys so the transcript is reproducible. Not real key material.
export const METER_ID = Buffer.from('4d45544552000001', 'hex');
export const CONC_ID = Buffer.from('434f4e4300000001', 'hex');
export const HES_ID = Buffer.from('4845530000000001', 'hex');
export const MK = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'); // TEST key
export const LK = Buffer.from('f0e0d0c0b0a090807060504030201000', 'hex'); // TEST key
const WRONG = Buffer.from('deadbeefdeadbeefdeadbeefdeadbeef', 'hex'); // TEST key
const LINK_GEN = 0;
/** The meter's short address on the radio hop (its provisioning image). */
export const METER_ADDR = 1;
const GEN = 0;
export const T0 = 1_700_000_100; // a multiple of the 900 s interval: the first reading closes at T0 + 900
export const OP_READING = 0x01,
  OP_RELAY = 0x03,
  OP_EVENT = 0x08;
const LINK_DATA = 0x01;

export const e2eKey = (op: number, dir: number) => refE2eKey(refOpRoot(MK, METER_ID, op, GEN), METER_ID, op, dir, GEN);
export const linkKey = (dir: number) => refLinkKey(LK, METER_ID, dir, LINK_GEN);

export function serial(frame: Uint8Array): string {
  const out = new Uint8Array(serialEncodedMaxLen(frame.length));
  const n = encodeSerialFrame(frame, 0, frame.length, out, 0);
  return Buffer.from(out.subarray(0, n)).toString('hex');
}
/** A RELAY command from the HES (e2e counter hc; full: the whole counter on the wire) forwarded by the concentrator (link counter lc). */
export function relayCmd(req: number, state: number, hc: number, key = e2eKey(OP_RELAY, REF_DOWN), full = false): Buffer {
  return refSeal(
    {
      version: REF_E2E,
      dir: REF_DOWN,
      op: OP_RELAY,
      gen: GEN,
      sender: HES_ID,
      receiver: METER_ID,
      counter: hc,
      body: encode([req, state]),
      full,
    },
    key,
  );
}
export function downLink(e2e: Uint8Array, lc: number): Buffer {
  return refSeal(
    {
      version: REF_LINK,
      dir: REF_DOWN,
      op: LINK_DATA,
      gen: LINK_GEN,
      sender: CONC_ID,
      receiver: METER_ID,
      counter: lc,
      body: e2e,
      addr: METER_ADDR,
    },
    linkKey(REF_DOWN),
  );
}

export function scenario() {
  // The full counter on the wire, so that its replays (steps 5, 10) are told apart as replays (§6).
  const disconnect = relayCmd(7, 0, 1, undefined, true);
  const reconnect = relayCmd(8, 1, 2);
  const disconnectLink = downLink(disconnect, 1);
  const flipped = Buffer.from(downLink(relayCmd(9, 1, 3), 5));
  flipped[20] ^= 0x01; // one bit of the link-protected body: the link MIC must fail
  const steps = [
    { do: 'pulse', n: 5 },
    { do: 'tick', t: T0 + 900 }, // 1: reading push
    { do: 'rx', hex: serial(disconnectLink) }, // 2: authentic disconnect
    { do: 'rx', hex: serial(disconnectLink) }, // 3: the same bytes again (link replay)
    { do: 'rx', hex: serial(downLink(reconnect, 2)) }, // 4: authentic reconnect
    { do: 'rx', hex: serial(downLink(disconnect, 3)) }, // 5: old e2e command in a fresh link frame (e2e replay)
    { do: 'rx', hex: serial(downLink(relayCmd(10, 0, 4, WRONG), 4)) }, // 6: e2e forgery under a wrong key
    { do: 'rx', hex: serial(flipped) }, // 7: tampered link frame
    { do: 'reboot' }, // 8
    { do: 'tick', t: T0 + 1800 }, // 9: reading push after the reboot
    { do: 'rx', hex: serial(downLink(disconnect, 6)) }, // 10: replay across the reboot
    { do: 'rx', hex: serial(downLink(relayCmd(11, 0, 5), 7)) }, // 11: a new authentic disconnect
  ];
  const prov = encode([1, 1, METER_ID, MK, LK, LINK_GEN, CONC_ID, HES_ID, METER_ADDR]);
  return { prov: Buffer.from(prov).toString('hex'), t0: T0, engine: 'xs', steps };
}

export interface Uplink {
  step: number;
  linkCounter: number;
  linkOp: number;
  op?: number;
  counter?: number;
  body?: unknown[];
}

/** Deframes and verifies (with the reference, reconstructing short counters as a receiver does) every frame the meter sent. */
export function decodeUplinks(steps: StepResult[]): Uplink[] {
  const ups: Uplink[] = [];
  const last = new Map<string, number>();
  const open = (k: string, f: Uint8Array, key: Uint8Array, receiver: Uint8Array, gen: number): RefOpened | null => {
    const o = refOpen(f, key, { dir: REF_UP, sender: METER_ID, receiver, gen, last: last.get(k) ?? 0 });
    if (o !== null) last.set(k, o.counter);
    return o;
  };
  for (const s of steps) {
    for (const hex of s.out) {
      const frames: Uint8Array[] = [];
      const d = new SerialDeframer(4096, (b, o, l) => frames.push(b.slice(o, o + l)));
      const bytes = Buffer.from(hex, 'hex');
      d.push(bytes, 0, bytes.length);
      expect(frames.length).toBe(1);
      const link = open('link', frames[0], linkKey(REF_UP), CONC_ID, LINK_GEN);
      expect(link, `step ${s.i}: link frame must verify under KL[UP]`).not.toBeNull();
      expect(Buffer.from(link!.sender).equals(METER_ID)).toBe(true);
      expect(Buffer.from(link!.receiver).equals(CONC_ID)).toBe(true);
      const u: Uplink = { step: s.i, linkCounter: link!.counter, linkOp: link!.op };
      if (link!.op === LINK_DATA) {
        const op = link!.body[0] & 0x0f; // e2e first byte: 0x20 | X << 4 | op
        const e = open('e2e' + op, link!.body, e2eKey(op, REF_UP), HES_ID, GEN);
        expect(e, `step ${s.i}: e2e frame op ${op} must verify under K[op, UP]`).not.toBeNull();
        expect(Buffer.from(e!.receiver).equals(HES_ID)).toBe(true);
        u.op = op;
        u.counter = e!.counter;
        u.body = decode(e!.body) as unknown[];
      }
      ups.push(u);
    }
  }
  return ups;
}

export function checkScenario(steps: StepResult[]): void {
  expect(steps.map((s) => s.i)).toEqual([-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  const at = (i: number) => steps.find((s) => s.i === i)!;
  const ups = decodeUplinks(steps);
  const e2e = (i: number, op: number) => ups.filter((u) => u.step === i && u.op === op);

  // Boot: a power-restore EVENT. Step 1: the reading of the first interval.
  expect(ups.some((u) => u.step === -1 && u.op === OP_EVENT)).toBe(true);
  const r1 = e2e(1, OP_READING);
  expect(r1).toHaveLength(1);
  expect(r1[0].body).toEqual([0, 1, T0 + 900, expect.any(Number), expect.any(Number)]);
  // Step 2: the authentic disconnect is executed and answered [req, state, status ok].
  expect(at(2).relay).toBe(false);
  expect(at(2).relayPin).toBe(false);
  expect(e2e(2, OP_RELAY).map((u) => u.body)).toEqual([[7, 0, 0]]);
  // Step 3: the replayed bytes are refused and change nothing.
  expect(at(3).stats.replay).toBe(at(2).stats.replay + 1);
  expect(e2e(3, OP_RELAY)).toEqual([]);
  // Step 4: reconnect accepted.
  expect(at(4).relay).toBe(true);
  expect(e2e(4, OP_RELAY).map((u) => u.body)).toEqual([[8, 1, 0]]);
  // Step 5: an old end-to-end command re-wrapped by the concentrator is still a replay.
  expect(at(5).relay).toBe(true);
  expect(at(5).stats.replay).toBe(at(4).stats.replay + 1);
  expect(e2e(5, OP_RELAY)).toEqual([]);
  // Steps 6, 7: forgeries (wrong e2e key; a flipped bit under the link MIC) are refused as bad tags.
  expect(at(6).relay).toBe(true);
  expect(at(6).stats.badTag).toBe(at(5).stats.badTag + 1);
  expect(at(7).relay).toBe(true);
  expect(at(7).stats.badTag).toBe(at(6).stats.badTag + 1);
  expect(e2e(6, OP_RELAY).concat(e2e(7, OP_RELAY))).toEqual([]);
  // Step 8: reboot keeps the relay state; step 9 pushes the next reading.
  expect(at(8).relay).toBe(true);
  expect(e2e(9, OP_READING).map((u) => (u.body as number[])[1])).toContain(2);
  // Step 10: the replay across the reboot is refused; step 11: a fresh command still works.
  expect(at(10).relay).toBe(true);
  expect(at(10).stats.replay).toBe(1);
  expect(at(11).relay).toBe(false);
  expect(e2e(11, OP_RELAY).map((u) => u.body)).toEqual([[11, 0, 0]]);

  // No counter reuse, across the reboot too: link counters and each op's e2e counters strictly increase.
  const linkCtrs = ups.map((u) => u.linkCounter);
  for (let i = 1; i < linkCtrs.length; i++) expect(linkCtrs[i]).toBeGreaterThan(linkCtrs[i - 1]);
  for (const op of new Set(ups.filter((u) => u.op !== undefined).map((u) => u.op!))) {
    const cs = ups.filter((u) => u.op === op).map((u) => u.counter!);
    for (let i = 1; i < cs.length; i++) expect(cs[i]).toBeGreaterThan(cs[i - 1]);
  }
  const beforeReboot = ups.filter((u) => u.step < 8);
  const afterReboot = ups.filter((u) => u.step >= 8);
  expect(afterReboot.length).toBeGreaterThan(0);
  expect(Math.min(...afterReboot.map((u) => u.linkCounter))).toBeGreaterThan(Math.max(...beforeReboot.map((u) => u.linkCounter)));
}
