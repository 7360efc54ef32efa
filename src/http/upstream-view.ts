/**
 * What /health/upstream and /v1/status show: every endpoint with its breaker, last error, latency
 * and limit usage. Keys appear only as their fingerprint id and masked form.
 */
import type { CompiledProvider, Snapshot } from '../config/compile.ts';
import { maskKey } from '../config/compile.ts';
import type { RoutingDeps } from '../routing/context.ts';
import { endpointId } from '../routing/planner.ts';

export interface EndpointView {
  id: string;
  provider: string;
  key: string | null;
  model: string;
  state: 'closed' | 'open' | 'half-open' | 'disabled';
  reason: string | null;
  openUntil: string | null;
  consecutiveFailures: number;
  lastError: { class: string; status: number | null; message: string; at: string } | null;
  lastLatencyMs: number | null;
  inflight: number;
  successes: number;
  failures: number;
  usage: { rpm: number; rpd: number; tpm: number; tpd: number };
  limits: Record<string, number | null | undefined>;
}

/** Every endpoint the views show: each key of each provider × its listed and seen models. */
function* shownEndpoints(snap: Snapshot, deps: RoutingDeps): Generator<{ id: string; p: CompiledProvider; key: string | null; model: string }> {
  for (const p of snap.providers.values()) {
    const models = p.models.length > 0 ? p.models.slice(0, 50) : [...new Set(Object.values(p.modelMap))];
    const known = [...deps.tracker.all()].filter((h) => h.id.startsWith(`${p.id}/`)).map((h) => h.id.split('/').slice(2).join('/'));
    const allModels = [...new Set([...models, ...known])];
    if (allModels.length === 0) allModels.push('(caller\'s model)');
    const keys = p.keys.length > 0 ? p.keys : [null];
    for (let i = 0; i < keys.length; i++) {
      for (const model of allModels) yield { id: endpointId(p, p.keyIds[i] ?? 'nokey', model), p, key: keys[i] ?? null, model };
    }
  }
}

/**
 * Read the shared limit counters of every shown endpoint (other instances' requests, counts from
 * before a restart) so the views that follow show them. Bounded by the state adapter's timeouts.
 */
export async function refreshUsage(snap: Snapshot, deps: RoutingDeps): Promise<void> {
  if (!deps.limiter.refresh) return;
  const eps = [...shownEndpoints(snap, deps)].map((e) => ({ id: e.id, provider: e.p }));
  await deps.limiter.refresh(eps, deps.clock.now());
}

export function endpointViews(snap: Snapshot, deps: RoutingDeps): EndpointView[] {
  const now = deps.clock.now();
  const out: EndpointView[] = [];
  for (const { id, p, key, model } of shownEndpoints(snap, deps)) {
    const h = deps.tracker.peek(id);
    const b = h?.breaker;
    const usage = deps.limiter.usage({ id, provider: p }, now);
    out.push({
      id, provider: p.id, key: key === null ? null : maskKey(key), model,
      state: !p.enabled ? 'disabled' : (b?.state(now) ?? 'closed'),
      reason: b?.reason ?? null,
      openUntil: b && b.openUntil > now ? new Date(b.openUntil).toISOString() : null,
      consecutiveFailures: b?.consecutiveFailures ?? 0,
      lastError: h?.lastError ? { class: h.lastError.cls, status: h.lastError.status, message: h.lastError.message, at: new Date(h.lastError.at).toISOString() } : null,
      lastLatencyMs: h?.lastLatencyMs === null || h?.lastLatencyMs === undefined ? null : Math.round(h.lastLatencyMs),
      inflight: h?.inflight ?? 0, successes: h?.successes ?? 0, failures: h?.failures ?? 0,
      usage: { rpm: usage.rpm, rpd: usage.rpd, tpm: usage.tpm, tpd: usage.tpd },
      limits: { ...p.limits },
    });
  }
  return out;
}

const unlimitedLabel = (v: number | null | undefined): number | string => (v === null || v === undefined || v < 0 ? 'unlimited' : v);

/** `GET /v1/status` in the shape api-together users know (seed-formats §2.5), per provider. */
export function statusView(snap: Snapshot, deps: RoutingDeps): unknown {
  const views = endpointViews(snap, deps);
  const apis = [...snap.providers.values()].map((p) => {
    const mine = views.filter((v) => v.provider === p.id);
    const usage = mine.reduce((a, v) => ({ rpm: a.rpm + v.usage.rpm, rpd: a.rpd + v.usage.rpd }), { rpm: 0, rpd: 0 });
    const open = mine.filter((v) => v.state === 'open').length;
    return {
      id: p.id, name: p.name, enabled: p.enabled,
      available: p.enabled && mine.some((v) => v.state === 'closed' || v.state === 'half-open'),
      temporarilyDisabled: mine.length > 0 && open === mine.length,
      errorCount: mine.reduce((a, v) => a + v.consecutiveFailures, 0),
      limits: { rpm: unlimitedLabel(p.limits.rpm), rpd: unlimitedLabel(p.limits.rpd), tpm: unlimitedLabel(p.limits.tpm), tpd: unlimitedLabel(p.limits.tpd), concurrency: unlimitedLabel(p.limits.concurrency) },
      usage,
      endpoints: mine.length,
    };
  });
  return { service: 'llmux', timestamp: new Date(deps.clock.now()).toISOString(), apis };
}
