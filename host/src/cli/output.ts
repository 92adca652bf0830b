/**
 * Output helpers shared by subcommands: aligned plain-text tables, a JSON line for scripts, and
 * progress bars that appear only on an interactive terminal (never in --json mode or in tests).
 */
import { printable } from './text.ts';
import cliProgress from 'cli-progress';
import type { CliIo } from './io.ts';

/** Renders rows as an aligned text table with a header rule; numbers are right-aligned. */
export function table(header: string[], rows: (string | number)[][]): string[] {
  const cells = rows.map((r) => r.map((c) => String(c)));
  const width = header.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const fmt = (r: string[]): string =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(width[i]!) : c.padEnd(width[i]!)))
      .join('  ')
      .trimEnd();
  return [fmt(header), width.map((w) => '-'.repeat(w)).join('  '), ...cells.map(fmt)];
}

/** Prints a table line by line to stdout. */
export function printTable(io: CliIo, header: string[], rows: (string | number)[][]): void {
  // Cells may come from the store or a peer (names, audit details): control characters are escaped.
  for (const l of table(
    header,
    rows.map((r) => r.map((c) => (typeof c === 'string' ? printable(c) : c))),
  ))
    io.out(l);
}

/** Prints one JSON object on one line (the --json contract: the last stdout line is the result). */
export function printJson(io: CliIo, value: unknown): void {
  io.out(JSON.stringify(value));
}

/** A progress indicator; a no-op unless stderr is a terminal and --json is off. */
export interface Progress {
  update(done: number, label?: string): void;
  stop(): void;
}

/** Starts a progress bar of `total` steps (cli-progress), or a silent stand-in when not interactive. */
export function progress(io: CliIo, json: boolean, title: string, total: number): Progress {
  if (json || io.progressStream === undefined) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    {
      format: `${title} [{bar}] {value}/{total} {label}`,
      stream: io.progressStream,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { label: '' });
  return {
    update: (done, label) => bar.update(done, { label: label ?? '' }),
    stop: () => bar.stop(),
  };
}
