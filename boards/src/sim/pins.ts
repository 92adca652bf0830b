// Simulated meter pins: the relay state is recorded, pulses and tamper are injected by the caller.
import type { Pins } from '../types.ts';

/** Pins whose inputs are driven by pulse()/tamper() and whose relay output is readable. */
export interface SimPins extends Pins {
  readonly relayClosed: boolean;
  /** Number of relay() calls so far (tests check a command switched it exactly once). */
  readonly relaySwitches: number;
  pulse(count: number): void;
  tamper(): void;
}

/** Creates simulated pins; the relay starts closed (power on), as a meter leaves the factory. */
export function createSimPins(): SimPins {
  let closed = true;
  let switches = 0;
  const pulseCbs: ((count: number) => void)[] = [];
  const tamperCbs: (() => void)[] = [];
  return {
    get relayClosed() {
      return closed;
    },
    get relaySwitches() {
      return switches;
    },
    relay(c: boolean): void {
      closed = !!c;
      switches++;
    },
    onPulse(cb: (count: number) => void): void {
      pulseCbs.push(cb);
    },
    onTamper(cb: () => void): void {
      tamperCbs.push(cb);
    },
    pulse(count: number): void {
      for (const cb of pulseCbs) cb(count);
    },
    tamper(): void {
      for (const cb of tamperCbs) cb();
    },
  };
}
