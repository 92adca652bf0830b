// Differential tests of the AES block and CMAC against @noble/ciphers (ecb, cmac) and OpenSSL
// (node:crypto aes-128-ecb and the RFC 4493 construction of core-ref.ts), on thousands of random inputs.
import { cmac as nobleCmac, ecb } from '@noble/ciphers/aes.js';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { expandKey, softAes } from '../../shared/src/aes.ts';
import { cmac } from '../../shared/src/cmac.ts';
import { createCryptoCtx } from '../../shared/src/ctx.ts';
import { bytesToHex } from '../../shared/src/utils.ts';
import { nodeCmac, nodeEcb } from './core-ref.ts';

const ctx = createCryptoCtx();
const rk = new Uint32Array(44);

describe('AES-128 block vs @noble/ciphers ecb and OpenSSL', () => {
  it('agrees on 500 random keys x 8 blocks', () => {
    for (let i = 0; i < 500; i++) {
      const key = new Uint8Array(randomBytes(16));
      const data = new Uint8Array(randomBytes(128));
      expandKey(key, 0, rk);
      const mine = new Uint8Array(128);
      for (let b = 0; b < 128; b += 16) softAes.encryptBlock(rk, data, b, mine, b);
      const noble = ecb(key, { disablePadding: true }).encrypt(data);
      expect(bytesToHex(mine)).toBe(bytesToHex(noble));
      expect(bytesToHex(mine)).toBe(bytesToHex(nodeEcb(key, data)));
    }
  });
});

describe('AES-CMAC vs @noble/ciphers cmac and OpenSSL-based RFC 4493', () => {
  it('agrees on 2000 random keys, lengths 0..300, odd offsets', () => {
    for (let i = 0; i < 2000; i++) {
      const key = new Uint8Array(randomBytes(16));
      const len = i % 301;
      const off = 1 + (i % 13);
      const buf = new Uint8Array(randomBytes(len + off + 1));
      const msg = buf.slice(off, off + len);
      expandKey(key, 0, rk);
      const out = new Uint8Array(16 + 5);
      cmac(ctx, rk, buf, off, len, out, 5);
      const got = bytesToHex(out, 5, 16);
      expect(got).toBe(bytesToHex(nobleCmac(msg, key)));
      if (i % 4 === 0) expect(got).toBe(bytesToHex(nodeCmac(key, msg)));
    }
  });
});
