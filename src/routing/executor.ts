/**
 * The attempt loop (SPEC §4–§5): resolve the route, plan, then try endpoints in order — each under its
 * limits and breaker, with per-provider retries for network errors — until one answers, a `caller`
 * error ends it, or `maxAttempts` / `deadlineMs` run out. Records every attempt in the health tracker
 * and publishes `llmux:attempt:end` / `llmux:request:end`.
 */
import { channels, flushEvents, publishSoon, type AttemptEndEvent, type RequestEndEvent } from '../core/events.ts';
import { LlmuxError } from '../core/errors.ts';
import { failsOver, isNetworkClass, type FailureClass } from '../core/failure.ts';
import { nextDayStart } from '../core/clock.ts';
import { abortAfter, type Cancellable } from '../core/timeouts.ts';
import { statusForClass } from '../dialects/openai/errors.ts';
import { abortReasons, type RequestContext, type RoutingDeps } from './context.ts';
import { plan, type Endpoint, type Plan } from './planner.ts';
import { resolveRoute } from './route-table.ts';
import { envKeyPresets } from '../config/presets.ts';
import { runAttempt } from './run-attempt.ts';
import type { AttemptFailure, AttemptResult } from './attempt.ts';
import { writeExhausted, writePassthrough, type Exhaustion } from './outcome.ts';
import { writeError } from './response.ts';

interface Outcome {
  status: number;
  cls: FailureClass | null;
  ep: Endpoint | null;
  route: string | null;
  error: string | null;
  ttftMs: number | null;
  promptTokens: number;
  completionTokens: number;
  response?: unknown;
  /** performance.now() when the answer ended, when the attempt that answered read it. */
  endedAt?: number;
}

/** What the request used, for the caller's own limits (client-key token budgets). */
export interface ExecuteResult {
  status: number;
  tokens: number;
}

export async function execute(ctx: RequestContext, deps: RoutingDeps): Promise<ExecuteResult> {
  const server = ctx.snapshot.config.server;
  // From the request's arrival (t0); cancelled when an answer commits (a stream may then run long).
  const deadline = abortAfter(ctx.t0, server.deadlineMs, ctx.controller, abortReasons.deadline);
  let out: Outcome;
  try {
    // The attempt loop, here rather than in an async function of its own: one promise and one
    // microtask a request fewer (bench/HISTORY.md, nineteenth round).
    run: {
      const snap = ctx.snapshot;
      const route = resolveRoute(snap, ctx.model);
      if (!route) {
        const err = snap.providers.size === 0
          ? new LlmuxError('LLMUX_ERR_MODEL_NOT_FOUND', `llmux has no providers yet: add one to llmux.yaml, or set a provider key such as ${envKeyPresets().slice(0, 3).map(([, p]) => p.keyEnv).join(', ')} in the environment or .env, then restart (see the README).`, { param: 'model' })
          : new LlmuxError('LLMUX_ERR_MODEL_NOT_FOUND', `The model "${ctx.model}" does not exist here: no route, provider model or "*" route matches it. GET /v1/models lists what is available.`, { param: 'model' });
        writeError(ctx, err, null, 0, true);
        out = { status: 404, cls: null, ep: null, route: null, error: err.message, ttftMs: null, promptTokens: 0, completionTokens: 0 };
        break run;
      }
      // One clock read for planning and the first endpoint's limits and breaker (the same instant, as
      // far as they can tell); each attempt's bookkeeping reads it again for what comes after.
      let now = deps.clock.now();
      // plan and acquire answer at once unless they need the shared state: no microtask hop then.
      const pp = plan(route, ctx.model, deps.tracker, deps.rr, now);
      let p: Plan;
      if (pp instanceof Promise) {
        p = await pp;
        now = deps.clock.now();
      } else p = pp;
      const x: Exhaustion = { plan: p, last: null, lastEp: null, limitBlocked: 0, limitRetryAt: Infinity, retryAt: Infinity, now, deadlineHit: false };
      const upstream = { ms: 0 };
      for (const ep of p.endpoints) {
        if (ctx.signal.aborted || ctx.attempts.length >= snap.config.server.maxAttempts) break;
        const pa = deps.limiter.acquire(ep, now);
        const permit = pa instanceof Promise ? await pa : pa;
        // A shared state answered by promise: time has passed.
        if (pa instanceof Promise) now = deps.clock.now();
        if (!permit.ok) {
          x.limitBlocked++;
          x.limitRetryAt = Math.min(x.limitRetryAt, permit.retryAt);
          continue;
        }
        if (!ep.health.breaker.tryAcquire(now)) {
          permit.settle(0);
          continue;
        }
        let r: AttemptResult | null = null;
        for (let retry = 0; retry <= ep.provider.retries; retry++) {
          if (ctx.signal.aborted || ctx.attempts.length >= snap.config.server.maxAttempts) break;
          // The attempt's bookkeeping is in `attempted`, not in an async wrapper: one await less a try.
          const t = performance.now();
          ep.health.inflight++;
          try {
            r = await runAttempt(ctx, ep, deps, deadline, t);
          } finally {
            ep.health.inflight--;
          }
          // An answer says when it ended (the clock is read once for the attempt's and the request's end).
          now = attempted(ctx, deps, ep, r, (r.type === 'done' ? r.endedAt : performance.now()) - t, upstream);
          if (r.type === 'done') break;
          // Retries are for a network blip, not for an endpoint whose breaker this very failure opened.
          if (!isNetworkClass(r.cls) || ep.health.breaker.state(now) === 'open') break;
        }
        if (r === null) {
          ep.health.breaker.release();
          permit.settle(0);
          break;
        }
        if (r.type === 'done') {
          permit.settle((r.usage?.promptTokens ?? 0) + (r.usage?.completionTokens ?? 0), now);
          out = { status: r.status, cls: r.cls, ep, route: route.name, error: r.message, ttftMs: r.ttftMs, promptTokens: r.usage?.promptTokens ?? 0, completionTokens: r.usage?.completionTokens ?? 0, response: r.response, endedAt: r.endedAt };
          break run;
        }
        permit.settle(0);
        x.last = r;
        x.lastEp = ep;
        x.retryAt = Math.min(x.retryAt, ep.health.breaker.availableAt(now));
        if (!failsOver(r.cls)) {
          out = stopOn(ctx, ep, r, route.name, upstream.ms);
          break run;
        }
      }
      if (ctx.signal.aborted && ctx.signal.reason === abortReasons.clientGone) {
        out = { status: 499, cls: 'canceled', ep: x.lastEp, route: route.name, error: 'the client went away', ttftMs: null, promptTokens: 0, completionTokens: 0 };
        break run;
      }
      x.deadlineHit = ctx.signal.aborted && ctx.signal.reason === abortReasons.deadline;
      x.now = deps.clock.now();
      const err = writeExhausted(ctx, x, upstream.ms);
      out = { status: err.status, cls: x.last?.cls ?? null, ep: x.lastEp, route: route.name, error: err.message, ttftMs: null, promptTokens: 0, completionTokens: 0 };
    }
  } catch (e) {
    const err = e instanceof LlmuxError ? e : new LlmuxError('LLMUX_ERR_INTERNAL', 'llmux failed while handling this request; see the gateway log.', { cause: e });
    writeError(ctx, err, null, 0, true);
    out = { status: err.status, cls: null, ep: null, route: null, error: err.message, ttftMs: null, promptTokens: 0, completionTokens: 0 };
  } finally {
    deadline.cancel();
  }
  publishEnd(ctx, out, deps.instance);
  return { status: out.status, tokens: out.promptTokens + out.completionTokens };
}

/** A `caller` error (or the client leaving) ends the request without failover. */
function stopOn(ctx: RequestContext, ep: Endpoint, f: AttemptFailure, route: string, upstreamMs: number): Outcome {
  if (f.cls === 'caller' && f.passthrough) writePassthrough(ctx, ep, f, upstreamMs);
  else if (f.cls === 'caller') writeError(ctx, new LlmuxError('LLMUX_ERR_INVALID_REQUEST', f.message), ep, upstreamMs, true);
  const status = f.cls === 'caller' ? (f.status ?? 400) : statusForClass(f.cls);
  return { status, cls: f.cls, ep, route, error: f.message, ttftMs: null, promptTokens: 0, completionTokens: 0 };
}

/** Record one attempt: the health tracker, the upstream time, and `llmux:attempt:end`. Answers the clock's time after it. */
function attempted(ctx: RequestContext, deps: RoutingDeps, ep: Endpoint, r: AttemptResult, latency: number, upstream: { ms: number }): number {
  upstream.ms += latency;
  const now = deps.clock.now();
  if (r.type === 'done') {
    if (r.cls === null || r.cls === 'canceled') deps.tracker.success(ep.health, r.ttftMs ?? latency, now);
    else deps.tracker.failure(ep.health, r.cls, 200, r.message ?? '', undefined, now);
  } else {
    const dayResetAt = r.cls === 'quota' ? nextDayStart(now, ctx.snapshot.config.server.timezone) : undefined;
    deps.tracker.failure(ep.health, r.cls, r.status, r.message, { retryAfterMs: r.retryAfterMs, dayResetAt }, now);
  }
  const ev: AttemptEndEvent = {
    instance: deps.instance, requestId: ctx.id, endpointId: ep.id, provider: ep.provider.id, model: ep.model, n: ctx.attempts.length + 1,
    status: r.status, cls: r.cls, latencyMs: latency, message: r.message,
  };
  ctx.attempts.push(ev);
  publishSoon(channels.attemptEnd, ev);
  return now;
}

function publishEnd(ctx: RequestContext, o: Outcome, instance: string): void {
  if (!channels.requestEnd.hasSubscribers) return;
  const ev: RequestEndEvent = {
    instance, requestId: ctx.id, at: ctx.at, principal: ctx.principal?.name ?? null, kind: ctx.kind, route: o.route, model: ctx.model,
    upstreamModel: o.ep?.model ?? null, provider: o.ep?.provider.id ?? null, endpointId: o.ep?.id ?? null,
    status: o.status, cls: o.cls, attempts: ctx.attempts.length, latencyMs: (o.endedAt ?? performance.now()) - ctx.t0, ttftMs: o.ttftMs,
    promptTokens: o.promptTokens, completionTokens: o.completionTokens, stream: ctx.stream, repaired: ctx.repaired, error: o.error,
  };
  if (ctx.capture) ev.capture = { request: ctx.body, response: o.response ?? null, attempts: ctx.attempts };
  publishSoon(channels.requestEnd, ev);
  // A failed request may have been answered from a timer (deadline, attempt or idle timeout), whose
  // answer an in-process client can read before the batch goes out: publish it (and what is queued
  // before it) now. Failures are few; successes are answered while handling I/O.
  if (o.status >= 400 || o.cls !== null) flushEvents();
}
