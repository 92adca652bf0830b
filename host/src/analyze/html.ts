import type { Model } from './model.ts';
import type { Report } from './report.ts';
/** HTML report (see below). */
export function renderHtml(r: Report, _m: Model): string {
  return `<!doctype html><title>${r.model}</title>`;
}
