/**
 * Health checks (SPEC §3 `healthCheck`, issue 4): every endpoint is probed on start-up (bounded, so a
 * dead upstream never delays start-up beyond `timeoutMs`) and every `intervalMs`. A failed probe
 * opens the endpoint's breaker; a successful one closes an open or half-open breaker. The same pass
 * discovers models for providers with `models: auto | free` (free: price 0), once an hour.
 */
import type { CompiledProvider, Snapshot } from '../config/compile.ts';
import { isFreeModel } from '../dialects/openai/quirks.ts';
import type { HealthTracker } from '../health/tracker.ts';
import type { Logger } from '../observe/logger.ts';
import { endpointId, isDisabled } from '../routing/planner.ts';
import { probe, probeModel } from '../routing/probe.ts';
import type { UpstreamClients } from '../upstream/client.ts';
import type { Snapshots } from './snapshots.ts';

export interface HealthCheckDeps {
  snaps: Snapshots;
  tracker: HealthTracker;
  clients: UpstreamClients;
  log: Logger;
}


/** Probe every enabled endpoint once; resolves when all probes ended (each bounded by timeoutMs). */
export async function checkAll(d: HealthCheckDeps, snap: Snapshot): Promise<{ ok: number; failed: number }> {
  const hc = snap.config.healthCheck;
  const jobs: Array<Promise<boolean>> = [];
  for (const p of snap.providers.values()) {
    // A limit of 0 disables the provider (api-together's rpd: 0): a probe would still spend its quota.
    if (isDisabled(p)) continue;
    const keys = p.keys.length > 0 ? p.keys : [null];
    keys.forEach((key, i) => {
      const model = probeModel(p);
      jobs.push((async () => {
        const r = await probe(d.clients, { provider: p, key, model }, hc.mode === 'chat' && model ? 'chat' : 'models', hc.timeoutMs);
        const h = d.tracker.get(endpointId(p, p.keyIds[i] ?? 'nokey', model || '(caller\'s model)'), p.breaker);
        if (r.ok) {
          // A good probe closes a breaker opened by failures or an earlier probe. One opened by a 429,
          // a quota or a rejected key stays open: GET /models answering says nothing about those.
          const reason = h.breaker.reason;
          const reopenable = reason === null || reason === 'failures' || reason === 'health_check';
          if (h.breaker.state(d.tracker.clock.now()) !== 'closed' && reopenable) d.tracker.success(h, r.latencyMs);
          else h.recordLatency(r.latencyMs);
          if (p.discover && i === 0 && r.entries) await recordDiscovery(d, p, r.entries);
        } else {
          d.tracker.probeFailure(h, `health check failed: ${r.error ?? 'unknown error'}`);
          d.log.warn({ endpoint: h.id, error: r.error }, 'health check failed: breaker opened');
        }
        return r.ok;
      })());
    });
  }
  const results = await Promise.all(jobs);
  return { ok: results.filter(Boolean).length, failed: results.filter((x) => !x).length };
}

function recordDiscovery(d: HealthCheckDeps, p: CompiledProvider, entries: unknown[]): Promise<unknown> | undefined {
  const models = entries
    .filter((e) => p.discover !== 'free' || isFreeModel(e))
    .map((e) => (e as { id?: unknown }).id)
    .filter((id): id is string => typeof id === 'string')
    .sort();
  if (d.snaps.setDiscovered(p.id, models)) {
    d.log.info({ provider: p.id, models: models.length, mode: p.discover }, 'models discovered');
    return d.snaps.reload('models discovered');
  }
  return undefined;
}

/** Discovery only (for providers with `models: auto | free` when health checks are off). */
export async function discoverModels(d: HealthCheckDeps, snap: Snapshot): Promise<void> {
  await Promise.all([...snap.providers.values()].filter((p) => !isDisabled(p) && p.discover).map(async (p) => {
    const r = await probe(d.clients, { provider: p, key: p.keys[0] ?? null, model: '' }, 'models', snap.config.healthCheck.timeoutMs);
    if (r.ok && r.entries) await recordDiscovery(d, p, r.entries);
    else d.log.warn({ provider: p.id, error: r.error }, 'model discovery failed; will retry');
  }));
}

export function startHealthChecks(d: HealthCheckDeps): { stop(): void } {
  const timers: NodeJS.Timeout[] = [];
  const every = (ms: number, fn: () => Promise<unknown>): void => {
    if (ms <= 0) return;
    const t = setInterval(() => void fn().catch((e: unknown) => d.log.warn({ err: e }, 'health check pass failed')), ms);
    t.unref();
    timers.push(t);
  };
  every(d.snaps.current.config.healthCheck.intervalMs, () => checkAll(d, d.snaps.current));
  every(3_600_000, () => discoverModels(d, d.snaps.current));
  return { stop: () => timers.forEach(clearInterval) };
}
