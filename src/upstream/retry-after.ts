/**
 * How long an upstream asks us to wait, from its headers: `retry-after-ms` (float ms), `retry-after`
 * (seconds or an HTTP date), `x-ratelimit-reset-requests|tokens` (durations such as `6m0s`, `12ms`,
 * `1.5s`, or epoch seconds). The longest stated wait wins. Returns ms, or undefined when none is given.
 */
type Headers = Record<string, string | string[] | undefined>;

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

const durationPart = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;

/** `6m0s`, `1.5s`, `12ms`, `1h2m` → ms. A bare number is seconds, or epoch seconds if it is large. */
export function parseDuration(s: string, now: number): number | undefined {
  const t = s.trim();
  if (/^\d+(\.\d+)?$/.test(t)) {
    const n = Number(t);
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

export function retryAfterMs(headers: Headers, now: number): number | undefined {
  const waits: number[] = [];
  const ms = first(headers['retry-after-ms']);
  if (ms !== undefined && ms.trim() !== '' && Number.isFinite(Number(ms))) waits.push(Number(ms));
  const ra = first(headers['retry-after']);
  if (ra !== undefined && ra.trim() !== '') {
    const n = Number(ra);
    if (Number.isFinite(n)) waits.push(n * 1000);
    else {
      const d = Date.parse(ra);
      if (!Number.isNaN(d)) waits.push(Math.max(0, d - now));
    }
  }
  for (const h of ['x-ratelimit-reset-requests', 'x-ratelimit-reset-tokens', 'x-ratelimit-reset']) {
    const v = first(headers[h]);
    if (v !== undefined) {
      const d = parseDuration(v, now);
      if (d !== undefined) waits.push(d);
    }
  }
  // A negative value is nonsense, not "retry in the past": it would leave the breaker half-open.
  const valid = waits.filter((w) => w >= 0);
  return valid.length > 0 ? Math.ceil(Math.max(...valid)) : undefined;
}
