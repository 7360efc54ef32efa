/**
 * Per-endpoint limits in process memory (SPEC §6): rpm and tpm over a sliding 60 s, rpd and tpd per
 * calendar day in the configured time zone, and concurrency. -1/null: unlimited; 0: the planner has
 * already dropped the endpoint. Tokens are settled after the response (usage).
 */
import type { Clock } from '../core/clock.ts';
import { dayKey, nextDayStart } from '../core/clock.ts';
import type { EndpointLimiter, LimitDenied, LimitedEndpoint, LimitPermit } from './types.ts';

const minute = 60_000;

const bucketMs = 100;
const buckets = minute / bucketMs;

/**
 * Amounts over the last 60 s in 600 buckets of 100 ms: O(1) memory and time whatever the rate (a log
 * of timestamps would hold 600 000 entries at 10 000 req/s). Exact to 100 ms.
 */
export class SlidingWindow {
  #b = new Float64Array(buckets);
  /** Index (in bucket units since the epoch) of the newest bucket. */
  #head = 0;
  #sum = 0;

  #advance(now: number): void {
    const idx = Math.floor(now / bucketMs);
    if (idx <= this.#head) return;
    if (idx - this.#head >= buckets) {
      this.#b.fill(0);
      this.#sum = 0;
    } else {
      for (let i = this.#head + 1; i <= idx; i++) {
        const slot = i % buckets;
        this.#sum -= this.#b[slot]!;
        this.#b[slot] = 0;
      }
    }
    this.#head = idx;
  }

  sum(now: number): number {
    this.#advance(now);
    return this.#sum;
  }

  add(now: number, amount: number): void {
    this.#advance(now);
    this.#b[this.#head % buckets]! += amount;
    this.#sum += amount;
  }

  /** When the sum drops below `limit` if nothing more is added. */
  freeAt(now: number, limit: number): number {
    this.#advance(now);
    let s = this.#sum;
    for (let i = this.#head - buckets + 1; i <= this.#head; i++) {
      s -= this.#b[((i % buckets) + buckets) % buckets]!;
      if (s < limit) return (i + 1) * bucketMs + minute - bucketMs;
    }
    return now + minute;
  }
}

interface Counters {
  rpm: SlidingWindow;
  tpm: SlidingWindow;
  day: string;
  rpd: number;
  tpd: number;
  inflight: number;
}

const limited = (v: number | null | undefined): v is number => typeof v === 'number' && v > 0;

export class MemoryLimiter implements EndpointLimiter {
  readonly clock: Clock;
  timezone: string;
  #c = new Map<string, Counters>();

  constructor(clock: Clock, timezone: string) {
    this.clock = clock;
    this.timezone = timezone;
  }

  #get(id: string, now: number): Counters {
    let c = this.#c.get(id);
    const day = dayKey(now, this.timezone);
    if (!c) {
      c = { rpm: new SlidingWindow(), tpm: new SlidingWindow(), day, rpd: 0, tpd: 0, inflight: 0 };
      this.#c.set(id, c);
    } else if (c.day !== day) {
      c.day = day;
      c.rpd = 0;
      c.tpd = 0;
    }
    return c;
  }

  acquire(ep: LimitedEndpoint, now: number): LimitPermit | LimitDenied {
    const l = ep.provider.limits;
    if (!limited(l.rpm) && !limited(l.rpd) && !limited(l.tpm) && !limited(l.tpd) && !limited(l.concurrency)) {
      return this.#permitUntracked(ep, now);
    }
    const c = this.#get(ep.id, now);
    const dayEnd = (): number => nextDayStart(now, this.timezone);
    if (limited(l.rpd) && c.rpd >= l.rpd) return { ok: false, retryAt: dayEnd(), reason: 'rpd' };
    if (limited(l.tpd) && c.tpd >= l.tpd) return { ok: false, retryAt: dayEnd(), reason: 'tpd' };
    if (limited(l.rpm) && c.rpm.sum(now) >= l.rpm) return { ok: false, retryAt: c.rpm.freeAt(now, l.rpm), reason: 'rpm' };
    if (limited(l.tpm) && c.tpm.sum(now) >= l.tpm) return { ok: false, retryAt: c.tpm.freeAt(now, l.tpm), reason: 'tpm' };
    if (limited(l.concurrency) && c.inflight >= l.concurrency) return { ok: false, retryAt: now + 1000, reason: 'concurrency' };
    return this.#permit(c, now);
  }

  /** No limits: still count usage for display, cheaply. */
  #permitUntracked(ep: LimitedEndpoint, now: number): LimitPermit {
    return this.#permit(this.#get(ep.id, now), now);
  }

  #permit(c: Counters, now: number): LimitPermit {
    c.rpm.add(now, 1);
    c.rpd++;
    c.inflight++;
    let settled = false;
    return {
      ok: true,
      settle: (tokens: number, at?: number) => {
        if (settled) return;
        settled = true;
        c.inflight--;
        if (tokens > 0) {
          c.tpm.add(at ?? this.clock.now(), tokens);
          c.tpd += tokens;
        }
      },
    };
  }

  usage(ep: LimitedEndpoint, now: number): { rpm: number; rpd: number; tpm: number; tpd: number; inflight: number } {
    const c = this.#c.get(ep.id);
    if (!c) return { rpm: 0, rpd: 0, tpm: 0, tpd: 0, inflight: 0 };
    const today = dayKey(now, this.timezone) === c.day;
    return { rpm: c.rpm.sum(now), rpd: today ? c.rpd : 0, tpm: c.tpm.sum(now), tpd: today ? c.tpd : 0, inflight: c.inflight };
  }
}
