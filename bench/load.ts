/**
 * One load run with autocannon, in this process. Latency percentiles come from autocannon's
 * per-response times (sub-millisecond), not from its histogram, which has 1 ms resolution.
 */
import autocannon from 'autocannon';

export interface LoadSpec {
  url: string;
  connections: number;
  durationS: number;
  body: string;
  headers: Record<string, string>;
}

export interface LoadResult {
  /** 2xx responses. */
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  /** Socket errors and timeouts. */
  errors: number;
  non2xx: number;
  statusCodes: Record<string, number>;
}

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
}

export function median(values: number[]): number {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/** Latencies of 2xx responses, in ms, growing without a per-push allocation. */
class Samples {
  data = new Float64Array(1 << 16);
  n = 0;
  push(v: number): void {
    if (this.n === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.n++] = v;
  }
  sorted(): Float64Array {
    return this.data.subarray(0, this.n).sort();
  }
}

export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const lat = new Samples();
    const opts = {
      url: spec.url,
      connections: spec.connections,
      duration: spec.durationS,
      method: 'POST' as const,
      headers: spec.headers,
      body: spec.body,
      timeout: 10,
    };
    const instance = autocannon(opts, (err: unknown, res: autocannon.Result) => {
      if (err) return reject(err instanceof Error ? err : new Error(String(err)));
      const s = lat.sorted();
      const codes: Record<string, number> = {};
      for (const [code, v] of Object.entries(res.statusCodeStats ?? {})) codes[code] = v.count ?? 0;
      resolve({
        requests: res['2xx'],
        seconds: res.duration,
        rps: res['2xx'] / res.duration,
        p50: percentile(s, 50),
        p99: percentile(s, 99),
        errors: res.errors,
        non2xx: res.non2xx,
        statusCodes: codes,
      });
    });
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) lat.push(ms);
    });
  });
}
