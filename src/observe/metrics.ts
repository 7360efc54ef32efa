/**
 * Prometheus metrics (SPEC §7), fed by events only: requests, attempts, failovers, latency and
 * time-to-first-token histograms, tokens; breaker states and queue depth are read at scrape time;
 * and the process's own (CPU, memory, event-loop delay, GC pauses: runtime-metrics.ts).
 */
import * as client from './prom.ts';
import { channels, type AttemptEndEvent, type RequestEndEvent } from '../core/events.ts';
import { registerRuntimeMetrics } from './runtime-metrics.ts';

export interface ScrapeSources {
  breakers(): Array<{ provider: string; endpoint: string; state: string }>;
  queue(): { active: number; queued: number };
  limiterUsage(): Array<{ endpoint: string; rpm: number; rpd: number }>;
}

type Labels = Record<string, string>;

interface Sample {
  labels: Labels;
  value: number;
  metricName?: string;
}

/**
 * The request path's counters and histograms: plain numbers per series, looked up by their label
 * values, rendered by prom-client's registry (`registerMetric` with `get()`) only when scraped.
 * prom-client's own labelled metrics hash and validate a label object on every `inc`/`observe`
 * (≈ 8 µs a request under load; BENCHMARKS.md). Label values come from the config and status codes,
 * so the series stay few.
 */
abstract class HotMetric<S extends { labels: Labels }> {
  abstract readonly type: 'counter' | 'histogram';
  /** Series by their label values, one Map level per label: no key string is built (and hashed) per lookup. */
  readonly #root = new Map<string, unknown>();
  readonly #all: S[] = [];
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  constructor(name: string, help: string, labelNames: readonly string[], registry: client.Registry) {
    if (labelNames.length < 1 || labelNames.length > 4) throw new Error(`${name}: a hot metric has 1 to 4 labels`);
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
    registry.registerMetric(this as unknown as client.Metric);
  }
  protected abstract make(labels: Labels): S;
  /** The series for these label values, in `labelNames` order (a missing value is ''). */
  series(v0: string, v1 = '', v2 = '', v3 = ''): S {
    const n = this.labelNames.length;
    let level = this.#root;
    for (let i = 0; i < n - 1; i++) {
      const v = i === 0 ? v0 : i === 1 ? v1 : v2;
      let next = level.get(v) as Map<string, unknown> | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(v, next);
      }
      level = next;
    }
    const last = n === 1 ? v0 : n === 2 ? v1 : n === 3 ? v2 : v3;
    let s = level.get(last) as S | undefined;
    if (s === undefined) {
      const values = [v0, v1, v2, v3];
      const labels: Labels = {};
      for (let i = 0; i < n; i++) labels[this.labelNames[i]!] = values[i]!;
      s = this.make(labels);
      level.set(last, s);
      this.#all.push(s);
    }
    return s;
  }
  protected abstract samples(s: S, out: Sample[]): void;
  get(): Promise<{ name: string; help: string; type: string; values: Sample[]; aggregator: 'sum' }> {
    const values: Sample[] = [];
    for (const s of this.#all) this.samples(s, values);
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' });
  }
  reset(): void {
    this.#root.clear();
    this.#all.length = 0;
  }
}

interface CounterSeries {
  labels: Labels;
  value: number;
}

class HotCounter extends HotMetric<CounterSeries> {
  readonly type = 'counter';
  protected make(labels: Labels): CounterSeries {
    return { labels, value: 0 };
  }
  protected samples(s: CounterSeries, out: Sample[]): void {
    out.push({ labels: s.labels, value: s.value });
  }
}

interface HistogramSeries {
  labels: Labels;
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  counts: Float64Array;
  sum: number;
  count: number;
}

class HotHistogram extends HotMetric<HistogramSeries> {
  readonly type = 'histogram';
  readonly #bounds: readonly number[];
  constructor(name: string, help: string, labelNames: readonly string[], bounds: readonly number[], registry: client.Registry) {
    super(name, help, labelNames, registry);
    this.#bounds = bounds;
  }
  protected make(labels: Labels): HistogramSeries {
    return { labels, counts: new Float64Array(this.#bounds.length + 1), sum: 0, count: 0 };
  }
  observe(s: HistogramSeries, v: number): void {
    const b = this.#bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    s.counts[i]!++;
    s.sum += v;
    s.count++;
  }
  protected samples(s: HistogramSeries, out: Sample[]): void {
    let cum = 0;
    for (let i = 0; i <= this.#bounds.length; i++) {
      cum += s.counts[i]!;
      const le = i < this.#bounds.length ? String(this.#bounds[i]) : '+Inf';
      out.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le }, value: cum });
    }
    out.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
    out.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
  }
}

const statusTexts = new Map<number, string>();
function statusText(n: number): string {
  let t = statusTexts.get(n);
  if (t === undefined) statusTexts.set(n, (t = String(n)));
  return t;
}

export class Metrics {
  readonly registry = new client.Registry();
  #unsub: Array<() => void> = [];

  constructor(src: ScrapeSources, instance: string) {
    const r = this.registry;
    const requests = new HotCounter('llmux_requests_total', 'Client requests by route, provider and status', ['route', 'provider', 'status', 'stream'], r);
    const attempts = new HotCounter('llmux_attempts_total', 'Upstream attempts by provider and failure class (ok = success)', ['provider', 'class'], r);
    const failovers = new HotCounter('llmux_failovers_total', 'Attempts after the first within a request', ['route'], r);
    const latency = new HotHistogram('llmux_request_duration_seconds', 'Whole request duration', ['route'], [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120], r);
    const ttft = new HotHistogram('llmux_time_to_first_token_seconds', 'Time to the first content event (streams) or the response (non-stream)', ['route'], [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30], r);
    const tokens = new HotCounter('llmux_tokens_total', 'Tokens from upstream usage', ['provider', 'kind'], r);
    new client.Gauge({
      name: 'llmux_breaker_state', help: 'Breaker state per endpoint: 0 closed, 1 half-open, 2 open', labelNames: ['provider', 'endpoint'], registers: [r],
      collect() {
        this.reset();
        for (const b of src.breakers()) this.set({ provider: b.provider, endpoint: b.endpoint }, b.state === 'open' ? 2 : b.state === 'half-open' ? 1 : 0);
      },
    });
    new client.Gauge({ name: 'llmux_inflight_requests', help: 'Requests being served', registers: [r], collect() { this.set(src.queue().active); } });
    new client.Gauge({ name: 'llmux_queue_depth', help: 'Requests waiting for a slot', registers: [r], collect() { this.set(src.queue().queued); } });
    new client.Gauge({
      name: 'llmux_limiter_rpm_used', help: 'Requests in the last 60 s per endpoint', labelNames: ['endpoint'], registers: [r],
      collect() {
        this.reset();
        for (const u of src.limiterUsage()) this.set({ endpoint: u.endpoint }, u.rpm);
      },
    });
    const onEnd = (m: unknown): void => {
      const e = m as RequestEndEvent;
      if (e.instance !== instance) return;
      const route = e.route ?? 'none';
      requests.series(route, e.provider ?? 'none', statusText(e.status), e.stream ? 'true' : 'false').value++;
      latency.observe(latency.series(route), e.latencyMs / 1000);
      if (e.ttftMs !== null) ttft.observe(ttft.series(route), e.ttftMs / 1000);
      if (e.attempts > 1) failovers.series(route).value += e.attempts - 1;
      if (e.provider && e.promptTokens) tokens.series(e.provider, 'prompt').value += e.promptTokens;
      if (e.provider && e.completionTokens) tokens.series(e.provider, 'completion').value += e.completionTokens;
    };
    const onAttempt = (m: unknown): void => {
      const a = m as AttemptEndEvent;
      if (a.instance !== instance) return;
      attempts.series(a.provider, a.cls ?? 'ok').value++;
    };
    channels.requestEnd.subscribe(onEnd);
    channels.attemptEnd.subscribe(onAttempt);
    this.#unsub.push(() => channels.requestEnd.unsubscribe(onEnd), () => channels.attemptEnd.unsubscribe(onAttempt));
    // The process's CPU, memory, event-loop delay and GC pauses (runtime-metrics.ts).
    this.#unsub.push(registerRuntimeMetrics(r));
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    for (const u of this.#unsub) u();
  }
}
