// Key shipment KPE → HES (docs/HOST.md "Key shipment"): X25519 ECIES + HKDF-SHA-256 + AES-256-GCM,
// the whole envelope (recipient, shipment id and sequence included) signed with Ed25519 by the KPE.
import { x25519, ed25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { gcm } from '@noble/ciphers/aes.js';
import { randomBytes, ctEqual, concat, utf8 } from './bytes.ts';

export const SHIPMENT_MAGIC = utf8('VAKTSHP1');
export const SHIPMENT_VERSION = 1;
/** Suite 1: X25519, HKDF-SHA-256, AES-256-GCM, Ed25519. */
export const SUITE_X25519_AESGCM_ED25519 = 1;
export const SHIPMENT_ID_LEN = 16;
export const ID_LEN = 8;
export const X25519_LEN = 32;
export const ED25519_PUB_LEN = 32;
export const ED25519_SIG_LEN = 64;
export const GCM_NONCE_LEN = 12;
export const GCM_TAG_LEN = 16;
export const AES256_KEY_LEN = 32;
export const HKDF_INFO_PREFIX = utf8('vakt-shipment-v1');
export const SIGN_CONTEXT = utf8('vakt-shipment-signature-v1');

// Header field offsets (all integers big-endian).
const OFF_MAGIC = 0;
const OFF_VERSION = 8;
const OFF_SUITE = 9;
const OFF_ID = 10;
const OFF_SEQ = 26;
const OFF_CREATED = 30; // u64 milliseconds since the epoch
const OFF_KPE_PUB = 38;
const OFF_HES_ID = 70;
const OFF_HES_PUB = 78;
const OFF_EPH_PUB = 110;
const OFF_NONCE = 142;
const OFF_CT_LEN = 154;
export const SHIPMENT_HEADER_LEN = 158;
/** Largest ciphertext accepted: bounds memory on a hostile file (about 100 000 meters). */
export const MAX_SHIPMENT_CT = 16 * 1024 * 1024;

/** Why a shipment was refused. Every code means: nothing was imported. */
export type ShipmentErrorCode =
  | 'MALFORMED' // wrong magic/version/suite, truncated, extended or bad payload structure
  | 'FOREIGN_SIGNER' // signed by a key that is not the pinned KPE key
  | 'BAD_SIGNATURE' // pinned signer, but the bytes were altered after signing
  | 'WRONG_RECIPIENT' // encrypted for another HES key or id
  | 'REPLAY' // shipment id or sequence already imported
  | 'DECRYPT' // signature fine but ciphertext does not open (KPE bug or wrong HES private key)
  | 'CONFLICT'; // payload names a device the HES already holds

/** Typed refusal of a shipment; the message is one plain sentence for an operator. */
export class ShipmentError extends Error {
  readonly code: ShipmentErrorCode;
  constructor(code: ShipmentErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'ShipmentError';
  }
}

/** The public fields of a shipment header (authenticated by the signature). */
export interface ShipmentHeader {
  id: Uint8Array;
  seq: number;
  createdMs: number;
  kpePub: Uint8Array;
  hesId: Uint8Array;
  hesPub: Uint8Array;
}

export interface SealShipmentInput {
  payload: Uint8Array; // plaintext (CBOR, see kpe/payload.ts)
  seq: number;
  kpeSecret: Uint8Array; // Ed25519 secret key (32-byte seed)
  hesId: Uint8Array;
  hesPub: Uint8Array; // X25519 public key of the HES
  createdMs?: number;
  id?: Uint8Array;
}

function u32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

function putU32(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 24) & 0xff;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

/** Derives the AES-256 key of one shipment; binds the ephemeral key, the recipient and the shipment id. */
export function shipmentKey(shared: Uint8Array, ephPub: Uint8Array, hesPub: Uint8Array, id: Uint8Array): Uint8Array {
  return hkdf(sha256, shared, concat(ephPub, hesPub), concat(HKDF_INFO_PREFIX, id), AES256_KEY_LEN);
}

function signedMessage(envelope: Uint8Array): Uint8Array {
  return concat(SIGN_CONTEXT, envelope);
}

/** Builds a signed, encrypted shipment; only the holder of the HES X25519 private key can read the payload. */
export function sealShipment(inp: SealShipmentInput): Uint8Array {
  if (inp.hesPub.length !== X25519_LEN) throw new TypeError('HES public key must be 32 bytes');
  if (inp.hesId.length !== ID_LEN) throw new TypeError('HES id must be 8 bytes');
  if (!Number.isInteger(inp.seq) || inp.seq < 1 || inp.seq > 0xffffffff) throw new TypeError('seq must be 1..2^32-1');
  if (inp.payload.length + GCM_TAG_LEN > MAX_SHIPMENT_CT) throw new TypeError('payload too large');
  const id = inp.id ?? randomBytes(SHIPMENT_ID_LEN);
  const created = inp.createdMs ?? Date.now();
  const ephSecret = x25519.utils.randomSecretKey();
  const ephPub = x25519.getPublicKey(ephSecret);
  const shared = x25519.getSharedSecret(ephSecret, inp.hesPub);
  const key = shipmentKey(shared, ephPub, inp.hesPub, id);
  const nonce = randomBytes(GCM_NONCE_LEN);
  const ctLen = inp.payload.length + GCM_TAG_LEN;

  const total = SHIPMENT_HEADER_LEN + ctLen + ED25519_SIG_LEN;
  const out = new Uint8Array(total);
  out.set(SHIPMENT_MAGIC, OFF_MAGIC);
  out[OFF_VERSION] = SHIPMENT_VERSION;
  out[OFF_SUITE] = SUITE_X25519_AESGCM_ED25519;
  out.set(id, OFF_ID);
  putU32(out, OFF_SEQ, inp.seq);
  putU32(out, OFF_CREATED, Math.floor(created / 0x100000000));
  putU32(out, OFF_CREATED + 4, created >>> 0);
  out.set(ed25519.getPublicKey(inp.kpeSecret), OFF_KPE_PUB);
  out.set(inp.hesId, OFF_HES_ID);
  out.set(inp.hesPub, OFF_HES_PUB);
  out.set(ephPub, OFF_EPH_PUB);
  out.set(nonce, OFF_NONCE);
  putU32(out, OFF_CT_LEN, ctLen);
  const aad = out.subarray(0, SHIPMENT_HEADER_LEN);
  const ct = gcm(key, nonce, aad).encrypt(inp.payload);
  out.set(ct, SHIPMENT_HEADER_LEN);
  const sig = ed25519.sign(signedMessage(out.subarray(0, SHIPMENT_HEADER_LEN + ctLen)), inp.kpeSecret);
  out.set(sig, SHIPMENT_HEADER_LEN + ctLen);
  key.fill(0);
  shared.fill(0);
  ephSecret.fill(0);
  return out;
}

/** Parses the header and checks the structure (exact length, magic, version, suite); throws MALFORMED. */
export function parseShipmentHeader(b: Uint8Array): ShipmentHeader {
  if (!(b instanceof Uint8Array)) throw new ShipmentError('MALFORMED', 'shipment is not a byte array');
  if (b.length < SHIPMENT_HEADER_LEN + GCM_TAG_LEN + ED25519_SIG_LEN) {
    throw new ShipmentError('MALFORMED', `shipment truncated: ${b.length} bytes is shorter than the smallest shipment`);
  }
  if (!ctEqual(b.subarray(OFF_MAGIC, OFF_MAGIC + SHIPMENT_MAGIC.length), SHIPMENT_MAGIC)) {
    throw new ShipmentError('MALFORMED', 'not a Vakt key shipment (bad magic)');
  }
  if (b[OFF_VERSION] !== SHIPMENT_VERSION) {
    throw new ShipmentError('MALFORMED', `unsupported shipment format version ${b[OFF_VERSION]}`);
  }
  if (b[OFF_SUITE] !== SUITE_X25519_AESGCM_ED25519) {
    throw new ShipmentError('MALFORMED', `unsupported shipment cipher suite ${b[OFF_SUITE]}`);
  }
  const ctLen = u32(b, OFF_CT_LEN);
  if (ctLen < GCM_TAG_LEN || ctLen > MAX_SHIPMENT_CT) throw new ShipmentError('MALFORMED', 'shipment ciphertext length out of range');
  const expect = SHIPMENT_HEADER_LEN + ctLen + ED25519_SIG_LEN;
  if (b.length < expect) throw new ShipmentError('MALFORMED', `shipment truncated: ${b.length} of ${expect} bytes`);
  if (b.length > expect) throw new ShipmentError('MALFORMED', `shipment has ${b.length - expect} trailing bytes`);
  return {
    id: b.slice(OFF_ID, OFF_ID + SHIPMENT_ID_LEN),
    seq: u32(b, OFF_SEQ),
    createdMs: u32(b, OFF_CREATED) * 0x100000000 + u32(b, OFF_CREATED + 4),
    kpePub: b.slice(OFF_KPE_PUB, OFF_KPE_PUB + ED25519_PUB_LEN),
    hesId: b.slice(OFF_HES_ID, OFF_HES_ID + ID_LEN),
    hesPub: b.slice(OFF_HES_PUB, OFF_HES_PUB + X25519_LEN),
  };
}

export interface OpenShipmentInput {
  pinnedKpePubs: Uint8Array[]; // Ed25519 public keys the HES trusts
  hesId: Uint8Array;
  hesSecret: Uint8Array; // X25519 private key of the HES
}

/**
 * Verifies and decrypts a shipment: structure, pinned signer, signature over every byte, recipient,
 * then decryption. Throws ShipmentError at the first failure; replay is the caller's check (it needs the store).
 */
export function openShipment(b: Uint8Array, inp: OpenShipmentInput): { header: ShipmentHeader; payload: Uint8Array } {
  const h = parseShipmentHeader(b);
  let pinned = false;
  for (const p of inp.pinnedKpePubs) if (ctEqual(p, h.kpePub)) pinned = true;
  if (!pinned) throw new ShipmentError('FOREIGN_SIGNER', 'shipment is signed by a key that is not the pinned KPE key');
  const sigOff = b.length - ED25519_SIG_LEN;
  let ok = false;
  try {
    ok = ed25519.verify(b.subarray(sigOff), signedMessage(b.subarray(0, sigOff)), h.kpePub);
  } catch {
    ok = false;
  }
  if (!ok) throw new ShipmentError('BAD_SIGNATURE', 'shipment signature does not verify: the file was altered after the KPE signed it');
  const myPub = x25519.getPublicKey(inp.hesSecret);
  if (!ctEqual(h.hesPub, myPub) || !ctEqual(h.hesId, inp.hesId)) {
    throw new ShipmentError('WRONG_RECIPIENT', 'shipment is addressed to another HES key');
  }
  const ephPub = b.subarray(OFF_EPH_PUB, OFF_EPH_PUB + X25519_LEN);
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(inp.hesSecret, ephPub);
  } catch {
    throw new ShipmentError('DECRYPT', 'shipment ephemeral key is invalid');
  }
  const key = shipmentKey(shared, ephPub, h.hesPub, h.id);
  const nonce = b.subarray(OFF_NONCE, OFF_NONCE + GCM_NONCE_LEN);
  let payload: Uint8Array;
  try {
    payload = gcm(key, nonce, b.subarray(0, SHIPMENT_HEADER_LEN)).decrypt(b.subarray(SHIPMENT_HEADER_LEN, sigOff));
  } catch {
    throw new ShipmentError('DECRYPT', 'shipment does not decrypt under this HES key');
  } finally {
    key.fill(0);
    shared.fill(0);
  }
  return { header: h, payload };
}
