/**
 * Types of the model format: the file schema users write (docs/ANALYSIS.md) and the resolved,
 * instantiated model the analyser works on.
 */
import type { Term } from './term.ts';

export const ATOM_TYPES = ['symkey', 'keypair', 'counter', 'nonce', 'data', 'const'] as const;
export type AtomType = (typeof ATOM_TYPES)[number];
export const NETWORK = ['none', 'passive', 'active'] as const;
export type Network = (typeof NETWORK)[number];
/** Likelihood and impact are integers 1…RISK_SCALE_MAX (the 5×5 risk matrix). */
export const RISK_SCALE_MAX = 5;

// ------------------------------------------------------------------ file schema (what users write)
export interface FrameSpec {
  layer: 'e2e' | 'link';
  op: string;
  dir: 'UP' | 'DOWN';
  enc: 0 | 1;
  tag: number;
}
export interface CheckSpec {
  counter?: string;
  atomic?: boolean;
  sig?: string;
  tag?: string;
}
export interface ModelFile {
  name: string;
  description?: string;
  agents: { name: string; instances?: number; label?: string }[];
  phases: string[];
  tuples?: string[];
  links: { name: string; a: string; b: string; private?: boolean }[];
  atoms: { name: string; type: AtomType; per?: string; holders?: string[]; derive?: string; abstract?: string; label?: string }[];
  lets?: { name: string; params?: string[]; term: string; frame?: FrameSpec; checks?: CheckSpec[] }[];
  messages: {
    id: string;
    phase: string;
    from: string;
    to: string;
    via?: string[];
    term: string;
    label?: string;
    trigger?: string;
    checks?: CheckSpec[];
    abstract?: string;
    idempotent?: boolean;
    wrap?: string[];
    impact?: number;
    keyUpdate?: { old: string; new: string };
  }[];
  requirements: { element: string; read: string[]; write: string[]; impact?: { read: number; write: number } }[];
  attacks: {
    id: string;
    name: string;
    network?: Network;
    links?: string[];
    phases?: string[];
    compromised?: string[];
    leaks?: string[];
    likelihood?: number;
    note?: string;
  }[];
  properties?: { id: string; label?: string; event: string; requires: string; agree?: string[]; impact?: number }[];
  availability?: { attack: string; verdict: 'holds' | 'fails' | 'not-modelled'; claim: string; evidence?: string }[];
  risk?: {
    acceptance?: { maxScore?: number; grid?: string[] };
    likelihoodLabels?: string[];
    impactLabels?: string[];
    checks?: Record<string, { likelihood: number; impact?: number }>;
  };
}
/** Protocol checks that are not tied to one attack model; their likelihood comes from risk.checks. */
export const CHECK_KINDS = ['substitution', 'reflection', 'forward-secrecy', 'key-transport', 'agreement'] as const;

// ------------------------------------------------------------------ resolved model (what the analyser uses)
export interface AtomInfo {
  term: Term;
  generic: string;
  type: AtomType;
  /** instance agent the atom belongs to (per-agent atoms) */
  owner?: string;
  holders: string[];
  derived: boolean;
  abstract: string;
  label?: string;
}
export interface Agent {
  name: string;
  generic: string;
  label?: string;
}
export interface Link {
  name: string;
  generic: string;
  a: string;
  b: string;
  private: boolean;
}
export interface Msg {
  id: string;
  generic: string;
  phase: string;
  phaseIndex: number;
  from: string;
  to: string;
  via: string[];
  term: Term;
  label: string;
  trigger?: string;
  /** counters the receiver checks (greater than the last accepted, updated atomically unless atomic=false) */
  counters: Term[];
  atomic: boolean;
  sigs: Term[];
  tags: Term[];
  links: string[];
  idempotent: boolean;
  /** what making the receiver act on it (again) achieves, 1…5; unset: from what the receiver learns */
  impact?: number;
  keyUpdate?: { old: Term; new: Term };
  abstract: string;
  /** frame annotations of the lets used inside this message */
  frames: { let: string; frame: FrameSpec; term: Term }[];
}
export interface Requirement {
  element: Term;
  generic: string;
  read: string[];
  write: string[];
  /** "*" in the file: no confidentiality (read) / integrity (write) requirement */
  readPublic: boolean;
  writePublic: boolean;
  impact: { read: number; write: number };
}
export interface AttackModel {
  id: string;
  name: string;
  network: Network;
  links: string[];
  phases: string[];
  compromised: string[];
  leaks: Term[];
  likelihood: number;
  note?: string;
}
/** One side of a correspondence property: an agent sends or accepts a message (hop id, generic). */
export interface PropertyEvent {
  kind: 'send' | 'accept';
  /** generic hop id: the first hop for send(X), the last for accept(X), or an explicit X.n */
  hop: string;
}
/**
 * A correspondence (agreement) property: whenever `event` happens, `requires` has happened before,
 * for the same instance (the same meter), agreeing on the values of the `agree` atoms.
 */
export interface Property {
  id: string;
  label: string;
  event: PropertyEvent;
  requires: PropertyEvent;
  /** generic atom names both events must agree on */
  agree: string[];
  impact: number;
}
/** An availability finding recorded in the model (not derived: a symbolic model has no resources). */
export interface AvailabilityRecord {
  attack: string;
  verdict: 'holds' | 'fails' | 'not-modelled';
  claim: string;
  evidence?: string;
}
export interface Model {
  name: string;
  description?: string;
  agents: Agent[];
  phases: string[];
  links: Link[];
  atoms: Map<Term, AtomInfo>;
  /** display name of named terms (derived keys, lets) */
  names: Map<Term, string>;
  messages: Msg[];
  requirements: Requirement[];
  attacks: AttackModel[];
  properties: Property[];
  availability: AvailabilityRecord[];
  risk: {
    maxScore: number;
    grid?: string[];
    likelihoodLabels: string[];
    impactLabels: string[];
    checks: Record<string, { likelihood: number; impact?: number }>;
  };
  /** the file as written (before instantiation), for Table 1 and the ProVerif export */
  file: ModelFile;
  /** lets with frame annotations, generic (uninstantiated) names → resolved at the first instance */
  frames: { let: string; frame: FrameSpec; term: Term }[];
}

/** One problem in a model file, pointing at a line and a field path. */
export interface ModelIssue {
  path: string;
  line?: number;
  col?: number;
  message: string;
}

/** A model file that failed validation; `issues` lists every problem found, each with line and field. */
export class ModelError extends Error {
  constructor(
    readonly file: string,
    readonly issues: ModelIssue[],
  ) {
    super(issues.map((i) => `${file}:${i.line ?? '?'}:${i.col ?? '?'}: ${i.path ? i.path + ': ' : ''}${i.message}`).join('\n'));
  }
}
