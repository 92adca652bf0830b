// `vakt hes …`: head-end system and KMS (init, import, serve, command, readings, meters, audit, user, firmware).
// This file dispatches; each subcommand lives in a cli-*.ts file of its own, its options in cli-specs.ts.
import { helpText, parseCommand } from '../cli/args.ts';
import type { Parsed } from '../cli/args.ts';
import { usageError } from '../cli/io.ts';
import type { CliIo } from '../cli/io.ts';
import type { Hes } from './hes.ts';
import { Users } from './users.ts';
import { cmdUser, principalFor } from './cli-users.ts';
import { openHes } from './cli-common.ts';
import { SPECS, TOP_HELP } from './cli-specs.ts';
import { cmdCert, cmdInit } from './cli-init.ts';
import { cmdServe } from './cli-serve.ts';
import { cmdCommand } from './cli-command.ts';
import { cmdFirmware, cmdImport } from './cli-import.ts';
import { cmdAudit, cmdMeters, cmdReadings } from './cli-views.ts';

/** A subcommand that acts on the open HES as the authenticated user `me`. */
type ActingCommand = (hes: Hes, me: string, p: Parsed, io: CliIo) => Promise<number>;

/** Subcommands run as the authenticated operator (all but init, serve, user and the public certificate). */
const ACTING: { [sub: string]: ActingCommand } = {
  import: cmdImport,
  command: cmdCommand,
  readings: cmdReadings,
  meters: cmdMeters,
  audit: cmdAudit,
  firmware: cmdFirmware,
};

/** Entry point of `vakt hes`. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const sub = argv[0];
  if (sub === undefined || sub === '--help' || sub === '-h') {
    (sub === undefined ? io.err : io.out)(TOP_HELP);
    return sub === undefined ? 2 : 0;
  }
  const sp = SPECS[sub];
  if (sp === undefined) throw usageError(`unknown subcommand '${sub}' (${Object.keys(SPECS).join(', ')})`);
  const p = parseCommand(sp, argv.slice(1));
  if (p.help) {
    io.out(helpText(sp));
    return 0;
  }
  if (sub === 'init') return cmdInit(p, io);
  if (sub === 'serve') return cmdServe(p, io);
  const hes = await openHes(p, io);
  try {
    const users = new Users(hes);
    if (sub === 'user') return await cmdUser(users, p, io);
    // Everything but the public certificate acts as the authenticated operator.
    if (sub === 'cert') return cmdCert(hes, p, io);
    const me = users.actAs(await principalFor(p, users, io));
    const cmd = ACTING[sub];
    if (cmd === undefined) throw usageError(`unknown subcommand '${sub}'`);
    return await cmd(hes, me, p, io);
  } finally {
    await hes.close();
  }
}
