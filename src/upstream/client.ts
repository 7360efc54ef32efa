/**
 * The only importer of undici. One connection pool per (origin, connect timeout, proxy), reused across
 * config reloads; each attempt is one `request` with the per-try timeouts and one AbortSignal.
 */
import { Pool, ProxyAgent, type Dispatcher } from 'undici';
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
  readonly #keepAliveMs: number;

  constructor(opts: UpstreamClientsOptions = {}) {
    this.#keepAliveMs = opts.keepAliveMs ?? KEEP_ALIVE_MS;
  }

  #dispatcher(p: CompiledProvider): Dispatcher {
    const key = `${p.origin}|${p.timeout.connectMs}|${p.proxy ?? ''}`;
    let d = this.#pools.get(key);
    if (!d) {
      const connect = { timeout: p.timeout.connectMs };
      const keepAlive = { keepAliveTimeout: this.#keepAliveMs, keepAliveMaxTimeout: this.#keepAliveMs };
      d = p.proxy
        ? new ProxyAgent({ uri: p.proxy, connect, proxyTls: { timeout: p.timeout.connectMs }, ...keepAlive })
        : new Pool(p.origin, { connect, ...keepAlive, headersTimeout: 0, bodyTimeout: 0 });
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

  /** Pools in use (for stats). */
  get size(): number {
    return this.#pools.size;
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
