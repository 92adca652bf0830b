// `vakt hes command <kind> | list | cancel`: queue a command for one meter or, with --meter all, a
// campaign of one command per meter; list or cancel queued commands.
import { intOpt, stringOpt } from '../cli/args.ts';
import type { Parsed } from '../cli/args.ts';
import { CliError, usageError } from '../cli/io.ts';
import type { CliIo } from '../cli/io.ts';
import { printJson, printTable } from '../cli/output.ts';
import { fromHex } from '../crypto/bytes.ts';
import type { Hes } from './hes.ts';
import { COMMAND_KINDS, COMMAND_STATES } from './commands.ts';
import type { CommandParams, CommandState } from './commands.ts';
import { DAY_S, DEFAULT_COMMAND_EXPIRY_S, meterOpt, U32_MAX } from './cli-common.ts';

/** Largest tariff id a config command carries. */
const MAX_TARIFF = 65535;
/** Longest push interval a config command sets (one day, in seconds). */
const MAX_PUSH_INTERVAL_S = DAY_S;
/** Largest key_update scope: 0 = all keys (the master key), 1..9 one operation's key. */
const MAX_KEY_SCOPE = 9;
/** Longest --expiry (one year, in seconds). */
const MAX_EXPIRY_S = 365 * DAY_S;

async function listCommands(hes: Hes, who: string, p: Parsed, io: CliIo): Promise<number> {
  await hes.require(who, 'view', 'commands');
  const st = stringOpt(p, 'state');
  if (st !== undefined && !(COMMAND_STATES as readonly string[]).includes(st))
    throw usageError(`--state must be one of ${COMMAND_STATES.join(', ')}`);
  const m = stringOpt(p, 'meter');
  const rows = await hes.listCommands({
    ...(m !== undefined ? { meter: meterOpt(p) } : {}),
    ...(st !== undefined ? { state: st as CommandState } : {}),
  });
  if (p.json) printJson(io, { commands: rows });
  else
    printTable(
      io,
      ['id', 'meter', 'kind', 'state', 'actor', 'tries', 'result'],
      rows.map((r) => [r.id, r.meter, r.kind, r.state, r.actor, r.attempts, r.result === null ? '' : JSON.stringify(r.result)]),
    );
  return 0;
}

async function cancelCommand(hes: Hes, who: string, p: Parsed, io: CliIo): Promise<number> {
  const id = intOpt(p, 'id', 1, Number.MAX_SAFE_INTEGER, 0);
  if (id === 0) throw usageError('missing required option --id');
  await hes.cancelCommand(who, id);
  if (p.json) printJson(io, { cancelled: id });
  else io.out(`command ${id} cancelled`);
  return 0;
}

/** A required integer option in [min, max]. */
function requiredInt(p: Parsed, name: string, min: number, max: number): number {
  const v = intOpt(p, name, min, max, -1);
  if (v < 0) throw usageError(`missing required option --${name}`);
  return v;
}

/** A firmware command's parameters: the image named by --sha256 must be stored. */
async function firmwareParams(hes: Hes, p: Parsed): Promise<CommandParams> {
  const sha = (stringOpt(p, 'sha256', true) ?? '').toLowerCase();
  const img = /^[0-9a-f]{64}$/.test(sha) ? await hes.store.firmwareImage(fromHex(sha)) : undefined;
  const row = img === undefined ? undefined : { version: img.version, size: img.data.length };
  if (row === undefined) throw new CliError(`firmware ${sha} is not stored; add it with 'vakt hes firmware add <file> --version <n>'`);
  return { kind: 'firmware', sha256: sha, size: row.size, version: row.version };
}

/** The parameters of a command of this kind, from its options. */
async function commandParams(hes: Hes, kind: string, p: Parsed): Promise<CommandParams> {
  switch (kind) {
    case 'read':
      return { kind: 'read' };
    case 'gapfill':
      return { kind: 'gapfill', from: requiredInt(p, 'from', 0, U32_MAX), to: requiredInt(p, 'to', 0, U32_MAX) };
    case 'relay':
      return { kind: 'relay', state: requiredInt(p, 'state', 0, 1) as 0 | 1 };
    case 'config': {
      const t = stringOpt(p, 'tariff');
      const pi = stringOpt(p, 'push-interval');
      return {
        kind: 'config',
        ...(t !== undefined ? { tariff: requiredInt(p, 'tariff', 0, MAX_TARIFF) } : {}),
        ...(pi !== undefined ? { pushInterval: requiredInt(p, 'push-interval', 1, MAX_PUSH_INTERVAL_S) } : {}),
      };
    }
    case 'clock':
      return { kind: 'clock' };
    case 'key_update':
      return { kind: 'key_update', scope: intOpt(p, 'scope', 0, MAX_KEY_SCOPE, 0) };
    case 'firmware':
      return firmwareParams(hes, p);
    default:
      throw usageError(`unknown command kind '${kind}'`);
  }
}

export async function cmdCommand(hes: Hes, who: string, p: Parsed, io: CliIo): Promise<number> {
  const kind = p.positionals[0]!;
  if (kind === 'list') return listCommands(hes, who, p, io);
  if (kind === 'cancel') return cancelCommand(hes, who, p, io);
  if (!(COMMAND_KINDS as readonly string[]).includes(kind))
    throw usageError(`unknown command kind '${kind}' (${COMMAND_KINDS.join(', ')}, list, cancel)`);
  // --meter all: a campaign (e.g. firmware, clock sync) queues one command per meter.
  const all = stringOpt(p, 'meter') === 'all';
  const meter = all ? 'all' : meterOpt(p);
  const params = await commandParams(hes, kind, p);
  const expiryMs = intOpt(p, 'expiry', 1, MAX_EXPIRY_S, DEFAULT_COMMAND_EXPIRY_S) * 1000;
  const targets = all ? (await hes.meterStatus()).map((m) => m.id) : [meter];
  const ids: number[] = [];
  for (const m of targets) ids.push(await hes.enqueueCommand(who, m, params, { expiryMs }));
  if (p.json) printJson(io, all ? { ids, meters: targets, kind, state: 'queued' } : { id: ids[0], meter, kind, state: 'queued' });
  else if (all)
    io.out(
      `${ids.length} ${kind} command(s) queued (ids ${ids[0]}..${ids[ids.length - 1]}); each is sent when its meter's concentrator is connected`,
    );
  else io.out(`command ${ids[0]} (${kind}) queued for meter ${meter}; it is sent when the meter's concentrator is connected`);
  return 0;
}
