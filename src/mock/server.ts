import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Exchange } from './exchange.ts';
import { respond, sendError } from './respond.ts';
import type { Endpoint, ReplyContext } from './respond.ts';
import { AbortWaiters } from './abort-waiters.ts';
import { RateWindow, seededRandom } from './admission.ts';
import type { MockOptions, ReceivedRequest, Script } from './types.ts';

export type { MockError, MockOptions, ReceivedRequest, Script } from './types.ts';

const DEFAULT_MODELS = ['mock-small', 'mock-large'];

/** Maps method + path (with or without the /v1 prefix, query ignored) to an endpoint. */
function matchEndpoint(method: string, rawPath: string): Endpoint | null {
  const path = (rawPath.split('?')[0] ?? '').replace(/^\/v1(?=\/)/, '').replace(/\/+$/, '');
  if (method === 'POST') {
    if (path === '/chat/completions') return { kind: 'chat' };
    if (path === '/completions') return { kind: 'completions' };
    if (path === '/embeddings') return { kind: 'embeddings' };
  }
  if (method === 'GET') {
    if (path === '/models') return { kind: 'models' };
    const m = /^\/models\/([^/]+)$/.exec(path);
    if (m?.[1]) return { kind: 'model', id: decodeURIComponent(m[1]) };
  }
  return null;
}

/** Collects the request body; null when the client went away mid-upload. */
function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      // The listener (and this array) lives as long as the request: a held stream would keep the pieces.
      chunks.length = 0;
      resolve(text);
    });
    req.on('error', () => resolve(null));
  });
}

function parseBody(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/**
 * A scriptable fake OpenAI-compatible upstream on a real socket. Scripts enqueued with `enqueue`
 * are consumed FIFO by chat/completions/embeddings requests; with none queued the server options
 * apply (forced status, then failRate), then the default script. Auth, rate limit, bad JSON and
 * strict-model checks come first and never consume a script.
 */
export class MockUpstream {
  readonly #opts: MockOptions;
  #server: Server | null = null;
  #port = 0;
  #seq = 0;
  #random: () => number;
  #queue: Script[] = [];
  #default: Script | null = null;
  readonly #requests: ReceivedRequest[] = [];
  readonly #sockets = new Set<Socket>();
  readonly #exchanges = new Set<Exchange>();
  readonly #rate = new RateWindow(60_000);
  readonly #aborts = new AbortWaiters();

  constructor(opts: MockOptions = {}) {
    this.#opts = { ...opts };
    this.#random = opts.seed === undefined ? Math.random : seededRandom(opts.seed);
  }

  /** 'http://host:port' of the running server; throws before start(). */
  get url(): string {
    if (!this.#server) throw new Error('MockUpstream: url is only known after start()');
    const host = this.#opts.host ?? '127.0.0.1';
    return `http://${host.includes(':') ? `[${host}]` : host}:${this.#port}`;
  }

  get baseUrl(): string {
    return `${this.url}/v1`;
  }

  /** Every request received, in arrival order (the same array across reset()). */
  get requests(): ReceivedRequest[] {
    return this.#requests;
  }

  get openConnections(): number {
    return this.#sockets.size;
  }

  /**
   * Listens. After a close(), start() binds the same port again, so a test can take an upstream
   * down and bring it back at the same URL.
   */
  async start(): Promise<void> {
    if (this.#server) return;
    const server = createServer((req, res) => void this.#handle(req, res));
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port || this.#opts.port || 0, this.#opts.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Stops at once: hung and streaming exchanges are cut, pending waitForAbort calls reject. */
  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = null;
    for (const ex of this.#exchanges) ex.shutdown();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Wait for every socket's 'close' too, so openConnections is 0 and no handle outlives us.
    const sockets = [...this.#sockets].map((s) => new Promise((resolve) => s.once('close', resolve)));
    server.closeAllConnections();
    for (const socket of this.#sockets) socket.destroy();
    await Promise.all([closed, ...sockets]);
    this.#aborts.rejectAll(new Error('MockUpstream closed'));
  }

  /** Queues scripts for the next chat/completions/embeddings requests, FIFO. */
  enqueue(...scripts: Script[]): this {
    this.#queue.push(...scripts);
    return this;
  }

  /** The script used when the queue is empty; null restores the built-in behaviour. */
  setDefault(script: Script | null): this {
    this.#default = script;
    return this;
  }

  /** Changes server options at run time (host/port apply at the next start()). */
  configure(patch: Partial<MockOptions>): this {
    Object.assign(this.#opts, patch);
    if ('seed' in patch) this.#random = patch.seed === undefined ? Math.random : seededRandom(patch.seed);
    return this;
  }

  /** Clears the queue, the recorded requests, seen aborts and the rate-limit window. */
  reset(): void {
    this.#queue = [];
    this.#requests.length = 0;
    this.#aborts.clear();
    this.#rate.clear();
  }

  /**
   * Resolves with the next request whose client went away before its response finished, oldest
   * first; one already aborted counts. Rejects after `timeoutMs` or when the server closes.
   */
  waitForAbort(timeoutMs = 2000): Promise<ReceivedRequest> {
    return this.#aborts.next(timeoutMs);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const raw = await readBody(req);
    if (raw === null || !this.#server) return;
    const record: ReceivedRequest = {
      method: req.method ?? 'GET', path: req.url ?? '/', headers: { ...req.headers },
      body: parseBody(raw), raw, aborted: false, at,
    };
    this.#requests.push(record);
    const ex = new Exchange(req, res, record, (r) => this.#aborts.push(r));
    this.#exchanges.add(ex);
    res.on('close', () => {
      this.#exchanges.delete(ex);
      this.#opts.log?.(summary(record, Date.now() - at));
    });
    const ctx = this.#context();
    const endpoint = matchEndpoint(record.method, record.path);
    if (!endpoint) {
      const message = `Invalid URL (${record.method} ${record.path})`;
      return sendError(ex, 404, { message, code: null }, ctx.baseHeaders);
    }
    const script = this.#admit(record, ctx) ?? this.#pick(endpoint);
    try {
      await respond(ex, endpoint, script, ctx);
    } catch (err) {
      // A bad script (say, a header with CRLF) must fail its request, not the test process.
      if (!res.headersSent) sendError(ex, 500, { message: `mock script failed: ${(err as Error).message}` }, {});
      else ex.cut('close');
    }
  }

  /** Checks that never consume a script; returns an error script when the request is refused. */
  #admit(record: ReceivedRequest, ctx: ReplyContext): Script | null {
    const key = this.#opts.apiKey;
    if (key !== undefined && record.headers.authorization !== `Bearer ${key}`) {
      return { status: 401, error: { message: 'Incorrect API key provided.' } };
    }
    const rpm = this.#opts.rateLimitRpm;
    if (rpm !== undefined && rpm >= 0) {
      const waitMs = this.#rate.tryAdmit(rpm, Date.now());
      const remaining = Math.max(0, rpm - this.#rate.size);
      Object.assign(ctx.baseHeaders, {
        'x-ratelimit-limit-requests': String(rpm),
        'x-ratelimit-remaining-requests': String(remaining),
      });
      if (waitMs > 0) {
        const headers = { 'retry-after': String(Math.ceil(waitMs / 1000)), 'retry-after-ms': String(waitMs) };
        return { status: 429, headers, error: { message: `Rate limit reached: ${rpm} requests per minute.` } };
      }
    }
    if (record.method === 'POST' && typeof record.body !== 'object') {
      return { status: 400, error: { message: 'We could not parse the JSON body of your request.' } };
    }
    const model = record.body?.model;
    if (this.#opts.strictModels && typeof model === 'string' && !this.#models().includes(model)) {
      const message = `The model \`${model}\` does not exist or you do not have access to it.`;
      return { status: 404, error: { message, code: 'model_not_found' } };
    }
    return null;
  }

  /** Queue first (inference endpoints only), then forced status, failRate, the default script. */
  #pick(endpoint: Endpoint): Script {
    const inference = endpoint.kind === 'chat' || endpoint.kind === 'completions' || endpoint.kind === 'embeddings';
    const queued = inference ? this.#queue.shift() : undefined;
    if (queued) return queued;
    if (this.#opts.status !== undefined) return { status: this.#opts.status };
    const rate = this.#opts.failRate ?? 0;
    if (rate > 0 && this.#random() < rate) return { status: this.#opts.failStatus ?? 500 };
    return this.#default ?? {};
  }

  #context(): ReplyContext {
    const requestId = `mock-${++this.#seq}`;
    const baseHeaders: Record<string, string> = { 'x-request-id': `req_${requestId}` };
    if (this.#opts.name) baseHeaders['x-mock-name'] = this.#opts.name;
    return {
      requestId, baseHeaders, models: this.#models(), name: this.#opts.name,
      latencyMs: this.#opts.latencyMs ?? 0, tokensPerS: this.#opts.tokensPerS ?? 0,
    };
  }

  #models(): string[] {
    return this.#opts.models && this.#opts.models.length > 0 ? this.#opts.models : DEFAULT_MODELS;
  }
}

function summary(rec: ReceivedRequest, ms: number): string {
  const model = typeof rec.body?.model === 'string' ? ` model=${rec.body.model}` : '';
  const outcome = rec.aborted ? 'client aborted' : String(rec.status ?? 'no response');
  return `${rec.method} ${rec.path}${model} → ${outcome} ${ms}ms`;
}
