// `vakt hes …`: head-end system and KMS (init, import, serve, command, readings, meters, audit, user, firmware).
import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { helpText, intOpt, numberOpt, parseCommand, stringOpt } from '../cli/args.ts';
import type { CommandSpec, OptionSpec, Parsed } from '../cli/args.ts';
import { CliError, usageError } from '../cli/io.ts';
import type { CliIo } from '../cli/io.ts';
import { printJson, printTable } from '../cli/output.ts';
import { Hes, HesError } from './hes.ts';
import { HesServer } from './server.ts';
import { ServeLease, LEASE_RENEW_MS } from './lease.ts';
import { isPostgresUrl } from './store/open.ts';
import { loadStoreKey, createStoreKeyFile, STORE_KEY_ENV } from './storekey.ts';
import { Users, USER_NAME_RE } from './users.ts';
import { AUTH_OPTIONS, cmdUser, initialCredential, principalFor, TOKEN_ENV, USER_NOTES, USER_OPTIONS, USER_USAGE } from './cli-users.ts';
import { COMMAND_KINDS, COMMAND_STATES } from './commands.ts';
import type { CommandParams, CommandState } from './commands.ts';
import { formatHesCert, parseKpePub } from '../kpe/cert.ts';
import { writeFileAtomic } from '../crypto/files.ts';
import { fromHex, toHex } from '../crypto/bytes.ts';
import { ShipmentError } from '../crypto/shipment.ts';

/** Longest `hes serve --duration` (one year, in seconds). */
const MAX_DURATION_S = 365 * 24 * 3600;
/** Refusals printed by `hes serve` before it falls silent (all of them are in the audit log). */
const MAX_REFUSALS_SHOWN = 1000;

const COMMON: { [name: string]: OptionSpec } = {
  db: {
    type: 'string',
    placeholder: '<file|url>',
    description: 'HES database: a SQLite file, or postgres://user@host/db for several HES nodes (env VAKT_HES_DB)',
    default: 'hes.db',
  },
  'store-key-file': { type: 'string', placeholder: '<file>', description: `store key file (64 hex digits; or env ${STORE_KEY_ENV})` },
  ...AUTH_OPTIONS,
};

function spec(
  name: string,
  summary: string,
  usage: string,
  options: { [k: string]: OptionSpec },
  extra: Partial<CommandSpec> = {},
): CommandSpec {
  return { name: `vakt hes ${name}`, summary, usage, options: { ...options, ...COMMON }, ...extra };
}

const SPECS: { [sub: string]: CommandSpec } = {
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
    port: { type: 'string', placeholder: '<p>', description: 'TCP port (0 = any free port)', default: '4059' },
    host: { type: 'string', placeholder: '<addr>', description: 'listen address', default: '127.0.0.1' },
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
      default: '127.0.0.1',
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
      expiry: { type: 'string', placeholder: '<s>', description: 'seconds before an unanswered command expires', default: '86400' },
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
    limit: { type: 'string', placeholder: '<n>', description: 'newest n readings', default: '20' },
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
    limit: { type: 'string', placeholder: '<n>', description: 'entries to print', default: '50' },
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

const TOP = [
  'vakt hes — head-end system with its key management service',
  '',
  'Usage: vakt hes <subcommand> [options]     vakt hes <subcommand> --help',
  '',
  ...Object.entries(SPECS).map(([k, s]) => `  ${k.padEnd(9)} ${s.summary}`),
  '',
  `Common options: --db <file> (env VAKT_HES_DB), --store-key-file <file> (or env ${STORE_KEY_ENV}), --json.`,
  `You act as an authenticated user: --token-file <file>, env ${TOKEN_ENV}, or a login prompt on a terminal.`,
].join('\n');

function dbPath(p: Parsed, io: CliIo): string {
  const loc = stringOpt(p, 'db') !== 'hes.db' ? stringOpt(p, 'db')! : (io.env.VAKT_HES_DB ?? 'hes.db');
  // A PostgreSQL URL is a location, not a path relative to the working directory.
  return isPostgresUrl(loc) ? loc : resolve(io.cwd, loc);
}

function storeKey(p: Parsed, io: CliIo): Uint8Array {
  const f = stringOpt(p, 'store-key-file');
  try {
    return loadStoreKey(f === undefined ? undefined : resolve(io.cwd, f), io.env as NodeJS.ProcessEnv);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
}

function openHes(p: Parsed, io: CliIo, node?: string): Promise<Hes> {
  return Hes.open({ dbPath: dbPath(p, io), storeKey: storeKey(p, io), ...(node !== undefined ? { node } : {}) });
}

function meterOpt(p: Parsed): string {
  const m = stringOpt(p, 'meter', true).toLowerCase();
  if (!/^[0-9a-f]{16}$/.test(m)) throw usageError(`--meter must be 16 hex digits, got '${m}'`);
  return m;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** Entry point of `vakt hes`. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const sub = argv[0];
  if (sub === undefined || sub === '--help' || sub === '-h') {
    (sub === undefined ? io.err : io.out)(TOP);
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
    // Everything below but the public certificate acts as the authenticated operator.
    const me = sub === 'cert' ? '' : users.actAs(await principalFor(p, users, io));
    switch (sub) {
      case 'cert': {
        const text = formatHesCert(hes.cert());
        const out = stringOpt(p, 'out');
        if (out !== undefined) writeFileAtomic(resolve(io.cwd, out), text);
        if (p.json) printJson(io, JSON.parse(text));
        else if (out === undefined) io.out(text.trimEnd());
        else io.out(`HES certificate written to ${resolve(io.cwd, out)}`);
        return 0;
      }
      case 'import': {
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
      case 'command':
        return await cmdCommand(hes, me, p, io);
      case 'readings': {
        await hes.require(me, 'view', 'readings');
        const rows = await hes.readings(meterOpt(p), intOpt(p, 'limit', 1, 100_000, 20));
        if (p.json) printJson(io, { meter: meterOpt(p), readings: rows });
        else
          printTable(
            io,
            ['seq', 'time', 'Wh', 'W'],
            rows.map((r) => [r.seq, new Date(r.t * 1000).toISOString(), r.wh, r.w]),
          );
        return 0;
      }
      case 'meters': {
        await hes.require(me, 'view', 'meters');
        const rows = await hes.meterStatus();
        if (p.json) printJson(io, { meters: rows });
        else
          printTable(
            io,
            ['meter', 'concentrator', 'readings', 'last seq', 'key gen', 'status'],
            rows.map((r) => [r.id, r.concentrator, r.readings, r.maxSeq, r.keyGen, r.status]),
          );
        return 0;
      }
      case 'audit': {
        await hes.require(me, 'view', 'audit');
        if (p.values.head === true) {
          const h = await hes.audit.headString();
          if (p.json) printJson(io, { head: h });
          else io.out(h);
          return 0;
        }
        if (p.values.verify === true) {
          const anchor = stringOpt(p, 'anchor');
          const r = anchor === undefined ? await hes.audit.verify() : await hes.audit.verifyAgainst(anchor);
          if (p.json) printJson(io, r);
          else io.out(r.ok ? `audit log intact: ${r.entries} entries, chain and head verified` : `AUDIT LOG ALTERED: ${r.error}`);
          return r.ok ? 0 : 1;
        }
        const rows = await hes.audit.list(intOpt(p, 'from', 1, Number.MAX_SAFE_INTEGER, 1), intOpt(p, 'limit', 1, 1_000_000, 50));
        if (p.json) printJson(io, { entries: rows });
        else
          printTable(
            io,
            ['seq', 'time', 'actor', 'action', 'subject', 'detail'],
            rows.map((r) => [
              r.seq,
              new Date(r.tsMs).toISOString(),
              r.actor,
              r.action,
              r.subject,
              r.detail.length > 80 ? r.detail.slice(0, 77) + '...' : r.detail,
            ]),
          );
        return 0;
      }
      case 'firmware': {
        if (p.positionals[0] !== 'add') throw usageError('usage: vakt hes firmware add <file> --version <n>');
        const data = new Uint8Array(readFileSync(resolve(io.cwd, p.positionals[1]!)));
        const version = intOpt(p, 'version', 0, 2 ** 32 - 1, -1);
        if (version < 0) throw usageError('missing required option --version');
        const sha = await hes.addFirmware(me, data, version);
        if (p.json) printJson(io, { sha256: sha, size: data.length, version });
        else
          io.out(
            `firmware ${sha} (${data.length} bytes, version ${version}) stored; start a campaign with 'vakt hes command firmware --sha256 ${sha} --meter <id>'`,
          );
        return 0;
      }
    }
    throw usageError(`unknown subcommand '${sub}'`);
  } finally {
    await hes.close();
  }
}

async function cmdInit(p: Parsed, io: CliIo): Promise<number> {
  const db = dbPath(p, io);
  const kf = stringOpt(p, 'store-key-file');
  let key: Uint8Array;
  let created = false;
  if (kf !== undefined && !existsSync(resolve(io.cwd, kf))) {
    key = createStoreKeyFile(resolve(io.cwd, kf));
    created = true;
  } else key = storeKey(p, io);
  const pubFile = resolve(io.cwd, stringOpt(p, 'kpe-pub', true));
  let kpe: Uint8Array;
  try {
    kpe = parseKpePub(readFileSync(pubFile, 'utf8'));
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') throw e;
    throw new CliError(`${pubFile}: ${(e as Error).message}`);
  }
  const hesIdHex = stringOpt(p, 'hes-id');
  if (hesIdHex !== undefined && !/^[0-9a-fA-F]{16}$/.test(hesIdHex)) throw usageError('--hes-id must be 16 hex digits');
  const admin = stringOpt(p, 'admin') ?? 'admin';
  if (!USER_NAME_RE.test(admin))
    throw usageError(`--admin must be 1–32 of a-z 0-9 . _ - starting with a letter, got ${JSON.stringify(admin.slice(0, 40))}`);
  let adminToken: { id: string; token?: string; file?: string } | undefined;
  const { hes, cert } = await Hes.init({
    dbPath: db,
    storeKey: key,
    kpePublicKeys: [kpe],
    adminUser: admin,
    ...(hesIdHex !== undefined ? { hesId: fromHex(hesIdHex) } : {}),
  });
  try {
    // The store key holder sets up the first admin; nothing printed repeats a password.
    adminToken = await initialCredential(new Users(hes), admin, p, io);
  } finally {
    await hes.close();
  }
  const certOut = resolve(io.cwd, stringOpt(p, 'cert-out') ?? 'hes.cert.json');
  writeFileAtomic(certOut, formatHesCert(cert));
  if (p.json)
    printJson(io, { db, hesId: toHex(cert.hesId), x25519: toHex(cert.x25519), cert: certOut, storeKeyCreated: created, admin, adminToken });
  else {
    io.out(`HES ${toHex(cert.hesId)} created in ${db} (admin user '${admin}')`);
    if (created) io.out(`store key created in ${resolve(io.cwd, kf!)}: keep it outside the database and its backups`);
    io.out(`certificate ${certOut}: give it to the KPE ('vakt kpe batch --hes-cert ${certOut}')`);
  }
  return 0;
}

async function cmdServe(p: Parsed, io: CliIo): Promise<number> {
  const port = intOpt(p, 'port', 0, 65535, 4059);
  const host = stringOpt(p, 'host') ?? '127.0.0.1';
  const durS = numberOpt(p, 'duration', 0, MAX_DURATION_S, 0);
  const httpPort = stringOpt(p, 'http') === undefined ? undefined : intOpt(p, 'http', 0, 65535, 0);
  const node = stringOpt(p, 'node') ?? 'hes';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(node))
    throw usageError(`--node must be 1-64 letters, digits, '.', '_' or '-', got '${node}'`);
  const hes = await openHes(p, io, node);
  // One `hes serve` per node name and store: a second one stops here with one line.
  let lease: ServeLease;
  try {
    lease = await ServeLease.acquire(hes.store, dbPath(p, io).replace(/:\/\/([^:/@]*):[^@]*@/, '://$1:***@'), node);
  } catch (e) {
    await hes.close();
    throw e;
  }
  // Refusals are printed as they happen, in words (a wrong key says WRONG KEY, not silence).
  let shown = 0;
  const srv = new HesServer(hes, {
    host,
    port,
    log: p.json ? undefined : (l) => io.err(l),
    onResult: (r) => {
      if (!r.ok && !p.json && shown < MAX_REFUSALS_SHOWN) {
        shown++;
        io.err(`refused ${r.error}: ${r.message}${shown === MAX_REFUSALS_SHOWN ? ' (further refusals only in the audit log)' : ''}`);
      }
    },
  });
  let web: { url: string; close(): Promise<void> } | undefined;
  let renew: NodeJS.Timeout | null = null;
  try {
    const actual = await srv.listen();
    if (!p.json) io.out(`HES ${toHex(hes.hesId)} listening on ${host}:${actual} (Ctrl-C to stop)`);
    if (httpPort !== undefined) {
      const { startHttp } = await import('../http/server.ts');
      web = await startHttp(hes, { host: stringOpt(p, 'http-host') ?? '127.0.0.1', port: httpPort });
      if (!p.json) io.out(`web console and HTTP API on ${web.url} (log in with a user's password, or a token as 'Authorization: Bearer')`);
      if (!p.json && !isLoopback(stringOpt(p, 'http-host') ?? '127.0.0.1'))
        io.err(
          'warning: the HTTP API is served without TLS beyond this machine: put a TLS proxy in front of it (passwords and tokens cross the network)',
        );
    }
    let lostLease = false;
    await new Promise<void>((res) => {
      if (io.signal.aborted) return res();
      io.signal.addEventListener('abort', () => res(), { once: true });
      if (durS > 0) setTimeout(res, durS * 1000).unref();
      renew = setInterval(() => {
        lease.renew().then(
          (held) => {
            if (held) return;
            lostLease = true;
            res();
          },
          (e: unknown) => io.err(`lease renewal failed: ${(e as Error).message}`),
        );
      }, LEASE_RENEW_MS);
    });
    await web?.close();
    await srv.close();
    if (lostLease) throw new HesError('another vakt hes serve took over this database; stopped sealing');
    const counts = Object.fromEntries(srv.counts);
    if (p.json) printJson(io, { port: actual, counts, ...(web !== undefined ? { http: web.url } : {}) });
    else io.out(`stopped; frames: ${JSON.stringify(counts)}`);
    return 0;
  } finally {
    if (renew !== null) clearInterval(renew);
    await lease.release();
    await hes.close();
  }
}

async function cmdCommand(hes: Hes, who: string, p: Parsed, io: CliIo): Promise<number> {
  const kind = p.positionals[0]!;
  if (kind === 'list') {
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
  if (kind === 'cancel') {
    const id = intOpt(p, 'id', 1, Number.MAX_SAFE_INTEGER, 0);
    if (id === 0) throw usageError('missing required option --id');
    await hes.cancelCommand(who, id);
    if (p.json) printJson(io, { cancelled: id });
    else io.out(`command ${id} cancelled`);
    return 0;
  }
  if (!(COMMAND_KINDS as readonly string[]).includes(kind))
    throw usageError(`unknown command kind '${kind}' (${COMMAND_KINDS.join(', ')}, list, cancel)`);
  // --meter all: a campaign (e.g. firmware, clock sync) queues one command per meter.
  const all = stringOpt(p, 'meter') === 'all';
  const meter = all ? 'all' : meterOpt(p);
  const num = (n: string, min: number, max: number): number => {
    const v = intOpt(p, n, min, max, -1);
    if (v < 0) throw usageError(`missing required option --${n}`);
    return v;
  };
  let params: CommandParams;
  switch (kind) {
    case 'read':
      params = { kind: 'read' };
      break;
    case 'gapfill':
      params = { kind: 'gapfill', from: num('from', 0, 2 ** 32 - 1), to: num('to', 0, 2 ** 32 - 1) };
      break;
    case 'relay':
      params = { kind: 'relay', state: num('state', 0, 1) as 0 | 1 };
      break;
    case 'config': {
      const t = stringOpt(p, 'tariff');
      const pi = stringOpt(p, 'push-interval');
      params = {
        kind: 'config',
        ...(t !== undefined ? { tariff: num('tariff', 0, 65535) } : {}),
        ...(pi !== undefined ? { pushInterval: num('push-interval', 1, 86400) } : {}),
      };
      break;
    }
    case 'clock':
      params = { kind: 'clock' };
      break;
    case 'key_update':
      params = { kind: 'key_update', scope: intOpt(p, 'scope', 0, 9, 0) };
      break;
    case 'firmware': {
      const sha = (stringOpt(p, 'sha256', true) ?? '').toLowerCase();
      const img = /^[0-9a-f]{64}$/.test(sha) ? await hes.store.firmwareImage(fromHex(sha)) : undefined;
      const row = img === undefined ? undefined : { version: img.version, size: img.data.length };
      if (row === undefined) throw new CliError(`firmware ${sha} is not stored; add it with 'vakt hes firmware add <file> --version <n>'`);
      params = { kind: 'firmware', sha256: sha, size: row.size, version: row.version };
      break;
    }
    default:
      throw usageError(`unknown command kind '${kind}'`);
  }
  const expiryMs = intOpt(p, 'expiry', 1, 365 * 86400, 86400) * 1000;
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
