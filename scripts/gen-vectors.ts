/**
 * Generates test/vectors/e2e.json, link.json (radio hop) and backhaul.json ONCE from fixed TEST keys
 * (wire v2, PROTOCOL.md §3).
 * Every frame is sealed by the core (shared/src) AND by the independent node:crypto reference
 * (test/conformance/reference.ts); the script refuses to write anything unless both agree byte for
 * byte. The committed JSON then pins the wire format: test/conformance/frames-vectors.test.ts
 * recomputes every vector with both implementations.
 *
 *   npx tsx scripts/gen-vectors.ts            # (re)writes the three files
 *   npx tsx scripts/gen-vectors.ts --check    # only checks that regenerating gives identical files
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Decoder } from 'cbor-x';
import * as core from '@vakt/shared';
import { encodeValue } from '@vakt/shared/cbor';
import * as ref from '../test/conformance/reference.ts';

// Bodies are written by the core's CBOR encoder (shortest heads; object keys that are canonical
// decimal integers become CBOR integers, PROTOCOL.md §10) and read back with cbor-x as an
// independent check. cbor-x's own encoder writes JS object keys as text and 0xb9 map heads, so
// it must not produce the wire bytes.
const cborCheck = new Decoder({ mapsAsObjects: false, useRecords: false });
const enc = (v: unknown): Buffer => {
  const out = new Uint8Array(2048);
  const n = encodeValue(v, out, 0);
  if (n < 0) throw new Error('body outside the CBOR subset: ' + core.errorName(n));
  const body = Buffer.from(out.subarray(0, n));
  cborCheck.decode(body); // throws on anything cbor-x cannot read
  return body;
};
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const h = (s: string): Buffer => Buffer.from(s, 'hex');

// ---- TEST KEYS AND IDS (fixtures only; never used by any real device) ----
const T = {
  meterId: h('4d45544552303031'), // "METER001"
  otherMeterId: h('4d45544552303032'), // "METER002"
  concentratorId: h('434f4e4345303031'), // "CONCE001"
  hesId: h('4845532d30303031'), // "HES-0001"
  masterKey: h('000102030405060708090a0b0c0d0e0f'),
  meterLinkKey: h('101112131415161718191a1b1c1d1e1f'),
  concLinkKey: h('202122232425262728292a2b2c2d2e2f'),
  newRelayRootKey: h('303132333435363738393a3b3c3d3e3f'), // transported by the key-update vector
  newMasterKey: h('404142434445464748494a4b4c4d4e4f'),
};
const ctx = core.createCryptoCtx();

function check(a: Uint8Array, b: Uint8Array, what: string): void {
  if (hex(a) !== hex(b)) throw new Error('core and reference disagree on ' + what + ': ' + hex(a) + ' vs ' + hex(b));
}

function coreDerive(kind: string, key: Buffer, id: Buffer, a: number, b: number, c: number): Buffer {
  const out = new Uint8Array(16);
  if (kind === 'op') core.deriveOpRoot(ctx, key, 0, id, a, b, out, 0);
  else if (kind === 'e2e') core.deriveE2eKey(ctx, key, 0, id, a, b, c, out, 0);
  else if (kind === 'link') core.deriveLinkKey(ctx, key, 0, id, a, b, out, 0);
  else core.deriveKcKey(ctx, key, 0, id, a, b, out, 0);
  return Buffer.from(out);
}

const derivations: object[] = [];
function derivation(kind: 'op' | 'e2e' | 'link' | 'kc', key: Buffer, id: Buffer, a: number, b: number, c = 0): Buffer {
  let r: Buffer;
  let label: string;
  let context: Buffer;
  if (kind === 'op') {
    r = ref.refOpRoot(key, id, a, b);
    label = 'vakt-op';
    context = Buffer.concat([id, Buffer.from([a, b])]);
  } else if (kind === 'e2e') {
    r = ref.refE2eKey(key, id, a, b, c);
    label = 'vakt-e2e';
    context = Buffer.concat([id, Buffer.from([a, b, c])]);
  } else if (kind === 'link') {
    r = ref.refLinkKey(key, id, a, b);
    label = 'vakt-link';
    context = Buffer.concat([id, Buffer.from([a, b])]);
  } else {
    r = ref.refKcKey(key, id, a, b);
    label = 'vakt-kc';
    context = Buffer.concat([id, Buffer.from([a, b])]);
  }
  const cr = coreDerive(kind, key, id, a, b, c);
  check(cr, r, 'derivation ' + kind);
  const msg = Buffer.concat([Buffer.from([1]), Buffer.from(label, 'ascii'), Buffer.from([0]), context, Buffer.from([0, 0x80])]);
  const d = { kind, label, inputKey: hex(key), context: hex(context), cmacInput: hex(msg), output: hex(r) };
  if (!derivations.some((x) => JSON.stringify(x) === JSON.stringify(d))) derivations.push(d);
  return r;
}

interface FrameSpec {
  name: string;
  version: number; // layer code: 0x02 e2e, 0x42 radio hop, 0x82 backhaul
  /** e2e / hop: the full counter on the wire (else its low 16 / 8 bits); the backhaul always carries it. */
  full: boolean;
  /** The receiver's last accepted counter before this frame: where a short counter is reconstructed from (§6). */
  last: number;
  /** Radio hop: the meter's short address. */
  addr?: number;
  op: number;
  dir: number;
  gen: number;
  sender: Buffer;
  receiver: Buffer;
  counter: number;
  body: Buffer;
  key: Buffer; // raw 16-byte frame key
  keyInfo: object;
}

const fieldsOf = (s: FrameSpec): ref.RefFrameFields => ({
  version: s.version,
  dir: s.dir,
  op: s.op,
  gen: s.gen,
  sender: s.sender,
  receiver: s.receiver,
  counter: s.counter,
  body: s.body,
  full: s.full,
  addr: s.addr,
});

function sealBoth(s: FrameSpec): Buffer {
  const r = ref.refSeal(fieldsOf(s), s.key);
  const slot = core.createKeySlot(s.version, s.op, s.dir, s.gen, new Uint8Array(s.sender), new Uint8Array(s.receiver), s.addr);
  core.setSlotKey(slot, s.key, 0);
  slot.ctr = core.createSendCounter(s.counter, 1, () => true);
  // The sender's rule (§6) picks the short form while the receiver is known to be in step: say so.
  slot.ctr.sync = s.full ? 0 : s.counter;
  const out = new Uint8Array(core.HEADER_LEN + s.body.length + 16);
  const n = core.sealFrame(ctx, slot, s.op, s.body, 0, s.body.length, out, 0);
  if (n < 0) throw new Error(s.name + ': core sealFrame ' + core.errorName(n));
  check(out.subarray(0, n), r, 'frame ' + s.name);
  // Both open it again from the receiver's state (last accepted counter s.last).
  const ro = ref.refOpen(r, s.key, { dir: s.dir, sender: s.sender, receiver: s.receiver, gen: s.gen, last: s.last });
  if (ro === null || ro.counter !== s.counter) throw new Error(s.name + ': reference does not open its own frame from last ' + s.last);
  return r;
}

function vector(s: FrameSpec): object {
  const frame = sealBoth(s);
  const p = ref.refPolicy(s.version, s.op)!;
  const f = fieldsOf(s);
  const wire = ref.refWireHeader(f);
  return {
    name: s.name,
    version: s.version,
    op: s.op,
    dir: s.dir,
    enc: p.enc,
    tagLen: p.tag,
    gen: s.gen,
    sender: hex(s.sender),
    receiver: hex(s.receiver),
    counter: s.counter,
    full: s.full ? 1 : 0,
    receiverLast: s.last,
    ...(s.addr === undefined ? {} : { addr: s.addr }),
    body: hex(s.body),
    key: s.keyInfo,
    frameKey: hex(s.key),
    nonce: hex(
      Buffer.concat([s.sender, Buffer.from([s.counter >>> 24, (s.counter >>> 16) & 255, (s.counter >>> 8) & 255, s.counter & 255, s.op])]),
    ),
    reconstructedHeader: hex(ref.refHeader(f)),
    wireHeader: hex(wire),
    frame: hex(frame),
  };
}

const UP = 0;
const DOWN = 1;
const E2E = 0x02;
const LINK = 0x42;
const BACKHAUL = 0x82;
/** The meter's short address on the radio hop in these vectors. */
const ADDR = 1;

// ---- end-to-end ----
function e2eKey(op: number, dir: number, gen: number, master: 'masterKey' | 'newMasterKey' = 'masterKey'): { key: Buffer; info: object } {
  const ok = derivation('op', T[master], T.meterId, op, gen);
  const k = derivation('e2e', ok, T.meterId, op, dir, gen);
  return { key: k, info: { kind: 'e2e', from: master, op, dir, gen, opRoot: hex(ok) } };
}
/** An e2e vector; short counter form unless full, reconstructed from last (default counter − 1). */
function e2e(name: string, op: number, dir: number, counter: number, body: Buffer, full = false, last = counter - 1): FrameSpec {
  const k = e2eKey(op, dir, 0);
  const up = dir === UP;
  return {
    name,
    version: E2E,
    full,
    last,
    op,
    dir,
    gen: 0,
    sender: up ? T.meterId : T.hesId,
    receiver: up ? T.hesId : T.meterId,
    counter,
    body,
    key: k.key,
    keyInfo: k.info,
  };
}

// FIRMWARE BEGIN carries CMAC(KF[0], image) (PROTOCOL.md §10, D-10) of this TEST image:
// 65536 bytes, byte i = 7·i mod 256 (the CHUNK vector carries its first 100 bytes).
const FW_IMAGE = Buffer.from(Array.from({ length: 65536 }, (_, i) => (i * 7) & 255));
let fwImage: object | null = null;
function fwImageMac(): Buffer {
  const ok = derivation('op', T.masterKey, T.meterId, 0x06, 0);
  const kf = derivation('e2e', ok, T.meterId, 0x06, 2, 0); // direction byte 2: the image key
  check(ref.refImageKey(ok, T.meterId, 0), kf, 'image key');
  const mac = ref.refImageMac(ok, T.meterId, 0, FW_IMAGE);
  const rk = new Uint32Array(44);
  core.expandKey(kf, 0, rk);
  const cm = new Uint8Array(16);
  core.cmac(ctx, rk, FW_IMAGE, 0, FW_IMAGE.length, cm, 0);
  check(cm, mac, 'image MAC');
  fwImage = { image: '65536 bytes, byte i = (7 * i) mod 256', gen: 0, opRoot: hex(ok), imageKey: hex(kf), mac: hex(mac) };
  return mac;
}

const t0 = 1795000000; // 2026-11-18T...Z, a fixed test timestamp
const e2eSpecs: FrameSpec[] = [
  e2e('READING up', 0x01, UP, 0x01020304, enc([0, 4242, t0, 1234567, 870])),
  e2e('READING up, full counter', 0x01, UP, 0x01020304, enc([0, 4242, t0, 1234567, 870]), true, 0x01020000),
  e2e('READING up, counter 1', 0x01, UP, 1, enc([0, 4243, t0 + 900, 1234790, 910])),
  e2e('READING up, short counter across a 16-bit wrap', 0x01, UP, 0x00010002, enc([0, 4244, t0 + 1800, 1234999, 905]), false, 0x0000fff0),
  e2e('READING up, the last counter 2^32 - 1', 0x01, UP, 0xffffffff, enc([0, 4245, t0 + 2700, 1235111, 880]), false, 0xfffffffe),
  e2e('READING up, 11-byte body (the issue-11 budget)', 0x01, UP, 0x01020305, enc([0, 5, t0, 100, 0])),
  e2e('READ down register', 0x02, DOWN, 7, enc([17, 1])),
  e2e('READ down load-profile range', 0x02, DOWN, 8, enc([18, 2, 4000, 4015])),
  e2e('READ up register', 0x02, UP, 9, enc([17, 1, t0, 1234567, 870])),
  e2e(
    'READ up load-profile',
    0x02,
    UP,
    10,
    enc([
      18,
      2,
      [
        [4000, t0 - 3600, 1200000, 800],
        [4001, t0 - 2700, 1200200, 810],
      ],
    ]),
  ),
  e2e('RELAY down disconnect', 0x03, DOWN, 3, enc([19, 0])),
  e2e('RELAY up result', 0x03, UP, 11, enc([19, 0, 0])),
  e2e('CONFIG down', 0x04, DOWN, 4, enc([20, { 1: 7, 2: 900 }])),
  e2e('CONFIG up result', 0x04, UP, 12, enc([20, 0])),
  e2e('CLOCK down (MIC only)', 0x05, DOWN, 5, enc([21, t0])),
  e2e('CLOCK up result (MIC only)', 0x05, UP, 13, enc([21, 0, t0 - 2])),
  e2e('FIRMWARE down begin (MIC only)', 0x06, DOWN, 6, enc([22, 1, FW_IMAGE.length, fwImageMac(), 3])),
  e2e(
    'FIRMWARE down chunk (MIC only)',
    0x06,
    DOWN,
    0xfffffffe,
    enc([22, 2, 0, Buffer.from(Array.from({ length: 100 }, (_, i) => (i * 7) & 255))]),
    true,
    0xfffff000,
  ),
  e2e('FIRMWARE up status (MIC only)', 0x06, UP, 14, enc([22, 0, 100])),
  e2e('EVENT up tamper', 0x08, UP, 15, enc([0, 3, t0, 0])),
  e2e('ACK down readings stored', 0x09, DOWN, 2, enc([0, 1, 4242])),
  e2e('ACK up', 0x09, UP, 16, enc([21, 5, 1])),
  e2e('ACK up, empty body', 0x09, UP, 17, Buffer.alloc(0), true, 0),
];

// Key update of the RELAY operation root key to generation 1 (scope = OP_RELAY), PROTOCOL.md §8.
const kuScope = 0x03;
const kuGen = 1;
{
  const ku = e2eKey(0x07, DOWN, 0);
  e2eSpecs.push({
    name: 'KEY_UPDATE down TRANSPORT (scope RELAY, gen 1)',
    version: E2E,
    full: true,
    last: 0,
    op: 0x07,
    dir: DOWN,
    gen: 0,
    sender: T.hesId,
    receiver: T.meterId,
    counter: 30,
    body: enc([23, 1, kuScope, kuGen, T.newRelayRootKey]),
    key: ku.key,
    keyInfo: ku.info,
  });
  const kc = derivation('kc', T.newRelayRootKey, T.meterId, kuScope, kuGen);
  e2eSpecs.push({
    name: 'KEY_UPDATE up CONFIRM under KC[RELAY, 1]',
    version: E2E,
    full: true,
    last: 0,
    op: 0x07,
    dir: UP,
    gen: kuGen,
    sender: T.meterId,
    receiver: T.hesId,
    counter: 1,
    body: enc([23, 2, kuScope, kuGen]),
    key: kc,
    keyInfo: { kind: 'kc', from: 'transportedKey', transportedKey: hex(T.newRelayRootKey), scope: kuScope, gen: kuGen },
  });
  e2eSpecs.push({
    name: 'KEY_UPDATE down ACTIVATE',
    version: E2E,
    full: false,
    last: 30,
    op: 0x07,
    dir: DOWN,
    gen: 0,
    sender: T.hesId,
    receiver: T.meterId,
    counter: 31,
    body: enc([23, 3, kuScope, kuGen]),
    key: ku.key,
    keyInfo: ku.info,
  });
  const k1 = derivation('e2e', T.newRelayRootKey, T.meterId, 0x03, DOWN, kuGen);
  e2eSpecs.push({
    name: 'RELAY down under the transported generation 1',
    version: E2E,
    full: true,
    last: 0,
    op: 0x03,
    dir: DOWN,
    gen: kuGen,
    sender: T.hesId,
    receiver: T.meterId,
    counter: 1,
    body: enc([24, 1]),
    key: k1,
    keyInfo: { kind: 'e2e', from: 'transportedKey', transportedKey: hex(T.newRelayRootKey), op: 0x03, dir: DOWN, gen: kuGen },
  });
}

// Then a master-key update (scope 0) to generation 2: every OK[op, 2] derives from the new MK;
// ACTIVATE already travels under the new key-update key because the scope covers KEY_UPDATE.
{
  const ku = e2eKey(0x07, DOWN, 0);
  e2eSpecs.push({
    name: 'KEY_UPDATE down TRANSPORT (scope master, gen 2)',
    version: E2E,
    full: false,
    last: 31,
    op: 0x07,
    dir: DOWN,
    gen: 0,
    sender: T.hesId,
    receiver: T.meterId,
    counter: 32,
    body: enc([25, 1, 0, 2, T.newMasterKey]),
    key: ku.key,
    keyInfo: ku.info,
  });
  const kc = derivation('kc', T.newMasterKey, T.meterId, 0, 2);
  e2eSpecs.push({
    name: 'KEY_UPDATE up CONFIRM under KC[master, 2]',
    version: E2E,
    full: true,
    last: 0,
    op: 0x07,
    dir: UP,
    gen: 2,
    sender: T.meterId,
    receiver: T.hesId,
    counter: 1,
    body: enc([25, 2, 0, 2]),
    key: kc,
    keyInfo: { kind: 'kc', from: 'transportedKey', transportedKey: hex(T.newMasterKey), scope: 0, gen: 2 },
  });
  const ku2 = e2eKey(0x07, DOWN, 2, 'newMasterKey');
  e2eSpecs.push({
    name: 'KEY_UPDATE down ACTIVATE under the new master key (gen 2)',
    version: E2E,
    full: true,
    last: 0,
    op: 0x07,
    dir: DOWN,
    gen: 2,
    sender: T.hesId,
    receiver: T.meterId,
    counter: 1,
    body: enc([25, 3, 0, 2]),
    key: ku2.key,
    keyInfo: ku2.info,
  });
  const ack = e2eKey(0x09, UP, 2, 'newMasterKey');
  e2eSpecs.push({
    name: 'ACK up of the ACTIVATE (gen 2)',
    version: E2E,
    full: true,
    last: 0,
    op: 0x09,
    dir: UP,
    gen: 2,
    sender: T.meterId,
    receiver: T.hesId,
    counter: 1,
    body: enc([25, 7, 2]),
    key: ack.key,
    keyInfo: ack.info,
  });
  const rd = e2eKey(0x01, UP, 2, 'newMasterKey');
  e2eSpecs.push({
    name: 'READING up under the new master key (gen 2)',
    version: E2E,
    full: true,
    last: 0,
    op: 0x01,
    dir: UP,
    gen: 2,
    sender: T.meterId,
    receiver: T.hesId,
    counter: 1,
    body: enc([0, 4244, t0 + 1800, 1234999, 905]),
    key: rd.key,
    keyInfo: rd.info,
  });
}

// ---- link ----
function linkKey(hop: 'meter' | 'hes', dir: number, gen: number): { key: Buffer; info: object } {
  const lk = hop === 'meter' ? T.meterLinkKey : T.concLinkKey;
  const id = hop === 'meter' ? T.meterId : T.concentratorId;
  const k = derivation('link', lk, id, dir, gen);
  return { key: k, info: { kind: 'link', hop, from: hop === 'meter' ? 'meterLinkKey' : 'concLinkKey', deviceId: hex(id), dir, gen } };
}
/** A radio-hop vector (meter ↔ concentrator); short counter form unless full, reconstructed from last. */
function link(name: string, op: number, dir: number, counter: number, body: Buffer, full = false, last = counter - 1): FrameSpec {
  const k = linkKey('meter', dir, 0);
  const up = dir === UP;
  return {
    name,
    version: LINK,
    full,
    last,
    addr: ADDR,
    op,
    dir,
    gen: 0,
    sender: up ? T.meterId : T.concentratorId,
    receiver: up ? T.concentratorId : T.meterId,
    counter,
    body,
    key: k.key,
    keyInfo: k.info,
  };
}
/** A backhaul vector (concentrator ↔ HES): the 26-byte header, full counter. */
function linkHes(name: string, op: number, dir: number, counter: number, body: Buffer): FrameSpec {
  const k = linkKey('hes', dir, 0);
  const up = dir === UP;
  return {
    name,
    version: BACKHAUL,
    full: true,
    last: counter - 1,
    op,
    dir,
    gen: 0,
    sender: up ? T.concentratorId : T.hesId,
    receiver: up ? T.hesId : T.concentratorId,
    counter,
    body,
    key: k.key,
    keyInfo: k.info,
  };
}

const e2eVectors = e2eSpecs.map(vector);
const frameOf = (n: string): Buffer =>
  Buffer.from((e2eVectors.find((v) => (v as { name: string }).name === n) as { frame: string }).frame, 'hex');
const reading = frameOf('READING up');
const reading11 = frameOf('READING up, 11-byte body (the issue-11 budget)');
const relayDown = frameOf('RELAY down disconnect');
const linkSpecs: FrameSpec[] = [
  link('DATA up meter -> concentrator (READING)', 0x01, UP, 0x01020305, reading),
  link('DATA up meter -> concentrator (READING), full counter', 0x01, UP, 0x01020305, reading, true, 0),
  link('DATA up meter -> concentrator (11-byte READING)', 0x01, UP, 0x01020400, reading11, false, 0x010203f0),
  link('DATA down concentrator -> meter (RELAY)', 0x01, DOWN, 9, relayDown),
  link('LINK_ACK down concentrator -> meter', 0x04, DOWN, 10, enc([0x01020305])),
  link('LINK_ACK up meter -> concentrator', 0x04, UP, 0x01020306, enc([9])),
];
const linkVectors = linkSpecs.map(vector);
const backhaulSpecs: FrameSpec[] = [
  linkHes('DATA up concentrator -> HES (meter id ‖ the same READING)', 0x01, UP, 77, Buffer.concat([T.meterId, reading])),
  linkHes('DATA down HES -> concentrator (meter id ‖ RELAY)', 0x01, DOWN, 50, Buffer.concat([T.meterId, relayDown])),
  linkHes('JOIN down HES -> concentrator', 0x02, DOWN, 51, enc([T.otherMeterId, h('505152535455565758595a5b5c5d5e5f'), 0, 2])),
  linkHes('LEAVE down HES -> concentrator', 0x03, DOWN, 52, enc([T.otherMeterId])),
  linkHes('LINK_ACK up concentrator -> HES', 0x04, UP, 78, enc([50])),
  linkHes('LINK_ACK down HES -> concentrator', 0x04, DOWN, 53, enc([77])),
];
const backhaulVectors = backhaulSpecs.map(vector);

const header = {
  warning: 'TEST KEYS ONLY. Generated by scripts/gen-vectors.ts with fixed fixture keys; never provision these to a device.',
  source:
    'Sealed by the Vakt core (shared/src) and by the independent node:crypto reference (test/conformance/reference.ts); both agreed byte for byte. Wire format: docs/PROTOCOL.md.',
  testKeys: Object.fromEntries(Object.entries(T).map(([k, v]) => [k, hex(v)])),
};
const files: [string, object][] = [
  [
    'test/vectors/e2e.json',
    {
      ...header,
      layer: 'end-to-end (wire v2, layer code 0x02)',
      derivations: derivations.filter((d) => (d as { kind: string }).kind !== 'link'),
      firmwareImage: fwImage,
      frames: e2eVectors,
    },
  ],
  [
    'test/vectors/link.json',
    {
      ...header,
      layer: 'radio link, meter <-> concentrator (wire v2, layer code 0x42)',
      derivations: derivations.filter(
        (d) => (d as { kind: string; context: string }).kind === 'link' && (d as { context: string }).context.startsWith(hex(T.meterId)),
      ),
      frames: linkVectors,
    },
  ],
  [
    'test/vectors/backhaul.json',
    {
      ...header,
      layer: 'backhaul link, concentrator <-> HES (wire v2, 0x82)',
      derivations: derivations.filter(
        (d) =>
          (d as { kind: string; context: string }).kind === 'link' && (d as { context: string }).context.startsWith(hex(T.concentratorId)),
      ),
      frames: backhaulVectors,
    },
  ],
];
const checkOnly = process.argv.includes('--check');
let differ = 0;
for (const [path, obj] of files) {
  const text = JSON.stringify(obj, null, 2) + '\n';
  if (checkOnly) {
    let old = '';
    try {
      old = readFileSync(path, 'utf8');
    } catch {
      old = '';
    }
    if (old !== text) {
      differ++;
      console.error(path + ' differs from a fresh generation');
    }
  } else {
    writeFileSync(path, text);
    console.log('wrote ' + path + ' (' + (obj as { frames: unknown[] }).frames.length + ' frames)');
  }
}
console.log(
  JSON.stringify({
    e2eFrames: e2eVectors.length,
    linkFrames: linkVectors.length,
    backhaulFrames: backhaulVectors.length,
    derivations: derivations.length,
    differ,
  }),
);
process.exitCode = differ === 0 ? 0 : 1;
