/**
 * `vakt meter sim`: runs the real meter firmware on the Node sim board, on a serial port (a radio
 * modem, or one end of a socat PTY pair), with its state (counters, keys, load profile) in a directory.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createSystemClock } from '@vakt/boards/sim/index';
import { deviceStorage, requireMeterImage, idHex, runMeter } from '../bridge/devices.ts';
import { ModemPort } from '../bridge/modem.ts';
import { RADIO_KINDS, type RadioKind } from '../modem/emu/index.ts';
import { openHostRadio } from '../modem/host-radio.ts';

/** Bytes of a short address (wire v2 §2). */
const SHORT_ADDR_BYTES = 2;
import { helpText, intOpt, parseCommand, stringOpt, type CommandSpec } from './args.ts';
import { CliError, usageError, type CliIo } from './io.ts';
import { printJson } from './output.ts';

/** A short address as the bytes fragments carry (big-endian). */
export function shortAddrBytes(a: number): Uint8Array {
  const b = new Uint8Array(SHORT_ADDR_BYTES);
  b[0] = (a >> 8) & 0xff;
  b[1] = a & 0xff;
  return b;
}

/** How often a running device reports new refusals on stderr. */
export const STATUS_MS = 5000;

const SIM_SPEC: CommandSpec = {
  name: 'vakt meter sim',
  summary: 'run the meter firmware on this host, on a serial port',
  usage: '--port <device> --image <file.prov.cbor> [--state <dir>] [--interval <s>] [--duration <s>]',
  options: {
    port: { type: 'string', placeholder: '<device>', description: 'serial device of the radio modem, e.g. /dev/ttyUSB0 or a socat PTY' },
    image: { type: 'string', placeholder: '<file>', description: "the meter's provisioning image from 'vakt kpe' (<id>.prov.cbor)" },
    state: { type: 'string', placeholder: '<dir>', description: 'directory for the meter state (default .vakt/meter-<id>)' },
    interval: {
      type: 'string',
      placeholder: '<s>',
      description: 'load-profile interval and push period in seconds, 60..86400',
      default: '60',
    },
    retry: {
      type: 'string',
      placeholder: '<s>',
      description: 'seconds between re-sends of frames the concentrator has not acknowledged',
      default: '30',
    },
    duration: { type: 'string', placeholder: '<s>', description: 'stop after this many seconds (default: run until Ctrl-C)' },
    baud: { type: 'string', placeholder: '<n>', description: 'line speed', default: '115200' },
    radio: {
      type: 'string',
      placeholder: '<kind>',
      description: 'the modem on --port: e32, e22, hc12, xbee, packet (configured and read back at start; default: a transparent line)',
    },
    band: {
      type: 'string',
      placeholder: '<band>',
      description: 'with --radio: eu868-g (1 %), eu868-g2 (0.1 %), eu868-g3 (10 %), eu433, or lab (no limit)',
    },
    pins: {
      type: 'string',
      placeholder: '<map>',
      description: "with --radio: modem pins on the adapter's lines, e.g. m0=rts,m1=dtr,aux=cts (E32) or set=rts (HC-12)",
      default: '',
    },
  },
  notes: [
    'The meter reads its keys from the image, keeps its counters in --state (so a restart never reuses one) and talks to its concentrator on --port.',
  ],
  examples: [
    'vakt meter sim --port /dev/pts/4 --image out/0a1b2c3d4e5f6071.prov.cbor',
    'socat -d -d pty,raw,echo=0 pty,raw,echo=0   # makes a PTY pair to test with',
  ],
};

const HELP = [
  'vakt meter — meter tools',
  '',
  'Usage: vakt meter sim [options]     run the meter firmware on a serial port (see vakt meter sim --help)',
].join('\n');

/** Reads a file given on the command line; a missing file is a plain one-line error. */
export function readInput(io: CliIo, file: string, what: string): Uint8Array {
  const path = resolve(io.cwd, file);
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT') throw new CliError(`${what} not found: ${file}`);
    if (code === 'EISDIR') throw new CliError(`${what} is a directory, not a file: ${file}`);
    throw new CliError(`cannot read ${what} ${file}: ${(e as Error).message}`);
  }
}

/** Waits for `seconds` (if given) or until the io signal aborts. */
export function runUntilStopped(io: CliIo, seconds: number | undefined): Promise<void> {
  return new Promise((r) => {
    if (io.signal.aborted) {
      r();
      return;
    }
    const t = seconds === undefined ? null : setTimeout(r, seconds * 1000);
    io.signal.addEventListener(
      'abort',
      () => {
        if (t !== null) clearTimeout(t);
        r();
      },
      { once: true },
    );
  });
}

/** Entry point of `vakt meter …`. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const sub = argv[0];
  if (sub === undefined || sub === '--help' || sub === '-h') {
    (sub === undefined ? io.err : io.out)(HELP);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'sim') throw usageError(`unknown meter subcommand '${sub}' (available: sim)`);
  const p = parseCommand(SIM_SPEC, argv.slice(1));
  if (p.help) {
    io.out(helpText(SIM_SPEC));
    return 0;
  }
  const port = stringOpt(p, 'port', true);
  const imageFile = stringOpt(p, 'image', true);
  const interval = intOpt(p, 'interval', 60, 86400, 60);
  const baud = intOpt(p, 'baud', 50, 4_000_000, 115200);
  const retryS = intOpt(p, 'retry', 1, 3600, 30);
  const durS = stringOpt(p, 'duration') === undefined ? undefined : intOpt(p, 'duration', 1, 10 * 365 * 86400, 0);
  const image = readInput(io, imageFile, 'provisioning image');
  let prov;
  try {
    prov = requireMeterImage(image, imageFile);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const id = idHex(prov.meterId);
  const stateDir = resolve(io.cwd, stringOpt(p, 'state') ?? `.vakt/meter-${id}`);
  let storage;
  try {
    storage = deviceStorage(image, stateDir);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const logs: string[] = [];
  const log = (m: string): void => {
    logs.push(m);
    if (!p.json) io.err(`meter ${id}: ${m}`);
  };
  const radio = stringOpt(p, 'radio');
  if (radio !== undefined && !(RADIO_KINDS as readonly string[]).includes(radio))
    throw usageError(`--radio must be one of ${RADIO_KINDS.join(', ')}, got '${radio}'`);
  if (radio !== undefined && stringOpt(p, 'band') === undefined)
    throw usageError('--radio needs --band (the duty-cycle limit is never a default; lab = none)');
  const modem = radio === undefined ? new ModemPort({ path: port, baudRate: baud, log }) : undefined;
  let host: Awaited<ReturnType<typeof openHostRadio>> | undefined;
  try {
    if (modem !== undefined) await modem.open();
    else
      host = await openHostRadio({
        kind: radio as RadioKind,
        path: port,
        band: stringOpt(p, 'band', true),
        pins: stringOpt(p, 'pins') ?? '',
        role: 'meter',
        shortAddr: shortAddrBytes(prov.shortAddr),
        log,
      });
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const clock = createSystemClock();
  const m = runMeter({ image, line: modem ?? host!.port, storage, clock, log, options: { intervalS: interval, retryS } });
  if (!p.json)
    io.out(
      `meter ${id} running on ${port} (concentrator ${idHex(prov.concentratorId)}, push every ${interval} s, state in ${stateDir}); Ctrl-C to stop`,
    );
  // Problems are reported as they appear, in words: a wrong key must never look like silence.
  let seen = { badTag: 0, replay: 0, linkErrors: 0 };
  const watch = setInterval(() => {
    const st = m.app.stats;
    if (!p.json && st.badTag > seen.badTag)
      io.err(`meter ${id}: ${st.badTag - seen.badTag} frame(s) failed authentication (wrong key or forged frame)`);
    if (!p.json && st.replay > seen.replay) io.err(`meter ${id}: ${st.replay - seen.replay} replayed frame(s) refused`);
    if (!p.json && st.linkErrors > seen.linkErrors)
      io.err(`meter ${id}: ${st.linkErrors - seen.linkErrors} link frame(s) refused (wrong link key, replay or malformed)`);
    seen = { badTag: st.badTag, replay: st.replay, linkErrors: st.linkErrors };
  }, STATUS_MS);
  await runUntilStopped(io, durS);
  clearInterval(watch);
  clock.stop();
  await modem?.close();
  await host?.close();
  const summary = {
    meter: id,
    port,
    stats: m.app.stats,
    relayClosed: m.app.relayClosed(),
    registerWh: m.app.register.wh,
    modem: modem?.stats ?? host!.driver.stats,
  };
  if (p.json) printJson(io, summary);
  else
    io.out(
      `meter ${id} stopped: ${m.app.stats.framesIn} frames in, ${m.app.stats.badTag} bad tags, ${m.app.stats.replay} replays refused, relay ${m.app.relayClosed() ? 'closed' : 'open'}`,
    );
  return 0;
}
