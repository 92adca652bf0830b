// Malformed model files get a ModelError naming where in the model the problem is, never a raw
// TypeError from deep inside the parser (handbook: bad input gets a clear typed error). Four
// hand-written cases, one per crash class a mutation run of vakt.json found, then a seeded
// mutation property over the real model; VAKT_MUTATION_RUNS=<n> (and VAKT_MUTATION_SEED) make
// the property run longer, e.g. VAKT_MUTATION_RUNS=5000 for the opt-in soak.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModelError, parseModel } from '../../host/src/analyze/model.ts';
import { fixture, VAKT } from './helpers.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Three agents (A — R — B) so a message can be relayed; one message A → B. */
function model(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'arb',
    agents: [{ name: 'A' }, { name: 'R' }, { name: 'B' }],
    phases: ['run'],
    links: [
      { name: 'ar', a: 'A', b: 'R' },
      { name: 'rb', a: 'R', b: 'B' },
      { name: 'ab', a: 'A', b: 'B' },
    ],
    atoms: [
      { name: 'k', type: 'symkey', holders: ['A', 'B'] },
      { name: 'x', type: 'data', holders: ['A'] },
    ],
    lets: [{ name: 'hop', params: ['m'], term: 'senc(k, m)' }],
    messages: [{ id: 'm1', phase: 'run', from: 'A', to: 'B', term: 'senc(k, x)' }],
    requirements: [{ element: 'x', read: ['A', 'B'], write: ['A'] }],
    attacks: [{ id: 'E', name: 'eavesdropper', network: 'passive' }],
    ...over,
  };
}

/** The ModelError a model gives (fails the test on any other outcome). */
function modelError(m: unknown): ModelError {
  try {
    parseModel(JSON.stringify(m, null, 2), 'm.json');
  } catch (e) {
    if (e instanceof ModelError) return e;
    throw e;
  }
  throw new Error('the model loaded');
}

const reply = { id: 'm2', phase: 'run', from: 'B', to: 'A', term: 'senc(k, x)' };

const CASES: { name: string; model: Record<string, unknown>; path: string; message: RegExp }[] = [
  {
    name: 'a trigger naming no message',
    model: model({ messages: [model().messages as unknown[], { ...reply, trigger: 'nope' }].flat() }),
    path: 'messages[1].trigger',
    message: /unknown message "nope"/,
  },
  {
    name: 'a trigger that is not a string',
    model: model({ messages: [model().messages as unknown[], { ...reply, trigger: 5 }].flat() }),
    path: 'messages[1].trigger',
    message: /"trigger" must be a non-empty string/,
  },
  {
    name: 'wrap naming an unknown let',
    model: model({ messages: [{ id: 'm1', phase: 'run', from: 'A', to: 'B', term: 'x', wrap: ['nolet'] }] }),
    path: 'messages[0].wrap[0]',
    message: /"nolet" is not a let with exactly one parameter/,
  },
  {
    name: 'a derivation that is not a term string',
    model: model({ atoms: [...(model().atoms as unknown[]), { name: 'kd', type: 'symkey', derive: 5 }] }),
    path: 'atoms[2].derive',
    message: /derive must be a term string/,
  },
  {
    name: 'a triggering message whose via is not an array',
    model: model({
      messages: [
        { id: 'm1', phase: 'run', from: 'A', to: 'B', via: 5, term: 'senc(k, x)' },
        { ...reply, trigger: 'm1' },
      ],
    }),
    path: 'messages[0].via',
    message: /"via" must be an array/,
  },
];

describe('malformed models: a ModelError naming the field', () => {
  it('the base model of these cases loads', () => {
    expect(parseModel(JSON.stringify(model())).messages).toHaveLength(1);
  });
  for (const c of CASES)
    it(c.name, () => {
      const e = modelError(c.model);
      expect(e.issues.map((i) => i.path)).toContain(c.path);
      expect(e.issues.find((i) => i.path === c.path)!.message).toMatch(c.message);
    });
});

describe('malformed variants (extends): a ModelError naming the field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vakt-variant-'));
  const variant = (base: unknown, v: Record<string, unknown>): ModelError => {
    writeFileSync(join(dir, 'base.json'), JSON.stringify(base));
    try {
      parseModel(JSON.stringify({ extends: 'base.json', ...v }, null, 2), join(dir, 'variant.json'));
    } catch (e) {
      if (e instanceof ModelError) return e;
      throw e;
    }
    throw new Error('the variant loaded');
  };
  it.each([
    ['a base that is not an object', null, {}, 'extends', /base model .*base\.json is not a JSON object/],
    [
      'a base section that is not an array',
      { messages: 'x' },
      { patch: { messages: [{ id: 'm' }] } },
      'patch.messages',
      /the base model's "messages" is not an array/,
    ],
    ['null entries in the base and the patch', { atoms: [null] }, { patch: { atoms: [null, 0] } }, '', /missing required field "name"/],
    ['a patch that is not an object of sections', model(), { patch: [] }, 'patch', /patch must be an object of sections/],
  ])('%s', (_name, base, v, path, message) => {
    const e = variant(base, v as Record<string, unknown>);
    const i = e.issues.find((x) => x.path === path);
    expect(i?.message, e.message).toMatch(message);
  });
});

describe('vakt analyze <malformed model>', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vakt-malformed-'));
  it('prints the plain problems and exits 2, no stack trace', () => {
    for (const [i, c] of CASES.entries()) {
      const f = join(dir, `bad${i}.json`);
      writeFileSync(f, JSON.stringify(c.model, null, 2));
      const r = spawnSync(process.execPath, ['host/bin/vakt.js', 'analyze', f], {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, VAKT_FROM_SOURCE: '1' },
      });
      expect(r.status, c.name).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^vakt analyze: invalid model \(\d+ problems?\):\n/);
      expect(r.stderr).toContain(`${f}:`);
      expect(r.stderr).toContain(`${c.path}: `);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  }, 60_000);
});

// ---- seeded mutation property over the real model ----

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Step = string | number;

/** Every place in the JSON tree (the root excluded). */
function placesOf(v: Json, at: Step[] = [], out: Step[][] = []): Step[][] {
  const children: [Step, Json][] = Array.isArray(v) ? v.map((x, i) => [i, x]) : v && typeof v === 'object' ? Object.entries(v) : [];
  for (const [step, x] of children) {
    out.push([...at, step]);
    placesOf(x, [...at, step], out);
  }
  return out;
}

/** Every string in the model: names that resolve somewhere else, so a swap makes plausible mistakes. */
function stringsOf(v: Json, out = new Set<string>()): Set<string> {
  if (typeof v === 'string') out.add(v);
  else if (Array.isArray(v)) v.forEach((x) => stringsOf(x, out));
  else if (v && typeof v === 'object') Object.values(v).forEach((x) => stringsOf(x, out));
  return out;
}

/** Names from Vakt's model, so a swap makes plausible mistakes. */
const NAMES = [...stringsOf(JSON.parse(readFileSync(VAKT, 'utf8')))];

/** What a mutation puts at a place. */
const replacement: fc.Arbitrary<Json | undefined> = fc.oneof(
  fc.constant(undefined), // the field or element deleted
  fc.constantFrom<Json>(null, true, false, 0, -1, 1.5, 99, '', [], {}, [5], { x: 1 }, 'nope', 'nope.1', ['nope']),
  fc.constantFrom(...NAMES), // a name from elsewhere in the model
  fc.constantFrom(...NAMES).map((n) => [n]),
  fc.constantFrom(...NAMES).map((n) => `${n}.1`),
  fc.constantFrom(...NAMES).map((n) => `${n}(`), // a broken term
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
);

/** `m` with the value at `place` replaced (or deleted, for undefined). */
function mutate(m: Json, place: Step[], v: Json | undefined): Json {
  const copy = structuredClone(m);
  let parent = copy as Record<string | number, Json>;
  for (const s of place.slice(0, -1)) parent = parent[s] as Record<string | number, Json>;
  const last = place[place.length - 1];
  if (v !== undefined) parent[last] = v;
  else if (Array.isArray(parent)) parent.splice(last as number, 1);
  else delete parent[last];
  return copy;
}

const RUNS = Number(process.env.VAKT_MUTATION_RUNS ?? 150);
const SEED = Number(process.env.VAKT_MUTATION_SEED ?? 20261207);

/** 1–3 mutations of the model at `file` (JSON text parsed as that file, so `extends` resolves). */
function mutationProperty(file: string): fc.IPropertyWithHooks<[[number, Json | undefined][]]> {
  const original: Json = JSON.parse(readFileSync(file, 'utf8'));
  const places = placesOf(original);
  const mutation = fc.tuple(fc.nat(places.length - 1), replacement);
  return fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (ms) => {
    let m = original;
    for (const [i, v] of ms) {
      try {
        m = mutate(m, places[i], v);
      } catch {
        // an earlier mutation removed the place's parent: nothing to mutate
      }
    }
    try {
      parseModel(JSON.stringify(m, null, 2), file);
    } catch (e) {
      if (!(e instanceof ModelError)) throw e;
      expect(e.issues.length).toBeGreaterThan(0);
      for (const i of e.issues) expect(i.path !== '' || /"[^"]+"/.test(i.message), i.message).toBe(true);
    }
  });
}

describe('mutations: the model loads, or a ModelError whose every problem names a field', () => {
  it(`host/models/vakt.json (${RUNS} runs, seed ${SEED})`, () => {
    fc.assert(mutationProperty(VAKT), { numRuns: RUNS, seed: SEED });
  }, 120_000);
  it(`a variant that extends it, test/analyze/fixtures/counter-race.json (${RUNS} runs, seed ${SEED})`, () => {
    fc.assert(mutationProperty(fixture('counter-race')), { numRuns: RUNS, seed: SEED });
  }, 120_000);
});
