// Shared helpers for the analyser tests: load a model once, look up verdicts by name.
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { loadModel } from '../../host/src/analyze/model.ts';
import { analyze, type Analysis } from '../../host/src/analyze/analysis.ts';

export const here = dirname(fileURLToPath(import.meta.url));
export const VAKT = join(here, '..', '..', 'host', 'models', 'vakt.json');
export const fixture = (name: string): string => join(here, 'fixtures', `${name}.json`);

const cache = new Map<string, Analysis>();
/** Analysis of a model file (memoised per test file run). */
export function analysisOf(path: string): Analysis {
  let a = cache.get(path);
  if (!a) cache.set(path, (a = analyze(loadModel(path))));
  return a;
}

export function attack(a: Analysis, id: string) {
  const r = a.attacks.find((x) => x.attack.id === id);
  if (!r) throw new Error(`no attack ${id}`);
  return r;
}

export function element(a: Analysis, attackId: string, el: string) {
  const e = attack(a, attackId).elements.find((x) => x.element === el);
  if (!e) throw new Error(`no element ${el} in ${attackId}`);
  return e;
}

export function failing(a: Analysis, kind: string) {
  return a.checks.filter((c) => c.kind === kind && c.verdict === 'fails');
}
