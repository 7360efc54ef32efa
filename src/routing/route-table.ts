/**
 * Model → route (SPEC §4.1): a route with that name; else every provider that lists the model or maps
 * it (an implicit route, priorities from the providers); else the `*` route; else null.
 */
import type { CompiledRoute, Snapshot } from '../config/compile.ts';

const implicitCache = new WeakMap<Snapshot, Map<string, CompiledRoute>>();

export function resolveRoute(snap: Snapshot, model: string): CompiledRoute | null {
  const named = snap.routes.get(model);
  if (named) return named;
  let cache = implicitCache.get(snap);
  if (!cache) {
    cache = new Map();
    implicitCache.set(snap, cache);
  }
  const hit = cache.get(model);
  if (hit) return hit;
  const providers = snap.modelIndex.get(model);
  if (providers && providers.length > 0) {
    const route: CompiledRoute = {
      name: model,
      balance: 'round-robin',
      hedge: undefined,
      targets: providers.map((p) => ({ provider: p, model: p.modelMap[model] ?? model, priority: p.priority, weight: p.weight })),
    };
    // Bounded: only names that some provider lists can get here.
    cache.set(model, route);
    return route;
  }
  return snap.routes.get('*') ?? null;
}

/** Every public model name: routes, then provider models (for GET /v1/models). */
export function listModels(snap: Snapshot): Array<{ id: string; owned_by: string }> {
  const out = new Map<string, string>();
  for (const r of snap.routes.values()) if (r.name !== '*') out.set(r.name, 'llmux');
  for (const [m, ps] of snap.modelIndex) if (!out.has(m)) out.set(m, ps[0]?.id ?? 'llmux');
  return [...out].map(([id, owned_by]) => ({ id, owned_by }));
}
