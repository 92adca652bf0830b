// Cross-check the analyser with ProVerif on every (model, attack) pair: export, run ProVerif
// (PROVERIF_BIN; built by hand outside the repository, see docs/ANALYSIS.md), compare each query.
//   PROVERIF_BIN=/path/to/proverif [PV_KEEP=dir [PV_REUSE=1]] npx tsx scripts/proverif-crosscheck.ts [model.json …] [--attacks A1,A2]
// Prints one line per pair and, last, one JSON object. Without PROVERIF_BIN it says so and exits 0.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../host/src/analyze/model.ts';
import { analyze } from '../host/src/analyze/analysis.ts';
import { exportProverif } from '../host/src/analyze/proverif.ts';
import { compare, parseProverif } from '../host/src/analyze/crosscheck.ts';

const PV_TIMEOUT_MS = 900_000;
const bin = process.env.PROVERIF_BIN;
if (!bin) {
  console.log('proverif-crosscheck: skipped — set PROVERIF_BIN to a ProVerif 2.x binary');
  process.exit(0);
}
const args = process.argv.slice(2);
const ai = args.indexOf('--attacks');
const only = ai >= 0 ? args.splice(ai, 2)[1].split(',') : undefined;
const fixtures = join(import.meta.dirname, '..', 'test', 'analyze', 'fixtures');
const models = args.length
  ? args
  : [
      join(import.meta.dirname, '..', 'host', 'models', 'vakt.json'),
      ...readdirSync(fixtures)
        .filter((f) => f.endsWith('.json'))
        .sort()
        .map((f) => join(fixtures, f)),
    ];
const dir = mkdtempSync(join(tmpdir(), 'vakt-pv-'));
// PV_KEEP=dir keeps each ProVerif output there; with PV_REUSE=1 a kept output is compared again without rerunning
const keep = process.env.PV_KEEP;
const reuse = process.env.PV_REUSE === '1';
if (keep) mkdirSync(keep, { recursive: true });
const rows: { model: string; attack: string; queries: number; agree: number; disagree: string[]; unmapped: number; seconds: number }[] = [];
for (const path of models) {
  const model = loadModel(path);
  const a = analyze(model);
  for (const atk of model.attacks) {
    if (only && !only.includes(atk.id)) continue;
    const file = join(dir, `${model.name.replace(/\W+/g, '_')}-${atk.id}.pv`);
    writeFileSync(file, exportProverif(model, atk));
    const t0 = Date.now();
    let out = '';
    const saved = join(keep ?? dir, `${model.name.replace(/\W+/g, '_')}-${atk.id}.out`);
    if (reuse && existsSync(saved)) out = readFileSync(saved, 'utf8');
    else
      try {
        out = execFileSync(bin, [file], { encoding: 'utf8', maxBuffer: 1 << 28, timeout: PV_TIMEOUT_MS });
      } catch (e) {
        out = String((e as { stdout?: string }).stdout ?? '') + '\nERROR ' + (e as Error).message;
      }
    if (keep) writeFileSync(saved, out);
    const cmp = compare(a, atk.id, parseProverif(out));
    const row = {
      model: path.split('/').pop()!,
      attack: atk.id,
      queries: cmp.length,
      agree: cmp.filter((c) => c.agree).length,
      disagree: cmp.filter((c) => !c.agree && c.analyser !== '?').map((c) => `${c.query} proverif=${c.proverif} analyser=${c.analyser}`),
      unmapped: cmp.filter((c) => c.analyser === '?').length,
      seconds: Math.round((Date.now() - t0) / 100) / 10,
    };
    rows.push(row);
    console.log(
      `${row.model.padEnd(32)} ${row.attack}  ${row.agree}/${row.queries} agree${row.unmapped ? `, ${row.unmapped} unmapped` : ''}  ${row.seconds} s${row.queries === 0 ? '  (no RESULT: ' + out.slice(-200).replace(/\s+/g, ' ') + ')' : ''}`,
    );
    for (const d of row.disagree) console.log(`    DISAGREE ${d}`);
  }
}
console.log(
  JSON.stringify({
    pairs: rows.length,
    queries: rows.reduce((n, r) => n + r.queries, 0),
    disagreements: rows.reduce((n, r) => n + r.disagree.length, 0),
    unmapped: rows.reduce((n, r) => n + r.unmapped, 0),
    rows: rows.map(({ model, attack, queries, agree, seconds }) => ({ model, attack, queries, agree, seconds })),
  }),
);
