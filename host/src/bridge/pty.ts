/**
 * PTY pairs from socat (Debian package `socat`): two pseudo-terminals joined back to back, which
 * `serialport` opens exactly like two radio modems on one radio channel. Used by the demo and the
 * end-to-end tests; the caller falls back to in-process links when socat is missing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** A running socat PTY pair; `a` and `b` are device paths such as /dev/pts/7. */
export interface PtyPair {
  readonly a: string;
  readonly b: string;
  readonly pid: number;
  /** Stops this pair's socat (by its pid only) and waits for it to exit. */
  close(): Promise<void>;
}

/** Time allowed for socat to create both PTYs. */
const PTY_START_TIMEOUT_MS = 5000;

let socatCache: string | null | undefined;

/** Returns the socat executable path found on PATH, or null when socat is not installed (looked up once). */
export function findSocat(): string | null {
  if (socatCache !== undefined) return socatCache;
  socatCache = null;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'socat');
    try {
      accessSync(candidate, constants.X_OK);
      socatCache = candidate;
      break;
    } catch {
      // not in this directory
    }
  }
  return socatCache;
}

/**
 * Starts `socat pty,raw,echo=0 pty,raw,echo=0` and resolves once both PTY paths are known.
 * Rejects with a plain message if socat is missing or does not start in time.
 */
export function openPtyPair(): Promise<PtyPair> {
  const socat = findSocat();
  if (socat === null) return Promise.reject(new Error('socat is not installed (apt-get install socat)'));
  return new Promise((resolve, reject) => {
    // -d -d makes socat print "PTY is /dev/pts/N" for each side; raw,echo=0 passes bytes unchanged.
    const child: ChildProcess = spawn(socat, ['-d', '-d', 'pty,raw,echo=0', 'pty,raw,echo=0'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const paths: string[] = [];
    let log = '';
    let settled = false;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const timer = setTimeout(() => fail(new Error('socat did not create its PTYs in time')), PTY_START_TIMEOUT_MS);
    function fail(err: Error): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGTERM');
      reject(err);
    }
    child.on('error', (e) => fail(new Error(`cannot start socat: ${e.message}`)));
    child.once('exit', (code) =>
      fail(new Error(`socat exited (${String(code)}) before its PTYs were ready: ${log.trim().split('\n').pop() ?? ''}`)),
    );
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      if (settled) return; // keep draining so socat never blocks on a full stderr pipe
      log += chunk;
      const re = /PTY is (\S+)/g;
      let m: RegExpExecArray | null;
      paths.length = 0;
      while ((m = re.exec(log)) !== null) paths.push(m[1]!);
      if (paths.length >= 2 && /starting data transfer loop/.test(log)) {
        settled = true;
        clearTimeout(timer);
        log = '';
        resolve({
          a: paths[0]!,
          b: paths[1]!,
          pid: child.pid!,
          close: async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
            await exited;
          },
        });
      }
    });
  });
}
