// The Espruino hot-loop lint rules (eslint.config.js, ESPRUINO_HOT_LOOP_RULES) on snippets: what a
// per-byte loop must not contain is flagged, the same code written the Espruino way is not.
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { Linter } from 'eslint';
import { ESPRUINO_HOT_LOOP_RULES, HOT_FILES } from '../../eslint.config.js';

const ROOT = path.resolve(__dirname, '..', '..');
const linter = new Linter({ configType: 'flat' });
const lint = (code: string): string[] =>
  linter
    .verify(code, [
      {
        languageOptions: { ecmaVersion: 2022, sourceType: 'module' },
        rules: { 'no-restricted-syntax': ['error', ...ESPRUINO_HOT_LOOP_RULES] },
      },
    ])
    .map((m) => m.message);

describe('Espruino hot-loop lint rules', () => {
  it('flags let/const, allocation and closures in a loop body (for, while, do, for-of)', () => {
    expect(lint('for (let i = 0; i < 4; i++) { const b = i * 2; }')).toHaveLength(1);
    expect(lint('let i = 0; while (i < 4) { let b = i; i++; }')).toHaveLength(1);
    expect(lint('let i = 0; do { const b = new Uint8Array(16); i += b.length; } while (i < 64);')).toHaveLength(2);
    expect(lint('for (const x of [1, 2]) { [x].forEach((y) => y); }')).toHaveLength(1);
    expect(lint('for (let i = 0; i < 4; i++) { if (i) { const nested = i; } }')).toHaveLength(1);
    expect(lint('for (let i = 0; i < 4; i++) { const f = function () {}; }')[0]).toMatch(/scope per iteration/);
  });
  it('accepts the Espruino way: variables and buffers declared before the loop', () => {
    expect(lint('let b = 0; const buf = new Uint8Array(16); for (let i = 0; i < 4; i++) { b = i * 2; buf[i] = b; }')).toEqual([]);
    expect(lint('function f(a) { var t; for (var i = 0; i < a.length; i++) { t = a[i]; a[i] = t ^ 1; } }')).toEqual([]);
  });
  it('applies to the per-byte/per-block core files, which exist', () => {
    for (const f of HOT_FILES) expect(fs.existsSync(path.join(ROOT, f)), f).toBe(true);
  });
});
