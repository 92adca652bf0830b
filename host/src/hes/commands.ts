// Command kinds, their rights, body encodings (PROTOCOL.md §10) and the queue state machine.
import {
  OP_READ,
  OP_RELAY,
  OP_CONFIG,
  OP_CLOCK,
  OP_FIRMWARE,
  OP_KEY_UPDATE,
  DIR_IMAGE,
  CMAC_TAG_LEN,
  KEY_LEN,
  cmac,
  deriveE2eKey,
  expandKey,
} from '@vakt/shared';
import type { CryptoCtx } from '@vakt/shared';
import type { Right } from './roles.ts';
import type { CborValue } from '../crypto/cbor.ts';

export const COMMAND_STATES = ['queued', 'sent', 'acknowledged', 'failed', 'expired'] as const;
export type CommandState = (typeof COMMAND_STATES)[number];

const TRANSITIONS: Record<CommandState, readonly CommandState[]> = {
  queued: ['sent', 'failed', 'expired'],
  sent: ['sent', 'acknowledged', 'failed', 'expired'], // sent -> sent is a retry
  acknowledged: [],
  failed: [],
  expired: [],
};

/** True when a command may move from `from` to `to`; terminal states never change. */
export function canTransition(from: CommandState, to: CommandState): boolean {
  return TRANSITIONS[from].includes(to);
}

export const COMMAND_KINDS = ['read', 'gapfill', 'relay', 'config', 'clock', 'firmware', 'key_update'] as const;
export type CommandKind = (typeof COMMAND_KINDS)[number];

/** Operation and right of each command kind (PROTOCOL.md §5 "HES right needed"). */
export const KIND_INFO: Record<CommandKind, { op: number; right: Right }> = {
  read: { op: OP_READ, right: 'read' },
  gapfill: { op: OP_READ, right: 'read' },
  relay: { op: OP_RELAY, right: 'relay' },
  config: { op: OP_CONFIG, right: 'config' },
  clock: { op: OP_CLOCK, right: 'clock' },
  firmware: { op: OP_FIRMWARE, right: 'firmware' },
  key_update: { op: OP_KEY_UPDATE, right: 'key_update' },
};

/** Parameters per kind, as stored (JSON) in the commands table. */
export type CommandParams =
  | { kind: 'read' }
  | { kind: 'gapfill'; from: number; to: number }
  | { kind: 'relay'; state: 0 | 1 }
  | { kind: 'config'; tariff?: number; pushInterval?: number }
  | { kind: 'clock' }
  // sha256 names the stored image (operator side); gen is the FIRMWARE key generation of the BEGIN sent.
  | {
      kind: 'firmware';
      sha256: string;
      size: number;
      version: number;
      phase?: 'begin' | 'chunk' | 'activate';
      offset?: number;
      gen?: number;
    }
  | { kind: 'key_update'; scope: number; newGen?: number; phase?: 'transport' | 'activate' };

export const CONFIG_TARIFF = 1;
export const CONFIG_PUSH_INTERVAL = 2;
export const READ_REGISTER = 1;
export const READ_PROFILE = 2;
export const FW_BEGIN = 1;
export const FW_CHUNK = 2;
export const FW_ACTIVATE = 3;
export const KU_TRANSPORT = 1;
export const KU_CONFIRM = 2;
export const KU_ACTIVATE = 3;

/**
 * The whole-image MAC of a FIRMWARE BEGIN (PROTOCOL.md §10, D-10): CMAC(KF[gen], image) with
 * KF[gen] = KDF(OK[FIRMWARE, gen], "vakt-e2e", meterId ‖ 0x06 ‖ 0x02 ‖ gen), where ok[okOff..+16)
 * is OK[FIRMWARE, gen]. Binds the image to this meter and key generation.
 */
export function firmwareImageMac(
  ctx: CryptoCtx,
  ok: Uint8Array,
  okOff: number,
  meterId: Uint8Array,
  gen: number,
  image: Uint8Array,
): Uint8Array {
  const kf = new Uint8Array(KEY_LEN);
  const rk = new Uint32Array(44);
  deriveE2eKey(ctx, ok, okOff, meterId, OP_FIRMWARE, DIR_IMAGE, gen, kf, 0);
  expandKey(kf, 0, rk);
  const mac = new Uint8Array(CMAC_TAG_LEN);
  cmac(ctx, rk, image, 0, image.length, mac, 0);
  kf.fill(0);
  rk.fill(0);
  return mac;
}

/** Firmware bytes per chunk frame: a chunk body must fit MAX_E2E_BODY_FORWARDED with its CBOR head. */
export const FW_CHUNK_LEN = 512;
/** Load-profile intervals per gap-fill request (a response frame carries at most 16). */
export const GAPFILL_MAX = 16;

export const STATUS_OK = 0;
export const STATUS_NAMES = ['ok', 'refused', 'bad request', 'busy'];

/** Validates user-supplied parameters of a kind; throws TypeError with a plain message. */
export function validateParams(p: CommandParams): void {
  const int = (v: unknown, lo: number, hi: number, what: string) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw new TypeError(`${what} must be an integer ${lo}..${hi}`);
  };
  switch (p.kind) {
    case 'read':
    case 'clock':
      return;
    case 'gapfill':
      int(p.from, 0, 2 ** 32 - 1, 'from');
      int(p.to, p.from, 2 ** 32 - 1, 'to');
      return;
    case 'relay':
      if (p.state !== 0 && p.state !== 1) throw new TypeError('relay state must be 0 (disconnect) or 1 (reconnect)');
      return;
    case 'config':
      if (p.tariff === undefined && p.pushInterval === undefined) throw new TypeError('config needs a tariff and/or a push interval');
      if (p.tariff !== undefined) int(p.tariff, 0, 65535, 'tariff');
      if (p.pushInterval !== undefined) int(p.pushInterval, 1, 86400, 'push interval');
      return;
    case 'firmware':
      if (!/^[0-9a-f]{64}$/.test(p.sha256)) throw new TypeError('firmware sha256 must be 64 hex digits');
      int(p.size, 1, 16 * 1024 * 1024, 'firmware size');
      int(p.version, 0, 2 ** 32 - 1, 'firmware version');
      return;
    case 'key_update':
      int(p.scope, 0, 9, 'key update scope');
      return;
  }
}

/** Body of a simple (single-frame) command: [req, …] per PROTOCOL.md §10. */
export function simpleBody(req: number, p: CommandParams, nowSec: number): CborValue {
  switch (p.kind) {
    case 'read':
      return [req, READ_REGISTER];
    case 'gapfill':
      return [req, READ_PROFILE, p.from, p.to];
    case 'relay':
      return [req, p.state];
    case 'config': {
      const m = new Map<number, CborValue>();
      if (p.tariff !== undefined) m.set(CONFIG_TARIFF, p.tariff);
      if (p.pushInterval !== undefined) m.set(CONFIG_PUSH_INTERVAL, p.pushInterval);
      return [req, m];
    }
    case 'clock':
      return [req, nowSec];
    default:
      throw new TypeError(`${p.kind} is not a single-frame command`);
  }
}
