/**
 * One log line per request at info (SPEC §8, issue 4): request id, route, endpoint, status, attempts,
 * latency. Subscribes to `llmux:request:end`; never sees a key (events carry none).
 *
 * The info line is the one line every request writes, so it is built here as the JSON pino would
 * write (`{"level":30,"time":…,…,"msg":"request"}`) and handed to the logger's own destination: the
 * same batching, files and pretty printing, without pino's per-call key walk and redaction pass
 * (≈ 5 µs a request; BENCHMARKS.md). Its fields are llmux's own names and numbers; strings that come
 * from a client (the model) are JSON-escaped. Failures (5xx) go through pino as usual.
 */
import pino from 'pino';
import { channels, type AttemptEndEvent, type RequestEndEvent } from '../core/events.ts';
import { boundedMemo } from '../core/memo.ts';
import { writesPlainJson, type Logger } from './logger.ts';

interface LineSink {
  write(line: string): unknown;
}

/** Characters JSON.stringify would escape (or rewrite, for lone surrogates). */
const needsEscape = /["\\\u0000-\u001f\ud800-\udfff]/;

/** `JSON.stringify(s)`, without its call for the plain names and ids of nearly every line. */
function str(s: string): string {
  return needsEscape.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/**
 * `str` for the names a gateway repeats on every line (route, model, provider, endpoint, class,
 * principal): looked up instead of tested with the regular expression each time. Bounded: a client
 * that sends a new model name on every request only empties it now and then.
 */
const name = boundedMemo(str, 512);

/** The second of the last `msTime` call, and its digits. */
let lastSecond = NaN;
let lastSecondText = '';

/**
 * A whole number of milliseconds since the epoch as text, as `String(ms)` writes it. Such a number is
 * beyond V8's small integers, so `String(ms)` runs the general double-to-text conversion (about 1.5k
 * instructions a line); the seconds' digits are kept, and only the milliseconds are written anew.
 */
export function msTime(ms: number): string {
  if (!(ms >= 1000 && ms < 1e15 && Number.isInteger(ms))) return String(ms);
  const sec = Math.floor(ms / 1000);
  const rest = ms - sec * 1000;
  if (sec !== lastSecond) {
    lastSecond = sec;
    lastSecondText = String(sec);
  }
  return lastSecondText + (rest < 10 ? '00' : rest < 100 ? '0' : '') + rest;
}

/** The info line for a request, byte for byte what `log.info(fields, 'request')` writes with `base: undefined`. */
export function requestLine(e: RequestEndEvent, time: number): string {
  const orNull = (v: string | null): string => (v === null ? 'null' : name(v));
  let s = `{"level":30,"time":${msTime(time)},"id":${str(e.requestId)},"route":${orNull(e.route)},"model":${name(e.model)}`;
  s += `,"provider":${orNull(e.provider)},"endpoint":${orNull(e.endpointId)}`;
  s += `,"status":${e.status},"attempts":${e.attempts},"ms":${Math.round(e.latencyMs)}`;
  if (e.ttftMs !== null) s += `,"ttft":${Math.round(e.ttftMs)}`;
  if (e.stream) s += ',"stream":true';
  if (e.cls !== null) s += `,"class":${name(e.cls)}`;
  const tokens = e.promptTokens + e.completionTokens;
  if (tokens) s += `,"tokens":${tokens}`;
  if (e.repaired) s += ',"repaired":true';
  if (e.principal !== null) s += `,"principal":${name(e.principal)}`;
  return `${s},"msg":"request"}\n`;
}

function fields(e: RequestEndEvent): object {
  return {
    id: e.requestId, route: e.route, model: e.model, provider: e.provider, endpoint: e.endpointId, status: e.status,
    attempts: e.attempts, ms: Math.round(e.latencyMs), ttft: e.ttftMs === null ? undefined : Math.round(e.ttftMs),
    stream: e.stream || undefined, class: e.cls ?? undefined, tokens: e.promptTokens + e.completionTokens || undefined,
    repaired: e.repaired || undefined, principal: e.principal ?? undefined,
  };
}

export function subscribeRequestLog(log: Logger, instance: string): () => void {
  // Only a logger made by createLogger (pino's default fields, no base fields, JSON lines) gets the
  // line directly; any other (tests, an embedding application's own) goes through pino.
  const sink = (log as unknown as Record<symbol, LineSink | undefined>)[pino.symbols.streamSym];
  const direct = writesPlainJson(log) && sink !== undefined && typeof sink.write === 'function';
  const onEnd = (m: unknown): void => {
    const e = m as RequestEndEvent;
    if (e.instance !== instance) return;
    if (e.status >= 500) log.warn(fields(e), e.error ?? 'request failed');
    else if (!log.isLevelEnabled('info')) return;
    // The line's time is the request's end (its start plus its latency): no clock read a line.
    else if (direct) sink.write(requestLine(e, Math.round(e.at + e.latencyMs)));
    else log.info(fields(e), 'request');
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
