/**
 * The model format: a JSON file (schema below, documented in docs/ANALYSIS.md) is validated with
 * errors that name the line and the field, then resolved into hash-consed terms and instantiated
 * (an agent with `instances: n` and every atom `per` that agent are copied n times).
 *
 * This file reads the file and runs the sections in order; the parts: model-reader.ts (fields,
 * issues, declarations, instances), model-terms.ts (term resolution), model-declarations.ts
 * (agents, phases, tuples, links, atoms, lets), model-messages.ts, model-threats.ts (requirements,
 * attacks, risk), model-extras.ts (properties, availability); the types in model-types.ts.
 */
import { readFileSync } from 'node:fs';
import { atom, type Term } from './term.ts';
import { JsonSyntaxError, parseJsonWithLocs, type Loc } from './jsonloc.ts';
import { applyExtends } from './variants.ts';
import { parseAvailability, parseProperties } from './model-extras.ts';
import { ModelError, type Agent, type Model, type ModelFile, type ModelIssue } from './model-types.ts';
import type { Ctx } from './model-reader.ts';
import { TermResolver } from './model-terms.ts';
import { parseAgents, parseAtomsAndLets, parseLinks } from './model-declarations.ts';
import { parseMessages } from './model-messages.ts';
import { parseAttacks, parseRequirements, parseRisk } from './model-threats.ts';

export * from './model-types.ts';

/** Every top-level field a model file may have. */
const ROOT_FIELDS = [
  'extends',
  'name',
  'description',
  'agents',
  'phases',
  'tuples',
  'links',
  'atoms',
  'lets',
  'messages',
  'requirements',
  'attacks',
  'properties',
  'availability',
  'risk',
  '$schema',
];

/** Reads, validates and resolves a model file; throws ModelError listing every issue. */
export function loadModel(path: string): Model {
  return parseModel(readFileSync(path, 'utf8'), path);
}

/** Validates and resolves model JSON text; `file` names it in errors. Throws ModelError. */
export function parseModel(src: string, file = 'model'): Model {
  let parsed;
  try {
    parsed = parseJsonWithLocs(src);
  } catch (e) {
    if (e instanceof JsonSyntaxError)
      throw new ModelError(file, [
        { path: '', line: e.loc.line, col: e.loc.col, message: e.message.replace(/^line \d+, column \d+: /, '') },
      ]);
    throw e;
  }
  const v = parsed.value as Record<string, unknown>;
  if (v && typeof v === 'object' && !Array.isArray(v) && typeof v.extends === 'string') {
    const issues: ModelIssue[] = [];
    const merged = applyExtends(v, file, issues);
    const located = issues.map((i) => ({ ...i, line: parsed.locs.get(i.path)?.line, col: parsed.locs.get(i.path)?.col }));
    if (issues.length) throw new ModelError(file, located);
    // paths of a merged model no longer match a single file's lines: report fields only
    return resolveModel(merged, new Map(), `${file} (extends ${v.extends})`);
  }
  return resolveModel(parsed.value, parsed.locs, file);
}

/** The frame of every let that has one, resolved at the first instance (for the code agreement test). */
function letFrames(r: TermResolver, firstCtx: Ctx): Model['frames'] {
  const frames: Model['frames'] = [];
  for (const [n, l] of r.letDecl) {
    if (!l.frame) continue;
    const env = new Map(l.params.map((x) => [x, atom(`'${x}'`)] as [string, Term]));
    const t = r.resolve(l.term, l.path, firstCtx, undefined, env);
    if (t) frames.push({ let: n, frame: l.frame, term: t });
  }
  return frames;
}

/** Validates and instantiates a parsed model (`locs`: where each field is); throws ModelError listing every issue. */
function resolveModel(value: unknown, locs: Map<string, Loc>, file: string): Model {
  const r = new TermResolver(locs, file);
  const root = r.obj(value, '');
  if (!root) throw new ModelError(file, r.issues);
  r.onlyFields(root, ROOT_FIELDS, '');
  const name = r.str(root, 'name', '') ?? 'model';
  const phases = parseAgents(r, root);
  const { links, linkGeneric } = parseLinks(r, root);
  parseAtomsAndLets(r, root);
  const messages = parseMessages(r, root, phases, links, linkGeneric);
  const requirements = parseRequirements(r, root);
  const firstCtx = r.firstContext();
  const attacks = parseAttacks(r, root, phases, links, linkGeneric, firstCtx);
  const risk = parseRisk(r, root);
  const properties = parseProperties(root, new Set(r.atomDecl.keys()), (path, msg) => r.issue(path, msg));
  const availability = parseAvailability(root, new Set(attacks.map((a) => a.id)), (path, msg) => r.issue(path, msg));
  const frames = letFrames(r, firstCtx);
  if (r.issues.length) throw new ModelError(file, r.issues);
  const agents: Agent[] = [...r.agentsGeneric.entries()].flatMap(([g, a]) =>
    r.instancesOf(g).map((n) => ({ name: n, generic: g, label: a.label })),
  );
  const f = root as unknown as ModelFile;
  return {
    name,
    description: f.description,
    agents,
    phases,
    links,
    atoms: r.atoms,
    names: r.names,
    messages,
    requirements,
    attacks,
    properties,
    availability,
    risk,
    file: f,
    frames,
  };
}
