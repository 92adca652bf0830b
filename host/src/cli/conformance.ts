/**
 * `vakt conformance`: runs the conformance suite (test/conformance, vitest with its JSON reporter)
 * in a child process and prints one row per test file: what passed, failed and was skipped.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { helpText, parseCommand, stringOpt, type CommandSpec } from './args.ts';
import { CliError, type CliIo } from './io.ts';
import { printJson, printTable } from './output.ts';

/** Repository root (host/src/cli/ → ../../..). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const SPEC: CommandSpec = {
  name: 'vakt conformance',
  summary: 'run the conformance suite (test/conformance) and print a table of what passed',
  usage: '[--filter <text>] [--verbose] [--json]',
  options: {
    filter: { type: 'string', placeholder: '<text>', description: 'run only tests whose name contains <text>' },
    verbose: { type: 'boolean', short: 'v', description: 'list every test, not only failures' },
  },
  notes: ['Exit status 0 only when every selected test passed and at least one ran.'],
  examples: ['vakt conformance', 'vakt conformance --filter ccm --verbose', 'vakt conformance --json | jq .failed'],
};

interface VitestAssertion {
  ancestorTitles: string[];
  fullName: string;
  status: string;
  failureMessages: string[];
}
interface VitestFile {
  name: string;
  status: string;
  message: string;
  assertionResults: VitestAssertion[];
}
interface VitestReport {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  testResults: VitestFile[];
}

/** One file's outcome. */
export interface FileResult {
  file: string;
  passed: number;
  failed: number;
  skipped: number;
  failures: { test: string; message: string }[];
  error?: string;
}

/** Summarises a vitest JSON report into per-file rows (pure; exported for tests). */
export function summarise(report: VitestReport, root: string): FileResult[] {
  return report.testResults.map((f) => {
    const r: FileResult = { file: relative(root, f.name), passed: 0, failed: 0, skipped: 0, failures: [] };
    for (const a of f.assertionResults) {
      if (a.status === 'passed') r.passed++;
      else if (a.status === 'failed') {
        r.failed++;
        r.failures.push({ test: a.fullName, message: (a.failureMessages[0] ?? '').split('\n')[0]! });
      } else r.skipped++;
    }
    // A file that fails to load has no assertions but a message: count it as a failure.
    if (f.status === 'failed' && r.failed === 0) r.error = (f.message || 'file failed to run').split('\n')[0]!;
    return r;
  });
}

function runVitest(args: string[], signal: AbortSignal): Promise<number> {
  const entry = join(REPO_ROOT, 'node_modules', 'vitest', 'vitest.mjs');
  if (!existsSync(entry)) throw new CliError(`vitest is not installed (expected ${entry}); run 'npm ci' first`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'], signal });
    let errTail = '';
    child.stderr.on('data', (d: Buffer) => {
      errTail = (errTail + d.toString()).slice(-4000);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
}

/** Entry point of `vakt conformance`. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const p = parseCommand(SPEC, argv);
  if (p.help) {
    io.out(helpText(SPEC));
    return 0;
  }
  const dir = join(REPO_ROOT, 'test', 'conformance');
  if (!existsSync(dir)) throw new CliError(`no conformance suite found at ${dir}`);
  const tmp = mkdtempSync(join(tmpdir(), 'vakt-conf-'));
  const out = join(tmp, 'report.json');
  const args = ['run', 'test/conformance', '--reporter=json', `--outputFile=${out}`];
  const filter = stringOpt(p, 'filter');
  if (filter !== undefined) args.push('-t', filter);
  if (!p.json) io.err('running the conformance suite (test/conformance)…');
  const started = Date.now();
  let report: VitestReport;
  try {
    await runVitest(args, io.signal);
    if (!existsSync(out)) throw new CliError('the test runner produced no report (does test/conformance contain *.test.ts files?)');
    report = JSON.parse(readFileSync(out, 'utf8')) as VitestReport;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const files = summarise(report, REPO_ROOT);
  if (files.length === 0) throw new CliError('no conformance tests found in test/conformance');
  const failed = files.reduce((n, f) => n + f.failed + (f.error !== undefined ? 1 : 0), 0);
  const passed = files.reduce((n, f) => n + f.passed, 0);
  const skipped = files.reduce((n, f) => n + f.skipped, 0);
  const ok = failed === 0 && passed > 0;
  const seconds = (Date.now() - started) / 1000;
  if (p.json) {
    printJson(io, { ok, passed, failed, skipped, seconds, files });
    return ok ? 0 : 1;
  }
  printTable(
    io,
    ['file', 'passed', 'failed', 'skipped'],
    files.map((f) => [f.file, f.passed, f.failed + (f.error !== undefined ? 1 : 0), f.skipped]),
  );
  for (const f of files) {
    if (f.error !== undefined) io.out(`  ✗ ${f.file}: ${f.error}`);
    for (const x of f.failures) io.out(`  ✗ ${x.test}: ${x.message}`);
  }
  if (p.values.verbose === true) {
    for (const f of report.testResults)
      for (const a of f.assertionResults) io.out(`  ${a.status === 'passed' ? '✓' : a.status === 'failed' ? '✗' : '-'} ${a.fullName}`);
  }
  io.out(`${ok ? 'PASS' : 'FAIL'}: ${passed} passed, ${failed} failed, ${skipped} skipped in ${seconds.toFixed(1)} s`);
  if (passed === 0 && failed === 0) io.err('vakt conformance: no tests ran');
  return ok ? 0 : 1;
}
