/**
 * Independent host-side references for the core primitives, built only on node:crypto
 * (OpenSSL), never on shared/src: AES-128 block via ECB, CMAC written here from RFC 4493 §2.4,
 * the PROTOCOL.md §4 KDF on top of it, and AES-128-CCM via OpenSSL's aes-128-ccm.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

/** AES-128 encryption of one or more whole blocks (ECB, no padding) by OpenSSL. */
export function nodeEcb(key: Uint8Array, data: Uint8Array): Uint8Array {
  const c = createCipheriv('aes-128-ecb', key, null);
  c.setAutoPadding(false);
  return new Uint8Array(Buffer.concat([c.update(data), c.final()]));
}

function dbl(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 15; i++) out[i] = ((b[i] << 1) | (b[i + 1] >> 7)) & 0xff;
  out[15] = (b[15] << 1) & 0xff;
  if (b[0] & 0x80) out[15] ^= 0x87; // RFC 4493 const_Rb
  return out;
}

/** AES-CMAC per RFC 4493 §2.4 (Generate_Subkey + AES-CMAC), every block via OpenSSL ECB. */
export function nodeCmac(key: Uint8Array, msg: Uint8Array): Uint8Array {
  const L = nodeEcb(key, new Uint8Array(16));
  const k1 = dbl(L);
  const k2 = dbl(k1);
  const n = msg.length === 0 ? 1 : Math.ceil(msg.length / 16);
  const complete = msg.length > 0 && msg.length % 16 === 0;
  const last = new Uint8Array(16);
  const tail = msg.subarray((n - 1) * 16);
  last.set(tail);
  if (complete) for (let i = 0; i < 16; i++) last[i] ^= k1[i];
  else {
    last[tail.length] = 0x80;
    for (let i = 0; i < 16; i++) last[i] ^= k2[i];
  }
  let x: Uint8Array = new Uint8Array(16);
  for (let b = 0; b < n; b++) {
    const blk = b === n - 1 ? last : msg.subarray(b * 16, b * 16 + 16);
    const y = new Uint8Array(16);
    for (let i = 0; i < 16; i++) y[i] = x[i] ^ blk[i];
    x = nodeEcb(key, y);
  }
  return x;
}

/** The KDF input byte string of PROTOCOL.md §4: 0x01 || label || 0x00 || context || 0x0080. */
export function kdfInput(label: Uint8Array, context: Uint8Array): Uint8Array {
  return new Uint8Array([0x01, ...label, 0x00, ...context, 0x00, 0x80]);
}

/** KDF(K, label, context) of PROTOCOL.md §4 on the node CMAC above. */
export function nodeKdf(key: Uint8Array, label: Uint8Array, context: Uint8Array): Uint8Array {
  return nodeCmac(key, kdfInput(label, context));
}

/** OpenSSL AES-128-CCM seal: returns ciphertext || tag. */
export function nodeCcmSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array, tagLen: number): Uint8Array {
  const c = createCipheriv('aes-128-ccm', key, nonce, { authTagLength: tagLen });
  c.setAAD(aad, { plaintextLength: pt.length });
  const ct = Buffer.concat([c.update(pt), c.final()]);
  return new Uint8Array(Buffer.concat([ct, c.getAuthTag()]));
}

/** OpenSSL AES-128-CCM open: plaintext, or null when the tag does not verify. */
export function nodeCcmOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ct: Uint8Array, tag: Uint8Array): Uint8Array | null {
  const d = createDecipheriv('aes-128-ccm', key, nonce, { authTagLength: tag.length });
  d.setAuthTag(tag);
  d.setAAD(aad, { plaintextLength: ct.length });
  const pt = d.update(ct);
  try {
    d.final();
  } catch {
    return null;
  }
  return new Uint8Array(pt);
}
