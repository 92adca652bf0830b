// `vakt kpe …`: key production environment (init, batch, show).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { helpText, intOpt, parseCommand, stringOpt } from '../cli/args.ts';
import type { CommandSpec } from '../cli/args.ts';
import { usageError } from '../cli/io.ts';
import type { CliIo } from '../cli/io.ts';
import { printJson } from '../cli/output.ts';
import { initKpe, openKpe, produceBatch, KPE_PASSPHRASE_ENV } from './kpe.ts';
import { parseHesCert } from './cert.ts';
import { parseImage } from './image.ts';
import { parseShipmentHeader, ShipmentError, SHIPMENT_MAGIC } from '../crypto/shipment.ts';
import { toHex, ctEqual } from '../crypto/bytes.ts';

const DIR_OPT = {
  type: 'string' as const,
  placeholder: '<dir>',
  description: 'KPE directory (signing key, sequence state)',
  default: '.vakt/kpe',
};

const INIT: CommandSpec = {
  name: 'vakt kpe init',
  summary: 'create the KPE signing key (Ed25519) and state directory',
  usage: '[--dir <dir>]',
  options: { dir: DIR_OPT },
  notes: [
    'Writes kpe.key (secret, mode 0600), kpe.pub (give it to the HES: vakt hes init --kpe-pub) and kpe.state.json.',
    `With ${'VAKT_KPE_PASSPHRASE'} set, kpe.key is encrypted under it (scrypt + AES-256-GCM) and every batch needs it.`,
  ],
  examples: ['vakt kpe init --dir .vakt/kpe'],
};

const BATCH: CommandSpec = {
  name: 'vakt kpe batch',
  summary: 'generate ids and keys for a batch of devices, their provisioning images and one signed, encrypted shipment for the HES',
  usage: '--hes-cert <file> --meters <n> --concentrators <m> --out <dir> [--dir <dir>]',
  options: {
    dir: DIR_OPT,
    'hes-cert': { type: 'string', placeholder: '<file>', description: "the HES certificate written by 'vakt hes init' (hes.cert.json)" },
    meters: { type: 'string', placeholder: '<n>', description: 'number of meters, 0..100000', default: '10' },
    concentrators: {
      type: 'string',
      placeholder: '<m>',
      description: 'number of concentrators, 1..10000 (meters are spread evenly)',
      default: '1',
    },
    out: {
      type: 'string',
      placeholder: '<dir>',
      description: 'output directory: <id>.prov.cbor per device, shipment-<seq>.vks, manifest.json',
    },
  },
  notes: [
    'The provisioning images contain the device keys in clear: write them to the boards and then delete them.',
    'The shipment is encrypted to the HES X25519 key and signed by this KPE; only that HES can import it, once.',
  ],
  examples: ['vakt kpe batch --hes-cert hes.cert.json --meters 3 --concentrators 1 --out out/batch1'],
};

const SHOW: CommandSpec = {
  name: 'vakt kpe show',
  summary: 'describe a provisioning image or shipment without printing any key',
  usage: '<file>',
  options: {},
  positionals: { min: 1, max: 1, names: '<file>' },
};

const TOP = [
  'vakt kpe — key production environment',
  '',
  'Usage: vakt kpe <init|batch|show> [options]     vakt kpe <subcommand> --help',
  '',
  '  init    create the KPE signing key',
  '  batch   generate a batch of devices: provisioning images + a signed, encrypted key shipment',
  '  show    describe an image or a shipment (no keys printed)',
].join('\n');

/** Entry point of `vakt kpe`. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const sub = argv[0];
  const rest = argv.slice(1);
  if (sub === undefined || sub === '--help' || sub === '-h') {
    (sub === undefined ? io.err : io.out)(TOP);
    return sub === undefined ? 2 : 0;
  }
  if (sub === 'init') return cmdInit(rest, io);
  if (sub === 'batch') return cmdBatch(rest, io);
  if (sub === 'show') return cmdShow(rest, io);
  throw usageError(`unknown subcommand '${sub}' (init, batch, show)`);
}

function cmdInit(argv: string[], io: CliIo): number {
  const p = parseCommand(INIT, argv);
  if (p.help) return (io.out(helpText(INIT)), 0);
  const dir = resolve(io.cwd, stringOpt(p, 'dir') ?? '.vakt/kpe');
  const k = initKpe(dir, io.env[KPE_PASSPHRASE_ENV]);
  if (p.json) printJson(io, { dir, pub: toHex(k.pub), pubFile: resolve(dir, 'kpe.pub') });
  else {
    io.out(`KPE created in ${dir}`);
    io.out(`signing public key ${toHex(k.pub)} (${resolve(dir, 'kpe.pub')}: pin it with 'vakt hes init --kpe-pub')`);
  }
  return 0;
}

function cmdBatch(argv: string[], io: CliIo): number {
  const p = parseCommand(BATCH, argv);
  if (p.help) return (io.out(helpText(BATCH)), 0);
  const kpe = openKpe(resolve(io.cwd, stringOpt(p, 'dir') ?? '.vakt/kpe'), io.env[KPE_PASSPHRASE_ENV]);
  const certFile = resolve(io.cwd, stringOpt(p, 'hes-cert', true));
  let cert;
  try {
    cert = parseHesCert(readFileSync(certFile, 'utf8'));
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') throw e;
    throw new Error(`${certFile}: ${(e as Error).message}`);
  }
  const meters = intOpt(p, 'meters', 0, 100_000, 10);
  const concentrators = intOpt(p, 'concentrators', 1, 10_000, 1);
  const out = resolve(io.cwd, stringOpt(p, 'out', true));
  const r = produceBatch(kpe, { meters, concentrators, hesCert: cert, outDir: out });
  if (p.json) {
    printJson(io, {
      seq: r.seq,
      shipment: r.shipmentFile,
      manifest: r.manifestFile,
      hesId: toHex(cert.hesId),
      concentrators: r.concentrators.map((c) => toHex(c.id)),
      meters: r.meters.map((m) => ({ id: toHex(m.id), concentrator: toHex(m.concentratorId) })),
      images: r.images,
    });
  } else {
    io.out(`batch ${r.seq}: ${concentrators} concentrator(s), ${meters} meter(s) for HES ${toHex(cert.hesId)}`);
    io.out(`shipment  ${r.shipmentFile}  (import with 'vakt hes import')`);
    io.out(`images    ${out}/<id>.prov.cbor  (contain keys: flash them, then delete)`);
    io.out(`manifest  ${r.manifestFile}`);
  }
  return 0;
}

function cmdShow(argv: string[], io: CliIo): number {
  const p = parseCommand(SHOW, argv);
  if (p.help) return (io.out(helpText(SHOW)), 0);
  const file = resolve(io.cwd, p.positionals[0]!);
  const b = new Uint8Array(readFileSync(file));
  if (b.length >= SHIPMENT_MAGIC.length && ctEqual(b.subarray(0, SHIPMENT_MAGIC.length), SHIPMENT_MAGIC)) {
    let h;
    try {
      h = parseShipmentHeader(b);
    } catch (e) {
      if (e instanceof ShipmentError) throw new Error(`${file}: ${e.message}`);
      throw e;
    }
    const info = {
      kind: 'shipment',
      id: toHex(h.id),
      seq: h.seq,
      created: new Date(h.createdMs).toISOString(),
      kpe: toHex(h.kpePub),
      hesId: toHex(h.hesId),
      hesKey: toHex(h.hesPub),
      bytes: b.length,
    };
    if (p.json) printJson(io, info);
    else {
      for (const [k, v] of Object.entries(info)) io.out(`${k.padEnd(8)} ${v}`);
      io.out('(signature and contents are checked on import by the HES)');
    }
    return 0;
  }
  let img;
  try {
    img = parseImage(b);
  } catch (e) {
    throw new Error(`${file} is neither a shipment nor a provisioning image: ${(e as Error).message}`);
  }
  const info =
    img.kind === 'meter'
      ? {
          kind: 'meter image',
          id: toHex(img.meter.id),
          concentrator: toHex(img.meter.concentratorId),
          shortAddr: img.meter.shortAddr,
          linkGen: img.meter.linkGen,
          hesId: toHex(img.hesId),
          keys: 'master key, link key (not shown)',
        }
      : {
          kind: 'concentrator image',
          id: toHex(img.concentrator.id),
          linkGen: img.concentrator.linkGen,
          hesId: toHex(img.hesId),
          keys: 'HES link key (not shown)',
        };
  if (p.json) printJson(io, info);
  else for (const [k, v] of Object.entries(info)) io.out(`${k.padEnd(12)} ${v}`);
  return 0;
}
