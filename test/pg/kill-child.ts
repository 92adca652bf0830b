// A HES node's store work in a child process, for test/pg/kill.test.ts to SIGKILL at any moment.
//   ingest <url> <node> <fromBatch> <batches> <batchSize> <meters>: commits batches of readings,
//     printing "acked <b>" after each commit returned (what the server would LINK_ACK);
//   reserve <url> <node>: reserves counter ranges of one key forever, printing "range <lo> <hi>"
//     after each (what the node would seal under).
import { randomBytes } from 'node:crypto';
import { openPgStore } from '../../host/src/hes/store/postgres/index.ts';
import type { IngestCommit } from '../../host/src/hes/store/types.ts';

export const E2E = 0x20;
export const BACKHAUL = 0x82;
export const CONC = Buffer.from('c0c0c0c0c0c0c0c0', 'hex');

export function meterId(i: number): Buffer {
  const b = Buffer.from('a1a1a1a100000000', 'hex');
  b.writeUInt32BE(i, 4);
  return b;
}

/** Batch b: every meter's interval b (counter b), one link frame per meter with a counter unique to (b, meter). */
export function batchOf(b: number, size: number, meters: number): IngestCommit {
  const c: IngestCommit = { link: [], frames: [] };
  for (let i = 0; i < size; i++) {
    const m = i % meters;
    const seq = b * Math.ceil(size / meters) + Math.floor(i / meters) + 1;
    const id = meterId(m);
    c.link.push({ sender: CONC, layer: BACKHAUL, op: 0, dir: 0, gen: 0, last: seq * meters + m, frame: null });
    c.frames.push({
      advance: { sender: id, layer: E2E, op: 1, dir: 0, gen: 0, last: seq, frame: Buffer.from(`e2e:${m}:${seq}`) },
      writes: [
        { kind: 'reading', meter: id, seq, t: 1_700_000_000 + seq * 900, wh: seq, w: 1, counter: seq, gen: 0, via: CONC, receivedMs: 1 },
      ],
    });
  }
  return c;
}

export const RESERVE_KEY = { receiver: meterId(0), layer: E2E, op: 5, gen: 0 };

async function main(): Promise<void> {
  const [cmd, url, node] = process.argv.slice(2);
  const store = await openPgStore(url!, { auditKey: randomBytes(32), node });
  if (cmd === 'ingest') {
    const [from, n, size, meters] = process.argv.slice(5).map(Number);
    for (let b = from!; b < from! + n!; b++) {
      await store.commitIngest(batchOf(b, size!, meters!));
      process.stdout.write(`acked ${b}\n`);
    }
  } else {
    for (;;) {
      const r = await store.reserveSendRange(RESERVE_KEY, 1 + Math.floor(Math.random() * 16), 2 ** 32);
      process.stdout.write(`range ${r.lo} ${r.hi}\n`);
    }
  }
  await store.close();
}

if (process.argv[1]?.endsWith('kill-child.ts')) await main();
