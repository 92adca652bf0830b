/**
 * Independent reference implementation of the Vakt wire format, written from docs/PROTOCOL.md alone
 * on node:crypto. It shares NO code with shared/src: its own policy table, header writer/reader,
 * CMAC (RFC 4493 on AES-128-ECB), SP 800-108 KDF and node's aes-128-ccm. The vector test checks the
 * core against this, so a wire-format change in either one fails loudly.
 */
import { createCipheriv, createDecipheriv, timingSafeEqual } from 'node:crypto';

export const REF_E2E = 0x01;
export const REF_LINK = 0x81;
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
  0x01: { name: 'READING', up: true, down: false, enc: 1, tag: 12 },
  0x02: { name: 'READ', up: true, down: true, enc: 1, tag: 12 },
  0x03: { name: 'RELAY', up: true, down: true, enc: 1, tag: 16 },
  0x04: { name: 'CONFIG', up: true, down: true, enc: 1, tag: 16 },
  0x05: { name: 'CLOCK', up: true, down: true, enc: 0, tag: 12 },
  0x06: { name: 'FIRMWARE', up: true, down: true, enc: 0, tag: 16 },
  0x07: { name: 'KEY_UPDATE', up: true, down: true, enc: 1, tag: 16 },
  0x08: { name: 'EVENT', up: true, down: false, enc: 1, tag: 12 },
  0x09: { name: 'ACK', up: true, down: true, enc: 0, tag: 8 },
};
export const REF_LINK_POLICY: Record<number, RefPolicy> = {
  0x01: { name: 'DATA', up: true, down: true, enc: 0, tag: 8 },
  0x02: { name: 'JOIN', up: false, down: true, enc: 1, tag: 8 },
  0x03: { name: 'LEAVE', up: false, down: true, enc: 1, tag: 8 },
  0x04: { name: 'LINK_ACK', up: true, down: true, enc: 0, tag: 8 },
};

export function refPolicy(version: number, op: number): RefPolicy | undefined {
  const t = version === REF_E2E ? REF_E2E_POLICY : version === REF_LINK ? REF_LINK_POLICY : undefined;
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
  return refCmac(key, Buffer.concat([Buffer.from([1]), Buffer.from(label, 'ascii'), Buffer.from([0]), Buffer.from(context), Buffer.from([0x00, 0x80])]));
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
  version: number;
  dir: number;
  op: number;
  gen: number;
  sender: Uint8Array;
  receiver: Uint8Array;
  counter: number;
  body: Uint8Array; // plaintext body
}

/** The 26-byte header of §3 for a frame whose body is body.length bytes (ENC from policy). */
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

function refNonce(sender: Uint8Array, counter: number, op: number): Buffer {
  const n = Buffer.alloc(13);
  Buffer.from(sender).copy(n, 0);
  n.writeUInt32BE(counter, 8);
  n[12] = op;
  return n;
}

/** Seals a frame per §3 with the 16-byte frame key `key` using node's aes-128-ccm. */
export function refSeal(f: RefFrameFields, key: Uint8Array): Buffer {
  const p = refPolicy(f.version, f.op);
  if (p === undefined) throw new Error('reference: unknown op');
  const allowed = f.dir === REF_DOWN ? p.down : p.up;
  if (!allowed) throw new Error('reference: direction not allowed');
  const hdr = refHeader(f);
  const nonce = refNonce(f.sender, f.counter, f.op);
  const c = createCipheriv('aes-128-ccm', Buffer.from(key), nonce, { authTagLength: p.tag });
  if (p.enc === 1) {
    c.setAAD(hdr, { plaintextLength: f.body.length });
    const ct = Buffer.concat([c.update(Buffer.from(f.body)), c.final()]);
    return Buffer.concat([hdr, ct, c.getAuthTag()]);
  }
  const aad = Buffer.concat([hdr, Buffer.from(f.body)]);
  c.setAAD(aad, { plaintextLength: 0 });
  c.update(Buffer.alloc(0));
  c.final();
  return Buffer.concat([aad, c.getAuthTag()]);
}

export interface RefOpened extends RefFrameFields {
  enc: number;
  tagLen: number;
}

/** Parses and verifies a frame under `key`; returns the fields with the plaintext body, or null (any failure). */
export function refOpen(frame: Uint8Array, key: Uint8Array): RefOpened | null {
  const fb = Buffer.from(frame);
  if (fb.length < 26) return null;
  const version = fb[0];
  const flags = fb[1];
  if (flags & 0xfc) return null;
  const op = fb[2];
  const p = refPolicy(version, op);
  if (p === undefined) return null;
  const dir = flags & 1;
  const enc = (flags >> 1) & 1;
  if (enc !== p.enc || !(dir === REF_DOWN ? p.down : p.up)) return null;
  const n = fb.readUInt16BE(24);
  if (n > 1024 || fb.length !== 26 + n + p.tag) return null;
  const hdr = fb.subarray(0, 26);
  const sender = fb.subarray(4, 12);
  const counter = fb.readUInt32BE(20);
  const body = fb.subarray(26, 26 + n);
  const tag = fb.subarray(26 + n);
  const d = createDecipheriv('aes-128-ccm', Buffer.from(key), refNonce(sender, counter, op), { authTagLength: p.tag });
  d.setAuthTag(tag);
  let pt: Buffer;
  try {
    if (enc === 1) {
      d.setAAD(hdr, { plaintextLength: n });
      pt = d.update(body);
      d.final();
    } else {
      d.setAAD(fb.subarray(0, 26 + n), { plaintextLength: 0 });
      d.update(Buffer.alloc(0));
      d.final();
      pt = Buffer.from(body);
    }
  } catch {
    return null;
  }
  return {
    version,
    dir,
    op,
    gen: fb[3],
    sender: Buffer.from(sender),
    receiver: Buffer.from(fb.subarray(12, 20)),
    counter,
    body: pt,
    enc,
    tagLen: p.tag,
  };
}

/** Constant-time equality for test use. */
export function refEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}
