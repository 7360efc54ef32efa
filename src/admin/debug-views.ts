/**
 * The debug views of the free-API proxy this replaces (seed-formats §1.6), same JSON shapes, from
 * llmux's own data: /debug/stats (today's CALLS counters), /debug/apis (every provider with its
 * health), /debug/concurrency (admission and the last calls). Keys appear masked only. Fields llmux
 * adds are extra members; none of the original ones is renamed or dropped.
 */
import type { FastifyInstance } from 'fastify';
import { maskKey } from '../config/compile.ts';
import { dayKey } from '../core/clock.ts';
import type { RequestLogRow } from '../store/types.ts';
import type { CallsFile } from '../observe/capture.ts';
import type { AdminRuntime } from './runtime.ts';
import { today } from './stats.ts';

/** The CALLS_YYYYMMDD.json shape without the baseline's `count`. */
export type CallsStats = Omit<CallsFile, 'count'>;

export async function debugStats(rt: AdminRuntime): Promise<CallsStats> {
  const d = today(rt);
  const [s, newest] = await Promise.all([rt.store.statsSince(d.start), rt.store.queryLogs({ since: d.start, limit: 1 })]);
  const t = s.total;
  const last = newest[0];
  return { date: d.key, total: t.requests, success: t.success, failed: t.failure, timeout: t.timeouts, retry: t.retries, last_updated: last ? new Date(last.ts).toISOString() : null };
}

export interface ApiRecord {
  name: string;
  api_key: string | null;
  base_url: string;
  available: boolean;
  last_test_time: string | null;
  last_test_result: string | null;
  success_count: number;
  failure_count: number;
  consecutive_failures: number;
  supported_models: string[];
  /** llmux: endpoints of this provider by breaker state. */
  breakers: { closed: number; open: number; 'half-open': number };
  enabled: boolean;
}

export function debugApis(rt: AdminRuntime): { free_apis: Record<string, ApiRecord>; available_apis: string[] } {
  const snap = rt.snapshot();
  const now = rt.deps.clock.now();
  const all = [...rt.deps.tracker.all()];
  const free_apis: Record<string, ApiRecord> = {};
  const available_apis: string[] = [];
  for (const p of snap.providers.values()) {
    const hs = all.filter((h) => h.id.startsWith(`${p.id}/`));
    const breakers = { closed: 0, open: 0, 'half-open': 0 };
    for (const h of hs) breakers[h.breaker.state(now)]++;
    const available = p.enabled && (hs.length === 0 || breakers.open < hs.length);
    const lastOk = Math.max(0, ...hs.map((h) => h.lastSuccessAt));
    const lastErr = hs.map((h) => h.lastError).filter((e) => e !== null).sort((a, b) => b.at - a.at)[0] ?? null;
    const tripped = hs.find((h) => h.breaker.state(now) === 'open' && h.breaker.reason === 'failures');
    let result: string | null = null;
    if (tripped) result = `marked invalid after ${tripped.breaker.consecutiveFailures} consecutive failures`;
    else if (lastErr && lastErr.at > lastOk) result = lastErr.status !== null ? `failed: ${lastErr.status}` : `error: ${lastErr.message}`;
    else if (lastOk > 0) result = 'success';
    const lastAt = Math.max(lastOk, lastErr?.at ?? 0);
    free_apis[p.id] = {
      name: p.name,
      api_key: p.keys[0] === undefined ? null : maskKey(p.keys[0]),
      base_url: p.baseUrl,
      available,
      last_test_time: lastAt > 0 ? new Date(lastAt).toISOString() : null,
      last_test_result: result,
      success_count: hs.reduce((n, h) => n + h.successes, 0),
      failure_count: hs.reduce((n, h) => n + h.failures, 0),
      consecutive_failures: Math.max(0, ...hs.map((h) => h.breaker.consecutiveFailures)),
      supported_models: p.models.length > 0 ? [...p.models] : Object.keys(p.modelMap),
      breakers,
      enabled: p.enabled,
    };
    if (available) available_apis.push(p.id);
  }
  return { free_apis, available_apis };
}

/** The seed's `error_type` vocabulary, from a log row. */
export function errorType(r: RequestLogRow): string | null {
  if (r.status < 400) return null;
  if (r.failureClass === 'timeout') return 'timeout';
  if (r.failureClass === 'connect') return 'upstream_unreachable';
  if (r.failureClass === null && r.status === 429) return 'concurrent_limit';
  return r.failureClass !== null ? 'api_error' : 'unknown';
}

function isoDay(t: number, tz: string): string {
  const k = dayKey(t, tz);
  return `${k.slice(0, 4)}-${k.slice(4, 6)}-${k.slice(6, 8)}`;
}

export async function debugConcurrency(rt: AdminRuntime): Promise<Record<string, unknown>> {
  const d = today(rt);
  const c = rt.concurrency();
  const [recent, lastErrors, day] = await Promise.all([
    rt.store.queryLogs({ limit: 10 }),
    rt.store.queryLogs({ status: 'error', limit: 1 }),
    rt.store.statsSince(d.start),
  ]);
  const apis = debugApis(rt);
  const le = lastErrors[0];
  return {
    concurrency: { active_requests: c.active, max_concurrent: c.max, available_slots: Math.max(0, c.max - c.active), queued_requests: c.queued },
    call_history: recent.reverse().map((r) => ({
      success: r.status < 400, timestamp: new Date(r.ts).toISOString(), date: isoDay(r.ts, d.timezone), error_type: errorType(r),
      status: r.status, route: r.route, provider: r.provider,
    })),
    today_stats: { total: day.total.requests, success: day.total.success, failed: day.total.failure },
    last_error: le
      ? { type: errorType(le) ?? 'unknown', message: le.error ?? `HTTP ${le.status}`, timestamp: new Date(le.ts).toISOString() }
      : { type: 'none', message: '', timestamp: null },
    free_apis: { total: Object.keys(apis.free_apis).length, available: apis.available_apis.length, api_list: apis.available_apis },
  };
}

export function registerDebugViews(app: FastifyInstance, rt: AdminRuntime): void {
  app.get('/debug/stats', async () => debugStats(rt));
  app.get('/debug/apis', async () => debugApis(rt));
  app.get('/debug/concurrency', async () => debugConcurrency(rt));
}
