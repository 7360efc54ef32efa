/**
 * The client-facing HTTP surface (SPEC §7): /v1/chat/completions, /v1/completions, /v1/embeddings,
 * /v1/models, /health, /health/upstream, /v1/status. Bodies arrive as raw buffers (the limit is
 * enforced while reading, before buffering the whole body), are parsed and checked by the dialect,
 * and then the reply is hijacked so the routing layer writes upstream bytes straight to the socket.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { isAscii } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClientPrincipal, Snapshot } from '../config/compile.ts';
import { LlmuxError } from '../core/errors.ts';
import { requestId } from '../core/request-id.ts';
import { parseJsonBody, parseLatin1Shape, validateChat, validateCompletion, validateEmbeddings } from '../dialects/openai/validate.ts';
import { abortReasons, noBytes, RequestController, type InflightRequests, type RequestContext, type RequestKind, type RoutingDeps } from '../routing/context.ts';
import { execute } from '../routing/executor.ts';
import { listModels } from '../routing/route-table.ts';
import { authenticate, checkModelAllowed, modelAllowed, type ClientKeyHeaders, type StoredKeyLookup } from './auth.ts';
import { clientErrorHandler, errorHandler, reportError, sendError, toLlmuxError, writeRawError } from './errors.ts';
import { endpointViews, refreshUsage, statusView } from './upstream-view.ts';

export interface HttpRuntime {
  snapshot(): Snapshot;
  readonly deps: RoutingDeps;
  storedKey: StoredKeyLookup;
  storedKeyCount(): number;
  /** Debug capture on right now? */
  captureOn(): boolean;
  /** Admission to the gateway as a whole (maxConcurrency + queue): a release function, at once when a slot is free. */
  admit(signal: AbortSignal): (() => void) | Promise<() => void>;
  /** The client key's own limits and budgets (at once for a key without any); a 429 LlmuxError when over. */
  admitPrincipal(p: ClientPrincipal | null, now: number): { settle(tokens: number): void } | Promise<{ settle(tokens: number): void }>;
  /** A principal made a request (throttled `last used` bookkeeping). */
  touched?(p: ClientPrincipal, now: number): void;
  readonly log: { error(o: object, m: string): void; warn(o: object, m: string): void };
  /** Set while shutting down: new requests get 503. */
  draining: boolean;
  /** Controllers of requests in flight (aborted with `shutdown` when the grace period ends). */
  readonly inflight: InflightRequests;
  readonly metrics?: { text(): Promise<string>; readonly contentType: string };
}

export interface BuildOptions {
  bodyLimit: number;
}

export function buildApp(rt: HttpRuntime, opts: BuildOptions): FastifyInstance {
  const app = Fastify({
    requestTimeout: 120_000,
    keepAliveTimeout: 72_000,
    logger: false,
    bodyLimit: opts.bodyLimit,
    genReqId: requestId,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true },
    // No route declares a JSON schema (bodies are checked by the dialect and zod): Fastify's schema
    // compilers (ajv, fast-json-stringify, ≈ 100 modules) are never loaded.
    schemaController: { compilersFactory: { buildValidator: noSchemas, buildSerializer: noSchemas } },
    // Errors Fastify and node raise outside a route (bad URL escapes, unparseable headers) use the
    // same OpenAI error shape as everything else.
    frameworkErrors: (e, _req, reply) => sendError(reply, toLlmuxError(e)),
    clientErrorHandler,
  });
  // The four proxy routes, as sent by every client (POST, exact path, no query), skip Fastify:
  // routing, request/reply objects and the body parser cost ≈ 20 µs a request (BENCHMARKS.md).
  // Everything else, including their variants (trailing slash, query string), goes to Fastify, and
  // both doors answer alike (test/integration/input.test.ts). The handler goes in front of Fastify's
  // on its main server (not through `serverFactory`, which would stop Fastify from also binding
  // the other addresses of a host such as `localhost`; those keep Fastify's handler).
  const fastifyHandler = app.server.listeners('request')[0] as ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  if (fastifyHandler) {
    app.server.removeListener('request', fastifyHandler);
    app.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const kind = req.method === 'POST' ? hotRoutes.get(req.url ?? '') : undefined;
      if (kind === undefined) return fastifyHandler(req, res);
      fastProxy(rt, kind, req, res, opts.bodyLimit);
    });
  }
  app.removeAllContentTypeParsers();
  // Every body is read raw; the dialect parses it (with repair) so errors carry `param` and position.
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: opts.bodyLimit }, (req, body, done) => {
    // Compressed request bodies are refused, not inflated: no gzip bomb, no unbounded output (I2).
    const enc = req.headers['content-encoding'];
    if (enc !== undefined && enc.trim().toLowerCase() !== 'identity') {
      return done(new LlmuxError('LLMUX_ERR_UNSUPPORTED_MEDIA', 'Compressed request bodies (Content-Encoding) are not supported: send the JSON uncompressed.'), undefined);
    }
    done(null, body);
  });
  app.setErrorHandler(errorHandler(rt.log));
  app.setNotFoundHandler((req, reply) => {
    sendError(reply, new LlmuxError('LLMUX_ERR_NOT_FOUND', `Unknown endpoint ${req.method} ${req.url.split('?')[0]}. llmux serves POST /v1/chat/completions, /v1/completions, /v1/embeddings and GET /v1/models.`));
  });

  const proxy = (kind: RequestKind) => (req: FastifyRequest, reply: FastifyReply) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : noBytes;
    // Fastify keeps its request until this answer's promise settles (a stream's whole life): the
    // body is handed over, not kept there too.
    req.body = undefined;
    return handle(rt, kind, req.headers, raw, req.id, reply.raw, () => reply.hijack());
  };
  app.post('/v1/chat/completions', proxy('chat'));
  app.post('/chat/completions', proxy('chat'));
  app.post('/v1/completions', proxy('completions'));
  app.post('/v1/embeddings', proxy('embeddings'));

  app.get('/v1/models', async (req) => {
    const snap = rt.snapshot();
    const principal = authenticate(req.headers, snap, rt.storedKey, rt.storedKeyCount(), Date.now());
    const created = Math.floor(snap.loadedAt / 1000);
    // A key limited to some models sees only those.
    const models = listModels(snap).filter((m) => modelAllowed(principal, m.id));
    return { object: 'list', data: models.map((m) => ({ id: m.id, object: 'model', created, owned_by: m.owned_by })) };
  });
  app.get('/health', async () => ({ status: rt.draining ? 'draining' : 'ok' }));
  app.get('/health/upstream', async () => {
    await refreshUsage(rt.snapshot(), rt.deps);
    const endpoints = endpointViews(rt.snapshot(), rt.deps);
    const available = endpoints.filter((e) => e.state === 'closed' || e.state === 'half-open').length;
    return { status: available > 0 ? 'ok' : 'degraded', available, total: endpoints.length, endpoints };
  });
  app.get('/v1/status', async (req) => {
    const snap = rt.snapshot();
    authenticate(req.headers, snap, rt.storedKey, rt.storedKeyCount(), Date.now());
    await refreshUsage(snap, rt.deps);
    return statusView(snap, rt.deps);
  });
  app.get('/metrics', async (_req, reply) => {
    if (!rt.metrics) throw new LlmuxError('LLMUX_ERR_NOT_FOUND', 'metrics are off');
    return reply.type(rt.metrics.contentType).send(await rt.metrics.text());
  });
  return app;
}

const hotRoutes = new Map<string, RequestKind>([
  ['/v1/chat/completions', 'chat'],
  ['/chat/completions', 'chat'],
  ['/v1/completions', 'completions'],
  ['/v1/embeddings', 'embeddings'],
]);

/** The request headers a proxy route reads: the client key, and the body's framing. */
export interface ProxyHeaders extends ClientKeyHeaders {
  authorization?: string;
  'x-api-key'?: string;
  'content-encoding'?: string;
  'content-length'?: string;
}

/**
 * `ProxyHeaders` found in a request's raw header list, valued as `req.headers` would value them: a
 * repeated `authorization` or `content-length` keeps its first value, a repeated `x-api-key` or
 * `content-encoding` is joined with ", ". Node's `req.headers` builds an object of every header the
 * client sent on first use (≈ 0.5 µs for the handful a benchmark sends; SDKs send a dozen or more);
 * the proxy routes read four.
 */
export function proxyHeaders(raw: readonly string[]): ProxyHeaders {
  const h: ProxyHeaders = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // By length first: most names are none of the four, and are never lower-cased.
    switch (name.length) {
      case 13:
        if (h.authorization === undefined && name.toLowerCase() === 'authorization') h.authorization = raw[i + 1];
        break;
      case 14:
        if (h['content-length'] === undefined && name.toLowerCase() === 'content-length') h['content-length'] = raw[i + 1];
        break;
      case 16:
        if (name.toLowerCase() === 'content-encoding') h['content-encoding'] = joined(h['content-encoding'], raw[i + 1]!);
        break;
      case 9:
        if (name.toLowerCase() === 'x-api-key') h['x-api-key'] = joined(h['x-api-key'], raw[i + 1]!);
        break;
    }
  }
  return h;
}

function joined(before: string | undefined, value: string): string {
  return before === undefined ? value : `${before}, ${value}`;
}

/** A proxy request without Fastify: the same checks and the same error answers as its routes. */
function fastProxy(rt: HttpRuntime, kind: RequestKind, req: IncomingMessage, res: ServerResponse, limit: number): void {
  const id = requestId();
  const headers = proxyHeaders(req.rawHeaders);
  const fail = (e: unknown): void => {
    const err = reportError(rt.log, e);
    // While shutting down, clients should reconnect (to another instance): as Fastify's 503 does.
    if (rt.draining) res.shouldKeepAlive = false;
    writeRawError(res, id, err);
  };
  const enc = headers['content-encoding'];
  if (enc !== undefined && enc.trim().toLowerCase() !== 'identity') {
    req.resume();
    return fail(new LlmuxError('LLMUX_ERR_UNSUPPORTED_MEDIA', 'Compressed request bodies (Content-Encoding) are not supported: send the JSON uncompressed.'));
  }
  const declared = headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return refuseTooLarge(req, res, fail);
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  req.on('data', (c: Buffer) => {
    if (over) return;
    size += c.length;
    if (size > limit) {
      over = true;
      chunks.length = 0;
      refuseTooLarge(req, res, fail);
      return;
    }
    chunks.push(c);
  });
  req.on('end', () => {
    if (over) return;
    const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
    // The request (and with it this listener's closure) lives as long as its answer: a stream's
    // pieces of the body would be kept beside their copy.
    chunks.length = 0;
    // Errors come back through the callback, not as a rejection: no `.catch` promise and microtask a request.
    void handle(rt, kind, headers, raw, id, res, noop, (e: unknown) => {
      if (res.headersSent) {
        if (!res.writableEnded) res.destroy();
        return;
      }
      fail(e);
    });
  });
  req.on('error', () => {
    if (!res.headersSent) res.destroy();
  });
}

function noop(): void {}

function refuseTooLarge(req: IncomingMessage, res: ServerResponse, fail: (e: unknown) => void): void {
  // Answer at once and close the connection: the rest of a body this large is not read.
  res.shouldKeepAlive = false;
  fail(new LlmuxError('LLMUX_ERR_BODY_TOO_LARGE', 'The request body is larger than server.bodyLimit allows.'));
  res.on('finish', () => req.destroy());
}

function noSchemas(): never {
  throw new Error('llmux routes declare no Fastify schemas (bodies are validated by the dialect and zod)');
}

interface ParsedRequest {
  body: Record<string, unknown>;
  changed: boolean;
  repaired: boolean;
  /** False when `body` was read from the bytes as latin1 (`parseLatin1Shape`): its non-ASCII text is not as sent. */
  exact: boolean;
}

const validators: Record<RequestKind, (body: Record<string, unknown>) => boolean> = { chat: validateChat, completions: validateCompletion, embeddings: validateEmbeddings };

/** `exact`: the body's strings must read as sent (debug capture records them). */
function parseBody(kind: RequestKind, raw: Buffer, repair: boolean, exact: boolean): ParsedRequest {
  const validate = validators[kind];
  if (!exact && !isAscii(raw)) {
    const shape = parseLatin1Shape(raw, validate);
    if (shape !== null) return { body: shape, changed: false, repaired: false, exact: false };
  }
  const { body, repaired } = parseJsonBody(raw.toString('utf8'), repair);
  // Each validator also removes forbidden fields (api_base, headers, …), in the same pass over the keys.
  const changed = validate(body) || repaired;
  return { body, changed, repaired, exact: true };
}

/**
 * One proxied request, from either door (the raw fast path or Fastify); `hijack` takes the response
 * from Fastify. An error before the answer is thrown (Fastify's door answers it), or handed to `onError`.
 */
async function handle(rt: HttpRuntime, kind: RequestKind, headers: ClientKeyHeaders, raw: Buffer, id: string, res: ServerResponse, hijack: () => void, onError?: (e: unknown) => void): Promise<void> {
  try {
    if (rt.draining) throw new LlmuxError('LLMUX_ERR_SHUTTING_DOWN', 'llmux is shutting down; retry on another instance or in a moment.');
    const snap = rt.snapshot();
    // One clock read for the key's expiry, its limits, its last use and the request's time.
    let at = Date.now();
    const principal = authenticate(headers, snap, rt.storedKey, rt.storedKeyCount(), at);
    const capture = rt.captureOn();
    let parsed: ParsedRequest | null = parseBody(kind, raw, snap.config.repair, capture);
    const model = parsed.body.model as string;
    checkModelAllowed(principal, model);
    // Awaited only when they must wait: a microtask hop per request saved in the common case.
    const pp = rt.admitPrincipal(principal, at);
    const permit = pp instanceof Promise ? await pp : pp;
    if (principal) rt.touched?.(principal, at);
    const controller = new RequestController();
    res.on('close', () => {
      if (!res.writableEnded) controller.abort(abortReasons.clientGone);
    });
    let release: () => void;
    let waited = pp instanceof Promise;
    try {
      const r = rt.admit(controller.signal);
      if (r instanceof Promise) waited = true;
      release = r instanceof Promise ? await r : r;
    } catch (e) {
      permit.settle(0);
      throw e;
    }
    // The request's time is read with t0, after admission: again when a limit or the queue made it wait.
    if (waited) at = Date.now();
    rt.inflight.add(controller);
    hijack();
    const ctx: RequestContext = {
      id, kind, snapshot: snap, body: parsed.body, bodyExact: parsed.exact, raw, bodyChanged: parsed.changed, repaired: parsed.repaired,
      stream: parsed.body.stream === true, includeUsage: (parsed.body.stream_options as { include_usage?: unknown } | null | undefined)?.include_usage === true,
      model, principal, res, controller, signal: controller.signal, t0: performance.now(), at, attempts: [], capture,
    };
    // This frame waits for the whole answer (a stream's may take minutes), and V8 keeps a waiting
    // frame's variables alive, used again or not: the body is left to `ctx`, which lets it go once
    // a stream commits (releaseBody).
    parsed = null;
    raw = noBytes;
    let tokens = 0;
    try {
      tokens = (await execute(ctx, rt.deps)).tokens;
    } catch (e) {
      rt.log.error({ err: e }, 'request failed inside llmux');
      if (!res.headersSent && !res.destroyed) writeRawError(res, id, toLlmuxError(e));
      else if (!res.writableEnded) res.destroy();
    } finally {
      rt.inflight.delete(controller);
      release();
      permit.settle(tokens);
    }
  } catch (e) {
    if (onError === undefined) throw e;
    onError(e);
  }
}
