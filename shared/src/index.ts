// Public surface of the security core. Each module adds its own `export *` line.
export * from './errors.ts';
