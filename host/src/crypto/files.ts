// Durable file writes for key material and state: write a temporary file, fsync, rename, fsync the directory.
import { openSync, writeSync, fsyncSync, closeSync, renameSync, existsSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

/** Writes data to path atomically (readers see the old or the new file, never a mix) and durably. */
export function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o644): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  try {
    const dfd = openSync(dirname(path), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  }
}

/** Throws if path exists: refuses to overwrite key material silently. */
export function refuseOverwrite(path: string): void {
  if (existsSync(path)) throw new Error(`${path} already exists; refusing to overwrite key material`);
}
