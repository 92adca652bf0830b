// Shared set-up for HTTP API and browser tests: a HES with meters and readings, one user per role
// with a password and an API token, and the Fastify app.
import type { FastifyInstance } from 'fastify';
import { makeFixture, readingFrame } from '../host/hes-fixture.ts';
import type { Fixture } from '../host/hes-fixture.ts';
import { Users } from '../../host/src/hes/users.ts';
import type { Principal } from '../../host/src/hes/users.ts';
import type { Role } from '../../host/src/hes/roles.ts';
import { buildApi } from '../../host/src/http/app.ts';
import { toHex } from '../../host/src/crypto/bytes.ts';

export const PASSWORDS: Record<Role, string> = { admin: 'admin-pass-0001', operator: 'operator-pass-02', viewer: 'viewer-pass-0003' };
export const NAMES: Record<Role, string> = { admin: 'admin', operator: 'olga', viewer: 'vera' };

export interface ApiFixture {
  f: Fixture;
  users: Users;
  app: FastifyInstance;
  tokens: Record<Role, string>;
  meter: string;
  /** `Authorization` header of a role's API token. */
  bearer(role: Role): { authorization: string };
}

/** `points` load-profile intervals are ingested for the first meter (wh = 10·seq). */
export async function makeApiFixture(points = 12): Promise<ApiFixture> {
  const f = await makeFixture(2, 1);
  const users = new Users(f.hes);
  const root: Principal = { user: 'admin', role: 'admin', tokenId: null, via: 'password' };
  const tokens = {} as Record<Role, string>;
  for (const role of ['admin', 'operator', 'viewer'] as Role[]) {
    await users.add(root, NAMES[role], role, PASSWORDS[role]);
    tokens[role] = (await users.createToken(root, NAMES[role], { ttlMs: 3600_000 })).token;
  }
  const m = f.meters[0]!;
  const frames = Array.from({ length: points }, (_, i) => readingFrame(f, m, i + 1));
  for (const r of await f.hes.ingestBatch(frames)) if (!r.ok) throw new Error(`fixture reading refused: ${r.message}`);
  const app = await buildApi({ hes: f.hes });
  return { f, users, app, tokens, meter: toHex(m.id), bearer: (role) => ({ authorization: `Bearer ${tokens[role]}` }) };
}
