/**
 * One attempt against one endpoint: build the upstream request, send it under one AbortSignal, and
 * for non-stream answers read the whole body and check it before anything reaches the client.
 * Streams continue in relay.ts.
 */
import type { FailureClass } from '../core/failure.ts';
import type { CompiledProvider } from '../config/compile.ts';
import { classifyInBand, classifyStatus, readUpstreamError, scrubSecrets } from '../dialects/openai/errors.ts';
import { quirkHeaders, quirkParams, renameReasoning } from '../dialects/openai/quirks.ts';
import { quickCheckBody, skipWs, topLevelStringValue } from '../dialects/openai/quick-check.ts';
import { readUsage, type UsageCounts } from '../dialects/openai/sse.ts';
import { defaultMaxBodyBytes, networkErrorKind, type UpstreamAnswer } from '../upstream/client.ts';
import { retryAfterMs, statedWait } from '../upstream/retry-after.ts';
import { abortKind, exactBody, kindPath, type Abortable, type RequestContext } from './context.ts';
import type { Endpoint } from './planner.ts';

/** The attempt failed and nothing reached the client: the executor may try another endpoint. */
export interface AttemptFailure {
  readonly type: 'fail';
  readonly cls: FailureClass;
  readonly status: number | null;
  /** Safe to show: never holds a key or an upstream URL. */
  readonly message: string;
  readonly retryAfterMs?: number;
  /** For `caller` errors: the upstream's answer, passed to the client as sent. */
  readonly passthrough?: { status: number; contentType: string; body: Buffer };
}

/** The answer reached the client (fully, or a stream that was committed and then ended). */
export interface AttemptDone {
  readonly type: 'done';
  readonly status: number;
  /** Set when a committed stream ended badly (cut, idle, error event). */
  readonly cls: FailureClass | null;
  readonly message: string | null;
  readonly usage: UsageCounts | null;
  readonly ttftMs: number | null;
  /** performance.now() when the answer ended: the attempt's end, and the request's (one clock read for both). */
  readonly endedAt: number;
  readonly response?: unknown;
}

export type AttemptResult = AttemptFailure | AttemptDone;

/** Largest answer read whole, or collected from a stream: the upstream call's own cap. */
export const maxResponseBytes = defaultMaxBodyBytes;

export function fail(cls: FailureClass, status: number | null, message: string, extra: Partial<AttemptFailure> = {}): AttemptFailure {
  return { type: 'fail', cls, status, message, ...extra };
}

/** What an upstream must never get to echo back to anyone: the provider's keys and credential headers. */
export function secretsOf(p: CompiledProvider): string[] {
  const out = [...p.keys];
  for (const [name, v] of Object.entries(p.headers)) if (/key|token|auth|secret|cookie/i.test(name)) out.push(v.replace(/^bearer\s+/i, ''));
  return out;
}

/** An upstream's error message, cut to size and scrubbed of credentials, for messages and logs. */
export function upstreamMessage(message: string, p: CompiledProvider): string {
  return scrubSecrets(message.slice(0, 400), secretsOf(p)).slice(0, 200);
}

/** Will the upstream be asked to stream? (The provider may force it either way.) */
export function upstreamStreams(ctx: RequestContext, ep: Endpoint): boolean {
  if (ctx.kind === 'embeddings') return false;
  return ep.provider.stream ?? ctx.stream;
}

/** The body to send: the caller's bytes when nothing changes, else the modified object re-serialised. */
export function buildBody(ctx: RequestContext, ep: Endpoint): string | Buffer {
  const p = ep.provider;
  const streams = upstreamStreams(ctx, ep);
  const forceStream = streams !== ctx.stream;
  // Ask for usage on streams so token limits and stats see it; stripped again if the caller did not ask.
  const addUsage = streams && !ctx.includeUsage;
  const forced = forcedMembers(p);
  // At most the model (a route's upstream name), the provider's forced parameters and the usage
  // request to change: the caller's own bytes go on with those spliced in (no re-serialising; no key
  // appears twice). Re-serialised instead: a forced parameter the caller sent too, a usage request to
  // merge into the caller's own stream_options, and, for another model, stream_options on a request
  // that does not stream (the re-serialising drops them, as it did before the splice: an upstream may
  // refuse them without `stream`).
  const spliceForced = forced === null || (forced.spliceable && !forced.keys.some((k) => Object.hasOwn(ctx.body, k)));
  if (!ctx.bodyChanged && spliceForced && !forceStream && (!addUsage || ctx.body.stream_options === undefined)) {
    const out = ctx.body.model === ep.model ? ctx.raw : !streams && ctx.body.stream_options !== undefined ? null : withModel(ctx.raw, ep.model);
    if (out !== null) {
      // The forced parameters and the usage request, in front of the rest.
      const lead = forced === null ? (addUsage ? USAGE_OPTION : null) : addUsage ? forced.leadWithUsage : forced.lead;
      if (lead === null) return out;
      const spliced = withLeadingMember(out, lead);
      if (spliced !== null) return spliced;
    }
  }
  const b: Record<string, unknown> = { ...exactBody(ctx), model: ep.model, ...forced?.values };
  if (forceStream) b.stream = streams;
  if (addUsage) b.stream_options = { ...(b.stream_options as object | undefined), include_usage: true };
  if (!streams) delete b.stream_options;
  return JSON.stringify(b);
}

const USAGE_OPTION = Buffer.from('"stream_options":{"include_usage":true},');

/** A provider's forced parameters (its quirks', then its `params`), and as members to put in front of a body. */
interface Forced {
  readonly values: Readonly<Record<string, unknown>>;
  readonly keys: readonly string[];
  readonly lead: Buffer;
  /** `lead` and the usage request. */
  readonly leadWithUsage: Buffer;
  /** False when one is a member the re-serialisation treats apart (model, stream, stream_options): always re-serialised. */
  readonly spliceable: boolean;
}

const forcedOf = new WeakMap<CompiledProvider, Forced | null>();

/** The provider's forced members (null when it forces none), made once per compiled provider. */
function forcedMembers(p: CompiledProvider): Forced | null {
  let f = forcedOf.get(p);
  if (f === undefined) {
    const values: Record<string, unknown> = { ...quirkParams(p), ...p.params };
    const keys = Object.keys(values);
    const lead = Buffer.from(keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(values[k])},`).join(''));
    f = keys.length === 0 ? null : {
      values, keys, lead, leadWithUsage: Buffer.concat([lead, USAGE_OPTION]),
      spliceable: !keys.some((k) => k === 'model' || k === 'stream' || k === 'stream_options'),
    };
    forcedOf.set(p, f);
  }
  return f;
}

/** The body with its top-level `model` string replaced by `model`; null when it cannot be found for sure (the caller re-serialises). */
function withModel(raw: Buffer, model: string): Buffer | null {
  const r = topLevelStringValue(raw, 'model');
  return r === null ? null : Buffer.concat([raw.subarray(0, r.start), Buffer.from(JSON.stringify(model)), raw.subarray(r.end)]);
}

/** `{` + member + the rest of a JSON object that has at least one member of its own; else null. */
function withLeadingMember(raw: Buffer, member: Buffer): Buffer | null {
  const i = skipWs(raw, 0);
  if (raw[i] !== 0x7b) return null;
  const j = skipWs(raw, i + 1);
  if (j >= raw.length || raw[j] === 0x7d) return null;
  return Buffer.concat([raw.subarray(0, i + 1), member, raw.subarray(i + 1)]);
}

/**
 * Header layers merged by lower-cased name, later layers winning. Header names are case-insensitive,
 * but a plain object spread is not: `X-Title` from the config next to the quirk's `x-title` would go
 * out as two headers (the upstream sees "llmux, My App").
 */
export function mergeHeaders(...layers: ReadonlyArray<Readonly<Record<string, string>>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const layer of layers) for (const [k, v] of Object.entries(layer)) out[k.toLowerCase()] = v;
  return out;
}

/** An endpoint's upstream headers as undici's flat `[name, value, …]` list, for JSON and for event-stream answers. */
const endpointHeaders = new WeakMap<Endpoint, { json: readonly string[]; sse: readonly string[] }>();

/**
 * Attribution < llmux's User-Agent < the provider's `headers` < what the request needs (and its key).
 * Made once per endpoint (endpoints are kept with their compiled route; a reload compiles new ones)
 * and shared by its requests: undici reads a list without copying an object and walking its keys on
 * every request (≈ 150 ns).
 */
export function buildHeaders(ep: Endpoint, streams: boolean): readonly string[] {
  let h = endpointHeaders.get(ep);
  if (h === undefined) {
    const p = ep.provider;
    const key: Record<string, string> = ep.key === null ? {} : { authorization: `Bearer ${ep.key}` };
    const flat = (accept: string): readonly string[] => Object.freeze(Object.entries(mergeHeaders(quirkHeaders(p), { 'user-agent': 'llmux/0.1' }, p.headers, {
      'content-type': 'application/json',
      accept,
      'accept-encoding': 'identity',
    }, key)).flat());
    h = { json: flat('application/json'), sse: flat('text/event-stream') };
    endpointHeaders.set(ep, h);
  }
  return streams ? h.sse : h.json;
}

/** Class of a thrown error (connect, timeout, reset, abort). Messages never echo URLs. */
export function classifyThrown(e: unknown, ctx: RequestContext, attemptSignal: Abortable): AttemptFailure {
  const why = abortKind(attemptSignal) ?? abortKind(ctx.signal);
  if (why === 'client_gone') return fail('canceled', null, 'the client went away');
  if (why === 'deadline') return fail('timeout', null, 'the request deadline passed');
  if (why === 'attempt_timeout') return fail('timeout', null, 'the upstream did not finish within timeout.totalMs');
  if (why === 'shutdown') return fail('transient', null, 'the gateway is shutting down');
  const kind = networkErrorKind(e);
  const code = (e as { code?: string }).code;
  if (kind === 'connect') return fail('connect', null, `could not connect to the upstream (${code ?? 'connect error'})`);
  if (kind === 'timeout') {
    const phase = code === 'UND_ERR_HEADERS_TIMEOUT' ? 'send response headers within timeout.firstByteMs' : 'send data within timeout.idleMs';
    return fail('timeout', null, `the upstream did not ${phase}`);
  }
  if (code === 'LLMUX_TOO_LARGE') return fail('transient', null, 'the upstream response was too large');
  if (kind === 'reset') return fail('transient', null, `the upstream connection was reset (${code})`);
  return fail('transient', null, `upstream request failed (${code ?? (e as Error)?.name ?? 'error'})`);
}

/**
 * Turn an upstream error status into a failure, keeping the body for `caller` errors. The body was
 * collected by the upstream call (empty when it was too large to say anything useful).
 */
export function failureFromStatus(answer: UpstreamAnswer, ep: Endpoint, now: number): AttemptFailure {
  const status = answer.statusCode;
  const headers = answer.headers;
  const buf = answer.body ?? Buffer.alloc(0);
  const text = buf.toString('utf8');
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* an HTML page from a load balancer: keep the text for the class, never echo it */
  }
  const info = readUpstreamError(parsed, parsed === null ? '' : text);
  const cls = classifyStatus(status, info, ep.provider.failoverOn);
  const ct = answer.contentType;
  // A caller error goes back as sent, except for a key the upstream echoed into it.
  const clean = cls === 'caller' && parsed !== null ? scrubSecrets(text, secretsOf(ep.provider)) : text;
  // How long to stay away: a stated wait (header, then body); x-ratelimit-reset-* describe rate
  // windows, so they count for rate limits but say nothing about a quota.
  const stated = statedWait(headers, now) ?? info.retryInMs ?? undefined;
  return fail(cls, status, `upstream answered ${status}: ${upstreamMessage(info.message, ep.provider)}`, {
    retryAfterMs: stated ?? (cls === 'quota' ? undefined : retryAfterMs(headers, now)),
    passthrough: cls === 'caller' && parsed !== null ? { status, contentType: ct || 'application/json', body: clean === text ? buf : Buffer.from(clean) } : undefined,
  });
}

export interface CheckedBody {
  type: 'ok';
  usage: UsageCounts | null;
  /** The parsed body; null when the quick check passed it without a parse (it then goes out as it came). */
  parsed: Record<string, unknown> | null;
  /** Set when the body had to change (reasoning rename); else the upstream bytes go out as they came. */
  rewritten: string | null;
}

/** Check a 2xx non-stream body: JSON, no error inside, choices (or data for embeddings) present. */
export function checkBody(ctx: RequestContext, ep: Endpoint, buf: Buffer): CheckedBody | AttemptFailure {
  // A non-stream caller, no rename, no capture: the bytes go out unchanged, a scan is enough.
  if (!ctx.stream && !ctx.capture && !ep.provider.reasoningField) {
    const q = quickCheckBody(buf, ctx.kind === 'embeddings' ? '"data"' : '"choices"');
    if (q) return { type: 'ok', usage: q.usage, parsed: null, rewritten: null };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(buf.toString('utf8'));
  } catch {
    return fail('transient', 200, 'the upstream answered 200 with a body that is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null) return fail('transient', 200, 'the upstream answered 200 with an unexpected body');
  const o = parsed as Record<string, unknown>;
  if (o.error !== undefined && o.error !== null) {
    const info = readUpstreamError(o);
    return fail(classifyInBand(info), 200, `the upstream answered 200 with an error: ${upstreamMessage(info.message, ep.provider)}`, { retryAfterMs: info.retryInMs ?? undefined });
  }
  const list = ctx.kind === 'embeddings' ? o.data : o.choices;
  if (!Array.isArray(list) || list.length === 0) {
    return fail('transient', 200, `the upstream answered 200 without ${ctx.kind === 'embeddings' ? 'data' : 'choices'}`);
  }
  const field = ep.provider.reasoningField;
  const rewritten = field && renameReasoning(o, field) ? JSON.stringify(o) : null;
  return { type: 'ok', usage: readUsage(o.usage), parsed: o, rewritten };
}

export { kindPath, retryAfterMs };
