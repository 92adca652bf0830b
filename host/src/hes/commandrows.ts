// Command rows as writes of the unit being built (state machine of commands.ts; every transition
// but a (re)send audited; the store applies each transition only if the row is still in the state
// it was read in — another node or process may have moved it).
import { hesAbandonUpdate, KX_STAGED, KU_CHANGED } from '@vakt/shared';
import { toHex } from '../crypto/bytes.ts';
import { KIND_INFO, canTransition } from './commands.ts';
import type { CommandParams, CommandState } from './commands.ts';
import { HesError } from './constants.ts';
import type { HesCore, MeterState } from './state.ts';
import type { CommandRow } from './store/types.ts';

export class CommandRows {
  constructor(private readonly core: HesCore) {}

  private get unit() {
    const u = this.core.unit;
    if (u === null) throw new HesError('internal: command change outside a unit of work');
    return u;
  }

  /** Queues a command in the unit (audited as command.queued by the store); returns the index of its write (its result carries the id). */
  insert(actor: string, m: MeterState, p: CommandParams, nowMs: number, expiryMs: number): number {
    const u = this.unit;
    u.push({
      kind: 'insertCommand',
      cmd: {
        meterId: m.id,
        kind: p.kind,
        op: KIND_INFO[p.kind].op,
        params: JSON.stringify(p),
        actor,
        createdMs: nowMs,
        expiresMs: nowMs + expiryMs,
      },
    });
    return u.length - 1;
  }

  /** Moves a command to `to` (conditional on its current state in the store). */
  set(
    row: CommandRow,
    to: CommandState,
    p: CommandParams,
    nowMs: number,
    result: unknown,
    nextTry = row.nextTryMs,
    attempts = row.attempts,
  ): void {
    if (!canTransition(row.state, to)) throw new HesError(`command ${row.id}: illegal transition ${row.state} -> ${to}`);
    const params = JSON.stringify(p);
    const res = result === undefined ? row.result : JSON.stringify(result);
    this.unit.push({
      kind: 'updateCommand',
      id: row.id,
      expect: row.state,
      state: to,
      params,
      attempts,
      nextTryMs: nextTry,
      updatedMs: nowMs,
      result: res,
      ...(to !== 'sent'
        ? {
            audit: {
              actor: row.actor,
              action: `command.${to}`,
              subject: `${toHex(row.meterId)}#${row.id}`,
              detail: { kind: row.kind, result },
              tsMs: nowMs,
            },
          }
        : {}),
    });
    Object.assign(row, { state: to, params, attempts, nextTryMs: nextTry, updatedMs: nowMs, result: res });
  }

  /** Changes a sent command's parameters and schedules it at once (next firmware phase), as a resend. */
  reschedule(row: CommandRow, p: CommandParams, nowMs: number): void {
    this.set(row, 'sent', p, nowMs, undefined, 0, 0);
  }

  /** Ends a command as failed or expired; a pending key update is abandoned (its generation is never reused). */
  end(row: CommandRow, to: 'failed' | 'expired', nowMs: number, result: unknown): void {
    const p = JSON.parse(row.params) as CommandParams;
    this.set(row, to, p, nowMs, result);
    if (p.kind === 'key_update') {
      const m = this.core.meters.get(toHex(row.meterId));
      if (m !== undefined && m.ring.xState === KX_STAGED && hesAbandonUpdate(m.ring, m.persist) === KU_CHANGED) this.core.refreshKc(m);
    }
  }
}
