/** Time source, injected so breakers and windows can be tested with a fake clock. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to; for tests. */
export class ManualClock implements Clock {
  #t: number;
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#t = start;
  }
  now(): number {
    return this.#t;
  }
  advance(ms: number): void {
    this.#t += ms;
  }
  set(ms: number): void {
    this.#t = ms;
  }
}

const offsetCache = new Map<string, Intl.DateTimeFormat>();

function formatterFor(tz: string): Intl.DateTimeFormat {
  let f = offsetCache.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    offsetCache.set(tz, f);
  }
  return f;
}

/** Offset of `tz` from UTC at instant `t`, in ms (positive east of Greenwich). */
export function tzOffsetMs(t: number, tz: string): number {
  const parts = formatterFor(tz).formatToParts(new Date(t));
  const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return asUtc - Math.floor(t / 1000) * 1000;
}

/** Per zone: the last computed day and the instants it spans, so the hot path skips Intl. */
const dayCache = new Map<string, { key: string; from: number; to: number }>();

/** The calendar day `t` falls in, in `tz`, as `YYYYMMDD`. Cached per zone: O(1) within a day. */
export function dayKey(t: number, tz: string): string {
  const c = dayCache.get(tz);
  if (c && t >= c.from && t < c.to) return c.key;
  const key = computeDayKey(t, tz);
  const to = nextDayStart(t, tz);
  // The day began at most 24 h (25 on a DST change) before its end; find its start by stepping back.
  const from = nextDayStart(to - 26 * 3_600_000, tz) <= t ? nextDayStart(to - 26 * 3_600_000, tz) : t;
  dayCache.set(tz, { key, from, to });
  return key;
}

function computeDayKey(t: number, tz: string): string {
  const local = new Date(t + tzOffsetMs(t, tz));
  const y = local.getUTCFullYear();
  const m = String(local.getUTCMonth() + 1).padStart(2, '0');
  const d = String(local.getUTCDate()).padStart(2, '0');
  return `${y}${m}${d}`;
}

/** The instant the next calendar day begins in `tz`, after `t`. */
export function nextDayStart(t: number, tz: string): number {
  const off = tzOffsetMs(t, tz);
  const local = t + off;
  const startOfNextLocal = (Math.floor(local / 86_400_000) + 1) * 86_400_000;
  // Offsets can change across the boundary (DST); correct with the offset at the candidate instant.
  const guess = startOfNextLocal - off;
  return startOfNextLocal - tzOffsetMs(guess, tz);
}
