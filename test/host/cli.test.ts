// The vakt dispatcher, argument parsing and conformance report summary: plain one-line errors,
// non-zero exits, --help everywhere, and the bin really starts through tsx.
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { helpText, hostPort, intOpt, parseCommand, type CommandSpec } from '../../host/src/cli/args.ts';
import { summarise } from '../../host/src/cli/conformance.ts';
import { captureIo, CliError } from '../../host/src/cli/io.ts';
import { loadSubcommand, main, SUBCOMMANDS } from '../../host/src/cli/main.ts';
import { table } from '../../host/src/cli/output.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SPEC: CommandSpec = {
  name: 'vakt x',
  summary: 'test',
  usage: '--port <p>',
  options: {
    port: { type: 'string', description: 'port' },
    meters: { type: 'string', description: 'n', default: '3' },
    fast: { type: 'boolean', description: 'f' },
  },
  positionals: { min: 0, max: 1, names: '<file>' },
};

describe('vakt dispatcher', () => {
  it('prints help with every subcommand and exits 0 on --help', async () => {
    const io = captureIo();
    expect(await main(['--help'], io)).toBe(0);
    for (const s of SUBCOMMANDS) expect(io.stdout.join('\n')).toContain(s.name);
  });

  it('without a command prints help on stderr and exits 2', async () => {
    const io = captureIo();
    expect(await main([], io)).toBe(2);
    expect(io.stderr.join('\n')).toContain('Usage: vakt');
  });

  it('an unknown command is one plain line and exit 2', async () => {
    const io = captureIo();
    expect(await main(['frobnicate'], io)).toBe(2);
    expect(io.stderr).toHaveLength(1);
    expect(io.stderr[0]).toMatch(/^vakt: unknown command 'frobnicate'/);
  });

  it('a subcommand whose module does not exist says it is not available yet', async () => {
    await expect(loadSubcommand({ name: 'ghost', summary: '', module: './no-such-module.ts', area: 'ghost' })).rejects.toThrow(
      /'vakt ghost' is not available yet/,
    );
  });

  it('a CliError from a subcommand becomes one line with its exit code', async () => {
    const io = captureIo();
    expect(await main(['conformance', '--no-such-flag'], io)).toBe(2);
    expect(io.stderr).toEqual([`vakt conformance: unknown option '--no-such-flag' (see 'vakt conformance --help')`]);
  });

  it('every subcommand that exists answers --help with exit 0', async () => {
    for (const s of SUBCOMMANDS) {
      const io = captureIo();
      const code = await main([s.name, '--help'], io);
      if (io.stderr.some((l) => l.includes('not available yet'))) continue; // area not landed yet
      expect(code, s.name).toBe(0);
      expect(io.stdout.join('\n'), s.name).toContain(`vakt ${s.name}`);
    }
  });
});

describe('argument parsing', () => {
  it('applies defaults and reads options', () => {
    const p = parseCommand(SPEC, ['--port', '/dev/x', 'f.bin', '--json']);
    expect(p.values.port).toBe('/dev/x');
    expect(p.values.meters).toBe('3');
    expect(p.positionals).toEqual(['f.bin']);
    expect(p.json).toBe(true);
  });

  it('turns parse failures into usage errors with exit code 2', () => {
    for (const argv of [['--nope'], ['--port'], ['a', 'b'], ['--fast=1']]) {
      let err: unknown;
      try {
        parseCommand(SPEC, argv);
      } catch (e) {
        err = e;
      }
      expect(err, argv.join(' ')).toBeInstanceOf(CliError);
      expect((err as CliError).exitCode).toBe(2);
      expect((err as CliError).message).not.toContain('\n');
    }
  });

  it('checks integer ranges and host:port', () => {
    expect(intOpt(parseCommand(SPEC, []), 'meters', 1, 10, 0)).toBe(3);
    expect(() => intOpt(parseCommand(SPEC, ['--meters', '0']), 'meters', 1, 10, 0)).toThrow(/between 1 and 10/);
    expect(() => intOpt(parseCommand(SPEC, ['--meters', '2x']), 'meters', 1, 10, 0)).toThrow(/whole number/);
    expect(hostPort('7000', 'hes')).toEqual({ host: '127.0.0.1', port: 7000 });
    expect(hostPort('localhost:80', 'hes')).toEqual({ host: 'localhost', port: 80 });
    expect(() => hostPort('x:99999', 'hes')).toThrow(/host:port/);
    expect(() => hostPort('', 'hes')).toThrow(CliError);
  });

  it('help lists every option', () => {
    const h = helpText(SPEC);
    for (const o of ['--port', '--meters', '--fast', '--json', '--help']) expect(h).toContain(o);
  });
});

describe('output helpers', () => {
  it('aligns table columns, numbers to the right', () => {
    expect(
      table(
        ['a', 'n'],
        [
          ['xx', 1],
          ['y', 100],
        ],
      ),
    ).toEqual(['a     n', '--  ---', 'xx    1', 'y   100']);
  });
});

describe('conformance summary', () => {
  it('counts passes, failures and files that failed to load', () => {
    const rows = summarise(
      {
        numTotalTests: 3,
        numPassedTests: 1,
        numFailedTests: 1,
        numPendingTests: 1,
        testResults: [
          {
            name: '/r/test/conformance/a.test.ts',
            status: 'failed',
            message: '',
            assertionResults: [
              { ancestorTitles: [], fullName: 'ok', status: 'passed', failureMessages: [] },
              { ancestorTitles: [], fullName: 'bad', status: 'failed', failureMessages: ['AssertionError: x\n at y'] },
              { ancestorTitles: [], fullName: 'sk', status: 'skipped', failureMessages: [] },
            ],
          },
          { name: '/r/test/conformance/b.test.ts', status: 'failed', message: 'SyntaxError: boom\nmore', assertionResults: [] },
        ],
      },
      '/r',
    );
    expect(rows[0]).toMatchObject({ file: 'test/conformance/a.test.ts', passed: 1, failed: 1, skipped: 1 });
    expect(rows[0]!.failures).toEqual([{ test: 'bad', message: 'AssertionError: x' }]);
    expect(rows[1]!.error).toBe('SyntaxError: boom');
  });
});

describe('the vakt bin', () => {
  it('runs through tsx from the repository root (npx vakt)', () => {
    const out = execFileSync(process.execPath, ['host/bin/vakt.js', '--version'], { cwd: ROOT, encoding: 'utf8' });
    expect(out.trim()).toBe('vakt 0.1.0');
  });

  it('exits non-zero with one stderr line for a bad command', () => {
    const r = spawnSync(process.execPath, ['host/bin/vakt.js', 'nope'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
