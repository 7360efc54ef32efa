/**
 * Per-endpoint limits over the shared state (memory, or Redis across instances): rpm and tpm over a
 * sliding 60 s, rpd and tpd per calendar day in `server.timezone`, concurrency as leased in-flight
 * slots. Endpoints without limits never touch the state (no Redis round trip on the hot path); every
 * admitted request is also counted locally for display.
 */
import type { Clock } from '../core/clock.ts';
import { dayKey, nextDayStart } from '../core/clock.ts';
import type { DayResult, DayState, InflightResult, InflightState, RateResult, RateState, State } from '../state/types.ts';
import { MemoryLimiter } from './memory-limiter.ts';
import type { EndpointLimiter, LimitDenied, LimitedEndpoint, LimitPermit } from './types.ts';

type Limits = LimitedEndpoint['provider']['limits'];

const minute = 60_000;
/** A crashed instance's in-flight slots come back after this long. */
const leaseTtlMs = 10 * 60_000;

const limited = (v: number | null | undefined): v is number => typeof v === 'number' && v > 0;

function ignore(): void {}

export function hasLimits(l: Limits): boolean {
  return limited(l.rpm) || limited(l.rpd) || limited(l.tpm) || limited(l.tpd) || limited(l.concurrency);
}

/** What a limit check answers: a permit, or when to try again. */
type Admission = LimitPermit | LimitDenied;

/**
 * Admit one request under `limits` at `key` (an endpoint or a client key). Answers a permit whose
 * `settle(tokens)` records tokens and frees the slot, or when it can be tried again. With a state
 * that answers in process (`state.immediate`: memory) the answer comes at once, without a promise
 * (and what the state throws is thrown here: a closed state, an unknown timezone); with Redis it is
 * a promise. Callers treat both alike by awaiting only a promise inside an async function.
 */
export function admit(state: State, key: string, l: Limits, now: number, timezone: string, onSettled?: () => void): Admission | Promise<Admission> {
  return drive(admitSteps(state, state.immediate ?? state, key, l, now, timezone, onSettled));
}

/** An interface whose operations answer either at once or by promise (`Immediate`'s counterpart). */
type Either<T> = { [K in keyof T]: T[K] extends (...args: infer A) => Promise<infer R> ? (...args: A) => R | Promise<R> : never };

/** The limiter's view of either interface: the state's asynchronous one, or its `immediate` one. */
interface LimitOps {
  rate: Either<RateState>;
  day: Either<DayState>;
  inflight: Either<InflightState>;
}

/** A subject's keys in the state, made once per subject: no string built and hashed per request. */
interface StateKeys {
  readonly tpd: string;
  readonly tpm: string;
  readonly rpd: string;
  readonly rpm: string;
  readonly conc: string;
}

const keyCache = new Map<string, StateKeys>();
/** Subjects are endpoints and client keys: a few hundred. The bound only guards against churn. */
const keyCacheMax = 10_000;

function stateKeys(key: string): StateKeys {
  let k = keyCache.get(key);
  if (k === undefined) {
    if (keyCache.size >= keyCacheMax) keyCache.clear();
    k = { tpd: `tpd:${key}`, tpm: `tpm:${key}`, rpd: `rpd:${key}`, rpm: `rpm:${key}`, conc: `conc:${key}` };
    keyCache.set(key, k);
  }
  return k;
}

/**
 * The checks of `admit`, in order. Each state operation is yielded and its answer comes back from
 * `drive`, awaited only when it is a promise. Settling goes through `state`'s asynchronous
 * interface: it is bookkeeping after the answer, and its failures are the adapter's to report.
 */
function* admitSteps(state: State, ops: LimitOps, key: string, l: Limits, now: number, timezone: string, onSettled?: () => void): Generator<unknown, Admission, unknown> {
  const day = dayKey(now, timezone);
  const k = stateKeys(key);
  if (limited(l.tpd) && ((yield ops.day.get(k.tpd, day)) as number) >= l.tpd) return { ok: false, retryAt: nextDayStart(now, timezone), reason: 'tpd' };
  if (limited(l.tpm) && ((yield ops.rate.peek(k.tpm, minute, now)) as number) >= l.tpm) {
    // Full: ask the window when one token fits again. A denied acquire changes nothing; one that
    // raced with tokens leaving the window took a token, given back at once.
    const r = (yield ops.rate.acquire(k.tpm, { limit: l.tpm, windowMs: minute, cost: 1, now })) as RateResult;
    if (!r.ok) return { ok: false, retryAt: now + Math.max(r.retryAfterMs, 100), reason: 'tpm' };
    yield ops.rate.add(k.tpm, -1, minute, now);
  }
  // What to give back when a later limit refuses: rpd when rpm or concurrency does, and rpm when
  // concurrency does (a refused request must not use up the window).
  let tookDay = false;
  let tookMinute = false;
  if (limited(l.rpd)) {
    const r = (yield ops.day.acquire(k.rpd, { day, limit: l.rpd, cost: 1 })) as DayResult;
    if (!r.ok) return { ok: false, retryAt: nextDayStart(now, timezone), reason: 'rpd' };
    tookDay = true;
  }
  if (limited(l.rpm)) {
    const r = (yield ops.rate.acquire(k.rpm, { limit: l.rpm, windowMs: minute, cost: 1, now })) as RateResult;
    if (!r.ok) {
      if (tookDay) yield ops.day.add(k.rpd, day, -1);
      return { ok: false, retryAt: now + Math.max(r.retryAfterMs, 100), reason: 'rpm' };
    }
    tookMinute = true;
  }
  let lease: string | null = null;
  if (limited(l.concurrency)) {
    const r = (yield ops.inflight.acquire(k.conc, l.concurrency, leaseTtlMs)) as InflightResult;
    if (!r.ok) {
      if (tookDay) yield ops.day.add(k.rpd, day, -1);
      if (tookMinute) yield ops.rate.add(k.rpm, -1, minute, now);
      return { ok: false, retryAt: now + 1_000, reason: 'concurrency' };
    }
    lease = r.lease;
  }
  let settled = false;
  return {
    ok: true,
    settle(tokens: number): void {
      if (settled) return;
      settled = true;
      onSettled?.();
      // (Most requests have nothing to settle: no promise is made for them.)
      if (lease !== null) state.inflight.release(k.conc, lease).catch(ignore);
      if (tokens > 0 && limited(l.tpm)) state.rate.add(k.tpm, tokens, minute).catch(ignore);
      if (tokens > 0 && limited(l.tpd)) state.day.add(k.tpd, dayKey(Date.now(), timezone), tokens).catch(ignore);
    },
  };
}

/**
 * Run steps that yield answers or promises of them: synchronously while the answers are plain
 * values, and from the first promise on as an async continuation (a rejection is thrown into the
 * steps, as an `await` would). A step that throws before any promise throws here.
 */
export function drive<T>(steps: Generator<unknown, T, unknown>): T | Promise<T> {
  let r = steps.next();
  while (!r.done) {
    if (isThenable(r.value)) return driveAsync(steps, r.value);
    r = steps.next(r.value);
  }
  return r.value;
}

/** A promise, native or not (an adapter's client library may use its own). */
function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

async function driveAsync<T>(steps: Generator<unknown, T, unknown>, first: PromiseLike<unknown>): Promise<T> {
  let pending: unknown = first;
  for (;;) {
    let r: IteratorResult<unknown, T>;
    try {
      r = steps.next(await pending);
    } catch (e) {
      // Thrown by the awaited promise, or by the steps themselves (then they are done and rethrow it).
      r = steps.throw(e);
    }
    if (r.done) return r.value;
    pending = r.value;
  }
}

/** The shared counters of one limited endpoint as last read from the state. */
interface SharedUsage {
  rpm: number;
  rpd: number;
  tpm: number;
  tpd: number;
  day: string;
  at: number;
}

/** How long a read of the shared sliding windows is shown before it counts as stale. */
const sharedFreshMs = 2_000;

export class StateLimiter implements EndpointLimiter {
  readonly #state: State;
  readonly #local: MemoryLimiter;
  readonly #tz: () => string;
  readonly #shared = new Map<string, SharedUsage>();
  /** Reads in progress by endpoint id, so concurrent callers share one. */
  readonly #reading = new Map<string, Promise<void>>();

  constructor(state: State, clock: Clock, timezone: () => string) {
    this.#state = state;
    this.#tz = timezone;
    this.#local = new MemoryLimiter(clock, timezone());
  }

  acquire(ep: LimitedEndpoint, now: number): Admission | Promise<Admission> {
    this.#local.timezone = this.#tz();
    const l = ep.provider.limits;
    if (!hasLimits(l)) return this.#local.acquire(ep, now);
    // At once with the memory state; a promise with Redis.
    const r = admit(this.#state, ep.id, l, now, this.#tz());
    return r instanceof Promise ? r.then((a) => this.#counted(ep, a, now)) : this.#counted(ep, r, now);
  }

  #counted(ep: LimitedEndpoint, r: Admission, now: number): Admission {
    if (!r.ok) return r;
    // Count locally too, for display (unlimited view of the same endpoint).
    const local = this.#local.acquire({ id: ep.id, provider: { limits: {} } }, now);
    return {
      ok: true,
      settle(tokens: number, at?: number): void {
        r.settle(tokens);
        if (local.ok) local.settle(tokens, at);
      },
    };
  }

  /**
   * What this instance counted, raised to the shared counters last read from the state: those hold
   * every instance's requests and, with `state: memory`, the ones restored after a restart. The day
   * counters hold for the day they were read; the sliding windows for `sharedFreshMs`. A stale read
   * starts a new one in the background for the next call.
   */
  usage(ep: LimitedEndpoint, now: number): { rpm: number; rpd: number; tpm: number; tpd: number; inflight: number } {
    const local = this.#local.usage(ep, now);
    if (!hasLimits(ep.provider.limits)) return local;
    const s = this.#shared.get(ep.id);
    if (!s || now - s.at > sharedFreshMs) void this.refresh([ep], now);
    if (!s) return local;
    const today = s.day === dayKey(now, this.#tz());
    const fresh = now - s.at <= sharedFreshMs;
    return {
      rpm: fresh ? Math.max(local.rpm, s.rpm) : local.rpm,
      tpm: fresh ? Math.max(local.tpm, s.tpm) : local.tpm,
      rpd: today ? Math.max(local.rpd, s.rpd) : local.rpd,
      tpd: today ? Math.max(local.tpd, s.tpd) : local.tpd,
      inflight: local.inflight,
    };
  }

  async refresh(eps: readonly LimitedEndpoint[], now: number): Promise<void> {
    await Promise.all(eps.filter((ep) => hasLimits(ep.provider.limits)).map((ep) => {
      let p = this.#reading.get(ep.id);
      if (!p) {
        p = this.#read(ep.id, now).finally(() => this.#reading.delete(ep.id));
        this.#reading.set(ep.id, p);
      }
      return p;
    }));
  }

  async #read(id: string, now: number): Promise<void> {
    const day = dayKey(now, this.#tz());
    const k = stateKeys(id);
    try {
      const [rpm, rpd, tpm, tpd] = await Promise.all([
        this.#state.rate.peek(k.rpm, minute, now),
        this.#state.day.get(k.rpd, day),
        this.#state.rate.peek(k.tpm, minute, now),
        this.#state.day.get(k.tpd, day),
      ]);
      this.#shared.set(id, { rpm, rpd, tpm, tpd, day, at: now });
    } catch {
      // Display only: the state adapter reports its own outages; keep the last read.
    }
  }
}
