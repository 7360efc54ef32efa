/**
 * Writing the end of a request: a checked non-stream body (as JSON, or as SSE for a streaming caller
 * whose provider forces non-stream), an upstream `caller` error passed through, or llmux's own error
 * when failover is exhausted or nothing was eligible.
 */
import { LlmuxError, type ErrorCode } from '../core/errors.ts';
import type { FailureClass } from '../core/failure.ts';
import { completionToEvents } from '../dialects/openai/assemble.ts';
import type { AttemptFailure, CheckedBody } from './attempt.ts';
import type { RequestContext } from './context.ts';
import type { Endpoint, Plan } from './planner.ts';
import { llmuxHead, noHeaders, sseHead, writeError, writeJson } from './response.ts';

/** `now`: performance.now(), when the caller has read it. */
export function writeChecked(ctx: RequestContext, ep: Endpoint, checked: CheckedBody, raw: Buffer, upstreamMs: number, now: number = performance.now()): void {
  if (!ctx.stream) return writeJson(ctx, 200, llmuxHead(ctx, ep, upstreamMs, true, noHeaders, now), checked.rewritten ?? raw);
  const res = ctx.res;
  if (res.destroyed) return;
  const events = completionToEvents(checked.parsed ?? (JSON.parse(raw.toString('utf8')) as Record<string, unknown>), ctx.includeUsage);
  res.writeHead(200, llmuxHead(ctx, ep, upstreamMs, true, [...sseHead, 'content-length', String(Buffer.byteLength(events))], now));
  res.end(events);
}

/** A `caller` error from the upstream goes back as it was sent (SPEC §5). */
export function writePassthrough(ctx: RequestContext, ep: Endpoint, f: AttemptFailure, upstreamMs: number): void {
  const pt = f.passthrough!;
  if (ctx.res.headersSent || ctx.res.destroyed) return;
  const h = llmuxHead(ctx, ep, upstreamMs, false, ['x-should-retry', 'false', 'content-type', pt.contentType.includes('json') ? pt.contentType : 'application/json', 'content-length', String(pt.body.length)]);
  ctx.res.writeHead(pt.status, h);
  ctx.res.end(pt.body);
}

const classError: Record<FailureClass, ErrorCode> = {
  connect: 'LLMUX_ERR_UPSTREAM_UNAVAILABLE',
  timeout: 'LLMUX_ERR_UPSTREAM_TIMEOUT',
  transient: 'LLMUX_ERR_UPSTREAM_UNAVAILABLE',
  rate_limit: 'LLMUX_ERR_UPSTREAM_RATE_LIMITED',
  quota: 'LLMUX_ERR_UPSTREAM_QUOTA',
  credential: 'LLMUX_ERR_UPSTREAM_AUTH',
  model_unavailable: 'LLMUX_ERR_UPSTREAM_MODEL',
  caller: 'LLMUX_ERR_INVALID_REQUEST',
  canceled: 'LLMUX_ERR_INTERNAL',
};

export interface Exhaustion {
  plan: Plan;
  last: AttemptFailure | null;
  lastEp: Endpoint | null;
  limitBlocked: number;
  limitRetryAt: number;
  /** The soonest any tried endpoint becomes available again (breakers just opened). */
  retryAt: number;
  now: number;
  deadlineHit: boolean;
}

/** llmux's own answer when nothing served the request. */
export function exhaustedError(ctx: RequestContext, x: Exhaustion): LlmuxError {
  const secs = (t: number): number | undefined => (Number.isFinite(t) && t > x.now ? (t - x.now) / 1000 : undefined);
  const n = ctx.attempts.length;
  if (x.deadlineHit) return new LlmuxError('LLMUX_ERR_DEADLINE', `The request did not finish within server.deadlineMs (${ctx.snapshot.config.server.deadlineMs} ms) after ${n} attempt(s).`);
  if (x.last) {
    const code = classError[x.last.cls];
    const where = x.lastEp ? ` (last: ${x.lastEp.provider.id}, ${x.last.message})` : '';
    const retryAt = Math.min(x.retryAt, x.limitRetryAt);
    return new LlmuxError(code, `All ${n} upstream attempt(s) for "${ctx.model}" failed${where}.`, {
      retryAfterS: x.last.cls === 'rate_limit' || x.last.cls === 'quota' ? secs(retryAt) ?? 1 : undefined,
    });
  }
  if (x.limitBlocked > 0) {
    return new LlmuxError('LLMUX_ERR_RATE_LIMITED', `Every endpoint for "${ctx.model}" is at its rate limit; retry after the Retry-After time.`, {
      retryAfterS: secs(Math.min(x.limitRetryAt, x.plan.breakerRetryAt)) ?? 1,
    });
  }
  if (x.plan.breakerBlocked > 0) {
    return new LlmuxError('LLMUX_ERR_NO_HEALTHY_UPSTREAM', `Every endpoint for "${ctx.model}" is failing and cooling down (breaker open); retry after the Retry-After time, or see /health/upstream.`, {
      retryAfterS: secs(x.plan.breakerRetryAt) ?? 1,
    });
  }
  if (x.plan.disabled > 0) return new LlmuxError('LLMUX_ERR_NO_HEALTHY_UPSTREAM', `Every endpoint for "${ctx.model}" is disabled (enabled: false or a limit of 0).`);
  return new LlmuxError('LLMUX_ERR_NO_HEALTHY_UPSTREAM', `The route for "${ctx.model}" has no targets; add providers to it in the config.`);
}

export function writeExhausted(ctx: RequestContext, x: Exhaustion, upstreamMs: number): LlmuxError {
  const err = exhaustedError(ctx, x);
  writeError(ctx, err, x.lastEp, upstreamMs, true);
  return err;
}
