// Child process that owns a HES database for tests that must survive a HES that hangs: the parent
// (test/host/hes-guard.ts) bounds every request by time and kills this process when it overruns, so
// a hang fails the test instead of stalling vitest (a synchronous loop cannot be interrupted in-process).
import { Hes } from '../../host/src/hes/hes.ts';
import { fromHex } from '../../host/src/crypto/bytes.ts';

const hes = await Hes.open({ dbPath: process.env.VAKT_GUARD_DB!, storeKey: fromHex(process.env.VAKT_GUARD_KEY!), synchronous: 'normal' });
const b64 = (f: string) => new Uint8Array(Buffer.from(f, 'base64'));
const count = (t: string) => hes.store.count(t);

type Req =
  | { id: number; op: 'ingest'; frames: string[]; now: number }
  | { id: number; op: 'down'; conc: string; now: number }
  | { id: number; op: 'acks'; conc: string; counters: number[] }
  | { id: number; op: 'count'; tables: string[] }
  | { id: number; op: 'readings'; meter: string }
  | { id: number; op: 'enqueue'; meter: string; now: number };

process.on('message', async (r: Req) => {
  try {
    if (r.op === 'ingest') process.send!({ id: r.id, ok: true, res: await hes.ingestBatch(r.frames.map(b64), r.now) });
    else if (r.op === 'down')
      process.send!({ id: r.id, ok: true, frames: (await hes.nextDownlink(r.conc, r.now)).map((f) => Buffer.from(f).toString('base64')) });
    else if (r.op === 'acks')
      process.send!({ id: r.id, ok: true, frames: (await hes.linkAcks(r.conc, r.counters)).map((f) => Buffer.from(f).toString('base64')) });
    else if (r.op === 'count')
      process.send!({ id: r.id, ok: true, counts: Object.fromEntries(await Promise.all(r.tables.map(async (t) => [t, await count(t)]))) });
    else if (r.op === 'enqueue')
      process.send!({ id: r.id, ok: true, cmd: await hes.enqueueCommand('admin', r.meter, { kind: 'read' }, { nowMs: r.now }) });
    else if (r.op === 'readings') process.send!({ id: r.id, ok: true, readings: await hes.readings(r.meter, 1000) });
  } catch (e) {
    process.send!({ id: r.id, ok: false, error: String((e as Error).message) });
  }
});
process.send!({ id: 0, ok: true });
