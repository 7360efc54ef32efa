/**
 * The bucketed sliding window (contract on `RateState` in types.ts), as pure functions. The memory
 * adapter calls these; the Redis Lua script in redis/scripts.ts implements the same arithmetic, and
 * the contract suite holds both to the same results.
 */

/** Buckets per window. */
export const WINDOW_BUCKETS = 60;

export function bucketWidth(windowMs: number): number {
  return Math.max(1, Math.ceil(windowMs / WINDOW_BUCKETS));
}

export function bucketOf(t: number, width: number): number {
  return Math.floor(t / width);
}

/** The oldest bucket still counted at `now`: any bucket overlapping (now − windowMs, now]. */
export function oldestCounted(now: number, windowMs: number, width: number): number {
  return Math.floor((now - windowMs) / width);
}

/** The first instant at which `bucket` is no longer counted. */
export function bucketExpiry(bucket: number, width: number, windowMs: number): number {
  return (bucket + 1) * width + windowMs;
}

export interface WindowDecision {
  ok: boolean;
  retryAfterMs: number;
}

/**
 * Whether `cost` fits on top of `total`, and if not, how long until enough buckets expire.
 * `live` holds the counted buckets as [bucket, value] pairs, in any order.
 */
export function decide(
  live: ReadonlyArray<readonly [number, number]>, total: number, now: number,
  opts: { limit: number; windowMs: number; cost: number },
): WindowDecision {
  if (opts.limit < 0 || total + opts.cost <= opts.limit) return { ok: true, retryAfterMs: 0 };
  if (opts.cost > opts.limit) return { ok: false, retryAfterMs: opts.windowMs };
  const width = bucketWidth(opts.windowMs);
  const need = total + opts.cost - opts.limit;
  let freed = 0;
  for (const [bucket, value] of [...live].sort((a, b) => a[0] - b[0])) {
    freed += value;
    if (freed >= need) return { ok: false, retryAfterMs: Math.max(1, bucketExpiry(bucket, width, opts.windowMs) - now) };
  }
  return { ok: false, retryAfterMs: opts.windowMs };
}

/**
 * Costs and amounts are whole units, rounded up (towards +∞): a fraction is never free, and a
 * negative settlement never refunds more than was used.
 */
export function units(n: number | undefined, fallback = 1): number {
  return Math.ceil(n ?? fallback);
}
