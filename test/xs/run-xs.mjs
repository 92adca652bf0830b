// Runs JavaScript on a real Moddable XS engine (the xsnap worker of @agoric/xsnap) and reports
// the engine's meter after every step. Spawned as a child process by tests and benchmarks because
// '@endo/init' must be the first import and locks down (freezes) this whole process.
//
// usage: node test/xs/run-xs.mjs <file.js | --eval code>...
// Each argument is evaluated in order in one XS worker. XS's print() goes to this process's stdout.
// After each step one line `@@xs-meter {"step":i,"compute":..,"allocate":..,"currentHeapCount":..}`
// is written to stdout. Exit code 0 if every step ran, 1 (message on stderr) on an uncaught
// exception inside XS, 2 on a usage error.
import '@endo/init';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { xsnap } from '@agoric/xsnap';

const USAGE = 'usage: node test/xs/run-xs.mjs <file.js | --eval code>...';

const steps = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--eval') {
    if (i + 1 >= argv.length) {
      process.stderr.write(USAGE + '\n');
      process.exit(2);
    }
    steps.push({ name: '--eval', code: argv[++i] });
  } else {
    steps.push({ name: argv[i], code: fs.readFileSync(argv[i], 'utf8') });
  }
}
if (steps.length === 0) {
  process.stderr.write(USAGE + '\n');
  process.exit(2);
}

const worker = await xsnap({
  os: os.type(),
  spawn,
  fs,
  name: 'vakt-xs',
  stdout: 'inherit',
  stderr: 'inherit',
  // No computron ceiling: benchmarks run 10,000 frames in one step.
  meteringLimit: 0,
});
let code = 0;
try {
  for (let i = 0; i < steps.length; i++) {
    const { meterUsage } = await worker.evaluate(steps[i].code);
    const m = { step: i, compute: meterUsage.compute, allocate: meterUsage.allocate, currentHeapCount: meterUsage.currentHeapCount };
    process.stdout.write('@@xs-meter ' + JSON.stringify(m) + '\n');
  }
} catch (e) {
  process.stderr.write(String(e && e.message ? e.message : e) + '\n');
  code = 1;
} finally {
  await worker.close().catch(() => {});
}
process.exit(code);
