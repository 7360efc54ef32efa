/**
 * What llmux writes to the client: the x-llmux-* headers, Server-Timing, and error bodies. The routing
 * layer writes to node's ServerResponse directly (after http/ hijacked the reply) so that upstream
 * bytes pass through without a framework in between.
 */
import { LlmuxError } from '../core/errors.ts';
import type { RequestContext } from './context.ts';
import type { Endpoint } from './planner.ts';

/**
 * Headers every answer carries (SPEC §5), after `first`, as node's flat `[name, value, …]` list: node
 * writes a list without walking an object's keys (a `for…in` and an own-property check per header on
 * every answer). `upstreamMs` is the time spent waiting on the upstream; `inAttempt` counts the
 * attempt in progress, which is not recorded yet; `now` is performance.now() (read here unless given).
 */
export function llmuxHead(ctx: RequestContext, ep: Endpoint | null, upstreamMs: number, inAttempt: boolean, first: readonly string[] = noHeaders, now: number = performance.now()): string[] {
  const total = now - ctx.t0;
  const h = [
    ...first,
    'x-llmux-request-id', ctx.id,
    'x-request-id', ctx.id,
    'x-llmux-attempts', String(ep && inAttempt ? ctx.attempts.length + 1 : ctx.attempts.length),
    'server-timing', `gateway;dur=${ms2(total - upstreamMs)}, upstream;dur=${ms2(upstreamMs)}`,
  ];
  if (ep) h.push('x-llmux-provider', ep.provider.id, 'x-llmux-model', ep.model);
  return h;
}

export const noHeaders: readonly string[] = [];

/**
 * Milliseconds with two decimals (`12.50`), negatives as 0: what `toFixed(2)` writes but for halves,
 * which round up. `Number#toFixed` took about 100 ns a call on this machine, this about 10.
 */
export function ms2(ms: number): string {
  const c = ms > 0 ? Math.round(ms * 100) : 0;
  const whole = Math.trunc(c / 100);
  const frac = c - whole * 100;
  return `${whole}.${frac < 10 ? '0' : ''}${frac}`;
}

/** The first headers of a streamed answer (`llmuxHead`). */
export const sseHead: readonly string[] = ['content-type', 'text/event-stream; charset=utf-8', 'cache-control', 'no-cache', 'x-accel-buffering', 'no'];

/** A JSON body with `head` (an `llmuxHead` list), its type and its length; nothing once the answer has begun. */
export function writeJson(ctx: RequestContext, status: number, head: string[], body: string | Buffer): void {
  const res = ctx.res;
  if (res.headersSent || res.destroyed) return;
  head.push('content-type', 'application/json', 'content-length', String(typeof body === 'string' ? Buffer.byteLength(body) : body.length));
  res.writeHead(status, head);
  res.end(body);
}

/** An llmux error in the OpenAI shape; `x-should-retry: false` when failover is exhausted. */
export function writeError(ctx: RequestContext, err: LlmuxError, ep: Endpoint | null, upstreamMs: number, exhausted: boolean): void {
  const h = llmuxHead(ctx, ep, upstreamMs, false);
  if (exhausted) h.push('x-should-retry', 'false');
  if (err.retryAfterS !== undefined) h.push('retry-after', String(Math.max(1, Math.ceil(err.retryAfterS))));
  // An error's own headers (`www-authenticate`) are names llmux sets nowhere else.
  if (err.headers) for (const [k, v] of Object.entries(err.headers)) h.push(k, v);
  writeJson(ctx, err.status, h, JSON.stringify({ error: { message: err.message, type: err.type, param: err.param, code: err.apiCode } }));
}
