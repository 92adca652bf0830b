/**
 * The `vakt` dispatcher: one table of subcommands, each loaded on demand from the file of the area
 * that owns it and called as `run(argv, io) → exit code`. Every error reaches the user as one plain
 * line on stderr with a non-zero exit; a stack trace is printed only with VAKT_DEBUG=1.
 */
import { CliError, EXIT_FAILURE, EXIT_USAGE, processIo, type CliIo } from './io.ts';

/** The entry point every subcommand module exports. */
export type RunFn = (argv: string[], io: CliIo) => Promise<number>;

/** One row of the dispatch table. */
export interface Subcommand {
  name: string;
  summary: string;
  /** Module URL relative to this file; it must export `run`. */
  module: string;
  /** The area owning the module, named in the message when the module is not there yet. */
  area: string;
}

/** The dispatch table (kept in the order `vakt --help` lists it). */
export const SUBCOMMANDS: Subcommand[] = [
  {
    name: 'kpe',
    summary: 'key production: generate meter/concentrator keys, sign and encrypt a shipment',
    module: '../kpe/cli.ts',
    area: 'KPE',
  },
  {
    name: 'hes',
    summary: 'head-end system: import shipments, serve concentrators, commands, key updates, audit',
    module: '../hes/cli.ts',
    area: 'HES/KMS',
  },
  {
    name: 'concentrator',
    summary: 'run the concentrator firmware on this host: serial radio modems ↔ HES over TCP',
    module: './concentrator.ts',
    area: 'bridge',
  },
  {
    name: 'flash',
    summary: 'put a meter on a dev board (Puck.js, Pico, Moddable): firmware + provisioning image, verified',
    module: './flash.ts',
    area: 'flash',
  },
  {
    name: 'meter',
    summary: 'meter tools: `vakt meter sim` runs the meter firmware on a serial port',
    module: './meter.ts',
    area: 'bridge',
  },
  { name: 'demo', summary: 'end-to-end demo: KPE → HES → concentrator → meters over real serial PTYs', module: './demo.ts', area: 'demo' },
  { name: 'conformance', summary: 'run the conformance suite and print what passed', module: './conformance.ts', area: 'conformance' },
  {
    name: 'analyze',
    summary: 'protocol analysis of a security model: requirement table, attack models, threats, 5×5 risk',
    module: '../analyze/cli.ts',
    area: 'analyser',
  },
];

/** Top-level help text. */
export function mainHelp(): string {
  const w = Math.max(...SUBCOMMANDS.map((s) => s.name.length)) + 2;
  return [
    'vakt — smart-meter communication security: keys, head-end, concentrator, meters',
    '',
    'Usage: vakt <command> [options]      vakt <command> --help',
    '',
    'Commands:',
    ...SUBCOMMANDS.map((s) => `  ${s.name.padEnd(w)}${s.summary}`),
    '',
    'Every command accepts --help and --json (one JSON object on stdout for scripts).',
    'Errors are one line on stderr with a non-zero exit (2 = bad usage, 1 = failed).',
    'Set VAKT_DEBUG=1 to see stack traces.',
    '',
    'Start with:  vakt demo',
  ].join('\n');
}

/** True when `err` says that exactly `url` (not something it imports) could not be found. */
function isMissingModule(err: unknown, url: string): boolean {
  const e = err as { code?: string; message?: string; url?: string };
  if (e === null || typeof e !== 'object') return false;
  if (e.code !== 'ERR_MODULE_NOT_FOUND' && e.code !== 'MODULE_NOT_FOUND') return false;
  const path = decodeURIComponent(new URL(url).pathname);
  return (e.url !== undefined && e.url === url) || (e.message ?? '').includes(path);
}

/** Loads a subcommand's `run`; a module that does not exist yet becomes a plain CliError. */
export async function loadSubcommand(sc: Subcommand): Promise<RunFn> {
  // From the built CLI (host/dist, see scripts/build-cli.mjs) the same module is a .js file.
  const url = new URL(import.meta.url.endsWith('.js') ? sc.module.replace(/\.ts$/, '.js') : sc.module, import.meta.url).href;
  let mod: { run?: unknown };
  try {
    mod = (await import(url)) as { run?: unknown };
  } catch (err) {
    if (isMissingModule(err, url)) {
      throw new CliError(`'vakt ${sc.name}' is not available yet in this build (the ${sc.area} module is missing)`);
    }
    throw err;
  }
  if (typeof mod.run !== 'function') {
    throw new CliError(`'vakt ${sc.name}' is not available yet in this build (its module has no run())`);
  }
  return mod.run as RunFn;
}

/** Runs `vakt <argv>` and returns the exit code; never throws. */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const cmd = argv[0];
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    if (cmd === 'help' && argv[1] !== undefined) return main([argv[1], '--help', ...argv.slice(2)], io);
    (cmd === undefined ? io.err : io.out)(mainHelp());
    return cmd === undefined ? EXIT_USAGE : 0;
  }
  if (cmd === '--version' || cmd === '-V') {
    io.out('vakt 0.1.0');
    return 0;
  }
  const sc = SUBCOMMANDS.find((s) => s.name === cmd);
  if (sc === undefined) {
    io.err(`vakt: unknown command '${cmd}' (commands: ${SUBCOMMANDS.map((s) => s.name).join(', ')}; see 'vakt --help')`);
    return EXIT_USAGE;
  }
  try {
    const run = await loadSubcommand(sc);
    return await run(argv.slice(1), io);
  } catch (err) {
    return reportError(io, `vakt ${sc.name}`, err);
  }
}

/** Prints err as one line prefixed with the command name and returns its exit code. */
export function reportError(io: CliIo, prefix: string, err: unknown): number {
  if (err instanceof CliError) {
    io.err(`${prefix}: ${err.message}`);
    return err.exitCode;
  }
  const e = err as { code?: string; message?: string; path?: string; stack?: string };
  let msg: string;
  if (e !== null && typeof e === 'object' && e.code === 'ENOENT' && e.path !== undefined) {
    msg = `file not found: ${e.path}`;
  } else if (e !== null && typeof e === 'object' && e.code === 'EACCES' && e.path !== undefined) {
    msg = `permission denied: ${e.path}`;
  } else {
    msg = e !== null && typeof e === 'object' && typeof e.message === 'string' ? e.message.split('\n')[0]! : String(err);
  }
  io.err(`${prefix}: ${msg}`);
  if (io.env.VAKT_DEBUG === '1' && e !== null && typeof e === 'object' && e.stack !== undefined) io.err(e.stack);
  return EXIT_FAILURE;
}
