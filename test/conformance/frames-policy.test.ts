// The policy tables in code (shared/src/policy.ts) and in the reference must be the tables of
// PROTOCOL.md §5 and §7, read from the document itself; plus the order of header checks of §3.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as core from '@vakt/shared';
import { REF_E2E_POLICY, REF_LINK_POLICY } from './reference.ts';

const doc = readFileSync(new URL('../../docs/PROTOCOL.md', import.meta.url), 'utf8');
const section = (a: string, b: string) => doc.slice(doc.indexOf(a), doc.indexOf(b));
const rows = (text: string) =>
  text
    .split('\n')
    .filter((l) => /^\| `0x0\d`/.test(l))
    .map((l) => l.split('|').map((c) => c.trim()));

describe('policy tables = PROTOCOL.md', () => {
  it('§5 end-to-end operations: directions, ENC, tag', () => {
    const r = rows(section('## 5.', '## 6.'));
    expect(r.length).toBe(core.OP_MAX);
    for (const c of r) {
      const op = parseInt(c[1].replace(/`/g, ''), 16);
      const up = c[3].startsWith('✔');
      const down = c[4].startsWith('✔');
      const enc = Number(c[5]);
      const tag = Number(c[6]);
      expect(core.policyAllows(core.E2E_VERSION, op, core.DIR_UP)).toBe(up);
      expect(core.policyAllows(core.E2E_VERSION, op, core.DIR_DOWN)).toBe(down);
      expect(core.policyEnc(core.E2E_VERSION, op)).toBe(enc);
      expect(core.policyTagLen(core.E2E_VERSION, op)).toBe(tag);
      expect(REF_E2E_POLICY[op]).toMatchObject({ up, down, enc, tag });
      // The in-place direction bits of the packed word say the same as the table row.
      const p = core.policyOf(core.E2E_VERSION, op);
      expect((p & core.POLICY_UP) !== 0).toBe(up);
      expect((p & core.POLICY_DOWN) !== 0).toBe(down);
    }
    expect(core.POLICY_UP).toBe(core.ALLOW_UP << core.POLICY_ALLOW_SHIFT);
    expect(core.POLICY_DOWN).toBe(core.ALLOW_DOWN << core.POLICY_ALLOW_SHIFT);
  });
  it('§7 link types: directions, ENC, 8-byte tag', () => {
    const r = rows(section('## 7.', '## 8.'));
    expect(r.length).toBe(core.LINK_MAX);
    for (const c of r) {
      const t = parseInt(c[1].replace(/`/g, ''), 16);
      const up = /UP/.test(c[3]);
      const down = /DOWN/.test(c[3]);
      const enc = Number(c[4]);
      expect(core.policyAllows(core.LINK_VERSION, t, core.DIR_UP)).toBe(up);
      expect(core.policyAllows(core.LINK_VERSION, t, core.DIR_DOWN)).toBe(down);
      expect(core.policyEnc(core.LINK_VERSION, t)).toBe(enc);
      expect(core.policyTagLen(core.LINK_VERSION, t)).toBe(core.LINK_TAG_LEN);
      expect(REF_LINK_POLICY[t]).toMatchObject({ up, down, enc, tag: 8 });
    }
  });
  it('unknown ops, versions and directions have no policy', () => {
    for (const v of [0x00, 0x02, 0x80, 0xff]) expect(core.policyTagLen(v, 1)).toBe(0);
    for (const op of [0, core.OP_MAX + 1, 255]) expect(core.policyTagLen(core.E2E_VERSION, op)).toBe(0);
    for (const t of [0, core.LINK_MAX + 1]) expect(core.policyTagLen(core.LINK_VERSION, t)).toBe(0);
    expect(core.policyAllows(core.E2E_VERSION, core.OP_ACK, 2)).toBe(false);
    expect(core.policyEnc(0x42, 1)).toBe(-1);
  });
});

describe('parseHeader check order (PROTOCOL.md §3)', () => {
  const hdr = core.createHeader();
  // A valid RELAY DOWN header with an empty body, 16-byte tag: 42 bytes.
  const good = () => {
    const f = new Uint8Array(core.HEADER_LEN + 16);
    f[0] = core.E2E_VERSION;
    f[1] = core.FLAG_DOWN | core.FLAG_ENC;
    f[2] = core.OP_RELAY;
    f[23] = 1;
    return f;
  };
  it('accepts the good header and fills every field', () => {
    const f = good();
    f.set([1, 2, 3, 4, 5, 6, 7, 8], 4);
    f.set([9, 10, 11, 12, 13, 14, 15, 16], 12);
    f[3] = 7;
    f.set([0xfe, 0xdc, 0xba, 0x98], 20);
    expect(core.parseHeader(f, 0, f.length, hdr)).toBe(0);
    expect([hdr.version, hdr.dir, hdr.enc, hdr.op, hdr.gen, hdr.counter, hdr.bodyLen, hdr.tagLen, hdr.frameLen]).toEqual([1, 1, 1, 3, 7, 0xfedcba98, 0, 16, 42]);
    expect(Array.from(hdr.sender)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(Array.from(hdr.receiver)).toEqual([9, 10, 11, 12, 13, 14, 15, 16]);
  });
  it('length < 26, then version, flags, op, policy, body length', () => {
    expect(core.parseHeader(good(), 0, 25, hdr)).toBe(core.ERR_LENGTH);
    let f = good();
    f[0] = 0x02;
    f[1] = 0xff; // also bad flags: version is checked first
    expect(core.parseHeader(f, 0, f.length, hdr)).toBe(core.ERR_VERSION);
    f = good();
    f[1] |= 0x04;
    f[2] = 0x77; // also a bad op: flags first
    expect(core.parseHeader(f, 0, f.length, hdr)).toBe(core.ERR_FLAGS);
    f = good();
    f[2] = 0x0a;
    expect(core.parseHeader(f, 0, f.length, hdr)).toBe(core.ERR_OP);
    f = good();
    f[1] = core.FLAG_DOWN; // RELAY without ENC
    expect(core.parseHeader(f, 0, f.length, hdr)).toBe(core.ERR_POLICY);
    f = good();
    f[2] = core.OP_READING; // READING DOWN
    expect(core.parseHeader(f, 0, f.length, hdr)).toBe(core.ERR_POLICY);
    f = good();
    f[24] = 0x04;
    f[25] = 0x01; // 1025 > MAX_BODY
    expect(core.parseHeader(f, 0, f.length, hdr)).toBe(core.ERR_LENGTH);
    expect(core.parseHeader(good(), 0, 41, hdr)).toBe(core.ERR_LENGTH);
  });
  it('bad buffer ranges are ERR_BUFFER, never a throw', () => {
    const f = good();
    expect(core.parseHeader(f, 1, f.length, hdr)).toBe(core.ERR_BUFFER);
    expect(core.parseHeader(f, -1, 10, hdr)).toBe(core.ERR_BUFFER);
    expect(core.parseHeader(f, 0.5, 10, hdr)).toBe(core.ERR_BUFFER);
    expect(core.parseHeader(null as unknown as Uint8Array, 0, 0, hdr)).toBe(core.ERR_BUFFER);
  });
  it('parses at an offset inside a larger buffer', () => {
    const big = new Uint8Array(100).fill(0xee);
    big.set(good(), 13);
    expect(core.parseHeader(big, 13, 42, hdr)).toBe(0);
  });
});
