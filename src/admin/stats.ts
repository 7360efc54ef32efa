/**
 * /admin/stats: request-log totals (everything the log still holds), today (the calendar day in
 * `server.timezone`), each provider today, and the live admission numbers. Counts come from the
 * store (`statsSince`), so they are shared by every instance on the same store.
 */
import type { FastifyInstance } from 'fastify';
import { dayKey, tzOffsetMs } from '../core/clock.ts';
import type { LogStats } from '../store/types.ts';
import type { AdminRuntime } from './runtime.ts';

const DAY_MS = 86_400_000;

/** The instant the calendar day containing `t` began in `tz` (DST-safe, like `nextDayStart`). */
export function startOfDay(t: number, tz: string): number {
  const off = tzOffsetMs(t, tz);
  const localMidnight = Math.floor((t + off) / DAY_MS) * DAY_MS;
  const guess = localMidnight - off;
  return localMidnight - tzOffsetMs(guess, tz);
}

export interface Today {
  /** `YYYYMMDD` in the server's time zone. */
  key: string;
  start: number;
  timezone: string;
  now: number;
}

export function today(rt: AdminRuntime): Today {
  const tz = rt.snapshot().config.server.timezone;
  const now = rt.deps.clock.now();
  return { key: dayKey(now, tz), start: startOfDay(now, tz), timezone: tz, now };
}

/** Per provider (and totals): the store's request-log stats. */
export type ProviderStats = LogStats;

const zero: ProviderStats = { requests: 0, success: 0, failure: 0, timeouts: 0, retries: 0, promptTokens: 0, completionTokens: 0, latencyP50: null, latencyP95: null };

function pick(s: LogStats | undefined): ProviderStats {
  if (!s) return { ...zero };
  return {
    requests: s.requests, success: s.success, failure: s.failure, timeouts: s.timeouts, retries: s.retries,
    promptTokens: s.promptTokens, completionTokens: s.completionTokens,
    latencyP50: s.latencyP50 === null ? null : Math.round(s.latencyP50), latencyP95: s.latencyP95 === null ? null : Math.round(s.latencyP95),
  };
}

export function registerStats(app: FastifyInstance, rt: AdminRuntime): void {
  app.get('/admin/stats', async () => {
    const d = today(rt);
    const [all, day] = await Promise.all([rt.store.statsSince(0), rt.store.statsSince(d.start)]);
    const providers: Record<string, ProviderStats> = {};
    for (const id of rt.snapshot().providers.keys()) providers[id] = pick(day.byProvider[id]);
    // Providers that served today but are gone from the config still count.
    for (const [id, s] of Object.entries(day.byProvider)) if (id !== '' && !(id in providers)) providers[id] = pick(s);
    return {
      totals: pick(all.total),
      today: { date: d.key, since: new Date(d.start).toISOString(), timezone: d.timezone, ...pick(day.total) },
      providers,
      concurrency: rt.concurrency(),
    };
  });
}
