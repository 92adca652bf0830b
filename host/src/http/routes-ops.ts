// Write routes: commands (enqueue, list, cancel), key-update and firmware campaigns, operators and
// tokens. Rights are checked by the same HES calls the CLI makes (roles.ts is the one table), with
// the request's principal (its token scope included); every write is audited with that actor.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiContext } from './app.ts';
import { BadRequest } from './app.ts';
import { METER_ID } from './routes-data.ts';
import { COMMAND_KINDS, COMMAND_STATES, validateParams } from '../hes/commands.ts';
import type { CommandParams, CommandState } from '../hes/commands.ts';
import { CAMPAIGN_KINDS } from '../hes/campaigns.ts';
import type { CampaignKind } from '../hes/campaigns.ts';
import { ROLES } from '../hes/roles.ts';
import type { Role } from '../hes/roles.ts';
import { USER_NAME_RE } from '../hes/users.ts';

const MAX_EXPIRY_S = 365 * 86400;
const MAX_CAMPAIGN_METERS = 100_000;
const U32 = { type: 'integer', minimum: 0, maximum: 2 ** 32 - 1 } as const;
const PARAM_PROPS = {
  from: U32,
  to: U32,
  state: { type: 'integer', enum: [0, 1] },
  tariff: { type: 'integer', minimum: 0, maximum: 65535 },
  pushInterval: { type: 'integer', minimum: 1, maximum: 86400 },
  scope: { type: 'integer', minimum: 0, maximum: 9 },
  sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
  expirySeconds: { type: 'integer', minimum: 1, maximum: MAX_EXPIRY_S },
} as const;
const USER_NAME = { type: 'string', pattern: USER_NAME_RE.source } as const;
const ROLE = { type: 'string', enum: [...ROLES] } as const;
/** Passwords: length only here; users.ts refuses control characters with a plain message. */
const PASSWORD = { type: 'string', minLength: 1, maxLength: 1024 } as const;

type ParamBody = {
  kind: string;
  from?: number;
  to?: number;
  state?: 0 | 1;
  tariff?: number;
  pushInterval?: number;
  scope?: number;
  sha256?: string;
};

/** Command parameters from a request body, validated by the same rules as the HES and the CLI. */
async function commandParams(ctx: ApiContext, b: ParamBody): Promise<CommandParams> {
  const need = <T>(v: T | undefined, name: string): T => {
    if (v === undefined) throw new BadRequest(`${b.kind} needs ${name}`);
    return v;
  };
  let p: CommandParams;
  switch (b.kind) {
    case 'read':
    case 'clock':
      p = { kind: b.kind };
      break;
    case 'gapfill':
      p = { kind: 'gapfill', from: need(b.from, 'from'), to: need(b.to, 'to') };
      break;
    case 'relay':
      p = { kind: 'relay', state: need(b.state, 'state (0 disconnect, 1 reconnect)') };
      break;
    case 'config':
      p = {
        kind: 'config',
        ...(b.tariff !== undefined ? { tariff: b.tariff } : {}),
        ...(b.pushInterval !== undefined ? { pushInterval: b.pushInterval } : {}),
      };
      break;
    case 'key_update':
      p = { kind: 'key_update', scope: b.scope ?? 0 };
      break;
    case 'firmware': {
      const sha = need(b.sha256, 'sha256 of a stored image');
      const img = (await ctx.queries.firmwareImages()).find((f) => f.sha256 === sha);
      if (img === undefined) throw new BadRequest(`firmware ${sha} is not stored`);
      p = { kind: 'firmware', sha256: sha, size: img.size, version: img.version };
      break;
    }
    default:
      throw new BadRequest(`unknown command kind ${b.kind}`);
  }
  try {
    validateParams(p);
  } catch (e) {
    throw new BadRequest((e as Error).message);
  }
  return p;
}

export function registerOpsRoutes(app: FastifyInstance, ctx: ApiContext): void {
  /** Runs a HES call with the request's principal (its token's scope caps the role for everything the call awaits). */
  const as = <T>(req: FastifyRequest, fn: (actor: string) => T): T => {
    const p = ctx.who(req);
    return ctx.users.asPrincipal(p, () => fn(p.user));
  };

  app.get(
    '/api/commands',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            meter: METER_ID,
            state: { type: 'string', enum: [...COMMAND_STATES] },
            limit: { type: 'integer', minimum: 1, maximum: 5000, default: 200 },
          },
        },
      },
    },
    async (req) => {
      const q = req.query as { meter?: string; state?: CommandState; limit: number };
      await as(req, (a) => ctx.hes.require(a, 'view', 'commands'));
      return { commands: await ctx.hes.listCommands(q) };
    },
  );

  app.post(
    '/api/commands',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['meter', 'kind'],
          properties: { meter: METER_ID, kind: { type: 'string', enum: [...COMMAND_KINDS] }, ...PARAM_PROPS },
        },
      },
    },
    async (req, reply) => {
      const b = req.body as ParamBody & { meter: string; expirySeconds?: number };
      const params = await commandParams(ctx, b);
      const id = await as(req, (a) =>
        ctx.hes.enqueueCommand(a, b.meter, params, b.expirySeconds !== undefined ? { expiryMs: b.expirySeconds * 1000 } : {}),
      );
      return reply.code(201).send({ id, meter: b.meter, kind: params.kind, state: 'queued' });
    },
  );

  app.post(
    '/api/commands/:id/cancel',
    { schema: { params: { type: 'object', properties: { id: { type: 'integer', minimum: 1 } } } } },
    async (req, reply) => {
      const { id } = req.params as { id: number };
      if ((await ctx.queries.commandKind(id)) === undefined) return reply.code(404).send({ error: `no command ${id}` });
      await as(req, (a) => ctx.hes.cancelCommand(a, id));
      return { id, state: 'failed', cancelled: true };
    },
  );

  app.get('/api/campaigns', async (req) => {
    await as(req, (a) => ctx.hes.require(a, 'view', 'campaigns'));
    return { campaigns: await ctx.campaigns.list(), firmware: await ctx.queries.firmwareImages() };
  });

  app.post(
    '/api/campaigns',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['kind'],
          properties: {
            kind: { type: 'string', enum: [...CAMPAIGN_KINDS] },
            meters: { type: 'array', minItems: 1, maxItems: MAX_CAMPAIGN_METERS, uniqueItems: true, items: METER_ID },
            all: { type: 'boolean', description: 'every meter of the HES instead of a list' },
            scope: PARAM_PROPS.scope,
            sha256: PARAM_PROPS.sha256,
            expirySeconds: PARAM_PROPS.expirySeconds,
          },
        },
      },
    },
    async (req, reply) => {
      const b = req.body as ParamBody & { kind: CampaignKind; meters?: string[]; all?: boolean; expirySeconds?: number };
      if ((b.all === true) === (b.meters !== undefined)) throw new BadRequest('give either meters (a list of meter ids) or all: true');
      const params = (await commandParams(ctx, b)) as CommandParams & { kind: CampaignKind };
      const meters = b.all === true ? (await ctx.hes.meterStatus()).map((m) => m.id) : b.meters!;
      const r = await as(req, (a) =>
        ctx.campaigns.start(a, meters, params, b.expirySeconds !== undefined ? b.expirySeconds * 1000 : undefined),
      );
      return reply.code(201).send(r);
    },
  );

  registerUserRoutes(app, ctx);
}

function registerUserRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const nameParams = { type: 'object', required: ['name'], properties: { name: USER_NAME } } as const;

  app.get('/api/users', async (req) => {
    await ctx.users.require(ctx.who(req), 'users', 'users');
    return { users: await ctx.users.list(), tokens: await ctx.users.tokens() };
  });

  app.post(
    '/api/users',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'role'],
          properties: { name: USER_NAME, role: ROLE, password: PASSWORD },
        },
      },
    },
    async (req, reply) => {
      const b = req.body as { name: string; role: Role; password?: string };
      await ctx.users.add(ctx.who(req), b.name, b.role, b.password);
      return reply.code(201).send({ user: b.name, role: b.role });
    },
  );

  app.post(
    '/api/users/:name/password',
    {
      schema: {
        params: nameParams,
        body: { type: 'object', additionalProperties: false, required: ['password'], properties: { password: PASSWORD } },
      },
    },
    async (req) => {
      const { name } = req.params as { name: string };
      await ctx.users.setPassword(ctx.who(req), name, (req.body as { password: string }).password);
      return { user: name, password: true };
    },
  );

  app.post(
    '/api/users/:name/tokens',
    {
      schema: {
        params: nameParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            role: ROLE,
            days: { type: 'integer', minimum: 1, maximum: 3650, default: 90 },
            label: { type: 'string', maxLength: 64 },
          },
        },
      },
    },
    async (req, reply) => {
      const { name } = req.params as { name: string };
      const b = (req.body ?? {}) as { role?: Role; days?: number; label?: string };
      const t = await ctx.users.createToken(ctx.who(req), name, {
        ...(b.role !== undefined ? { role: b.role } : {}),
        ttlMs: (b.days ?? 90) * 86400_000,
        ...(b.label !== undefined ? { label: b.label } : {}),
      });
      return reply.code(201).send({ user: name, ...t });
    },
  );

  app.post('/api/users/:name/revoke', { schema: { params: nameParams } }, async (req) => {
    const { name } = req.params as { name: string };
    return { revoked: await ctx.users.revoke(ctx.who(req), { user: name }) };
  });

  app.post(
    '/api/tokens/:id/revoke',
    { schema: { params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[0-9a-f]{16}$' } } } } },
    async (req) => {
      const { id } = req.params as { id: string };
      return { revoked: await ctx.users.revoke(ctx.who(req), { tokenId: id }) };
    },
  );
}
