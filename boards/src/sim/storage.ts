// File-backed Board storage for the Node "sim" board: one file per record, replaced atomically by
// write-temp, fsync, rename, fsync-directory, so a crash leaves either the old or the new record.
import fs from 'node:fs';
import path from 'node:path';
import type { Storage } from '../types.ts';
import { checkRecordName } from '../common/record.ts';

const RECORD_EXT = '.rec';
const TEMP_EXT = '.tmp';

/** Opens (creating if needed) a directory of records; write() returns only after the rename is durable. */
export function createFileStorage(dir: string): Storage & { readonly dir: string } {
  fs.mkdirSync(dir, { recursive: true });
  const file = (name: string): string => {
    checkRecordName(name);
    return path.join(dir, name + RECORD_EXT);
  };
  const fsyncDir = (): void => {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  };
  return {
    dir,
    read(name: string): Uint8Array | undefined {
      const f = file(name);
      try {
        const b = fs.readFileSync(f);
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
    },
    write(name: string, data: Uint8Array): void {
      const f = file(name);
      if (!(data instanceof Uint8Array)) throw new TypeError('record data must be a Uint8Array');
      const tmp = f + TEMP_EXT;
      const fd = fs.openSync(tmp, 'w');
      try {
        let off = 0;
        while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, f);
      fsyncDir();
    },
    erase(name: string): void {
      const f = file(name);
      try {
        fs.unlinkSync(f);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      fsyncDir();
    },
  };
}

/** In-memory Board storage for tests: copies in and out so callers cannot alias stored bytes. */
export function createMemoryStorage(): Storage & { readonly records: Map<string, Uint8Array> } {
  const records = new Map<string, Uint8Array>();
  return {
    records,
    read(name: string): Uint8Array | undefined {
      checkRecordName(name);
      const r = records.get(name);
      return r === undefined ? undefined : new Uint8Array(r);
    },
    write(name: string, data: Uint8Array): void {
      checkRecordName(name);
      records.set(name, new Uint8Array(data));
    },
    erase(name: string): void {
      checkRecordName(name);
      records.delete(name);
    },
  };
}
