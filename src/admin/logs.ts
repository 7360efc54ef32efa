/**
 * /admin/logs: the request log, newest first, filterable by provider, route, status (`ok`, `error` or
 * an exact code) and time (`since`, `before`: ms since the epoch or an ISO date). Page back by passing
 * `nextBefore` from one answer as `before` of the next. Rows never hold a key or a full upstream URL.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AdminRuntime } from './runtime.ts';
import { fromZod } from './errors.ts';

const instant = z
  .string()
  .trim()
  .refine((s) => /^\d{1,15}$/.test(s) || !Number.isNaN(Date.parse(s)), 'expected milliseconds since the epoch or an ISO date')
  .transform((s) => (/^\d+$/.test(s) ? Number(s) : Date.parse(s)));

export const logQuerySchema = z
  .object({
    provider: z.string().min(1).max(200).optional(),
    route: z.string().min(1).max(200).optional(),
    status: z
      .union([z.enum(['ok', 'error']), z.string().regex(/^[1-5]\d\d$/, 'expected ok, error or an HTTP status such as 429').transform(Number)])
      .optional(),
    since: instant.optional(),
    before: instant.optional(),
    limit: z
      .string()
      .regex(/^\d+$/, 'expected a whole number')
      .transform(Number)
      .pipe(z.number().int().min(1).max(1000, 'at most 1000'))
      .optional(),
  })
  .strict();

export function registerLogs(app: FastifyInstance, rt: AdminRuntime): void {
  app.get('/admin/logs', async (req) => {
    const parsed = logQuerySchema.safeParse(req.query ?? {});
    if (!parsed.success) throw fromZod(parsed.error);
    const q = parsed.data;
    const limit = q.limit ?? 100;
    const rows = await rt.store.queryLogs({ ...q, limit });
    const last = rows.at(-1);
    return { object: 'list', data: rows, nextBefore: rows.length === limit && last ? last.ts : null };
  });
}
