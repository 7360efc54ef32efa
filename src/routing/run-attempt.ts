/**
 * One attempt, end to end: send as one upstream call, aborted by the request's controller (client
 * gone, deadline) or by the attempt's own `timeout.totalMs`, then hand the answer to the right reader:
 * error status, SSE relay (stream caller), SSE collection (forced upstream stream), or whole-body check.
 */
import { abortAfter, type Cancellable } from '../core/timeouts.ts';
import type { UsageCounts } from '../dialects/openai/sse.ts';
import type { UpstreamAnswer, UpstreamCall } from '../upstream/client.ts';
import { buildBody, buildHeaders, checkBody, classifyThrown, fail, failureFromStatus, upstreamStreams, type AttemptResult } from './attempt.ts';
import { collectStream } from './collect.ts';
import { abortReasons, kindPath, type RequestContext, type RoutingDeps } from './context.ts';
import { writeChecked } from './outcome.ts';
import type { Endpoint } from './planner.ts';
import { relayStream } from './relay.ts';

/** `deadline`: the request's, cancelled when this attempt's answer commits. `tSend`: performance.now() as the attempt starts. */
export async function runAttempt(ctx: RequestContext, ep: Endpoint, deps: RoutingDeps, deadline: Cancellable, tSend: number): Promise<AttemptResult> {
  if (ctx.signal.aborted) return fail('canceled', null, 'the client went away');
  const streams = upstreamStreams(ctx, ep);
  let call: UpstreamCall;
  try {
    call = deps.clients.call({
      provider: ep.provider, method: 'POST', path: kindPath[ctx.kind], headers: buildHeaders(ep, streams), body: buildBody(ctx, ep),
    });
  } catch (e) {
    return classifyThrown(e, ctx, ctx.signal);
  }
  // The request's controller aborts this call too (client gone, deadline, shutdown).
  ctx.controller.attempt = call;
  const timer = abortAfter(tSend, ep.provider.timeout.totalMs, call, abortReasons.attemptTimeout);
  const committed = (): void => {
    // After commit a stream is bounded by the idle timeout only (long answers are legitimate).
    timer.cancel();
    deadline.cancel();
  };
  let answer: UpstreamAnswer | undefined;
  try {
    answer = await call.answer;
    // A whole body is checked and written at once: only streams are awaited.
    const r = read(ctx, ep, deps, answer, call, tSend, committed);
    return r instanceof Promise ? await r : r;
  } catch (e) {
    answer?.stream?.destroy();
    return classifyThrown(e, ctx, call);
  } finally {
    timer.cancel();
    if (ctx.controller.attempt === call) ctx.controller.attempt = null;
  }
}

function read(ctx: RequestContext, ep: Endpoint, deps: RoutingDeps, answer: UpstreamAnswer, call: UpstreamCall, tSend: number, onCommit: () => void): AttemptResult | Promise<AttemptResult> {
  const status = answer.statusCode;
  if (status >= 400) return failureFromStatus(answer, ep, deps.clock.now());
  const stream = answer.stream;
  if (status < 200 || status >= 300) {
    stream?.destroy();
    return fail('transient', status, `the upstream answered an unexpected ${status}`);
  }
  if (stream !== null) {
    if (ctx.stream) return relayStream(ctx, ep, stream, tSend, call, onCommit);
    return collectStream(ctx, ep, stream, call).then((c) => {
      if (c.type === 'fail') return c;
      onCommit();
      const t = performance.now();
      writeChecked(ctx, ep, c, Buffer.alloc(0), t - tSend, t);
      return done(c.usage, ctx, undefined, t);
    });
  }
  const buf = answer.body ?? Buffer.alloc(0);
  const checked = checkBody(ctx, ep, buf);
  if (checked.type === 'fail') return checked;
  onCommit();
  // One clock read for the answer's Server-Timing and the attempt's times.
  const t = performance.now();
  writeChecked(ctx, ep, checked, buf, t - tSend, t);
  return done(checked.usage, ctx, checked.parsed, t);
}

/** `t`: performance.now() when the answer was written. */
function done(usage: UsageCounts | null, ctx: RequestContext, response: unknown, t: number): AttemptResult {
  return { type: 'done', status: 200, cls: null, message: null, usage, ttftMs: t - ctx.t0, endedAt: t, response: ctx.capture ? response : undefined };
}
