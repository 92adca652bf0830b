// Lossy radio at npm-test scale: the real firmware and HES over emulated E32 modems (2.4 kbit/s,
// meters at 1 % duty cycle, the concentrator at 10 %). Bigger runs: lossy.soak.test.ts.
import { describe, expect, it } from 'vitest';
import { runScenario } from './lossy-scenario.ts';

describe('lossy E32 channel', () => {
  it('10 % loss, 1e-4 BER, 8 meters, a day: every reading exactly once, budgets kept, commands settled, key update and firmware download done', async () => {
    const r = await runScenario({ meters: 8, hours: 24, loss: 0.1, ber: 1e-4, seed: 11 });
    expect(r.readings).toBeGreaterThanOrEqual(8 * 90);
    console.log('10 % loss, 8 meters, 24 h:', JSON.stringify(r));
  });

  it('30 % loss, 1e-4 BER, 4 meters, 8 hours: the same guarantees (2 KiB image)', async () => {
    const r = await runScenario({ meters: 4, hours: 8, loss: 0.3, ber: 1e-4, seed: 12 });
    expect(r.readings).toBeGreaterThanOrEqual(4 * 28);
    console.log('30 % loss, 4 meters, 8 h:', JSON.stringify(r));
  });
});

describe('duty cycle as the HES sees it', () => {
  it("a command the concentrator's 0.1 % budget cannot carry before its expiry is reported expired, and nothing exceeds the budget", async () => {
    const { NetSim } = await import('../../host/src/modem/netsim.ts');
    const { findBand, DUTY_WINDOW_MS } = await import('../../host/src/modem/airtime.ts');
    const sim = new NetSim({ meters: 3, radio: 'e32', channel: { seed: 5 }, concentratorBand: findBand('eu868-g2') });
    await sim.start();
    try {
      await sim.run(3600_000);
      const m = sim.meters[0]!.sim.id;
      const image = Uint8Array.from({ length: 4096 }, (_, i) => i & 0xff);
      const sha = await sim.hes.addFirmware('admin', image, 7);
      const fw = await sim.hes.enqueueCommand(
        'admin',
        m,
        { kind: 'firmware', sha256: sha, size: image.length, version: 7 },
        { nowMs: sim.nowMs(), expiryMs: 1800_000 },
      );
      await sim.run(2 * 3600_000);
      const row = (await sim.hes.listCommands({ meter: m })).find((c) => c.id === fw)!;
      expect(row.state).toBe('expired');
      expect(sim.concModem.driver.stats.delayedBudget + sim.concModem.driver.stats.refusedBudget).toBeGreaterThan(0);
      expect(sim.channel.maxWindowAirtime(sim.concModem.module, DUTY_WINDOW_MS)).toBeLessThanOrEqual(
        findBand('eu868-g2').dutyCycle * DUTY_WINDOW_MS,
      );
    } finally {
      await sim.close();
    }
  });
});
