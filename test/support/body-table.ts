// Renders the body table of shared/src/bodies.ts as the Markdown table of PROTOCOL.md §10, so the
// document is written from the code (test/host/bodies.test.ts checks that the two agree;
// `npx tsx test/support/body-table.ts --write` rewrites the block between the markers).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BODY_SHAPES, U32_MAX, UINT_MAX } from '@vakt/shared/bodies';
import type { BodyField, UintField } from '@vakt/shared/bodies';

export const BEGIN = '<!-- body-table:begin (generated from shared/src/bodies.ts) -->';
export const END = '<!-- body-table:end -->';
const OPS = ['?', 'READING', 'READ', 'RELAY', 'CONFIG', 'CLOCK', 'FIRMWARE', 'KEY_UPDATE', 'EVENT', 'ACK'];

const range = (min: number, max: number): string => {
  if (min === 0 && max === U32_MAX) return 'u32';
  if (min === 0 && max === UINT_MAX) return 'uint';
  return `${min}…${max === U32_MAX ? '2³²−1' : max === UINT_MAX ? '2⁵³−1' : max}`;
};
const uint = (f: UintField | { name: string; min: number; max: number }): string =>
  f.min === f.max ? `${f.name} = ${f.min}` : `${f.name}: ${range(f.min, f.max)}`;

function item(f: BodyField): string {
  if (f.type === 'uint') return uint(f);
  if (f.type === 'bytes') return `${f.name}: bstr ${f.min === f.max ? f.min : `${f.min}…${f.max}`} B`;
  if (f.type === 'rows') return `${f.name}: [≤ ${f.max} × [${f.row.map(uint).join(', ')}]]`;
  return `${f.name}: {${f.entries.map((e) => `${e.key} ⇒ ${e.name}: ${range(e.min, e.max)}`).join(', ')}} (each key at most once)`;
}

/** The Markdown block (markers included). */
export function renderBodyTable(): string {
  const rows = BODY_SHAPES.map(
    (s) => `| ${OPS[s.op]} | ${s.dir === 0 ? 'UP' : 'DOWN'} | ${s.name} | \`[${s.fields.map(item).join(', ')}]\` |`,
  );
  return [BEGIN, '| op | direction | body | items (u32 = 0…2³²−1, uint = 0…2⁵³−1) |', '|---|---|---|---|', ...rows, END].join('\n');
}

export const PROTOCOL_MD = join(import.meta.dirname, '..', '..', 'docs', 'PROTOCOL.md');

/** The block as it stands in PROTOCOL.md, or null when the markers are missing. */
export function documentedBodyTable(): string | null {
  const doc = readFileSync(PROTOCOL_MD, 'utf8');
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  return a < 0 || b < a ? null : doc.slice(a, b + END.length);
}

if (process.argv.includes('--write')) {
  const doc = readFileSync(PROTOCOL_MD, 'utf8');
  const cur = documentedBodyTable();
  if (cur === null) throw new Error('PROTOCOL.md has no body-table markers');
  writeFileSync(PROTOCOL_MD, doc.replace(cur, renderBodyTable()));
}
