/**
 * Checks an AES-128 block provider (the BlockCipher interface of shared/src/aes.ts) against
 * FIPS-197 known answers and against OpenSSL on random keys/blocks at odd buffer offsets.
 * To check a new provider, add one line to PROVIDERS in providers.test.ts, or call
 * checkBlockProvider(name, provider) from any test and expect an empty list of failures.
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { AES128_SCHEDULE_WORDS, expandKey } from '../../shared/src/aes.ts';
import type { BlockCipher } from '../../shared/src/aes.ts';
import { bytesToHex, hexToBytes } from '../../shared/src/utils.ts';
import { nodeEcb } from './core-ref.ts';

/** FIPS-197 (2001) known answers: Appendix B (cipher example) and Appendix C.1 (AES-128). */
export const FIPS197_AES128 = [
  {
    src: 'FIPS-197 Appendix B',
    key: '2b7e151628aed2a6abf7158809cf4f3c',
    pt: '3243f6a8885a308d313198a2e0370734',
    ct: '3925841d02dc09fbdc118597196a0b32',
  },
  {
    src: 'FIPS-197 Appendix C.1',
    key: '000102030405060708090a0b0c0d0e0f',
    pt: '00112233445566778899aabbccddeeff',
    ct: '69c4e0d86a7b0430d8cdb78070b4c55a',
  },
];

/** Recovers the raw key from rk[0..3] (CORE_API: words 0..3 are the key bytes big-endian). */
export function keyFromSchedule(rk: Uint32Array): Uint8Array {
  const key = new Uint8Array(16);
  for (let i = 0; i < 4; i++) {
    key[4 * i] = rk[i] >>> 24;
    key[4 * i + 1] = (rk[i] >>> 16) & 0xff;
    key[4 * i + 2] = (rk[i] >>> 8) & 0xff;
    key[4 * i + 3] = rk[i] & 0xff;
  }
  return key;
}

/** A host-only provider on node:crypto AES-128-ECB (the raw key is read back from rk[0..3]). */
export const nodeAes: BlockCipher = {
  encryptBlock(rk, src, srcOff, dst, dstOff) {
    const c = createCipheriv('aes-128-ecb', keyFromSchedule(rk), null);
    c.setAutoPadding(false);
    const out = c.update(src.subarray(srcOff, srcOff + 16));
    dst.set(out, dstOff);
  },
};

/** Runs the FIPS-197 answers, `randomBlocks` random (key, block) pairs against OpenSSL at odd offsets, and in-place use; returns failure descriptions (empty = pass). */
export function checkBlockProvider(name: string, provider: BlockCipher, randomBlocks = 200): string[] {
  const failures: string[] = [];
  const rk = new Uint32Array(AES128_SCHEDULE_WORDS);
  for (const v of FIPS197_AES128) {
    expandKey(hexToBytes(v.key), 0, rk);
    const out = new Uint8Array(16);
    provider.encryptBlock(rk, hexToBytes(v.pt), 0, out, 0);
    if (bytesToHex(out) !== v.ct) failures.push(`${name}: ${v.src}: got ${bytesToHex(out)}`);
  }
  for (let i = 0; i < randomBlocks; i++) {
    const key = randomBytes(16);
    const srcOff = 1 + (i % 7);
    const dstOff = 3 + (i % 5);
    const src = randomBytes(32);
    const dst = new Uint8Array(32).fill(0xa5);
    const keyBuf = randomBytes(21);
    keyBuf.set(key, 5);
    expandKey(keyBuf, 5, rk); // key at an odd offset too
    provider.encryptBlock(rk, src, srcOff, dst, dstOff);
    const want = nodeEcb(key, src.subarray(srcOff, srcOff + 16));
    if (bytesToHex(dst, dstOff, 16) !== bytesToHex(want)) failures.push(`${name}: random block ${i} differs from OpenSSL`);
    if (dst[dstOff - 1] !== 0xa5 || dst[dstOff + 16] !== 0xa5) failures.push(`${name}: wrote outside the 16-byte block (${i})`);
    // In place: src and dst the same bytes.
    const inPlace = new Uint8Array(src);
    provider.encryptBlock(rk, inPlace, srcOff, inPlace, srcOff);
    if (bytesToHex(inPlace, srcOff, 16) !== bytesToHex(want)) failures.push(`${name}: in-place block ${i} differs`);
  }
  return failures;
}
