/**
 * Runtime state shared by the gateway's instances (SPEC §6, §11): limiter windows, day counters,
 * in-flight slots, breaker snapshots and round-robin positions. Two adapters: `MemoryState` (one
 * process; persisted to the store by `StatePersister`) and `RedisState` (every instance on the same
 * Redis sees the same numbers; atomic Lua scripts, Redis's clock, a TTL on every key).
 * `test/contract/state.test.ts` runs one suite against both.
 *
 * Limits everywhere: a negative limit means unlimited (the call is counted and always ok); 0 means
 * nothing is ever admitted. Costs and amounts are integers (rounded up, towards +∞, when not).
 * No method rejects because Redis is down: the Redis adapter answers from an in-process fallback
 * instead (see `StateHealth`). They reject only after `close()`.
 */

/** pino-compatible; only `warn` is required. */
export interface StateLogger {
  warn(obj: object, msg: string): void;
  info?(obj: object, msg: string): void;
}

export interface RateAcquireOptions {
  limit: number;
  windowMs: number;
  /** Units this call takes: 1 for a request (RPM), the estimated tokens for TPM. Default 1. */
  cost?: number;
  /** Memory adapter only (tests with a fake clock); Redis always uses its own `TIME`. */
  now?: number;
}

export interface RateResult {
  ok: boolean;
  /** The window's total after this call (including `cost` when ok, excluding it when not). */
  count: number;
  /**
   * 0 when ok. Otherwise how long until enough of the window has expired for this cost to fit;
   * when the cost alone exceeds the limit (it can never fit), `windowMs`.
   */
  retryAfterMs: number;
}

/**
 * Sliding-window counters. The window is split into 60 buckets (1 s each for a 60 s window) and an
 * admission counts every bucket that overlaps the last `windowMs`, so the count never misses a
 * unit that happened within the window: **no window of `windowMs` ever holds more than `limit`
 * admitted units**, across any number of instances (the check and the increment are one atomic
 * step). The price of that guarantee: a unit is counted for up to one bucket (1/60 of the window)
 * longer than an exact sliding log would, so admission can resume up to 1 s late in a 60 s window.
 * We chose this over a sliding log because its memory and time per call are bounded (≤ 61
 * buckets), whatever the rate; and over the two-bucket estimate, because that one can admit more
 * than `limit` when traffic bunches at the end of a window. Use one `windowMs` per key.
 */
export interface RateState {
  /** Admit `cost` units if the window has room; otherwise change nothing. */
  acquire(key: string, opts: RateAcquireOptions): Promise<RateResult>;
  /** The window's current total. */
  peek(key: string, windowMs: number, now?: number): Promise<number>;
  /**
   * Add `amount` (may be negative) to the current bucket without a limit check: settles the tokens
   * actually used after an estimate was acquired. The total never reads below 0. Resolves the new total.
   */
  add(key: string, amount: number, windowMs: number, now?: number): Promise<number>;
}

export interface DayAcquireOptions {
  /** The calendar day as `YYYYMMDD`, computed by the caller in `server.timezone` (core/clock.ts `dayKey`). */
  day: string;
  limit: number;
  /** Default 1. */
  cost?: number;
}

export interface DayResult {
  ok: boolean;
  /** The day's total after this call (including `cost` only when ok). */
  count: number;
}

/** Calendar-day counters (RPD, TPD, daily budgets). Each day's counter expires 2 days after its last write. */
export interface DayState {
  acquire(key: string, opts: DayAcquireOptions): Promise<DayResult>;
  /** Add without a check (settling tokens); never reads below 0. Resolves the new total. */
  add(key: string, day: string, amount: number): Promise<number>;
  /** 0 for a day never counted (or expired). */
  get(key: string, day: string): Promise<number>;
}

export interface InflightResult {
  ok: boolean;
  /** Slots held after this call. */
  count: number;
  /** Pass to `release`; null when not ok. */
  lease: string | null;
}

/**
 * In-flight slots (concurrency limits). Each slot is a lease that expires by itself after `ttlMs`,
 * so slots held by a crashed instance come back without anyone releasing them. Choose `ttlMs`
 * above the longest request (deadline plus shutdown grace).
 */
export interface InflightState {
  acquire(key: string, limit: number, ttlMs: number): Promise<InflightResult>;
  /** Give a slot back; releasing an unknown or expired lease is a no-op. Resolves the slots still held. */
  release(key: string, lease: string): Promise<number>;
  /** Slots held now (for least-busy balancing and /debug/concurrency). */
  count(key: string): Promise<number>;
}

/**
 * Breaker snapshots by endpoint id. The snapshot is an opaque string (JSON owned by health/).
 * An entry vanishes after its `ttlMs`; an expiry does not fire `onChange`.
 */
export interface BreakerState {
  get(endpointId: string): Promise<string | undefined>;
  set(endpointId: string, snapshot: string, ttlMs: number): Promise<void>;
  delete(endpointId: string): Promise<void>;
  getAll(): Promise<Map<string, string>>;
  /**
   * Called after every `set`/`delete`, from this instance or (Redis) any other, within about a
   * second; `snapshot` is undefined for a delete. Returns the unsubscribe function. A listener
   * that throws is ignored.
   */
  onChange(listener: (endpointId: string, snapshot: string | undefined) => void): () => void;
}

export interface RoundRobinState {
  /** 0, 1, 2, … per key, atomically across instances; the caller takes it modulo its list. */
  next(key: string): number | Promise<number>;
}

export interface StateHealth {
  backend: 'memory' | 'redis';
  /** True while the Redis adapter answers from its in-process fallback. */
  degraded: boolean;
}

/** The same operations answered at once: each method returns its promise's value instead. */
export type Immediate<T> = { [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => R : never };

/**
 * The limiter's operations of an adapter that holds them in process (memory), answered without a
 * promise: limits checked on the request path cost no microtask then. Same contracts as the
 * asynchronous interfaces; the asynchronous ones answer through these.
 */
export interface ImmediateLimits {
  readonly rate: Immediate<RateState>;
  readonly day: Immediate<DayState>;
  readonly inflight: Immediate<InflightState>;
}

export interface State {
  readonly rate: RateState;
  readonly day: DayState;
  readonly inflight: InflightState;
  /** Present when the adapter answers limits in process (memory; not Redis, whose fallback is per call). */
  readonly immediate?: ImmediateLimits;
  readonly breakers: BreakerState;
  readonly rr: RoundRobinState;
  health(): StateHealth;
  /** Release timers and connections. Idempotent. */
  close(): Promise<void>;
}
