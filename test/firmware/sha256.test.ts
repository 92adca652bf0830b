// SHA-256 of the firmware image digest, checked against node:crypto (independent implementation)
// and the FIPS 180-4 example "abc" (published digest, FIPS 180-4 appendix / NIST CSRC examples).
import { describe, it, expect } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { Sha256 } from '@vakt/firmware/common/sha256';

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

describe('firmware sha256', () => {
  it('matches the FIPS 180-4 "abc" example', () => {
    const h = new Sha256();
    const out = new Uint8Array(32);
    h.update(new TextEncoder().encode('abc'), 0, 3);
    h.finish(out, 0);
    expect(hex(out)).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('matches node:crypto for every length 0..300 and for split updates', () => {
    const out = new Uint8Array(32);
    for (let n = 0; n <= 300; n++) {
      const data = randomBytes(n);
      const h = new Sha256();
      const cut = n >> 1;
      h.update(data, 0, cut);
      h.update(data, cut, n - cut);
      h.finish(out, 0);
      expect(hex(out)).toBe(createHash('sha256').update(data).digest('hex'));
    }
  });

  it('hashes a 100 KB image in odd-sized chunks like node:crypto', () => {
    const data = randomBytes(100_000);
    const h = new Sha256();
    for (let off = 0; off < data.length; off += 777) h.update(data, off, Math.min(777, data.length - off));
    const out = new Uint8Array(32);
    h.finish(out, 0);
    expect(hex(out)).toBe(createHash('sha256').update(data).digest('hex'));
  });
});
