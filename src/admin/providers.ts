/**
 * /admin/providers: CRUD (see crud.ts) with the provider's secrets handled here, and the "test"
 * button. Keys go out masked; a masked key sent back means "keep the stored one". Changing where a
 * provider's requests go (its effective base URL, from `baseUrl` or the preset of its `type`) needs
 * the keys — and secret headers — sent again in the same request: otherwise anyone holding the admin
 * key could point a stored key at their own server and read it from the Authorization header.
 */
import type { FastifyInstance } from 'fastify';
import { normaliseBaseUrl } from '../config/compile.ts';
import { presets } from '../config/presets.ts';
import { providerSchema } from '../config/schema.ts';
import type { AdminRuntime } from './runtime.ts';
import { registerCrud } from './crud.ts';
import type { KindSpec, Serial } from './entities.ts';
import { badRequest, notFound } from './errors.ts';
import { isSensitiveHeader, maskProvider, restoreSecrets } from './secrets.ts';

type Body = Record<string, unknown>;

export const providerKind: KindSpec = {
  kind: 'provider',
  idField: 'id',
  inConfig: (snap) => snap.config.providers as unknown as Body[],
  active: (snap, id) => snap.providers.has(id),
};

/** Where requests of this provider body go, normalised; null when it cannot tell. */
export function effectiveBaseUrl(body: Body): string | null {
  const type = typeof body.type === 'string' ? body.type : 'openai';
  const raw = typeof body.baseUrl === 'string' ? body.baseUrl : presets[type]?.baseUrl;
  if (raw === undefined) return null;
  try {
    return normaliseBaseUrl(raw).baseUrl;
  } catch {
    return raw;
  }
}

function hasKeys(body: Body): boolean {
  const k = body.keys;
  return typeof k === 'string' ? k !== '' : Array.isArray(k) && k.length > 0;
}

function hasSecretHeaders(body: Body): boolean {
  const h = body.headers;
  return h !== null && typeof h === 'object' && Object.keys(h).some(isSensitiveHeader);
}

export function prepareProvider(next: Body, existing: Body | null, raw: Body): void {
  const from = existing ? effectiveBaseUrl(existing) : null;
  const to = effectiveBaseUrl(next);
  const moving = existing !== null && from !== to;
  const why = `the base URL changes (from ${from ?? '(none)'} to ${to ?? '(none)'}), and a base URL is where the provider's keys are sent, so llmux will not send the stored ones to a new address on its own`;
  if (moving && hasKeys(existing) && !('keys' in raw)) {
    throw badRequest(`keys: send the provider's keys again, in full, in the same request: ${why}.`, 'keys');
  }
  if (moving && hasSecretHeaders(existing) && !('headers' in raw)) {
    throw badRequest(`headers: send the provider's headers again, in full, in the same request: ${why}.`, 'headers');
  }
  restoreSecrets(next, existing, !moving, `send it in full, not masked: ${why}.`);
}

export function registerProviders(app: FastifyInstance, rt: AdminRuntime, serial: Serial): void {
  registerCrud(app, rt, serial, {
    ...providerKind,
    path: '/admin/providers',
    label: 'provider',
    schema: providerSchema,
    mask: maskProvider,
    prepare: prepareProvider,
  });

  app.post('/admin/providers/:id/test', async (req) => {
    const id = (req.params as { id: string }).id;
    if (!rt.snapshot().providers.has(id)) throw notFound(`No provider "${id}" in the config in effect.`);
    const results = await rt.probeProvider(id);
    return { provider: id, ok: results.some((r) => r.ok), results };
  });
}
