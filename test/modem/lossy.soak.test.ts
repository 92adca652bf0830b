// Opt-in (npm run test:soak): the full scale — 50 meters behind one concentrator on an
// E32-like channel (2.4 kbit/s, 1 % meters, 10 % concentrator) for a simulated day at 10 % loss and
// 1e-4 BER, and 12 meters at 30 % loss, each with a key update and a 2 KiB firmware download.
// About 15 s and 3 s of simulated-time work (~20–45 s on a loaded shared 2-core machine).
import { describe, expect, it } from 'vitest';
import { runScenario } from './lossy-scenario.ts';

describe('lossy E32 channel at scale', () => {
  it('10 % loss, 1e-4 BER, 50 meters, a day', async () => {
    const r = await runScenario({ meters: 50, hours: 24, loss: 0.1, ber: 1e-4, seed: 21 });
    expect(r.readings).toBeGreaterThanOrEqual(50 * 90);
    console.log('10 % loss, 50 meters, 24 h:', JSON.stringify(r));
  });

  it('30 % loss, 1e-4 BER, 12 meters, a day (2 KiB image)', async () => {
    const r = await runScenario({ meters: 12, hours: 24, loss: 0.3, ber: 1e-4, seed: 22 });
    expect(r.readings).toBeGreaterThanOrEqual(12 * 90);
    console.log('30 % loss, 12 meters, 24 h:', JSON.stringify(r));
  });
});
