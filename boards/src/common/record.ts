// Atomic named records on flash stores that can only write whole files (Espruino Storage, Moddable
// Preference/flash): each record lives in two slots, `<name>~0` and `<name>~1`, each with a sequence
// number and a CRC. A write goes to the slot that does NOT hold the newest valid copy, so a power
// loss mid-write leaves the previous copy intact; read() returns the newest slot whose CRC checks.
// A plain file named exactly `<name>` (no slot suffix, no header) is the factory copy written by a
// flashing tool (e.g. the KPE's provisioning image uploaded as `prov`); it is read only while no
// slot holds a valid copy, and erase() removes it too.
// Runs on Espruino: no Map, no destructuring, no default parameters, no slice on typed arrays.
import { CRC16_INIT, crc16Update } from '@vakt/shared/crc16';
import type { Storage } from '../types.ts';

/** The primitive the adapters provide: whole-file read/write/erase, not necessarily atomic. */
export interface RawStore {
  read(name: string): Uint8Array | undefined;
  write(name: string, data: Uint8Array): void;
  erase(name: string): void;
}

/** magic (1) ‖ seq (4, BE) ‖ len (2, BE) ‖ crc16 (2, BE, over seq ‖ len ‖ data; CRC-16/CCITT-FALSE, the serial trailer's, shared/src/crc16.ts). */
const RECORD_MAGIC = 0xa5;
export const RECORD_HEADER_LEN = 9;
/** Longest record payload; the provisioning image and key records are far below it. */
export const RECORD_MAX_LEN = 4096;
/** Espruino Storage file names are at most 28 characters; two are taken by the slot suffix. */
export const RECORD_NAME_MAX = 26;
/**
 * The CRC over seq ‖ len (bytes 1..7) and the data (not the magic or the CRC field itself), xor the
 * CRC field: 0 for an intact slot; for a record being built with its CRC field still 0, the CRC to
 * store. (One function for both: on Espruino each function costs RAM for as long as it is loaded.)
 */
function crcDiff(rec: Uint8Array): number {
  return crc16Update(crc16Update(CRC16_INIT, rec, 1, 6), rec, RECORD_HEADER_LEN, rec.length - RECORD_HEADER_LEN) ^ ((rec[7] << 8) | rec[8]);
}

/** Throws a plain Error if name is not a usable record name (letters, digits, '_', '-', '.'). */
export function checkRecordName(name: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > RECORD_NAME_MAX || !/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new Error('bad record name: ' + name);
  }
}

/** Returns seq from a slot's header when its magic and length are right, else -1 (its CRC is checked by crcDiff). */
function headerSeq(raw: Uint8Array | undefined): number {
  if (!raw || raw.length < RECORD_HEADER_LEN || raw[0] !== RECORD_MAGIC) return -1;
  if (raw.length !== RECORD_HEADER_LEN + ((raw[5] << 8) | raw[6])) return -1;
  return ((raw[1] << 24) | (raw[2] << 16) | (raw[3] << 8) | raw[4]) >>> 0;
}

/** Wraps a RawStore into the Board Storage contract: atomic per record, newest valid copy wins. */
export function createRecordStorage(raw: RawStore): Storage {
  /**
   * The slot holding the newest valid copy (-1: none). The slot with the higher sequence number in
   * its header is CRC-checked first and the other only when that one is torn: one CRC pass per read
   * or write in the usual case, not two (the CRC is most of a record write's cost on Espruino).
   */
  function newest(name: string): { slot: number; seq: number; data: Uint8Array | undefined } {
    const a = raw.read(name + '~0');
    const b = raw.read(name + '~1');
    const sa = headerSeq(a);
    let sb = headerSeq(b);
    // Sequence numbers are 32-bit and grow by one per write; never wrap in a device's life.
    // On equal numbers slot 0 wins.
    if (sb > sa) {
      if (crcDiff(b as Uint8Array) === 0) return { slot: 1, seq: sb, data: b };
      sb = -1; // torn: the older copy is the newest valid one, if it is valid
    }
    if (sa >= 0 && crcDiff(a as Uint8Array) === 0) return { slot: 0, seq: sa, data: a };
    if (sb >= 0 && crcDiff(b as Uint8Array) === 0) return { slot: 1, seq: sb, data: b };
    return { slot: -1, seq: 0, data: undefined };
  }
  return {
    read(name: string): Uint8Array | undefined {
      checkRecordName(name);
      const n = newest(name);
      if (!n.data) {
        const factory = raw.read(name);
        return factory === undefined ? undefined : new Uint8Array(factory);
      }
      const out = new Uint8Array(n.data.length - RECORD_HEADER_LEN);
      out.set(n.data.subarray(RECORD_HEADER_LEN));
      return out;
    },
    write(name: string, data: Uint8Array): void {
      checkRecordName(name);
      if (!(data instanceof Uint8Array) || data.length > RECORD_MAX_LEN) throw new Error('bad record data for ' + name);
      const n = newest(name);
      const seq = n.slot < 0 ? 1 : (n.seq + 1) >>> 0;
      const target = n.slot === 0 ? 1 : 0;
      const rec = new Uint8Array(RECORD_HEADER_LEN + data.length);
      rec[0] = RECORD_MAGIC;
      rec[1] = seq >>> 24;
      rec[2] = (seq >>> 16) & 0xff;
      rec[3] = (seq >>> 8) & 0xff;
      rec[4] = seq & 0xff;
      rec[5] = data.length >>> 8;
      rec[6] = data.length & 0xff;
      rec.set(data, RECORD_HEADER_LEN);
      const crc = crcDiff(rec); // the CRC field is still 0 here
      rec[7] = crc >>> 8;
      rec[8] = crc & 0xff;
      raw.write(name + '~' + target, rec);
    },
    erase(name: string): void {
      checkRecordName(name);
      raw.erase(name + '~0');
      raw.erase(name + '~1');
      raw.erase(name);
    },
  };
}
