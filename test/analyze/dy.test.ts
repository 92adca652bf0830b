// Dolev-Yao semantics on small hand-made models: what an attacker can decompose, compose and make
// honest agents do. Each case has its counterpart that must hold, so a verdict is never a constant.
import { describe, expect, it } from 'vitest';
import { parseModel, type ModelFile } from '../../host/src/analyze/model.ts';
import { analyze } from '../../host/src/analyze/analysis.ts';

function model(over: Partial<ModelFile>): ModelFile {
  return {
    name: 'small',
    agents: [{ name: 'A' }, { name: 'B' }, { name: 'C' }],
    phases: ['run'],
    tuples: ['hdr'],
    links: [
      { name: 'ab', a: 'A', b: 'B' },
      { name: 'bc', a: 'B', b: 'C' },
    ],
    atoms: [
      { name: 'k', type: 'symkey', holders: ['A', 'B'] },
      { name: 'k2', type: 'symkey', holders: ['B', 'C'] },
      { name: 'x', type: 'data', holders: ['A'] },
      { name: 'c', type: 'counter' },
      { name: 'c2', type: 'counter' },
    ],
    messages: [],
    requirements: [{ element: 'x', read: ['A', 'B', 'C'], write: ['A'] }],
    attacks: [
      { id: 'P', name: 'passive', network: 'passive' },
      { id: 'M', name: 'active', network: 'active' },
    ],
    ...over,
  };
}
const run = (m: ModelFile) => analyze(parseModel(JSON.stringify(m)));
const verdict = (a: ReturnType<typeof run>, id: string, el = 'x') =>
  a.attacks.find((r) => r.attack.id === id)!.elements.find((e) => e.element === el)!;
const msg = (id: string, from: string, to: string, term: string, extra: object = {}) => ({ id, phase: 'run', from, to, term, ...extra });

describe('decomposition and composition', () => {
  it('authenticated encryption hides the body from an eavesdropper; leaking the key reveals it', () => {
    const base = model({ messages: [msg('m', 'A', 'B', "aead(k, x, hdr('m', c))", { checks: [{ counter: 'c' }] })] });
    expect(verdict(run(base), 'P').read).toBe('held');
    const leaked = run({ ...base, attacks: [{ id: 'L', name: 'leak', network: 'passive', leaks: ['k'] }] });
    expect(verdict(leaked, 'L').read).toBe('leaked');
    expect(leaked.attacks[0].findings[0].trace.steps.join(' ')).toContain('open');
  });
  it('a MAC and a signature carry their message in clear', () => {
    for (const term of ["mac(k, tuple(hdr('m', c), x))", 'sign(sk(S), tuple(c, x))']) {
      const a = run(
        model({
          atoms: [...model({}).atoms, { name: 'S', type: 'keypair', holders: ['A'] }],
          messages: [msg('m', 'A', 'B', term, { checks: [{ counter: 'c' }] })],
        }),
      );
      expect(verdict(a, 'P').read).toBe('leaked');
    }
  });
  it('public-key encryption needs the private key; the public key alone does not open it', () => {
    const atoms = [...model({}).atoms, { name: 'B_kp', type: 'keypair' as const, holders: ['B'] }];
    const a = run(model({ atoms, messages: [msg('m', 'A', 'B', 'penc(pk(B_kp), x)')] }));
    expect(verdict(a, 'P').read).toBe('held');
    const b = run(
      model({
        atoms,
        messages: [msg('m', 'A', 'B', 'penc(pk(B_kp), x)')],
        attacks: [{ id: 'L', name: 'leak', network: 'passive', leaks: ['sk(B_kp)'] }],
      }),
    );
    expect(verdict(b, 'L').read).toBe('leaked');
  });
  it('a key wrap opens with its key only; a hash reveals nothing of its input', () => {
    const atoms = [
      ...model({}).atoms,
      { name: 'kw', type: 'symkey' as const, holders: ['A', 'B'] },
      { name: 'n', type: 'symkey' as const, holders: ['A'] },
    ];
    const reqs = [
      { element: 'n', read: ['A', 'B'], write: ['A'] },
      { element: 'x', read: ['A', 'B'], write: ['A'] },
    ];
    const msgs = [msg('m', 'A', 'B', 'wrap(kw, n)'), msg('h', 'A', 'B', 'tuple(hash(x), c)')];
    const plain = run(model({ atoms, requirements: reqs, messages: msgs }));
    expect(verdict(plain, 'P', 'n').read).toBe('held');
    expect(verdict(plain, 'P', 'x').read).toBe('held');
    const leaked = run(
      model({ atoms, requirements: reqs, messages: msgs, attacks: [{ id: 'L', name: 'l', network: 'passive', leaks: ['kw'] }] }),
    );
    expect(verdict(leaked, 'L', 'n').read).toBe('leaked');
    expect(verdict(leaked, 'L', 'x').read).toBe('held');
  });
  it('a key derived by KDF follows from its root, not the other way round', () => {
    const atoms = [
      ...model({}).atoms,
      { name: 'root', type: 'symkey' as const, holders: ['A', 'B'] },
      { name: 'child', type: 'symkey' as const, derive: "kdf(root, 'l', 'ctx')" },
    ];
    const messages = [msg('m', 'A', 'B', "aead(child, x, hdr('m', c))"), msg('n', 'A', 'B', "aead(root, k, hdr('n', c2))")];
    const reqs = [
      { element: 'x', read: ['A', 'B'], write: ['A'] },
      { element: 'root', read: ['A', 'B'], write: [] },
    ];
    const fromRoot = run(
      model({ atoms, messages, requirements: reqs, attacks: [{ id: 'L', name: 'l', network: 'passive', leaks: ['root'] }] }),
    );
    expect(verdict(fromRoot, 'L').read).toBe('leaked');
    const fromChild = run(
      model({ atoms, messages, requirements: reqs, attacks: [{ id: 'L', name: 'l', network: 'passive', leaks: ['child'] }] }),
    );
    expect(verdict(fromChild, 'L').read).toBe('leaked');
    expect(verdict(fromChild, 'L', 'root').read).toBe('held');
  });
});

describe('integrity, oracles and replay', () => {
  const relay = (extra: Partial<ModelFile> = {}) =>
    model({
      messages: [
        msg('m1', 'A', 'B', "aead(k, x, hdr('m1', c))", { checks: [{ counter: 'c' }] }),
        msg('m2', 'B', 'C', "aead(k2, x, hdr('m2', c2))", { checks: [{ counter: 'c2' }], trigger: 'm1' }),
      ],
      ...extra,
    });
  it('an active attacker without keys can neither read nor forge', () => {
    const a = run(relay());
    expect(verdict(a, 'M')).toMatchObject({ read: 'held', write: 'held' });
  });
  it('an attacker with the end-to-end key and the first hop key, but not the second, makes the honest relay deliver its forgery (oracle)', () => {
    const atoms = [
      ...model({}).atoms,
      { name: 'e', type: 'symkey' as const, holders: ['A', 'C'] },
      { name: 'c3', type: 'counter' as const },
    ];
    const hop = (over: Partial<ModelFile>) =>
      run(
        model({
          atoms,
          requirements: [{ element: 'x', read: ['A', 'C'], write: ['A'] }],
          messages: [
            msg('m.1', 'A', 'B', "mac(k, tuple(hdr('l', c), aead(e, x, hdr('e', c3))))", { checks: [{ counter: 'c' }] }),
            msg('m.2', 'B', 'C', "mac(k2, tuple(hdr('l', c2), aead(e, x, hdr('e', c3))))", {
              checks: [{ counter: 'c2' }, { counter: 'c3' }],
              trigger: 'm.1',
            }),
          ],
          ...over,
        }),
      );
    const withRelay = hop({ attacks: [{ id: 'L', name: 'leak k and e', network: 'active', links: ['ab'], leaks: ['k', 'e'] }] });
    const v = verdict(withRelay, 'L');
    expect(v.write).toBe('forgeable');
    expect(v.writeTrace!.steps.join('\n')).toContain('make an honest agent send m.2');
    // without the first hop key the relay rejects the forgery: the second link is out of reach
    const noHopKey = hop({ attacks: [{ id: 'L', name: 'leak e', network: 'active', links: ['ab'], leaks: ['e'] }] });
    expect(verdict(noHopKey, 'L').write).toBe('held');
  });
  it('replay: no counter check is flagged, a counter in the associated data holds, a counter outside it is flagged', () => {
    const none = run(model({ messages: [msg('m', 'A', 'B', "aead(k, x, hdr('m'))")] }));
    expect(none.attacks.find((r) => r.attack.id === 'M')!.findings.map((f) => f.kind)).toContain('replay');
    const inside = run(model({ messages: [msg('m', 'A', 'B', "aead(k, x, hdr('m', c))", { checks: [{ counter: 'c' }] })] }));
    expect(inside.attacks.find((r) => r.attack.id === 'M')!.findings).toEqual([]);
    const outside = run(model({ messages: [msg('m', 'A', 'B', "tuple(c, aead(k, x, hdr('m')))", { checks: [{ counter: 'c' }] })] }));
    const f = outside.attacks.find((r) => r.attack.id === 'M')!.findings.find((x) => x.kind === 'replay')!;
    expect(f.detail).toContain('not bound by its tag');
  });
  it('substitution: two messages under one key are told apart only by their associated data', () => {
    const atoms = [...model({}).atoms, { name: 'y', type: 'data' as const, holders: ['A'] }];
    const twoMsgs = (ad1: string, ad2: string) =>
      run(
        model({
          atoms,
          messages: [
            msg('m', 'A', 'B', `aead(k, x, ${ad1})`, { checks: [{ counter: 'c' }] }),
            msg('n', 'A', 'B', `aead(k, y, ${ad2})`, { checks: [{ counter: 'c2' }] }),
          ],
        }),
      );
    expect(twoMsgs("hdr('m', c)", "hdr('n', c2)").checks.filter((c) => c.kind === 'substitution')).toEqual([]);
    expect(twoMsgs("hdr('v', c)", "hdr('v', c2)").checks.filter((c) => c.kind === 'substitution').length).toBeGreaterThan(0);
  });
});
