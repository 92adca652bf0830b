// One linter for the whole repository: `npm run lint` (ESLint flat config, typescript-eslint).
// Formatting is Prettier's (`npm run format:check`, .prettierrc.json); eslint-config-prettier turns
// off every style rule that would disagree with it.
//
// Espruino hot-loop rules (HOT_FILES: the parts of the security core that run per byte or per AES
// block on Espruino for every frame, docs/FIRMWARE.md): in a loop body, a `let`/`const` makes Espruino create a scope per iteration
// (~8 % of a software AES block), and a `new` or a function expression allocates per iteration,
// which the core must not do in steady state. Declare before the loop; allocate once.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

const LOOP = ':matches(ForStatement, ForInStatement, ForOfStatement, WhileStatement, DoWhileStatement) > BlockStatement';

/** Core files whose loops run per byte or per block of every frame. */
export const HOT_FILES = ['aes', 'ccm', 'cmac', 'kdf', 'crc16', 'cobs', 'serial', 'seal', 'frame', 'utils', 'replay', 'counter'].map(
  (f) => `shared/src/${f}.ts`,
);

/** no-restricted-syntax entries for code that runs in Espruino hot loops. */
export const ESPRUINO_HOT_LOOP_RULES = [
  {
    selector: `${LOOP} VariableDeclaration[kind=/^(let|const)$/]`,
    message: 'Espruino creates a scope per iteration for let/const in a loop body: declare the variable before the loop (var-like reuse).',
  },
  {
    selector: `${LOOP} NewExpression`,
    message: 'allocation in a loop body: the core allocates once, outside its loops (no allocation in steady state).',
  },
  {
    selector: `${LOOP} :matches(FunctionExpression, ArrowFunctionExpression)`,
    message: 'a function created in a loop body allocates a closure per iteration on Espruino: hoist it out of the loop.',
  },
];

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '**/build/**', 'coverage/**', 'host/web/vendor/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: 'module' },
    rules: {
      // `_`-prefixed parameters and variables are deliberately unused (callbacks with a fixed shape).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Engine harnesses and fakes type foreign objects loosely; say so where it happens instead.
      '@typescript-eslint/no-explicit-any': 'warn',
      // `const self = this` is how the Espruino-subset code hands its object to callbacks.
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['self'] }],
      // Firmware drops references on purpose (`prov = undefined`) so Espruino can free the variables.
      'no-useless-assignment': 'warn',
      'preserve-caught-error': 'warn',
    },
  },
  {
    // Plain JavaScript run by Node or by the engines' harnesses (test/xs/*.js, *.mjs).
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: {
      globals: {
        globalThis: 'readonly',
        print: 'readonly',
        console: 'readonly',
        process: 'readonly',
        require: 'readonly',
        module: 'writable',
        __dirname: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        URL: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
      },
    },
  },
  {
    // Engine harnesses: they probe each engine's own globals and load Node modules only under Node.
    files: ['test/xs/**/*.js'],
    languageOptions: { globals: { E: 'readonly', getTime: 'readonly', setTime: 'readonly', gc: 'readonly', performance: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { globals: { performance: 'readonly' } },
  },
  {
    // The HES web console runs in the browser (host/web, served by host/src/http).
    files: ['host/web/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        [
          'window',
          'document',
          'location',
          'history',
          'fetch',
          'Node',
          'URLSearchParams',
          'queueMicrotask',
          'confirm',
          'encodeURIComponent',
        ].map((g) => [g, 'readonly']),
      ),
    },
  },
  {
    files: HOT_FILES,
    rules: { 'no-restricted-syntax': ['error', ...ESPRUINO_HOT_LOOP_RULES] },
  },
  {
    // Espruino-subset code declares with `var` on purpose: the interpreter creates a scope per
    // block-scoped declaration, and `var` in the per-byte / per-block paths avoids it.
    files: [...HOT_FILES, 'boards/src/espruino/**/*.ts', 'firmware/src/**/*.ts'],
    rules: { 'no-var': 'off' },
  },
  prettier,
);
