// The web console's files: host/web/* and uPlot from node_modules (the machine may have no
// internet: nothing from a CDN). A fixed list of paths, read once; nothing else is served.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

/** host/web, from the sources (host/src/http) or from the bundled CLI (host/dist). */
export function webDir(): string {
  for (const rel of ['../../web/', '../web/']) {
    const d = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(d + 'index.html')) return d;
  }
  throw new Error('the web console files (host/web) are missing');
}

const TYPES: { [ext: string]: string } = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

export function registerStatic(app: FastifyInstance): void {
  const web = webDir();
  const req = createRequire(import.meta.url);
  const files: { [url: string]: string } = {
    '/': web + 'index.html',
    '/app.js': web + 'app.js',
    '/views.js': web + 'views.js',
    '/app.css': web + 'app.css',
    '/vendor/uPlot.iife.min.js': req.resolve('uplot/dist/uPlot.iife.min.js'),
    '/vendor/uPlot.min.css': req.resolve('uplot/dist/uPlot.min.css'),
  };
  for (const [url, file] of Object.entries(files)) {
    const body = readFileSync(file);
    const type = TYPES[url === '/' ? 'html' : url.slice(url.lastIndexOf('.') + 1)]!;
    app.get(url, async (_req, reply) => reply.type(type).header('cache-control', 'no-cache').send(body));
  }
  // Browsers ask for it on their own; no icon, and no 404 in the console.
  app.get('/favicon.ico', async (_req, reply) => reply.code(204).send());
}
