// Benchmark of the protocol analyser (`npm run bench:analyze`): Vakt's whole model under every
// attack model (target < 1 s) and a synthetic 200-message model (target < 5 s). Times are also given
// as ratios against a reference run in the same process (parsing the model JSON with JSON.parse
// 1000 times), so loaded machines can be compared. Last line: one JSON object.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { DEFAULT_MODEL } from '../host/src/analyze/cli.ts';
import { parseModel, type ModelFile } from '../host/src/analyze/model.ts';
import { analyze } from '../host/src/analyze/analysis.ts';

const WARM_RUNS = 5;

/** A model with `ops` operations, each a request DOWN and a response UP relayed over two hops (4 messages per op). */
function synthetic(ops: number): ModelFile {
  const atoms: ModelFile['atoms'] = [
    { name: 'MK', type: 'symkey', per: 'Meter', holders: ['HES', 'Meter'] },
    { name: 'LKm', type: 'symkey', per: 'Meter', holders: ['Conc', 'Meter'] },
    { name: 'LKc', type: 'symkey', holders: ['Conc', 'HES'] },
    { name: 'lmu', type: 'counter', per: 'Meter' },
    { name: 'lmd', type: 'counter', per: 'Meter' },
    { name: 'lcu', type: 'counter' },
    { name: 'lcd', type: 'counter' },
  ];
  const messages: ModelFile['messages'] = [];
  const requirements: ModelFile['requirements'] = [];
  for (let i = 0; i < ops; i++) {
    for (const d of ['U', 'D']) {
      atoms.push({ name: `K${i}${d}`, type: 'symkey', per: 'Meter', derive: `kdf(MK, 'op', tuple(Meter, 'o${i}', '${d}'))` });
      atoms.push({ name: `c${i}${d}`, type: 'counter', per: 'Meter' });
      atoms.push({ name: `x${i}${d}`, type: 'data', per: 'Meter', holders: [d === 'U' ? 'Meter' : 'HES'] });
      requirements.push({ element: `x${i}${d}`, read: ['Meter', 'HES'], write: [d === 'U' ? 'Meter' : 'HES'] });
    }
    messages.push({
      id: `D${i}`,
      phase: 'run',
      from: 'HES',
      to: 'Meter',
      via: ['Conc'],
      wrap: ['LC_D', 'LM_D'],
      term: `aead(K${i}D, x${i}D, hdr('o${i}', 'D', c${i}D))`,
      checks: [{ counter: `c${i}D` }],
    });
    messages.push({
      id: `U${i}`,
      phase: 'run',
      from: 'Meter',
      to: 'HES',
      via: ['Conc'],
      wrap: ['LM_U', 'LC_U'],
      term: `aead(K${i}U, x${i}U, hdr('o${i}', 'U', c${i}U))`,
      checks: [{ counter: `c${i}U` }],
      trigger: `D${i}.2`,
    });
  }
  return {
    name: `synthetic ${ops * 4} messages`,
    agents: [{ name: 'HES' }, { name: 'Conc' }, { name: 'Meter', instances: 2 }],
    phases: ['run'],
    tuples: ['hdr', 'lhdr'],
    links: [
      { name: 'radio', a: 'Meter', b: 'Conc' },
      { name: 'backhaul', a: 'Conc', b: 'HES' },
    ],
    atoms,
    lets: [
      { name: 'LM_U', params: ['x'], term: "mac(kdf(LKm, 'l', 'U'), tuple(lhdr('U', lmu), x))", checks: [{ counter: 'lmu' }] },
      { name: 'LM_D', params: ['x'], term: "mac(kdf(LKm, 'l', 'D'), tuple(lhdr('D', lmd), x))", checks: [{ counter: 'lmd' }] },
      { name: 'LC_U', params: ['x'], term: "mac(kdf(LKc, 'l', 'U'), tuple(lhdr('U', lcu), x))", checks: [{ counter: 'lcu' }] },
      { name: 'LC_D', params: ['x'], term: "mac(kdf(LKc, 'l', 'D'), tuple(lhdr('D', lcd), x))", checks: [{ counter: 'lcd' }] },
    ],
    messages,
    requirements,
    attacks: [
      { id: 'P', name: 'passive', network: 'passive' },
      { id: 'A', name: 'active', network: 'active' },
      { id: 'C', name: 'compromised concentrator', network: 'active', compromised: ['Conc'] },
      { id: 'M', name: 'compromised meter', network: 'active', compromised: ['Meter1'] },
      { id: 'L', name: 'leaked op key', network: 'active', leaks: ['K0D'] },
    ],
  };
}

function time(fn: () => void): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const r2 = (x: number): number => Math.round(x * 100) / 100;

function main(): void {
  const vaktSrc = readFileSync(DEFAULT_MODEL, 'utf8');
  const reference = median(
    Array.from({ length: WARM_RUNS }, () =>
      time(() => {
        for (let i = 0; i < 1000; i++) JSON.parse(vaktSrc);
      }),
    ),
  );
  let attacks = 0;
  let messages = 0;
  const vaktCold = time(() => {
    const m = parseModel(vaktSrc, DEFAULT_MODEL);
    attacks = m.attacks.length;
    messages = m.messages.length;
    analyze(m);
  });
  const vaktWarm = median(Array.from({ length: WARM_RUNS }, () => time(() => analyze(parseModel(vaktSrc, DEFAULT_MODEL)))));
  const synSrc = JSON.stringify(synthetic(50));
  let synMessages = 0;
  const synCold = time(() => {
    const m = parseModel(synSrc, 'synthetic');
    synMessages = m.messages.length;
    analyze(m);
  });
  const synWarm = median(Array.from({ length: 3 }, () => time(() => analyze(parseModel(synSrc, 'synthetic')))));
  console.log(
    `Vakt model (${messages} messages incl. hops and 2 meter instances, ${attacks} attack models): first run ${vaktCold.toFixed(0)} ms, median of ${WARM_RUNS} ${vaktWarm.toFixed(0)} ms (target < 1000)`,
  );
  console.log(
    `synthetic model (200 messages, ${synMessages} with its 2 meter instances, 5 attack models): first run ${synCold.toFixed(0)} ms, median ${synWarm.toFixed(0)} ms (target < 5000)`,
  );
  console.log(`reference (1000 × JSON.parse of vakt.json): ${reference.toFixed(1)} ms`);
  console.log(
    JSON.stringify({
      bench: 'analyze',
      vakt_messages: messages,
      vakt_attack_models: attacks,
      vakt_first_ms: Math.round(vaktCold),
      vakt_median_ms: Math.round(vaktWarm),
      vakt_target_ms: 1000,
      vakt_ok: vaktWarm < 1000,
      synthetic_messages: 200,
      synthetic_instance_messages: synMessages,
      synthetic_first_ms: Math.round(synCold),
      synthetic_median_ms: Math.round(synWarm),
      synthetic_target_ms: 5000,
      synthetic_ok: synWarm < 5000,
      reference_ms: r2(reference),
      vakt_ratio_vs_reference: r2(vaktWarm / reference),
      synthetic_ratio_vs_reference: r2(synWarm / reference),
      loadavg_1m: r2(loadavg()[0]),
    }),
  );
}

main();
