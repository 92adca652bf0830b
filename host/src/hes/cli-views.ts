// `vakt hes readings | meters | audit`: what the HES has stored, for an authenticated user with the
// right to view it; `audit --verify` also proves the log was not altered.
import { intOpt, stringOpt } from '../cli/args.ts';
import type { Parsed } from '../cli/args.ts';
import type { CliIo } from '../cli/io.ts';
import { printJson, printTable } from '../cli/output.ts';
import type { Hes } from './hes.ts';
import { DEFAULT_AUDIT_SHOWN, DEFAULT_READINGS_SHOWN, meterOpt } from './cli-common.ts';

/** Most readings one `hes readings` prints. */
const MAX_READINGS_SHOWN = 100_000;
/** Most audit entries one `hes audit` prints. */
const MAX_AUDIT_SHOWN = 1_000_000;
/** Widest audit detail column; longer details end in '...'. */
const AUDIT_DETAIL_WIDTH = 80;

export async function cmdReadings(hes: Hes, me: string, p: Parsed, io: CliIo): Promise<number> {
  await hes.require(me, 'view', 'readings');
  const rows = await hes.readings(meterOpt(p), intOpt(p, 'limit', 1, MAX_READINGS_SHOWN, DEFAULT_READINGS_SHOWN));
  if (p.json) printJson(io, { meter: meterOpt(p), readings: rows });
  else
    printTable(
      io,
      ['seq', 'time', 'Wh', 'W'],
      rows.map((r) => [r.seq, new Date(r.t * 1000).toISOString(), r.wh, r.w]),
    );
  return 0;
}

export async function cmdMeters(hes: Hes, me: string, p: Parsed, io: CliIo): Promise<number> {
  await hes.require(me, 'view', 'meters');
  const rows = await hes.meterStatus();
  if (p.json) printJson(io, { meters: rows });
  else
    printTable(
      io,
      ['meter', 'concentrator', 'readings', 'last seq', 'key gen', 'status'],
      rows.map((r) => [r.id, r.concentrator, r.readings, r.maxSeq, r.keyGen, r.status]),
    );
  return 0;
}

/** A detail cut to AUDIT_DETAIL_WIDTH characters, '...' included. */
function shortDetail(detail: string): string {
  return detail.length > AUDIT_DETAIL_WIDTH ? detail.slice(0, AUDIT_DETAIL_WIDTH - 3) + '...' : detail;
}

export async function cmdAudit(hes: Hes, me: string, p: Parsed, io: CliIo): Promise<number> {
  await hes.require(me, 'view', 'audit');
  if (p.values.head === true) {
    const h = await hes.audit.headString();
    if (p.json) printJson(io, { head: h });
    else io.out(h);
    return 0;
  }
  if (p.values.verify === true) {
    const anchor = stringOpt(p, 'anchor');
    const r = anchor === undefined ? await hes.audit.verify() : await hes.audit.verifyAgainst(anchor);
    if (p.json) printJson(io, r);
    else io.out(r.ok ? `audit log intact: ${r.entries} entries, chain and head verified` : `AUDIT LOG ALTERED: ${r.error}`);
    return r.ok ? 0 : 1;
  }
  const rows = await hes.audit.list(
    intOpt(p, 'from', 1, Number.MAX_SAFE_INTEGER, 1),
    intOpt(p, 'limit', 1, MAX_AUDIT_SHOWN, DEFAULT_AUDIT_SHOWN),
  );
  if (p.json) printJson(io, { entries: rows });
  else
    printTable(
      io,
      ['seq', 'time', 'actor', 'action', 'subject', 'detail'],
      rows.map((r) => [r.seq, new Date(r.tsMs).toISOString(), r.actor, r.action, r.subject, shortDetail(r.detail)]),
    );
  return 0;
}
