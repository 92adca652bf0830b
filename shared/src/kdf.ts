/**
 * Key derivation of PROTOCOL.md §4: NIST SP 800-108 counter mode with AES-CMAC as PRF, one block:
 *   KDF(K, label, context) = CMAC(K, 0x01 || label || 0x00 || context || 0x0080)
 */
import { _cmacAbsorb, _cmacByte, _cmacFinish, _cmacStart, checkSchedule } from './cmac.ts';
import type { CryptoCtx } from './ctx.ts';
import { checkRange } from './utils.ts';

/** Bytes of key material one KDF call produces. */
export const KDF_OUT_LEN = 16;
const KDF_COUNTER = 0x01; // i = 1: a single PRF block
const KDF_SEPARATOR = 0x00; // SP 800-108 separator between label and context
const KDF_L_HI = 0x00; // L = 128 bits, two bytes big-endian
const KDF_L_LO = 0x80;

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
  checkSchedule(rk);
  checkRange(label, 0, label.length, 'kdf label');
  checkRange(context, ctxOff, ctxLen, 'kdf context');
  checkRange(out, outOff, KDF_OUT_LEN, 'kdf out');
  _cmacStart(ctx);
  _cmacByte(ctx, rk, KDF_COUNTER);
  _cmacAbsorb(ctx, rk, label, 0, label.length);
  _cmacByte(ctx, rk, KDF_SEPARATOR);
  _cmacAbsorb(ctx, rk, context, ctxOff, ctxLen);
  _cmacByte(ctx, rk, KDF_L_HI);
  _cmacByte(ctx, rk, KDF_L_LO);
  _cmacFinish(ctx, rk, out, outOff);
}
