// `vakt demo --radio`: the network over emulated modems reports per meter what went on the air.
import { describe, expect, it } from 'vitest';
import { runRadioDemo } from '../../host/src/modem/radio-demo.ts';
import { run } from '../../host/src/cli/demo.ts';

describe('vakt demo --radio', () => {
  it('e32 with 10 % loss: every step ok, per-meter frames, retries, bytes and airtime within budget', async () => {
    const s = await runRadioDemo({ radio: 'e32', meters: 3, intervals: 4, loss: 0.1, ber: 1e-4, seed: 3, log: () => undefined });
    expect(s.steps.map((x) => [x.step, x.ok])).toEqual([
      ['Modems configured and read back', true],
      ['Disconnect over the radio', true],
      ['Readings delivered', true],
      ['Duty cycle kept', true],
    ]);
    expect(s.meters).toHaveLength(3);
    for (const m of s.meters) {
      expect(m.framesSent).toBeGreaterThan(0);
      expect(m.onAirBytes).toBeGreaterThan(0);
      expect(m.worstHourS).toBeLessThanOrEqual(m.budgetS);
      expect(m.budgetS).toBe(36);
      expect(m.readingsDelivered).toBeGreaterThanOrEqual(m.readingsClosed - 1);
    }
    expect(s.channel.lost).toBeGreaterThan(0);
  });

  it('refuses an unknown radio and an out-of-range loss as usage errors', async () => {
    const io = { out: () => undefined, err: () => undefined, cwd: process.cwd() } as unknown as Parameters<typeof run>[1];
    await expect(run(['--radio', 'lora'], io)).rejects.toThrow(
      "--radio must be one of transparent, hc12, e32, e22, xbee, packet, got 'lora'",
    );
    await expect(run(['--radio', 'e32', '--loss', '2'], io)).rejects.toThrow("--loss must be a number from 0 to 0.9, got '2'");
  });
});
