/**
 * `vakt analyze [model] [--json] [--html report.html] [--export proverif [--out file.pv]]`:
 * runs the protocol analyser on a model file (default: Vakt's own, host/models/vakt.json).
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelError, loadModel } from './model.ts';
import { analyze } from './analysis.ts';
import { buildReport, renderText } from './report.ts';
import { renderHtml } from './html.ts';
import { exportProverif } from './proverif.ts';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

/** Vakt's own model, shipped in the repository. */
export const DEFAULT_MODEL = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'models', 'vakt.json');

const HELP = `vakt analyze [model.json] [options]

Protocol analysis of an AMS security model (method of the seed white paper):
requirement table, Dolev-Yao closure per attack model, replay/substitution/
forward-secrecy/key-transport checks, catalogue of threats, 5x5 risk matrix.

  model.json           model file (default: Vakt's own, ${DEFAULT_MODEL})
  --json               print the report as one JSON object
  --html FILE          also write an HTML report with the interaction and protection views
  --export proverif    print (or --out FILE) the model as a ProVerif input file
  --out FILE           where --export writes (default: stdout)
  --attack ID          with --export: give the attacker that attack model's leaks and compromised agents
  --color / --no-color force ANSI colours on or off (default: on when stdout is a terminal)
  --fail-on-risk       exit 3 when a threat lies outside the acceptance criteria
  --help               this text

Exit: 0 analysed, 2 bad arguments or invalid model (each problem on its own line
with file:line:column: field: message), 3 unacceptable risk with --fail-on-risk.
`;

/** Runs the analyser CLI; returns the exit code and never throws on bad input. */
export async function run(argv: string[], io: Io): Promise<number> {
  let model: string | undefined;
  let json = false;
  let html: string | undefined;
  let exportFmt: string | undefined;
  let outFile: string | undefined;
  let color = process.stdout.isTTY === true;
  let failOnRisk = false;
  let attackId: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string | undefined => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) {
        io.err(`vakt analyze: ${a} needs a value`);
        return undefined;
      }
      return v;
    };
    if (a === '--help' || a === '-h') {
      io.out(HELP);
      return 0;
    } else if (a === '--json') json = true;
    else if (a === '--html') {
      if ((html = value()) === undefined) return 2;
    } else if (a === '--export') {
      if ((exportFmt = value()) === undefined) return 2;
      if (exportFmt !== 'proverif') {
        io.err(`vakt analyze: unknown export format "${exportFmt}" (supported: proverif)`);
        return 2;
      }
    } else if (a === '--out') {
      if ((outFile = value()) === undefined) return 2;
    } else if (a === '--attack') {
      if ((attackId = value()) === undefined) return 2;
    } else if (a === '--color') color = true;
    else if (a === '--no-color') color = false;
    else if (a === '--fail-on-risk') failOnRisk = true;
    else if (a.startsWith('-')) {
      io.err(`vakt analyze: unknown option ${a} (try --help)`);
      return 2;
    } else if (model === undefined) model = a;
    else {
      io.err(`vakt analyze: more than one model given (${model}, ${a})`);
      return 2;
    }
  }
  let m;
  try {
    m = loadModel(model ?? DEFAULT_MODEL);
  } catch (e) {
    if (e instanceof ModelError) {
      io.err(`vakt analyze: invalid model (${e.issues.length} problem${e.issues.length > 1 ? 's' : ''}):\n${e.message}`);
      return 2;
    }
    // a file that cannot be read (ENOENT, EISDIR, EACCES, …); anything else is a bug of the analyser, not bad input
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code !== 'string') throw e;
    io.err(`vakt analyze: cannot read model ${model ?? DEFAULT_MODEL} (${code}): ${(e as Error).message}`);
    return 2;
  }
  if (exportFmt === 'proverif') {
    const attack = attackId === undefined ? undefined : m.attacks.find((x) => x.id === attackId);
    if (attackId !== undefined && !attack) {
      io.err(`vakt analyze: no attack model "${attackId}" in ${m.name} (have: ${m.attacks.map((x) => x.id).join(', ')})`);
      return 2;
    }
    const pv = exportProverif(m, attack);
    if (outFile) {
      try {
        writeFileSync(outFile, pv);
      } catch (e) {
        io.err(`vakt analyze: cannot write ${outFile}: ${(e as Error).message}`);
        return 2;
      }
      io.err(`wrote ${outFile}`);
    } else io.out(pv);
    return 0;
  }
  const report = buildReport(analyze(m));
  if (html) {
    try {
      writeFileSync(html, renderHtml(report, m));
    } catch (e) {
      io.err(`vakt analyze: cannot write ${html}: ${(e as Error).message}`);
      return 2;
    }
  }
  io.out(json ? JSON.stringify(report) + '\n' : renderText(report, color));
  if (html && !json) io.out(`HTML report written to ${html}\n`);
  if (failOnRisk && report.catalogue.some((t) => !t.acceptable)) return 3;
  return 0;
}

const invokedDirectly = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (invokedDirectly) {
  run(process.argv.slice(2), {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s.endsWith('\n') ? s : s + '\n'),
  }).then((code) => {
    process.exitCode = code;
  });
}
