/**
 * The upstream client (undici, loaded through ./undici.ts). One connection pool per (origin, connect timeout, proxy), reused across
 * config reloads; each attempt is one `dispatch` with the per-try timeouts, driven by `UpstreamCall`.
 *
 * `UpstreamCall` is undici's handler interface written for what llmux does with an answer, instead of
 * `request()`'s general one (a Readable per answer, an AsyncResource, an abort listener on a signal,
 * every header parsed): an answer that is not a 2xx event stream is collected into one Buffer and
 * handed over whole; a 2xx event stream is handed to one consumer chunk by chunk, with backpressure.
 * The caller aborts the call itself (`abort(reason)`), so the hot path adds no AbortSignal listener.
 */
import type { Dispatcher } from 'undici';
import { errors, Pool, ProxyAgent, util } from './undici.ts';
import type { CompiledProvider } from '../config/compile.ts';

export interface UpstreamRequest {
  provider: CompiledProvider;
  method: 'GET' | 'POST';
  /** Path below the provider's base path, e.g. `/chat/completions`. */
  path: string;
  /** An object, or undici's flat `[name, value, …]` list (read, never changed: it may be shared). */
  headers: Record<string, string> | readonly string[];
  body?: string | Buffer;
  /** Also aborts the call (with the signal's reason); the hot path calls `UpstreamCall.abort` instead. */
  signal?: AbortSignal;
  /** Defaults to the provider's `timeout.firstByteMs` / `idleMs`. */
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  /** Largest 2xx body collected whole [64 MiB]; a larger one fails the call with `LLMUX_TOO_LARGE`. */
  maxBodyBytes?: number;
}

/** Largest error (non-2xx) body kept; past it the answer is handed over with an empty body. */
export const maxErrorBodyBytes = 256 * 1024;
/** Largest 2xx body collected whole unless a request says otherwise (routing's cap too). */
export const defaultMaxBodyBytes = 64 * 1024 * 1024;
/** Bytes of a stream read before its sink starts (as a Readable's high-water mark). */
const maxHeldBytes = 64 * 1024;

/** What receives a streamed answer. No call comes after `end` or `error`, nor after `destroy()`. */
export interface StreamSink {
  data(chunk: Buffer): void;
  end(): void;
  error(e: unknown): void;
}

/** A 2xx `text/event-stream` answer, delivered to one sink as it arrives. */
export interface UpstreamStream {
  /** Starts delivery (chunks that arrived before are delivered first, synchronously). */
  start(sink: StreamSink): void;
  /** Stop reading from the upstream until `resume()` (backpressure). */
  pause(): void;
  resume(): void;
  /** Stop: the connection is closed, and the sink hears nothing more. */
  destroy(): void;
}

export interface UpstreamAnswer {
  readonly statusCode: number;
  /** The response headers, names lower-cased (parsed on first use). */
  readonly headers: Record<string, string | string[] | undefined>;
  readonly contentType: string;
  /** The whole body: any answer but a 2xx event stream (empty when an error body was too large). */
  readonly body: Buffer | null;
  /** A 2xx event stream. */
  readonly stream: UpstreamStream | null;
}

const KEEP_ALIVE_MS = 4_000;

export interface UpstreamClientsOptions {
  /**
   * How long an idle upstream connection stays open [4 s], whatever the upstream's `Keep-Alive:
   * timeout=N` header offers. undici would otherwise keep it for that N less 2 s, up to 10
   * minutes. That matters after a cancelled stream: undici destroys the aborted request's socket,
   * puts the request back in its queue, opens a new connection for it and then drops it
   * (nodejs/undici#5845), and that never-used connection idled for as long as the upstream allowed
   * (63 s with the benchmark's fake upstream, which says 65). 2,000 cancelled streams left 2,000 idle
   * sockets, each with a file descriptor and heap that every major GC marked again.
   */
  keepAliveMs?: number;
}

export class UpstreamClients {
  #pools = new Map<string, Dispatcher>();
  #byProvider = new WeakMap<CompiledProvider, Dispatcher>();
  readonly #keepAliveMs: number;

  constructor(opts: UpstreamClientsOptions = {}) {
    this.#keepAliveMs = opts.keepAliveMs ?? KEEP_ALIVE_MS;
  }

  #dispatcher(p: CompiledProvider): Dispatcher {
    // Per compiled provider first: no key string built and hashed per request (a reload compiles
    // new providers, which find the same pool by key).
    let d = this.#byProvider.get(p);
    if (d) return d;
    const key = `${p.origin}|${p.timeout.connectMs}|${p.proxy ?? ''}`;
    d = this.#pools.get(key);
    if (!d) {
      const connect = { timeout: p.timeout.connectMs };
      const keepAlive = { keepAliveTimeout: this.#keepAliveMs, keepAliveMaxTimeout: this.#keepAliveMs };
      d = p.proxy
        ? new ProxyAgent({ uri: p.proxy, connect, proxyTls: { timeout: p.timeout.connectMs }, ...keepAlive })
        : new Pool(p.origin, { connect, ...keepAlive, headersTimeout: 0, bodyTimeout: 0 });
      this.#pools.set(key, d);
    }
    this.#byProvider.set(p, d);
    return d;
  }

  /**
   * Start one request. `call.answer` (or `call.onAnswer`) gives the answer (whole, or as a stream for a
   * 2xx event stream); it rejects on connect errors, timeouts and aborts with undici's error codes (`UND_ERR_*`,
   * `ECONNREFUSED`…), which routing/attempt.ts classifies. A redirect is never followed: the key
   * would travel with it (SSRF, S5).
   */
  call(r: UpstreamRequest): UpstreamCall {
    const p = r.provider;
    const call = new UpstreamCall(r.maxBodyBytes ?? defaultMaxBodyBytes);
    const signal = r.signal;
    if (signal) {
      if (signal.aborted) call.abort(signal.reason);
      else {
        const onAbort = (): void => call.abort(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        call.whenDone(() => signal.removeEventListener('abort', onAbort));
      }
    }
    this.#dispatcher(p).dispatch({
      origin: p.origin,
      path: p.basePath + r.path,
      method: r.method,
      headers: r.headers as Record<string, string> | string[],
      body: r.body ?? null,
      headersTimeout: r.headersTimeoutMs ?? p.timeout.firstByteMs,
      bodyTimeout: r.bodyTimeoutMs ?? p.timeout.idleMs,
    }, call);
    return call;
  }

  /** Pools in use (for stats). */
  get size(): number {
    return this.#pools.size;
  }

  async close(): Promise<void> {
    const all = [...this.#pools.values()];
    this.#pools.clear();
    this.#byProvider = new WeakMap();
    await Promise.allSettled(all.map((d) => d.destroy()));
  }
}

type Phase = 'waiting' | 'collecting' | 'streaming' | 'done';

/**
 * One request in flight: undici's (legacy, callback) handler interface, which its core calls
 * directly (the newer one goes through an adapter object). Phases: `waiting` for the response
 * head; `collecting` a whole body; `streaming` a 2xx event stream to its sink; `done` (settled,
 * failed, ended or destroyed: every later callback from undici is ignored).
 *
 * Reading from the upstream stops (undici's parser pauses) when the sink is paused, or before it
 * starts, once 64 KiB wait for it: as a Readable's high-water mark did, so a briefly slow client
 * does not stop the upstream's idle timeout (undici runs it only while reading). After the sink
 * stops the stream (`destroy()` inside `data`), the parser is told to stop too: nothing it parses
 * later in the same read reaches undici's request, which is aborted by then.
 */
export class UpstreamCall implements Dispatcher.DispatchHandler {
  /** Set by `abort`, like an AbortSignal's (routing/context.ts `abortKind` reads them). */
  aborted = false;
  reason: unknown = undefined;

  /** `onAnswer`'s listener, or what came before one listened. */
  #ok: ((a: UpstreamAnswer) => void) | null = null;
  #notOk: ((e: unknown) => void) | null = null;
  #outcome: { answer: UpstreamAnswer | null; error: unknown } | null = null;
  #listened = false;
  #answer: Promise<UpstreamAnswer> | null = null;
  #phase: Phase = 'waiting';
  #abortFn: ((err: Error) => void) | null = null;
  #resumeFn: (() => void) | null = null;
  /** Runs once when the call is done (UpstreamClients removes a signal listener with it). */
  #onDone: (() => void) | null = null;
  readonly #maxBody: number;
  #limit = 0;
  #status = 0;
  #raw: Buffer[] = [];
  #contentType = '';
  #chunks: Buffer[] = [];
  #size = 0;
  // streaming
  #sink: StreamSink | null = null;
  #paused = false;
  /** onData answered false: undici's parser is paused until `#resumeFn` runs. */
  #stopped = false;
  #ended = false;
  #failed: { e: unknown } | null = null;
  /** Bytes in `#chunks` while streaming. */
  #held = 0;
  #delivering = false;

  constructor(maxBody: number) {
    this.#maxBody = maxBody;
  }

  /** Resolves with the answer; rejects with the error (undici's, or `LLMUX_TOO_LARGE`). */
  get answer(): Promise<UpstreamAnswer> {
    return (this.#answer ??= new Promise<UpstreamAnswer>((resolve, reject) => this.onAnswer(resolve, reject)));
  }

  /**
   * `ok` gets the answer, or `failed` the error, once: at once when it is in, else from inside the
   * undici callback that brings it (or from `abort`), so neither may start another request on the same
   * pool synchronously. One listener (`answer` is one). The request path listens instead of awaiting:
   * no promise and no microtask between the answer's head and the relay (bench/HISTORY.md, nineteenth round).
   */
  onAnswer(ok: (a: UpstreamAnswer) => void, failed: (e: unknown) => void): void {
    // A second listener would wait for ever: the answer goes to one.
    if (this.#listened) throw new Error('an upstream call has one listener (use `answer` to share it)');
    this.#listened = true;
    const o = this.#outcome;
    if (o !== null) {
      this.#outcome = null;
      if (o.answer !== null) ok(o.answer);
      else failed(o.error);
      return;
    }
    this.#ok = ok;
    this.#notOk = failed;
  }

  #resolve(a: UpstreamAnswer): void {
    const ok = this.#ok;
    this.#ok = this.#notOk = null;
    if (ok !== null) ok(a);
    else this.#outcome = { answer: a, error: undefined };
  }

  #reject(e: unknown): void {
    const failed = this.#notOk;
    this.#ok = this.#notOk = null;
    if (failed !== null) failed(e);
    else this.#outcome = { answer: null, error: e };
  }

  /**
   * Abort the call: before the answer its listener's error side hears of it at once (`answer`
   * rejects; also while the request waits in the pool's queue); a stream's sink gets
   * `error(reason)`. The connection is closed.
   */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const err = new errors.RequestAbortedError();
    if (this.#phase === 'streaming') {
      // What was not delivered is dropped. The sink hears of the abort on the next tick (as a
      // destroyed stream's 'error' event), never from inside its own callbacks; one that has not
      // started yet hears of it when it starts.
      this.#chunks = [];
      const sink = this.#sink;
      if (sink !== null) {
        this.#done();
        process.nextTick(() => sink.error(err));
      } else this.#failed = { e: err };
      this.#abortFn?.(err);
      return;
    }
    if (this.#phase !== 'done') {
      this.#done();
      this.#reject(err);
    }
    this.#abortFn?.(err);
  }

  /** `fn` runs once the call is done (at once if it is). */
  whenDone(fn: () => void): void {
    if (this.#phase === 'done') fn();
    else this.#onDone = fn;
  }

  // ---- undici's handler interface ----

  onConnect(abort: (err?: Error) => void): void {
    this.#abortFn = abort;
    if (this.aborted) abort(new errors.RequestAbortedError());
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200 || this.#phase !== 'waiting') return true; // 1xx: informational
    this.#status = statusCode;
    this.#raw = rawHeaders;
    this.#resumeFn = resume;
    this.#contentType = contentTypeOf(rawHeaders);
    const ok = statusCode < 300;
    if (ok && this.#contentType.includes('text/event-stream')) {
      this.#phase = 'streaming';
      this.#resolve(this.#answerOf(null));
      return true;
    }
    this.#phase = 'collecting';
    this.#limit = ok ? this.#maxBody : maxErrorBodyBytes;
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.#phase === 'collecting') {
      this.#size += chunk.length;
      if (this.#size > this.#limit) {
        if (this.#status < 300) this.#settleError(Object.assign(new Error(`upstream response larger than ${this.#limit} bytes`), { code: 'LLMUX_TOO_LARGE' }));
        else {
          // An error page this large says nothing useful: classify on the status alone.
          this.#chunks = [];
          this.#size = 0;
          this.#done();
          this.#resolve(this.#answerOf(Buffer.alloc(0)));
        }
        this.#abortFn?.(new errors.RequestAbortedError());
        return false;
      }
      this.#chunks.push(chunk);
      return true;
    }
    if (this.#phase !== 'streaming') return false;
    if (this.#sink === null || this.#paused || this.#chunks.length > 0) {
      // Held for the sink, up to the read-ahead limit.
      this.#chunks.push(chunk);
      this.#held += chunk.length;
      return this.#go(this.#held < maxHeldBytes);
    }
    this.#sink.data(chunk);
    // Stopped by the sink (destroyed, or paused): undici's parser stops here too.
    return this.#go(this.#phase === 'streaming' && !this.#paused);
  }

  onComplete(): void {
    if (this.#phase === 'collecting') {
      const c = this.#chunks;
      this.#chunks = [];
      this.#done();
      this.#resolve(this.#answerOf(c.length === 1 ? c[0]! : Buffer.concat(c, this.#size)));
      return;
    }
    if (this.#phase !== 'streaming') return;
    this.#ended = true;
    this.#drain();
  }

  onError(err: Error): void {
    if (this.#phase === 'streaming') {
      this.#failed = { e: err };
      this.#drain();
      return;
    }
    this.#settleError(err);
  }

  onUpgrade(): void {
    this.#settleError(new Error('the upstream switched protocols'));
  }

  // ---- the answer ----

  #answerOf(body: Buffer | null): UpstreamAnswer {
    return new Answer(this.#status, this.#raw, this.#contentType, body, body === null ? this : null);
  }

  #settleError(e: unknown): void {
    if (this.#phase === 'done') return;
    this.#chunks = [];
    this.#done();
    this.#reject(e);
  }

  #done(): void {
    this.#phase = 'done';
    const fn = this.#onDone;
    this.#onDone = null;
    fn?.();
  }

  /** What onData answers undici, remembered: false pauses its parser until `#resumeFn` runs. */
  #go(more: boolean): boolean {
    if (!more) this.#stopped = true;
    return more;
  }

  // ---- UpstreamStream ----

  start(sink: StreamSink): void {
    if (this.#sink !== null) throw new Error('an upstream stream has one consumer');
    this.#sink = sink;
    if (this.#phase === 'streaming' || this.#failed !== null) this.#drain();
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#drain();
  }

  destroy(): void {
    if (this.#phase === 'done') return;
    this.#chunks = [];
    this.#done();
    this.#abortFn?.(new errors.RequestAbortedError());
  }

  /** Deliver what waits (chunks, then the end or the failure) while the sink takes it. */
  #drain(): void {
    const sink = this.#sink;
    if (sink === null || this.#delivering) return;
    this.#delivering = true;
    try {
      while (this.#phase === 'streaming' && !this.#paused && this.#chunks.length > 0) {
        const c = this.#chunks.shift()!;
        this.#held -= c.length;
        sink.data(c);
      }
    } finally {
      this.#delivering = false;
    }
    if (this.#phase !== 'streaming' || this.#paused || this.#chunks.length > 0) return;
    if (this.#failed !== null) {
      this.#finish();
      sink.error(this.#failed.e);
    } else if (this.#ended) {
      this.#finish();
      sink.end();
    } else if (this.#stopped) {
      // undici's parser stopped for us: let it go on. Never from inside a parser's callback (undici
      // asserts that none is running; a sink may resume from another stream's data): a microtask.
      this.#stopped = false;
      const resume = this.#resumeFn;
      if (resume !== null) queueMicrotask(() => this.#phase === 'streaming' && resume());
    }
  }

  /** Done: nothing more is delivered, and nothing the call held is kept alive by it. */
  #finish(): void {
    this.#done();
    this.#sink = null;
    this.#chunks = [];
    this.#resumeFn = null;
  }
}

class Answer implements UpstreamAnswer {
  readonly statusCode: number;
  readonly contentType: string;
  readonly body: Buffer | null;
  readonly stream: UpstreamStream | null;
  #raw: Buffer[];
  #headers: Record<string, string | string[] | undefined> | undefined;

  constructor(statusCode: number, raw: Buffer[], contentType: string, body: Buffer | null, stream: UpstreamStream | null) {
    this.statusCode = statusCode;
    this.#raw = raw;
    this.contentType = contentType;
    this.body = body;
    this.stream = stream;
  }

  get headers(): Record<string, string | string[] | undefined> {
    return (this.#headers ??= util.parseHeaders(this.#raw) as Record<string, string | string[] | undefined>);
  }
}

/**
 * The content-type header, read from the raw head without parsing the others (values of a repeated
 * header joined, as undici's parsed headers would give them).
 */
function contentTypeOf(raw: Buffer[]): string {
  let ct = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 12 && util.headerNameToString(name) === 'content-type') {
      const v = raw[i + 1]!.toString('latin1');
      ct = ct === '' ? v : `${ct}, ${v}`;
    }
  }
  return ct;
}

/** Error codes of a connection that never got established. */
const connectCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'ECONNABORTED']);
const timeoutCodes = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

export type NetworkErrorKind = 'connect' | 'timeout' | 'reset' | 'aborted' | 'other';

/** What a thrown upstream error was, from its code (never from its message, which may hold a URL). */
export function networkErrorKind(e: unknown): NetworkErrorKind {
  const err = e as { code?: string; name?: string; cause?: { code?: string } } | null;
  const code = err?.code ?? err?.cause?.code ?? '';
  if (err?.name === 'AbortError' || code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR') return 'aborted';
  if (connectCodes.has(code)) return 'connect';
  if (timeoutCodes.has(code)) return 'timeout';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE' || code === 'UND_ERR_CLOSED') return 'reset';
  return 'other';
}

export function networkErrorCode(e: unknown): string {
  const err = e as { code?: string; cause?: { code?: string } } | null;
  return err?.code ?? err?.cause?.code ?? 'unknown';
}
