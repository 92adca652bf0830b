// `vakt hes` authentication: who runs a command (token file, VAKT_TOKEN, or a login prompt on a
// terminal — never a name typed on the command line), the first admin's credential at `hes init`,
// and `vakt hes user add|passwd|token|revoke|list`.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { stringOpt } from '../cli/args.ts';
import type { OptionSpec, Parsed } from '../cli/args.ts';
import { CliError, usageError } from '../cli/io.ts';
import type { CliIo } from '../cli/io.ts';
import { printJson, printTable } from '../cli/output.ts';
import { writeFileAtomic } from '../crypto/files.ts';
import { isRole, ROLES } from './roles.ts';
import type { Role } from './roles.ts';
import { AuthError, UserInputError, Users } from './users.ts';
import type { Principal } from './users.ts';

export const TOKEN_ENV = 'VAKT_TOKEN';
export const TOKEN_FILE_ENV = 'VAKT_TOKEN_FILE';

export const AUTH_OPTIONS: { [name: string]: OptionSpec } = {
  'token-file': {
    type: 'string',
    placeholder: '<file>',
    description: `file holding your API token (or env ${TOKEN_FILE_ENV}, or the token in ${TOKEN_ENV}; on a terminal you are asked to log in)`,
  },
};

export const USER_OPTIONS: { [name: string]: OptionSpec } = {
  role: {
    type: 'string',
    placeholder: '<role>',
    description: "add: viewer, operator or admin; token: scope the token to this role (at most the user's)",
  },
  'password-stdin': { type: 'boolean', description: 'add/passwd: read the password from standard input (else asked on the terminal)' },
  expires: { type: 'string', placeholder: '<days>', description: 'token: lifetime in days', default: '90' },
  label: { type: 'string', placeholder: '<text>', description: 'token: what the token is for' },
  out: { type: 'string', placeholder: '<file>', description: 'token: write the token to this file (mode 0600) instead of printing it' },
  'token-id': {
    type: 'string',
    placeholder: '<id>',
    description: "revoke: one token (16 hex digits) instead of all of the user's tokens and sessions",
  },
};

export const USER_USAGE = '<add|passwd|token|revoke|list> [<name>] [--role <r>] [--password-stdin] [--expires <days>] [--token-id <id>]';
export const USER_NOTES = [
  'add: a new user or a new role (admin only). passwd: an admin for anyone, a user for itself.',
  'token: an API token for scripts and the HTTP API, printed once (only its hash is stored); scoped to a role, expiring.',
  'revoke: every token and browser session of <name>, or one --token-id.',
];

/** Translates users.ts errors into CLI errors (bad input → exit 2, refused login → exit 1). */
function cliErr(e: unknown): never {
  if (e instanceof UserInputError) throw usageError(e.message);
  if (e instanceof AuthError) throw new CliError(e.message);
  throw e;
}

/** The authenticated operator running this command. */
export async function principalFor(p: Parsed, users: Users, io: CliIo): Promise<Principal> {
  const file = stringOpt(p, 'token-file') ?? io.env[TOKEN_FILE_ENV];
  const token = file !== undefined ? readFileSync(resolve(io.cwd, file), 'utf8').trim() : io.env[TOKEN_ENV];
  try {
    if (token !== undefined && token !== '') return await users.authenticateToken(token, Date.now(), 'cli');
    if (io.prompt !== undefined) {
      const name = (await io.prompt('vakt user: ', false)).trim();
      return await users.login(name, await io.prompt('password: ', true), 'cli');
    }
  } catch (e) {
    cliErr(e);
  }
  throw new CliError(
    `not logged in: give --token-file <file>, set ${TOKEN_ENV} or ${TOKEN_FILE_ENV} (tokens: 'vakt hes user token'), or run on a terminal to log in`,
  );
}

async function readPassword(p: Parsed, io: CliIo, confirm: boolean): Promise<string> {
  if (p.values['password-stdin'] === true) {
    if (io.readStdin === undefined) throw usageError('--password-stdin: no standard input');
    return (await io.readStdin()).split(/\r?\n/)[0] ?? '';
  }
  if (io.prompt === undefined) throw usageError('give the password with --password-stdin (no terminal to ask on)');
  const pw = await io.prompt('new password: ', true);
  if (confirm && (await io.prompt('again: ', true)) !== pw) throw new CliError('the two passwords differ; nothing changed');
  return pw;
}

/** Writes a token to a new 0600 file (--out / --token-out), or prints it once; with --json returns what to print. */
function handOver(io: CliIo, p: Parsed, t: { id: string; token: string; role: Role; expiresMs: number }, user: string): HandedToken {
  const out = stringOpt(p, 'out') ?? stringOpt(p, 'token-out');
  if (out !== undefined) writeFileAtomic(resolve(io.cwd, out), t.token + '\n', 0o600);
  const info = { user, id: t.id, role: t.role, expires: new Date(t.expiresMs).toISOString() };
  if (out !== undefined) {
    if (!p.json) io.out(`token ${t.id} for ${user} (${t.role}, until ${info.expires}) written to ${resolve(io.cwd, out)}`);
    return { ...info, file: resolve(io.cwd, out) };
  }
  if (!p.json) {
    io.out(`token ${t.id} for ${user} (${t.role}, until ${info.expires}); shown once, store it now:`);
    io.out(t.token);
  }
  return { ...info, token: t.token };
}

export interface HandedToken {
  user: string;
  id: string;
  role: Role;
  expires: string;
  token?: string;
  file?: string;
}

/** Lifetime of the first admin's token from `hes init`: long enough to set up the operators. */
const INIT_TOKEN_MS = 30 * 86400_000;

/**
 * The first admin's credential at `hes init`: on a terminal a password (asked twice); otherwise,
 * or with --token-out or --json, an admin API token shown once (only its hash is stored).
 */
export async function initialCredential(users: Users, admin: string, p: Parsed, io: CliIo): Promise<HandedToken | undefined> {
  try {
    if (io.prompt !== undefined && stringOpt(p, 'token-out') === undefined && !p.json) {
      io.out(`set a password for the admin user '${admin}'`);
      const pw = await readPassword(p, io, true);
      await users.add({ user: admin, role: 'admin', tokenId: null, via: 'password' }, admin, 'admin', pw);
      io.out(`admin '${admin}' can now log in (vakt hes commands ask on the terminal; 'vakt hes user token ${admin}' for scripts)`);
      return undefined;
    }
    return handOver(io, p, await users.createToken('init', admin, { ttlMs: INIT_TOKEN_MS, label: 'hes init' }), admin);
  } catch (e) {
    return cliErr(e);
  }
}

/** `vakt hes user …` */
export async function cmdUser(users: Users, p: Parsed, io: CliIo): Promise<number> {
  const [verb, name] = p.positionals;
  const me = await principalFor(p, users, io);
  try {
    switch (verb) {
      case 'list': {
        await users.require(me, 'users', 'users');
        const rows = await users.list();
        if (p.json) printJson(io, { users: rows, tokens: await users.tokens() });
        else
          printTable(
            io,
            ['user', 'role', 'password', 'tokens'],
            rows.map((r) => [r.name, r.role, r.password ? 'yes' : 'no', r.tokens]),
          );
        return 0;
      }
      case 'add': {
        const role = stringOpt(p, 'role', true);
        if (!isRole(role)) throw usageError(`--role must be ${ROLES.join(', ')}, got '${role}'`);
        if (name === undefined) throw usageError('usage: vakt hes user add <name> --role <role>');
        const pw = p.values['password-stdin'] === true || io.prompt !== undefined ? await readPassword(p, io, true) : undefined;
        await users.add(me, name, role, pw);
        if (p.json) printJson(io, { user: name, role, password: pw !== undefined });
        else io.out(`user ${name} is now ${role}${pw === undefined ? " (no password yet: 'vakt hes user passwd' or 'user token')" : ''}`);
        return 0;
      }
      case 'passwd': {
        const who = name ?? me.user;
        await users.setPassword(me, who, await readPassword(p, io, true));
        if (p.json) printJson(io, { user: who, password: true });
        else io.out(`password of ${who} changed`);
        return 0;
      }
      case 'token': {
        const who = name ?? me.user;
        const role = stringOpt(p, 'role');
        if (role !== undefined && !isRole(role)) throw usageError(`--role must be ${ROLES.join(', ')}, got '${role}'`);
        const days = Number(stringOpt(p, 'expires'));
        if (!(days > 0 && days <= 3650)) throw usageError('--expires must be a number of days between 0 and 3650');
        const label = stringOpt(p, 'label');
        const t = handOver(
          io,
          p,
          await users.createToken(me, who, {
            ...(role !== undefined ? { role } : {}),
            ttlMs: Math.round(days * 86400_000),
            ...(label !== undefined ? { label } : {}),
          }),
          who,
        );
        if (p.json) printJson(io, t);
        return 0;
      }
      case 'revoke': {
        const id = stringOpt(p, 'token-id');
        if (id === undefined && name === undefined) throw usageError('usage: vakt hes user revoke <name> | --token-id <id>');
        const n = await users.revoke(me, id !== undefined ? { tokenId: id } : { user: name! });
        if (p.json) printJson(io, { revoked: n });
        else io.out(`${n} token(s)/session(s) revoked`);
        return 0;
      }
      default:
        throw usageError(`unknown user action '${verb}' (add, passwd, token, revoke, list)`);
    }
  } catch (e) {
    return cliErr(e);
  }
}
