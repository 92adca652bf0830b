#!/usr/bin/env node
// Builds the `vakt` CLI into host/dist/ (gitignored): one ES module per subcommand entry, the code
// they share in host/dist/_chunks/, npm packages left external (resolved from node_modules at run
// time), the @vakt/* workspace sources bundled. Run by `npm ci` / `npm install` (the root `prepare`
// script), so `vakt --help` starts plain JavaScript instead of compiling TypeScript through tsx.
// Output files sit two levels below host/ (host/dist/<dir>/<file>.js), as the sources do
// (host/src/<dir>/<file>.ts), so paths the code takes relative to its own file (host/web,
// host/models, the repository root) are the same in both.
// host/dist/build.json lists every input with the build time: host/bin/vakt.js falls back to the
// sources (tsx) when any of them is newer, so an edited checkout never runs stale code.
// Written in plain JavaScript: it runs before anything else is set up.
import { build } from 'esbuild';
import { readdirSync, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'host', 'src');
const OUT = join(ROOT, 'host', 'dist');

/** Every subcommand module: host/src/cli/*.ts and host/src/<area>/cli.ts. */
function entries() {
  const cli = readdirSync(join(SRC, 'cli'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(SRC, 'cli', f));
  const areas = readdirSync(SRC, { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name !== 'cli')
    .map((d) => join(SRC, d.name, 'cli.ts'))
    .filter(existsSync);
  return [...cli, ...areas];
}

/** npm packages stay external; the workspace packages (@vakt/*, TypeScript sources) are bundled. */
const externalPackages = {
  name: 'external-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => (args.path.startsWith('@vakt/') ? undefined : { path: args.path, external: true }));
  },
};

// Built beside host/dist and swapped in, so a `vakt` started meanwhile sees the old build, no build
// (and runs the sources), or the new one; never half of one.
const TMP = `${OUT}.tmp-${process.pid}`;
const started = Date.now();
rmSync(TMP, { recursive: true, force: true });
const result = await build({
  entryPoints: entries(),
  outbase: SRC,
  outdir: TMP,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: '_chunks/[name]-[hash]',
  sourcemap: 'linked',
  metafile: true,
  logLevel: 'warning',
  plugins: [externalPackages],
});
const inputs = Object.keys(result.metafile.inputs).map((p) => relative(ROOT, join(ROOT, p)));
writeFileSync(join(TMP, 'build.json'), JSON.stringify({ builtMs: started, inputs }) + '\n');
const OLD = `${OUT}.old-${process.pid}`;
if (existsSync(OUT)) renameSync(OUT, OLD);
renameSync(TMP, OUT);
rmSync(OLD, { recursive: true, force: true });
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(
  `vakt CLI built into host/dist: ${Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.js')).length} files, ${(bytes / 1024).toFixed(0)} KiB, from ${inputs.length} sources`,
);
