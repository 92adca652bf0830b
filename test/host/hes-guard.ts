// A HES in a child process with a time bound on every request (see hes-guard-child.ts).
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { toHex } from '../../host/src/crypto/bytes.ts';
import type { IngestResult } from '../../host/src/hes/hes.ts';
import type { Fixture } from './hes-fixture.ts';

const CHILD = join(import.meta.dirname, 'hes-guard-child.ts');
/** Default bound of one request: generous for a loaded 2-core machine, far below "never returns". */
export const GUARD_MS = 10_000;

export class TimeoutError extends Error {}

/** The fixture's HES, closed in this process and reopened in a guarded child. */
export class GuardedHes {
  private readonly p: ChildProcess;
  private next = 1;
  private readonly waiting = new Map<number, (v: any) => void>();
  readonly ready: Promise<void>;
  exited = false;

  constructor(f: Fixture) {
    // Closes within a few microtasks, long before the child has started and opens the file.
    void f.hes.close();
    this.p = fork(CHILD, [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, VAKT_GUARD_DB: f.dbPath, VAKT_GUARD_KEY: toHex(f.storeKey) },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    this.ready = new Promise((res) => this.waiting.set(0, () => res()));
    this.p.on('message', (m: any) => {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      w?.(m);
    });
    this.p.on('exit', () => {
      this.exited = true;
      for (const w of this.waiting.values()) w(null);
      this.waiting.clear();
    });
  }

  /** One request; rejects with TimeoutError (and kills the child) when it takes longer than ms. */
  call(req: Record<string, unknown>, ms = GUARD_MS): Promise<any> {
    if (this.exited) return Promise.reject(new Error('HES child has exited'));
    const id = this.next++;
    return new Promise((res, rej) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        this.p.kill('SIGKILL');
        rej(new TimeoutError(`HES did not answer ${String(req.op)} within ${ms} ms`));
      }, ms);
      this.waiting.set(id, (m) => {
        clearTimeout(timer);
        if (m === null) rej(new Error('HES child died'));
        else if (!m.ok) rej(new Error(m.error));
        else res(m);
      });
      this.p.send({ ...req, id });
    });
  }

  async ingest(frames: Uint8Array[], now = Date.now(), ms = GUARD_MS): Promise<IngestResult[]> {
    return (await this.call({ op: 'ingest', frames: frames.map((f) => Buffer.from(f).toString('base64')), now }, ms)).res;
  }

  async counts(...tables: string[]): Promise<Record<string, number>> {
    return (await this.call({ op: 'count', tables })).counts;
  }

  close(): Promise<void> {
    return new Promise((res) => {
      if (this.exited) return res();
      this.p.once('exit', () => res());
      this.p.kill('SIGKILL');
    });
  }
}
