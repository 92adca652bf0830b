// `vakt hes init` (the database, the HES key pair and certificate, the pinned KPE key, the first
// admin) and `vakt hes cert` (print that certificate again for the KPE).
import { readFileSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { stringOpt } from '../cli/args.ts';
import type { Parsed } from '../cli/args.ts';
import { CliError, usageError } from '../cli/io.ts';
import type { CliIo } from '../cli/io.ts';
import { printJson } from '../cli/output.ts';
import { formatHesCert, parseKpePub } from '../kpe/cert.ts';
import { writeFileAtomic } from '../crypto/files.ts';
import { fromHex, toHex } from '../crypto/bytes.ts';
import { Hes } from './hes.ts';
import { createStoreKeyFile } from './storekey.ts';
import { Users, USER_NAME_RE } from './users.ts';
import { initialCredential } from './cli-users.ts';
import { dbPath, storeKey } from './cli-common.ts';

/** The store key at `hes init`: a missing --store-key-file is created (mode 0600). */
function initStoreKey(p: Parsed, io: CliIo): { key: Uint8Array; created: boolean } {
  const kf = stringOpt(p, 'store-key-file');
  if (kf !== undefined && !existsSync(resolve(io.cwd, kf))) return { key: createStoreKeyFile(resolve(io.cwd, kf)), created: true };
  return { key: storeKey(p, io), created: false };
}

/** The KPE public key to pin, from --kpe-pub; a malformed file is a CLI error naming it. */
function readKpePub(p: Parsed, io: CliIo): Uint8Array {
  const pubFile = resolve(io.cwd, stringOpt(p, 'kpe-pub', true));
  try {
    return parseKpePub(readFileSync(pubFile, 'utf8'));
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') throw e;
    throw new CliError(`${pubFile}: ${(e as Error).message}`);
  }
}

export async function cmdInit(p: Parsed, io: CliIo): Promise<number> {
  const db = dbPath(p, io);
  const { key, created } = initStoreKey(p, io);
  const kpe = readKpePub(p, io);
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
    if (created)
      io.out(`store key created in ${resolve(io.cwd, stringOpt(p, 'store-key-file')!)}: keep it outside the database and its backups`);
    io.out(`certificate ${certOut}: give it to the KPE ('vakt kpe batch --hes-cert ${certOut}')`);
  }
  return 0;
}

export function cmdCert(hes: Hes, p: Parsed, io: CliIo): number {
  const text = formatHesCert(hes.cert());
  const out = stringOpt(p, 'out');
  if (out !== undefined) writeFileAtomic(resolve(io.cwd, out), text);
  if (p.json) printJson(io, JSON.parse(text));
  else if (out === undefined) io.out(text.trimEnd());
  else io.out(`HES certificate written to ${resolve(io.cwd, out)}`);
  return 0;
}
