/**
 * The model sections beyond the paper's: correspondence properties ("the HES activates a key only
 * after the meter accepted it") and recorded availability findings. Validated with the same
 * `file:line:column: field: message` errors as the rest of the model.
 */
import { RISK_SCALE_MAX, type AvailabilityRecord, type ModelFile, type Property, type PropertyEvent } from './model-types.ts';
import { isScaleValue } from './model-reader.ts';

/** Default impact of a broken correspondence property ("major"). */
export const DEFAULT_PROPERTY_IMPACT = 4;
const VERDICTS = ['holds', 'fails', 'not-modelled'] as const;

type Issue = (path: string, message: string) => void;
const EVENT_RE = /^\s*(send|accept)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)(?:\.(\d+))?\s*\)\s*$/;

/** Hop ids of every message as written (`messages` when it is an array): X for a plain message, X.1 … X.n for a wrapped relay. */
function hopIds(messages: unknown): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (!Array.isArray(messages)) return out;
  for (const m of messages as Partial<ModelFile['messages'][number]>[]) {
    if (typeof m?.id !== 'string') continue;
    const n = Array.isArray(m.wrap) ? m.wrap.length : 0;
    out.set(m.id, n ? Array.from({ length: n }, (_, i) => `${m.id}.${i + 1}`) : [m.id]);
  }
  return out;
}

function parseEvent(src: unknown, path: string, hops: Map<string, string[]>, issue: Issue): PropertyEvent | undefined {
  const m = typeof src === 'string' ? EVENT_RE.exec(src) : null;
  if (!m) return void issue(path, "write send(MESSAGE) or accept(MESSAGE) (a relayed message's hop as MESSAGE.n)");
  const list = hops.get(m[2]);
  if (!list) return void issue(path, `unknown message "${m[2]}"`);
  if (m[3] !== undefined) {
    const hop = `${m[2]}.${m[3]}`;
    if (!list.includes(hop)) return void issue(path, `"${m[2]}" has no hop ${m[3]} (hops: ${list.join(', ')})`);
    return { kind: m[1] as PropertyEvent['kind'], hop };
  }
  return { kind: m[1] as PropertyEvent['kind'], hop: m[1] === 'send' ? list[0] : list[list.length - 1] };
}

/** Validates `properties`; atoms names the declared atoms. */
export function parseProperties(root: Record<string, unknown>, atoms: Set<string>, issue: Issue): Property[] {
  const v = root.properties;
  if (v === undefined) return [];
  if (!Array.isArray(v)) return (void issue('properties', '"properties" must be an array'), []);
  const hops = hopIds(root.messages);
  const out: Property[] = [];
  const ids = new Set<string>();
  v.forEach((o: Record<string, unknown>, i) => {
    const p = `properties[${i}]`;
    if (typeof o !== 'object' || o === null || Array.isArray(o)) return issue(p, 'must be an object');
    for (const k of Object.keys(o))
      if (!['id', 'label', 'event', 'requires', 'agree', 'impact'].includes(k))
        issue(`${p}.${k}`, `unknown field "${k}" (allowed: id, label, event, requires, agree, impact)`);
    const id = typeof o.id === 'string' && o.id ? o.id : (issue(`${p}.id`, 'id must be a non-empty string'), undefined);
    if (id && ids.has(id)) issue(`${p}.id`, `property id "${id}" used twice`);
    if (id) ids.add(id);
    const event = parseEvent(o.event, `${p}.event`, hops, issue);
    const requires = parseEvent(o.requires, `${p}.requires`, hops, issue);
    const agree: string[] = [];
    if (o.agree !== undefined && !Array.isArray(o.agree)) issue(`${p}.agree`, '"agree" must be an array of atom names');
    else
      (o.agree as unknown[] | undefined)?.forEach((a, j) =>
        typeof a === 'string' && atoms.has(a) ? agree.push(a) : issue(`${p}.agree[${j}]`, `unknown atom "${String(a)}"`),
      );
    const impact = o.impact ?? DEFAULT_PROPERTY_IMPACT;
    if (!isScaleValue(impact)) issue(`${p}.impact`, `impact must be an integer 1…${RISK_SCALE_MAX}`);
    if (o.label !== undefined && typeof o.label !== 'string') issue(`${p}.label`, 'label must be a string');
    if (id && event && requires)
      out.push({
        id,
        label: typeof o.label === 'string' ? o.label : id,
        event,
        requires,
        agree,
        impact: Number(impact) || DEFAULT_PROPERTY_IMPACT,
      });
  });
  return out;
}

/** Validates `availability`: findings the model records because a symbolic analysis cannot derive them. */
export function parseAvailability(root: Record<string, unknown>, attackIds: Set<string>, issue: Issue): AvailabilityRecord[] {
  const v = root.availability;
  if (v === undefined) return [];
  if (!Array.isArray(v)) return (void issue('availability', '"availability" must be an array'), []);
  const out: AvailabilityRecord[] = [];
  v.forEach((o: Record<string, unknown>, i) => {
    const p = `availability[${i}]`;
    if (typeof o !== 'object' || o === null || Array.isArray(o)) return issue(p, 'must be an object');
    for (const k of Object.keys(o))
      if (!['attack', 'verdict', 'claim', 'evidence'].includes(k))
        issue(`${p}.${k}`, `unknown field "${k}" (allowed: attack, verdict, claim, evidence)`);
    if (typeof o.attack !== 'string' || !attackIds.has(o.attack)) issue(`${p}.attack`, `unknown attack model "${String(o.attack)}"`);
    if (!(VERDICTS as readonly unknown[]).includes(o.verdict)) issue(`${p}.verdict`, `verdict must be one of ${VERDICTS.join(', ')}`);
    if (typeof o.claim !== 'string' || !o.claim) issue(`${p}.claim`, 'claim must be a non-empty string');
    if (o.evidence !== undefined && typeof o.evidence !== 'string') issue(`${p}.evidence`, 'evidence must be a string');
    out.push({
      attack: String(o.attack),
      verdict: o.verdict as AvailabilityRecord['verdict'],
      claim: String(o.claim),
      evidence: o.evidence as string | undefined,
    });
  });
  return out;
}
