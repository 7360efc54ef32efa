/**
 * Request-log statistics, shared by every store adapter: the database sums the counts, and the
 * latency percentiles come from a bounded sample of the newest rows, computed here in JS (SQLite
 * has no percentile function, and sorting a bounded sample is cheap).
 */
import type { LogStats, StatsResult } from './types.ts';

/** How many of the newest rows feed the latency percentiles. */
export const STATS_SAMPLE = 5000;

/** Per-provider sums, as the database returns them. */
export interface StatsAggregate {
  provider: string;
  requests: number;
  success: number;
  timeouts: number;
  retries: number;
  promptTokens: number;
  completionTokens: number;
}

export interface LatencySample {
  provider: string;
  latencyMs: number;
}

/** Nearest-rank percentile of an ascending array; null when empty. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? null;
}

function fromAggregate(a: StatsAggregate | undefined, latencies: number[]): LogStats {
  const sorted = latencies.sort((x, y) => x - y);
  const requests = a?.requests ?? 0;
  const success = a?.success ?? 0;
  return {
    requests,
    success,
    failure: requests - success,
    timeouts: a?.timeouts ?? 0,
    retries: a?.retries ?? 0,
    promptTokens: a?.promptTokens ?? 0,
    completionTokens: a?.completionTokens ?? 0,
    latencyP50: percentile(sorted, 50),
    latencyP95: percentile(sorted, 95),
  };
}

/** Combine per-provider sums and a latency sample into totals and a per-provider breakdown. */
export function buildStats(aggregates: readonly StatsAggregate[], sample: readonly LatencySample[]): StatsResult {
  const byLatency = new Map<string, number[]>();
  for (const s of sample) {
    const list = byLatency.get(s.provider);
    if (list) list.push(s.latencyMs);
    else byLatency.set(s.provider, [s.latencyMs]);
  }
  const total: StatsAggregate = { provider: '*', requests: 0, success: 0, timeouts: 0, retries: 0, promptTokens: 0, completionTokens: 0 };
  const byProvider: Record<string, LogStats> = {};
  for (const a of aggregates) {
    total.requests += a.requests;
    total.success += a.success;
    total.timeouts += a.timeouts;
    total.retries += a.retries;
    total.promptTokens += a.promptTokens;
    total.completionTokens += a.completionTokens;
    byProvider[a.provider] = fromAggregate(a, byLatency.get(a.provider) ?? []);
  }
  return { total: fromAggregate(total, sample.map((s) => s.latencyMs)), byProvider };
}
