// A hostile key holder (issue 10): authentic uplink frames — sealed with the meter's real keys and
// wrapped by its real concentrator — whose bodies break the §10 subset or the body table
// (shared/src/bodies.ts). The HES runs in a child process with a time bound per request, so a
// hang fails the test. Every case: a typed refusal (ERR_CBOR) within the bound, link-acknowledged
// (linkCounter set, so the concentrator drops the frame), nothing stored, the next honest frame accepted.
import { describe, it, expect, afterAll } from 'vitest';
import fc from 'fast-check';
import { decodeBody } from '@vakt/shared/bodies';
import { DIR_UP, OP_EVENT, OP_READING, MAX_BODY, OK } from '@vakt/shared';
import { makeFixture } from './hes-fixture.ts';
import type { Fixture } from './hes-fixture.ts';
import { GuardedHes } from './hes-guard.ts';
import { HOSTILE_ITEMS, head, encodeItems, hostileBody, shapesIn } from '../support/hostile-bodies.ts';
import type { KitMeter } from '../../host/src/hes/testkit.ts';

const T0 = 1_700_000_000;
const guards: GuardedHes[] = [];
afterAll(async () => {
  for (const g of guards) await g.close();
});

async function setup(meters = 2): Promise<{ f: Fixture; g: GuardedHes }> {
  const f = await makeFixture(meters, 1);
  const g = new GuardedHes(f);
  guards.push(g);
  return { f, g };
}

const honestSeq = new Map<KitMeter, number>();
/** The meter's next honest READING (seq 1, 2, … per meter), wrapped by its concentrator. */
const honest = (f: Fixture, m: KitMeter) => {
  const seq = (honestSeq.get(m) ?? 0) + 1;
  honestSeq.set(m, seq);
  return f.concOf(m).wrap(m.seal(OP_READING, [0, seq, T0 + seq * 900, seq * 10, 250]));
};
const readingBody = (seq: Uint8Array, t = head(0, T0)) => encodeItems([head(0, 0), seq, t, head(0, 10), head(0, 250)]);

describe('HES: authentic hostile bodies (findings of issue 10)', () => {
  it('a READING whose seq is a float64 (1e18, 2^60) is refused within the time bound; the HES keeps working', async () => {
    const { f, g } = await setup();
    await g.ready;
    const m = f.meters[0]!;
    for (const x of ['float64 1e18', 'float64 2^60', 'float64 5.0']) {
      const item = HOSTILE_ITEMS.find((h) => h.name === x)!.bytes;
      const [r] = await g.ingest([f.concOf(m).wrap(m.sealRaw(OP_READING, readingBody(item)))], T0 * 1000);
      expect(r).toMatchObject({ ok: false, error: 'ERR_CBOR' });
      expect(r!.linkCounter).toBeGreaterThan(0);
    }
    const [ok] = await g.ingest([honest(f, m)], T0 * 1000);
    expect(ok).toMatchObject({ ok: true, kind: 'reading' });
    expect(await g.counts('readings', 'commands')).toEqual({ readings: 1, commands: 0 });
  });

  it('indefinite lengths, tags 2/55799/258, floats, duplicate keys and invalid UTF-8 are refused, nothing stored', async () => {
    const { f, g } = await setup();
    await g.ready;
    const m = f.meters[0]!;
    const c = f.concOf(m);
    const bodies: Uint8Array[] = [
      new Uint8Array([0x9f, 0x00, 0x01, 0x1a, 0x65, 0x53, 0xf1, 0x00, 0x0a, 0x18, 0xfa, 0xff]), // indefinite READING
      readingBody(head(0, 1), HOSTILE_ITEMS.find((h) => h.name === 'float64 1e300')!.bytes), // t = 1e300
      new Uint8Array([0xd9, 0xd9, 0xf7, ...readingBody(head(0, 2))]),
      readingBody(new Uint8Array([0xc2, 0x41, 0x03])),
      readingBody(new Uint8Array([0xd9, 0x01, 0x02, 0x81, 0x04])),
      encodeItems([head(0, 0), head(0, 3), head(0, T0), new Uint8Array([0x62, 0xc3, 0x28])]), // EVENT detail invalid UTF-8
      encodeItems([head(0, 0), head(0, 3), head(0, T0), new Uint8Array([0xa2, 0x01, 0x05, 0x01, 0x06])]), // EVENT detail with duplicate keys
    ];
    const ops = [OP_READING, OP_READING, OP_READING, OP_READING, OP_READING, OP_EVENT, OP_EVENT];
    const res = await g.ingest(
      bodies.map((b, i) => c.wrap(m.sealRaw(ops[i]!, b))),
      T0 * 1000,
    );
    for (const r of res) {
      expect(r).toMatchObject({ ok: false, error: 'ERR_CBOR' });
      expect(r.linkCounter).toBeGreaterThan(0);
    }
    expect(await g.counts('readings', 'events')).toEqual({ readings: 0, events: 0 });
  });

  it('16 EVENTs whose detail is a bignum inside a tag 300(2(h"..")) are refused and link-acknowledged, not an internal error', async () => {
    const { f, g } = await setup();
    await g.ready;
    const m = f.meters[0]!;
    const c = f.concOf(m);
    const frames = Array.from({ length: 16 }, (_, i) =>
      c.wrap(
        m.sealRaw(OP_EVENT, encodeItems([head(0, 0), head(0, 3), head(0, T0 + i), new Uint8Array([0xd9, 0x01, 0x2c, 0xc2, 0x41, i + 1])])),
      ),
    );
    const res = await g.ingest(frames, T0 * 1000);
    expect(res.map((r) => (r.ok ? r.kind : r.error))).toEqual(new Array(16).fill('ERR_CBOR'));
    expect(res.every((r) => (r.linkCounter ?? 0) > 0)).toBe(true);
    // Meter B behind the same concentrator is served.
    const [ok] = await g.ingest([honest(f, f.meters[1]!)], T0 * 1000);
    expect(ok).toMatchObject({ ok: true, kind: 'reading' });
    expect(await g.counts('events')).toEqual({ events: 0 });
  });
});

describe('HES: hostile-body suite over every uplink shape (fast-check)', () => {
  it('every authentic body outside the table is refused in time, acknowledged, stores nothing; honest traffic continues', async () => {
    const { f, g } = await setup();
    await g.ready;
    const m = f.meters[0]!;
    const b = f.meters[1]!;
    const c = f.concOf(m);
    let honestCount = 0;
    let refused = 0;
    const shapes = shapesIn(DIR_UP);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...shapes).chain((s) => hostileBody(s, MAX_BODY - 64).map((h) => ({ s, ...h }))),
        async ({ s, how, body }) => {
          fc.pre(decodeBody(s.op, DIR_UP, body, 0, body.length).err !== OK);
          const [r] = await g.ingest([c.wrap(m.sealRaw(s.op, body))], T0 * 1000);
          refused++;
          expect(r, `${s.name}: ${how}`).toMatchObject({ ok: false, error: 'ERR_CBOR' });
          expect(r!.linkCounter, how).toBeGreaterThan(0);
          const [ok] = await g.ingest([honest(f, b)], T0 * 1000);
          honestCount++;
          expect(ok).toMatchObject({ ok: true, kind: 'reading' });
        },
      ),
      { numRuns: 300 },
    );
    expect(refused).toBeGreaterThan(200);
    // Only the honest readings were stored; no event, no command (gap fill) came from a hostile body.
    const n = await g.counts('readings', 'events', 'register_reads');
    expect(n).toEqual({ readings: honestCount, events: 0, register_reads: 0 });
  });
});
