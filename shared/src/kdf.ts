/**
 * Key derivation of PROTOCOL.md §4: NIST SP 800-108 counter mode with AES-CMAC as PRF, one block:
 *   KDF(K, label, context) = CMAC(K, 0x01 || label || 0x00 || context || 0x0080)
 */
import { checkSchedule } from './aes.ts';
import { _cmacAbsorb, _cmacFinish } from './cmac.ts';
import type { CryptoCtx } from './ctx.ts';
import { checkRange } from './utils.ts';

/** Bytes of key material one KDF call produces. */
export const KDF_OUT_LEN = 16;
// The fixed bytes of the PRF input: [i = 1] before the label, [0x00 separator] after it,
// and [L = 128 as 2 bytes] after the context.
const KDF_FIXED = new Uint8Array([0x01, 0x00, 0x00, 0x80]);
const FIXED_COUNTER = 0; // offset of i in KDF_FIXED
const FIXED_SEPARATOR = 1;
const FIXED_L = 2;

// TextEncoder does not exist on Espruino; labels are plain ASCII.
function ascii(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

/** "vakt-op": operation root key OK[op, g] from the master key. */
export const LABEL_OP = ascii('vakt-op');
/** "vakt-e2e": end-to-end frame key K[op, dir, g] from OK[op, g]. */
export const LABEL_E2E = ascii('vakt-e2e');
/** "vakt-link": link frame key KL[dir, g] from a link master key. */
export const LABEL_LINK = ascii('vakt-link');
/** "vakt-kc": key-confirmation key KC[scope, g] from new key material. */
export const LABEL_KC = ascii('vakt-kc');

/** Derives 16 bytes KDF(rk, label, context[ctxOff..+ctxLen)) into out[outOff..] exactly as PROTOCOL.md §4; out may overlap context. */
export function kdf(
  ctx: CryptoCtx,
  rk: Uint32Array,
  label: Uint8Array,
  context: Uint8Array,
  ctxOff: number,
  ctxLen: number,
  out: Uint8Array,
  outOff: number,
): void {
  checkSchedule(rk, ctx.rkWords_);
  checkRange(label, 0, label.length, 'kdf label');
  checkRange(context, ctxOff, ctxLen, 'kdf context');
  checkRange(out, outOff, KDF_OUT_LEN, 'kdf out');
  ctx.x_.fill(0);
  ctx.n_ = 0;
  _cmacAbsorb(ctx, rk, KDF_FIXED, FIXED_COUNTER, 1);
  _cmacAbsorb(ctx, rk, label, 0, label.length);
  _cmacAbsorb(ctx, rk, KDF_FIXED, FIXED_SEPARATOR, 1);
  _cmacAbsorb(ctx, rk, context, ctxOff, ctxLen);
  _cmacAbsorb(ctx, rk, KDF_FIXED, FIXED_L, 2);
  _cmacFinish(ctx, rk, out, outOff);
}
