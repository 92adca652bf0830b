/**
 * A small JSON parser that remembers where every value starts, so model errors can point at a
 * line and a field ("line 42, messages[3].term"). Plain JSON only (no comments, no trailing commas).
 */

export interface Loc {
  line: number; // 1-based
  col: number; // 1-based
}

/** A JSON syntax error with the line and column where parsing stopped. */
export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly loc: Loc,
  ) {
    super(`line ${loc.line}, column ${loc.col}: ${message}`);
  }
}

export interface LocatedJson {
  value: unknown;
  /** path ("messages[3].term") → where its value starts */
  locs: Map<string, Loc>;
}

/** The path of field `key` of the object at `path`: `messages[0].to`; a top-level field is just its name. */
export function fieldPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/** Parses `src` as JSON and records the start of every value by its path. */
export function parseJsonWithLocs(src: string): LocatedJson {
  let pos = 0;
  let line = 1;
  let lineStart = 0;
  const locs = new Map<string, Loc>();
  const here = (): Loc => ({ line, col: pos - lineStart + 1 });
  const fail = (msg: string): never => {
    throw new JsonSyntaxError(msg, here());
  };
  const ws = (): void => {
    while (pos < src.length) {
      const c = src[pos];
      if (c === '\n') {
        pos++;
        line++;
        lineStart = pos;
      } else if (c === ' ' || c === '\t' || c === '\r') pos++;
      else break;
    }
  };
  const str = (): string => {
    const start = pos;
    pos++;
    for (;;) {
      if (pos >= src.length) fail('unterminated string');
      const c = src[pos];
      if (c === '"') break;
      if (c === '\n') fail('line break inside a string');
      pos += c === '\\' ? 2 : 1;
    }
    pos++;
    try {
      return JSON.parse(src.slice(start, pos)) as string;
    } catch {
      return fail('bad escape in string');
    }
  };
  const value = (path: string): unknown => {
    ws();
    locs.set(path, here());
    const c = src[pos];
    if (c === '{') {
      pos++;
      const obj: Record<string, unknown> = {};
      ws();
      if (src[pos] === '}') {
        pos++;
        return obj;
      }
      for (;;) {
        ws();
        if (src[pos] !== '"') fail('expected a quoted field name');
        const keyLoc = here();
        const key = str();
        if (Object.prototype.hasOwnProperty.call(obj, key)) throw new JsonSyntaxError(`duplicate field "${key}"`, keyLoc);
        ws();
        if (src[pos] !== ':') fail(`expected ':' after "${key}"`);
        pos++;
        obj[key] = value(fieldPath(path, key));
        ws();
        if (src[pos] === ',') {
          pos++;
          continue;
        }
        if (src[pos] === '}') {
          pos++;
          return obj;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      pos++;
      const arr: unknown[] = [];
      ws();
      if (src[pos] === ']') {
        pos++;
        return arr;
      }
      for (;;) {
        arr.push(value(`${path}[${arr.length}]`));
        ws();
        if (src[pos] === ',') {
          pos++;
          continue;
        }
        if (src[pos] === ']') {
          pos++;
          return arr;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return str();
    const m = /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(src.slice(pos, pos + 40));
    if (!m) return fail(pos >= src.length ? 'unexpected end of file' : `unexpected character ${JSON.stringify(c)}`);
    pos += m[0].length;
    return JSON.parse(m[0]);
  };
  const v = value('');
  ws();
  if (pos < src.length) fail('unexpected text after the end of the model');
  return { value: v, locs };
}
