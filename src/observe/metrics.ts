/**
 * Prometheus metrics (SPEC §7), fed by events only: requests, attempts, failovers, latency and
 * time-to-first-token histograms, tokens; breaker states and queue depth are read at scrape time.
 */
import client from 'prom-client';
import { channels, type AttemptEndEvent, type RequestEndEvent } from '../core/events.ts';

export interface ScrapeSources {
  breakers(): Array<{ provider: string; endpoint: string; state: string }>;
  queue(): { active: number; queued: number };
  limiterUsage(): Array<{ endpoint: string; rpm: number; rpd: number }>;
}

/** Memoise `make(...labels)` by its label values (bounded: label values come from config and statuses). */
function childCache<A extends string[], C>(make: (...labels: A) => C): (...labels: A) => C {
  const cache = new Map<string, C>();
  return (...labels: A): C => {
    const key = labels.join('\u0000');
    let c = cache.get(key);
    if (c === undefined) {
      if (cache.size > 10_000) cache.clear();
      c = make(...labels);
      cache.set(key, c);
    }
    return c;
  };
}

export class Metrics {
  readonly registry = new client.Registry();
  #unsub: Array<() => void> = [];

  constructor(src: ScrapeSources, instance: string) {
    const r = this.registry;
    const requests = new client.Counter({ name: 'llmux_requests_total', help: 'Client requests by route, provider and status', labelNames: ['route', 'provider', 'status', 'stream'], registers: [r] });
    const attempts = new client.Counter({ name: 'llmux_attempts_total', help: 'Upstream attempts by provider and failure class (ok = success)', labelNames: ['provider', 'class'], registers: [r] });
    const failovers = new client.Counter({ name: 'llmux_failovers_total', help: 'Attempts after the first within a request', labelNames: ['route'], registers: [r] });
    const latency = new client.Histogram({ name: 'llmux_request_duration_seconds', help: 'Whole request duration', labelNames: ['route'], buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120], registers: [r] });
    const ttft = new client.Histogram({ name: 'llmux_time_to_first_token_seconds', help: 'Time to the first content event (streams) or the response (non-stream)', labelNames: ['route'], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30], registers: [r] });
    const tokens = new client.Counter({ name: 'llmux_tokens_total', help: 'Tokens from upstream usage', labelNames: ['provider', 'kind'], registers: [r] });
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
    // Labelled children cached by their label values: prom-client hashes a label object on every
    // call otherwise (7 µs a request under load; BENCHMARKS.md).
    const requestsBy = childCache((...v: string[]) => requests.labels(...v));
    const latencyBy = childCache((route: string) => latency.labels(route));
    const ttftBy = childCache((route: string) => ttft.labels(route));
    const attemptsBy = childCache((...v: string[]) => attempts.labels(...v));
    const onEnd = (m: unknown): void => {
      const e = m as RequestEndEvent;
      if (e.instance !== instance) return;
      const route = e.route ?? 'none';
      requestsBy(route, e.provider ?? 'none', String(e.status), e.stream ? 'true' : 'false').inc();
      latencyBy(route).observe(e.latencyMs / 1000);
      if (e.ttftMs !== null) ttftBy(route).observe(e.ttftMs / 1000);
      if (e.attempts > 1) failovers.inc({ route }, e.attempts - 1);
      if (e.provider && e.promptTokens) tokens.inc({ provider: e.provider, kind: 'prompt' }, e.promptTokens);
      if (e.provider && e.completionTokens) tokens.inc({ provider: e.provider, kind: 'completion' }, e.completionTokens);
    };
    const onAttempt = (m: unknown): void => {
      const a = m as AttemptEndEvent;
      if (a.instance !== instance) return;
      attemptsBy(a.provider, a.cls ?? 'ok').inc();
    };
    channels.requestEnd.subscribe(onEnd);
    channels.attemptEnd.subscribe(onAttempt);
    this.#unsub.push(() => channels.requestEnd.unsubscribe(onEnd), () => channels.attemptEnd.unsubscribe(onAttempt));
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
