/**
 * Failed admin logins per remote address: after `max` wrong keys inside `windowMs`, that address gets
 * 429 until the window ends. In memory and bounded: the oldest entry goes when the map is full, so a
 * flood of addresses cannot grow it without limit (the cost is that such a flood can make the
 * limiter forget an address early — it still never lets more than `max` guesses per window through
 * for an address it remembers).
 */

interface Entry {
  failures: number;
  resetAt: number;
}

export interface LoginLimiterOptions {
  max?: number;
  windowMs?: number;
  maxEntries?: number;
  now?: () => number;
}

export class LoginLimiter {
  readonly max: number;
  readonly windowMs: number;
  readonly maxEntries: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();

  constructor(opts: LoginLimiterOptions = {}) {
    this.max = opts.max ?? 10;
    this.windowMs = opts.windowMs ?? 60_000;
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  /** Seconds until `addr` may try again, or 0 when it may try now. */
  blockedFor(addr: string): number {
    const e = this.#entries.get(addr);
    if (!e) return 0;
    const now = this.#now();
    if (e.resetAt <= now) {
      this.#entries.delete(addr);
      return 0;
    }
    return e.failures >= this.max ? Math.ceil((e.resetAt - now) / 1000) : 0;
  }

  /** Record a wrong key from `addr`. */
  fail(addr: string): void {
    const now = this.#now();
    const e = this.#entries.get(addr);
    if (e && e.resetAt > now) {
      e.failures++;
      return;
    }
    if (e) this.#entries.delete(addr);
    if (this.#entries.size >= this.maxEntries) this.#evict(now);
    this.#entries.set(addr, { failures: 1, resetAt: now + this.windowMs });
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Drop expired entries; if none were, drop the oldest (Map order is insertion order). */
  #evict(now: number): void {
    for (const [k, v] of this.#entries) if (v.resetAt <= now) this.#entries.delete(k);
    if (this.#entries.size < this.maxEntries) return;
    const oldest = this.#entries.keys().next();
    if (!oldest.done) this.#entries.delete(oldest.value);
  }
}

/**
 * The limiter's key for a remote address: IPv4-mapped IPv6 as plain IPv4, other IPv6 by its /64
 * (one host usually owns a whole /64, so counting single addresses there would count nothing).
 */
export function addressKey(addr: string | undefined): string {
  if (!addr) return 'unknown';
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  if (v4) return v4[1]!;
  if (!addr.includes(':')) return addr;
  const [head = '', tail = ''] = addr.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = addr.includes('::') ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right] : left;
  return groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':') + '::/64';
}
