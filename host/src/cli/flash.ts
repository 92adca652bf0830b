/**
 * `vakt flash`: puts a meter on a dev board in one step. Espruino boards (Puck.js, Pico): builds the
 * firmware if its sources changed, connects over a serial port, a PTY or Bluetooth LE through
 * EspruinoTools, and writes the firmware and the provisioning image to Storage with a progress bar
 * and a read-back check (host/src/flash/). Moddable boards: prints the mcconfig command and the
 * Preference write, which need the Moddable SDK and its debugger.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { findProfile } from '../../../boards/profiles/index.ts';
import type { BoardProfile } from '@vakt/boards';
import { idHex, requireMeterImage } from '../bridge/devices.ts';
import { connect, FlashError, toolsLog } from '../flash/espruino-tools.ts';
import { flashMeter, type FirmwareChoice, type FlashResult } from '../flash/flash.ts';
import { helpText, intOpt, parseCommand, stringOpt, type CommandSpec } from './args.ts';
import { CliError, usageError, type CliIo } from './io.ts';
import { readInput } from './meter.ts';
import { printJson, progress, type Progress } from './output.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** Where `npm run build:firmware` writes the deliverables; VAKT_FIRMWARE_DIR overrides it. */
const distDir = (io: CliIo): string => path.resolve(io.cwd, io.env.VAKT_FIRMWARE_DIR ?? path.join(ROOT, 'dist', 'firmware'));
/** Sources a deliverable is built from: newer than the deliverable means a rebuild. */
const FIRMWARE_SOURCES = ['shared/src', 'firmware/src', 'boards/src', 'boards/profiles', 'scripts/build-firmware.ts'];
/** Short board names accepted besides the profile names. */
const BOARD_ALIASES: Record<string, string> = { pico: 'espruino-pico', puck: 'puckjs', esp32: 'moddable-esp32' };

const SPEC: CommandSpec = {
  name: 'vakt flash',
  summary: 'put a meter on a dev board: firmware + provisioning image, written, read back and started',
  usage: '--board puckjs|pico|moddable-esp32 --port <device or BLE address> --image <meter>.prov.cbor',
  options: {
    board: { type: 'string', placeholder: '<name>', description: 'puckjs, pico (espruino-pico) or moddable-esp32' },
    port: {
      type: 'string',
      placeholder: '<port>',
      description: 'serial device (/dev/ttyACM0), a PTY, or a Bluetooth LE address (Puck.js)',
    },
    image: { type: 'string', placeholder: '<file>', description: "the meter's provisioning image from 'vakt kpe batch' (<id>.prov.cbor)" },
    firmware: { type: 'string', placeholder: '<file>', description: 'flash this firmware file instead of the built deliverable' },
    'expect-board': {
      type: 'string',
      placeholder: '<BOARD>',
      description: "accept this process.env.BOARD (a custom Espruino build) instead of the board's own",
    },
    wipe: { type: 'boolean', description: "erase another meter's records found on the board (its keys and counters are lost)" },
    'no-start': { type: 'boolean', description: 'write and verify, but do not start the firmware' },
    baud: { type: 'string', placeholder: '<n>', description: 'serial line speed', default: '9600' },
  },
  notes: [
    'Espruino: builds the firmware if its sources changed, checks the board (process.env.BOARD, native AES), writes the image to Storage ' +
      "file 'prov' and the firmware to '.bootcde', reads both back, compares them byte for byte and starts the meter. Re-flashing the same " +
      "image keeps the meter's records (its counters); a board holding another meter's records is refused unless --wipe.",
    "Moddable: prints the mcconfig command and writes the Preference statement for the image to a file (it contains the meter's keys).",
    "Delete the image afterwards: it contains the meter's keys.",
  ],
  examples: [
    'vakt flash --board pico --port /dev/ttyACM0 --image out/batch1/0a1b2c3d4e5f6071.prov.cbor',
    'vakt flash --board puckjs --port e7:12:34:56:78:9a --image out/batch1/0a1b2c3d4e5f6071.prov.cbor',
    'vakt flash --board moddable-esp32 --image out/batch1/0a1b2c3d4e5f6071.prov.cbor',
  ],
};

/** Entry point of `vakt flash`. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const p = parseCommand(SPEC, argv);
  if (p.help) {
    io.out(helpText(SPEC));
    return 0;
  }
  const boardArg = stringOpt(p, 'board', true);
  const profile = findProfile(BOARD_ALIASES[boardArg] ?? boardArg);
  if (profile === undefined || profile.engine === 'node' || !(profile.roles ?? []).includes('meter')) {
    throw usageError(`unknown board '${boardArg}' (boards: puckjs, pico, moddable-esp32)`);
  }
  const imageFile = stringOpt(p, 'image', true);
  const image = readInput(io, imageFile, 'provisioning image');
  let meterId: string;
  try {
    meterId = idHex(requireMeterImage(image, imageFile).meterId);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  if (profile.engine === 'xs') return moddable(io, p.json, profile, image, path.resolve(io.cwd, imageFile), meterId);

  const port = stringOpt(p, 'port', true);
  const baud = intOpt(p, 'baud', 300, 4_000_000, 9600);
  const firmwareArg = stringOpt(p, 'firmware');
  const firmware = firmwareArg !== undefined ? givenFirmware(io, profile, firmwareArg) : await builtFirmware(io, profile, p.json);
  let bar: Progress | undefined;
  const session = await connect(port, { baud }).catch((e: unknown) => fail(io, e));
  let result: FlashResult;
  try {
    result = await Promise.race([
      flashMeter(session, {
        profile,
        image,
        firmware,
        expectBoard: stringOpt(p, 'expect-board'),
        wipe: p.values.wipe === true,
        start: p.values['no-start'] !== true,
        progress: (done, total, file) => {
          bar ??= progress(io, p.json, 'flash', total);
          bar.update(done, file);
        },
      }),
      interrupted(io),
    ]);
  } catch (e) {
    return fail(io, e);
  } finally {
    bar?.stop();
    await session.close();
  }
  if (p.json) printJson(io, { meter: meterId, port, ...result });
  else {
    const what = `${result.firmware} (${result.nativeAes ? 'native AES' : 'software AES'})`;
    const prov =
      result.prov === 'kept'
        ? 'image unchanged, records kept'
        : `image written${result.wiped.length ? `, ${result.wiped.length} old record file(s) erased` : ''}`;
    io.out(
      `meter ${meterId} flashed to ${result.board} (Espruino ${result.version}) on ${port}: ${what}, ${prov}; ${result.bytesWritten} bytes written, read back and verified; ${result.started ? 'started' : 'not started (--no-start)'}`,
    );
    io.err(`Delete ${imageFile} now unless you keep it somewhere safe: it contains the meter's keys.`);
  }
  return 0;
}

/** Rejects when the user presses Ctrl-C (io.signal), so the port is closed and the reason said. */
function interrupted(io: CliIo): Promise<never> {
  return new Promise((_, reject) => {
    const stop = (): void =>
      reject(new FlashError('interrupted: the board may hold a partial upload and was not started; run vakt flash again'));
    if (io.signal.aborted) stop();
    else io.signal.addEventListener('abort', stop, { once: true });
  });
}

/** Turns a FlashError (or anything else) into the one-line CliError; the library's log with VAKT_DEBUG=1. */
function fail(io: CliIo, e: unknown): never {
  if (io.env.VAKT_DEBUG === '1') for (const l of toolsLog()) io.err(`espruino: ${l}`);
  if (e instanceof FlashError) throw new CliError(e.message);
  throw e;
}

/** A firmware file given with --firmware, flashed whether or not the board has native AES. */
function givenFirmware(io: CliIo, profile: BoardProfile, file: string): FirmwareChoice {
  const text = Buffer.from(readInput(io, file, 'firmware file')).toString('latin1');
  const f = { file: path.basename(file), text };
  return profile.nativeAes ? { native: f } : { soft: f, native: f };
}

/** The board's deliverables from dist/firmware, built first when missing or older than their sources. */
async function builtFirmware(io: CliIo, profile: BoardProfile, json: boolean): Promise<FirmwareChoice> {
  const build = await import(pathToFileURL(path.join(ROOT, 'scripts', 'build-firmware.ts')).href);
  const variants = build.espruinoVariants(profile) as { nativeAes: boolean; suffix: string }[];
  const dist = distDir(io);
  const files = variants.map((v) => ({ ...v, file: path.join(dist, `meter-${profile.name}${v.suffix}.js`) }));
  const newestSource = Math.max(...FIRMWARE_SOURCES.map((s) => newestMtime(path.join(ROOT, s))));
  if (files.some((f) => !fs.existsSync(f.file) || fs.statSync(f.file).mtimeMs < newestSource)) {
    if (!json) io.err('building the firmware (npm run build:firmware) ...');
    const report = await build.buildFirmware({ outDir: dist, only: ['deliverables'] });
    if (!report.ok) throw new CliError('the firmware build failed: run npm run build:firmware to see why');
  }
  const choice: FirmwareChoice = {};
  for (const f of files) choice[f.nativeAes ? 'native' : 'soft'] = { file: path.basename(f.file), text: fs.readFileSync(f.file, 'latin1') };
  return choice;
}

function newestMtime(p: string): number {
  const st = fs.statSync(p, { throwIfNoEntry: false });
  if (st === undefined) return 0;
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const e of fs.readdirSync(p)) newest = Math.max(newest, newestMtime(path.join(p, e)));
  return newest;
}

/** Moddable boards: the SDK builds and flashes; vakt prints the commands and writes the Preference statement. */
async function moddable(
  io: CliIo,
  json: boolean,
  profile: BoardProfile,
  image: Uint8Array,
  imagePath: string,
  meterId: string,
): Promise<number> {
  const dir = path.join(distDir(io), 'moddable', 'meter');
  if (!fs.existsSync(path.join(dir, 'main.js'))) {
    const build = await import(pathToFileURL(path.join(ROOT, 'scripts', 'build-firmware.ts')).href);
    await build.buildFirmware({ outDir: distDir(io), only: ['deliverables'] });
  }
  const mcconfig = `cd ${path.relative(io.cwd, dir) || '.'} && mcconfig -d -m -p esp32`;
  // The statement holds the keys: it goes to a file only the user can read, never to the terminal.
  const prefFile = imagePath.replace(/\.prov\.cbor$|$/, '.preference.js');
  const statement = `Preference.set("vakt", "prov", new Uint8Array([${Array.from(image).join(',')}]).buffer);\n`;
  fs.writeFileSync(
    prefFile,
    `// vakt flash: provisioning of meter ${meterId} for ${profile.name}; contains its keys, delete after use.\n${statement}`,
    { mode: 0o600 },
  );
  if (json) {
    printJson(io, {
      meter: meterId,
      board: profile.name,
      mcconfig,
      preferenceFile: prefFile,
      preference: { domain: 'vakt', key: 'prov', bytes: image.length },
    });
    return 0;
  }
  io.out(`Moddable ${profile.name}: build and flash meter ${meterId} with the Moddable SDK ($MODDABLE set, board on USB):`);
  io.out(`  ${mcconfig}`);
  io.out(`Then write its provisioning image once, in xsbug's console (or a provisioning build with the preference module):`);
  io.out(`  Preference.set("vakt", "prov", <the ${image.length} bytes of ${path.basename(imagePath)} as an ArrayBuffer>)`);
  io.out(`The exact statement is in ${prefFile} (mode 0600: it contains the meter's keys; delete it afterwards).`);
  return 0;
}
