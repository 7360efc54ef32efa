/**
 * What llmux writes to the client: the x-llmux-* headers, Server-Timing, and error bodies. The routing
 * layer writes to node's ServerResponse directly (after http/ hijacked the reply) so that upstream
 * bytes pass through without a framework in between.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { LlmuxError } from '../core/errors.ts';
import type { RequestContext } from './context.ts';
import type { Endpoint } from './planner.ts';

/** Headers every answer carries (SPEC §5). `upstreamMs` is the time spent waiting on the upstream. */
export function llmuxHeaders(ctx: RequestContext, ep: Endpoint | null, upstreamMs: number, inAttempt = true): OutgoingHttpHeaders {
  const total = performance.now() - ctx.t0;
  const h: OutgoingHttpHeaders = {
    'x-llmux-request-id': ctx.id,
    'x-request-id': ctx.id,
    // During an attempt it is not recorded yet: count it.
    'x-llmux-attempts': String(ep && inAttempt ? ctx.attempts.length + 1 : ctx.attempts.length),
    'server-timing': `gateway;dur=${Math.max(0, total - upstreamMs).toFixed(2)}, upstream;dur=${upstreamMs.toFixed(2)}`,
  };
  if (ep) {
    h['x-llmux-provider'] = ep.provider.id;
    h['x-llmux-model'] = ep.model;
  }
  return h;
}

/**
 * The head of a successful answer as node's flat `[name, value, …]` list: the same headers as
 * `llmuxHeaders` after `first`, which node writes without walking an object's keys (a `for…in` and
 * an own-property check per header on every answer). `ep` is the endpoint that answered.
 */
export function answerHead(ctx: RequestContext, ep: Endpoint, upstreamMs: number, first: readonly string[]): string[] {
  const total = performance.now() - ctx.t0;
  return [
    ...first,
    'x-llmux-request-id', ctx.id,
    'x-request-id', ctx.id,
    'x-llmux-attempts', String(ctx.attempts.length + 1),
    'server-timing', `gateway;dur=${Math.max(0, total - upstreamMs).toFixed(2)}, upstream;dur=${upstreamMs.toFixed(2)}`,
    'x-llmux-provider', ep.provider.id,
    'x-llmux-model', ep.model,
  ];
}

/** The first headers of a streamed answer (`answerHead`). */
export const sseHead: readonly string[] = ['content-type', 'text/event-stream; charset=utf-8', 'cache-control', 'no-cache', 'x-accel-buffering', 'no'];

export function writeJson(ctx: RequestContext, status: number, headers: OutgoingHttpHeaders, body: string | Buffer): void {
  const res = ctx.res;
  if (res.headersSent || res.destroyed) return;
  headers['content-type'] = 'application/json';
  headers['content-length'] = Buffer.byteLength(body);
  res.writeHead(status, headers);
  res.end(body);
}

/** An llmux error in the OpenAI shape; `x-should-retry: false` when failover is exhausted. */
export function writeError(ctx: RequestContext, err: LlmuxError, ep: Endpoint | null, upstreamMs: number, exhausted: boolean): void {
  const h = llmuxHeaders(ctx, ep, upstreamMs, false);
  if (exhausted) h['x-should-retry'] = 'false';
  if (err.retryAfterS !== undefined) h['retry-after'] = String(Math.max(1, Math.ceil(err.retryAfterS)));
  if (err.headers) Object.assign(h, err.headers);
  writeJson(ctx, err.status, h, JSON.stringify({ error: { message: err.message, type: err.type, param: err.param, code: err.apiCode } }));
}
