// The body table (shared/src/bodies.ts): decodeBody accepts exactly the table's bodies, agrees with
// cbor-x (an independent decoder, used here only as an oracle) on every body it accepts, refuses
// every hostile mutation, and PROTOCOL.md §10 is the table rendered from the code.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Decoder } from 'cbor-x';
import { BODY_SHAPES, decodeBody, shapesOf } from '@vakt/shared/bodies';
import type { BodyValue } from '@vakt/shared/bodies';
import { OK, ERR_CBOR, OP_MAX, DIR_UP, DIR_DOWN, MAX_BODY } from '@vakt/shared';
import { validItems, encodeItems, hostileBody, HOSTILE_ITEMS } from '../support/hostile-bodies.ts';
import { renderBodyTable, documentedBodyTable } from '../support/body-table.ts';

const oracle = new Decoder({ mapsAsObjects: false, useRecords: false, int64AsNumber: true } as ConstructorParameters<typeof Decoder>[0]);

/** Plain comparable form of a decoded value (cbor-x: Map, Uint8Array/Buffer, number/bigint). */
function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Uint8Array) return Array.from(v);
  if (v instanceof Map) return [...v].map(([k, x]) => [plain(k), plain(x)]);
  if (Array.isArray(v)) return v.map(plain);
  return v;
}

describe('body table', () => {
  it('accepts every valid body of every shape, with the values cbor-x reads', () => {
    for (const s of BODY_SHAPES) {
      fc.assert(
        fc.property(validItems(s), (items) => {
          const body = encodeItems(items);
          const d = decodeBody(s.op, s.dir, body, 0, body.length);
          expect(d.err, `${s.name}: ${d.reason}`).toBe(OK);
          expect(d.shape).toBe(s);
          expect(plain(d.items as BodyValue[])).toEqual(plain(oracle.decode(body)));
        }),
        { numRuns: 40 },
      );
    }
  });

  it('refuses hostile mutations; whatever it accepts cbor-x reads the same', () => {
    for (const s of BODY_SHAPES) {
      fc.assert(
        fc.property(hostileBody(s, MAX_BODY), ({ body }) => {
          const d = decodeBody(s.op, s.dir, body, 0, body.length);
          if (d.err === OK) {
            expect(shapesOf(s.op, s.dir)).toContain(d.shape);
            expect(plain(d.items)).toEqual(plain(oracle.decode(body)));
          } else {
            expect(d.err).toBe(ERR_CBOR);
            expect(d.reason.length).toBeGreaterThan(0);
          }
        }),
        { numRuns: 60 },
      );
    }
  });

  it('refuses each listed hostile item in place of every field', () => {
    let n = 0;
    for (const s of BODY_SHAPES) {
      for (let i = 0; i < s.fields.length; i++) {
        for (const h of HOSTILE_ITEMS) {
          const items = fc.sample(validItems(s), { numRuns: 1, seed: 7 })[0]!;
          items[i] = h.bytes;
          const body = encodeItems(items);
          const d = decodeBody(s.op, s.dir, body, 0, body.length);
          // A few hostile items are valid in some places (2^53−1 for an energy register, bytes for a MAC of one byte …).
          if (d.err === OK) expect(plain(d.items)).toEqual(plain(oracle.decode(body)));
          else n++;
        }
      }
    }
    expect(n).toBeGreaterThan(BODY_SHAPES.length * 30);
  });

  it('has a body for every op in each direction the protocol uses, and none where it has none', () => {
    for (let op = 1; op <= OP_MAX; op++) expect(shapesOf(op, DIR_UP).length, `op ${op} up`).toBeGreaterThan(0);
    for (const op of [1, 8]) expect(shapesOf(op, DIR_DOWN)).toEqual([]); // READING and EVENT are uplink only
    expect(decodeBody(1, DIR_DOWN, new Uint8Array([0x80]), 0, 1).reason).toMatch(/no downlink body/);
    // Shapes of one (op, dir) differ in item count, so at most one can match a body.
    for (let op = 1; op <= OP_MAX; op++) {
      for (const dir of [DIR_UP, DIR_DOWN]) {
        const counts = shapesOf(op, dir).map((s) => s.fields.length);
        expect(new Set(counts).size).toBe(counts.length);
      }
    }
  });

  it('PROTOCOL.md §10 is the table rendered from the code', () => {
    expect(documentedBodyTable()).toBe(renderBodyTable());
  });
});
