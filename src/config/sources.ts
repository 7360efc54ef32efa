/**
 * Watched `sources` (SPEC §10): providers discovered from a folder (a `free_api_test` directory) join
 * the config at every load — new folders join, removed ones leave. Discovered providers are routable
 * by model name and by the `*` route. The folder is read as text, never executed.
 */
import path from 'node:path';
import { discoverFreeApiDir } from './discover-free-api-dir.ts';
import type { Env } from './load.ts';

export interface SourcesResult {
  raw: Record<string, unknown>;
  notes: string[];
}

type RawProvider = { id?: unknown };
type RawRoute = { name?: unknown; targets?: unknown };

/**
 * Add the providers of every `free-api-dir` source to a raw (substituted, not yet validated) config.
 * File providers win a clash of ids.
 */
export async function applySources(raw: Record<string, unknown>, cwd: string, env: Env): Promise<SourcesResult> {
  const sources = Array.isArray(raw.sources) ? (raw.sources as Array<{ type?: unknown; path?: unknown }>) : [];
  const notes: string[] = [];
  if (sources.length === 0) return { raw, notes };
  const providers = Array.isArray(raw.providers) ? [...(raw.providers as RawProvider[])] : [];
  const taken = new Set(providers.map((p) => p.id));
  const added: string[] = [];
  for (const s of sources) {
    if (s.type !== 'free-api-dir' || typeof s.path !== 'string') continue;
    const dir = path.resolve(cwd, s.path);
    let found;
    try {
      found = await discoverFreeApiDir(dir, { env });
    } catch (e) {
      notes.push(`source ${s.path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      continue;
    }
    notes.push(...found.notes.map((n) => `source ${s.path}: ${n}`));
    for (const d of found.providers) {
      if (taken.has(d.id)) {
        notes.push(`source ${s.path}: "${d.id}" is also defined in the config; the config's wins`);
        continue;
      }
      taken.add(d.id);
      added.push(d.id);
      providers.push({ id: d.id, baseUrl: d.baseUrl, keys: [d.key], ...(d.models.length > 0 ? { models: d.models } : {}) } as RawProvider);
    }
  }
  const routes = Array.isArray(raw.routes) ? [...(raw.routes as RawRoute[])] : [];
  const star = routes.findIndex((r) => r.name === '*');
  if (star === -1) routes.push({ name: '*' });
  else if (Array.isArray(routes[star]!.targets)) {
    routes[star] = { ...routes[star], targets: [...(routes[star]!.targets as unknown[]), ...added.map((id) => ({ provider: id }))] };
  }
  return { raw: { ...raw, providers, routes }, notes };
}
