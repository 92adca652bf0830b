// Node twin of run-xs.mjs: evaluates the same files in order in one fresh `node:vm` context that
// offers only what XS's xsnap worker offers (print, no console, no timers), so a bundle that runs
// here and under run-xs.mjs ran the same code on both engines.
//
// usage: node test/xs/run-node.mjs <file.js | --eval code>...
// After each step one line `@@node-meter {"step":i,"heapUsed":..}` is written to stdout.
import fs from 'node:fs';
import vm from 'node:vm';

const USAGE = 'usage: node test/xs/run-node.mjs <file.js | --eval code>...';
const steps = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--eval') {
    if (i + 1 >= argv.length) {
      process.stderr.write(USAGE + '\n');
      process.exit(2);
    }
    steps.push({ name: '--eval', code: argv[++i] });
  } else steps.push({ name: argv[i], code: fs.readFileSync(argv[i], 'utf8') });
}
if (steps.length === 0) {
  process.stderr.write(USAGE + '\n');
  process.exit(2);
}

const out = [];
const flush = () => {
  if (out.length) {
    process.stdout.write(out.join(''));
    out.length = 0;
  }
};
const context = vm.createContext({
  print: (...a) => {
    out.push(a.join(' ') + '\n');
    if (out.length > 256) flush();
  },
  performance: { now: () => performance.now() },
  // Present only when node runs with --expose-gc (engine-run.ts passes it), like XS's gc().
  ...(typeof globalThis.gc === 'function' ? { gc: globalThis.gc } : {}),
});
let code = 0;
for (let i = 0; i < steps.length; i++) {
  try {
    vm.runInContext(steps[i].code, context, { filename: steps[i].name });
  } catch (e) {
    flush();
    process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
    code = 1;
    break;
  }
  flush();
  if (typeof globalThis.gc === 'function') globalThis.gc();
  process.stdout.write('@@node-meter ' + JSON.stringify({ step: i, heapUsed: process.memoryUsage().heapUsed }) + '\n');
}
process.exit(code);
