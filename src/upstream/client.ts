/**
 * The only importer of undici. One connection pool per (origin, connect timeout, proxy), reused across
 * config reloads; each attempt is one `request` with the per-try timeouts and one AbortSignal.
 */
import type { Socket } from 'node:net';
import { buildConnector, Pool, ProxyAgent, type Dispatcher } from 'undici';
import type { CompiledProvider } from '../config/compile.ts';

export interface UpstreamRequest {
  provider: CompiledProvider;
  method: 'GET' | 'POST';
  /** Path below the provider's base path, e.g. `/chat/completions`. */
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  signal: AbortSignal;
  /** Defaults to the provider's `timeout.firstByteMs` / `idleMs`. */
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
}

export type UpstreamResponse = Dispatcher.ResponseData;

/** How long an idle connection that has served a response stays open (undici's own timer). */
const KEEP_ALIVE_MS = 4_000;

export interface UpstreamClientsOptions {
  /**
   * How long a connection that has carried nothing yet may stay open [the keep-alive timeout, 4 s].
   * undici gives such a connection no keep-alive timer: see `reapUnused`.
   */
  unusedSocketMs?: number;
}

export class UpstreamClients {
  #pools = new Map<string, Dispatcher>();
  readonly #unusedMs: number;
  #reaped = 0;

  constructor(opts: UpstreamClientsOptions = {}) {
    this.#unusedMs = opts.unusedSocketMs ?? KEEP_ALIVE_MS;
  }

  #dispatcher(p: CompiledProvider): Dispatcher {
    const key = `${p.origin}|${p.timeout.connectMs}|${p.proxy ?? ''}`;
    let d = this.#pools.get(key);
    if (!d) {
      const connect = { timeout: p.timeout.connectMs };
      d = p.proxy
        ? new ProxyAgent({ uri: p.proxy, connect, proxyTls: { timeout: p.timeout.connectMs } })
        : new Pool(p.origin, { connect: this.#reapUnused(buildConnector(connect)), keepAliveTimeout: KEEP_ALIVE_MS, headersTimeout: 0, bodyTimeout: 0 });
      this.#pools.set(key, d);
    }
    return d;
  }

  /**
   * Send one request. Resolves when response headers arrive (the body is left to the caller, who
   * must consume or destroy it); rejects on connect errors, timeouts and aborts with undici's error
   * codes (`UND_ERR_*`, `ECONNREFUSED`…), which routing/attempt.ts classifies.
   */
  send(r: UpstreamRequest): Promise<UpstreamResponse> {
    const p = r.provider;
    return this.#dispatcher(p).request({
      origin: p.origin,
      path: p.basePath + r.path,
      method: r.method,
      headers: r.headers,
      body: r.body ?? null,
      signal: r.signal,
      headersTimeout: r.headersTimeoutMs ?? p.timeout.firstByteMs,
      bodyTimeout: r.bodyTimeoutMs ?? p.timeout.idleMs,
      // A redirect from a provider is never followed: the key would travel with it (SSRF, S5).
      maxRedirections: 0,
    } as Dispatcher.RequestOptions);
  }

  /**
   * A connector that closes connections which carry nothing. When a caller leaves in the middle of a
   * streamed answer, the attempt is aborted and undici destroys that socket, puts the aborted request
   * back in its queue, opens a new connection for it and then drops it (nodejs/undici#5845, not
   * fixed in 7.30): the new connection has never served a response, so it has no keep-alive timer
   * and stays open until the upstream closes it (65 s here in the benchmark's fake, often minutes at
   * a provider). A burst of cancelled streams left that many idle sockets, each holding memory and
   * a file descriptor, and live heap that every major GC marked again (about 40 µs of CPU per
   * streamed request after 2,000 cancelled streams: BENCHMARKS.md). One timer per new connection,
   * not per request: after `unusedSocketMs`, a socket with nothing written and nothing read is
   * closed. A socket carrying a request has written it, so it is never cut here; one that undici
   * picked for a request but has not written to yet (it waits a turn to check the socket first) is
   * closed before the write, which undici treats like an upstream closing an idle connection: it
   * connects again and sends the request there.
   */
  #reapUnused(base: buildConnector.connector): buildConnector.connector {
    const ms = this.#unusedMs;
    return (opts, callback) =>
      base(opts, (err, socket) => {
        if (socket) {
          const s = socket as Socket;
          setTimeout(() => {
            if (!s.destroyed && s.bytesWritten === 0 && s.bytesRead === 0) {
              this.#reaped++;
              s.destroy();
            }
          }, ms).unref();
        }
        // undici's callback is overloaded on whether an error is given.
        if (err) callback(err, null);
        else callback(null, socket!);
      });
  }

  /** Pools in use (for stats). */
  get size(): number {
    return this.#pools.size;
  }

  /** Connections closed because they carried nothing within `unusedSocketMs`. */
  get reapedSockets(): number {
    return this.#reaped;
  }

  async close(): Promise<void> {
    const all = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.allSettled(all.map((d) => d.destroy()));
  }
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
