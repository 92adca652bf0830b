// The policy tables in code (shared/src/policy.ts) and in the reference must be the tables of
// PROTOCOL.md §5 and §7, read from the document itself; plus the order of header checks of §3.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as core from '@vakt/shared';
import { REF_BACKHAUL_POLICY, REF_E2E_POLICY, REF_LINK_POLICY } from './reference.ts';

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
      const tag = parseInt(c[6], 10); // '8 (**D-13**)' reads 8
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
  it('§7 link types: directions on the radio link (4-byte MIC) and on the backhaul (8-byte MIC), ENC', () => {
    const r = rows(section('## 7.', '## 8.'));
    expect(r.length).toBe(core.LINK_MAX);
    for (const c of r) {
      const t = parseInt(c[1].replace(/`/g, ''), 16);
      const enc = Number(c[5]);
      for (const [layer, col, tag, refTable] of [
        [core.LINK_VERSION, c[3], core.HOP_TAG_LEN, REF_LINK_POLICY],
        [core.BACKHAUL_VERSION, c[4], core.LINK_TAG_LEN, REF_BACKHAUL_POLICY],
      ] as const) {
        const up = /UP/.test(col);
        const down = /DOWN/.test(col);
        expect(core.policyAllows(layer, t, core.DIR_UP)).toBe(up);
        expect(core.policyAllows(layer, t, core.DIR_DOWN)).toBe(down);
        if (!up && !down) {
          expect(core.policyOf(layer, t)).toBe(0);
          expect(refTable[t]).toBeUndefined();
          continue;
        }
        expect(core.policyEnc(layer, t)).toBe(enc);
        expect(core.policyTagLen(layer, t)).toBe(tag);
        expect(refTable[t]).toMatchObject({ up, down, enc, tag });
      }
    }
    expect([core.HOP_TAG_LEN, core.LINK_TAG_LEN]).toEqual([4, 8]);
  });
  it('unknown ops, versions and directions have no policy', () => {
    for (const v of [0x00, 0x01, 0x81, 0x80, 0xff]) expect(core.policyTagLen(v, 1)).toBe(0); // wire v1 codes included
    for (const op of [0, core.OP_MAX + 1, 255]) expect(core.policyTagLen(core.E2E_VERSION, op)).toBe(0);
    for (const t of [0, core.LINK_MAX + 1]) expect(core.policyTagLen(core.LINK_VERSION, t)).toBe(0);
    for (const t of [0, core.LINK_MAX + 1]) expect(core.policyTagLen(core.BACKHAUL_VERSION, t)).toBe(0);
    expect(core.policyAllows(core.E2E_VERSION, core.OP_ACK, 2)).toBe(false);
    expect(core.policyEnc(0x81, 1)).toBe(-1);
  });
});

describe('parseHeader check order (PROTOCOL.md §3): backhaul frames', () => {
  const hdr = core.createHeader();
  // A valid backhaul JOIN DOWN header with an empty body, 8-byte MIC: 34 bytes.
  const good = () => {
    const f = new Uint8Array(core.HEADER_LEN + 8);
    f[0] = core.BACKHAUL_VERSION;
    f[1] = core.FLAG_DOWN | core.FLAG_ENC;
    f[2] = core.LINK_JOIN;
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
    expect([
      hdr.version,
      hdr.dir,
      hdr.enc,
      hdr.op,
      hdr.gen,
      hdr.counter,
      hdr.full,
      hdr.hdrLen,
      hdr.bodyLen,
      hdr.tagLen,
      hdr.frameLen,
    ]).toEqual([0x82, 1, 1, 2, 7, 0xfedcba98, 1, 26, 0, 8, 34]);
    expect(Array.from(hdr.sender)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(Array.from(hdr.receiver)).toEqual([9, 10, 11, 12, 13, 14, 15, 16]);
  });
  it('length < 26, then version, flags, op, policy, body length', () => {
    expect(core.parseHeader(good(), 0, 25, hdr)).toBe(core.ERR_LENGTH);
    let f = good();
    f[0] = core.V1_LINK_VERSION; // wire v1: refused first
    f[1] = 0xff;
    expect(core.parseHeader(f, 0, f.length, hdr)).toBe(core.ERR_VERSION);
    f = good();
    f[1] |= 0x04;
    f[2] = 0x77; // also a bad op: flags first
    expect(core.parseHeader(f, 0, f.length, hdr)).toBe(core.ERR_FLAGS);
    f = good();
    f[2] = 0x05;
    expect(core.parseHeader(f, 0, f.length, hdr)).toBe(core.ERR_OP);
    f = good();
    f[1] = core.FLAG_DOWN; // JOIN without ENC
    expect(core.parseHeader(f, 0, f.length, hdr)).toBe(core.ERR_POLICY);
    f = good();
    f[1] = core.FLAG_ENC; // JOIN UP
    expect(core.parseHeader(f, 0, f.length, hdr)).toBe(core.ERR_POLICY);
    f = good();
    f[24] = 0x04;
    f[25] = 0x01; // 1025 > MAX_BODY
    expect(core.parseHeader(f, 0, f.length, hdr)).toBe(core.ERR_LENGTH);
    expect(core.parseHeader(good(), 0, 33, hdr)).toBe(core.ERR_LENGTH);
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
    expect(core.parseHeader(big, 13, 34, hdr)).toBe(0);
  });
});

describe('parseHeader check order (PROTOCOL.md §3): e2e and radio frames', () => {
  const hdr = core.createHeader();
  it('the first byte decides the kind; wire v1, fragments and reserved bytes are ERR_VERSION', () => {
    for (let b = 0; b < 256; b++) {
      const f = new Uint8Array(40);
      f[0] = b;
      f[2] = 1; // short address 1 on a radio frame
      const r = core.parseHeader(f, 0, f.length, hdr);
      const kind = (b & 0xe0) === 0x20 ? 'e2e' : (b & 0xc0) === 0x40 ? 'radio' : b === 0x82 ? 'backhaul' : 'none';
      if (kind === 'none') expect(core.errorName(r)).toBe('ERR_VERSION');
      else expect(r === 0 || r === core.ERR_OP || r === core.ERR_POLICY || r === core.ERR_LENGTH).toBe(true);
      if (kind === 'radio' && r === 0) expect(hdr.version).toBe(core.LINK_VERSION);
      if (kind === 'e2e' && r === 0) expect(hdr.version).toBe(core.E2E_VERSION);
    }
    for (const v1 of [core.V1_E2E_VERSION, core.V1_LINK_VERSION, 0xc0, 0xff])
      expect(core.parseHeader(new Uint8Array([v1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 0, 12, hdr)).toBe(core.ERR_VERSION);
  });
  it('e2e: fields, short and full counter, op, then length (header + tag)', () => {
    // RELAY, gen 7, counter low bits 0xbeef, 3-byte body, 16-byte tag.
    const f = new Uint8Array(4 + 3 + 16);
    f.set([core.E2E_MARK | core.OP_RELAY, 7, 0xbe, 0xef]);
    expect(core.parseHeader(f, 0, f.length, hdr)).toBe(0);
    expect([
      hdr.version,
      hdr.dir,
      hdr.enc,
      hdr.op,
      hdr.gen,
      hdr.counter,
      hdr.full,
      hdr.hdrLen,
      hdr.bodyLen,
      hdr.tagLen,
      hdr.frameLen,
    ]).toEqual([2, -1, 1, 3, 7, 0xbeef, 0, 4, 3, 16, 23]);
    f[0] |= core.E2E_FULL;
    expect(core.parseHeader(f, 0, f.length, hdr)).toBe(0);
    expect([hdr.counter, hdr.full, hdr.hdrLen, hdr.bodyLen]).toEqual([0xbeef0000, 1, 6, 1]);
    f[0] = core.E2E_MARK | 0x0a;
    expect(core.parseHeader(f, 0, f.length, hdr)).toBe(core.ERR_OP);
    f[0] = core.E2E_MARK | core.OP_RELAY;
    expect(core.parseHeader(f, 0, 4 + 15, hdr)).toBe(core.ERR_LENGTH); // shorter than header + tag
    expect(core.parseHeader(f, 0, 3, hdr)).toBe(core.ERR_LENGTH);
  });
  it('radio: fields, direction policy (no JOIN/LEAVE on the radio), short address', () => {
    const f = new Uint8Array(4 + 6 + 4);
    f.set([core.HOP_MARK | core.HOP_DOWN | core.LINK_ACK, 0x12, 0x34, 0x56]);
    expect(core.parseHeader(f, 0, f.length, hdr)).toBe(0);
    expect([hdr.version, hdr.dir, hdr.enc, hdr.op, hdr.counter, hdr.full, hdr.addr, hdr.hdrLen, hdr.bodyLen, hdr.tagLen]).toEqual([
      0x42, 1, 0, 4, 0x56, 0, 0x1234, 4, 6, 4,
    ]);
    f[0] = core.HOP_MARK | core.HOP_DOWN | core.LINK_JOIN;
    expect(core.parseHeader(f, 0, f.length, hdr)).toBe(core.ERR_OP);
    f[0] = core.HOP_MARK | core.HOP_FULL | core.LINK_DATA;
    expect(core.parseHeader(f, 0, f.length, hdr)).toBe(0);
    expect([hdr.dir, hdr.counter, hdr.full, hdr.hdrLen, hdr.bodyLen]).toEqual([0, 0x56000000, 1, 7, 3]);
  });
});
