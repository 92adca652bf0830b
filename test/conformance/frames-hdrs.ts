// Small helpers for frame-level tests on wire v2 (PROTOCOL.md §3).
import * as core from '@vakt/shared';

/** The parsed wire header of a frame (throws when it does not parse). */
export function hdrOf(f: Uint8Array): core.FrameHeader {
  const h = core.createHeader();
  const r = core.parseHeader(f, 0, f.length, h);
  if (r < 0) throw new Error('frame does not parse: ' + core.errorName(r));
  return h;
}

/** Sets the op (e2e) or link type (radio hop) of a frame in place: the low 4 bits of its first byte. */
export function setOp(f: Uint8Array, op: number): void {
  f[0] = (f[0] & 0xf0) | op;
}
