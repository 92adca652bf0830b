// Firmware image download (PROTOCOL.md §10 op FIRMWARE, D-10): chunked, resumable across reboots
// and link loss, whole-image AES-CMAC under the image key KF[g] checked before activation; a bad
// image is discarded and the running version stays (rollback). Chunks are stored as records
// 'fw0', 'fw1', ... in arrival order, the download state in 'fws' (written after each chunk, so a
// cut repeats at most one chunk).
import type { Storage } from '@vakt/boards';
import type { CryptoCtx } from '@vakt/shared/ctx';
import { _cmacAbsorb, _cmacFinish, CMAC_TAG_LEN } from '@vakt/shared/cmac';
import { equalBytes, readU32BE } from '@vakt/shared/utils';
import { REC_FW_PREFIX, REC_FW_STATE, readFixed, writeBE, REC_VERSION } from '../common/records.ts';

/** Where activate() gets the image key (MeterKeys.imageKey). */
export interface ImageKeySource {
  /** KF[gen] as an expanded AES key, or null when gen is not the FIRMWARE generation in force. */
  imageKey(gen: number): Uint32Array | null;
}

/** Largest image accepted (bytes). */
export const FW_MAX_SIZE = 262144; // 256 KiB
/** Largest number of chunk records per image. */
export const FW_MAX_CHUNKS = 1024;
// Record 'fws' (35 bytes; byte 0: REC_VERSION), one row per field, each offset derived from the one
// before (the build folds them into literals):
//   field                        offset       size
//   active flag                  S_ACTIVE     1
//   size u32                     S_SIZE       4
//   announced image MAC          S_MAC        16
//   generation of BEGIN's key    S_GEN        1
//   version u32                  S_VERSION    4
//   bytes received u32           S_RECEIVED   4
//   chunk records u32            S_CHUNKS     4
const S_ACTIVE = 1;
const S_SIZE = S_ACTIVE + 1;
const S_MAC = S_SIZE + 4;
const S_GEN = S_MAC + CMAC_TAG_LEN;
const S_VERSION = S_GEN + 1;
const S_RECEIVED = S_VERSION + 4;
const S_CHUNKS = S_RECEIVED + 4;
const STATE_LEN = S_CHUNKS + 4;

/** FIRMWARE UP status codes (PROTOCOL.md §10). */
export const FW_OK = 0;
export const FW_REFUSED = 1;
export const FW_BAD_REQUEST = 2;

/** Result of an activation attempt. */
export const ACT_OK = 0;
export const ACT_INCOMPLETE = 1;
/** The image was discarded: its MAC did not verify, or the FIRMWARE key changed since BEGIN. */
export const ACT_REJECTED = 2;

/** The download state machine; one instance per meter. */
export class FirmwareDownload {
  active_ = false;
  size = 0;
  version = 0;
  received_ = 0;
  chunks_ = 0;
  /** Images rejected at activation (MAC mismatch or key changed since BEGIN). */
  rejected = 0;
  /**
   * The 'fws' record; the announced MAC and the generation of BEGIN's FIRMWARE key (the image key
   * is KF[that generation]) are kept only here, the numbers above are copied in by save().
   */
  private rec_ = new Uint8Array(STATE_LEN);

  constructor(private readonly st: Storage) {
    const r = readFixed(st, REC_FW_STATE, STATE_LEN);
    if (r !== undefined && r[S_ACTIVE] === 1) {
      this.rec_.set(r);
      this.size = readU32BE(r, S_SIZE);
      this.version = readU32BE(r, S_VERSION);
      this.received_ = readU32BE(r, S_RECEIVED);
      this.chunks_ = readU32BE(r, S_CHUNKS);
      this.active_ = this.received_ <= this.size && this.chunks_ <= FW_MAX_CHUNKS;
    }
  }

  private save_(): void {
    const r = this.rec_;
    r[0] = REC_VERSION;
    r[S_ACTIVE] = this.active_ ? 1 : 0;
    writeBE(r, S_SIZE, 4, this.size);
    writeBE(r, S_VERSION, 4, this.version);
    writeBE(r, S_RECEIVED, 4, this.received_);
    writeBE(r, S_CHUNKS, 4, this.chunks_);
    this.st.write(REC_FW_STATE, r);
  }

  /**
   * BEGIN under FIRMWARE key generation gen: starts a download of `size` bytes whose CMAC under
   * KF[gen] is mac[macOff..+16), or resumes the same one (same size, MAC, version, gen). Returns a status.
   */
  begin(size: number, mac: Uint8Array, macOff: number, version: number, gen: number): number {
    if (!(size >= 1 && size <= FW_MAX_SIZE) || !(version >= 0 && version <= 0xffffffff)) return FW_BAD_REQUEST;
    if (
      this.active_ &&
      this.size === size &&
      this.version === version &&
      this.rec_[S_GEN] === gen &&
      equalBytes(this.rec_, S_MAC, mac, macOff, CMAC_TAG_LEN)
    ) {
      return FW_OK;
    }
    this.discard();
    this.active_ = true;
    this.size = size;
    this.version = version;
    this.rec_[S_GEN] = gen;
    this.rec_.set(mac.subarray(macOff, macOff + CMAC_TAG_LEN), S_MAC);
    this.save_();
    return FW_OK;
  }

  /** CHUNK: stores data[off..off+len) if it is the next expected part; repeats of received data are answered OK. */
  chunk(offset: number, data: Uint8Array, off: number, len: number): number {
    if (!this.active_) return FW_REFUSED;
    if (offset + len <= this.received_) return FW_OK; // a retransmission of what we hold
    if (offset !== this.received_ || len < 1 || offset + len > this.size || this.chunks_ >= FW_MAX_CHUNKS) return FW_BAD_REQUEST;
    this.st.write(REC_FW_PREFIX + this.chunks_, data.subarray(off, off + len));
    this.chunks_++;
    this.received_ += len;
    this.save_();
    return FW_OK;
  }

  /**
   * ACTIVATE: recomputes the CMAC of the stored image under KF[gen] (keys.imageKey) and compares it
   * in constant time with the announced one. On a mismatch, or when the FIRMWARE key is no longer
   * generation gen, the download is discarded (the running image stays) and ACT_REJECTED returned.
   */
  activate(ctx: CryptoCtx, keys: ImageKeySource): number {
    if (!this.active_ || this.received_ !== this.size) return ACT_INCOMPLETE;
    const rk = keys.imageKey(this.rec_[S_GEN]);
    // The computed tag goes to ctx.a_, CCM's counter block (free outside a CCM call): no allocation
    // at the meter's tightest moment on a Puck.js-sized pool; wiped after the comparison.
    const calc = ctx.a_;
    let total = -1; // no image key: nothing matches
    if (rk !== null) {
      // The CMAC state in ctx is clean here: imageKey's derivation has just finished a CMAC.
      total = 0;
      for (let i = 0; i < this.chunks_; i++) {
        var c = this.st.read(REC_FW_PREFIX + i);
        if (c === undefined) break;
        _cmacAbsorb(ctx, rk, c, 0, c.length);
        total += c.length;
      }
      _cmacFinish(ctx, rk, calc, 0);
      rk.fill(0); // KF serves nothing else
    }
    const same = equalBytes(calc, 0, this.rec_, S_MAC, CMAC_TAG_LEN);
    calc.fill(0);
    if (total !== this.size || !same) {
      this.rejected++;
      this.discard();
      return ACT_REJECTED;
    }
    return ACT_OK;
  }

  /** Forgets the download and erases its chunk records. */
  discard(): void {
    const n = this.chunks_;
    this.active_ = false;
    this.received_ = 0;
    this.chunks_ = 0;
    this.save_();
    for (let i = 0; i < n; i++) this.st.erase(REC_FW_PREFIX + i);
  }
}
