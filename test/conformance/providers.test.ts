// Every AES block provider the core may run on, checked against FIPS-197 (Appendix B, C.1) and
// OpenSSL on random blocks (see provider-check.ts), then against each other.
// To add a provider (e.g. the Espruino-native one), append it to PROVIDERS.
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AES128_KEY_WORDS, AES128_SCHEDULE_WORDS, expandKey, softAes } from '../../shared/src/aes.ts';
import type { BlockCipher } from '../../shared/src/aes.ts';
import { ccmOpen, ccmSeal } from '../../shared/src/ccm.ts';
import { cmac } from '../../shared/src/cmac.ts';
import { createCryptoCtx } from '../../shared/src/ctx.ts';
import { kdf } from '../../shared/src/kdf.ts';
import { createKeySlot, setSlotKey } from '../../shared/src/keys.ts';
import { E2E_VERSION } from '../../shared/src/frame.ts';
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

  it('a key slot has the words its provider reads (4 on native AES, 44 on softAes) and gives the same bytes', () => {
    const id = new Uint8Array(8).fill(1);
    const peer = new Uint8Array(8).fill(2);
    for (let i = 0; i < 10; i++) {
      const key = new Uint8Array(randomBytes(16));
      const nonce = new Uint8Array(randomBytes(13));
      const pt = new Uint8Array(randomBytes(40));
      const res = PROVIDERS.map((p) => {
        const ctx = createCryptoCtx(p.provider);
        const slot = createKeySlot(E2E_VERSION, 1, 0, 0, id, peer, 0, ctx);
        expect(slot.rk.length).toBe(p.provider.keyWords === undefined ? AES128_SCHEDULE_WORDS : AES128_KEY_WORDS);
        setSlotKey(slot, key, 0);
        const out = new Uint8Array(40 + 8 + 16 + 16);
        ccmSeal(ctx, slot.rk, nonce, 0, pt, 0, 7, pt, 0, 40, 8, out, 0);
        expect(ccmOpen(ctx, slot.rk, nonce, 0, pt, 0, 7, out, 0, 40, out, 40, 8, new Uint8Array(40), 0)).toBe(true);
        cmac(ctx, slot.rk, pt, 0, 40, out, 48);
        kdf(ctx, slot.rk, pt, pt, 3, 11, out, 64);
        return bytesToHex(out);
      });
      expect(new Set(res).size).toBe(1);
    }
    // Without a context, or under the host's providers, slots keep the whole schedule.
    expect(createKeySlot(E2E_VERSION, 1, 0, 0, id, peer).rk.length).toBe(AES128_SCHEDULE_WORDS);
  });

  it('a context refuses a key slot shorter than its provider reads (4 words under softAes)', () => {
    const ctx = createCryptoCtx(softAes);
    const rk = new Uint32Array(AES128_KEY_WORDS);
    expandKey(new Uint8Array(randomBytes(16)), 0, rk);
    const buf = new Uint8Array(64);
    expect(() => ccmSeal(ctx, rk, buf, 0, buf, 0, 4, buf, 0, 16, 8, buf, 32)).toThrow(/ccmSeal range/);
    buf.fill(7);
    expect(ccmOpen(ctx, rk, buf, 0, buf, 0, 4, buf, 16, 16, buf, 32, 8, buf, 48)).toBe(false);
    expect(buf.subarray(48, 64).every((b) => b === 0)).toBe(true);
    expect(() => cmac(ctx, rk, buf, 0, 16, buf, 0)).toThrow(/bad key schedule/);
    expect(() => kdf(ctx, rk, buf, buf, 0, 11, buf, 0)).toThrow(/bad key schedule/);
    // The native provider's context takes the same 4 words.
    expect(() => cmac(createCryptoCtx(createNodeAes()), rk, buf, 0, 16, buf, 0)).not.toThrow();
  });
});
