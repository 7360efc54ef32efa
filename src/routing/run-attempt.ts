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
import { relay } from './relay.ts';

/**
 * `deadline`: the request's, cancelled when this attempt's answer commits. `tSend`: performance.now()
 * as the attempt starts. The answer is taken by callback (`UpstreamCall.onAnswer`) and the stream relayed
 * with one (`relay`): one promise an attempt, where awaiting the answer and then the relay's promise
 * took three promises and two more microtasks (bench/HISTORY.md, nineteenth round).
 */
export function runAttempt(ctx: RequestContext, ep: Endpoint, deps: RoutingDeps, deadline: Cancellable, tSend: number): AttemptResult | Promise<AttemptResult> {
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
  return new Promise<AttemptResult>((resolve) => {
    let answer: UpstreamAnswer | null = null;
    let ended = false;
    const end = (r: AttemptResult): void => {
      if (ended) return;
      ended = true;
      timer.cancel();
      if (ctx.controller.attempt === call) ctx.controller.attempt = null;
      resolve(r);
    };
    const failed = (e: unknown): void => {
      if (ended) return;
      answer?.stream?.destroy();
      end(classifyThrown(e, ctx, call));
    };
    const committed = (): void => {
      // After commit a stream is bounded by the idle timeout only (long answers are legitimate).
      timer.cancel();
      deadline.cancel();
    };
    // Called from inside undici's callback that brings the answer (or from an abort): the answer is
    // read and written here; a failure only resolves, and the executor's next attempt starts after.
    call.onAnswer((a) => {
      answer = a;
      try {
        read(ctx, ep, deps, a, call, tSend, committed, end, failed);
      } catch (e) {
        failed(e);
      }
    }, failed);
  });
}

function read(ctx: RequestContext, ep: Endpoint, deps: RoutingDeps, answer: UpstreamAnswer, call: UpstreamCall, tSend: number, onCommit: () => void, end: (r: AttemptResult) => void, failed: (e: unknown) => void): void {
  const status = answer.statusCode;
  if (status >= 400) return end(failureFromStatus(answer, ep, deps.clock.now()));
  const stream = answer.stream;
  if (status < 200 || status >= 300) {
    stream?.destroy();
    return end(fail('transient', status, `the upstream answered an unexpected ${status}`));
  }
  if (stream !== null) {
    if (ctx.stream) return relay(ctx, ep, stream, tSend, call, onCommit, end);
    collectStream(ctx, ep, stream, call).then((c) => {
      if (c.type === 'fail') return end(c);
      onCommit();
      const t = performance.now();
      writeChecked(ctx, ep, c, Buffer.alloc(0), t - tSend, t);
      end(done(c.usage, ctx, undefined, t));
    }).catch(failed);
    return;
  }
  const buf = answer.body ?? Buffer.alloc(0);
  const checked = checkBody(ctx, ep, buf);
  if (checked.type === 'fail') return end(checked);
  onCommit();
  // One clock read for the answer's Server-Timing and the attempt's times.
  const t = performance.now();
  writeChecked(ctx, ep, checked, buf, t - tSend, t);
  end(done(checked.usage, ctx, checked.parsed, t));
}

/** `t`: performance.now() when the answer was written. */
function done(usage: UsageCounts | null, ctx: RequestContext, response: unknown, t: number): AttemptResult {
  return { type: 'done', status: 200, cls: null, message: null, usage, ttftMs: t - ctx.t0, endedAt: t, response: ctx.capture ? response : undefined };
}
