// Firmware image download (PROTOCOL.md §10 op FIRMWARE): chunked, resumable across reboots and
// link loss, whole-image SHA-256 checked before activation; a bad image is discarded and the
// running version stays (rollback). Chunks are stored as records 'fw0', 'fw1', ... in arrival
// order, the download state in 'fws' (written after each chunk, so a cut repeats at most one chunk).
import type { Storage } from '@vakt/boards';
import { Sha256, SHA256_LEN } from '../common/sha256.ts';
import { REC_FW_PREFIX, REC_FW_STATE, readFixed, writeBE, REC_VERSION } from '../common/records.ts';
import { equalBytes, readU32BE } from '@vakt/shared/utils';

/** Largest image accepted (bytes). */
export const FW_MAX_SIZE = 262144; // 256 KiB
/** Largest number of chunk records per image. */
export const FW_MAX_CHUNKS = 1024;
// 'fws' (50 bytes): version, active flag, size u32, digest 32, version u32, received u32, chunks u32.
// Literal offsets: the bundle inlines only literal constants.
const S_SIZE = 2;
const S_DIGEST = 6;
const S_VERSION = 38;
const S_RECEIVED = 42;
const S_CHUNKS = 46;
const STATE_LEN = 50;

/** FIRMWARE UP status codes (PROTOCOL.md §10). */
export const FW_OK = 0;
export const FW_REFUSED = 1;
export const FW_BAD_REQUEST = 2;

/** Result of an activation attempt. */
export const ACT_OK = 0;
export const ACT_INCOMPLETE = 1;
export const ACT_DIGEST_MISMATCH = 2;

/** The download state machine; one instance per meter. */
export class FirmwareDownload {
  active = false;
  size = 0;
  version = 0;
  received = 0;
  chunks = 0;
  /** Images rejected at activation because their digest did not match. */
  rejected = 0;
  /** The 'fws' record; the announced digest is kept only here, the numbers above are copied in by save(). */
  private rec = new Uint8Array(STATE_LEN);

  constructor(private readonly st: Storage) {
    const r = readFixed(st, REC_FW_STATE, STATE_LEN);
    if (r !== undefined && r[1] === 1) {
      this.rec.set(r);
      this.size = readU32BE(r, S_SIZE);
      this.version = readU32BE(r, S_VERSION);
      this.received = readU32BE(r, S_RECEIVED);
      this.chunks = readU32BE(r, S_CHUNKS);
      this.active = this.received <= this.size && this.chunks <= FW_MAX_CHUNKS;
    }
  }

  private save(): void {
    const r = this.rec;
    r[0] = REC_VERSION;
    r[1] = this.active ? 1 : 0;
    writeBE(r, S_SIZE, 4, this.size);
    writeBE(r, S_VERSION, 4, this.version);
    writeBE(r, S_RECEIVED, 4, this.received);
    writeBE(r, S_CHUNKS, 4, this.chunks);
    this.st.write(REC_FW_STATE, r);
  }

  /** BEGIN: starts a download, or resumes the same one (same size, digest, version). Returns a status. */
  begin(size: number, digest: Uint8Array, digestOff: number, version: number): number {
    if (!(size >= 1 && size <= FW_MAX_SIZE) || !(version >= 0 && version <= 0xffffffff)) return FW_BAD_REQUEST;
    if (this.active && this.size === size && this.version === version && equalBytes(this.rec, S_DIGEST, digest, digestOff, SHA256_LEN)) {
      return FW_OK;
    }
    this.discard();
    this.active = true;
    this.size = size;
    this.version = version;
    this.rec.set(digest.subarray(digestOff, digestOff + SHA256_LEN), S_DIGEST);
    this.save();
    return FW_OK;
  }

  /** CHUNK: stores data[off..off+len) if it is the next expected part; repeats of received data are answered OK. */
  chunk(offset: number, data: Uint8Array, off: number, len: number): number {
    if (!this.active) return FW_REFUSED;
    if (offset + len <= this.received) return FW_OK; // a retransmission of what we hold
    if (offset !== this.received || len < 1 || offset + len > this.size || this.chunks >= FW_MAX_CHUNKS) return FW_BAD_REQUEST;
    this.st.write(REC_FW_PREFIX + this.chunks, data.subarray(off, off + len));
    this.chunks++;
    this.received += len;
    this.save();
    return FW_OK;
  }

  /** ACTIVATE: checks the whole image against the announced SHA-256; on mismatch discards it (the running image stays). */
  activate(): number {
    if (!this.active || this.received !== this.size) return ACT_INCOMPLETE;
    // The hasher and its digest exist only during the check (activation is rare; nothing stays in RAM).
    const h = new Sha256();
    const calc = new Uint8Array(SHA256_LEN);
    let total = 0;
    for (let i = 0; i < this.chunks; i++) {
      const c = this.st.read(REC_FW_PREFIX + i);
      if (c === undefined) break;
      h.update(c, 0, c.length);
      total += c.length;
    }
    h.finish(calc, 0);
    if (total !== this.size || !equalBytes(calc, 0, this.rec, S_DIGEST, SHA256_LEN)) {
      this.rejected++;
      this.discard();
      return ACT_DIGEST_MISMATCH;
    }
    return ACT_OK;
  }

  /** Forgets the download and erases its chunk records. */
  discard(): void {
    const n = this.chunks;
    this.active = false;
    this.received = 0;
    this.chunks = 0;
    this.save();
    for (let i = 0; i < n; i++) this.st.erase(REC_FW_PREFIX + i);
  }
}
