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

export class UpstreamClients {
  #pools = new Map<string, Dispatcher>();

  #dispatcher(p: CompiledProvider): Dispatcher {
    const key = `${p.origin}|${p.timeout.connectMs}|${p.proxy ?? ''}`;
    let d = this.#pools.get(key);
    if (!d) {
      const connect = { timeout: p.timeout.connectMs };
      d = p.proxy
        ? new ProxyAgent({ uri: p.proxy, connect, proxyTls: { timeout: p.timeout.connectMs } })
        : new Pool(p.origin, { connect, keepAliveTimeout: 4_000, headersTimeout: 0, bodyTimeout: 0 });
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
