/**
 * Argument parsing for every subcommand: node:util parseArgs with a declarative spec, `--help` and
 * `--json` added everywhere, and parse failures turned into one-line usage errors.
 */
import { parseArgs } from 'node:util';
import { usageError } from './io.ts';
import { printable } from './text.ts';

/** One option of a subcommand. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  default?: string | boolean;
  /** Shown in --help, e.g. `<path>`. */
  placeholder?: string;
  description: string;
}

/** A subcommand's interface: what --help prints and what the parser accepts. */
export interface CommandSpec {
  /** Full command name, e.g. `vakt meter sim`. */
  name: string;
  summary: string;
  /** Usage line(s) after the command name, e.g. `--port <path> --image <file>`. */
  usage: string;
  options: { [name: string]: OptionSpec };
  /** Allowed number of positional arguments (default 0). */
  positionals?: { min: number; max: number; names: string };
  examples?: string[];
  /** Extra paragraphs printed after the options. */
  notes?: string[];
}

/** Parsed arguments; `values` holds every option (defaults applied), plus `json` and `help`. */
export interface Parsed {
  values: { [name: string]: string | boolean | string[] | undefined };
  positionals: string[];
  json: boolean;
  help: boolean;
}

const COMMON: { [name: string]: OptionSpec } = {
  help: { type: 'boolean', short: 'h', description: 'show this help and exit' },
  json: { type: 'boolean', description: 'machine-readable output: one JSON object on stdout' },
};

/** Parses argv against spec; throws a usage CliError (exit 2) with one plain sentence on any mistake. */
export function parseCommand(spec: CommandSpec, argv: string[]): Parsed {
  const options: { [name: string]: { type: 'string' | 'boolean'; short?: string; multiple?: boolean } } = {};
  const all = { ...COMMON, ...spec.options };
  for (const [name, o] of Object.entries(all)) {
    const p: { type: 'string' | 'boolean'; short?: string; multiple?: boolean } = { type: o.type };
    if (o.short !== undefined) p.short = o.short;
    if (o.multiple === true) p.multiple = true;
    options[name] = p;
  }
  let res: ReturnType<typeof parseArgs>;
  try {
    res = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    const msg = (e as Error).message;
    // node:util reads '--meters -5' as an option followed by another option: say what it is, in one line.
    const amb = /option '([^']+)' argument is ambiguous/i.exec(msg);
    if (amb !== null) {
      const v = argv[argv.indexOf(amb[1]!) + 1] ?? '';
      throw usageError(`${amb[1]} needs a value, got '${printable(v)}' (negative numbers are not accepted; see '${spec.name} --help')`);
    }
    throw usageError(printable(firstSentence(msg)) + ` (see '${spec.name} --help')`);
  }
  const values = res.values as Parsed['values'];
  const help = values.help === true;
  if (!help) {
    const pos = spec.positionals ?? { min: 0, max: 0, names: '' };
    if (res.positionals.length < pos.min) {
      throw usageError(`missing ${pos.names} (see '${spec.name} --help')`);
    }
    if (res.positionals.length > pos.max) {
      throw usageError(`unexpected argument '${res.positionals[pos.max]}' (see '${spec.name} --help')`);
    }
  }
  for (const [name, o] of Object.entries(spec.options)) {
    if (values[name] === undefined && o.default !== undefined) values[name] = o.default;
  }
  return { values, positionals: res.positionals, json: values.json === true, help };
}

function firstSentence(full: string): string {
  const msg = full.split('\n')[0]!;
  const i = msg.indexOf('. ');
  const s = i < 0 ? msg : msg.slice(0, i);
  return s
    .replace(/\.$/, '')
    .replace(/^Unknown option/, 'unknown option')
    .replace(/^Option/, 'option');
}

/** Renders the --help text of a command. */
export function helpText(spec: CommandSpec): string {
  const lines: string[] = [`${spec.name} — ${spec.summary}`, '', `Usage: ${spec.name} ${spec.usage}`, '', 'Options:'];
  const all = { ...spec.options, ...COMMON };
  const left = Object.entries(all).map(([name, o]) => {
    const short = o.short !== undefined ? `-${o.short}, ` : '    ';
    const ph = o.type === 'string' ? ' ' + (o.placeholder ?? '<value>') : '';
    return `  ${short}--${name}${ph}`;
  });
  const width = Math.max(...left.map((l) => l.length)) + 2;
  Object.values(all).forEach((o, i) => {
    const def = o.default !== undefined && o.default !== false ? ` (default ${String(o.default)})` : '';
    const rep = o.multiple === true ? ' (repeatable)' : '';
    lines.push(left[i]!.padEnd(width) + o.description + rep + def);
  });
  for (const n of spec.notes ?? []) lines.push('', n);
  if (spec.examples !== undefined && spec.examples.length > 0) {
    lines.push('', 'Examples:');
    for (const ex of spec.examples) lines.push('  ' + ex);
  }
  return lines.join('\n');
}

/** Reads a string option; throws a usage error naming the option when it is required and absent. */
export function stringOpt(p: Parsed, name: string, required: true): string;
export function stringOpt(p: Parsed, name: string, required?: false): string | undefined;
export function stringOpt(p: Parsed, name: string, required = false): string | undefined {
  const v = p.values[name];
  if (Array.isArray(v)) return v[v.length - 1];
  if (typeof v === 'string') return v;
  if (required) throw usageError(`missing required option --${name}`);
  return undefined;
}

/** Reads a repeatable string option as a list (empty when absent). */
export function listOpt(p: Parsed, name: string): string[] {
  const v = p.values[name];
  if (Array.isArray(v)) return v;
  if (typeof v === 'string') return [v];
  return [];
}

/** Reads an integer option within [min, max]; a non-integer or out-of-range value is a usage error. */
export function intOpt(p: Parsed, name: string, min: number, max: number, dflt: number): number {
  const s = stringOpt(p, name);
  if (s === undefined) return dflt;
  if (!/^[0-9]+$/.test(s.trim())) throw usageError(`--${name} must be a whole number, got '${printable(s)}'`);
  const n = Number(s);
  if (n < min || n > max) throw usageError(`--${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** Reads a decimal number option (e.g. seconds, `0.5`) within (min, max]; anything else is a usage error. */
export function numberOpt(p: Parsed, name: string, min: number, max: number, dflt: number): number {
  const s = stringOpt(p, name);
  if (s === undefined) return dflt;
  if (!/^[0-9]+(\.[0-9]+)?$/.test(s.trim())) throw usageError(`--${name} must be a number, got '${printable(s)}'`);
  const n = Number(s);
  if (!(n > min && n <= max)) throw usageError(`--${name} must be above ${min} and at most ${max}, got ${n}`);
  return n;
}

/** Largest TCP port number. */
export const MAX_PORT = 65535;

/** Parses `host:port` (host defaults to 127.0.0.1); a malformed value is a usage error. */
export function hostPort(s: string, optName: string): { host: string; port: number } {
  const m = /^(?:(\[[^\]]+\]|[^:]+):)?([0-9]{1,5})$/.exec(s.trim());
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || port < 1 || port > MAX_PORT) {
    throw usageError(`--${optName} must be host:port or port (1-${MAX_PORT}), got '${s}'`);
  }
  const host = m[1] === undefined ? '127.0.0.1' : m[1].replace(/^\[|\]$/g, '');
  return { host, port };
}
