// `vakt demo --console`: after the demo's steps, the network keeps running (simulated time moves
// on, meters keep pushing readings, the wrong-key meter keeps failing) while the HES web console
// is served on 127.0.0.1 with a one-time admin token.
import { setTimeout as delay } from 'node:timers/promises';
import type { Hes } from '../hes/hes.ts';
import { Users } from '../hes/users.ts';
import { startHttp } from '../http/server.ts';
import type { DemoSummary } from './demo.ts';

export interface ConsoleOptions {
  /** HTTP port on 127.0.0.1 (0: any free port). */
  port: number;
  /** Stops the live network (Ctrl-C). */
  signal: AbortSignal;
  /** Called once the console is up, with the demo's summary, the URL and the admin token. */
  ready(summary: DemoSummary, url: string, token: string): void;
}

/** Real milliseconds between simulation steps (15 simulated seconds each: an interval every ~15 s). */
const LIVE_STEP_MS = 250;
/** The one-time admin login token is valid this long (it is used up by the first login). */
const CONSOLE_TOKEN_MS = 12 * 3600_000;

/** Serves the console and runs `tick` until the signal aborts. */
export async function serveLive(hes: Hes, summary: DemoSummary, o: ConsoleOptions, tick: () => Promise<void>): Promise<void> {
  const web = await startHttp(hes, { host: '127.0.0.1', port: o.port });
  try {
    const t = await new Users(hes).createToken('init', 'admin', { ttlMs: CONSOLE_TOKEN_MS, label: 'demo console', oneTime: true });
    o.ready(summary, web.url, t.token);
    while (!o.signal.aborted) {
      await tick();
      // Resolves early on Ctrl-C (AbortError) and removes its listener either way.
      await delay(LIVE_STEP_MS, undefined, { signal: o.signal }).catch(() => undefined);
    }
  } finally {
    await web.close();
  }
}
