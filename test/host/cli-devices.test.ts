// `vakt meter sim` and `vakt concentrator` refuse bad input plainly: wrong image kind, garbage
// image, missing file, missing options, a device that cannot be opened, a state directory that
// belongs to another device; and a running meter survives serial garbage on a real PTY.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSystemClock } from '@vakt/boards/sim/index';
import { deviceStorage, runMeter } from '../../host/src/bridge/devices.ts';
import { ModemPort } from '../../host/src/bridge/modem.ts';
import { openPtyPair } from '../../host/src/bridge/pty.ts';
import { captureIo } from '../../host/src/cli/io.ts';
import { main } from '../../host/src/cli/main.ts';
import { Hes } from '../../host/src/hes/hes.ts';
import { initKpe, produceBatch } from '../../host/src/kpe/kpe.ts';

let dir = '';
let meterImg = '';
let meter2Img = '';
let concImg = '';
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vakt-cli-dev-'));
  const kpe = initKpe(join(dir, 'kpe'));
  const { hes, cert } = await Hes.init({ dbPath: ':memory:', storeKey: randomBytes(32), kpePublicKeys: [kpe.pub] });
  await hes.close();
  const b = produceBatch(kpe, { meters: 2, concentrators: 1, hesCert: cert, outDir: join(dir, 'out') });
  const meters = b.images.filter((i) => i.kind === 'meter');
  meterImg = meters[0]!.file;
  meter2Img = meters[1]!.file;
  concImg = b.images.find((i) => i.kind === 'concentrator')!.file;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function vakt(args: string[]): Promise<{ code: number; err: string[] }> {
  const io = captureIo({ cwd: dir });
  const code = await main(args, io);
  return { code, err: io.stderr };
}

describe('device commands refuse bad input in one line', () => {
  it('a concentrator image given to meter sim, and the reverse', async () => {
    let r = await vakt(['meter', 'sim', '--port', '/dev/null', '--image', concImg]);
    expect(r.code).toBe(1);
    expect(r.err).toEqual([`vakt meter: ${concImg} is a concentrator image, not a meter provisioning image`]);
    r = await vakt(['concentrator', '--hes', '7700', '--modem', '/dev/null', '--image', meterImg]);
    expect(r.code).toBe(1);
    expect(r.err).toEqual([`vakt concentrator: ${meterImg} is a meter image, not a concentrator provisioning image`]);
  });

  it('garbage instead of an image, and a missing file', async () => {
    const junk = join(dir, 'junk.cbor');
    writeFileSync(junk, randomBytes(64));
    let r = await vakt(['meter', 'sim', '--port', '/dev/null', '--image', junk]);
    expect(r.err[0]).toMatch(/junk\.cbor is not a provisioning image/);
    r = await vakt(['meter', 'sim', '--port', '/dev/null', '--image', 'nope.cbor']);
    expect(r).toEqual({ code: 1, err: ['vakt meter: provisioning image not found: nope.cbor'] });
  });

  it('missing options are usage errors (exit 2)', async () => {
    expect(await vakt(['meter', 'sim', '--image', meterImg])).toEqual({ code: 2, err: ['vakt meter: missing required option --port'] });
    expect(await vakt(['concentrator', '--hes', '7700', '--image', concImg])).toEqual({
      code: 2,
      err: ['vakt concentrator: at least one --modem <device> is required'],
    });
    expect((await vakt(['concentrator', '--hes', 'x:0', '--modem', 'm', '--image', concImg])).err[0]).toMatch(/--hes must be host:port/);
    expect((await vakt(['meter', 'frob'])).code).toBe(2);
  });

  it('a serial device that cannot be opened', async () => {
    const r = await vakt(['meter', 'sim', '--port', '/dev/pts/99999', '--image', meterImg, '--state', join(dir, 'm1')]);
    expect(r.code).toBe(1);
    expect(r.err[0]).toMatch(/^vakt meter: cannot open serial port \/dev\/pts\/99999: /);
  });

  it('a state directory provisioned for another meter is refused', async () => {
    const st = join(dir, 'shared-state');
    const pair = await openPtyPair();
    try {
      const io = captureIo({ cwd: dir });
      const first = main(['meter', 'sim', '--port', pair.a, '--image', meterImg, '--state', st, '--duration', '1'], io);
      expect(await first).toBe(0);
      const r = await vakt(['meter', 'sim', '--port', pair.a, '--image', meter2Img, '--state', st]);
      expect(r.code).toBe(1);
      expect(r.err[0]).toMatch(/belongs to another device/);
    } finally {
      await pair.close();
    }
  });
});

describe('a running meter and serial garbage', () => {
  it('keeps running and counts nothing as authentic', async () => {
    const pair = await openPtyPair();
    const line = new ModemPort({ path: pair.a });
    const peer = new ModemPort({ path: pair.b });
    await line.open();
    await peer.open();
    const clock = createSystemClock();
    try {
      const { readFileSync } = await import('node:fs');
      const img = new Uint8Array(readFileSync(meterImg));
      const m = runMeter({ image: img, line, storage: deviceStorage(img, undefined), clock, options: { attach: false } });
      line.onData((c) => m.app.onSerial(c));
      for (let i = 0; i < 20; i++) peer.write(randomBytes(2000)); // noise, with 0x00s here and there
      peer.write(new Uint8Array(3)); // idle line
      await peer.drained();
      await new Promise((r) => setTimeout(r, 200));
      expect(line.stats.bytesRead).toBeGreaterThan(30_000);
      expect(m.app.stats.commands).toBe(0);
      m.app.tick(clock.now() + 1); // still alive and working
      expect(m.app.relayClosed()).toBe(true);
    } finally {
      clock.stop();
      await line.close();
      await peer.close();
      await pair.close();
    }
  });
});
