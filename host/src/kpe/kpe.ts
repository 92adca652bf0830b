// Key production environment: the KPE signing key, device ids and keys, provisioning images, shipments.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { randomBytes, toHex, fromHex, utf8 } from '../crypto/bytes.ts';
import { gcmSeal, gcmOpen } from '../crypto/aead.ts';
import { scryptSync } from 'node:crypto';
import { writeFileAtomic, refuseOverwrite } from '../crypto/files.ts';
import { sealShipment } from '../crypto/shipment.ts';
import { ADDR_MAX, ADDR_MIN, encodePayload, ID_LEN, KEY_LEN } from './payload.ts';
import type { MeterKeys, ConcentratorKeys } from './payload.ts';
import { meterImage, concentratorImage } from './image.ts';
import { formatKpePub } from './cert.ts';
import type { HesCert } from './cert.ts';

export const KPE_KEY_FILE = 'kpe.key';
export const KPE_PUB_FILE = 'kpe.pub';
export const KPE_STATE_FILE = 'kpe.state.json';
/** Environment variable holding the KPE key passphrase (CLI). */
export const KPE_PASSPHRASE_ENV = 'VAKT_KPE_PASSPHRASE';
export const INITIAL_LINK_GEN = 0;
export const MAX_SEQ = 0xffffffff;

export interface KpeState {
  nextSeq: number;
  issued: string[];
}

/** An opened KPE directory. */
export interface Kpe {
  dir: string;
  secret: Uint8Array;
  pub: Uint8Array;
}

// scrypt cost for a passphrase-protected KPE key (RFC 7914; N = 2^15, r = 8: ~32 MiB, ~0.1 s).
const SCRYPT_N = 1 << 15;
const SCRYPT_R = 8;
const SCRYPT_P = 1;
const SCRYPT_MAXMEM = 64 * 1024 * 1024;
const KEY_FILE_AAD = utf8('vakt-kpe-key-v1');

function passKey(passphrase: string, salt: Uint8Array): Uint8Array {
  return new Uint8Array(
    scryptSync(passphrase.normalize('NFC'), salt, 32, { N: SCRYPT_N, r: SCRYPT_R, p: SCRYPT_P, maxmem: SCRYPT_MAXMEM }),
  );
}

/**
 * Creates a KPE directory with a fresh Ed25519 signing key; refuses to overwrite an existing one.
 * With a passphrase the key file holds the seed encrypted (scrypt + AES-256-GCM), otherwise in clear (mode 0600).
 */
export function initKpe(dir: string, passphrase?: string): Kpe {
  mkdirSync(dir, { recursive: true });
  refuseOverwrite(join(dir, KPE_KEY_FILE));
  const secret = ed25519.utils.randomSecretKey();
  const pub = ed25519.getPublicKey(secret);
  let keyJson: Record<string, unknown>;
  if (passphrase !== undefined && passphrase !== '') {
    const salt = randomBytes(16);
    const k = passKey(passphrase, salt);
    keyJson = {
      format: 'vakt-kpe-key',
      version: 1,
      note: 'KPE signing key, encrypted under a passphrase',
      kdf: 'scrypt',
      N: SCRYPT_N,
      r: SCRYPT_R,
      p: SCRYPT_P,
      salt: toHex(salt),
      sealed: toHex(gcmSeal(k, secret, KEY_FILE_AAD)),
    };
    k.fill(0);
  } else {
    keyJson = { format: 'vakt-kpe-key', version: 1, note: 'GENERATED SECRET: KPE signing key, keep offline', ed25519Secret: toHex(secret) };
  }
  writeFileAtomic(join(dir, KPE_KEY_FILE), JSON.stringify(keyJson, null, 2) + '\n', 0o600);
  writeFileAtomic(join(dir, KPE_PUB_FILE), formatKpePub(pub));
  writeFileAtomic(join(dir, KPE_STATE_FILE), JSON.stringify({ nextSeq: 1, issued: [] } satisfies KpeState) + '\n');
  return { dir, secret, pub };
}

/** Opens a KPE directory (with the passphrase if its key is protected); throws an Error naming the problem. */
export function openKpe(dir: string, passphrase?: string): Kpe {
  const p = join(dir, KPE_KEY_FILE);
  if (!existsSync(p)) throw new Error(`no KPE at ${dir} (run "vakt kpe init --dir ${dir}")`);
  let o: { ed25519Secret?: unknown; kdf?: unknown; N?: unknown; r?: unknown; p?: unknown; salt?: unknown; sealed?: unknown };
  try {
    o = JSON.parse(readFileSync(p, 'utf8'));
  } catch {
    throw new Error(`${p} is damaged (not JSON)`);
  }
  let secret: Uint8Array;
  if (o.kdf === 'scrypt') {
    if (passphrase === undefined || passphrase === '')
      throw new Error(`the KPE key in ${p} is passphrase-protected: set ${KPE_PASSPHRASE_ENV}`);
    if (o.N !== SCRYPT_N || o.r !== SCRYPT_R || o.p !== SCRYPT_P || typeof o.salt !== 'string' || typeof o.sealed !== 'string')
      throw new Error(`${p} has unsupported key protection parameters`);
    const k = passKey(passphrase, fromHex(o.salt, 16));
    const s = gcmOpen(k, fromHex(o.sealed), KEY_FILE_AAD);
    k.fill(0);
    if (s === null || s.length !== 32) throw new Error(`wrong KPE passphrase (or ${p} was altered)`);
    secret = s;
  } else {
    if (typeof o.ed25519Secret !== 'string') throw new Error(`${p} lacks ed25519Secret`);
    secret = fromHex(o.ed25519Secret, 32);
  }
  return { dir, secret, pub: ed25519.getPublicKey(secret) };
}

function readState(dir: string): KpeState {
  const s = JSON.parse(readFileSync(join(dir, KPE_STATE_FILE), 'utf8')) as KpeState;
  if (!Number.isInteger(s.nextSeq) || s.nextSeq < 1 || !Array.isArray(s.issued)) throw new Error('KPE state file damaged');
  return s;
}

export interface BatchOptions {
  meters: number;
  concentrators: number;
  hesCert: HesCert;
  outDir: string;
}

export interface BatchResult {
  seq: number;
  shipmentFile: string;
  manifestFile: string;
  meters: MeterKeys[];
  concentrators: ConcentratorKeys[];
  images: { id: string; kind: 'meter' | 'concentrator'; file: string }[];
}

/** Fresh random device id that the KPE has never issued (recorded in its state). */
function freshId(issued: Set<string>): Uint8Array {
  for (;;) {
    const id = randomBytes(ID_LEN);
    const h = toHex(id);
    if (!issued.has(h)) {
      issued.add(h);
      return id;
    }
  }
}

/**
 * Produces a batch: unique ids, master and link keys, one provisioning image per device and one signed,
 * encrypted shipment for the HES. The sequence number is consumed durably before anything is written,
 * so two shipments never share one.
 */
export function produceBatch(kpe: Kpe, o: BatchOptions): BatchResult {
  if (!Number.isInteger(o.meters) || o.meters < 0 || o.meters > 100_000) throw new RangeError('--meters must be 0..100000');
  if (!Number.isInteger(o.concentrators) || o.concentrators < 1 || o.concentrators > 10_000)
    throw new RangeError('--concentrators must be 1..10000');
  const state = readState(kpe.dir);
  if (state.nextSeq > MAX_SEQ) throw new Error('KPE shipment sequence exhausted');
  const issued = new Set(state.issued);
  const concentrators: ConcentratorKeys[] = [];
  for (let i = 0; i < o.concentrators; i++) {
    concentrators.push({ id: freshId(issued), linkKey: randomBytes(KEY_LEN), linkGen: INITIAL_LINK_GEN });
  }
  // Short addresses (PROTOCOL.md §7): 1, 2, 3, … among the meters of each concentrator (the
  // concentrators are new in every batch, so the numbering is never ambiguous within one).
  if (Math.ceil(o.meters / o.concentrators) > ADDR_MAX)
    throw new RangeError(`at most ${ADDR_MAX} meters per concentrator (short addresses)`);
  const meters: MeterKeys[] = [];
  for (let i = 0; i < o.meters; i++) {
    meters.push({
      shortAddr: ADDR_MIN + Math.floor(i / o.concentrators),
      id: freshId(issued),
      masterKey: randomBytes(KEY_LEN),
      linkKey: randomBytes(KEY_LEN),
      linkGen: INITIAL_LINK_GEN,
      concentratorId: concentrators[i % concentrators.length]!.id,
    });
  }
  const seq = state.nextSeq;
  writeFileAtomic(join(kpe.dir, KPE_STATE_FILE), JSON.stringify({ nextSeq: seq + 1, issued: [...issued] } satisfies KpeState) + '\n');

  mkdirSync(o.outDir, { recursive: true });
  const images: BatchResult['images'] = [];
  for (const c of concentrators) {
    const file = join(o.outDir, `${toHex(c.id)}.prov.cbor`);
    writeFileAtomic(file, concentratorImage(c, o.hesCert.hesId), 0o600);
    images.push({ id: toHex(c.id), kind: 'concentrator', file });
  }
  for (const m of meters) {
    const file = join(o.outDir, `${toHex(m.id)}.prov.cbor`);
    writeFileAtomic(file, meterImage(m, o.hesCert.hesId), 0o600);
    images.push({ id: toHex(m.id), kind: 'meter', file });
  }
  const payload = encodePayload({ hesId: o.hesCert.hesId, meters, concentrators });
  const shipment = sealShipment({ payload, seq, kpeSecret: kpe.secret, hesId: o.hesCert.hesId, hesPub: o.hesCert.x25519 });
  payload.fill(0);
  const shipmentFile = join(o.outDir, `shipment-${String(seq).padStart(6, '0')}.vks`);
  writeFileAtomic(shipmentFile, shipment);
  const manifest = {
    format: 'vakt-batch-manifest',
    version: 1,
    seq,
    hesId: toHex(o.hesCert.hesId),
    shipment: shipmentFile,
    concentrators: concentrators.map((c) => ({
      id: toHex(c.id),
      image: join(o.outDir, `${toHex(c.id)}.prov.cbor`),
      meters: meters.filter((m) => toHex(m.concentratorId) === toHex(c.id)).map((m) => toHex(m.id)),
    })),
    meters: meters.map((m) => ({
      id: toHex(m.id),
      concentrator: toHex(m.concentratorId),
      image: join(o.outDir, `${toHex(m.id)}.prov.cbor`),
    })),
  };
  const manifestFile = join(o.outDir, 'manifest.json');
  writeFileAtomic(manifestFile, JSON.stringify(manifest, null, 2) + '\n');
  return { seq, shipmentFile, manifestFile, meters, concentrators, images };
}
