/**
 * Events through `diagnostics_channel`. Anyone may publish; only observe/ subscribes. Publishing to a
 * channel without subscribers costs one boolean check (`hasSubscribers`).
 */
import diagnostics, { type Channel } from 'node:diagnostics_channel';
import type { FailureClass } from './failure.ts';

export interface AttemptEndEvent {
  /** The gateway instance (several can run in one process, e.g. in tests); subscribers filter on it. */
  instance: string;
  requestId: string;
  endpointId: string;
  provider: string;
  model: string;
  /** 1-based position of this attempt within the request. */
  n: number;
  status: number | null;
  cls: FailureClass | null;
  latencyMs: number;
  message: string | null;
}

export interface RequestEndEvent {
  instance: string;
  requestId: string;
  at: number;
  principal: string | null;
  kind: 'chat' | 'completions' | 'embeddings';
  route: string | null;
  model: string;
  upstreamModel: string | null;
  provider: string | null;
  endpointId: string | null;
  status: number;
  cls: FailureClass | null;
  attempts: number;
  latencyMs: number;
  ttftMs: number | null;
  promptTokens: number;
  completionTokens: number;
  stream: boolean;
  repaired: boolean;
  error: string | null;
  /** Request and assembled response bodies, only while debug capture is on. */
  capture?: { request: unknown; response: unknown; attempts: AttemptEndEvent[] };
}

export const channels = {
  attemptEnd: diagnostics.channel('llmux:attempt:end'),
  requestEnd: diagnostics.channel('llmux:request:end'),
  breakerChange: diagnostics.channel('llmux:breaker:change'),
  configReload: diagnostics.channel('llmux:config:reload'),
} as const;

/** Channel, event, channel, event… waiting for `flushEvents`. */
const queued: unknown[] = [];

/**
 * Publish soon, together with the other events of this turn of the event loop: the events queue while
 * requests are answered and go out in one batch once the loop has handled the I/O at hand
 * (`setImmediate`), so what subscribers do per event (the log line, the request-log row, metrics) runs
 * back to back with its code and data warm, not between requests. Measured: about 15 µs of CPU a
 * request less (BENCHMARKS.md). Events keep their order (a request's attempts before its end), and an
 * answer written while handling I/O is published before its client can read it. An answer written
 * from a timer (a deadline, an attempt or idle timeout) would be read by an in-process client before
 * the check phase: the executor publishes the end of every failed request at once (`flushEvents`),
 * which covers those. Shutdown calls `flushEvents` before it stops the subscribers.
 */
export function publishSoon(ch: Channel, event: object): void {
  if (!ch.hasSubscribers) return;
  if (queued.length === 0) setImmediate(flushEvents);
  queued.push(ch, event);
}

let flushing = false;

/**
 * Publish every queued event now (a subscriber's throw is reported by diagnostics_channel, not here).
 * Events queued by a subscriber during the flush go out in it too, after the rest; a call from a
 * subscriber during a flush returns at once (the running flush delivers everything, in order).
 */
export function flushEvents(): void {
  if (flushing) return;
  flushing = true;
  try {
    for (let i = 0; i < queued.length; i += 2) (queued[i] as Channel).publish(queued[i + 1]);
  } finally {
    queued.length = 0;
    flushing = false;
  }
}
