// Sim board: atomic file storage, A/B record storage (used by Espruino/Moddable adapters),
// node:crypto AES provider, clocks, pins, serial (in memory and over a real PTY pair from socat).
import { describe, it, expect, afterEach } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { expandKey, softAes, AES128_SCHEDULE_WORDS } from '@vakt/shared';
import {
  createSimBoard,
  createFileStorage,
  createManualClock,
  createNodeAes,
  createSerialPair,
  openSerialPort,
} from '@vakt/boards/sim/index';
import { createRecordStorage, RECORD_HEADER_LEN } from '@vakt/boards/common/record';
import type { RawStore } from '@vakt/boards/common/record';

const tmpDirs: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'vakt-board-'));
  tmpDirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of tmpDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

describe('file storage (sim)', () => {
  it('round-trips, overwrites, erases, and persists across reopen', () => {
    const dir = tmpDir();
    const s = createFileStorage(dir);
    expect(s.read('prov')).toBeUndefined();
    s.write('prov', hex('0102'));
    s.write('prov', hex('a1a2a3'));
    expect(Array.from(s.read('prov')!)).toEqual([0xa1, 0xa2, 0xa3]);
    expect(Array.from(createFileStorage(dir).read('prov')!)).toEqual([0xa1, 0xa2, 0xa3]);
    s.erase('prov');
    s.erase('prov'); // erasing a missing record is not an error
    expect(s.read('prov')).toBeUndefined();
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('a crash before the rename (leftover temp file) leaves the old record', () => {
    const dir = tmpDir();
    const s = createFileStorage(dir);
    s.write('ctr', hex('00000040'));
    // A write that died after writing the temp file but before rename: half a record.
    fs.writeFileSync(path.join(dir, 'ctr.rec.tmp'), hex('0000'));
    expect(Array.from(createFileStorage(dir).read('ctr')!)).toEqual([0, 0, 0, 0x40]);
    // The next write replaces the stale temp file and completes.
    s.write('ctr', hex('00000080'));
    expect(Array.from(s.read('ctr')!)).toEqual([0, 0, 0, 0x80]);
    expect(fs.existsSync(path.join(dir, 'ctr.rec.tmp'))).toBe(false);
  });

  it('refuses names that could escape the directory or are not records', () => {
    const s = createFileStorage(tmpDir());
    for (const bad of ['', '../x', 'a/b', 'x'.repeat(27), 'sp ace']) {
      expect(() => s.write(bad, hex('00'))).toThrow(/bad record name/);
      expect(() => s.read(bad)).toThrow(/bad record name/);
    }
    expect(() => s.write('ok', [1, 2] as unknown as Uint8Array)).toThrow(TypeError);
  });
});

/** A raw whole-file store that can be told to tear the next write after n bytes (power loss). */
function faultyRaw(): RawStore & { files: Map<string, Uint8Array>; tearNextAt: number } {
  const files = new Map<string, Uint8Array>();
  const raw = {
    files,
    tearNextAt: -1,
    read: (n: string) => files.get(n),
    write(n: string, d: Uint8Array) {
      if (raw.tearNextAt >= 0) {
        files.set(n, new Uint8Array(d.subarray(0, raw.tearNextAt)));
        raw.tearNextAt = -1;
        throw new Error('power lost');
      }
      files.set(n, new Uint8Array(d));
    },
    erase: (n: string) => {
      files.delete(n);
    },
  };
  return raw;
}

describe('A/B record storage (Espruino, Moddable)', () => {
  it('returns the newest write and alternates slots', () => {
    const raw = faultyRaw();
    const s = createRecordStorage(raw);
    for (let i = 0; i < 5; i++) s.write('k', hex('0' + i));
    expect(Array.from(s.read('k')!)).toEqual([4]);
    expect([...raw.files.keys()].sort()).toEqual(['k~0', 'k~1']);
  });

  it('a write torn at any byte leaves the previous value readable', () => {
    const data = hex('00112233445566778899aabbccddeeff');
    for (let cut = 0; cut < RECORD_HEADER_LEN + data.length; cut++) {
      const raw = faultyRaw();
      const s = createRecordStorage(raw);
      s.write('key', hex('01'));
      s.write('key', hex('02'));
      raw.tearNextAt = cut;
      expect(() => s.write('key', data)).toThrow('power lost');
      expect(Array.from(s.read('key')!)).toEqual([2]);
      s.write('key', data); // and the store keeps working
      expect(Buffer.from(s.read('key')!).toString('hex')).toBe('00112233445566778899aabbccddeeff');
    }
  });

  it('ignores corrupt slots and reports a record with both slots corrupt as absent', () => {
    const raw = faultyRaw();
    const s = createRecordStorage(raw);
    s.write('r', hex('aa'));
    s.write('r', hex('bb'));
    const newestSlot = raw.files.get('r~1')!;
    newestSlot[RECORD_HEADER_LEN] ^= 1; // bit flip in the data: CRC fails
    expect(Array.from(s.read('r')!)).toEqual([0xaa]);
    raw.files.set('r~0', randomBytes(40));
    expect(s.read('r')).toBeUndefined();
    s.erase('r');
    expect(raw.files.size).toBe(0);
  });
});

describe('node:crypto AES provider', () => {
  it('matches FIPS-197 Appendix C.1 and softAes on random keys/blocks', () => {
    const aes = createNodeAes();
    const rk = new Uint32Array(AES128_SCHEDULE_WORDS);
    expandKey(hex('000102030405060708090a0b0c0d0e0f'), 0, rk);
    const out = new Uint8Array(20);
    aes.encryptBlock(rk, hex('ff00112233445566778899aabbccddeeff'), 1, out, 2);
    // FIPS-197 Appendix C.1 AES-128 ciphertext
    expect(Buffer.from(out.subarray(2, 18)).toString('hex')).toBe('69c4e0d86a7b0430d8cdb78070b4c55a');
    const a = new Uint8Array(16);
    const b = new Uint8Array(16);
    for (let i = 0; i < 50; i++) {
      // Same rk array with a new key each time: the provider must notice the key changed.
      expandKey(randomBytes(16), 0, rk);
      const pt = randomBytes(16);
      aes.encryptBlock(rk, pt, 0, a, 0);
      softAes.encryptBlock(rk, pt, 0, b, 0);
      expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    }
  });
});

describe('clocks, pins, board', () => {
  it('manual clock fires due timers in order and set() moves now()', () => {
    const c = createManualClock(1_700_000_000);
    const fired: string[] = [];
    c.every(1000, () => fired.push('a@' + c.now()));
    c.every(2500, () => fired.push('b@' + c.now()));
    c.advance(5000);
    expect(fired).toEqual(['a@1700000001', 'a@1700000002', 'b@1700000002', 'a@1700000003', 'a@1700000004', 'a@1700000005', 'b@1700000005']);
    c.set(42);
    expect(c.now()).toBe(42);
  });

  it('sim board exposes pins, storage and the native AES provider', () => {
    const b = createSimBoard({ log: () => {}, syntheticLoad: false }); // this test injects the pulses itself
    expect(b.profile.engine).toBe('node');
    expect(b.aes).toBeDefined();
    expect(createSimBoard({ nativeAes: false, log: () => {}, syntheticLoad: false }).aes).toBeUndefined();
    const pulses: number[] = [];
    let tampers = 0;
    b.pins.onPulse((n) => pulses.push(n));
    b.pins.onTamper(() => tampers++);
    b.pins.pulse(3);
    b.pins.tamper();
    b.pins.relay(false);
    expect(pulses).toEqual([3]);
    expect(tampers).toBe(1);
    expect(b.pins.relayClosed).toBe(false);
    expect(b.pins.relaySwitches).toBe(1);
  });
});

describe('serial', () => {
  it('in-memory pair delivers copies asynchronously, never re-entrantly', async () => {
    const [a, b] = createSerialPair();
    const got: number[][] = [];
    b.onData((c) => got.push(Array.from(c)));
    const buf = hex('010203');
    a.write(buf);
    buf[0] = 9; // writer reuses its buffer
    expect(got).toEqual([]);
    await Promise.resolve();
    expect(got).toEqual([[1, 2, 3]]);
  });

  const haveSocat = spawnSync('socat', ['-V']).status === 0;
  it.skipIf(!haveSocat)('opens a real PTY pair from socat with serialport (skipped without socat)', async () => {
    const dir = tmpDir();
    const p0 = path.join(dir, 'pty0');
    const p1 = path.join(dir, 'pty1');
    const socat = spawn('socat', [`pty,raw,echo=0,link=${p0}`, `pty,raw,echo=0,link=${p1}`], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100 && !(fs.existsSync(p0) && fs.existsSync(p1)); i++) await new Promise((r) => setTimeout(r, 20));
      const a = await openSerialPort(p0);
      const b = await openSerialPort(p1);
      const got: number[] = [];
      const done = new Promise<void>((resolve) =>
        b.onData((c) => {
          got.push(...c);
          if (got.length >= 256) resolve();
        }),
      );
      const all = new Uint8Array(256);
      for (let i = 0; i < 256; i++) all[i] = i;
      a.write(all);
      await done;
      expect(got).toEqual(Array.from(all));
      await a.close();
      await b.close();
    } finally {
      socat.kill();
    }
    await expect(openSerialPort(path.join(dir, 'nope'))).rejects.toThrow(/cannot open serial port/);
  });
});
