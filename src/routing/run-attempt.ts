/**
 * One attempt, end to end: send under an AbortSignal linked to the request (client gone, deadline)
 * plus the attempt's own `timeout.totalMs`, then hand the response to the right reader: error status,
 * SSE relay (stream caller), SSE collection (forced upstream stream), or whole-body check.
 */
import type { Readable } from 'node:stream';
import type { UsageCounts } from '../dialects/openai/sse.ts';
import { buildBody, buildHeaders, checkBody, classifyThrown, fail, failureFromStatus, readAll, maxResponseBytes, upstreamStreams, type AttemptResult } from './attempt.ts';
import { collectStream } from './collect.ts';
import { abortReasons, kindPath, type RequestContext, type RoutingDeps } from './context.ts';
import { writeChecked } from './outcome.ts';
import type { Endpoint } from './planner.ts';
import { relayStream } from './relay.ts';

export async function runAttempt(ctx: RequestContext, ep: Endpoint, deps: RoutingDeps, onCommit: () => void): Promise<AttemptResult> {
  if (ctx.signal.aborted) return fail('canceled', null, 'the client went away');
  // The request's controller aborts this one too (client gone, deadline, shutdown).
  const ctl = new AbortController();
  ctx.controller.attempt = ctl;
  const timer = setTimeout(() => ctl.abort(abortReasons.attemptTimeout), ep.provider.timeout.totalMs);
  const committed = (): void => {
    // After commit a stream is bounded by the idle timeout only (long answers are legitimate).
    clearTimeout(timer);
    onCommit();
  };
  try {
    return await sendAndRead(ctx, ep, deps, ctl.signal, committed);
  } finally {
    clearTimeout(timer);
    if (ctx.controller.attempt === ctl) ctx.controller.attempt = null;
  }
}

async function sendAndRead(ctx: RequestContext, ep: Endpoint, deps: RoutingDeps, signal: AbortSignal, onCommit: () => void): Promise<AttemptResult> {
  const streams = upstreamStreams(ctx, ep);
  const tSend = performance.now();
  let res;
  try {
    res = await deps.clients.send({
      provider: ep.provider, method: 'POST', path: kindPath[ctx.kind], headers: buildHeaders(ctx, ep, streams), body: buildBody(ctx, ep), signal,
    });
  } catch (e) {
    return classifyThrown(e, ctx, signal);
  }
  const body = res.body as unknown as Readable;
  try {
    if (res.statusCode >= 400) return await failureFromStatus(res.statusCode, res.headers, body, ep, deps.clock.now());
    if (res.statusCode < 200 || res.statusCode >= 300) {
      body.destroy();
      return fail('transient', res.statusCode, `the upstream answered an unexpected ${res.statusCode}`);
    }
    const isSse = String(res.headers['content-type'] ?? '').includes('text/event-stream');
    if (isSse && ctx.stream) return await relayStream(ctx, ep, body, tSend, signal, onCommit);
    if (isSse) {
      const c = await collectStream(ctx, ep, body, signal);
      if (c.type === 'fail') return c;
      onCommit();
      writeChecked(ctx, ep, c, Buffer.alloc(0), performance.now() - tSend);
      return done(c.usage, tSend, ctx);
    }
    const buf = await readAll(body, maxResponseBytes);
    const checked = checkBody(ctx, ep, buf);
    if (checked.type === 'fail') return checked;
    onCommit();
    writeChecked(ctx, ep, checked, buf, performance.now() - tSend);
    return done(checked.usage, tSend, ctx, checked.parsed);
  } catch (e) {
    body.destroy();
    return classifyThrown(e, ctx, signal);
  }
}

function done(usage: UsageCounts | null, tSend: number, ctx: RequestContext, response?: unknown): AttemptResult {
  return { type: 'done', status: 200, cls: null, message: null, usage, ttftMs: performance.now() - ctx.t0, upstreamMs: performance.now() - tSend, response: ctx.capture ? response : undefined };
}
