/**
 * Per-thread crypto context: the block-cipher provider plus every scratch buffer CMAC, the KDF and
 * CCM need, allocated once at boot so that steady-state calls allocate nothing.
 */
import { AES_BLOCK_LEN, AES128_SCHEDULE_WORDS, _softBlock, softAes } from './aes.ts';
import type { BlockCipher, SoftBlock } from './aes.ts';
import { _ccm } from './ccm.ts';

/** Per-thread crypto scratch: the block cipher provider and preallocated scratch blocks. Create once at boot. */
export interface CryptoCtx {
  /** Block-cipher provider (softAes, or a board's native AES). */
  readonly bc: BlockCipher;
  /**
   * Encrypts one block with bc; src/dst ranges must already be checked by the caller. For softAes
   * it is the unchecked software block (callers check their buffers once, not per block). Internal.
   */
  readonly enc_: SoftBlock;
  /**
   * Words of a key schedule bc reads (bc.keyWords, else the whole AES128_SCHEDULE_WORDS): the one
   * size of a key slot under this context (createKeySlot) and the length CCM, CMAC and the KDF
   * require of rk. Internal.
   */
  readonly rkWords_: number;
  /** MAC chaining value (CBC-MAC of CCM, CMAC state). Internal. */
  readonly x_: Uint8Array;
  /** Key-stream block S_i of CCM; the CMAC subkey K1/K2 (a CMAC never runs inside a CCM call). Internal. */
  readonly s_: Uint8Array;
  /** B0 / counter block A_i of CCM. Internal. */
  readonly a_: Uint8Array;
  /** Bytes absorbed into the current CMAC / CBC-MAC block (0..16). Internal. */
  n_: number;
  /**
   * The CCM sealFrame / openFrame use: ccm.ts's _ccm, or a host's faster one with the same
   * parameters and results (fastccm.ts createFastCryptoCtx). Internal.
   */
  readonly ccm_: typeof _ccm;
}

/**
 * Creates a context around bc (default softAes) and ccm (default ccm.ts's _ccm; fastccm.ts passes
 * its own); allocates 3 blocks (+ softAes's round table, once per program), once.
 */
export function createCryptoCtx(bc?: BlockCipher, ccm?: typeof _ccm): CryptoCtx {
  const p = bc === undefined ? softAes : bc;
  return {
    bc: p,
    enc_: p === softAes ? _softBlock() : p.encryptBlock.bind(p),
    rkWords_: p.keyWords || AES128_SCHEDULE_WORDS,
    x_: new Uint8Array(AES_BLOCK_LEN),
    s_: new Uint8Array(AES_BLOCK_LEN),
    a_: new Uint8Array(AES_BLOCK_LEN),
    n_: 0,
    ccm_: ccm || _ccm,
  };
}
