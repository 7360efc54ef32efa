/**
 * Runtime health of every endpoint (provider × credential × model), keyed by a stable endpoint id so
 * that it survives config reloads when the identity is unchanged: breaker, in-flight count, latency
 * (last and EWMA), last error, counts.
 */
import type { Clock } from '../core/clock.ts';
import type { FailureClass } from '../core/failure.ts';
import { Breaker, type BreakerSettings, type FailureHint } from './breaker.ts';

export interface LastError {
  cls: FailureClass;
  status: number | null;
  message: string;
  at: number;
}

export class EndpointHealth {
  readonly id: string;
  readonly breaker: Breaker;
  inflight = 0;
  lastLatencyMs: number | null = null;
  /** Exponentially weighted latency (time to first byte for streams); null until measured. */
  ewmaMs: number | null = null;
  lastError: LastError | null = null;
  lastSuccessAt = 0;
  successes = 0;
  failures = 0;

  constructor(id: string, settings: BreakerSettings) {
    this.id = id;
    this.breaker = new Breaker(settings);
  }

  recordLatency(ms: number): void {
    this.lastLatencyMs = ms;
    this.ewmaMs = this.ewmaMs === null ? ms : this.ewmaMs * 0.8 + ms * 0.2;
  }
}

/** Listener for breaker changes (for sharing through state and for metrics). */
export type BreakerListener = (h: EndpointHealth) => void;

export class HealthTracker {
  readonly clock: Clock;
  #all = new Map<string, EndpointHealth>();
  #listeners: BreakerListener[] = [];

  constructor(clock: Clock) {
    this.clock = clock;
  }

  /** The health of an endpoint, created on first use; settings follow the latest config. */
  get(id: string, settings: BreakerSettings): EndpointHealth {
    let h = this.#all.get(id);
    if (!h) {
      h = new EndpointHealth(id, settings);
      this.#all.set(id, h);
    } else if (h.breaker.settings !== settings) {
      h.breaker.settings = settings;
    }
    return h;
  }

  peek(id: string): EndpointHealth | undefined {
    return this.#all.get(id);
  }

  all(): IterableIterator<EndpointHealth> {
    return this.#all.values();
  }

  onBreakerChange(l: BreakerListener): void {
    this.#listeners.push(l);
  }

  /** Tell the listeners when the breaker's state or its open-until time moved (no strings built per request). */
  #changed(h: EndpointHealth, state: string, openUntil: number, now: number): void {
    if (this.#listeners.length === 0) return;
    if (h.breaker.state(now) !== state || !Object.is(h.breaker.openUntil, openUntil)) for (const l of this.#listeners) l(h);
  }

  /** `now`: this tracker's clock, read once by the caller (the request path) or here. */
  success(h: EndpointHealth, latencyMs: number, now: number = this.clock.now()): void {
    const state = h.breaker.state(now);
    const openUntil = h.breaker.openUntil;
    h.successes++;
    h.lastSuccessAt = now;
    h.recordLatency(latencyMs);
    h.breaker.onSuccess();
    this.#changed(h, state, openUntil, now);
  }

  failure(h: EndpointHealth, cls: FailureClass, status: number | null, message: string, hint?: FailureHint, now: number = this.clock.now()): void {
    const state = h.breaker.state(now);
    const openUntil = h.breaker.openUntil;
    if (cls !== 'canceled' && cls !== 'caller') {
      h.failures++;
      h.lastError = { cls, status, message, at: now };
    }
    h.breaker.onFailure(cls, now, hint);
    this.#changed(h, state, openUntil, now);
  }

  probeFailure(h: EndpointHealth, message: string): void {
    const now = this.clock.now();
    const state = h.breaker.state(now);
    const openUntil = h.breaker.openUntil;
    h.lastError = { cls: 'connect', status: null, message, at: now };
    h.breaker.onProbeFailure(now);
    this.#changed(h, state, openUntil, now);
  }
}
