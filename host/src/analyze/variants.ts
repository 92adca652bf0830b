/**
 * Variant files: {"extends": "base.json", "patch": {section: [entries]}, "remove": {section: [keys]}}.
 * Each broken fixture is a small variant of Vakt's model, so it shows exactly which design decision
 * it changes.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { parseJsonWithLocs } from './jsonloc.ts';
import type { ModelIssue } from './model-types.ts';

/** A JSON object (not null, not an array). */
function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const KEY_FIELD: Record<string, string> = {
  agents: 'name',
  links: 'name',
  atoms: 'name',
  lets: 'name',
  messages: 'id',
  requirements: 'element',
  attacks: 'id',
};

/**
 * A variant file: {"extends": "base.json", "patch": {section: [entries]}, "remove": {section: [keys]}}.
 * A patch entry replaces the base entry with the same name/id (or is appended); `remove` deletes.
 */
export function applyExtends(variant: Record<string, unknown>, file: string, issues: ModelIssue[]): Record<string, unknown> {
  const basePath = resolvePath(dirname(file), String(variant.extends));
  let base: unknown;
  try {
    base = parseJsonWithLocs(readFileSync(basePath, 'utf8')).value;
  } catch (e) {
    issues.push({ path: 'extends', message: `cannot read base model ${basePath}: ${(e as Error).message}` });
    return variant;
  }
  if (!isObject(base)) {
    issues.push({ path: 'extends', message: `base model ${basePath} is not a JSON object` });
    return variant;
  }
  if (base.extends !== undefined) issues.push({ path: 'extends', message: 'a base model cannot itself extend another' });
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(variant)) if (!['extends', 'patch', 'remove'].includes(k)) out[k] = v;
  const edit = (what: 'patch' | 'remove'): void => {
    const spec = variant[what];
    if (spec === undefined) return;
    if (!isObject(spec)) return void issues.push({ path: what, message: `${what} must be an object of sections` });
    for (const [section, entries] of Object.entries(spec)) {
      const key = KEY_FIELD[section];
      if (!key || !Array.isArray(entries)) {
        issues.push({
          path: `${what}.${section}`,
          message: `unknown section or not an array (sections: ${Object.keys(KEY_FIELD).join(', ')})`,
        });
        continue;
      }
      const baseList = out[section] ?? [];
      if (!Array.isArray(baseList)) {
        issues.push({ path: `${what}.${section}`, message: `the base model's "${section}" is not an array` });
        continue;
      }
      // entries of any shape: the merged model is validated as a whole afterwards
      const list = baseList.slice() as unknown[];
      for (const e of entries) {
        const id = what === 'remove' ? e : isObject(e) ? e[key] : undefined;
        const at = list.findIndex((x) => isObject(x) && x[key] === id);
        if (what === 'remove') {
          if (at < 0) issues.push({ path: `remove.${section}`, message: `no ${section} entry "${String(id)}" in the base model` });
          else list.splice(at, 1);
        } else if (at >= 0) list[at] = e;
        else list.push(e);
      }
      out[section] = list;
    }
  };
  edit('patch');
  edit('remove');
  return out;
}
