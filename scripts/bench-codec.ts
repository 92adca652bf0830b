/**
 * Codec benchmark (npm run bench:codec). In one process, each figure as a ratio against a
 * reference doing the same work:
 *  - serial deframer: 100-byte link-sized frames pushed in 64-byte chunks (a UART-sized read)
 *    through SerialDeframer; reference: split on 0x00 with Buffer.indexOf, cobsDecode into a
 *    fresh buffer, crc16 check (the obvious allocating implementation);
 *  - GC events (PerformanceObserver 'gc') while deframing 200 000 frames after warm-up;
 *  - CBOR: a READING body [0, seq, t, wh, w] written and read with the cursor API; reference:
 *    cbor-x encode + decode of the same array;
 *  - CRC-16: the 16-entry nibble table of crc16.ts; reference: the classic 256-entry table;
 *  - esbuild bundle size (minified, es2015) of crc16 + cobs + serial + cbor, raw and gzip.
 * Last line: one JSON object.
 */
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { Encoder } from 'cbor-x';
import {
  SerialDeframer,
  cborReaderInit,
  cobsDecode,
  crc16,
  createCborReader,
  encodeSerialFrame,
  readArrayHead,
  readUint,
  serialEncodedMaxLen,
  writeArrayHead,
  writeUint,
} from '../shared/src/index.ts';

const FRAME_LEN = 100;
const FRAMES_IN_WIRE = 1000;
const CHUNK = 64;
const MEASURE_MS = 1000;
const ROUNDS = 3;
const GC_FRAMES = 200_000;
const ROOT = fileURLToPath(new URL('..', import.meta.url));

// One wire of back-to-back frames with a realistic share of zero bytes (headers carry many).
const frame = new Uint8Array(FRAME_LEN);
for (let i = 0; i < FRAME_LEN; i++) frame[i] = i % 9 === 0 ? 0 : (i * 31 + 7) & 0xff;
const wire = new Uint8Array(FRAMES_IN_WIRE * serialEncodedMaxLen(FRAME_LEN));
let wireLen = 0;
for (let k = 0; k < FRAMES_IN_WIRE; k++) {
  frame[1] = k & 0xff;
  wireLen += encodeSerialFrame(frame, 0, FRAME_LEN, wire, wireLen);
}

let delivered = 0;
const deframer = new SerialDeframer(1100, () => {
  delivered++;
});
function oursDeframe(): number {
  for (let off = 0; off < wireLen; off += CHUNK) deframer.push(wire, off, Math.min(CHUNK, wireLen - off));
  return FRAMES_IN_WIRE;
}

const wireBuf = Buffer.from(wire.buffer, 0, wireLen);
function refDeframe(): number {
  let got = 0;
  let start = 0;
  for (;;) {
    const z = wireBuf.indexOf(0, start);
    if (z < 0) break;
    const out = new Uint8Array(z - start);
    const n = cobsDecode(wire, start, z - start, out, 0);
    if (n >= 2 && crc16(out, 0, n - 2) === ((out[n - 2] << 8) | out[n - 1])) got++;
    start = z + 1;
  }
  return got;
}

// CBOR: READING body.
const cbuf = new Uint8Array(64);
const reader = createCborReader();
let sink = 0;
function oursCbor(): number {
  for (let i = 0; i < 1000; i++) {
    let o = writeArrayHead(cbuf, 0, 5);
    o = writeUint(cbuf, o, 0);
    o = writeUint(cbuf, o, 4242 + i);
    o = writeUint(cbuf, o, 1764000000 + i);
    o = writeUint(cbuf, o, 1234567 + i);
    o = writeUint(cbuf, o, 870);
    cborReaderInit(reader, cbuf, 0, o);
    sink += readArrayHead(reader) + readUint(reader) + readUint(reader) + readUint(reader) + readUint(reader) + readUint(reader);
  }
  return 1000;
}
const cx = new Encoder({ useRecords: false, tagUint8Array: false, mapsAsObjects: true });
function refCbor(): number {
  for (let i = 0; i < 1000; i++) {
    const v = cx.decode(cx.encode([0, 4242 + i, 1764000000 + i, 1234567 + i, 870])) as number[];
    sink += v.length + v[1] + v[2] + v[3] + v[4];
  }
  return 1000;
}

// CRC: nibble table (ours) vs a 256-entry table built here.
const TABLE = new Uint16Array(256);
for (let n = 0; n < 256; n++) {
  let c = n << 8;
  for (let b = 0; b < 8; b++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
  TABLE[n] = c;
}
const crcData = new Uint8Array(1024).map((_, i) => (i * 131) & 0xff);
function oursCrc(): number {
  sink ^= crc16(crcData, 0, crcData.length);
  return crcData.length;
}
function refCrc(): number {
  let c = 0xffff;
  for (let i = 0; i < crcData.length; i++) c = (TABLE[((c >>> 8) ^ crcData[i]) & 0xff] ^ (c << 8)) & 0xffff;
  sink ^= c;
  return crcData.length;
}

/** Units of work per second of fn, best of `ROUNDS` runs of MEASURE_MS each. */
function rate(fn: () => number): number {
  let best = 0;
  for (let r = 0; r < ROUNDS; r++) {
    let units = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < MEASURE_MS) {
      units += fn();
      t = performance.now();
    }
    best = Math.max(best, (units * 1000) / (t - t0));
  }
  return best;
}

async function main(): Promise<void> {
  if (refDeframe() !== FRAMES_IN_WIRE) throw new Error('reference deframer lost frames');
  oursDeframe();
  if (delivered !== FRAMES_IN_WIRE) throw new Error('deframer lost frames');
  if (
    oursCrc() !== refCrc() ||
    crc16(crcData, 0, 1024) !==
      (() => {
        let c = 0xffff;
        for (const b of crcData) c = (TABLE[((c >>> 8) ^ b) & 0xff] ^ (c << 8)) & 0xffff;
        return c;
      })()
  )
    throw new Error('crc mismatch');

  const deframeOurs = rate(oursDeframe);
  const deframeRef = rate(refDeframe);
  const cborOurs = rate(oursCbor);
  const cborRef = rate(refCbor);
  const crcOurs = rate(oursCrc);
  const crcRef = rate(refCrc);

  // GC events while deframing in steady state.
  let gcEvents = 0;
  const obs = new PerformanceObserver((list) => {
    gcEvents += list.getEntries().length;
  });
  for (let i = 0; i < 20; i++) oursDeframe(); // warm-up
  await new Promise((r) => setTimeout(r, 50));
  obs.observe({ entryTypes: ['gc'] });
  for (let i = 0; i < GC_FRAMES / FRAMES_IN_WIRE; i++) oursDeframe();
  await new Promise((r) => setTimeout(r, 50));
  obs.disconnect();

  const bundle = await build({
    stdin: {
      contents:
        "export * from './shared/src/crc16.ts'; export * from './shared/src/cobs.ts'; export * from './shared/src/serial.ts'; export * from './shared/src/cbor.ts';",
      resolveDir: ROOT,
      sourcefile: 'codec.ts',
      loader: 'ts',
    },
    bundle: true,
    write: false,
    format: 'esm',
    target: 'es2015',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const code = bundle.outputFiles[0].contents;

  const res = {
    bench: 'codec',
    deframeFramesPerSec: Math.round(deframeOurs),
    deframeRefFramesPerSec: Math.round(deframeRef),
    deframeRatio: +(deframeOurs / deframeRef).toFixed(2),
    deframeMBps: +((deframeOurs * wireLen) / FRAMES_IN_WIRE / 1e6).toFixed(1),
    gcEventsDuringDeframe: gcEvents,
    gcFrames: GC_FRAMES,
    cborBodiesPerSec: Math.round(cborOurs),
    cborRefBodiesPerSec: Math.round(cborRef),
    cborRatio: +(cborOurs / cborRef).toFixed(2),
    crcMBps: +(crcOurs / 1e6).toFixed(1),
    crcRefMBps: +(crcRef / 1e6).toFixed(1),
    crcRatio: +(crcOurs / crcRef).toFixed(2),
    bundleBytes: code.length,
    bundleGzipBytes: gzipSync(code, { level: 9 }).length,
    sink: sink & 1,
  };
  console.log(
    `deframer ${res.deframeRatio}x the allocating reference, CBOR cursor ${res.cborRatio}x cbor-x, CRC nibble table ${res.crcRatio}x the 256-entry table`,
  );
  console.log(JSON.stringify(res));
}

main().catch((e) => {
  console.error(String(e && e.message ? e.message : e));
  process.exit(1);
});
