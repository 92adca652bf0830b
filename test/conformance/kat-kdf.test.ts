// The KDF of docs/PROTOCOL.md §4 (SP 800-108r1 counter mode, PRF = AES-CMAC):
//   KDF(K, label, context) = CMAC(K, 0x01 || label || 0x00 || context || 0x0080)
// No published vector uses Vakt's labels, so the KDF is checked (1) against the CMAC known answers
// of RFC 4493 through a label/context split that reproduces an RFC message, and (2) differentially
// against an independent construction: the byte string built in the test, MACed with the
// node:crypto RFC 4493 CMAC of core-ref.ts and with @noble/ciphers' cmac.
import { cmac as nobleCmac } from '@noble/ciphers/aes.js';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { expandKey } from '../../shared/src/aes.ts';
import { createCryptoCtx } from '../../shared/src/ctx.ts';
import { KDF_OUT_LEN, LABEL_E2E, LABEL_KC, LABEL_LINK, LABEL_OP, kdf } from '../../shared/src/kdf.ts';
import { bytesToHex, hexToBytes } from '../../shared/src/utils.ts';
import { kdfInput, nodeCmac, nodeKdf } from './core-ref.ts';

const ctx = createCryptoCtx();
const rk = new Uint32Array(44);

function mine(key: Uint8Array, label: Uint8Array, context: Uint8Array): string {
  expandKey(key, 0, rk);
  const out = new Uint8Array(KDF_OUT_LEN);
  kdf(ctx, rk, label, context, 0, context.length, out, 0);
  return bytesToHex(out);
}

describe('KDF labels', () => {
  it('are the ASCII strings of PROTOCOL.md §4 without terminator', () => {
    expect(Buffer.from(LABEL_OP).toString('latin1')).toBe('vakt-op');
    expect(Buffer.from(LABEL_E2E).toString('latin1')).toBe('vakt-e2e');
    expect(Buffer.from(LABEL_LINK).toString('latin1')).toBe('vakt-link');
    expect(Buffer.from(LABEL_KC).toString('latin1')).toBe('vakt-kc');
  });
});

describe('KDF input layout, pinned to PROTOCOL.md §4', () => {
  it('MK = 00..0f, "vakt-op", context meterId 0102030405060708 || op 01 || g 00', () => {
    const context = hexToBytes('0102030405060708' + '01' + '00');
    // Byte string as written in PROTOCOL.md §2 "Primitives" (built independently by the test).
    expect(bytesToHex(kdfInput(LABEL_OP, context))).toBe('01' + '76616b742d6f70' + '00' + '0102030405060708' + '01' + '00' + '0080');
    const key = hexToBytes('000102030405060708090a0b0c0d0e0f');
    const want = bytesToHex(nodeKdf(key, LABEL_OP, context));
    expect(want).toBe('61cdb3481ac71fe76c52924deae1af86'); // value printed in PROTOCOL.md §2
    expect(mine(key, LABEL_OP, context)).toBe(want);
  });

  it('the reference CMAC itself passes RFC 4493 §4 Examples 2 and 4 (trust chain of the differential test)', () => {
    const key = hexToBytes('2b7e151628aed2a6abf7158809cf4f3c');
    const m = hexToBytes(
      '6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710',
    );
    expect(bytesToHex(nodeCmac(key, m.subarray(0, 16)))).toBe('070a16b46b4d4144f79bdd9dd04a287c');
    expect(bytesToHex(nodeCmac(key, m))).toBe('51f0bebf7e3b9d92fc49741779363cfe');
  });

  it('MACs exactly 0x01 || label || 0x00 || context || 0x0080 (byte string written out by hand)', () => {
    const key = hexToBytes('2b7e151628aed2a6abf7158809cf4f3c');
    const label = hexToBytes('aabbcc');
    const context = hexToBytes('0f'.repeat(20));
    const msg = hexToBytes('01' + 'aabbcc' + '00' + '0f'.repeat(20) + '0080');
    expect(mine(key, label, context)).toBe(bytesToHex(nobleCmac(msg, key)));
    expect(mine(key, label, context)).toBe(bytesToHex(nodeCmac(key, msg)));
  });

  it('reads the context at an offset and may write its output over the context', () => {
    const key = randomBytes(16);
    const buf = new Uint8Array(randomBytes(40));
    const context = new Uint8Array(buf.subarray(9, 9 + 18));
    const want = bytesToHex(nodeKdf(key, LABEL_E2E, context));
    expandKey(key, 0, rk);
    kdf(ctx, rk, LABEL_E2E, buf, 9, 18, buf, 9);
    expect(bytesToHex(buf, 9, 16)).toBe(want);
  });
});

describe('KDF differential (node:crypto RFC 4493 construction and @noble/ciphers cmac)', () => {
  it('agrees on 300 random keys, all four labels and context lengths 0..40 (crossing block edges)', () => {
    const labels = [LABEL_OP, LABEL_E2E, LABEL_LINK, LABEL_KC];
    for (let i = 0; i < 300; i++) {
      const key = new Uint8Array(randomBytes(16));
      const label = labels[i & 3];
      const context = new Uint8Array(randomBytes(i % 41));
      const got = mine(key, label, context);
      expect(got).toBe(bytesToHex(nodeKdf(key, label, context)));
      expect(got).toBe(bytesToHex(nobleCmac(kdfInput(label, context), key)));
    }
  });

  it('different labels or contexts give different keys (domain separation)', () => {
    const key = new Uint8Array(16);
    const c = hexToBytes('0102030405060708' + '01' + '00');
    const seen = new Set([mine(key, LABEL_OP, c), mine(key, LABEL_E2E, c), mine(key, LABEL_LINK, c), mine(key, LABEL_KC, c)]);
    seen.add(mine(key, LABEL_OP, hexToBytes('0102030405060708' + '01' + '01')));
    expect(seen.size).toBe(5);
  });

  it('throws on caller bugs (context out of range, short output)', () => {
    expandKey(new Uint8Array(16), 0, rk);
    expect(() => kdf(ctx, rk, LABEL_OP, new Uint8Array(4), 2, 4, new Uint8Array(16), 0)).toThrow();
    expect(() => kdf(ctx, rk, LABEL_OP, new Uint8Array(4), 0, 4, new Uint8Array(15), 0)).toThrow();
  });
});
