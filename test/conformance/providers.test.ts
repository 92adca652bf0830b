// Every AES block provider the core may run on, checked against FIPS-197 (Appendix B, C.1) and
// OpenSSL on random blocks (see provider-check.ts), then against each other.
// To add a provider (e.g. the Espruino-native one), append it to PROVIDERS.
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { expandKey, softAes } from '../../shared/src/aes.ts';
import type { BlockCipher } from '../../shared/src/aes.ts';
import { ccmSeal } from '../../shared/src/ccm.ts';
import { cmac } from '../../shared/src/cmac.ts';
import { createCryptoCtx } from '../../shared/src/ctx.ts';
import { bytesToHex } from '../../shared/src/utils.ts';
import { checkBlockProvider, nodeAes } from './provider-check.ts';
import { createNodeAes } from '../../boards/src/sim/aes.ts';
import { createEspruinoAes } from '../../boards/src/espruino/index.ts';
import type { EspruinoCryptoModule } from '../../boards/src/espruino/index.ts';

// Espruino's require("crypto").AES stand-in: ECB only (its CTR ignores the IV, so the adapter must
// not rely on it). The same provider runs against the real interpreter in
// test/firmware/espruino-bundle.test.ts when ESPRUINO_BIN is set.
const espruinoCryptoOnNode: EspruinoCryptoModule = {
  AES: {
    encrypt(data, key, options) {
      if (options.mode !== 'ECB') throw new Error('only ECB is trusted on Espruino');
      const c = createCipheriv('aes-128-ecb', Buffer.from(key), null);
      c.setAutoPadding(false);
      return new Uint8Array(Buffer.concat([c.update(Buffer.from(data)), c.final()])).buffer;
    },
  },
};

const PROVIDERS: { name: string; provider: BlockCipher }[] = [
  { name: 'softAes', provider: softAes },
  { name: 'node:crypto aes-128-ecb', provider: nodeAes },
  { name: 'sim board (boards/src/sim/aes.ts)', provider: createNodeAes() },
  { name: 'Espruino native AES adapter (boards/src/espruino)', provider: createEspruinoAes(espruinoCryptoOnNode) },
];

describe('AES block providers', () => {
  for (const p of PROVIDERS) {
    it(`${p.name}: FIPS-197 answers, random blocks vs OpenSSL, odd offsets, in place`, () => {
      expect(checkBlockProvider(p.name, p.provider)).toEqual([]);
    });
  }

  it('all providers agree with each other on random blocks', () => {
    const rk = new Uint32Array(44);
    for (let i = 0; i < 200; i++) {
      expandKey(new Uint8Array(randomBytes(16)), 0, rk);
      const src = new Uint8Array(randomBytes(16));
      const outs = PROVIDERS.map((p) => {
        const o = new Uint8Array(16);
        p.provider.encryptBlock(rk, src, 0, o, 0);
        return bytesToHex(o);
      });
      expect(new Set(outs).size).toBe(1);
    }
  });

  it('CMAC and CCM give the same bytes whichever provider the context holds', () => {
    const ctxs = PROVIDERS.map((p) => createCryptoCtx(p.provider));
    const rk = new Uint32Array(44);
    for (let i = 0; i < 20; i++) {
      expandKey(new Uint8Array(randomBytes(16)), 0, rk);
      const nonce = new Uint8Array(randomBytes(13));
      const aad = new Uint8Array(randomBytes(26));
      const pt = new Uint8Array(randomBytes(64));
      const res = ctxs.map((ctx) => {
        const out = new Uint8Array(64 + 12 + 16);
        ccmSeal(ctx, rk, nonce, 0, aad, 0, 26, pt, 0, 64, 12, out, 0);
        cmac(ctx, rk, pt, 0, 64, out, 76);
        return bytesToHex(out);
      });
      expect(new Set(res).size).toBe(1);
    }
  });
});
