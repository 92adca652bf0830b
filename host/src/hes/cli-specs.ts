// `vakt hes …`: the option table of every subcommand and the top-level help text.
import type { CommandSpec, OptionSpec } from '../cli/args.ts';
import { AUTH_OPTIONS, TOKEN_ENV, USER_NOTES, USER_OPTIONS, USER_USAGE } from './cli-users.ts';
import {
  DB_ENV,
  DEFAULT_AUDIT_SHOWN,
  DEFAULT_COMMAND_EXPIRY_S,
  DEFAULT_DB,
  DEFAULT_HES_PORT,
  DEFAULT_LISTEN_HOST,
  DEFAULT_READINGS_SHOWN,
} from './cli-common.ts';
import { COMMAND_KINDS } from './commands.ts';
import { STORE_KEY_ENV } from './storekey.ts';

/** Options every `vakt hes` subcommand takes. */
const COMMON: { [name: string]: OptionSpec } = {
  db: {
    type: 'string',
    placeholder: '<file|url>',
    description: `HES database: a SQLite file, or postgres://user@host/db for several HES nodes (env ${DB_ENV})`,
    default: DEFAULT_DB,
  },
  'store-key-file': { type: 'string', placeholder: '<file>', description: `store key file (64 hex digits; or env ${STORE_KEY_ENV})` },
  ...AUTH_OPTIONS,
};

/** One subcommand's spec: its own options plus the common ones. */
function spec(
  name: string,
  summary: string,
  usage: string,
  options: { [k: string]: OptionSpec },
  extra: Partial<CommandSpec> = {},
): CommandSpec {
  return { name: `vakt hes ${name}`, summary, usage, options: { ...options, ...COMMON }, ...extra };
}

/** Every `vakt hes` subcommand, in the order the top help lists them. */
export const SPECS: { [sub: string]: CommandSpec } = {
  init: spec(
    'init',
    'create the HES database, its X25519 key pair (the HES certificate) and pin the KPE key',
    '--kpe-pub <file> [--db <file>] [--store-key-file <file>] [--cert-out <file>] [--admin <name>]',
    {
      'kpe-pub': { type: 'string', placeholder: '<file>', description: "the KPE public key ('vakt kpe init' wrote kpe.pub) to pin" },
      'cert-out': {
        type: 'string',
        placeholder: '<file>',
        description: 'where to write the HES certificate for the KPE',
        default: 'hes.cert.json',
      },
      admin: { type: 'string', placeholder: '<name>', description: 'first user, with the admin role', default: 'admin' },
      'token-out': {
        type: 'string',
        placeholder: '<file>',
        description: "write the first admin's one-time token to this file (mode 0600) instead of printing it",
      },
      'hes-id': { type: 'string', placeholder: '<hex16>', description: 'HES id (default: random)' },
    },
    {
      notes: [
        'A missing --store-key-file is created (mode 0600). Keep it outside the database and its backups: without it nothing can be decrypted.',
        'The first admin: on a terminal you set its password; otherwise (or with --token-out) an admin API token is shown once.',
      ],
    },
  ),
  cert: spec('cert', 'print the HES certificate (id and X25519 public key) for the KPE', '[--out <file>]', {
    out: { type: 'string', placeholder: '<file>', description: 'write it to a file instead of stdout' },
  }),
  import: spec(
    'import',
    'import a key shipment from the KPE (signed, encrypted, once)',
    '<shipment.vks>',
    {},
    { positionals: { min: 1, max: 1, names: '<shipment.vks>' } },
  ),
  serve: spec('serve', 'serve concentrators over TCP (COBS + CRC-16 framed link frames)', '--port <p> [--host <addr>]', {
    port: { type: 'string', placeholder: '<p>', description: 'TCP port (0 = any free port)', default: String(DEFAULT_HES_PORT) },
    host: { type: 'string', placeholder: '<addr>', description: 'listen address', default: DEFAULT_LISTEN_HOST },
    duration: { type: 'string', placeholder: '<s>', description: 'stop after this many seconds (default: until Ctrl-C)' },
    http: {
      type: 'string',
      placeholder: '<port>',
      description: 'also serve the HTTP API and web console on this port (0 = any free port)',
    },
    'http-host': {
      type: 'string',
      placeholder: '<addr>',
      description: 'HTTP listen address (put TLS in front of it before leaving loopback)',
      default: DEFAULT_LISTEN_HOST,
    },
    node: {
      type: 'string',
      placeholder: '<name>',
      description:
        "this node's name: one `hes serve` per name and store; on PostgreSQL give every node its own (its lease, its command claims)",
      default: 'hes',
    },
  }),
  command: spec(
    'command',
    'queue a command for a meter, or list / cancel commands',
    `<${COMMAND_KINDS.join('|')}|list|cancel> --meter <id> [...]`,
    {
      meter: { type: 'string', placeholder: '<id>', description: "meter id (16 hex digits), or 'all' for a campaign" },
      state: { type: 'string', placeholder: '<s>', description: 'relay: 0 disconnect, 1 reconnect; list: filter by state' },
      tariff: { type: 'string', placeholder: '<n>', description: 'config: tariff id' },
      'push-interval': { type: 'string', placeholder: '<s>', description: 'config: push interval in seconds' },
      from: { type: 'string', placeholder: '<seq>', description: 'gapfill: first load-profile interval' },
      to: { type: 'string', placeholder: '<seq>', description: 'gapfill: last load-profile interval' },
      scope: {
        type: 'string',
        placeholder: '<op>',
        description: 'key_update: 0 = all keys (master key), or one operation id 1..9',
        default: '0',
      },
      sha256: { type: 'string', placeholder: '<hex>', description: "firmware: image digest from 'vakt hes firmware add'" },
      id: { type: 'string', placeholder: '<n>', description: 'cancel: command id' },
      expiry: {
        type: 'string',
        placeholder: '<s>',
        description: 'seconds before an unanswered command expires',
        default: String(DEFAULT_COMMAND_EXPIRY_S),
      },
    },
    {
      positionals: { min: 1, max: 1, names: '<kind>' },
      notes: [
        'Rights: read/gapfill/config/clock need operator; relay, firmware and key_update need admin.',
        'A key update keeps the old key valid until the meter confirms the new one; a lost confirmation is retried.',
      ],
      examples: [
        'VAKT_TOKEN_FILE=~/.vakt-token vakt hes command relay --meter 0a1b2c3d4e5f6071 --state 0',
        'vakt hes command key_update --meter 0a1b2c3d4e5f6071 --scope 0',
        'vakt hes firmware add fw-7.bin --version 7 && vakt hes command firmware --sha256 <hex> --meter all',
        'vakt hes command list --meter 0a1b2c3d4e5f6071',
      ],
    },
  ),
  readings: spec('readings', 'print stored readings of a meter', '--meter <id> [--limit <n>]', {
    meter: { type: 'string', placeholder: '<id>', description: 'meter id' },
    limit: { type: 'string', placeholder: '<n>', description: 'newest n readings', default: String(DEFAULT_READINGS_SHOWN) },
  }),
  meters: spec('meters', 'list meters with their key generation and authentication status (WRONG KEY shows here)', '', {}),
  audit: spec('audit', 'print or verify the tamper-evident audit log', '[--verify] [--limit <n>]', {
    verify: { type: 'boolean', description: 'recompute the MAC chain and the head; exit 1 when anything was altered' },
    head: { type: 'boolean', description: 'print the head "seq:mac" to keep outside the database' },
    anchor: {
      type: 'string',
      placeholder: '<seq:mac>',
      description: 'with --verify: a head printed earlier by --head must still be in the chain (detects a rollback)',
    },
    limit: { type: 'string', placeholder: '<n>', description: 'entries to print', default: String(DEFAULT_AUDIT_SHOWN) },
    from: { type: 'string', placeholder: '<seq>', description: 'first entry to print', default: '1' },
  }),
  user: spec('user', 'operators: add, passwd, token, revoke, list (admin; passwd and token also for yourself)', USER_USAGE, USER_OPTIONS, {
    positionals: { min: 1, max: 2, names: '<action> [<name>]' },
    notes: USER_NOTES,
  }),
  firmware: spec(
    'firmware',
    'store a firmware image for an update campaign (admin only)',
    'add <file> --version <n>',
    {
      version: { type: 'string', placeholder: '<n>', description: 'firmware version number' },
    },
    { positionals: { min: 2, max: 2, names: 'add <file>' } },
  ),
};

/** `vakt hes` without a subcommand, or with --help. */
export const TOP_HELP = [
  'vakt hes — head-end system with its key management service',
  '',
  'Usage: vakt hes <subcommand> [options]     vakt hes <subcommand> --help',
  '',
  ...Object.entries(SPECS).map(([k, s]) => `  ${k.padEnd(9)} ${s.summary}`),
  '',
  `Common options: --db <file> (env ${DB_ENV}), --store-key-file <file> (or env ${STORE_KEY_ENV}), --json.`,
  `You act as an authenticated user: --token-file <file>, env ${TOKEN_ENV}, or a login prompt on a terminal.`,
].join('\n');
