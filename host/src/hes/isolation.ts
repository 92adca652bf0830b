// Per-frame fault isolation of the HES ingest path (issue 10, PROTOCOL.md §10 "per-frame fault
// rules"): the refusal code of a frame the HES could not process, seal errors, bounded,
// integer-safe gap-fill ranges. Which errors fail a whole batch: store/types.ts StoreFaultError.

/** Ingest refusal code of a frame the HES could not process (an exception inside its handling). */
export const ERR_FRAME_FAULT = -100;
/** Its name in IngestResult.error and in the audit action (security.err_internal). */
export const FRAME_FAULT_NAME = 'ERR_INTERNAL';

/** The name of a HES-level refusal code, or undefined for a core error code (errorName covers those). */
export function frameFaultName(code: number): string | undefined {
  return code === ERR_FRAME_FAULT ? FRAME_FAULT_NAME : undefined;
}

/**
 * The load-profile ranges to ask for when intervals from … to are missing: at most `window`
 * intervals ending at `to` (older ones are no longer held by the meter), in pieces of at most
 * `piece`. Safe for any numbers: non-integers, non-finite or reversed bounds give no range, and
 * the count of ranges is at most ceil(window / piece) whatever the bounds.
 */
export function gapFillRanges(from: number, to: number, piece: number, window: number): [number, number][] {
  const out: [number, number][] = [];
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || !(piece >= 1) || !(window >= 1)) return out;
  const lo = Math.max(from, to - window + 1);
  for (let a = lo, n = 0; a <= to && n * piece < window; a += piece, n++) out.push([a, Math.min(to, a + piece - 1)]);
  return out;
}

/** A frame the HES could not seal (core error code), naming the meter and op when end to end. */
export class SealError extends Error {
  constructor(
    readonly code: number,
    readonly what: string,
    readonly meter?: string,
    readonly op?: number,
  ) {
    super(`sealing ${what} failed: ${code}`);
    this.name = 'SealError';
  }
}
