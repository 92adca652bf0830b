// AES-128 block provider backed by node:crypto (OpenSSL, AES-NI where present) for the sim board.
// The raw key is recovered from rk[0..3], which expandKey stores as the key bytes big-endian.
import crypto from 'node:crypto';
import type { BlockCipher } from '@vakt/shared/aes';

const BLOCK = 16;
const KEY_WORDS = 4;

/** A BlockCipher equal to softAes block for block; caches one OpenSSL context per distinct key. */
export function createNodeAes(): BlockCipher {
  const key = Buffer.alloc(BLOCK);
  let cached: crypto.Cipher | undefined;
  const lastWords = new Uint32Array(KEY_WORDS);
  const input = Buffer.alloc(BLOCK);
  return {
    // Reads rk[0..3] only, as a native AES: key slots under it hold the 4 key words.
    keyWords: KEY_WORDS,
    encryptBlock(rk: Uint32Array, src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number): void {
      let same = cached !== undefined;
      for (let i = 0; i < KEY_WORDS; i++) if (rk[i] !== lastWords[i]) same = false;
      if (!same) {
        for (let i = 0; i < KEY_WORDS; i++) {
          lastWords[i] = rk[i];
          key.writeUInt32BE(rk[i] >>> 0, i * 4);
        }
        cached = crypto.createCipheriv('aes-128-ecb', key, null);
        cached.setAutoPadding(false);
      }
      input.set(src.subarray(srcOff, srcOff + BLOCK));
      const out = cached!.update(input);
      dst.set(out, dstOff);
    },
  };
}
