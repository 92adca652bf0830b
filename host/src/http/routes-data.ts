// Read routes (right `view`): meters with status, load profiles and register reads (time range,
// pages, JSON or CSV for a billing system), concentrator health, meter and security events, the
// audit log and its verification.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ApiContext } from './app.ts';
import { BadRequest } from './app.ts';
import { MAX_PAGE, SILENT_AFTER_MS } from '../hes/queries.ts';

export const METER_ID = { type: 'string', pattern: '^[0-9a-f]{16}$' } as const;
const DEFAULT_PAGE = 1000;
const RANGE_QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    from: { type: 'integer', minimum: 0 },
    to: { type: 'integer', minimum: 0 },
    after: { type: 'integer', minimum: 0 },
    limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: DEFAULT_PAGE },
    format: { type: 'string', enum: ['json', 'csv'], default: 'json' },
  },
} as const;
const METER_PARAMS = { type: 'object', required: ['id'], properties: { id: METER_ID } } as const;
const LIST_QUERY = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 200 },
    before: { type: 'integer', minimum: 1 },
    subject: { type: 'string', pattern: '^[0-9a-f]{16}$|^link$' },
    meter: METER_ID,
  },
} as const;

type RangeQ = { from?: number; to?: number; after?: number; limit: number; format: 'json' | 'csv' };

/** CSV with a header row; every field here is a number or a hex id, so no quoting is needed. */
function csv(reply: FastifyReply, name: string, header: string[], rows: (string | number)[][]): string {
  reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}.csv"`);
  return [header.join(','), ...rows.map((r) => r.join(','))].join('\r\n') + '\r\n';
}

export function registerDataRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const view = (req: Parameters<ApiContext['who']>[0], subject: string) => ctx.users.require(ctx.who(req), 'view', subject);
  const knownMeter = async (id: string) => {
    if (!(await ctx.hes.meterStatus()).some((m) => m.id === id)) throw new BadRequest(`unknown meter ${id}`);
  };

  app.get('/api/meters', async (req) => {
    await view(req, 'meters');
    const seen = await ctx.queries.meterLastSeen();
    const now = Date.now();
    return {
      meters: (await ctx.hes.meterStatus()).map((m) => {
        const last = seen.get(m.id) ?? null;
        const silent = m.status === 'ok' && (last === null || now - last > SILENT_AFTER_MS);
        return { ...m, lastSeenMs: last, status: silent ? 'silent' : m.status };
      }),
    };
  });

  app.get('/api/meters/:id/load-profile', { schema: { params: METER_PARAMS, querystring: RANGE_QUERY } }, async (req, reply) => {
    const { id } = req.params as { id: string };
    const q = req.query as RangeQ;
    await view(req, id);
    await knownMeter(id);
    const rows = await ctx.queries.loadProfile(id, q);
    if (q.format === 'csv')
      return csv(
        reply,
        `load-profile-${id}`,
        ['meter', 'seq', 't', 'wh', 'w', 'received_ms'],
        rows.map((r) => [id, r.seq, r.t, r.wh, r.w, r.receivedMs]),
      );
    return { meter: id, points: rows, next: rows.length === q.limit ? rows[rows.length - 1]!.seq : null };
  });

  // Billing export: every meter's intervals in a time range, paged by the cursor `next` = "seq:meter".
  app.get(
    '/api/load-profile',
    {
      schema: {
        querystring: {
          ...RANGE_QUERY,
          properties: { ...RANGE_QUERY.properties, after: { type: 'string', pattern: '^[0-9]{1,10}:[0-9a-f]{16}$' } },
        },
      },
    },
    async (req, reply) => {
      const q = req.query as Omit<RangeQ, 'after'> & { after?: string };
      await view(req, 'load-profile');
      const [seq, meter] = q.after === undefined ? [undefined, undefined] : q.after.split(':');
      const rows = await ctx.queries.loadProfileAll({
        limit: q.limit,
        ...(q.from !== undefined ? { from: q.from } : {}),
        ...(q.to !== undefined ? { to: q.to } : {}),
        ...(seq !== undefined ? { after: Number(seq), afterMeter: meter! } : {}),
      });
      const last = rows[rows.length - 1];
      const next = rows.length === q.limit && last !== undefined ? `${last.seq}:${last.meter}` : null;
      if (q.format === 'csv') {
        if (next !== null) reply.header('x-next-page', next);
        return csv(
          reply,
          'load-profile',
          ['meter', 'seq', 't', 'wh', 'w', 'received_ms'],
          rows.map((r) => [r.meter, r.seq, r.t, r.wh, r.w, r.receivedMs]),
        );
      }
      return { points: rows, next };
    },
  );

  app.get('/api/meters/:id/readings', { schema: { params: METER_PARAMS, querystring: RANGE_QUERY } }, async (req, reply) => {
    const { id } = req.params as { id: string };
    const q = req.query as RangeQ;
    await view(req, id);
    await knownMeter(id);
    const rows = await ctx.queries.registerReads(id, q);
    if (q.format === 'csv')
      return csv(
        reply,
        `readings-${id}`,
        ['meter', 'id', 't', 'wh', 'w', 'received_ms'],
        rows.map((r) => [id, r.id, r.t, r.wh, r.w, r.receivedMs]),
      );
    return { meter: id, readings: rows, next: rows.length === q.limit ? rows[rows.length - 1]!.id : null };
  });

  app.get('/api/concentrators', async (req) => {
    await view(req, 'concentrators');
    return { concentrators: await ctx.queries.concentrators() };
  });

  app.get('/api/events', { schema: { querystring: LIST_QUERY } }, async (req) => {
    const q = req.query as { limit: number; meter?: string };
    await view(req, 'events');
    return { events: await ctx.queries.meterEvents(q.meter, q.limit) };
  });

  app.get('/api/security-events', { schema: { querystring: LIST_QUERY } }, async (req) => {
    const q = req.query as { limit: number; before?: number; subject?: string };
    await view(req, 'security-events');
    return { events: await ctx.queries.securityEvents(q.subject, q.before, q.limit) };
  });

  app.get(
    '/api/audit',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            from: { type: 'integer', minimum: 1, default: 1 },
            limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 200 },
          },
        },
      },
    },
    async (req) => {
      const q = req.query as { from: number; limit: number };
      await view(req, 'audit');
      return { entries: await ctx.hes.audit.list(q.from, q.limit), head: await ctx.hes.audit.headString() };
    },
  );

  app.get(
    '/api/audit/verify',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { anchor: { type: 'string', pattern: '^[0-9]+:[0-9a-f]{64}$' } },
        },
      },
    },
    async (req) => {
      const q = req.query as { anchor?: string };
      await view(req, 'audit');
      return q.anchor === undefined ? await ctx.hes.audit.verify() : await ctx.hes.audit.verifyAgainst(q.anchor);
    },
  );
}
