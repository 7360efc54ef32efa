/**
 * One log line per request at info (SPEC §8, issue 4): request id, route, endpoint, status, attempts,
 * latency. Subscribes to `llmux:request:end`; never sees a key (events carry none).
 */
import { channels, type AttemptEndEvent, type RequestEndEvent } from '../core/events.ts';
import type { Logger } from './logger.ts';

export function subscribeRequestLog(log: Logger, instance: string): () => void {
  const onEnd = (m: unknown): void => {
    const e = m as RequestEndEvent;
    if (e.instance !== instance) return;
    const line = {
      id: e.requestId, route: e.route, model: e.model, provider: e.provider, endpoint: e.endpointId, status: e.status,
      attempts: e.attempts, ms: Math.round(e.latencyMs), ttft: e.ttftMs === null ? undefined : Math.round(e.ttftMs),
      stream: e.stream || undefined, class: e.cls ?? undefined, tokens: e.promptTokens + e.completionTokens || undefined,
      repaired: e.repaired || undefined, principal: e.principal ?? undefined,
    };
    if (e.status >= 500) log.warn(line, e.error ?? 'request failed');
    else log.info(line, 'request');
  };
  const onAttempt = (m: unknown): void => {
    const a = m as AttemptEndEvent;
    if (a.instance !== instance) return;
    if (a.cls !== null && a.cls !== 'canceled') {
      log.debug({ id: a.requestId, endpoint: a.endpointId, n: a.n, status: a.status, class: a.cls, ms: Math.round(a.latencyMs) }, a.message ?? 'attempt failed');
    }
  };
  channels.requestEnd.subscribe(onEnd);
  channels.attemptEnd.subscribe(onAttempt);
  return () => {
    channels.requestEnd.unsubscribe(onEnd);
    channels.attemptEnd.unsubscribe(onAttempt);
  };
}
