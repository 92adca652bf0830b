// `vakt hes import` (a key shipment from the KPE) and `vakt hes firmware add` (an image for an
// update campaign): what comes into the HES from files.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { intOpt } from '../cli/args.ts';
import type { Parsed } from '../cli/args.ts';
import { CliError, usageError } from '../cli/io.ts';
import type { CliIo } from '../cli/io.ts';
import { printJson } from '../cli/output.ts';
import { ShipmentError } from '../crypto/shipment.ts';
import type { Hes } from './hes.ts';
import { U32_MAX } from './cli-common.ts';

export async function cmdImport(hes: Hes, me: string, p: Parsed, io: CliIo): Promise<number> {
  const file = resolve(io.cwd, p.positionals[0]!);
  try {
    const r = await hes.importShipment(new Uint8Array(readFileSync(file)), me);
    if (p.json) printJson(io, r);
    else io.out(`imported shipment ${r.id} (sequence ${r.seq}): ${r.meters} meter(s), ${r.concentrators} concentrator(s)`);
    return 0;
  } catch (e) {
    if (e instanceof ShipmentError) throw new CliError(`shipment refused (${e.code}), nothing imported: ${e.message}`);
    throw e;
  }
}

export async function cmdFirmware(hes: Hes, me: string, p: Parsed, io: CliIo): Promise<number> {
  if (p.positionals[0] !== 'add') throw usageError('usage: vakt hes firmware add <file> --version <n>');
  const data = new Uint8Array(readFileSync(resolve(io.cwd, p.positionals[1]!)));
  const version = intOpt(p, 'version', 0, U32_MAX, -1);
  if (version < 0) throw usageError('missing required option --version');
  const sha = await hes.addFirmware(me, data, version);
  if (p.json) printJson(io, { sha256: sha, size: data.length, version });
  else
    io.out(
      `firmware ${sha} (${data.length} bytes, version ${version}) stored; start a campaign with 'vakt hes command firmware --sha256 ${sha} --meter <id>'`,
    );
  return 0;
}
