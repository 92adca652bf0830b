/**
 * npm run bench:air — bytes on the air per message kind (issue 11, PROTOCOL.md §3, §9), counted,
 * not timed: every frame is sealed by the core with TEST keys, in the form a meter or concentrator
 * sends in steady state (short counters), and framed for the serial line (CRC-16, COBS, 0x00).
 *
 * For each message kind (every op and direction end to end, every radio link type): body, e2e
 * frame, radio link frame and line bytes (= on the air for a transparent serial modem), airtime at
 * the Ebyte E32's 2.4 kbps air data rate and for LoRa SF7 / SF12 at 125 kHz, and the same reading
 * under LoRaWAN 1.0, DLMS general-glo-ciphering and OMS mode 5 / 7. Last line: one JSON object.
 *
 * Airtime formulas and sources:
 * - E32 (transparent UART, LoRa inside): t = 8 · bytes / 2400 b/s, the nominal air data rate of
 *   the module (Ebyte E32 user manual, "air data rate"); the module's own preamble and header are
 *   not counted (they are the same for every protocol compared here).
 * - LoRa: Semtech AN1200.13 / SX1276 datasheet §4.1.1.6: T_sym = 2^SF / BW; T_preamble =
 *   (n_preamble + 4.25) · T_sym; n_payload = 8 + max(ceil((8·PL − 4·SF + 28 + 16·CRC − 20·IH) /
 *   (4·(SF − 2·DE))) · (CR + 4), 0); with n_preamble 8, CR 1 (4/5), CRC on, explicit header,
 *   DE (low data rate optimisation) on when T_sym > 16 ms (SF11/SF12 at 125 kHz).
 */
import * as core from '@vakt/shared';
import { encodeValue } from '@vakt/shared/cbor';
import type { CborValue } from '@vakt/shared/cbor';

const ctx = core.createCryptoCtx();
const id = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'ascii'));
const METER = id('METER001');
const HES = id('HES-0001');
const CONC = id('CONCE001');
const KEY = new Uint8Array(16).fill(7); // TEST key: byte counts do not depend on it
const T0 = 1795000000;
/** A command id in mid-life (the HES numbers its commands): a 3-byte CBOR head, like most. */
const REQ = 1000;

interface Kind {
  name: string;
  op: number;
  dir: number;
  body: CborValue;
  /**
   * Larger than one radio packet by design, split by the modem layer: firmware chunks and key
   * transport (the exceptions) and load-profile answers of more than one interval (each
   * interval is ~19 bytes of body; one interval per answer fits, see the note printed below).
   */
  fragmented?: boolean;
}

const interval = (q: number): CborValue => [4000 + q, T0 - 3600 + q * 900, 1234567 + q * 40, 870];
const KINDS: Kind[] = [
  { name: 'READING up (11-byte body, issue 11)', op: core.OP_READING, dir: core.DIR_UP, body: [0, 5, T0, 100, 0] },
  { name: 'READING up (mid-life: seq > 255, wh > 65535)', op: core.OP_READING, dir: core.DIR_UP, body: [0, 4242, T0, 1234567, 870] },
  { name: 'READ down register', op: core.OP_READ, dir: core.DIR_DOWN, body: [REQ, 1] },
  { name: 'READ down load-profile range', op: core.OP_READ, dir: core.DIR_DOWN, body: [REQ, 2, 4000, 4015] },
  { name: 'READ up register', op: core.OP_READ, dir: core.DIR_UP, body: [REQ, 1, T0, 1234567, 870] },
  { name: 'READ up load profile, 1 interval', op: core.OP_READ, dir: core.DIR_UP, body: [REQ, 2, [interval(0)]] },
  {
    name: 'READ up load profile, 2 intervals',
    op: core.OP_READ,
    dir: core.DIR_UP,
    body: [REQ, 2, [interval(0), interval(1)]],
    fragmented: true,
  },
  {
    name: 'READ up load profile, 16 intervals',
    op: core.OP_READ,
    dir: core.DIR_UP,
    body: [REQ, 2, Array.from({ length: 16 }, (_, q) => interval(q))],
    fragmented: true,
  },
  { name: 'RELAY down', op: core.OP_RELAY, dir: core.DIR_DOWN, body: [REQ, 0] },
  { name: 'RELAY up result', op: core.OP_RELAY, dir: core.DIR_UP, body: [REQ, 0, 0] },
  { name: 'CONFIG down', op: core.OP_CONFIG, dir: core.DIR_DOWN, body: [REQ, { 1: 7, 2: 900 }] },
  { name: 'CONFIG up result', op: core.OP_CONFIG, dir: core.DIR_UP, body: [REQ, 0] },
  { name: 'CLOCK down', op: core.OP_CLOCK, dir: core.DIR_DOWN, body: [REQ, T0] },
  { name: 'CLOCK up result', op: core.OP_CLOCK, dir: core.DIR_UP, body: [REQ, 0, T0 - 2] },
  { name: 'FIRMWARE down begin', op: core.OP_FIRMWARE, dir: core.DIR_DOWN, body: [REQ, 1, 65536, new Uint8Array(16), 3] },
  {
    name: 'FIRMWARE down chunk (512 B)',
    op: core.OP_FIRMWARE,
    dir: core.DIR_DOWN,
    body: [REQ, 2, 4096, new Uint8Array(512)],
    fragmented: true,
  },
  { name: 'FIRMWARE down activate', op: core.OP_FIRMWARE, dir: core.DIR_DOWN, body: [REQ, 3] },
  { name: 'FIRMWARE up status', op: core.OP_FIRMWARE, dir: core.DIR_UP, body: [REQ, 0, 4608] },
  {
    name: 'KEY_UPDATE down TRANSPORT (key transport)',
    op: core.OP_KEY_UPDATE,
    dir: core.DIR_DOWN,
    body: [REQ, 1, 3, 1, new Uint8Array(16)],
    fragmented: true,
  },
  { name: 'KEY_UPDATE up CONFIRM', op: core.OP_KEY_UPDATE, dir: core.DIR_UP, body: [REQ, 2, 3, 1] },
  { name: 'KEY_UPDATE down ACTIVATE', op: core.OP_KEY_UPDATE, dir: core.DIR_DOWN, body: [REQ, 3, 3, 1] },
  { name: 'EVENT up tamper', op: core.OP_EVENT, dir: core.DIR_UP, body: [0, 3, T0, 0] },
  { name: 'ACK down readings stored', op: core.OP_ACK, dir: core.DIR_DOWN, body: [0, 1, 4242] },
  { name: 'ACK up of ACTIVATE', op: core.OP_ACK, dir: core.DIR_UP, body: [REQ, 7, 1] },
];

function cbor(v: CborValue): Uint8Array {
  const out = new Uint8Array(2048);
  const n = encodeValue(v, out, 0);
  if (n < 0) throw new Error('body outside the CBOR subset');
  return out.slice(0, n);
}

/** A sending slot in steady state: the receiver is in step, so the short counter form (PROTOCOL.md §6). */
function sender(layer: number, op: number, dir: number, addr?: number): core.KeySlot {
  const up = dir === core.DIR_UP;
  const local = layer === core.E2E_VERSION ? (up ? METER : HES) : up ? METER : CONC;
  const peer = layer === core.E2E_VERSION ? (up ? HES : METER) : up ? CONC : METER;
  const s = core.createKeySlot(layer, op, dir, 0, local, peer, addr);
  core.setSlotKey(s, KEY, 0);
  s.ctr = core.createSendCounter(0x01020304, 64, () => true);
  s.ctr.sync = 0x01020300;
  return s;
}

function seal(slot: core.KeySlot, op: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(core.MAX_LINK_FRAME + 64);
  const n = core.sealFrame(ctx, slot, op, body, 0, body.length, out, 0);
  if (n < 0) throw new Error('seal ' + core.errorName(n));
  return out.slice(0, n);
}

const lineLen = (frame: Uint8Array): number => {
  const out = new Uint8Array(core.serialEncodedMaxLen(frame.length));
  return core.encodeSerialFrame(frame, 0, frame.length, out, 0);
};

/** LoRa time on air in ms (AN1200.13). */
function loraMs(bytes: number, sf: number, bwHz = 125_000): number {
  const tSym = 2 ** sf / bwHz;
  const de = tSym > 0.016 ? 1 : 0;
  const nPayload = 8 + Math.max(Math.ceil((8 * bytes - 4 * sf + 28 + 16 - 0) / (4 * (sf - 2 * de))) * 5, 0);
  return ((8 + 4.25) * tSym + nPayload * tSym) * 1000;
}
const e32Ms = (bytes: number): number => (8 * bytes * 1000) / 2400;

interface Row {
  name: string;
  body: number;
  e2e: number;
  link: number;
  air: number;
  backhaul: number;
  fragmented: boolean;
  v1Air: number;
}

/** Wire v1 tag lengths per op (READING 12, FIRMWARE 16 then), for the v1 column. */
const V1_TAG = [0, 12, 12, 16, 16, 12, 16, 16, 12, 8];
/** Wire v1 line bytes: 26-byte headers at both layers, 8-byte link MIC. */
function v1Air(body: number, op: number): number {
  const link = op === 0 ? 26 + body + 8 : 26 + (26 + body + V1_TAG[op]) + 8;
  const cobs = Math.floor((link + 2) / 254) + 1; // an upper bound: one code byte per 254, plus the first
  return link + 2 + cobs + 1;
}

function measure(k: Kind): Row {
  const body = cbor(k.body);
  const e2e = seal(sender(core.E2E_VERSION, k.op, k.dir), k.op, body);
  const link = seal(sender(core.LINK_VERSION, core.LINK_DATA, k.dir, 1), core.LINK_DATA, e2e);
  const bh = sender(core.BACKHAUL_VERSION, core.LINK_DATA, k.dir);
  const backhaul = seal(bh, core.LINK_DATA, new Uint8Array([...METER, ...e2e]));
  return {
    name: k.name,
    body: body.length,
    e2e: e2e.length,
    link: link.length,
    air: lineLen(link),
    backhaul: backhaul.length,
    fragmented: k.fragmented === true,
    v1Air: v1Air(body.length, k.op),
  };
}

const rows = KINDS.map(measure);
// The radio link's own frames.
const ackBody = cbor([0x01020304]);
for (const dir of [core.DIR_UP, core.DIR_DOWN]) {
  const f = seal(sender(core.LINK_VERSION, core.LINK_ACK, dir, 1), core.LINK_ACK, ackBody);
  rows.push({
    name: `LINK_ACK ${dir === core.DIR_UP ? 'up' : 'down'} (radio link)`,
    body: ackBody.length,
    e2e: 0,
    link: f.length,
    air: lineLen(f),
    backhaul: 0,
    fragmented: false,
    v1Air: v1Air(ackBody.length, 0),
  });
}

const pad = (s: string | number, n: number) => String(s).padStart(n);
const ms = (x: number) => x.toFixed(1);
console.log(
  'Wire v2 bytes per message (short counters, steady state; TEST keys). air = COBS(frame ‖ CRC16) ‖ 00 on a transparent serial modem.',
);
console.log(
  'kind'.padEnd(48) +
    pad('body', 5) +
    pad('e2e', 5) +
    pad('link', 6) +
    pad('air', 5) +
    pad('v1 air', 7) +
    pad('E32 ms', 8) +
    pad('SF7 ms', 8) +
    pad('SF12 ms', 9) +
    '  backhaul',
);
for (const r of rows) {
  console.log(
    (r.name + (r.fragmented ? ' *' : '')).padEnd(48) +
      pad(r.body, 5) +
      pad(r.e2e || '-', 5) +
      pad(r.link, 6) +
      pad(r.air, 5) +
      pad('≤' + r.v1Air, 7) +
      pad(ms(e32Ms(r.air)), 8) +
      pad(ms(loraMs(r.air, 7)), 8) +
      pad(ms(loraMs(r.air, 12)), 9) +
      '  ' +
      (r.backhaul || '-'),
  );
}
console.log(
  '* larger than one radio packet by design (firmware chunk, key transport, load-profile answers of 2+ intervals): split by the modem layer.',
);
console.log('  v1 air: the same body in wire v1 (26-byte headers at both layers), COBS overhead as its upper bound.');

// The same 11-byte reading under other protocols (payload = the CBOR body; headers from the specifications).
const n = rows[0].body;
const others: [string, number, string][] = [
  ['Vakt wire v2 (two layers, serial framing)', rows[0].air, 'radio 4 + e2e 4 + body + tag 8 + MIC 4, CRC 2, COBS 1, delimiter 1'],
  ['LoRaWAN 1.0 (one layer, PHYPayload)', 13 + n, 'MHDR 1 + DevAddr 4 + FCtrl 1 + FCnt 2 + FPort 1 + FRMPayload + MIC 4 (LoRaWAN 1.0 §4)'],
  [
    'DLMS general-glo-ciphering (one layer, APDU)',
    28 + n,
    'tag 1 + len 1 + system title 8 + len 1 + SC 1 + invocation counter 4 + ciphertext + GMAC tag 12 (Green Book 9.2.7.2)',
  ],
  [
    'OMS mode 5 (wM-Bus format A, one layer)',
    omsBytes(n, false),
    'DLL 10 + CI 1 + short TPL 4 + AES-CBC blocks of (2F2F ‖ payload) + block CRCs (OMS Vol.2, EN 13757-4)',
  ],
  [
    'OMS mode 7 (wM-Bus format A, CMAC 8)',
    omsBytes(n, true),
    'as mode 5 + AFL 13 (CI 1, AFLL 1, FCL 2, MCL 1, MAC 8) + CF extension 1 (OMS Vol.2 §9.2.4)',
  ],
];
function omsBytes(payload: number, mode7: boolean): number {
  const enc = Math.ceil((2 + payload) / 16) * 16; // 2F2F verification bytes, padded to whole AES blocks
  const beforeCrc = 10 + (mode7 ? 13 : 0) + 1 + 4 + (mode7 ? 1 : 0) + enc; // DLL header (L C M A), AFL, CI, TPL, payload
  // Format A: the first block holds 10 bytes + CRC, every further block 16 bytes + CRC.
  const crcs = 1 + Math.ceil(Math.max(beforeCrc - 10, 0) / 16);
  return beforeCrc + 2 * crcs;
}
console.log('');
console.log(`The same ${n}-byte reading elsewhere (bytes the radio carries; the radios' own preamble/sync/PHY CRC not counted):`);
for (const [name, b, how] of others)
  console.log(name.padEnd(46) + pad(b, 4) + ' B  E32 ' + pad(ms(e32Ms(b)), 6) + ' ms  SF12 ' + pad(ms(loraMs(b, 12)), 7) + ' ms  ' + how);

const reading = rows[0];
const short = rows.filter((r) => !r.fragmented);
const maxShort = short.reduce((m, r) => (r.air > m.air ? r : m));
console.log('');
console.log(
  `reading ${reading.air} B on the air (goal ≤ 40, stretch ≤ 32: ${reading.air <= 32 ? 'met' : 'not met'}); mid-life reading ${rows[1].air} B; largest non-fragmented frame: ${maxShort.name}, ${maxShort.air} B (goal ≤ 58).`,
);
console.log(
  JSON.stringify({
    reading_air_bytes: reading.air,
    reading_midlife_air_bytes: rows[1].air,
    max_short_frame_air_bytes: maxShort.air,
    max_short_frame_kind: maxShort.name,
    reading_e32_ms: Number(ms(e32Ms(reading.air))),
    reading_sf12_ms: Number(ms(loraMs(reading.air, 12))),
    lorawan_reading_bytes: others[1][1],
    dlms_reading_bytes: others[2][1],
    oms5_reading_bytes: others[3][1],
    oms7_reading_bytes: others[4][1],
  }),
);
