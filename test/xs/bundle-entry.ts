// One way to bundle a test entry for the engine runs (Espruino rule check, XS, Node vm): an IIFE
// at es2015 with ASCII output, as the firmware bundles are built, so every engine test exercises
// the same kind of file that a board runs.
import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Bundles `contents` (TypeScript, imports relative to the repository root) into one IIFE string. */
export async function bundleEntry(contents: string, sourcefile: string, minify: boolean): Promise<string> {
  const r = await build({
    stdin: { contents, resolveDir: root, sourcefile, loader: 'ts' },
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'neutral',
    target: 'es2015',
    minify,
    legalComments: 'none',
    charset: 'ascii',
    logLevel: 'silent',
  });
  return r.outputFiles[0].text;
}
