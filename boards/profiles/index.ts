// Every board profile, by name. Adding a board = adding a profile file here (and an adapter only
// if its engine has none yet).
import type { BoardProfile } from '../src/types.ts';
import { espruinoPico } from './espruino-pico.ts';
import { puckjs } from './puckjs.ts';
import { moddableEsp32 } from './moddable-esp32.ts';
import { sim } from './sim.ts';
import { picoE32Concentrator } from './pico-e32-concentrator.ts';

export { espruinoPico, puckjs, moddableEsp32, sim, picoE32Concentrator };

/** All known boards in build order. */
export const profiles: readonly BoardProfile[] = [espruinoPico, puckjs, moddableEsp32, sim, picoE32Concentrator];

/** Looks a profile up by name; undefined if there is none. */
export function findProfile(name: string): BoardProfile | undefined {
  for (const p of profiles) if (p.name === name) return p;
  return undefined;
}
