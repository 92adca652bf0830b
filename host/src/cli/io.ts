/**
 * What a subcommand may touch of the outside world. Every `run(argv, io)` receives one, so the
 * dispatcher owns process.stdout/stderr/exit and tests can capture output without spawning.
 */
export interface CliIo {
  /** Writes one line (a newline is appended) to standard output. */
  out(line: string): void;
  /** Writes one line (a newline is appended) to standard error. */
  err(line: string): void;
  /** True when stdout is an interactive terminal (progress bars and colours only then). */
  readonly isTTY: boolean;
  /** Working directory that relative paths in arguments are resolved against. */
  readonly cwd: string;
  /** Environment variables (read-only view). */
  readonly env: { readonly [name: string]: string | undefined };
  /** Raw stream for progress bars; undefined when output is captured. */
  readonly progressStream?: NodeJS.WritableStream;
  /** Aborted on SIGINT/SIGTERM so long-running subcommands (servers, bridges) can shut down cleanly. */
  readonly signal: AbortSignal;
  /** Asks one question on the terminal (hidden: no echo, for passwords); absent when stdin is not a terminal. */
  readonly prompt?: (question: string, hidden: boolean) => Promise<string>;
  /** Reads standard input to its end (`--password-stdin`). */
  readonly readStdin?: () => Promise<string>;
}

/**
 * An error meant for the user: the dispatcher prints `vakt <cmd>: <message>` on one line and exits
 * with `exitCode` (2 for bad usage, 1 otherwise). Throw it from any subcommand.
 */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** Exit code for bad command-line usage (unknown option, missing argument), as in BSD sysexits' spirit. */
export const EXIT_USAGE = 2;
/** Exit code for a failed operation (missing file, wrong key, refused frame, failed tests). */
export const EXIT_FAILURE = 1;

/** A usage error (exit code 2). */
export function usageError(message: string): CliError {
  return new CliError(message, EXIT_USAGE);
}

/** The real process I/O; `signal` aborts on the first SIGINT/SIGTERM. */
export function processIo(): CliIo {
  const ac = new AbortController();
  const onSig = (): void => ac.abort();
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  return {
    out: (line) => process.stdout.write(line + '\n'),
    err: (line) => process.stderr.write(line + '\n'),
    isTTY: process.stdout.isTTY === true,
    cwd: process.cwd(),
    env: process.env,
    progressStream: process.stderr.isTTY === true ? process.stderr : undefined,
    signal: ac.signal,
    ...(process.stdin.isTTY === true ? { prompt: ttyPrompt } : {}),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

/** One line from the terminal on stderr; hidden input is not echoed (readline's output is muted after the question). */
async function ttyPrompt(question: string, hidden: boolean): Promise<string> {
  const { createInterface } = await import('node:readline');
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  let asked = false;
  const out = rl as unknown as { _writeToOutput: (s: string) => void };
  const write = out._writeToOutput.bind(rl);
  out._writeToOutput = (s: string) => {
    if (!hidden || !asked) write(s);
  };
  try {
    return await new Promise<string>((res) => {
      rl.question(question, (a) => res(a));
      asked = true;
    });
  } finally {
    if (hidden) process.stderr.write('\n');
    rl.close();
  }
}

/** Captured I/O for tests: lines written are collected in `stdout` / `stderr`. */
export interface CapturedIo extends CliIo {
  readonly stdout: string[];
  readonly stderr: string[];
  /** Aborts `signal`, as a Ctrl-C would. */
  abort(): void;
}

/** Returns an io that records every line instead of printing it. */
export function captureIo(
  opts: { cwd?: string; env?: { [name: string]: string | undefined }; prompt?: CliIo['prompt']; stdin?: string } = {},
): CapturedIo {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const ac = new AbortController();
  return {
    stdout,
    stderr,
    out: (line) => void stdout.push(line),
    err: (line) => void stderr.push(line),
    isTTY: false,
    cwd: opts.cwd ?? process.cwd(),
    env: opts.env ?? process.env,
    signal: ac.signal,
    ...(opts.prompt !== undefined ? { prompt: opts.prompt } : {}),
    ...(opts.stdin !== undefined ? { readStdin: async () => opts.stdin! } : {}),
    abort: () => ac.abort(),
  };
}
