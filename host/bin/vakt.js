#!/usr/bin/env node
// The `vakt` command. It runs the compiled CLI in host/dist (built by `npm ci` / `npm install`
// through the root `prepare` script, scripts/build-cli.mjs): plain JavaScript starts in a fraction
// of the time TypeScript compiled on the fly takes. When host/dist is missing, or any source it
// was built from is newer (an edited checkout), or VAKT_FROM_SOURCE=1, the TypeScript sources run
// through tsx instead, so the command never runs stale code. Exit code = the subcommand's result.
import { readFileSync, statSync } from 'node:fs';

const ROOT = new URL('../../', import.meta.url);
const DIST_MAIN = new URL('host/dist/cli/main.js', ROOT);

/** Why the build cannot be used, or null when it is current. */
function staleReason() {
  if (process.env.VAKT_FROM_SOURCE === '1') return 'VAKT_FROM_SOURCE=1';
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(new URL('host/dist/build.json', ROOT), 'utf8'));
  } catch {
    return 'no build in host/dist (run: node scripts/build-cli.mjs)';
  }
  for (const f of stamp.inputs) {
    let m;
    try {
      m = statSync(new URL(f, ROOT)).mtimeMs;
    } catch {
      return `${f} is gone`;
    }
    if (m > stamp.builtMs) return `${f} changed after the build`;
  }
  return null;
}

const why = staleReason();
let main;
if (why === null) {
  ({ main } = await import(DIST_MAIN.href));
} else {
  if (process.env.VAKT_DEBUG === '1') process.stderr.write(`vakt: running the TypeScript sources (${why})\n`);
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
