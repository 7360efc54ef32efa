/**
 * The state in process memory (`state: memory`, and the Redis adapter's fallback). Contracts are on
 * the interfaces in types.ts. Counters and breakers are exported for `StatePersister`, which writes
 * them to the store so they survive a restart (SPEC §6); see `exportCounters` for what is kept.
 */
import { systemClock, type Clock } from '../core/clock.ts';
import type {
  BreakerState, DayResult, DayState, Immediate, ImmediateLimits, InflightResult, InflightState, RateAcquireOptions,
  RateResult, RateState, RoundRobinState, State, StateHealth,
} from './types.ts';
import { bucketExpiry, bucketOf, bucketWidth, decide, oldestCounted, units } from './window.ts';
import { BreakerTable, type PersistedBreaker } from './memory-breakers.ts';

export type { PersistedBreaker } from './memory-breakers.ts';

const DAY_TTL_MS = 2 * 86_400_000;
const RR_TTL_MS = 86_400_000;

/** One persisted counter; same shape as the store's `CounterEntry`. */
export interface PersistedCounter {
  key: string;
  value: number;
  expiresAt: number;
}

interface RateEntry {
  windowMs: number;
  buckets: Map<number, number>;
  /** The sum of `buckets`, and their oldest bucket (Infinity: none): a window with nothing expired is read without a walk. */
  total: number;
  min: number;
  /** The bucket whose counter id is in the dirty set of generation `dirtyGen` (its id is not built again). */
  dirtyBucket: number;
  dirtyGen: number;
}

interface Expiring {
  value: number;
  expiresAt: number;
}

export interface MemoryStateOptions {
  clock?: Clock;
  /** How often expired entries are swept out (they are also ignored on read). Default 30 000. */
  sweepMs?: number;
}

export class MemoryState implements State {
  readonly rate: RateState;
  readonly day: DayState;
  readonly inflight: InflightState;
  readonly immediate: ImmediateLimits;
  readonly breakers: BreakerState & BreakerTable;
  readonly rr: RoundRobinState;
  readonly #clock: Clock;
  readonly #rates = new Map<string, RateEntry>();
  readonly #days = new Map<string, Expiring>();
  readonly #rr = new Map<string, Expiring>();
  readonly #leases = new Map<string, Map<string, number>>();
  /** Persisted-counter keys changed since the last `exportCounters`. */
  #dirty = new Set<string>();
  /** Bumped whenever `#dirty` is handed out and replaced. */
  #dirtyGen = 0;
  #leaseSeq = 0;
  #sweeper: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(opts: MemoryStateOptions = {}) {
    this.#clock = opts.clock ?? systemClock;
    this.breakers = new BreakerTable(() => this.#now());
    // Every operation refuses once the state is closed, also one given its own `now` (the limiter
    // passes the request's time, so `#now()` alone let a closed state go on admitting).
    const rate: Immediate<RateState> = {
      acquire: (key, o) => (this.#open(), this.#rateAcquire(key, o)),
      peek: (key, windowMs, now) => (this.#open(), Math.max(0, this.#rateWindow(key, windowMs, now ?? this.#now()).total)),
      add: (key, amount, windowMs, now) => (this.#open(), this.#rateAdd(key, units(amount), windowMs, now ?? this.#now())),
    };
    const day: Immediate<DayState> = {
      acquire: (key, o) => (this.#open(), this.#dayAcquire(key, o.day, o.limit, units(o.cost))),
      add: (key, d, amount) => (this.#open(), this.#dayAcquire(key, d, -1, units(amount)).count),
      get: (key, d) => (this.#open(), this.#live(this.#days, `${d}|${key}`)?.value ?? 0),
    };
    const inflight: Immediate<InflightState> = {
      acquire: (key, limit, ttlMs) => (this.#open(), this.#inflightAcquire(key, limit, ttlMs)),
      release: (key, lease) => (this.#open(), this.#inflightRelease(key, lease)),
      count: (key) => (this.#open(), this.#leasesOf(key).size),
    };
    this.immediate = { rate, day, inflight };
    // The asynchronous interface answers through the immediate one (a throw becomes a rejection).
    this.rate = {
      acquire: async (key, o) => rate.acquire(key, o),
      peek: async (key, windowMs, now) => rate.peek(key, windowMs, now),
      add: async (key, amount, windowMs, now) => rate.add(key, amount, windowMs, now),
    };
    this.day = {
      acquire: async (key, o) => day.acquire(key, o),
      add: async (key, d, amount) => day.add(key, d, amount),
      get: async (key, d) => day.get(key, d),
    };
    this.inflight = {
      acquire: async (key, limit, ttlMs) => inflight.acquire(key, limit, ttlMs),
      release: async (key, lease) => inflight.release(key, lease),
      count: async (key) => inflight.count(key),
    };
    this.rr = { next: (key) => this.#rrNext(key) };
    this.#sweeper = setInterval(() => this.sweep(), opts.sweepMs ?? 30_000);
    this.#sweeper.unref();
  }

  health(): StateHealth {
    return { backend: 'memory', degraded: false };
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  #open(): void {
    if (this.#closed) throw new Error('the memory state is closed');
  }

  #now(): number {
    this.#open();
    return this.#clock.now();
  }

  /** A window's entry, its buckets pruned to those still counted (`total` is then their sum). */
  #rateWindow(key: string, windowMs: number, now: number): RateEntry {
    let entry = this.#rates.get(key);
    if (!entry || entry.windowMs !== windowMs) {
      entry = { windowMs, buckets: new Map(), total: 0, min: Infinity, dirtyBucket: NaN, dirtyGen: -1 };
      this.#rates.set(key, entry);
    }
    const oldest = oldestCounted(now, windowMs, bucketWidth(windowMs));
    if (entry.min < oldest) {
      // Something left the window: prune, and sum what is left (buckets may hold negative amounts).
      let total = 0;
      let min = Infinity;
      for (const [b, v] of entry.buckets) {
        if (b < oldest) entry.buckets.delete(b);
        else {
          total += v;
          if (b < min) min = b;
        }
      }
      entry.total = total;
      entry.min = min;
    }
    return entry;
  }

  #bucketAdd(entry: RateEntry, bucket: number, amount: number): void {
    entry.buckets.set(bucket, (entry.buckets.get(bucket) ?? 0) + amount);
    entry.total += amount;
    if (bucket < entry.min) entry.min = bucket;
  }

  #rateAcquire(key: string, o: RateAcquireOptions): RateResult {
    const now = o.now ?? this.#now();
    const cost = units(o.cost);
    const entry = this.#rateWindow(key, o.windowMs, now);
    const total = Math.max(0, entry.total);
    // The buckets are listed only when the answer is no (to tell when one fits again).
    if (o.limit >= 0 && total + cost > o.limit) {
      const d = decide([...entry.buckets], total, now, { limit: o.limit, windowMs: o.windowMs, cost });
      if (!d.ok) return { ok: false, count: total, retryAfterMs: d.retryAfterMs };
    }
    return { ok: true, count: this.#rateCount(key, entry, total, cost, o.windowMs, now), retryAfterMs: 0 };
  }

  #rateAdd(key: string, amount: number, windowMs: number, now: number): number {
    const entry = this.#rateWindow(key, windowMs, now);
    return this.#rateCount(key, entry, Math.max(0, entry.total), amount, windowMs, now);
  }

  /** Add `amount` to the current bucket of a window whose counted total is `total`. */
  #rateCount(key: string, entry: RateEntry, total: number, amount: number, windowMs: number, now: number): number {
    const bucket = bucketOf(now, bucketWidth(windowMs));
    this.#bucketAdd(entry, bucket, amount);
    if (entry.dirtyBucket !== bucket || entry.dirtyGen !== this.#dirtyGen) {
      this.#dirty.add(`rate|${windowMs}|${bucket}|${key}`);
      entry.dirtyBucket = bucket;
      entry.dirtyGen = this.#dirtyGen;
    }
    return Math.max(0, total + amount);
  }

  #dayAcquire(key: string, day: string, limit: number, cost: number): DayResult {
    const id = `${day}|${key}`;
    const current = this.#live(this.#days, id)?.value ?? 0;
    if (limit >= 0 && current + cost > limit) return { ok: false, count: current };
    const value = Math.max(0, current + cost);
    this.#days.set(id, { value, expiresAt: this.#now() + DAY_TTL_MS });
    this.#dirty.add(`day|${id}`);
    return { ok: true, count: value };
  }

  #leasesOf(key: string): Map<string, number> {
    const now = this.#now();
    let leases = this.#leases.get(key);
    if (!leases) {
      leases = new Map();
      this.#leases.set(key, leases);
    }
    for (const [id, until] of leases) if (until <= now) leases.delete(id);
    return leases;
  }

  #inflightAcquire(key: string, limit: number, ttlMs: number): InflightResult {
    const leases = this.#leasesOf(key);
    if (limit >= 0 && leases.size >= limit) return { ok: false, count: leases.size, lease: null };
    // The `m` prefix matters: the Redis adapter routes `release` of fallback leases by it.
    const lease = `m${++this.#leaseSeq}`;
    leases.set(lease, this.#now() + ttlMs);
    return { ok: true, count: leases.size, lease };
  }

  #inflightRelease(key: string, lease: string): number {
    const leases = this.#leasesOf(key);
    leases.delete(lease);
    if (leases.size === 0) this.#leases.delete(key);
    return leases.size;
  }

  #rrNext(key: string): number {
    const value = this.#live(this.#rr, key)?.value ?? 0;
    this.#rr.set(key, { value: value + 1, expiresAt: this.#now() + RR_TTL_MS });
    this.#dirty.add(`rr|${key}`);
    return value;
  }

  #live(map: Map<string, Expiring>, id: string): Expiring | undefined {
    const e = map.get(id);
    if (e && e.expiresAt <= this.#now()) {
      map.delete(id);
      return undefined;
    }
    return e;
  }

  /** Drop everything expired; runs on a timer so idle keys do not accumulate. */
  sweep(): void {
    if (this.#closed) return;
    const now = this.#now();
    for (const [key, e] of this.#rates) {
      this.#rateWindow(key, e.windowMs, now);
      if (e.buckets.size === 0) this.#rates.delete(key);
    }
    for (const map of [this.#days, this.#rr]) for (const [id, e] of map) if (e.expiresAt <= now) map.delete(id);
    for (const key of [...this.#leases.keys()]) if (this.#leasesOf(key).size === 0) this.#leases.delete(key);
    this.breakers.sweep();
  }

  /**
   * Counters for the store, as `{key, value, expiresAt}`: rate buckets (`rate|windowMs|bucket|key`),
   * day counters (`day|YYYYMMDD|key`) and round-robin positions (`rr|key`). In-flight leases are not
   * exported: after a restart nothing is in flight. `changedOnly` (the default) returns only what
   * changed since the last call and clears that mark; put entries back with `markDirty` if saving fails.
   */
  exportCounters(changedOnly = true): PersistedCounter[] {
    const now = this.#now();
    const ids = changedOnly ? this.#dirty : this.#allCounterIds();
    if (changedOnly) {
      this.#dirty = new Set();
      this.#dirtyGen++;
    }
    const out: PersistedCounter[] = [];
    for (const id of ids) {
      const e = this.#resolve(id);
      if (e && e.expiresAt > now) out.push({ key: id, value: e.value, expiresAt: e.expiresAt });
    }
    return out;
  }

  markDirty(keys: Iterable<string>): void {
    for (const k of keys) this.#dirty.add(k);
  }

  /** Load counters saved by `exportCounters` (at start, before traffic); unknown keys are ignored. */
  importCounters(entries: readonly PersistedCounter[]): void {
    const now = this.#now();
    for (const { key, value, expiresAt } of entries) {
      if (expiresAt <= now) continue;
      const [kind, a = '', b = ''] = key.split('|', 3);
      if (kind === 'rate') {
        const windowMs = Number(a);
        const name = key.slice(`rate|${a}|${b}|`.length);
        const entry = this.#rateWindow(name, windowMs, now);
        const bucket = Number(b);
        this.#bucketAdd(entry, bucket, value - (entry.buckets.get(bucket) ?? 0));
      } else if (kind === 'day') {
        this.#days.set(key.slice('day|'.length), { value, expiresAt });
      } else if (kind === 'rr') {
        this.#rr.set(key.slice('rr|'.length), { value, expiresAt });
      }
    }
  }

  #resolve(id: string): Expiring | undefined {
    const [kind, a = '', b = ''] = id.split('|', 3);
    if (kind === 'day') return this.#days.get(id.slice('day|'.length));
    if (kind === 'rr') return this.#rr.get(id.slice('rr|'.length));
    if (kind !== 'rate') return undefined;
    const windowMs = Number(a);
    const bucket = Number(b);
    const entry = this.#rates.get(id.slice(`rate|${a}|${b}|`.length));
    const value = entry?.windowMs === windowMs ? entry.buckets.get(bucket) : undefined;
    return value === undefined ? undefined : { value, expiresAt: bucketExpiry(bucket, bucketWidth(windowMs), windowMs) };
  }

  #allCounterIds(): string[] {
    const ids: string[] = [];
    for (const [key, e] of this.#rates) for (const b of e.buckets.keys()) ids.push(`rate|${e.windowMs}|${b}|${key}`);
    for (const id of this.#days.keys()) ids.push(`day|${id}`);
    for (const key of this.#rr.keys()) ids.push(`rr|${key}`);
    return ids;
  }

  /** Breaker snapshots for the store; `version` changes whenever the set does. */
  exportBreakers(): { version: number; entries: PersistedBreaker[] } {
    return this.breakers.export();
  }

  importBreakers(entries: readonly PersistedBreaker[]): void {
    this.breakers.import(entries);
  }
}
