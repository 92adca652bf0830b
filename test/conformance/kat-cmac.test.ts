// Known answers for AES-CMAC (shared/src/cmac.ts).
// Sources: NIST SP 800-38B Appendix D.1 = RFC 4493 §4 (four AES-128 examples);
// OMS Vol.2 Annex N security profile B example as published in ISFH/ioBroker.wmbus
// lib/wmbus_decoder.test.js ("OMS Examples"), see shared/notes/vectors.md §4b.
import { cmac as nobleCmac } from '@noble/ciphers/aes.js';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { expandKey } from '../../shared/src/aes.ts';
import { cmac } from '../../shared/src/cmac.ts';
import { createCryptoCtx } from '../../shared/src/ctx.ts';
import { bytesToHex, hexToBytes } from '../../shared/src/utils.ts';
import { nodeCmac } from './core-ref.ts';

const ctx = createCryptoCtx();
const rk = new Uint32Array(44);

function tag(key: string | Uint8Array, msg: Uint8Array): string {
  expandKey(typeof key === 'string' ? hexToBytes(key) : key, 0, rk);
  const out = new Uint8Array(16);
  cmac(ctx, rk, msg, 0, msg.length, out, 0);
  return bytesToHex(out);
}

const K = '2b7e151628aed2a6abf7158809cf4f3c';
const M = hexToBytes(
  '6bc1bee22e409f96e93d7e117393172a' +
    'ae2d8a571e03ac9c9eb76fac45af8e51' +
    '30c81c46a35ce411e5fbc1191a0a52ef' +
    'f69f2445df4f9b17ad2b417be66c3710',
);
const RFC4493 = [
  { len: 0, tag: 'bb1d6929e95937287fa37d129b756746' },
  { len: 16, tag: '070a16b46b4d4144f79bdd9dd04a287c' },
  { len: 40, tag: 'dfa66747de9ae63030ca32611497c827' },
  { len: 64, tag: '51f0bebf7e3b9d92fc49741779363cfe' },
];

describe('AES-CMAC, RFC 4493 §4 / SP 800-38B D.1', () => {
  for (const v of RFC4493) {
    it(`Example Mlen = ${v.len}`, () => {
      expect(tag(K, M.subarray(0, v.len))).toBe(v.tag);
      // The test's own RFC 4493 construction on OpenSSL agrees, so it can serve as the KDF reference.
      expect(bytesToHex(nodeCmac(hexToBytes(K), M.subarray(0, v.len)))).toBe(v.tag);
    });
  }

  it('MACs a message at an offset and writes the tag at an offset, in place over the message', () => {
    const buf = new Uint8Array(7 + 40);
    buf.set(M.subarray(0, 40), 7);
    expandKey(hexToBytes(K), 0, rk);
    cmac(ctx, rk, buf, 7, 40, buf, 7);
    expect(bytesToHex(buf, 7, 16)).toBe('dfa66747de9ae63030ca32611497c827');
  });
});

describe('AES-CMAC, OMS Vol.2 Annex N profile B example (ioBroker.wmbus test)', () => {
  const master = '000102030405060708090A0B0C0D0E0F';
  it('derives Kenc and Kmac (CMAC of DC || MCR || ID || 07x7)', () => {
    expect(tag(master, hexToBytes('00' + 'b30a0000' + '78563412' + '07070707070707'))).toBe('eccf39d475d730b8284fdfdc1995d52f');
    expect(tag(master, hexToBytes('01' + 'b30a0000' + '78563412' + '07070707070707'))).toBe('c9cd19ff5a9aad5a6bbda13bd2c4c7ad');
  });
  it('computes the AFL MAC', () => {
    const input = hexToBytes('25b30a00007a75002007109058475f4bc91df878b80a1b0f98b629024aac727942bfc549233c0140829b93');
    expect(tag('c9cd19ff5a9aad5a6bbda13bd2c4c7ad', input)).toBe('21924d4f2fb66e0160ce5f71f1b74310');
  });
});

describe('AES-CMAC against @noble/ciphers and the node:crypto RFC 4493 construction', () => {
  it('agrees on 400 random keys and lengths 0..80', () => {
    for (let i = 0; i < 400; i++) {
      const key = randomBytes(16);
      const msg = new Uint8Array(randomBytes(i % 81));
      const mine = tag(new Uint8Array(key), msg);
      expect(mine).toBe(bytesToHex(nobleCmac(msg, new Uint8Array(key))));
      expect(mine).toBe(bytesToHex(nodeCmac(key, msg)));
    }
  });
});
