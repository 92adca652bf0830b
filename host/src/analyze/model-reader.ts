/**
 * The model parser's base: reads the fields of the model JSON, recording every issue with the line
 * and column of the field (`file:line:column: field: message`), and holds the declarations later
 * parts resolve names against (agents and their instances, atoms, lets, tuple names).
 */
import { fieldPath, type Loc } from './jsonloc.ts';
import { RISK_SCALE_MAX, type CheckSpec, type FrameSpec, type ModelFile, type ModelIssue } from './model-types.ts';

/** Which instance each replicated generic agent stands for in one instantiation (e.g. Meter → Meter2). */
export type Ctx = Map<string, string>;

/** A check of a message or let, well-formed, with the path it is reported at. */
export interface PlacedCheck {
  spec: CheckSpec;
  path: string;
}

/** A declared let: its term, where it is, and what it carries for the messages that use it. */
export interface LetDecl {
  term: string;
  path: string;
  frame?: FrameSpec;
  params: string[];
  checks: PlacedCheck[];
}

/** True for an integer on the 1…RISK_SCALE_MAX risk scale (likelihood, impact). */
export function isScaleValue(x: unknown): boolean {
  return typeof x === 'number' && Number.isInteger(x) && x >= 1 && x <= RISK_SCALE_MAX;
}

export class ModelReader {
  readonly issues: ModelIssue[] = [];
  /** Generic agents as declared, with their instance counts. */
  readonly agentsGeneric = new Map<string, { instances: number; label?: string }>();
  readonly atomDecl = new Map<string, ModelFile['atoms'][number]>();
  /** Where each atom is declared (its path in the file). */
  readonly atomPath = new Map<string, string>();
  readonly letDecl = new Map<string, LetDecl>();
  readonly tuples = new Set<string>(['tuple']);

  constructor(
    readonly locs: Map<string, Loc>,
    readonly file: string,
  ) {}

  /** Records a problem at `path` (once: a term resolved at every instance reports it once). */
  issue(path: string, message: string, colOffset?: number): void {
    const loc = this.locs.get(path);
    const col = loc ? loc.col + (colOffset ?? 0) : undefined;
    if (this.issues.some((i) => i.path === path && i.col === col && i.message === message)) return;
    this.issues.push({ path, line: loc?.line, col, message });
  }

  str(obj: Record<string, unknown>, key: string, path: string, optional = false): string | undefined {
    const v = obj[key];
    if (v === undefined) {
      if (!optional) this.issue(path, `missing required field "${key}"`);
      return undefined;
    }
    if (typeof v !== 'string' || v === '') {
      this.issue(fieldPath(path, key), `"${key}" must be a non-empty string`);
      return undefined;
    }
    return v;
  }

  arr(obj: Record<string, unknown>, key: string, path: string, optional = false): unknown[] {
    const v = obj[key];
    if (v === undefined) {
      if (!optional) this.issue(path, `missing required field "${key}"`);
      return [];
    }
    if (!Array.isArray(v)) {
      this.issue(fieldPath(path, key), `"${key}" must be an array`);
      return [];
    }
    return v;
  }

  strList(obj: Record<string, unknown>, key: string, path: string, optional = true): string[] {
    const out: string[] = [];
    this.arr(obj, key, path, optional).forEach((v, i) => {
      if (typeof v === 'string' && v) out.push(v);
      else this.issue(`${fieldPath(path, key)}[${i}]`, 'must be a non-empty string');
    });
    return out;
  }

  /** An issue for each field of `obj` not in `allowed`; true when there is none. */
  onlyFields(obj: Record<string, unknown>, allowed: string[], path: string): boolean {
    const unknown = Object.keys(obj).filter((k) => !allowed.includes(k));
    for (const k of unknown) this.issue(fieldPath(path, k), `unknown field "${k}" (allowed: ${allowed.join(', ')})`);
    return unknown.length === 0;
  }

  obj(v: unknown, path: string): Record<string, unknown> | undefined {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      this.issue(path, 'must be an object');
      return undefined;
    }
    return v as Record<string, unknown>;
  }

  /** Each element of array `key` of the root that is an object, with its path (`key[i]`); an issue for the others. */
  eachObject(root: Record<string, unknown>, key: string, optional: boolean, fn: (o: Record<string, unknown>, p: string) => void): void {
    this.arr(root, key, '', optional).forEach((v, i) => {
      const p = `${key}[${i}]`;
      const o = this.obj(v, p);
      if (o) fn(o, p);
    });
  }

  genericAgent(name: string, path: string): boolean {
    if (this.agentsGeneric.has(name)) return true;
    this.issue(path, `unknown agent "${name}" (agents: ${[...this.agentsGeneric.keys()].join(', ')})`);
    return false;
  }

  /** True when the generic agent has more than one instance. */
  replicated(generic: string): boolean {
    return (this.agentsGeneric.get(generic)?.instances ?? 1) > 1;
  }

  instancesOf(generic: string): string[] {
    const a = this.agentsGeneric.get(generic);
    if (!a) return [];
    if (a.instances <= 1) return [generic];
    return Array.from({ length: a.instances }, (_, i) => `${generic}${i + 1}`);
  }

  /** Every assignment of instances to the replicated agents in `gens`. */
  contexts(gens: Set<string>): Ctx[] {
    let out: Ctx[] = [new Map()];
    for (const g of gens) {
      const next: Ctx[] = [];
      for (const c of out) for (const i of this.instancesOf(g)) next.push(new Map(c).set(g, i));
      out = next;
    }
    return out;
  }

  /** Every replicated agent at its first instance. */
  firstContext(): Ctx {
    return new Map([...this.agentsGeneric.entries()].filter(([, a]) => a.instances > 1).map(([g]) => [g, this.instancesOf(g)[0]]));
  }

  inst(name: string, ctx: Ctx): string {
    return ctx.get(name) ?? name;
  }
}
