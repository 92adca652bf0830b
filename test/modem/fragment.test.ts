// Fragments (shared/src/fragment.ts) against an encoder written here from the layout table, and
// reassembly under loss, duplication, reordering, interleaving, timeouts and hostile input.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ERR_FRAG_CONFLICT,
  ERR_FRAG_DUPLICATE,
  ERR_FRAG_HEADER,
  ERR_FRAG_LENGTH,
  FRAG_DONE,
  FRAG_HEADER_LEN,
  FRAG_MAX_COUNT,
  FRAG_STORED,
  fragmentChunk,
  fragmentCount,
  isFragment,
  Reassembler,
  SHORT_ADDR_LEN,
  writeFragment,
} from '../../shared/src/fragment.ts';

/** Independent encoder: the table in fragment.ts, written out directly. */
function refFragments(unit: Uint8Array, chunk: number, addr: number[], tag: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0, off = 0; off < unit.length; i++, off += chunk) {
    const data = unit.subarray(off, Math.min(unit.length, off + chunk));
    const last = off + chunk >= unit.length;
    out.push(Uint8Array.from([0xc0 + (last ? 0x20 : 0) + i, ...addr, tag, ...data]));
  }
  return out;
}

function fragments(unit: Uint8Array, chunk: number, addr: Uint8Array, tag: number): Uint8Array[] {
  const n = fragmentCount(unit.length, chunk);
  const out: Uint8Array[] = [];
  const buf = new Uint8Array(chunk + FRAG_HEADER_LEN);
  for (let i = 0; i < n; i++) out.push(buf.slice(0, writeFragment(unit, 0, unit.length, chunk, i, addr, 0, tag, buf, 0)));
  return out;
}

const addrArb = fc.uint8Array({ minLength: SHORT_ADDR_LEN, maxLength: SHORT_ADDR_LEN });

describe('fragment layout', () => {
  it('matches the independent encoder for any unit, chunk, address and tag', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        addrArb,
        fc.integer({ min: 0, max: 255 }),
        fc.uint8Array({ minLength: 1, maxLength: 600 }),
        (chunk, addr, tag, unit) => {
          fc.pre(Math.ceil(unit.length / chunk) <= FRAG_MAX_COUNT);
          expect(fragments(unit, chunk, addr, tag)).toEqual(refFragments(unit, chunk, [...addr], tag));
        },
      ),
    );
  });

  it('a fragment is never taken for a frame and a frame never for a fragment (first byte)', () => {
    for (let b = 0; b < 256; b++) expect(isFragment(b)).toBe(b >= 0xc0);
    expect(fragmentCount(33 * 10, 10)).toBe(-1);
    expect(fragmentCount(32 * 10, 10)).toBe(32);
    expect(fragmentChunk(58)).toBe(58 - FRAG_HEADER_LEN);
  });
});

describe('reassembly', () => {
  it('rebuilds every unit from its fragments in any order, with duplicates, once', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 4, max: 54 }),
        fc.uint8Array({ minLength: 1, maxLength: 400 }),
        fc.array(fc.nat(), { minLength: 40, maxLength: 40 }),
        (chunk, unit, order) => {
          fc.pre(Math.ceil(unit.length / chunk) <= FRAG_MAX_COUNT);
          const frags = fragments(unit, chunk, Uint8Array.of(0, 7), 9);
          const shuffled = frags
            .map((f, i) => ({ f, k: order[i % order.length]! }))
            .sort((a, b) => a.k - b.k)
            .map((x) => x.f);
          const r = new Reassembler(2, chunk, 400, 1000);
          const got: Uint8Array[] = [];
          for (const f of [...shuffled, ...shuffled]) r.push(f, 0, f.length, 0, (b, o, l) => got.push(b.slice(o, o + l)));
          expect(got).toEqual([unit]);
          expect(r.done).toBe(1);
          expect(r.duplicates).toBe(frags.length);
        },
      ),
    );
  });

  it('never mixes two senders or two frames of one sender', () => {
    const chunk = 10;
    const a = Uint8Array.from({ length: 35 }, (_, i) => i);
    const b = Uint8Array.from({ length: 35 }, (_, i) => 100 + i);
    const fa = fragments(a, chunk, Uint8Array.of(0, 1), 5);
    const fb = fragments(b, chunk, Uint8Array.of(0, 2), 5); // same tag, other sender
    const fa2 = fragments(b, chunk, Uint8Array.of(0, 1), 6); // same sender, next frame
    const r = new Reassembler(4, chunk, 100, 1000);
    const got: number[][] = [];
    const on = (buf: Uint8Array, o: number, l: number): void => {
      got.push([...buf.subarray(o, o + l)]);
    };
    // Interleave; sender 1's first frame loses its last fragment, then its next frame starts.
    r.push(fa[0]!, 0, fa[0]!.length, 0, on);
    r.push(fb[0]!, 0, fb[0]!.length, 0, on);
    r.push(fa[1]!, 0, fa[1]!.length, 0, on);
    r.push(fb[1]!, 0, fb[1]!.length, 0, on);
    for (const f of fa2) r.push(f, 0, f.length, 0, on);
    r.push(fb[2]!, 0, fb[2]!.length, 0, on);
    r.push(fb[3]!, 0, fb[3]!.length, 0, on);
    r.push(fa[3]!, 0, fa[3]!.length, 0, on); // late fragment of the replaced frame: starts a new partial, never completes
    expect(got).toEqual([[...b], [...b]]);
    expect(r.replaced).toBe(1);
  });

  it('drops a partial unit after its timeout and holds bounded memory against many strangers', () => {
    const r = new Reassembler(3, 10, 100, 1000);
    const on = (): void => {
      throw new Error('no unit may complete');
    };
    for (let s = 0; s < 50; s++) {
      const f = fragments(new Uint8Array(30).fill(s), 10, Uint8Array.of(s >> 8, s & 0xff), 1)[0]!;
      expect(r.push(f, 0, f.length, s, on)).toBe(FRAG_STORED);
      expect(r.held()).toBeLessThanOrEqual(3);
    }
    expect(r.evicted).toBe(47);
    r.expire(5000);
    expect(r.held()).toBe(0);
    expect(r.expired).toBe(3);
  });

  it('refuses malformed fragments with typed errors and never throws on garbage', () => {
    const r = new Reassembler(2, 10, 50, 1000);
    const on = (): void => undefined;
    expect(r.push(Uint8Array.of(0x40, 0, 1, 2, 3), 0, 5, 0, on)).toBe(ERR_FRAG_HEADER);
    expect(r.push(Uint8Array.of(0xc0, 0, 1, 2), 0, 4, 0, on)).toBe(ERR_FRAG_HEADER); // no data
    expect(r.push(Uint8Array.of(0xc0, 0, 1, 2, 9, 9), 0, 6, 0, on)).toBe(ERR_FRAG_LENGTH); // non-last, not a full chunk
    expect(r.push(new Uint8Array([0xe5, 0, 1, 2, ...new Uint8Array(10)]), 0, 14, 0, on)).toBe(ERR_FRAG_LENGTH); // past maxUnit
    expect(r.push(Uint8Array.of(0xe1, 0, 1, 2, 7), 0, 5, 0, on)).toBe(FRAG_STORED); // last = index 1
    expect(r.push(Uint8Array.of(0xe2, 0, 1, 2, 7), 0, 5, 0, on)).toBe(ERR_FRAG_CONFLICT); // a second last
    expect(r.push(new Uint8Array([0xc3, 0, 1, 2, ...new Uint8Array(10)]), 0, 14, 0, on)).toBe(ERR_FRAG_CONFLICT); // beyond the last
    expect(r.push(new Uint8Array([0xc0, 0, 1, 2, ...new Uint8Array(10)]), 0, 14, 0, on)).toBe(FRAG_DONE);
    expect(r.push(Uint8Array.of(0xe1, 0, 1, 2, 7), 0, 5, 0, on)).toBe(ERR_FRAG_DUPLICATE);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat(), (junk, t) => {
        r.push(junk, 0, junk.length, t, on);
        expect(r.held()).toBeLessThanOrEqual(2);
      }),
    );
  });

  it('handles the full 32-fragment unit (index 31, the last bit of the bitmap)', () => {
    const unit = Uint8Array.from({ length: 32 * 4 }, (_, i) => i & 0xff);
    const frags = fragments(unit, 4, Uint8Array.of(1, 1), 0).reverse();
    const r = new Reassembler(1, 4, 128, 1000);
    let got: Uint8Array | undefined;
    for (const f of frags)
      r.push(f, 0, f.length, 0, (b, o, l) => {
        got = b.slice(o, o + l);
      });
    expect(got).toEqual(unit);
  });
});
