/**
 * The admin plugin: /admin/* (the admin API) and /debug* (the debug views and page), one encapsulated
 * Fastify plugin, so its auth, body parser, error handler and hooks never touch the client-facing
 * routes (and theirs never touch it). Register it with `app.register(adminPlugin(rt))`.
 *
 * Every response passes `scrubText` with every provider secret the gateway knows: a full upstream key
 * cannot leave through the admin surface even if a handler or an upstream error message carried it.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { errorHandler } from '../http/errors.ts';
import type { AdminRuntime } from './runtime.ts';
import { adminAuth } from './auth.ts';
import { installJsonParser } from './body.ts';
import { registerConfig } from './config.ts';
import { registerDebugPage } from './debug-page.ts';
import { registerDebugViews } from './debug-views.ts';
import { Serial } from './entities.ts';
import { registerKeys } from './keys.ts';
import { LoginLimiter } from './login-limiter.ts';
import { registerLogs } from './logs.ts';
import { registerProviders } from './providers.ts';
import { registerRoutes } from './routes.ts';
import { isSensitiveHeader, scrubText, secretsOf } from './secrets.ts';
import { registerStats } from './stats.ts';

export interface AdminPluginOptions {
  /** Failed-login limiter (default: 10 wrong keys per address per minute). */
  loginLimiter?: LoginLimiter;
}

/** Every provider secret in effect, plus any in the request body (a key being saved right now). */
function secretsFor(rt: AdminRuntime, req: FastifyRequest): string[] {
  const out: string[] = [];
  for (const p of rt.snapshot().providers.values()) {
    out.push(...p.keys);
    for (const [n, v] of Object.entries(p.headers)) if (isSensitiveHeader(n)) out.push(v);
    if (p.proxy) out.push(...secretsOf({ proxy: p.proxy }));
  }
  const b = req.body;
  if (b !== null && typeof b === 'object' && !Array.isArray(b)) out.push(...secretsOf(b as Record<string, unknown>));
  return out;
}

export function adminPlugin(rt: AdminRuntime, opts: AdminPluginOptions = {}): FastifyPluginAsync {
  return async (app) => {
    installJsonParser(app);
    app.setErrorHandler(errorHandler(rt.log));
    app.addHook('onRequest', adminAuth(rt, opts.loginLimiter ?? new LoginLimiter(), { pages: new Set(['/debug']) }));
    app.addHook('onSend', async (req, reply, payload) => {
      void reply.header('cache-control', 'no-store');
      return typeof payload === 'string' ? scrubText(payload, secretsFor(rt, req)) : payload;
    });
    const serial = new Serial();
    registerProviders(app, rt, serial);
    registerRoutes(app, rt, serial);
    registerKeys(app, rt);
    registerStats(app, rt);
    registerLogs(app, rt);
    registerConfig(app, rt, serial);
    registerDebugViews(app, rt);
    registerDebugPage(app, rt);
  };
}
