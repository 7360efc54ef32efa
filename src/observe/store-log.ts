/**
 * The request log in the store (SPEC §8, issue 3): one row per request, pushed to the batched writer
 * (never awaited on the request path). Subscribes to `llmux:request:end`.
 */
import { channels, type RequestEndEvent } from '../core/events.ts';
import type { RequestLogWriter } from '../store/log-writer.ts';
import type { RequestLogRow } from '../store/types.ts';

export function toRow(e: RequestEndEvent): RequestLogRow {
  return {
    id: e.requestId, ts: e.at, principal: e.principal, route: e.route, model: e.model, upstreamModel: e.upstreamModel,
    provider: e.provider, endpoint: e.endpointId, status: e.status, failureClass: e.cls, attempts: e.attempts,
    latencyMs: Math.round(e.latencyMs), ttftMs: e.ttftMs === null ? null : Math.round(e.ttftMs),
    promptTokens: e.promptTokens, completionTokens: e.completionTokens, stream: e.stream, error: e.error,
  };
}

export function subscribeStoreLog(writer: RequestLogWriter, instance: string): () => void {
  const on = (m: unknown): void => {
    const e = m as RequestEndEvent;
    if (e.instance === instance) writer.push(toRow(e));
  };
  channels.requestEnd.subscribe(on);
  return () => channels.requestEnd.unsubscribe(on);
}
