// Every CBOR body in the committed wire vectors (test/vectors/*.json) must lie in the subset of
// docs/PROTOCOL.md §10: it decodes with the core decoder, re-encodes to the same bytes (shortest
// heads, integer keys stay integers) and reads the same with cbor-x (independent decoder).
// CONFIG bodies are `[req, {1: tariff, 2: interval}]` with INTEGER keys: the meter reads them
// with readUint, so a text key "1" would be a different (refused) body.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Decoder } from 'cbor-x';
import {
  CBOR_UINT,
  cborPeek,
  cborReaderDone,
  cborReaderInit,
  createCborReader,
  decodeValue,
  encodeValue,
  readArrayHead,
  readMapHead,
  readUint,
} from '@vakt/shared/cbor';
import { OP_CONFIG, DIR_DOWN, LINK_DATA, LINK_VERSION } from '@vakt/shared';

interface Vec {
  name: string;
  version: number;
  op: number;
  dir: number;
  body: string;
}
const load = (p: string): { frames: Vec[] } => JSON.parse(readFileSync(new URL('../vectors/' + p, import.meta.url), 'utf8'));
const b = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const hx = (u: Uint8Array): string => Buffer.from(u).toString('hex');
const cborx = new Decoder({ mapsAsObjects: false, useRecords: false });

/** cbor-x result with Maps turned into entry lists, so integer and text keys stay distinguishable. */
function plain(v: unknown): unknown {
  if (v instanceof Map) return [...v.entries()].map(([k, x]) => [k, plain(x)]);
  if (Array.isArray(v)) return v.map(plain);
  if (v instanceof Uint8Array) return hx(v);
  return v;
}

const e2e = load('e2e.json').frames;
const link = load('link.json').frames;
// Link DATA bodies are whole end-to-end frames, not CBOR.
const cborVectors = [...e2e, ...link.filter((v) => !(v.version === LINK_VERSION && v.op === LINK_DATA))].filter((v) => v.body.length > 0);

describe('vector bodies are in the CBOR subset (PROTOCOL.md §10)', () => {
  it('covers the vectors', () => {
    expect(cborVectors.length).toBeGreaterThan(30);
  });

  for (const v of cborVectors) {
    it(v.name, () => {
      const body = b(v.body);
      const d = decodeValue(body, 0, body.length);
      expect(d.err).toBe(0);
      expect(Array.isArray(d.value)).toBe(true);
      // Re-encoding the decoded value gives the same bytes: shortest heads, integer keys as integers.
      const out = new Uint8Array(body.length + 16);
      expect(encodeValue(d.value, out, 0)).toBe(body.length);
      expect(hx(out.subarray(0, body.length))).toBe(v.body);
      // cbor-x reads one well-formed item; every map key is an integer (no text keys on the wire).
      const x = cborx.decode(Buffer.from(body));
      const walk = (u: unknown): void => {
        if (u instanceof Map)
          for (const [k, w] of u) {
            expect(typeof k).toBe('number');
            walk(w);
          }
        else if (Array.isArray(u)) u.forEach(walk);
      };
      walk(x);
    });
  }

  it('CONFIG down bodies are [req, {1: tariff, 2: interval}] with integer keys, read with the cursor as the meter does', () => {
    const configs = e2e.filter((v) => v.op === OP_CONFIG && v.dir === DIR_DOWN);
    expect(configs.length).toBeGreaterThan(0);
    for (const v of configs) {
      const body = b(v.body);
      const r = createCborReader();
      expect(cborReaderInit(r, body, 0, body.length)).toBe(0);
      expect(readArrayHead(r)).toBe(2);
      expect(readUint(r)).toBeGreaterThanOrEqual(0); // req
      const n = readMapHead(r);
      expect(n).toBeGreaterThan(0);
      const keys: number[] = [];
      for (let i = 0; i < n; i++) {
        expect(cborPeek(r)).toBe(CBOR_UINT);
        const k = readUint(r);
        keys.push(k);
        expect(readUint(r)).toBeGreaterThanOrEqual(0); // value: an unsigned integer
      }
      expect(keys.every((k) => k === 1 || k === 2)).toBe(true);
      expect(cborReaderDone(r)).toBe(0);
      // Independent: cbor-x sees a Map with number keys, in the shortest map head (0xa0 + n).
      expect(plain(cborx.decode(Buffer.from(body)))).toEqual([
        20,
        [
          [1, 7],
          [2, 900],
        ],
      ]);
      expect(body[2]).toBe(0xa0 + n);
    }
  });
});
