// The HES HTTP API and web console (docs/HOST.md "HTTP API"): one Fastify instance over the HES
// of `vakt hes serve`. Every /api route but /api/login needs a principal: a bearer token
// (`Authorization: Bearer vakt_…`) or a session cookie, and for a cookie session every write also
// needs the CSRF token (header x-csrf-token). Unauthenticated → 401, a missing right → 403 (audited,
// nothing changed), bad input → 400 with one plain sentence.
import Fastify from 'fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import type { Hes } from '../hes/hes.ts';
import { HesError } from '../hes/hes.ts';
import { PermissionError, rightsOf } from '../hes/roles.ts';
import { AuthError, UserInputError, Users } from '../hes/users.ts';
import type { Principal } from '../hes/users.ts';
import { HesQueries } from '../hes/queries.ts';
import { Campaigns } from '../hes/campaigns.ts';
import { KIND_INFO } from '../hes/commands.ts';
import { registerDataRoutes } from './routes-data.ts';
import { registerOpsRoutes } from './routes-ops.ts';
import { registerStatic } from './static.ts';

export const SESSION_COOKIE = 'vakt_session';
export const CSRF_COOKIE = 'vakt_csrf';
export const CSRF_HEADER = 'x-csrf-token';
/** Login attempts per client address per minute (each costs an scrypt; the per-name lockout is in users.ts). */
export const LOGINS_PER_MINUTE = 10;
/** Largest request body (JSON): commands, campaigns over many meters, user management. */
const BODY_LIMIT = 256 * 1024;

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** What the route modules share. */
export interface ApiContext {
  hes: Hes;
  users: Users;
  queries: HesQueries;
  campaigns: Campaigns;
  /** The authenticated principal of a request (the auth hook has already refused anonymous ones). */
  who(req: FastifyRequest): Principal;
}

export interface ApiOptions {
  hes: Hes;
  /** Set the Secure flag on cookies (serving over TLS behind a proxy). */
  secureCookies?: boolean;
}

/** A 400 with a plain message. */
export class BadRequest extends Error {
  readonly statusCode = 400;
}

function sendError(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).type('application/json').send({ error: message });
}

/** Builds the API and console; `await app.listen(...)` or `app.inject(...)` in tests. */
export async function buildApi(o: ApiOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: false } },
  });
  const users = new Users(o.hes);
  const ctx: ApiContext = {
    hes: o.hes,
    users,
    queries: new HesQueries(o.hes.store),
    campaigns: new Campaigns(o.hes),
    who: (req) => {
      if (req.principal === null) throw new AuthError('not logged in');
      return req.principal;
    },
  };
  await app.register(cookie);
  await app.register(helmet, {
    // Everything is served by this process: no CDN, no inline script, no framing.
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    // Served over plain HTTP on loopback by default: HSTS would be ignored, and TLS belongs to a proxy.
    strictTransportSecurity: false,
    referrerPolicy: { policy: 'no-referrer' },
  });
  // Limits only routes that ask for it (login), keyed by client address.
  await app.register(rateLimit, { global: false });
  app.decorateRequest('principal', null);

  app.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith('/api/') || req.url === '/api/login') return;
    const auth = req.headers.authorization;
    try {
      if (auth !== undefined) {
        const m = /^Bearer (\S+)$/.exec(auth);
        if (m === null) return sendError(reply, 401, 'Authorization must be "Bearer <token>"');
        const p = await users.authenticateToken(m[1]!, Date.now(), `http ${req.ip}`);
        if (p.via !== 'api')
          return sendError(
            reply,
            401,
            p.via === 'login'
              ? 'a one-time login token opens a console session (POST /api/login); it is not a bearer token'
              : 'a session token is only accepted as the session cookie',
          );
        req.principal = p;
        return;
      }
      const sess = req.cookies[SESSION_COOKIE];
      if (sess === undefined) return sendError(reply, 401, 'not logged in');
      const p = await users.authenticateToken(sess, Date.now(), `http ${req.ip}`);
      if (p.via !== 'session') return sendError(reply, 401, 'an API token is only accepted as a bearer token');
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        const csrf = req.headers[CSRF_HEADER];
        if (typeof csrf !== 'string' || !(await users.checkCsrf(p.tokenId!, csrf)))
          return sendError(reply, 403, 'CSRF token missing or wrong (reload the console)');
      }
      req.principal = p;
    } catch (e) {
      if (e instanceof AuthError) return sendError(reply, 401, e.message);
      throw e;
    }
  });

  app.setErrorHandler((err, req, reply) => {
    const e = err as Error & { validation?: unknown; statusCode?: number; code?: string };
    if (e.validation !== undefined) return sendError(reply, 400, `bad input: ${e.message}`);
    if (e instanceof AuthError) return sendError(reply, 401, e.message);
    if (e instanceof PermissionError) return sendError(reply, 403, e.message);
    if (e instanceof BadRequest || e instanceof UserInputError || e instanceof HesError) return sendError(reply, 400, e.message);
    if (e.statusCode === 429) return sendError(reply, 429, `too many login attempts from this address; wait a minute`);
    if (
      e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ||
      e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ||
      (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500)
    ) {
      return sendError(reply, e.statusCode ?? 400, e.message);
    }
    req.log.error(e);
    return sendError(reply, 500, 'internal error (see the server log)');
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, 404, `no route ${req.method} ${req.url.split('?')[0]}`));

  registerSessionRoutes(app, ctx, o.secureCookies === true);
  registerDataRoutes(app, ctx);
  registerOpsRoutes(app, ctx);
  registerStatic(app);
  return app;
}

function registerSessionRoutes(app: FastifyInstance, ctx: ApiContext, secure: boolean): void {
  const cookieOpts = { path: '/', sameSite: 'strict' as const, secure };
  app.post(
    '/api/login',
    {
      config: { rateLimit: { max: LOGINS_PER_MINUTE, timeWindow: 60_000 } },
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            user: { type: 'string', minLength: 1, maxLength: 64 },
            password: { type: 'string', minLength: 1, maxLength: 1024 },
            token: { type: 'string', minLength: 1, maxLength: 128 },
          },
        },
      },
    },
    async (req, reply) => {
      const b = req.body as { user?: string; password?: string; token?: string };
      const source = `http ${req.ip}`;
      if (
        (b.token !== undefined) === (b.user !== undefined || b.password !== undefined) ||
        (b.token === undefined && (b.user === undefined || b.password === undefined))
      ) {
        throw new BadRequest('log in with user and password, or with a one-time token');
      }
      const s =
        b.token !== undefined
          ? await ctx.users.sessionFromLoginToken(b.token, source)
          : await ctx.users.openSession(b.user!, b.password!, source);
      reply.setCookie(SESSION_COOKIE, s.token, { ...cookieOpts, httpOnly: true, expires: new Date(s.expiresMs) });
      // The CSRF token is readable by the page (double submit), checked against its hash in the store.
      reply.setCookie(CSRF_COOKIE, s.csrf, { ...cookieOpts, httpOnly: false, expires: new Date(s.expiresMs) });
      return { ...sessionInfo(s.principal), csrf: s.csrf };
    },
  );
  app.post('/api/logout', async (req, reply) => {
    const p = ctx.who(req);
    if (p.via === 'session') await ctx.users.endSession(p.tokenId!);
    await ctx.hes.audit.append(p.user, 'auth.logout', p.user, { via: p.via });
    reply.clearCookie(SESSION_COOKIE, cookieOpts).clearCookie(CSRF_COOKIE, cookieOpts);
    return { ok: true };
  });
  app.get('/api/session', async (req) => sessionInfo(ctx.who(req)));
}

/** Who is logged in, the rights of the role and the right each command kind needs (the console shows buttons from these). */
function sessionInfo(p: Principal): {
  user: string;
  role: string;
  rights: readonly string[];
  via: string;
  commandRights: { [kind: string]: string };
} {
  const commandRights = Object.fromEntries(Object.entries(KIND_INFO).map(([k, v]) => [k, v.right]));
  return { user: p.user, role: p.role, rights: rightsOf(p.role), via: p.via, commandRights };
}
