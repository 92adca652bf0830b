// `vakt flash` against a FAKE Espruino board: test/host/fake-espruino.ts, a scripted emulation of
// Espruino's REPL (not the interpreter) on one end of a real socat PTY pair; vakt flash opens the
// other end through EspruinoTools exactly as it opens a USB board. Covered: the whole flash (board
// check, native/soft AES choice, Storage writes, byte-for-byte read-back, start), re-flash keeping
// the meter's records, another meter's records refused unless --wipe, and hostile boards and input
// (wrong board, no native AES, garbage, silence, a disconnect mid-upload, a corrupted write, a
// missing or invalid image, a port that does not exist): one plain line each, non-zero exit.
// The same command against the REAL Espruino Linux build over a PTY is a by-hand check
// (docs/BOARDS.md, "vakt flash").
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findSocat, openPtyPair, type PtyPair } from '../../host/src/bridge/pty.ts';
import { captureIo } from '../../host/src/cli/io.ts';
import { main } from '../../host/src/cli/main.ts';
import { Hes } from '../../host/src/hes/hes.ts';
import { initKpe, produceBatch } from '../../host/src/kpe/kpe.ts';
import { buildFirmware } from '../../scripts/build-firmware.ts';
import { FakeEspruino, type FakeEspruinoOptions } from './fake-espruino.ts';

let dir = '';
let meterImg = '';
let meter2Img = '';
let concImg = '';
const fw: Record<string, string> = {};

beforeAll(async () => {
  if (findSocat() === null) throw new Error('socat is required for the vakt flash tests (apt-get install socat)');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vakt-flash-'));
  const kpe = initKpe(path.join(dir, 'kpe'));
  const { hes, cert } = await Hes.init({ dbPath: ':memory:', storeKey: randomBytes(32), kpePublicKeys: [kpe.pub] });
  await hes.close();
  const b = produceBatch(kpe, { meters: 2, concentrators: 1, hesCert: cert, outDir: path.join(dir, 'out') });
  const meters = b.images.filter((i) => i.kind === 'meter');
  meterImg = meters[0]!.file;
  meter2Img = meters[1]!.file;
  concImg = b.images.find((i) => i.kind === 'concentrator')!.file;
  const out = path.join(dir, 'fw');
  const r = await buildFirmware({ outDir: out, only: ['deliverables'] });
  expect(r.ok).toBe(true);
  for (const n of ['meter-puckjs', 'meter-espruino-pico', 'meter-espruino-pico-native-aes']) fw[n] = path.join(out, n + '.js');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** A fake board on one end of a fresh PTY pair; returns it and the other end for vakt flash. */
async function board(opts: FakeEspruinoOptions): Promise<{ fake: FakeEspruino; port: string }> {
  const pair: PtyPair = await openPtyPair();
  cleanup.push(() => pair.close());
  const fake = new FakeEspruino(opts);
  await fake.attach(pair.b, () => pair.close());
  cleanup.push(() => fake.close());
  return { fake, port: pair.a };
}

async function vakt(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const io = captureIo({ cwd: dir, env: {} });
  const code = await main(['flash', ...args], io);
  return { code, out: io.stdout, err: io.stderr };
}

/** Longest the library's prompt timers run after a command (two 500 ms steps), with margin. */
const LIBRARY_TIMERS_MS = 2500;

/**
 * The library's own timers run on after vakt gave up (the prompt request's Ctrl-C, the command it
 * was about to send): they must find nothing to crash on once the port is closed.
 */
async function expectNoLateCrash(): Promise<void> {
  const late: unknown[] = [];
  const onLate = (e: unknown): void => void late.push(e);
  process.prependListener('uncaughtException', onLate);
  await new Promise((r) => setTimeout(r, LIBRARY_TIMERS_MS));
  process.removeListener('uncaughtException', onLate);
  expect(late).toEqual([]);
}
const bytes = (file: string): string => fs.readFileSync(file, 'latin1');
const flashArgs = (b: string, port: string, img: string, firmware?: string): string[] => [
  '--board',
  b,
  '--port',
  port,
  '--image',
  img,
  ...(firmware ? ['--firmware', firmware] : []),
];

describe('vakt flash on a FAKE Espruino REPL over a socat PTY pair', () => {
  it('Puck.js: checks the board, writes prov and .bootcde, reads both back, starts the meter (--json)', async () => {
    const { fake, port } = await board({ board: 'PUCKJS', nativeAes: true });
    const r = await vakt([...flashArgs('puckjs', port, meterImg, fw['meter-puckjs']), '--json']);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    const res = JSON.parse(r.out.at(-1)!);
    expect(res).toMatchObject({ board: 'PUCKJS', prov: 'written', verified: true, started: true, nativeAes: true, wiped: [] });
    expect(fake.files.get('prov')).toBe(bytes(meterImg));
    expect(fake.files.get('.bootcde')).toBe(bytes(fw['meter-puckjs']!));
    expect(res.bytesWritten).toBe(bytes(meterImg).length + bytes(fw['meter-puckjs']!).length);
    expect(fake.resets).toBe(1);
    expect(fake.loads).toBe(1);
  });

  it('Pico: the software-AES build on a board without the crypto module, the native one on a board with it', async () => {
    for (const nativeAes of [false, true]) {
      const { fake, port } = await board({ board: 'PICO_R1_3', nativeAes });
      const r = await vakt(['--board', 'pico', '--port', port, '--image', meterImg, '--json']);
      expect(r.code, r.err.join('\n')).toBe(0);
      const want = nativeAes ? 'meter-espruino-pico-native-aes' : 'meter-espruino-pico';
      expect(JSON.parse(r.out.at(-1)!)).toMatchObject({ firmware: want + '.js', nativeAes });
      expect(fake.files.get('.bootcde')).toBe(bytes(fw[want]!));
    }
  });

  it('re-flashing the same image keeps the meter records (counters), prints one summary line', async () => {
    const records = { 'ctr~0': 'A', 'keys~1': 'B' };
    const { fake, port } = await board({ board: 'PUCKJS', nativeAes: true, files: { prov: bytes(meterImg), ...records } });
    const r = await vakt(flashArgs('puckjs', port, meterImg, fw['meter-puckjs']));
    expect(r.code, r.err.join('\n')).toBe(0);
    expect(r.out).toHaveLength(1);
    expect(r.out[0]).toMatch(/image unchanged, records kept; \d+ bytes written, read back and verified; started/);
    expect(fake.files.get('ctr~0')).toBe('A');
    expect(fake.files.get('keys~1')).toBe('B');
  });

  it("another meter's image and records are refused untouched, and erased with --wipe", async () => {
    const { fake, port } = await board({
      board: 'PUCKJS',
      nativeAes: true,
      files: { prov: bytes(meter2Img), 'ctr~0': 'A', 'rx~1': 'B', '.bootcde': 'old' },
    });
    let r = await vakt(flashArgs('puckjs', port, meterImg, fw['meter-puckjs']));
    expect(r.code).toBe(1);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(/^vakt flash: the board holds another provisioning image and 2 record file\(s\).*--wipe/);
    expect([fake.files.get('prov'), fake.files.get('ctr~0'), fake.files.get('.bootcde'), fake.resets]).toEqual([
      bytes(meter2Img),
      'A',
      'old',
      0,
    ]);
    r = await vakt([...flashArgs('puckjs', port, meterImg, fw['meter-puckjs']), '--wipe']);
    expect(r.code, r.err.join('\n')).toBe(0);
    expect([...fake.files.keys()].sort()).toEqual(['.bootcde', 'prov']);
    expect(fake.files.get('prov')).toBe(bytes(meterImg));
  });

  it('builds the firmware when it is missing or older than its sources, then flashes it', async () => {
    const dist = path.join(dir, 'dist-empty');
    const built = path.join(dist, 'meter-puckjs.js');
    for (const stale of [false, true]) {
      if (stale) fs.utimesSync(built, 0, 0); // older than every source file
      const { fake, port } = await board({ board: 'PUCKJS', nativeAes: true });
      const io = captureIo({ cwd: dir, env: { VAKT_FIRMWARE_DIR: dist } });
      const code = await main(['flash', ...flashArgs('puckjs', port, meterImg)], io);
      expect(code, io.stderr.join('\n')).toBe(0);
      expect(io.stderr[0]).toBe('building the firmware (npm run build:firmware) ...');
      expect(fs.statSync(built).mtimeMs).toBeGreaterThan(Date.now() - 60_000);
      expect(fake.files.get('.bootcde')).toBe(bytes(built));
    }
  });
});

describe('vakt flash refuses hostile boards and input in one plain line (FAKE REPL over a PTY)', () => {
  const refused = async (opts: FakeEspruinoOptions, b = 'puckjs', extra: string[] = []): Promise<{ err: string; fake: FakeEspruino }> => {
    const { fake, port } = await board(opts);
    const r = await vakt([...flashArgs(b, port, meterImg, fw[b === 'puckjs' ? 'meter-puckjs' : 'meter-espruino-pico']), ...extra]);
    expect(r.code).toBe(1);
    expect(r.err).toHaveLength(1);
    return { err: r.err[0]!, fake };
  };

  it('a board of another kind', async () => {
    const { err, fake } = await refused({ board: 'BANGLEJS2' });
    expect(err).toMatch(/^vakt flash: wrong board: this is a BANGLEJS2 \(Espruino 2v29\), not a Puck\.js.*--expect-board BANGLEJS2/);
    expect(fake.resets).toBe(0);
  });

  it('a Puck.js without native AES for the native-only build', async () => {
    const { err } = await refused({ board: 'PUCKJS', nativeAes: false });
    expect(err).toMatch(/has no require\("crypto"\)\.AES/);
  });

  it('a device that answers garbage, and one that answers nothing', async () => {
    let { err } = await refused({ board: 'PUCKJS', garbage: new Uint8Array(randomBytes(50)) });
    expect(err).toMatch(/^vakt flash: no Espruino REPL answered on \/dev\/pts\/\d+: it sent ".*"(\.\.\.)? \(wrong port or baud rate/);
    ({ err } = await refused({ board: 'PUCKJS', silent: true }));
    expect(err).toMatch(/no Espruino REPL answered on .*: it sent nothing/);
  });

  it('a board that disconnects in the middle of the upload is reported, not started', async () => {
    const { err, fake } = await refused({ board: 'PUCKJS', nativeAes: true, disconnectAfterBytes: 6000 });
    expect(err).toMatch(/^vakt flash: the board disconnected during the upload of \.bootcde \(\d+ of \d+ bytes written\)/);
    expect(fake.loads).toBe(0);
  });

  it('a board that starts answering garbage in the middle of the upload is reported, not started', async () => {
    const { err, fake } = await refused({ board: 'PUCKJS', nativeAes: true, garbageAfterBytes: 6000 });
    expect(err).toMatch(/^vakt flash: the board refused the upload of \.bootcde at byte \d+ of \d+/);
    expect(fake.loads).toBe(0);
    await expectNoLateCrash();
  });

  it('a write that reads back different fails the read-back check and does not start', async () => {
    const { err, fake } = await refused({ board: 'PUCKJS', nativeAes: true, corruptFile: '.bootcde' });
    expect(err).toMatch(/^vakt flash: read-back check failed: \.bootcde on the board differs from what was sent at byte \d+ of \d+ /);
    expect(fake.loads).toBe(0);
  });

  it('Ctrl-C: the port is closed and the board is not started', async () => {
    const { fake, port } = await board({ board: 'PUCKJS', nativeAes: true });
    const io = captureIo({ cwd: dir, env: {} });
    io.abort();
    const code = await main(['flash', ...flashArgs('puckjs', port, meterImg, fw['meter-puckjs'])], io);
    expect([code, io.stderr]).toEqual([
      1,
      [expect.stringMatching(/^vakt flash: interrupted: the board may hold a partial upload and was not started/)],
    ]);
    expect(fake.loads).toBe(0);
    await expectNoLateCrash();
  });

  it('a missing image, an invalid one, a concentrator image, a port that does not exist, an unknown board', async () => {
    const junk = path.join(dir, 'junk.prov.cbor');
    fs.writeFileSync(junk, randomBytes(64));
    expect(await vakt(flashArgs('puckjs', '/dev/null', 'nope.prov.cbor'))).toMatchObject({
      code: 1,
      err: ['vakt flash: provisioning image not found: nope.prov.cbor'],
    });
    let r = await vakt(flashArgs('puckjs', '/dev/null', junk));
    expect(r.code).toBe(1);
    expect(r.err).toEqual([expect.stringMatching(/junk\.prov\.cbor is not a provisioning image/)]);
    r = await vakt(flashArgs('puckjs', '/dev/null', concImg));
    expect(r.err).toEqual([`vakt flash: ${concImg} is a concentrator image, not a meter provisioning image`]);
    r = await vakt(flashArgs('puckjs', '/dev/ttyNOPE9', meterImg, fw['meter-puckjs']));
    expect(r).toMatchObject({ code: 1, err: [expect.stringMatching(/^vakt flash: no board: \/dev\/ttyNOPE9 does not exist/)] });
    r = await vakt(flashArgs('sim', '/dev/null', meterImg));
    expect(r).toMatchObject({ code: 2, err: [expect.stringMatching(/unknown board 'sim'/)] });
  });
});

describe('vakt flash to a Bluetooth LE address on a machine where BlueZ cannot be reached', () => {
  const BLE = 'aa:bb:cc:dd:ee:ff';
  const hasBus = ['/run/dbus/system_bus_socket', '/var/run/dbus/system_bus_socket'].some((f) => fs.existsSync(f));
  it.skipIf(hasBus)('no D-Bus system bus: one line before anything is tried (skipped where a system bus exists)', async () => {
    const r = await vakt(flashArgs('puckjs', BLE, meterImg, fw['meter-puckjs']));
    expect(r).toMatchObject({
      code: 1,
      err: [expect.stringMatching(/^vakt flash: Bluetooth LE needs BlueZ through the D-Bus system bus/)],
    });
  });
  it('a D-Bus address that refuses the connection: the library throws from an event handler, vakt prints one line (child process)', async () => {
    // In a child: node-ble's error is an uncaught exception, which the test runner would also see.
    const notABus = path.join(dir, 'not-a-bus');
    fs.writeFileSync(notABus, '');
    const r = spawnSync(process.execPath, ['host/bin/vakt.js', 'flash', ...flashArgs('puckjs', BLE, meterImg, fw['meter-puckjs'])], {
      cwd: path.resolve(__dirname, '..', '..'),
      encoding: 'utf8',
      env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${notABus}`, VAKT_DEBUG: '' },
      timeout: 60_000,
    });
    expect([r.status, r.stderr.trim()]).toEqual([
      1,
      expect.stringMatching(/^vakt flash: Bluetooth LE failed: connect ECONNREFUSED .*not-a-bus \(is bluetoothd running/),
    ]);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('vakt flash for Moddable boards', () => {
  it('prints the mcconfig command and writes the Preference statement to a 0600 file, never the keys to the terminal', async () => {
    const io = captureIo({ cwd: dir, env: { VAKT_FIRMWARE_DIR: path.join(dir, 'fw') } });
    const r = { code: await main(['flash', '--board', 'moddable-esp32', '--image', meterImg], io), out: io.stdout, err: io.stderr };
    expect(r.code, r.err.join('\n')).toBe(0);
    expect(r.out.join('\n')).toMatch(/mcconfig -d -m -p esp32/);
    const prefFile = meterImg.replace(/\.prov\.cbor$/, '.preference.js');
    expect(fs.statSync(prefFile).mode & 0o777).toBe(0o600);
    const img = [...fs.readFileSync(meterImg)];
    expect(fs.readFileSync(prefFile, 'utf8')).toContain(`Preference.set("vakt", "prov", new Uint8Array([${img.join(',')}]).buffer);`);
    expect(r.out.join('\n')).not.toContain(img.join(','));
  });
});
