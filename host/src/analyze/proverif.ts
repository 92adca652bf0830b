/** Placeholder replaced below. */
import type { Model } from './model.ts';
/** ProVerif export (see below). */
export function exportProverif(model: Model): string {
  return `(* ${model.name} *)\n`;
}
