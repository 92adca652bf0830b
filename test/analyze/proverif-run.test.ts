// ProVerif itself on exported models (opt-in: PROVERIF_BIN, a ProVerif 2.x binary built by hand
// outside the repository). Each (model, attack) pair must agree with the analyser on every query;
// the full matrix is scripts/proverif-crosscheck.ts.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../host/src/analyze/model.ts';
import { exportProverif } from '../../host/src/analyze/proverif.ts';
import { compare, parseProverif } from '../../host/src/analyze/crosscheck.ts';
import { VAKT, analysisOf, fixture } from './helpers.ts';

const BIN = process.env.PROVERIF_BIN;
const have = !!BIN && existsSync(BIN);
if (!have)
  console.warn(
    `proverif-run.test: skipped — ${BIN ? `no ProVerif at ${BIN}` : 'PROVERIF_BIN not set'} (build ProVerif 2.05 from its public source, see docs/ANALYSIS.md)`,
  );
const PV_TIMEOUT_MS = 300_000;

function run(path: string, attackId: string) {
  const model = loadModel(path);
  const file = join(mkdtempSync(join(tmpdir(), 'vakt-pv-')), `${attackId}.pv`);
  writeFileSync(
    file,
    exportProverif(
      model,
      model.attacks.find((a) => a.id === attackId),
    ),
  );
  const out = execFileSync(BIN!, [file], { encoding: 'utf8', maxBuffer: 1 << 28, timeout: PV_TIMEOUT_MS });
  return compare(analysisOf(path), attackId, parseProverif(out));
}

describe.skipIf(!have)('ProVerif agrees with the analyser', () => {
  it.each([
    [VAKT, 'A1'],
    [fixture('activate-before-confirm'), 'A2'],
    [fixture('unsigned-shipment'), 'A8'],
  ])(
    '%s under %s',
    (path, attackId) => {
      const cmp = run(path, attackId);
      expect(cmp.length).toBeGreaterThan(20);
      expect(cmp.filter((c) => !c.agree).map((c) => `${c.query}: proverif ${c.proverif}, analyser ${c.analyser}`)).toEqual([]);
      if (path.includes('activate-before-confirm'))
        expect(cmp.find((c) => c.query.includes('P_key_confirmation_Meter1_e'))!.proverif).toBe('false');
      if (path.includes('unsigned-shipment')) expect(cmp.some((c) => c.proverif === 'false')).toBe(true);
    },
    600_000,
  );
});
