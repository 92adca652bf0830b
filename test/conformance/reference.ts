/**
 * Independent reference implementation of the Vakt wire format, written from docs/PROTOCOL.md alone
 * on node:crypto. It shares NO code with shared/src: its own policy table, header writer/reader,
 * CMAC (RFC 4493 on AES-128-ECB), SP 800-108 KDF and node's aes-128-ccm. The vector test checks the
 * core against this, so a wire-format change in either one fails loudly.
 */
import { createCipheriv, createDecipheriv, timingSafeEqual } from 'node:crypto';

/** Layer codes (PROTOCOL.md §3): e2e 0x02, radio hop 0x42, backhaul 0x82 (first byte of a backhaul frame). */
export const REF_E2E = 0x02;
export const REF_LINK = 0x42;
export const REF_BACKHAUL = 0x82;
export const REF_UP = 0;
export const REF_DOWN = 1;

/** PROTOCOL.md §5 / §7 as data: allowed directions, ENC, tag length. */
interface RefPolicy {
  up: boolean;
  down: boolean;
  enc: 0 | 1;
  tag: number;
  name: string;
}
export const REF_E2E_POLICY: Record<number, RefPolicy> = {
  0x01: { name: 'READING', up: true, down: false, enc: 1, tag: 8 },
  0x02: { name: 'READ', up: true, down: true, enc: 1, tag: 12 },
  0x03: { name: 'RELAY', up: true, down: true, enc: 1, tag: 16 },
  0x04: { name: 'CONFIG', up: true, down: true, enc: 1, tag: 16 },
  0x05: { name: 'CLOCK', up: true, down: true, enc: 0, tag: 12 },
  0x06: { name: 'FIRMWARE', up: true, down: true, enc: 0, tag: 12 },
  0x07: { name: 'KEY_UPDATE', up: true, down: true, enc: 1, tag: 16 },
  0x08: { name: 'EVENT', up: true, down: false, enc: 1, tag: 12 },
  0x09: { name: 'ACK', up: true, down: true, enc: 0, tag: 8 },
};
/** Radio hop (meter ↔ concentrator): DATA and LINK_ACK only, 4-byte MIC. */
export const REF_LINK_POLICY: Record<number, RefPolicy> = {
  0x01: { name: 'DATA', up: true, down: true, enc: 0, tag: 4 },
  0x04: { name: 'LINK_ACK', up: true, down: true, enc: 0, tag: 4 },
};
/** Backhaul (concentrator ↔ HES, TCP): every link type, 8-byte MIC. */
export const REF_BACKHAUL_POLICY: Record<number, RefPolicy> = {
  0x01: { name: 'DATA', up: true, down: true, enc: 0, tag: 8 },
  0x02: { name: 'JOIN', up: false, down: true, enc: 1, tag: 8 },
  0x03: { name: 'LEAVE', up: false, down: true, enc: 1, tag: 8 },
  0x04: { name: 'LINK_ACK', up: true, down: true, enc: 0, tag: 8 },
};

export function refPolicy(version: number, op: number): RefPolicy | undefined {
  const t =
    version === REF_E2E
      ? REF_E2E_POLICY
      : version === REF_LINK
        ? REF_LINK_POLICY
        : version === REF_BACKHAUL
          ? REF_BACKHAUL_POLICY
          : undefined;
  return t === undefined ? undefined : t[op];
}

function aesEcb(key: Buffer, block: Buffer): Buffer {
  const c = createCipheriv('aes-128-ecb', key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}

function dbl(b: Buffer): Buffer {
  const out = Buffer.alloc(16);
  let carry = 0;
  for (let i = 15; i >= 0; i--) {
    const v = (b[i] << 1) | carry;
    out[i] = v & 0xff;
    carry = b[i] >> 7;
  }
  if (b[0] & 0x80) out[15] ^= 0x87;
  return out;
}

/** AES-128-CMAC (RFC 4493) built on ECB. */
export function refCmac(key: Uint8Array, msg: Uint8Array): Buffer {
  const k = Buffer.from(key);
  const L = aesEcb(k, Buffer.alloc(16));
  const k1 = dbl(L);
  const k2 = dbl(k1);
  const n = msg.length === 0 ? 1 : Math.ceil(msg.length / 16);
  const complete = msg.length > 0 && msg.length % 16 === 0;
  const last = Buffer.alloc(16);
  const tailStart = (n - 1) * 16;
  const tail = Buffer.from(msg.subarray(tailStart));
  if (complete) {
    for (let i = 0; i < 16; i++) last[i] = tail[i] ^ k1[i];
  } else {
    const padded = Buffer.alloc(16);
    tail.copy(padded);
    padded[tail.length] = 0x80;
    for (let i = 0; i < 16; i++) last[i] = padded[i] ^ k2[i];
  }
  let x: Buffer = Buffer.alloc(16);
  for (let b = 0; b < n - 1; b++) {
    const y = Buffer.alloc(16);
    for (let i = 0; i < 16; i++) y[i] = x[i] ^ msg[b * 16 + i];
    x = aesEcb(k, y);
  }
  const y = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) y[i] = x[i] ^ last[i];
  return aesEcb(k, y);
}

/** KDF(K, label, context) = CMAC(K, 0x01 ‖ label ‖ 0x00 ‖ context ‖ 0x0080). */
export function refKdf(key: Uint8Array, label: string, context: Uint8Array): Buffer {
  return refCmac(
    key,
    Buffer.concat([Buffer.from([1]), Buffer.from(label, 'ascii'), Buffer.from([0]), Buffer.from(context), Buffer.from([0x00, 0x80])]),
  );
}

export function refOpRoot(mk: Uint8Array, meterId: Uint8Array, op: number, gen: number): Buffer {
  return refKdf(mk, 'vakt-op', Buffer.concat([Buffer.from(meterId), Buffer.from([op, gen])]));
}
export function refE2eKey(ok: Uint8Array, meterId: Uint8Array, op: number, dir: number, gen: number): Buffer {
  return refKdf(ok, 'vakt-e2e', Buffer.concat([Buffer.from(meterId), Buffer.from([op, dir, gen])]));
}
export function refLinkKey(lk: Uint8Array, deviceId: Uint8Array, dir: number, gen: number): Buffer {
  return refKdf(lk, 'vakt-link', Buffer.concat([Buffer.from(deviceId), Buffer.from([dir, gen])]));
}
export function refKcKey(newKey: Uint8Array, meterId: Uint8Array, scope: number, gen: number): Buffer {
  return refKdf(newKey, 'vakt-kc', Buffer.concat([Buffer.from(meterId), Buffer.from([scope, gen])]));
}
/** KF[g] = KDF(OK[FIRMWARE, g], "vakt-e2e", meterId ‖ 0x06 ‖ 0x02 ‖ g): the firmware image key (PROTOCOL.md §10, D-10). */
export function refImageKey(okFirmware: Uint8Array, meterId: Uint8Array, gen: number): Buffer {
  return refKdf(okFirmware, 'vakt-e2e', Buffer.concat([Buffer.from(meterId), Buffer.from([0x06, 0x02, gen])]));
}
/** The whole-image MAC of a FIRMWARE BEGIN: CMAC(KF[g], image) (PROTOCOL.md §10, D-10). */
export function refImageMac(okFirmware: Uint8Array, meterId: Uint8Array, gen: number, image: Uint8Array): Buffer {
  return refCmac(refImageKey(okFirmware, meterId, gen), image);
}

export interface RefFrameFields {
  version: number; // REF_E2E, REF_LINK or REF_BACKHAUL
  dir: number;
  op: number;
  gen: number;
  sender: Uint8Array;
  receiver: Uint8Array;
  counter: number; // the full 32-bit counter
  body: Uint8Array; // plaintext body
  /** e2e / hop: true = the full counter on the wire (X = 1), false = its low 16 / 8 bits. Backhaul: always full. */
  full?: boolean;
  /** Radio hop: the meter's short address (1..0xFFFE). */
  addr?: number;
}

/** R, the 26-byte reconstructed header of §3: layer ‖ flags ‖ op ‖ gen ‖ sender ‖ receiver ‖ counter ‖ body length (ENC from policy). */
export function refHeader(f: RefFrameFields): Buffer {
  const p = refPolicy(f.version, f.op);
  if (p === undefined) throw new Error('reference: unknown op');
  const h = Buffer.alloc(26);
  h[0] = f.version;
  h[1] = (f.dir & 1) | (p.enc << 1);
  h[2] = f.op;
  h[3] = f.gen;
  Buffer.from(f.sender).copy(h, 4);
  Buffer.from(f.receiver).copy(h, 12);
  h.writeUInt32BE(f.counter, 20);
  h.writeUInt16BE(f.body.length, 24);
  return h;
}

/** The header bytes on the wire (§3): e2e 0x20|X<<4|op ‖ gen ‖ counter; hop 0x40|X<<5|dir<<4|type ‖ addr ‖ counter; backhaul = R. */
export function refWireHeader(f: RefFrameFields): Buffer {
  if (f.version === REF_BACKHAUL) return refHeader(f);
  const full = f.full === true;
  const ctr = full ? Buffer.alloc(4) : Buffer.alloc(f.version === REF_E2E ? 2 : 1);
  if (full) ctr.writeUInt32BE(f.counter, 0);
  else if (f.version === REF_E2E) ctr.writeUInt16BE(f.counter % 0x10000, 0);
  else ctr[0] = f.counter % 0x100;
  if (f.version === REF_E2E) return Buffer.concat([Buffer.from([0x20 | (full ? 0x10 : 0) | f.op, f.gen]), ctr]);
  const a = f.addr ?? 0;
  return Buffer.concat([Buffer.from([0x40 | (full ? 0x20 : 0) | ((f.dir & 1) << 4) | f.op, a >> 8, a & 0xff]), ctr]);
}

function refNonce(sender: Uint8Array, counter: number, op: number): Buffer {
  const n = Buffer.alloc(13);
  Buffer.from(sender).copy(n, 0);
  n.writeUInt32BE(counter, 8);
  n[12] = op;
  return n;
}

/** Associated data before the body (§3): R ‖ wire header, or the backhaul header alone (it is R). */
function refAadHead(f: RefFrameFields, wire: Buffer): Buffer {
  return f.version === REF_BACKHAUL ? wire : Buffer.concat([refHeader(f), wire]);
}

/** Seals a frame per §3 with the 16-byte frame key `key` using node's aes-128-ccm. */
export function refSeal(f: RefFrameFields, key: Uint8Array): Buffer {
  const p = refPolicy(f.version, f.op);
  if (p === undefined) throw new Error('reference: unknown op');
  const allowed = f.dir === REF_DOWN ? p.down : p.up;
  if (!allowed) throw new Error('reference: direction not allowed');
  const wire = refWireHeader(f);
  const head = refAadHead(f, wire);
  const nonce = refNonce(f.sender, f.counter, f.op);
  const c = createCipheriv('aes-128-ccm', Buffer.from(key), nonce, { authTagLength: p.tag });
  if (p.enc === 1) {
    c.setAAD(head, { plaintextLength: f.body.length });
    const ct = Buffer.concat([c.update(Buffer.from(f.body)), c.final()]);
    return Buffer.concat([wire, ct, c.getAuthTag()]);
  }
  c.setAAD(Buffer.concat([head, Buffer.from(f.body)]), { plaintextLength: 0 });
  c.update(Buffer.alloc(0));
  c.final();
  return Buffer.concat([wire, Buffer.from(f.body), c.getAuthTag()]);
}

export interface RefOpened extends RefFrameFields {
  enc: number;
  tagLen: number;
}

/** What an e2e or hop receiver knows and the wire leaves out (§3, §6): its key's ids, direction, generation (hop) and last accepted counter. */
export interface RefReceiver {
  dir: number;
  sender: Uint8Array;
  receiver: Uint8Array;
  gen: number; // hop: the link key's generation (e2e and backhaul carry theirs)
  last: number;
}

/**
 * The counter a short wire value stands for (§6): the smallest value at or above `last` whose low
 * bits are `low` (16 bits e2e, 8 bits hop).
 */
export function refReconstruct(last: number, low: number, bits: number): number {
  const w = 2 ** bits;
  const v = Math.floor(last / w) * w + low;
  return v >= last ? v : v + w;
}

/**
 * Parses and verifies a frame under `key`; returns the fields with the plaintext body, or null
 * (any failure, including a counter that is not above rx.last). Backhaul frames need no rx.
 */
export function refOpen(frame: Uint8Array, key: Uint8Array, rx?: RefReceiver): RefOpened | null {
  const fb = Buffer.from(frame);
  if (fb.length < 1) return null;
  const b0 = fb[0];
  let version: number;
  let op: number;
  let dir: number;
  let full: boolean;
  let hl: number;
  let gen: number;
  let counter: number;
  let sender: Uint8Array;
  let receiver: Uint8Array;
  let addr: number | undefined;
  if (b0 === REF_BACKHAUL) {
    if (fb.length < 26 || fb[1] & 0xfc) return null;
    version = REF_BACKHAUL;
    op = fb[2];
    dir = fb[1] & 1;
    full = true;
    hl = 26;
    gen = fb[3];
    sender = fb.subarray(4, 12);
    receiver = fb.subarray(12, 20);
    counter = fb.readUInt32BE(20);
  } else {
    if (rx === undefined) return null;
    if ((b0 & 0xe0) === 0x20) {
      version = REF_E2E;
      op = b0 & 0x0f;
      full = (b0 & 0x10) !== 0;
      hl = full ? 6 : 4;
      if (fb.length < hl) return null;
      gen = fb[1];
      const w = full ? fb.readUInt32BE(2) : fb.readUInt16BE(2);
      counter = full ? w : refReconstruct(rx.last, w, 16);
    } else if ((b0 & 0xc0) === 0x40) {
      version = REF_LINK;
      op = b0 & 0x0f;
      full = (b0 & 0x20) !== 0;
      hl = full ? 7 : 4;
      if (fb.length < hl || ((b0 >> 4) & 1) !== rx.dir) return null;
      addr = fb.readUInt16BE(1);
      gen = rx.gen;
      counter = full ? fb.readUInt32BE(3) : refReconstruct(rx.last, fb[3], 8);
    } else return null;
    dir = rx.dir;
    sender = rx.sender;
    receiver = rx.receiver;
    if (counter > 0xffffffff) return null;
  }
  const p = refPolicy(version, op);
  if (p === undefined || !(dir === REF_DOWN ? p.down : p.up)) return null;
  if (version === REF_BACKHAUL && ((fb[1] >> 1) & 1) !== p.enc) return null;
  const n = version === REF_BACKHAUL ? fb.readUInt16BE(24) : fb.length - hl - p.tag;
  if (n < 0 || n > 1024 || fb.length !== hl + n + p.tag) return null;
  const fields: RefFrameFields = {
    version,
    dir,
    op,
    gen,
    sender: Buffer.from(sender),
    receiver: Buffer.from(receiver),
    counter,
    body: Buffer.alloc(n),
    full,
    addr,
  };
  const head = refAadHead(fields, fb.subarray(0, hl));
  const body = fb.subarray(hl, hl + n);
  const d = createDecipheriv('aes-128-ccm', Buffer.from(key), refNonce(sender, counter, op), { authTagLength: p.tag });
  d.setAuthTag(fb.subarray(hl + n));
  let pt: Buffer;
  try {
    if (p.enc === 1) {
      d.setAAD(head, { plaintextLength: n });
      pt = d.update(body);
      d.final();
    } else {
      d.setAAD(Buffer.concat([head, body]), { plaintextLength: 0 });
      d.update(Buffer.alloc(0));
      d.final();
      pt = Buffer.from(body);
    }
  } catch {
    return null;
  }
  if (counter < 1 || (rx !== undefined && version !== REF_BACKHAUL && counter <= rx.last)) return null;
  return { ...fields, body: pt, enc: p.enc, tagLen: p.tag };
}

/** Constant-time equality for test use. */
export function refEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}
