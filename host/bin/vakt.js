#!/usr/bin/env node
// The `vakt` command. The CLI is TypeScript run directly (no build step), so register tsx's
// ESM loader first, then hand over to the dispatcher. Exit code = the subcommand's result.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
