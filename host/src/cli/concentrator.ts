/**
 * `vakt concentrator`: runs the real concentrator firmware on this host (sim board): serial radio
 * modems toward meters (ModemPort: write watchdog, reopen, resend; or with --radio a modem driver
 * and RadioPort from host/src/modem: configured and read back, packets, fragments, duty cycle) and
 * a TCP link to the HES (HesLink: reconnect with backoff, bounded queue) as its uplink port.
 */
import { resolve } from 'node:path';
import { createSystemClock } from '@vakt/boards/sim/index';
import { deviceStorage, idHex, requireConcentratorImage, runConcentrator } from '../bridge/devices.ts';
import { HesLink } from '../bridge/hes-link.ts';
import { ModemPort } from '../bridge/modem.ts';
import { RADIO_KINDS, type RadioKind } from '../modem/emu/index.ts';
import { openHostRadio } from '../modem/host-radio.ts';
import { helpText, hostPort, intOpt, listOpt, parseCommand, stringOpt, type CommandSpec } from './args.ts';
import { CliError, usageError, type CliIo } from './io.ts';
import { readInput, runUntilStopped, STATUS_MS } from './meter.ts';
import { printJson } from './output.ts';

/** The concentrator's own short address in fragments of non-v2 units (v2 hop frames name the meter's: wire-v2 §7). */
const CONCENTRATOR_SHORT = Uint8Array.of(0, 0);

const SPEC: CommandSpec = {
  name: 'vakt concentrator',
  summary: 'run the concentrator firmware on this host: serial radio modems ↔ HES over TCP',
  usage:
    '--hes <host:port> [--hes <host:port> …] --modem <device> [--modem <device> …] --image <file.prov.cbor> [--state <dir>] [--radio <kind> --band <band> [--pins <map>]]',
  options: {
    hes: {
      type: 'string',
      multiple: true,
      placeholder: '<host:port>',
      description:
        "the HES ('vakt hes serve --port P'); host defaults to 127.0.0.1. Several: nodes of one HES, tried in order; a lost node fails over to the next",
    },
    modem: { type: 'string', multiple: true, placeholder: '<device>', description: 'serial device of a radio modem toward meters' },
    image: { type: 'string', placeholder: '<file>', description: "the concentrator's provisioning image from 'vakt kpe'" },
    state: { type: 'string', placeholder: '<dir>', description: 'directory for the concentrator state (default .vakt/concentrator-<id>)' },
    'max-meters': { type: 'string', placeholder: '<n>', description: 'meters the table can hold', default: '256' },
    watchdog: {
      type: 'string',
      placeholder: '<ms>',
      description: 'a serial write not completed within this is a stall: reopen and resend',
      default: '2000',
    },
    retry: { type: 'string', placeholder: '<s>', description: 'seconds before an unacknowledged frame is sent again', default: '30' },
    duration: { type: 'string', placeholder: '<s>', description: 'stop after this many seconds (default: run until Ctrl-C)' },
    baud: { type: 'string', placeholder: '<n>', description: 'modem line speed (without --radio)', default: '115200' },
    radio: {
      type: 'string',
      placeholder: '<kind>',
      description: 'the modems on --modem: e32, e22, hc12, xbee, packet (configured and read back at start; default: transparent lines)',
    },
    band: {
      type: 'string',
      placeholder: '<band>',
      description: "with --radio: eu868-g (1 %), eu868-g2 (0.1 %), eu868-g3 (10 %, a gateway's downlink band), eu433, or lab (no limit)",
    },
    pins: {
      type: 'string',
      placeholder: '<map>',
      description: "with --radio: modem pins on the adapter's lines, e.g. m0=rts,m1=dtr,aux=cts (E32) or set=rts (HC-12)",
      default: '',
    },
  },
  notes: [
    'With several --hes, a lost or unreachable node fails over to the next at once (round robin); every frame the old node had not acknowledged (LINK_ACK) is sent again to the new one, and the shared store keeps it from being counted twice.',
    "The concentrator holds no end-to-end key: it checks and strips the meters' link MICs and forwards the unchanged end-to-end frames (PROTOCOL.md D-8). It learns its meters' link keys from the HES (JOIN).",
  ],
  examples: [
    'vakt concentrator --hes 127.0.0.1:7700 --modem /dev/pts/3 --image out/f00dbabe00000001.prov.cbor',
    'vakt concentrator --hes 127.0.0.1:7700 --modem /dev/ttyUSB0 --radio e32 --band eu868-g3 --pins m0=rts,m1=dtr,aux=cts --image out/f00dbabe00000001.prov.cbor',
    'vakt concentrator --hes hes-a:4059 --hes hes-b:4059 --modem /dev/ttyUSB0 --image out/f00dbabe00000001.prov.cbor',
  ],
};

/** Entry point of `vakt concentrator`. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const p = parseCommand(SPEC, argv);
  if (p.help) {
    io.out(helpText(SPEC));
    return 0;
  }
  const hesList = listOpt(p, 'hes');
  if (hesList.length === 0) throw usageError('--hes <host:port> is required');
  const hes = hesList.map((h) => hostPort(h, 'hes'));
  const modems = listOpt(p, 'modem');
  if (modems.length === 0) throw usageError('at least one --modem <device> is required');
  const imageFile = stringOpt(p, 'image', true);
  const maxMeters = intOpt(p, 'max-meters', 1, 100_000, 256);
  const watchdogMs = intOpt(p, 'watchdog', 50, 600_000, 2000);
  const baud = intOpt(p, 'baud', 50, 4_000_000, 115200);
  const retryS = intOpt(p, 'retry', 1, 3600, 30);
  const durS = stringOpt(p, 'duration') === undefined ? undefined : intOpt(p, 'duration', 1, 10 * 365 * 86400, 0);
  const radio = stringOpt(p, 'radio');
  if (radio !== undefined && !(RADIO_KINDS as readonly string[]).includes(radio))
    throw usageError(`--radio must be one of ${RADIO_KINDS.join(', ')}, got '${radio}'`);
  if (radio !== undefined && stringOpt(p, 'band') === undefined)
    throw usageError('--radio needs --band (the duty-cycle limit is never a default; lab = none)');
  const image = readInput(io, imageFile, 'provisioning image');
  let id: string;
  let storage;
  try {
    id = idHex(requireConcentratorImage(image, imageFile).concentratorId);
    storage = deviceStorage(image, resolve(io.cwd, stringOpt(p, 'state') ?? `.vakt/concentrator-${id}`));
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const log = (m: string): void => {
    if (!p.json) io.err(`concentrator ${id}: ${m}`);
  };
  const ports: ModemPort[] = [];
  const radios: Awaited<ReturnType<typeof openHostRadio>>[] = [];
  const closeAll = (): Promise<unknown> => Promise.all([...ports.map((x) => x.close()), ...radios.map((x) => x.close())]);
  try {
    for (const path of modems) {
      if (radio !== undefined) {
        radios.push(
          await openHostRadio({
            kind: radio as RadioKind,
            role: 'concentrator',
            path,
            band: stringOpt(p, 'band', true),
            pins: stringOpt(p, 'pins') ?? '',
            shortAddr: CONCENTRATOR_SHORT,
            log,
          }),
        );
        continue;
      }
      const mp = new ModemPort({ path, baudRate: baud, watchdogMs, log });
      await mp.open();
      ports.push(mp);
    }
  } catch (e) {
    await closeAll();
    throw new CliError((e as Error).message);
  }
  const meterLines = radio !== undefined ? radios.map((x) => x.port) : ports;
  // No transport-level resend window: the firmware keeps every uplink frame until the HES's
  // LINK_ACK and retransmits it, and a duplicate would be audited by the HES as a replay.
  const link = new HesLink({ addresses: hes, log, resendWindowBytes: 0 });
  const clock = createSystemClock();
  const c = runConcentrator({ image, hes: link, meterLines, storage, clock, log, options: { maxMeters, retryS } });
  link.start();
  if (!p.json)
    io.out(
      `concentrator ${id}: ${meterLines.length} ${radio ?? ''}${radio ? ' ' : ''}modem(s) (${modems.join(', ')}), HES at ${hes.map((h) => `${h.host}:${h.port}`).join(', ')}; Ctrl-C to stop`,
    );
  let seen = { meter: 0, hes: 0, unknown: 0, stalls: 0 };
  const watch = setInterval(() => {
    const st = c.app.stats;
    const stalls = ports.reduce((n, x) => n + x.stats.stalls, 0);
    if (!p.json && st.meterLinkFailures > seen.meter)
      io.err(
        `concentrator ${id}: ${st.meterLinkFailures - seen.meter} meter frame(s) refused (unknown meter, wrong link key, replay or forged)`,
      );
    if (!p.json && st.hesLinkFailures > seen.hes)
      io.err(`concentrator ${id}: ${st.hesLinkFailures - seen.hes} HES frame(s) refused (wrong HES link key, replay or forged)`);
    if (!p.json && st.unknownMeter > seen.unknown)
      io.err(`concentrator ${id}: ${st.unknownMeter - seen.unknown} downlink frame(s) for meters it was not given (JOIN)`);
    if (!p.json && stalls > seen.stalls)
      io.err(`concentrator ${id}: ${stalls - seen.stalls} stalled serial write(s) recovered (port reopened, frames resent)`);
    seen = { meter: st.meterLinkFailures, hes: st.hesLinkFailures, unknown: st.unknownMeter, stalls };
  }, STATUS_MS);
  await runUntilStopped(io, durS);
  clearInterval(watch);
  clock.stop();
  await link.close();
  await closeAll();
  const summary = {
    concentrator: id,
    stats: c.app.stats,
    hesLink: link.stats,
    modems:
      radio !== undefined
        ? radios.map((x, i) => ({ path: modems[i], ...x.driver.stats, ...x.port.stats }))
        : ports.map((x) => ({ path: x.path, ...x.stats })),
  };
  if (p.json) printJson(io, summary);
  else
    io.out(
      `concentrator ${id} stopped: ${c.app.stats.forwardedUp} frames up, ${c.app.stats.forwardedDown} down, ${c.app.stats.meterLinkFailures} meter link failures, ${ports.reduce((n, x) => n + x.stats.stalls, 0)} serial stalls recovered`,
    );
  return 0;
}
