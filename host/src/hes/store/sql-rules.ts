// SQL fragments both stores share (SQLite and PostgreSQL speak the same here): one definition of
// which audit actions are security events and which tables count() may name.

/** Audit actions that are security events (refused frames, meter security EVENTs, logins, permissions). */
export const SECURITY_KINDS =
  "(action LIKE 'security.%' OR action = 'meter.security_event' OR action LIKE 'auth.%' OR action = 'policy.denied')";

/** Tables count() may name (the name goes into the statement, so only these). */
export const COUNTABLE_TABLES: ReadonlySet<string> = new Set([
  'readings',
  'audit',
  'events',
  'register_reads',
  'commands',
  'replay',
  'send_ctr',
  'keys',
  'meters',
  'concentrators',
  'tokens',
  'users',
  'shipments',
]);
