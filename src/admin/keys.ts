/**
 * /admin/keys: client keys in the store. The list never carries a hash or a key, only the display
 * prefix; POST answers the plaintext key once (it is stored only as its SHA-256) with
 * `cache-control: no-store`; DELETE revokes (revoked keys stay listed with `revokedAt`). Keys from
 * the config file (`server.keys`) are listed read-only by their masked form. A change reaches the
 * request path at the runtime's next store-version poll (SPEC §11: every instance follows the store).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { limitsSchema } from '../config/schema.ts';
import type { ClientKeyRecord } from '../store/types.ts';
import type { AdminRuntime } from './runtime.ts';
import { bodyOf } from './body.ts';
import { conflict, fromZod, notFound } from './errors.ts';

const instant = z.union([
  z.number().int().positive(),
  z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'expected an ISO date such as 2026-12-31T00:00:00Z'),
]);

export const newKeySchema = z
  .object({
    name: z.string().min(1).max(200).optional(),
    limits: limitsSchema.optional(),
    models: z.array(z.string().min(1)).nullable().optional().describe('routes the key may call; null/absent = all'),
    budgetTokens: z
      .union([z.number().int().positive(), z.object({ day: z.number().int().positive().optional(), month: z.number().int().positive().optional() }).strict()])
      .nullable()
      .optional(),
    expiresAt: instant.nullable().optional(),
  })
  .strict();

function view(r: ClientKeyRecord): Record<string, unknown> {
  return {
    id: r.id, name: r.name, prefix: r.prefix, limits: r.limits, models: r.models, budgetTokens: r.budgetTokens,
    expiresAt: r.expiresAt, createdAt: r.createdAt, lastUsedAt: r.lastUsedAt, revokedAt: r.revokedAt, source: 'store', readOnly: false,
  };
}

export function registerKeys(app: FastifyInstance, rt: AdminRuntime): void {
  app.get('/admin/keys', async () => {
    const stored = await rt.store.listKeys();
    const file = [...rt.snapshot().clientKeys.values()].map((p) => ({
      id: p.id, name: p.name, prefix: p.prefix, limits: p.limits ?? null, models: p.models ?? null, budgetTokens: p.budgetTokens ?? null,
      expiresAt: p.expiresAt ?? null, createdAt: null, lastUsedAt: null, revokedAt: null, source: 'file', readOnly: true,
    }));
    return { object: 'list', data: [...file, ...stored.map(view)] };
  });

  app.post('/admin/keys', async (req, reply) => {
    const parsed = newKeySchema.safeParse(bodyOf(req));
    if (!parsed.success) throw fromZod(parsed.error);
    const b = parsed.data;
    const expiresAt = b.expiresAt === undefined || b.expiresAt === null ? b.expiresAt : typeof b.expiresAt === 'number' ? b.expiresAt : Date.parse(b.expiresAt);
    const created = await rt.store.createKey({ name: b.name, limits: b.limits, models: b.models, budgetTokens: b.budgetTokens, expiresAt });
    rt.log.info({ id: created.id, prefix: created.prefix }, 'admin: client key created');
    const record = (await rt.store.listKeys()).find((k) => k.id === created.id);
    void reply.code(201).header('cache-control', 'no-store');
    return { ...(record ? view(record) : { id: created.id, prefix: created.prefix }), key: created.key, note: 'This is the only time the key is shown; it is stored only as a hash.' };
  });

  app.delete('/admin/keys/:id', async (req) => {
    const id = (req.params as { id: string }).id;
    if ([...rt.snapshot().clientKeys.values()].some((p) => p.id === id)) {
      throw conflict(`The key "${id}" comes from the config file (server.keys); remove it there.`, 'read_only');
    }
    if (!(await rt.store.revokeKey(id))) throw notFound(`No active client key with id or prefix "${id}".`);
    rt.log.info({ id }, 'admin: client key revoked');
    return { id, revoked: true };
  });
}
