/**
 * Operating the gateway: reload the config (an invalid one is refused and the old one keeps
 * serving), its status, the debug-capture toggle, and the live endpoint health.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { endpointViews } from '../http/upstream-view.ts';
import type { AdminRuntime } from './runtime.ts';
import { bodyOf } from './body.ts';
import { badRequest, fromZod } from './errors.ts';
import type { Serial } from './entities.ts';

const debugSchema = z.object({ enabled: z.boolean() }).strict();

function debugView(rt: AdminRuntime): { enabled: boolean; reasons: string[]; dir: string } {
  return { enabled: rt.debug.enabled(), reasons: rt.debug.reasons(), dir: rt.debug.dir() };
}

export function registerConfig(app: FastifyInstance, rt: AdminRuntime, serial: Serial): void {
  app.post('/admin/reload', async () =>
    serial.run(async () => {
      const r = await rt.reload('admin');
      if (!r.ok) throw badRequest(`The config was not reloaded; the previous one (version ${r.version}) keeps serving. ${r.error ?? ''}`.trim());
      return { ok: true, version: r.version };
    }));

  app.get('/admin/config/status', async () => {
    const s = rt.configStatus();
    return {
      ...s,
      loadedAt: new Date(s.loadedAt).toISOString(),
      lastErrorAt: s.lastErrorAt === null ? null : new Date(s.lastErrorAt).toISOString(),
      store: rt.store.kind,
      startedAt: new Date(rt.startedAt).toISOString(),
      uptimeS: Math.max(0, Math.round((Date.now() - rt.startedAt) / 1000)),
    };
  });

  app.get('/admin/debug', async () => debugView(rt));

  app.post('/admin/debug', async (req) => {
    const parsed = debugSchema.safeParse(bodyOf(req));
    if (!parsed.success) throw fromZod(parsed.error);
    await rt.debug.setAdmin(parsed.data.enabled);
    rt.log.info({ enabled: parsed.data.enabled }, 'admin: debug capture toggled');
    return debugView(rt);
  });

  app.get('/admin/health', async () => {
    const endpoints = endpointViews(rt.snapshot(), rt.deps);
    const available = endpoints.filter((e) => e.state === 'closed' || e.state === 'half-open').length;
    return { status: available > 0 ? 'ok' : 'degraded', available, total: endpoints.length, endpoints };
  });
}
