/**
 * How long an upstream asks us to wait, from its headers, in ms (undefined when none says):
 * 1. `retry-after-ms` (float ms), else `retry-after` (seconds or an HTTP date): the server's own
 *    statement about this answer, taken as it is;
 * 2. else the `x-ratelimit-reset-*` of the limit that ran out (`x-ratelimit-remaining-requests: 0`
 *    → `x-ratelimit-reset-requests`; tokens likewise). A reset says when a limit is *full* again,
 *    not when the next request fits: OpenAI sends `x-ratelimit-reset-tokens: 6m0s` next to a
 *    requests 429 that clears in a second, and the longest reset would bench the key for six
 *    minutes. With no limit marked as run out, the shortest reset is used; if that is too soon, the
 *    next 429 says so and extends the breaker (a longer wait always extends, never shortens).
 * Durations look like `6m0s`, `1.5s`, `12ms`, or are epoch seconds.
 */
type Headers = Record<string, string | string[] | undefined>;

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

const durationPart = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;

/** `6m0s`, `1.5s`, `12ms`, `1h2m` → ms. A bare number is seconds, or an epoch (s or ms) if it is large. */
export function parseDuration(s: string, now: number): number | undefined {
  const t = s.trim();
  if (/^\d+(\.\d+)?$/.test(t)) {
    const n = Number(t);
    // Epoch milliseconds (some providers' X-RateLimit-Reset), epoch seconds, or a number of seconds.
    if (n > 1e12) return Math.max(0, n - now);
    return n > 1e9 ? Math.max(0, n * 1000 - now) : n * 1000;
  }
  let total = 0;
  let matched = false;
  for (const m of t.matchAll(durationPart)) {
    matched = true;
    const n = Number(m[1]);
    total += m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n * 3_600_000;
  }
  if (matched) return total;
  const date = Date.parse(t);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** `retry-after-ms`, else `retry-after`: the server's own statement of when to come back. */
export function statedWait(headers: Headers, now: number): number | undefined {
  const ms = first(headers['retry-after-ms'])?.trim();
  if (ms && Number.isFinite(Number(ms)) && Number(ms) >= 0) return Number(ms);
  const ra = first(headers['retry-after'])?.trim();
  if (!ra) return undefined;
  const n = Number(ra);
  if (Number.isFinite(n)) return n >= 0 ? n * 1000 : undefined;
  const d = Date.parse(ra);
  return Number.isNaN(d) ? undefined : Math.max(0, d - now);
}

const resetHeaders: Array<[reset: string, remaining: string]> = [
  ['x-ratelimit-reset-requests', 'x-ratelimit-remaining-requests'],
  ['x-ratelimit-reset-tokens', 'x-ratelimit-remaining-tokens'],
  ['x-ratelimit-reset', 'x-ratelimit-remaining'],
];

export function retryAfterMs(headers: Headers, now: number): number | undefined {
  const stated = statedWait(headers, now);
  if (stated !== undefined) return Math.ceil(stated);
  const resets: number[] = [];
  const exhausted: number[] = [];
  for (const [reset, remaining] of resetHeaders) {
    const v = first(headers[reset]);
    const d = v === undefined ? undefined : parseDuration(v, now);
    // A negative value is nonsense, not "retry in the past": it would leave the breaker half-open.
    if (d === undefined || d < 0) continue;
    resets.push(d);
    if (first(headers[remaining])?.trim() === '0') exhausted.push(d);
  }
  if (exhausted.length > 0) return Math.ceil(Math.max(...exhausted));
  return resets.length > 0 ? Math.ceil(Math.min(...resets)) : undefined;
}
