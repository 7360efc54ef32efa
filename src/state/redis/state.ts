/**
 * The state in Redis (`state: redis://…`), shared by every gateway instance on it (SPEC §11).
 * Contracts are on the interfaces in ../types.ts; the arithmetic is in ./scripts.ts.
 *
 * Degradation (SPEC fault D1): a request must never wait on a dead Redis. Commands fail within
 * `commandTimeoutMs`, or at once while disconnected; the adapter then answers from an in-process
 * `MemoryState` (limits become per-instance: fail open, but still limited), logs one warning for
 * the outage, and returns to Redis when the connection is ready again (or, if Redis stalled while
 * connected, on the first call after `retryMs` that succeeds). Counts taken meanwhile stay local.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Clock } from '../../core/clock.ts';
import { MemoryState } from '../memory.ts';
import type { DayState, InflightState, RateState, RoundRobinState, State, StateHealth, StateLogger } from '../types.ts';
import { units } from '../window.ts';
import { RedisBreakers, type Call } from './breakers.ts';
import { closeClient, commandClient, Script, settledWithin, subscriberClient, waitReady } from './client.ts';
import { DAY, INFLIGHT, RATE, ROUND_ROBIN } from './scripts.ts';

export interface RedisStateOptions {
  logger?: StateLogger | undefined;
  /** Clock of the fallback memory state. */
  clock?: Clock | undefined;
  /** Prepended to every key and channel. Default `llmux:`. */
  prefix?: string | undefined;
  /** Default 100. */
  commandTimeoutMs?: number | undefined;
  /** How long `openRedisState` waits for the first connection before starting degraded. Default 1000. */
  connectTimeoutMs?: number | undefined;
  /** After a failed command, how long to use the fallback before trying Redis again. Default 1000. */
  retryMs?: number | undefined;
}

const rateScript = new Script(RATE);
const dayScript = new Script(DAY);
const inflightScript = new Script(INFLIGHT);
const rrScript = new Script(ROUND_ROBIN);
const DAY_TTL_S = 2 * 86_400;
const RR_TTL_MS = 86_400_000;
/** Leases taken from Redis start with this; the fallback's start with `m`, so `release` knows where to go. */
const REDIS_LEASE = 'r:';
const MEMORY_LEASE = 'm';

function numbers(reply: unknown): number[] {
  return Array.isArray(reply) ? reply.map((v) => Number(v)) : [];
}

const silent: StateLogger = { warn: () => undefined };

export class RedisState implements State {
  readonly rate: RateState;
  readonly day: DayState;
  readonly inflight: InflightState;
  readonly breakers: RedisBreakers;
  readonly rr: RoundRobinState;
  readonly #client: Redis;
  readonly #sub: Redis;
  /** Settles once Redis has confirmed the breakers' change-channel subscription (or it failed). */
  readonly #subscribed: Promise<void>;
  readonly #fallback: MemoryState;
  readonly #prefix: string;
  readonly #logger: StateLogger;
  readonly #retryMs: number;
  #degraded = false;
  #retryAt = 0;
  #closed = false;

  constructor(url: string, opts: RedisStateOptions = {}) {
    const clientOpts = { commandTimeoutMs: opts.commandTimeoutMs ?? 100, connectTimeoutMs: opts.connectTimeoutMs ?? 1000 };
    this.#client = commandClient(url, clientOpts);
    this.#sub = subscriberClient(url, clientOpts);
    this.#fallback = new MemoryState(opts.clock ? { clock: opts.clock } : {});
    this.#prefix = opts.prefix ?? 'llmux:';
    this.#logger = opts.logger ?? silent;
    this.#retryMs = opts.retryMs ?? 1000;
    // Errors surface per command (and send it to the fallback); without listeners ioredis would
    // print every failed reconnect attempt.
    this.#client.on('error', () => undefined);
    this.#sub.on('error', () => undefined);
    this.#client.on('ready', () => this.#recovered());
    this.#client.on('close', () => {
      if (!this.#closed) this.#degrade(new Error('connection to Redis closed'));
    });
    const call: Call = (remote, local) => this.#call(remote, local);
    this.breakers = new RedisBreakers(call, this.#fallback, this.#prefix);
    this.#subscribed = this.breakers.listen(this.#sub);
    this.rate = this.#rateState(call);
    this.day = this.#dayState(call);
    this.inflight = this.#inflightState(call);
    this.rr = {
      next: (key) => call(async (c) => Number(await rrScript.run(c, [this.#k('rr', key)], [RR_TTL_MS])), async () => this.#fallback.rr.next(key)),
    };
  }

  /** Wait for the first connection; on timeout, start on the fallback (with the one warning). */
  async connect(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    const [err] = await Promise.all([waitReady(this.#client, timeoutMs), waitReady(this.#sub, timeoutMs)]);
    if (err) return this.#degrade(err);
    // A connection is ready before Redis has confirmed the subscription sent on it: a breaker change
    // published by another instance in between would not be heard. Wait for it, within the same time.
    await settledWithin(this.#subscribed, until - Date.now());
  }

  health(): StateHealth {
    return { backend: 'redis', degraded: this.#degraded || this.#client.status !== 'ready' };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([closeClient(this.#client, 200), closeClient(this.#sub, 200), this.#fallback.close()]);
  }

  #k(kind: string, key: string): string {
    return `${this.#prefix}${kind}:${key}`;
  }

  #rateState(call: Call): RateState {
    const run = (key: string, args: (string | number)[]) => (c: Redis) => rateScript.run(c, [this.#k('rate', key)], args).then(numbers);
    return {
      acquire: (key, o) => {
        const cost = units(o.cost);
        return call(
          async (c) => {
            const [ok = 0, count = 0, retryAfterMs = 0] = await run(key, ['acquire', o.limit, o.windowMs, cost])(c);
            return { ok: ok === 1, count, retryAfterMs };
          },
          () => this.#fallback.rate.acquire(key, o),
        );
      },
      peek: (key, windowMs) => call(async (c) => (await run(key, ['peek', -1, windowMs, 0])(c))[1] ?? 0, () => this.#fallback.rate.peek(key, windowMs)),
      add: (key, amount, windowMs) =>
        call(async (c) => (await run(key, ['add', -1, windowMs, units(amount)])(c))[1] ?? 0, () => this.#fallback.rate.add(key, amount, windowMs)),
    };
  }

  #dayState(call: Call): DayState {
    const run = (key: string, day: string, args: (string | number)[]) => (c: Redis) =>
      dayScript.run(c, [this.#k(`day:${day}`, key)], [...args, DAY_TTL_S]).then(numbers);
    return {
      acquire: (key, o) =>
        call(async (c) => {
          const [ok = 0, count = 0] = await run(key, o.day, ['acquire', o.limit, units(o.cost)])(c);
          return { ok: ok === 1, count };
        }, () => this.#fallback.day.acquire(key, o)),
      add: (key, day, amount) =>
        call(async (c) => (await run(key, day, ['add', -1, units(amount)])(c))[1] ?? 0, () => this.#fallback.day.add(key, day, amount)),
      get: (key, day) => call(async (c) => Number((await c.get(this.#k(`day:${day}`, key))) ?? 0), () => this.#fallback.day.get(key, day)),
    };
  }

  #inflightState(call: Call): InflightState {
    const run = (key: string, args: (string | number)[]) => (c: Redis) => inflightScript.run(c, [this.#k('inflight', key)], args).then(numbers);
    return {
      acquire: (key, limit, ttlMs) => {
        const lease = REDIS_LEASE + randomUUID();
        return call(async (c) => {
          const [ok = 0, count = 0] = await run(key, ['acquire', limit, Math.max(1, Math.ceil(ttlMs)), lease])(c);
          return { ok: ok === 1, count, lease: ok === 1 ? lease : null };
        }, () => this.#fallback.inflight.acquire(key, limit, ttlMs));
      },
      release: (key, lease) => {
        // A lease taken while degraded lives in the fallback. A Redis lease that cannot be released
        // now (Redis down) simply expires with its TTL.
        if (lease.startsWith(MEMORY_LEASE)) return this.#fallback.inflight.release(key, lease);
        return call(async (c) => (await run(key, ['release', -1, 0, lease])(c))[1] ?? 0, () => this.#fallback.inflight.count(key));
      },
      count: (key) => call(async (c) => (await run(key, ['count', -1, 0, ''])(c))[1] ?? 0, () => this.#fallback.inflight.count(key)),
    };
  }

  async #call<T>(remote: (client: Redis) => Promise<T>, local: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new Error('the Redis state is closed');
    if (this.#client.status !== 'ready' || (this.#degraded && Date.now() < this.#retryAt)) return local();
    try {
      const value = await remote(this.#client);
      if (this.#degraded) this.#recovered();
      return value;
    } catch (err) {
      this.#degrade(err);
      return local();
    }
  }

  #degrade(err: unknown): void {
    this.#retryAt = Date.now() + this.#retryMs;
    if (this.#degraded) return;
    this.#degraded = true;
    const message = err instanceof Error ? err.message : String(err);
    this.#logger.warn({ err: message, prefix: this.#prefix }, 'state: Redis unavailable; using in-process limits and breakers until it is back');
  }

  #recovered(): void {
    if (!this.#degraded || this.#closed) return;
    this.#degraded = false;
    this.#retryAt = 0;
    this.#logger.info?.({ prefix: this.#prefix }, 'state: Redis is back; shared state resumed');
  }
}

/** Connect (waiting up to `connectTimeoutMs` for the first connection) and return the state. */
export async function openRedisState(url: string, opts: RedisStateOptions = {}): Promise<RedisState> {
  const state = new RedisState(url, opts);
  await state.connect(opts.connectTimeoutMs ?? 1000);
  return state;
}
