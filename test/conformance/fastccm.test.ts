// The host CCM (shared/src/fastccm.ts, createFastCryptoCtx) against published answers, OpenSSL and
// the embedded path: RFC 3610 / IEEE 802.15.4 known answers; random cases vs node:crypto
// aes-128-ccm with the AAD split in two segments (R ‖ wire bytes, as seal.ts passes it), every tag
// length, partial blocks, odd offsets, in place and tampered; the same refusals as _ccm; every
// committed wire vector (test/vectors/*.json) sealed and opened through the host context; the
// four-table block against FIPS-197 and OpenSSL; the same context shape as createCryptoCtx.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as core from '@vakt/shared';
import { createFastCryptoCtx, fastAes, _fastCrypto } from '../../shared/src/fastccm.ts';
import { nodeCcmSeal } from './core-ref.ts';
import { IEEE802154, RFC3610 } from './kat-vectors.ts';
import type { CcmVector } from './kat-vectors.ts';
import { checkBlockProvider } from './provider-check.ts';

const fast = createFastCryptoCtx();
const soft = core.createCryptoCtx();
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const hx = (u: Uint8Array): string => Buffer.from(u).toString('hex');
const TAG_LENS = [4, 6, 8, 10, 12, 14, 16];

// Seal with the AAD as pre[0..preLen) ‖ aad[aadOff..+aadLen), ciphertext then tag at out[outOff..].
function seal(
  ctx: core.CryptoCtx,
  rk: Uint32Array,
  nonce: Uint8Array,
  pre: Uint8Array,
  aad: Uint8Array,
  aadOff: number,
  aadLen: number,
  src: Uint8Array,
  srcOff: number,
  len: number,
  tagLen: number,
  out: Uint8Array,
  outOff: number,
): void {
  ctx.ccm_(ctx, rk, nonce, 0, pre, pre.length, aad, aadOff, aadLen, src, srcOff, len, out, outOff + len, tagLen, out, outOff, false);
}

function open(
  ctx: core.CryptoCtx,
  rk: Uint32Array,
  nonce: Uint8Array,
  pre: Uint8Array,
  aad: Uint8Array,
  aadOff: number,
  aadLen: number,
  src: Uint8Array,
  srcOff: number,
  len: number,
  tagLen: number,
  out: Uint8Array,
  outOff: number,
): boolean {
  return ctx.ccm_(ctx, rk, nonce, 0, pre, pre.length, aad, aadOff, aadLen, src, srcOff, len, src, srcOff + len, tagLen, out, outOff, true);
}

function known(v: CcmVector): void {
  const rk = new Uint32Array(44);
  core.expandKey(hex(v.key), 0, rk);
  const aad = hex(v.aad);
  const msg = hex(v.msg);
  const none = new Uint8Array(0);
  const out = new Uint8Array(msg.length + v.tagLen);
  seal(fast, rk, hex(v.nonce), none, aad, 0, aad.length, msg, 0, msg.length, v.tagLen, out, 0);
  expect(hx(out)).toBe(v.out.toLowerCase());
  const back = new Uint8Array(msg.length);
  expect(open(fast, rk, hex(v.nonce), none, aad, 0, aad.length, out, 0, msg.length, v.tagLen, back, 0)).toBe(true);
  expect(hx(back)).toBe(v.msg.toLowerCase());
  out[out.length - 1] ^= 1;
  expect(open(fast, rk, hex(v.nonce), none, aad, 0, aad.length, out, 0, msg.length, v.tagLen, back, 0)).toBe(false);
  expect(back.every((b) => b === 0)).toBe(true);
}

describe('host CCM: published known answers', () => {
  for (const v of RFC3610) it(`RFC 3610 Packet Vector ${v.name}`, () => known(v));
  for (const v of IEEE802154) it(`IEEE 802.15.4 ${v.name}`, () => known(v));
});

describe('host CCM vs OpenSSL aes-128-ccm and vs the embedded CCM', () => {
  it('agrees on 2000 random cases (two AAD segments, odd offsets, in place, tampering fails and zeroes)', () => {
    let seed = 0x2545f491;
    const rnd = (n: number): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    for (let i = 0; i < 2000; i++) {
      const key = new Uint8Array(randomBytes(16));
      const rk = new Uint32Array(44);
      core.expandKey(key, 0, rk);
      const nonce = new Uint8Array(randomBytes(13));
      const pre = new Uint8Array(randomBytes(rnd(4) === 0 ? 0 : rnd(40)));
      const aadLen = i % 97 === 0 ? 600 + rnd(400) : rnd(50);
      // Payload lengths around block edges, and sometimes long.
      const len = i % 53 === 0 ? 1000 + rnd(1100) : rnd(3) === 0 ? 16 * rnd(6) + rnd(3) - (rnd(2) ? 1 : 0) : rnd(100);
      const n = len < 0 ? 0 : len;
      const tagLen = TAG_LENS[i % TAG_LENS.length];
      const aadOff = rnd(5);
      const aad = new Uint8Array(randomBytes(aadOff + aadLen + 3));
      const srcOff = rnd(7);
      const pt = new Uint8Array(randomBytes(srcOff + n + 2));
      const want = nodeCcmSeal(
        key,
        nonce,
        Buffer.concat([pre, aad.subarray(aadOff, aadOff + aadLen)]),
        pt.subarray(srcOff, srcOff + n),
        tagLen,
      );
      const outOff = rnd(9);
      const out = new Uint8Array(outOff + n + tagLen + 5).fill(0xa5);
      seal(fast, rk, nonce, pre, aad, aadOff, aadLen, pt, srcOff, n, tagLen, out, outOff);
      expect(hx(out.subarray(outOff, outOff + n + tagLen))).toBe(hx(want));
      expect(out[outOff - 1] === undefined || out[outOff - 1] === 0xa5).toBe(true);
      expect(out[outOff + n + tagLen]).toBe(0xa5);
      const viaSoft = new Uint8Array(n + tagLen);
      seal(soft, rk, nonce, pre, aad, aadOff, aadLen, pt, srcOff, n, tagLen, viaSoft, 0);
      expect(hx(viaSoft)).toBe(hx(want));
      // Open in place.
      const inPlace = out.slice();
      expect(open(fast, rk, nonce, pre, aad, aadOff, aadLen, inPlace, outOff, n, tagLen, inPlace, outOff)).toBe(true);
      expect(hx(inPlace.subarray(outOff, outOff + n))).toBe(hx(pt.subarray(srcOff, srcOff + n)));
      // Tamper with one byte of the ciphertext, tag or AAD: refused, output zeroed.
      const bad = out.slice();
      const where = rnd(3);
      if (where === 0 && n > 0) bad[outOff + rnd(n)] ^= 1 << rnd(8);
      else if (where === 1 || n === 0) bad[outOff + n + rnd(tagLen)] ^= 1 << rnd(8);
      const aad2 = aad.slice();
      if (where === 2 && n > 0) {
        if (aadLen > 0) aad2[aadOff + rnd(aadLen)] ^= 1;
        else bad[outOff] ^= 1;
      }
      const dst = new Uint8Array(n).fill(0x5a);
      expect(open(fast, rk, nonce, pre, aad2, aadOff, aadLen, bad, outOff, n, tagLen, dst, 0)).toBe(false);
      expect(dst.every((b) => b === 0)).toBe(true);
    }
  });

  it('reads a prefix shorter than its array and a schedule longer than 44 words like whole ones (200 random cases)', () => {
    // The host CCM copies a whole-array prefix and an exactly-44-word schedule in one block copy;
    // these are the other shapes _ccm's contract allows (preLen <= pre.length, rk.length >= 44).
    for (let i = 0; i < 200; i++) {
      const key = new Uint8Array(randomBytes(16));
      const rk = new Uint32Array(44 + 1 + (i % 20)).fill(0xdeadbeef);
      core.expandKey(key, 0, rk);
      const nonce = new Uint8Array(randomBytes(13));
      const preLen = i % 30;
      const pre = new Uint8Array(randomBytes(preLen + 1 + (i % 7)));
      const aad = new Uint8Array(randomBytes(i % 11));
      const n = (i * 7) % 70;
      const pt = new Uint8Array(randomBytes(n));
      const tagLen = TAG_LENS[i % TAG_LENS.length];
      const want = nodeCcmSeal(key, nonce, Buffer.concat([pre.subarray(0, preLen), aad]), pt, tagLen);
      const out = new Uint8Array(n + tagLen);
      fast.ccm_(fast, rk, nonce, 0, pre, preLen, aad, 0, aad.length, pt, 0, n, out, n, tagLen, out, 0, false);
      expect(hx(out)).toBe(hx(want));
      const back = new Uint8Array(n);
      expect(fast.ccm_(fast, rk, nonce, 0, pre, preLen, aad, 0, aad.length, out, 0, n, out, n, tagLen, back, 0, true)).toBe(true);
      expect(hx(back)).toBe(hx(pt));
      pre[preLen] ^= 1; // a byte past the prefix is not part of the AAD
      expect(fast.ccm_(fast, rk, nonce, 0, pre, preLen, aad, 0, aad.length, out, 0, n, out, n, tagLen, back, 0, true)).toBe(true);
      if (preLen > 0) {
        pre[preLen - 1] ^= 1; // the prefix's last byte is
        expect(fast.ccm_(fast, rk, nonce, 0, pre, preLen, aad, 0, aad.length, out, 0, n, out, n, tagLen, back, 0, true)).toBe(false);
      }
    }
  });

  it('refuses what _ccm refuses, the same way: seal throws, open returns false with the output zeroed', () => {
    const rk = new Uint32Array(44);
    core.expandKey(new Uint8Array(16).fill(3), 0, rk);
    const nonce = new Uint8Array(13);
    const buf = new Uint8Array(64);
    const f = _fastCrypto().ccm;
    // Bad tag length, short nonce, out of range payload, AAD over the 2-byte encoding, bad schedule.
    const cases: [Uint32Array, Uint8Array, number, number, number][] = [
      [rk, nonce, 0, 16, 3],
      [rk, new Uint8Array(12), 0, 16, 8],
      [rk, nonce, 60, 16, 8],
      [new Uint32Array(40), nonce, 0, 16, 8],
    ];
    for (const [r, nn, srcOff, len, tagLen] of cases) {
      expect(() => f(fast, r, nn, 0, buf, 0, buf, 0, 0, buf, srcOff, len, buf, 40, tagLen, buf, 0, false)).toThrow();
      expect(() => core._ccm(soft, r, nn, 0, buf, 0, buf, 0, 0, buf, srcOff, len, buf, 40, tagLen, buf, 0, false)).toThrow();
      const out = new Uint8Array(32).fill(7);
      expect(f(fast, r, nn, 0, buf, 0, buf, 0, 0, buf, srcOff, len, buf, 40, tagLen, out, 0, true)).toBe(false);
      expect(out.subarray(0, len).every((b) => b === 0)).toBe(true);
    }
    const big = new Uint8Array(core.CCM_MAX_AAD + 1);
    expect(() => f(fast, rk, nonce, 0, big, 1, big, 0, core.CCM_MAX_AAD, buf, 0, 16, buf, 40, 8, buf, 0, false)).toThrow();
    expect(f(fast, rk, nonce, 0, big, 1, big, 0, core.CCM_MAX_AAD, buf, 0, 16, buf, 40, 8, new Uint8Array(16), 0, true)).toBe(false);
  });
});

describe('host CCM: the four-table block and the context', () => {
  it('fastAes passes the block-provider checks (FIPS-197, OpenSSL, odd offsets, in place)', () => {
    expect(checkBlockProvider('fastAes', fastAes)).toEqual([]);
  });

  it('createFastCryptoCtx has the shape of createCryptoCtx (one hidden class for every caller)', () => {
    expect(Object.keys(fast)).toEqual(Object.keys(soft));
    expect(fast.bc).toBe(fastAes);
    expect(fast.ccm_).toBe(_fastCrypto().ccm);
    expect(soft.ccm_).toBe(core._ccm);
  });

  it('CMAC and the KDF through the host context agree with the embedded one', () => {
    const key = new Uint8Array(randomBytes(16));
    const rk = new Uint32Array(44);
    core.expandKey(key, 0, rk);
    for (const len of [0, 1, 15, 16, 17, 31, 32, 33, 100]) {
      const msg = new Uint8Array(randomBytes(len));
      const a = new Uint8Array(16);
      const b = new Uint8Array(16);
      core.cmac(fast, rk, msg, 0, len, a, 0);
      core.cmac(soft, rk, msg, 0, len, b, 0);
      expect(hx(a)).toBe(hx(b));
    }
  });
});

interface Vec {
  name: string;
  version: number;
  op: number;
  dir: number;
  gen: number;
  sender: string;
  receiver: string;
  counter: number;
  full: number;
  receiverLast: number;
  addr?: number;
  body: string;
  frameKey: string;
  frame: string;
}

describe('host context: every committed wire vector', () => {
  for (const file of ['e2e.json', 'link.json', 'backhaul.json']) {
    const frames = (JSON.parse(readFileSync(new URL('../vectors/' + file, import.meta.url), 'utf8')) as { frames: Vec[] }).frames;
    it(`${file}: ${frames.length} frames sealed to the same bytes and opened`, () => {
      for (const v of frames) {
        const key = hex(v.frameKey);
        const body = hex(v.body);
        const tx = core.createKeySlot(v.version, v.op, v.dir, v.gen, hex(v.sender), hex(v.receiver), v.addr);
        core.setSlotKey(tx, key, 0);
        tx.ctr = core.createSendCounter(v.counter, 1, () => true);
        tx.ctr.sync = v.full === 1 ? 0 : v.counter;
        const out = new Uint8Array(core.MAX_E2E_FRAME + 8);
        const n = core.sealFrame(fast, tx, v.op, body, 0, body.length, out, 3);
        expect(hx(out.subarray(3, 3 + n)), v.name).toBe(v.frame);
        const frame = hex(v.frame);
        const hdr = core.createHeader();
        expect(core.parseHeader(frame, 0, frame.length, hdr)).toBe(0);
        const rx = core.createKeySlot(v.version, v.op, v.dir, v.gen, hex(v.receiver), hex(v.sender), v.addr);
        core.setSlotKey(rx, key, 0);
        rx.last = v.receiverLast;
        const pt = new Uint8Array(body.length + 4);
        expect(core.openFrame(fast, hdr, rx, frame, 0, pt, 2), v.name).toBe(body.length);
        expect(hx(pt.subarray(2, 2 + body.length))).toBe(v.body);
        // A flipped tag bit: ERR_TAG, nothing accepted.
        const forged = frame.slice();
        forged[forged.length - 1] ^= 1;
        const h2 = core.createHeader();
        expect(core.parseHeader(forged, 0, forged.length, h2)).toBe(0);
        rx.last = v.receiverLast;
        expect(core.openFrame(fast, h2, rx, forged, 0, pt, 2)).toBe(core.ERR_TAG);
        expect(rx.last).toBe(v.receiverLast);
      }
    });
  }
});

describe('sealFrame: an encrypted body outside the frame buffer', () => {
  it('is read in place of the copy, with the same bytes as a body inside the buffer (both contexts)', () => {
    const key = new Uint8Array(randomBytes(16));
    const id1 = new Uint8Array(randomBytes(8));
    const id2 = new Uint8Array(randomBytes(8));
    for (const ctx of [soft, fast]) {
      for (const len of [0, 1, 11, 16, 17, 64, 200]) {
        const body = new Uint8Array(randomBytes(len));
        const frames: string[] = [];
        for (const inside of [false, true]) {
          const tx = core.createKeySlot(core.E2E_VERSION, core.OP_READING, core.DIR_UP, 0, id1, id2);
          core.setSlotKey(tx, key, 0);
          tx.ctr = core.createSendCounter(5, 1, () => true);
          const out = new Uint8Array(len + 64);
          // Inside: the body sits where a long header would end, overlapping the frame's own body.
          if (inside) out.set(body, 20);
          const n = core.sealFrame(ctx, tx, core.OP_READING, inside ? out : body, inside ? 20 : 0, len, out, 0);
          frames.push(hx(out.subarray(0, n)));
        }
        expect(frames[0]).toBe(frames[1]);
      }
    }
  });
});
