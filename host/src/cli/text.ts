// Operator-supplied text (user names, actors, notes) and anything printed back from the store: names
// are validated (printable, bounded) before they are stored, and every string from the store or
// from a peer is escaped before it reaches a terminal, so an ESC or a newline in a name cannot
// rewrite the operator's screen or forge an output line (issue 10, terminal injection).

/** Longest name (user, actor) the tools store. */
export const MAX_NAME_LEN = 64;
/** Longest string printed from the store before it is cut (with an ellipsis). */
export const MAX_PRINT_LEN = 2000;
// Control (C0, DEL, C1), format (bidi overrides, zero-width) and line/paragraph separators.
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const UNPRINTABLE_ALL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\\]/gu;

/** What is wrong with a name (a sentence), or null when it may be stored. */
export function nameProblem(s: string, what = 'name'): string | null {
  if (typeof s !== 'string' || s.length === 0) return `${what} must not be empty`;
  if ([...s].length > MAX_NAME_LEN) return `${what} must be at most ${MAX_NAME_LEN} characters`;
  if (UNPRINTABLE.test(s)) return `${what} must be printable (no control or formatting characters)`;
  if (s.trim() !== s) return `${what} must not start or end with a space`;
  return null;
}

/** s with every control/format character and backslash escaped (\x1b, \n, \u202e, \\), cut to max characters. */
export function printable(s: string, max = MAX_PRINT_LEN): string {
  const cut = s.length > max ? s.slice(0, max) + '…' : s;
  return cut.replace(UNPRINTABLE_ALL, (c) => {
    if (c === '\\') return '\\\\';
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    const cp = c.codePointAt(0)!;
    return cp <= 0xff ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u${cp.toString(16).padStart(4, '0')}`;
  });
}
