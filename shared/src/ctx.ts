/**
 * Per-thread crypto context: the block-cipher provider plus every scratch buffer CMAC, the KDF and
 * CCM need, allocated once at boot so that steady-state calls allocate nothing.
 */
import { AES_BLOCK_LEN, AES128_SCHEDULE_WORDS, softAes } from './aes.ts';
import type { BlockCipher } from './aes.ts';

/** Per-thread crypto scratch: the block cipher provider and preallocated scratch blocks. Create once at boot. */
export interface CryptoCtx {
  /** Block-cipher provider (softAes, or a board's native AES). */
  readonly bc: BlockCipher;
  /** MAC chaining value (CBC-MAC of CCM, CMAC state). Internal. */
  readonly _x: Uint8Array;
  /** Key-stream block S_i of CCM. Internal. */
  readonly _s: Uint8Array;
  /** B0 / counter block A_i of CCM. Internal. */
  readonly _a: Uint8Array;
  /** CMAC subkey K1/K2. Internal. */
  readonly _k: Uint8Array;
  /** Bytes absorbed into the current CMAC block (0..16). Internal. */
  _n: number;
  /** Scratch key schedule for callers deriving key chains (e.g. MK -> OK -> K); no primitive here touches it. */
  readonly tmpRk: Uint32Array;
}

/** Creates a context around bc (default softAes); allocates 4 blocks + one 44-word schedule, once. */
export function createCryptoCtx(bc?: BlockCipher): CryptoCtx {
  return {
    bc: bc === undefined ? softAes : bc,
    _x: new Uint8Array(AES_BLOCK_LEN),
    _s: new Uint8Array(AES_BLOCK_LEN),
    _a: new Uint8Array(AES_BLOCK_LEN),
    _k: new Uint8Array(AES_BLOCK_LEN),
    _n: 0,
    tmpRk: new Uint32Array(AES128_SCHEDULE_WORDS),
  };
}
