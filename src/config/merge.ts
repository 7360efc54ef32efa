/**
 * The config in effect = the file's config + providers and routes made through the admin API (kept in
 * the store, shared by every instance). File entries win a clash of ids; the clash is reported.
 */
import type { Config } from './schema.ts';
import { validateConfig } from './load.ts';

export interface StoredEntities {
  providers: Array<{ id: string; body: unknown }>;
  routes: Array<{ id: string; body: unknown }>;
}

export interface Merged {
  config: Config;
  clashes: string[];
}

/**
 * Merge and validate. `base` is the file config as validated; the stored bodies are validated as
 * part of the merged whole, so a stored entity that no longer fits (a route to a deleted provider)
 * is reported with its path like any file problem.
 */
export function mergeStored(base: Config, stored: StoredEntities, file: string | null): Merged {
  if (stored.providers.length === 0 && stored.routes.length === 0) return { config: base, clashes: [] };
  const clashes: string[] = [];
  const providerIds = new Set(base.providers.map((p) => p.id));
  const routeNames = new Set(base.routes.map((r) => r.name));
  const providers: unknown[] = [...base.providers];
  for (const e of stored.providers) {
    if (providerIds.has(e.id)) clashes.push(`provider "${e.id}" is defined in the file and in the store; the file's wins`);
    else providers.push({ ...(e.body as object), id: e.id });
  }
  const routes: unknown[] = [...base.routes];
  for (const e of stored.routes) {
    if (routeNames.has(e.id)) clashes.push(`route "${e.id}" is defined in the file and in the store; the file's wins`);
    else routes.push({ ...(e.body as object), name: e.id });
  }
  return { config: validateConfig({ ...base, providers, routes }, file), clashes };
}
