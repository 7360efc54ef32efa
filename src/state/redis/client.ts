/**
 * The ioredis connections of the Redis state, configured to fail fast: no offline queue, a short
 * per-command timeout and no per-request retries, so a Redis outage costs a request milliseconds
 * and the adapter falls back instead of queueing behind a dead socket (SPEC fault D1).
 */
import { createHash } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';

export interface ClientOptions {
  commandTimeoutMs: number;
  connectTimeoutMs: number;
}

export function commandClient(url: string, opts: ClientOptions): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    commandTimeout: opts.commandTimeoutMs,
    connectTimeout: opts.connectTimeoutMs,
    maxRetriesPerRequest: 0,
    // Reconnect forever, quickly at first, so the adapter returns to Redis soon after it is back.
    retryStrategy: (times: number) => Math.min(50 * times, 1000),
    lazyConnect: false,
    // How long a closing socket may linger; the 2 s default would hold a shutdown (and tests) up.
    disconnectTimeout: 200,
  } satisfies RedisOptions);
}

/**
 * The pub/sub connection. It queues its SUBSCRIBE until connected and re-subscribes after every
 * reconnect (ioredis' autoResubscribe), so listeners survive an outage.
 */
export function subscriberClient(url: string, opts: ClientOptions): Redis {
  return new Redis(url, {
    enableOfflineQueue: true,
    connectTimeout: opts.connectTimeoutMs,
    maxRetriesPerRequest: null,
    retryStrategy: (times: number) => Math.min(50 * times, 1000),
    autoResubscribe: true,
    disconnectTimeout: 200,
  } satisfies RedisOptions);
}

/**
 * Resolves undefined once `client` is ready; the error at its first connection failure (a refused
 * port is known at once) or after `ms`. Either way the client keeps reconnecting in the background.
 */
export function waitReady(client: Redis, ms: number): Promise<Error | undefined> {
  if (client.status === 'ready') return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const done = (err: Error | undefined): void => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('error', onError);
      resolve(err);
    };
    const onReady = (): void => done(undefined);
    const onError = (err: Error): void => done(err);
    const timer = setTimeout(() => done(new Error(`Redis not ready after ${ms} ms`)), ms);
    client.on('ready', onReady);
    client.on('error', onError);
  });
}

/** Disconnect politely if Redis answers within `ms`, else drop the socket. */
export async function closeClient(client: Redis, ms: number): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') await settledWithin(client.quit().then(() => undefined, () => undefined), ms);
  client.disconnect();
}

/** Waits for `p` to settle, or `ms` at most, whichever comes first (the timer keeps no process alive). */
export function settledWithin(p: Promise<void>, ms: number): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms).unref();
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/**
 * Runs a Lua script by SHA (`EVALSHA`), loading it with `EVAL` the first time a server answers
 * NOSCRIPT (after a restart or `SCRIPT FLUSH`), so the full source is sent once, not every call.
 */
export class Script {
  readonly #source: string;
  readonly #sha: string;

  constructor(source: string) {
    this.#source = source;
    this.#sha = createHash('sha1').update(source).digest('hex');
  }

  async run(client: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await client.evalsha(this.#sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.includes('NOSCRIPT')) throw err;
      return client.eval(this.#source, keys.length, ...keys, ...args);
    }
  }
}
