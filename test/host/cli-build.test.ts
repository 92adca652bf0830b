// The compiled CLI (scripts/build-cli.mjs → host/dist, run by `npm ci`'s prepare step): host/bin/vakt.js
// runs it when it is current, and it answers exactly as the TypeScript sources do.
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(ROOT, 'host/bin/vakt.js');

function vakt(args: string[], env: Record<string, string>): { out: string; err: string; code: number | null } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, VAKT_DEBUG: '1', ...env } });
  return { out: r.stdout, err: r.stderr, code: r.status };
}

describe('compiled CLI', () => {
  it('is built by scripts/build-cli.mjs, used by host/bin/vakt.js, and answers as the sources do', () => {
    execFileSync(process.execPath, [join(ROOT, 'scripts/build-cli.mjs')], { cwd: ROOT, encoding: 'utf8' });
    for (const args of [['--help'], ['hes', '--help'], ['hes', 'user', '--help'], ['analyze', '--help'], ['nope']]) {
      const built = vakt(args, {});
      const source = vakt(args, { VAKT_FROM_SOURCE: '1' });
      expect(built.err).not.toContain('running the TypeScript sources');
      expect(source.err).toContain('running the TypeScript sources (VAKT_FROM_SOURCE=1)');
      expect([built.out, built.code]).toEqual([source.out, source.code]);
      expect(built.err).toBe(source.err.replace(/^vakt: running the TypeScript sources.*\n/, ''));
    }
  }, 60_000);
});
