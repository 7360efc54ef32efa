import type { Exchange } from './exchange.ts';
import { chatCompletion, errorBody, modelList, modelObject, planReply, textCompletion } from './bodies.ts';
import type { ReplyMeta } from './bodies.ts';
import { embeddingsResponse } from './embeddings.ts';
import { planEvents, writeStream } from './sse.ts';
import type { MockError, Script } from './types.ts';

/** What a request asks for, once the path is matched. */
export type Endpoint =
  | { kind: 'chat' | 'completions' | 'embeddings' }
  | { kind: 'models' }
  | { kind: 'model'; id: string };

/** Server facts a reply needs; built per exchange by the server. */
export interface ReplyContext {
  requestId: string;
  models: string[];
  name?: string;
  /** Server-wide latency, added to the script's delay. */
  latencyMs: number;
  tokensPerS: number;
  /** Headers every response carries (request id, name, rate-limit counters). */
  baseHeaders: Record<string, string>;
}

/** Sends a JSON body with the given status. Strings are sent as is (malformed-body tests). */
export function sendJson(ex: Exchange, status: number, body: string | object, headers: Record<string, string>): void {
  if (ex.closed) return;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  ex.res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  ex.res.end(text);
}

/** Sends raw pieces, each its own write, `gapMs` apart (headers first, at once). */
async function sendChunks(ex: Exchange, status: number, chunks: Array<string | Buffer>, headers: Record<string, string>, gapMs: number): Promise<void> {
  ex.res.writeHead(status, { 'content-type': 'text/event-stream', ...headers });
  ex.res.flushHeaders();
  for (const [i, c] of chunks.entries()) {
    if (i > 0) await ex.sleep(gapMs);
    if (ex.closed) return;
    await ex.write(c);
  }
  if (!ex.closed) ex.res.end();
}

/** Sends an OpenAI-shaped error. */
export function sendError(ex: Exchange, status: number, err: MockError | undefined, headers: Record<string, string>): void {
  sendJson(ex, status, errorBody(status, err), headers);
}

/**
 * Plays one script for one matched request: waits, then applies the first fault or override that
 * applies (see `Script` for the precedence), else generates the endpoint's normal reply.
 */
export async function respond(ex: Exchange, endpoint: Endpoint, script: Script, ctx: ReplyContext): Promise<void> {
  await ex.sleep(ctx.latencyMs + (script.delayMs ?? 0));
  if (ex.closed || script.hang) return;
  if (script.reset) return ex.cut('reset');
  if (script.close) return ex.cut('close');
  const headers = { ...ctx.baseHeaders, ...script.headers };
  const status = script.status ?? (script.error ? 500 : 200);
  if (script.body !== undefined) return sendJson(ex, status, script.body, headers);
  if (script.chunks !== undefined) return sendChunks(ex, status, script.chunks, headers, script.eventDelayMs ?? 3);
  if (script.error || status >= 400) return sendError(ex, status, script.error, headers);
  const owner = ctx.name ?? 'llmux-mock';
  switch (endpoint.kind) {
    case 'models':
      return sendJson(ex, status, modelList(ctx.models, owner), headers);
    case 'model':
      return sendJson(ex, status, modelObject(endpoint.id, owner), headers);
    case 'embeddings':
      return sendJson(ex, status, embeddingsResponse(ex.record.body, requestedModel(ex, ctx)), headers);
    default:
      return replyCompletion(ex, endpoint.kind, script, ctx, { status, headers });
  }
}

async function replyCompletion(
  ex: Exchange,
  kind: 'chat' | 'completions',
  script: Script,
  ctx: ReplyContext,
  out: { status: number; headers: Record<string, string> },
): Promise<void> {
  const body = ex.record.body;
  const meta: ReplyMeta = {
    id: `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${ctx.requestId}`,
    created: Math.floor(Date.now() / 1000),
    model: requestedModel(ex, ctx),
    fingerprint: ctx.name ? `fp_${ctx.name}` : 'fp_llmux_mock',
  };
  const streaming = script.sse === true || script.events !== undefined || body?.stream === true;
  if (!streaming) {
    const plan = planReply(script, body);
    const json = kind === 'chat'
      ? chatCompletion(meta, plan, script.emptyChoices === true)
      : textCompletion(meta, plan, script.emptyChoices === true);
    return sendJson(ex, out.status, json, out.headers);
  }
  const events = planEvents(kind, script, body, meta);
  const intervalMs = script.eventDelayMs ?? (ctx.tokensPerS > 0 ? 1000 / ctx.tokensPerS : 0);
  const headers = {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
    ...out.headers,
  };
  await writeStream(ex, events, script, { status: out.status, headers, intervalMs });
}

/** The model named by the request, else the first configured one. */
function requestedModel(ex: Exchange, ctx: ReplyContext): string {
  const m = ex.record.body?.model;
  return typeof m === 'string' && m.length > 0 ? m : (ctx.models[0] ?? 'mock');
}
