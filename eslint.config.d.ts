// Types of what eslint.config.js exports, for test/lint (the config itself stays plain JavaScript
// so ESLint loads it on Node 20 without a TypeScript loader).
import type { Linter } from 'eslint';

export declare const HOT_FILES: string[];
export declare const ESPRUINO_HOT_LOOP_RULES: { selector: string; message: string }[];
declare const config: Linter.Config[];
export default config;
