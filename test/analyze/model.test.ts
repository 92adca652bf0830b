// Model files: every error names the line, the column and the field; the term language rejects
// malformed terms with the column inside the term.
import { describe, expect, it } from 'vitest';
import { ModelError, parseModel } from '../../host/src/analyze/model.ts';
import { parseTerm, TermSyntaxError } from '../../host/src/analyze/term.ts';

const minimal = (over: Record<string, unknown> = {}) =>
  JSON.stringify(
    {
      name: 'ab',
      agents: [{ name: 'A' }, { name: 'B' }],
      phases: ['run'],
      links: [{ name: 'net', a: 'A', b: 'B' }],
      atoms: [
        { name: 'k', type: 'symkey', holders: ['A', 'B'] },
        { name: 'x', type: 'data', holders: ['A'] },
        { name: 'c', type: 'counter' },
      ],
      messages: [{ id: 'm1', phase: 'run', from: 'A', to: 'B', term: 'aead(k, x, tuple(c))', checks: [{ counter: 'c' }] }],
      requirements: [{ element: 'x', read: ['A', 'B'], write: ['A'] }],
      attacks: [{ id: 'E', name: 'eavesdropper', network: 'passive' }],
      ...over,
    },
    null,
    2,
  );

function issues(src: string) {
  try {
    parseModel(src, 'm.json');
  } catch (e) {
    if (e instanceof ModelError) return e.issues;
    throw e;
  }
  return [];
}

describe('model validation', () => {
  it('accepts a minimal valid model', () => {
    const m = parseModel(minimal());
    expect(m.messages).toHaveLength(1);
    expect(m.messages[0].counters.map((c) => c.name)).toEqual(['c']);
  });
  it('reports a JSON syntax error with its line and column', () => {
    const is = issues('{\n  "name": "x",\n  "agents": [,]\n}');
    expect(is[0]).toMatchObject({ line: 3, col: 14 });
  });
  it('points at the line and field of an unknown agent', () => {
    const src = minimal({ messages: [{ id: 'm1', phase: 'run', from: 'A', to: 'Q', term: 'x' }] });
    const is = issues(src);
    const i = is.find((x) => x.path === 'messages[0].to')!;
    expect(i.message).toContain('unknown agent "Q"');
    expect(src.split('\n')[i.line! - 1]).toContain('"Q"');
  });
  it('points inside a term at the unknown name (column in the file)', () => {
    const src = minimal({ messages: [{ id: 'm1', phase: 'run', from: 'A', to: 'B', term: 'aead(k, y, c)' }] });
    const i = issues(src).find((x) => x.path === 'messages[0].term')!;
    expect(i.message).toContain('unknown name "y"');
    expect(src.split('\n')[i.line! - 1].slice(i.col! - 1)).toMatch(/^y, c\)/);
  });
  it.each([
    ['aead(k, x)', 'aead(...) takes 3 argument(s), got 2'],
    ['frob(k)', 'unknown function "frob"'],
    ['pk(k)', 'pk(...) takes the name of a key pair atom'],
    ['aead(k, x, c', "expected ',' or ')'"],
    ["'open", 'unterminated constant'],
  ])('rejects term %s', (term, msg) => {
    const is = issues(minimal({ messages: [{ id: 'm1', phase: 'run', from: 'A', to: 'B', term }] }));
    expect(is.map((i) => i.message).join('\n')).toContain(msg);
  });
  it('rejects unknown fields, bad types and dangling references', () => {
    const is = issues(
      minimal({
        atoms: [
          { name: 'k', type: 'symkey', holders: ['A', 'B'], colour: 'red' },
          { name: 'x', type: 'datum' },
          { name: 'c', type: 'counter' },
        ],
        attacks: [{ id: 'E', name: 'e', network: 'loud', likelihood: 9, links: ['nowhere'] }],
      }),
    );
    const text = issues.length ? is.map((i) => `${i.path}: ${i.message}`).join('\n') : '';
    expect(text).toContain('atoms[0].colour: unknown field "colour"');
    expect(text).toContain('atoms[1].type: type must be one of');
    expect(text).toContain('attacks[0].network: network must be one of');
    expect(text).toContain('attacks[0].likelihood: likelihood must be an integer 1…5');
    expect(text).toContain('attacks[0].links[0]: unknown link "nowhere"');
    expect(is.every((i) => typeof i.line === 'number')).toBe(true);
  });
  it('rejects a counter check on a counter the term does not carry, and a message without a link', () => {
    const text = issues(
      minimal({
        agents: [{ name: 'A' }, { name: 'B' }, { name: 'C' }],
        atoms: [
          { name: 'k', type: 'symkey', holders: ['A', 'B'] },
          { name: 'x', type: 'data', holders: ['A'] },
          { name: 'c', type: 'counter' },
          { name: 'd', type: 'counter' },
        ],
        messages: [
          { id: 'm1', phase: 'run', from: 'A', to: 'B', term: 'aead(k, x, tuple(c))', checks: [{ counter: 'd' }] },
          { id: 'm2', phase: 'run', from: 'A', to: 'C', term: 'x' },
        ],
      }),
    )
      .map((i) => `${i.path}: ${i.message}`)
      .join('\n');
    expect(text).toContain('counter "d" does not occur in the term');
    expect(text).toContain('no link between A and C');
  });
  it('garbage input never crashes the loader', () => {
    for (const src of ['', 'null', '[]', '"x"', '{"agents": 5}', '{"name": 1, "agents": [1, null], "messages": [[]]}', '{'.repeat(50)]) {
      expect(() => parseModel(src)).toThrow(ModelError);
    }
  });
});

describe('term syntax', () => {
  it('parses nested applications and constants', () => {
    expect(parseTerm("aead(k, tuple('a', b), hdr(c))")).toMatchObject({
      kind: 'call',
      name: 'aead',
      args: [{ kind: 'name' }, { kind: 'call' }, { kind: 'call' }],
    });
  });
  it('reports the column of a syntax error', () => {
    try {
      parseTerm('mac(k, )');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(TermSyntaxError);
      expect((e as TermSyntaxError).col).toBe(7);
    }
  });
});
