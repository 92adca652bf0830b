// Firmware image download (PROTOCOL.md §10 op FIRMWARE): chunked, resumable across reboots and
// link loss, whole-image SHA-256 checked before activation; a bad image is discarded and the
// running version stays (rollback). Chunks are stored as records 'fw0', 'fw1', ... in arrival
// order, the download state in 'fws' (written after each chunk, so a cut repeats at most one chunk).
import type { Storage } from '@vakt/boards';
import { Sha256, SHA256_LEN } from '../common/sha256.ts';
import { REC_FW_PREFIX, REC_FW_STATE, readFixed, readU32, writeU32 } from '../common/records.ts';
import { equalBytes } from '@vakt/shared/utils';

/** Largest image accepted (bytes). */
export const FW_MAX_SIZE = 256 * 1024;
/** Largest number of chunk records per image. */
export const FW_MAX_CHUNKS = 1024;
const STATE_VERSION = 1;
// version, active flag, size u32, digest 32, version u32, received u32, chunks u32
const STATE_LEN = 1 + 1 + 4 + SHA256_LEN + 4 + 4 + 4;

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
  readonly digest = new Uint8Array(SHA256_LEN);
  private rec = new Uint8Array(STATE_LEN);
  private sha: Sha256 | null = null; // created at the first activation: most boots never need it
  private calc = new Uint8Array(SHA256_LEN);
  /** Images rejected at activation because their digest did not match. */
  rejected = 0;

  constructor(private readonly st: Storage) {
    const r = readFixed(st, REC_FW_STATE, STATE_LEN, STATE_VERSION);
    if (r !== undefined && r[1] === 1) {
      this.active = true;
      this.size = readU32(r, 2);
      this.digest.set(r.subarray(6, 6 + SHA256_LEN));
      this.version = readU32(r, 6 + SHA256_LEN);
      this.received = readU32(r, 10 + SHA256_LEN);
      this.chunks = readU32(r, 14 + SHA256_LEN);
      if (this.received > this.size || this.chunks > FW_MAX_CHUNKS) this.active = false;
    }
  }

  private save(): void {
    const r = this.rec;
    r[0] = STATE_VERSION;
    r[1] = this.active ? 1 : 0;
    writeU32(r, 2, this.size);
    r.set(this.digest, 6);
    writeU32(r, 6 + SHA256_LEN, this.version);
    writeU32(r, 10 + SHA256_LEN, this.received);
    writeU32(r, 14 + SHA256_LEN, this.chunks);
    this.st.write(REC_FW_STATE, r);
  }

  /** BEGIN: starts a download, or resumes the same one (same size, digest, version). Returns a status. */
  begin(size: number, digest: Uint8Array, digestOff: number, version: number): number {
    if (!(size >= 1 && size <= FW_MAX_SIZE) || !(version >= 0 && version <= 0xffffffff)) return FW_BAD_REQUEST;
    if (this.active && this.size === size && this.version === version && equalBytes(this.digest, 0, digest, digestOff, SHA256_LEN)) {
      return FW_OK;
    }
    this.discard();
    this.active = true;
    this.size = size;
    this.version = version;
    for (let i = 0; i < SHA256_LEN; i++) this.digest[i] = digest[digestOff + i];
    this.received = 0;
    this.chunks = 0;
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
    if (this.sha === null) this.sha = new Sha256();
    const h = this.sha;
    h.reset();
    let total = 0;
    for (let i = 0; i < this.chunks; i++) {
      const c = this.st.read(REC_FW_PREFIX + i);
      if (c === undefined) break;
      h.update(c, 0, c.length);
      total += c.length;
    }
    h.finish(this.calc, 0);
    if (total !== this.size || !equalBytes(this.calc, 0, this.digest, 0, SHA256_LEN)) {
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

  /** Reads image byte range for the board's installer (the sim keeps the image in storage records). */
  chunkCount(): number {
    return this.chunks;
  }
}
