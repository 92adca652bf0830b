// Child process for the crash tests: owns the HES database and serves requests over IPC. The parent
// SIGKILLs it at random moments. A reply is sent only after the HES call returned (committed).
import { Hes } from '../../host/src/hes/hes.ts';
import { fromHex } from '../../host/src/crypto/bytes.ts';
import type { CommandParams } from '../../host/src/hes/commands.ts';

const hes = await Hes.open({ dbPath: process.env.VAKT_CRASH_DB!, storeKey: fromHex(process.env.VAKT_CRASH_KEY!), synchronous: 'full' });

type Req =
  | { id: number; op: 'ingest'; frames: string[]; now: number }
  | { id: number; op: 'down'; conc: string; now: number }
  | { id: number; op: 'enqueue'; meter: string; params: CommandParams; now: number }
  | { id: number; op: 'status' };

process.on('message', async (r: Req) => {
  try {
    if (r.op === 'ingest') {
      const res = await hes.ingestBatch(
        r.frames.map((f) => new Uint8Array(Buffer.from(f, 'base64'))),
        r.now,
      );
      process.send!({ id: r.id, ok: true, res });
    } else if (r.op === 'down') {
      const frames = (await hes.nextDownlink(r.conc, r.now)).map((f) => Buffer.from(f).toString('base64'));
      process.send!({ id: r.id, ok: true, frames });
    } else if (r.op === 'enqueue') {
      process.send!({ id: r.id, ok: true, cmd: await hes.enqueueCommand('admin', r.meter, r.params, { nowMs: r.now }) });
    } else if (r.op === 'status') {
      process.send!({ id: r.id, ok: true, status: await hes.meterStatus() });
    }
  } catch (e) {
    process.send!({ id: r.id, ok: false, error: String((e as Error).message) });
  }
});
process.send!({ id: 0, ok: true, ready: true });
