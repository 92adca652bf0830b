// Names and sizes of every storage record the apps write (docs/FIRMWARE.md "Storage records").
// Each record is written whole through Board.storage.write, which is atomic per record, so a
// record is always either its old or its new value after a power loss.
import type { Storage } from '@vakt/boards';

/** Provisioning image written by the KPE (PROTOCOL.md §11); read only by the apps. */
export const REC_PROV = 'prov';
/** Key state: active generations, individually replaced operation keys, the staged key. */
export const REC_KEYS = 'keys';
/** Reserve-ahead limits of every sender counter (one record, rewritten on each reservation). */
export const REC_CTR = 'ctr';
/** Last accepted downlink counter per end-to-end operation (replay protection across reboots). */
export const REC_RX = 'rx';
/** Load-profile head: next interval sequence number and the highest sequence acknowledged. */
export const REC_LP_HEAD = 'lph';
/** Prefix of load-profile interval records; the slot number follows ('lp0' .. 'lp95'). */
export const REC_LP_PREFIX = 'lp';
/** Configuration: tariff id, push interval, relay state, firmware version. */
export const REC_CFG = 'cfg';
/** Firmware download state (size, image MAC and its key generation, version, bytes received). */
export const REC_FW_STATE = 'fws';
/** Prefix of firmware chunk records ('fw0', 'fw1', ...). */
export const REC_FW_PREFIX = 'fw';
/** Concentrator meter table. */
export const REC_METERS = 'mt';

/** Layout version of every record above (byte 0 of each); a record of another version is not read. */
export const REC_VERSION = 1;

/** Reads a record and returns it only when it has exactly `len` bytes and layout version REC_VERSION. */
export function readFixed(st: Storage, name: string, len: number): Uint8Array | undefined {
  try {
    const r = st.read(name);
    if (r !== undefined && r.length === len && r[0] === REC_VERSION) return r;
  } catch (e) {
    // A storage fault reads as a missing record.
  }
  return undefined;
}

/**
 * Writes the low n bytes of the integer v big-endian into b[off..off+n): n = 4 for a u32 (v's low
 * 32 bits, as `>>> 0` would give), n = 8 for an unsigned integer up to 2⁵³−1. Read back with
 * readU32BE (@vakt/shared/utils) or readU64.
 */
export function writeBE(b: Uint8Array, off: number, n: number, v: number): void {
  // Base-256 digits from the low end: v % 256 and v / 256 are exact for every integer v.
  while (n-- > 0) {
    b[off + n] = v % 256;
    v = Math.floor(v / 256);
  }
}

/** Reads the 8-byte big-endian unsigned integer writeBE(b, off, 8, v) wrote (exact up to 2⁵³−1). */
export function readU64(b: Uint8Array, off: number): number {
  // Bytes spelt out rather than via @vakt/shared/utils readU32BE: a module that imports nothing
  // keeps esbuild inlining the REC_* names above (with an import they become variables). Every
  // partial sum is at most the result, so up to 2⁵³−1 no step rounds.
  let v = 0;
  for (let i = 0; i < 8; i++) v = v * 256 + b[off + i];
  return v;
}
