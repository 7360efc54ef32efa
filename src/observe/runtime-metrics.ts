/**
 * The gateway process's own health on `/metrics`, next to the request metrics (metrics.ts): CPU,
 * memory, the event loop's delay and garbage-collection pauses, most under the names prom-client's
 * default metrics use (`process_*`, `nodejs_*`), so that dashboards made for Node services read them
 * (`nodejs_eventloop_delay_seconds`, a histogram, is llmux's own).
 *
 * Not prom-client's `collectDefaultMetrics`: that leaves its GC observer and loop monitor running
 * for good, one more set per registry; these stop with `stop()` (a gateway made and closed in a test,
 * or an embedding application's, leaves nothing behind).
 *
 * A stream's chunk waits while the event loop is held, so the loop's longest delay since the last
 * scrape, and the pauses by kind, say whether a late chunk was llmux's doing (the bench reads them
 * around its inter-chunk probe). Every scrape starts a new window of the longest delay, for every
 * scraper. The delay is sampled by a 10 ms timer (100 short callbacks a second); the GC pauses come
 * from V8's callbacks (under load, a scavenge every 100–200 ms and a full collection every half minute
 * or so).
 */
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import * as client from './prom.ts';

/** Bounds of the GC pause histogram, seconds: a stream's chunks 50 ms apart tell 10 ms from 20. */
export const gcBuckets = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1];
/** Bounds of the event-loop delay histogram, seconds. */
const loopBuckets = [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1];
const samplePeriodMs = 10;

const gcKinds = new Map<number, string>([
  [constants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
  [constants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, 'weakcb'],
]);

function gcKind(e: PerformanceEntry): string {
  const kind = ((e as PerformanceEntry & { detail?: unknown }).detail as { kind?: number } | null | undefined)?.kind;
  return (kind !== undefined && gcKinds.get(kind)) || 'other';
}

/** Register the runtime metrics on `r`; the returned function stops their monitor and observer. */
export function registerRuntimeMetrics(r: client.Registry): () => void {
  const registers = [r];

  // CPU: counters brought up to process.cpuUsage() at each scrape (in the first one's collect: the
  // registry reads its metrics in the order they were registered).
  let seen = { user: 0, system: 0 };
  const system = new client.Counter({ name: 'process_cpu_system_seconds_total', help: 'System CPU time spent, seconds', registers: [] });
  const total = new client.Counter({ name: 'process_cpu_seconds_total', help: 'User and system CPU time spent, seconds', registers: [] });
  new client.Counter({ name: 'process_cpu_user_seconds_total', help: 'User CPU time spent, seconds', registers, collect() {
    const now = process.cpuUsage();
    const du = Math.max(0, now.user - seen.user) / 1e6;
    const ds = Math.max(0, now.system - seen.system) / 1e6;
    seen = now;
    this.inc(du);
    system.inc(ds);
    total.inc(du + ds);
  } });
  r.registerMetric(system);
  r.registerMetric(total);

  const heapUsed = new client.Gauge({ name: 'nodejs_heap_size_used_bytes', help: 'V8 heap in use, bytes', registers: [] });
  const heapTotal = new client.Gauge({ name: 'nodejs_heap_size_total_bytes', help: 'V8 heap reserved, bytes', registers: [] });
  const external = new client.Gauge({ name: 'nodejs_external_memory_bytes', help: 'Memory of buffers and other objects outside the V8 heap, bytes', registers: [] });
  new client.Gauge({ name: 'process_resident_memory_bytes', help: 'Resident memory size, bytes', registers, collect() {
    const m = process.memoryUsage();
    this.set(m.rss);
    heapUsed.set(m.heapUsed);
    heapTotal.set(m.heapTotal);
    external.set(m.external);
  } });
  for (const g of [heapUsed, heapTotal, external]) r.registerMetric(g);

  // The event loop's delay: a 10 ms timer that measures how late it runs (LoopDelay). Node's
  // monitorEventLoopDelay, reset at each scrape, misses a hold that starts before its first tick
  // after the reset. The histogram is cumulative; the longest delay is per scrape.
  const loop = new LoopDelay(performance.now());
  const delay = new client.Histogram({ name: 'nodejs_eventloop_delay_seconds', help: 'How late a 10 ms timer ran: the event loop held by work, seconds', buckets: loopBuckets, registers });
  const sampler = setInterval(() => delay.observe(loop.tick(performance.now()) / 1000), samplePeriodMs);
  sampler.unref();
  let stopped = false;
  new client.Gauge({ name: 'nodejs_eventloop_lag_max_seconds', help: 'Longest event loop delay since the last scrape (a delay the sampler has not seen yet included), seconds: how long a waiting chunk or request could have been held', registers, collect() {
    this.set(stopped ? 0 : loop.scrape(performance.now()) / 1000);
  } });

  const gc = new client.Histogram({ name: 'nodejs_gc_duration_seconds', help: 'Garbage collection pauses of the main thread by kind, seconds', labelNames: ['kind'], buckets: gcBuckets, registers });
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gc.observe({ kind: gcKind(e) }, e.duration / 1000);
  });
  observer.observe({ entryTypes: ['gc'] });

  return () => {
    stopped = true;
    observer.disconnect();
    clearInterval(sampler);
  };
}

/**
 * The event loop's delay as a timer every `samplePeriodMs` sees it, with the longest since the last
 * scrape. Each delay counts in one scrape's window: a hold that ended before a scrape but that the
 * sampler had not seen yet is the scrape's (it reads it from the time of the last tick); the tick
 * that then sees it counts only what came after that scrape.
 */
export class LoopDelay {
  #last: number;
  #scrapedAt = -Infinity;
  #longest = 0;

  constructor(now: number) {
    this.#last = now;
  }

  /** The sampler ran at `now`: how late it was, ms. */
  tick(now: number): number {
    const late = Math.max(0, now - this.#last - samplePeriodMs);
    this.#last = now;
    this.#longest = Math.max(this.#longest, Math.min(late, now - this.#scrapedAt));
    return late;
  }

  /** A scrape at `now`: the longest delay since the last one (ms), and a new window. */
  scrape(now: number): number {
    const unseen = Math.max(0, now - this.#last - samplePeriodMs);
    const longest = Math.max(this.#longest, unseen);
    this.#longest = 0;
    this.#scrapedAt = now;
    return longest;
  }
}
