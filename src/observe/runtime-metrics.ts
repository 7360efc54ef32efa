/**
 * The gateway process's own health on `/metrics`, next to the request metrics (metrics.ts): CPU,
 * memory, the event loop's delay and garbage-collection pauses, under the names prom-client's
 * default metrics use (`process_*`, `nodejs_*`), so that dashboards made for Node services read them.
 *
 * Not prom-client's `collectDefaultMetrics`: that leaves its GC observer and loop monitor running
 * for good, one more set per registry; these stop with `stop()` (a gateway made and closed in a test,
 * or an embedding application's, leaves nothing behind).
 *
 * A stream's chunk waits while the event loop is held, so the loop's longest delay since the last
 * scrape, and the pauses by kind, say whether a late chunk was llmux's doing (the bench reads them
 * around its inter-chunk probe). The delay is sampled by a 10 ms timer (100 short callbacks a
 * second); the GC pauses come from V8's callbacks, a few a second under load.
 */
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import client from 'prom-client';

/** Bounds of the GC pause histogram, seconds: a stream's chunks 50 ms apart tell 10 ms from 20. */
const gcBuckets = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1];
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
  const user = new client.Counter({ name: 'process_cpu_user_seconds_total', help: 'User CPU time spent, seconds', registers, collect() {
    const now = process.cpuUsage();
    const du = Math.max(0, now.user - seen.user) / 1e6;
    const ds = Math.max(0, now.system - seen.system) / 1e6;
    seen = now;
    this.inc(du);
    system.inc(ds);
    total.inc(du + ds);
  } });
  void user;
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

  // The event loop's delay: a 10 ms timer that measures how late it runs. (Node's
  // monitorEventLoopDelay, reset at each scrape, misses a hold that starts before its first tick
  // after the reset.) The histogram is cumulative; the longest delay is per scrape.
  let last = performance.now();
  let longest = 0;
  const delay = new client.Histogram({ name: 'nodejs_eventloop_delay_seconds', help: 'How late a 10 ms timer ran: the event loop held by work, seconds', buckets: loopBuckets, registers });
  const sampler = setInterval(() => {
    const now = performance.now();
    const late = Math.max(0, now - last - samplePeriodMs);
    last = now;
    if (late > longest) longest = late;
    delay.observe(late / 1000);
  }, samplePeriodMs);
  sampler.unref();
  new client.Gauge({ name: 'nodejs_eventloop_lag_max_seconds', help: 'Longest event loop delay since the last scrape (a hold still going on included), seconds: how long a waiting chunk or request could have been held', registers, collect() {
    const open = Math.max(0, performance.now() - last - samplePeriodMs);
    this.set(Math.max(longest, open) / 1000);
    longest = 0;
  } });

  const gc = new client.Histogram({ name: 'nodejs_gc_duration_seconds', help: 'Garbage collection pauses of the main thread by kind, seconds', labelNames: ['kind'], buckets: gcBuckets, registers });
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gc.observe({ kind: gcKind(e) }, e.duration / 1000);
  });
  observer.observe({ entryTypes: ['gc'] });

  return () => {
    observer.disconnect();
    clearInterval(sampler);
  };
}
