// The meter bundle (dist/firmware/meter.js, built here by the real build) runs the same scenario on
// Node and on a real Moddable XS engine (@agoric/xsnap's xsnap-worker, spawned through
// test/xs/run-xs.mjs): provision, push a reading, accept an authenticated command, refuse its replay,
// refuse forged commands, survive a simulated reboot without counter reuse.
// Every frame the meter transmits is verified here by the independent node:crypto reference
// (test/conformance/reference.ts), and the two engines must transmit byte-identical transcripts.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildFirmware } from '../../scripts/build-firmware.ts';
import { scenario, checkScenario } from '../xs/meter-scenario.ts';
import { runEngine, parseSteps, xsAvailable } from '../xs/engine-run.ts';
import type { StepResult } from '../xs/engine-run.ts';

let dir: string;
let meterBundle: string;
const harness = path.join(__dirname, '..', 'xs', 'meter-harness.js');

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vakt-xs-'));
  const report = await buildFirmware({ outDir: dir, only: ['meter'] });
  expect(report.missing).toEqual([]);
  expect(report.bundles.flatMap((b) => b.violations)).toEqual([]);
  meterBundle = path.join(dir, 'meter.js');
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('meter bundle: same scenario on Node and on Moddable XS', () => {
  let nodeSteps: StepResult[] = [];

  it('runs on Node (vm context with only print)', async () => {
    const scn = JSON.stringify(scenario());
    const r = await runEngine('node', [meterBundle, harness, '--eval', `VaktHarness.run(${scn});`]);
    expect(r.code, r.stderr).toBe(0);
    nodeSteps = parseSteps(r.stdout);
    checkScenario(nodeSteps);
  });

  it('runs on XS (xsnap-worker) with a byte-identical transcript', async () => {
    expect(xsAvailable(), 'the xsnap worker must be built by npm ci (see .ci/run)').toBe(true);
    const scn = JSON.stringify(scenario());
    const r = await runEngine('xs', [meterBundle, harness, '--eval', `VaktHarness.run(${scn});`]);
    expect(r.code, r.stderr).toBe(0);
    const xsSteps = parseSteps(r.stdout);
    checkScenario(xsSteps);
    expect(xsSteps).toEqual(nodeSteps.length ? nodeSteps : xsSteps);
    expect(nodeSteps.length).toBeGreaterThan(0);
    // The XS run reported its engine meter after each evaluated piece.
    expect(r.meters.length).toBe(3);
    expect(r.meters[2].currentHeapCount).toBeGreaterThan(0);
  });

  it('XS runner reports an exception inside XS as a failure, not a pass', async () => {
    const r = await runEngine('xs', ['--eval', 'throw new Error("boom from XS")']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/boom from XS/);
  });
});
