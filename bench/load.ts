/**
 * One load run: wrk (a child process, C, one thread) when it is installed, else autocannon (in this
 * process). wrk is what the issue and shared/reference/proxy-costs.md name: with autocannon, a
 * JavaScript load generator on the upstream's core, that core is the limit of the direct runs (the
 * bare proxy measured faster than a direct call), and the proxies' figures depend on it. Latency
 * percentiles: wrk's histogram (microseconds); autocannon's per-response times (sub-millisecond), not
 * its histogram, which has 1 ms resolution.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { spawnTracked } from './children.ts';

export type LoadGenerator = 'wrk' | 'autocannon';

export interface LoadSpec {
  url: string;
  connections: number;
  durationS: number;
  body: string;
  headers: Record<string, string>;
  /** Default autocannon. */
  generator?: LoadGenerator;
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
  return spec.generator === 'wrk' ? runWrk(spec) : runAutocannon(spec);
}

function runAutocannon(spec: LoadSpec): Promise<LoadResult> {
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

/** Whether wrk is on the PATH (and runs). */
export function wrkInstalled(): boolean {
  const r = spawnSync('wrk', ['-v'], { stdio: 'ignore' });
  return r.error === undefined;
}

/** What wrk's script prints when the run is done, on a line of its own after this tag. */
const WRK_TAG = 'LLMUX_WRK ';

/** A Lua long string holding `s` exactly: its level chosen so that no closing bracket inside `s` ends it. */
function luaString(s: string): string {
  let eq = '';
  while (s.includes(`]${eq}]`)) eq += '=';
  // A newline right after the opening bracket is dropped by Lua: this one, never the string's own.
  return `[${eq}[\n${s}]${eq}]`;
}

/**
 * The wrk script of a run: the request (method, body, headers; wrk adds Host and Content-Length) and a
 * `done` that prints the figures the report needs as one JSON line (latency in microseconds).
 */
export function wrkScript(spec: Pick<LoadSpec, 'body' | 'headers'>): string {
  const lines = ['wrk.method = "POST"', `wrk.body = ${luaString(spec.body)}`];
  for (const [k, v] of Object.entries(spec.headers)) lines.push(`wrk.headers[ ${luaString(k)} ] = ${luaString(v)}`);
  lines.push(
    'done = function(summary, latency, requests)',
    '  local e = summary.errors',
    `  io.write(string.format("\\n${WRK_TAG}{\\"requests\\":%d,\\"durationUs\\":%d,\\"connect\\":%d,\\"read\\":%d,\\"write\\":%d,\\"status\\":%d,\\"timeout\\":%d,\\"p50Us\\":%d,\\"p99Us\\":%d}\\n",`,
    '    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout, math.floor(latency:percentile(50)), math.floor(latency:percentile(99))))',
    'end',
  );
  return `${lines.join('\n')}\n`;
}

interface WrkFigures {
  requests: number;
  durationUs: number;
  connect: number;
  read: number;
  write: number;
  /** Responses with a status of 400 or more. */
  status: number;
  timeout: number;
  p50Us: number;
  p99Us: number;
}

/** The figures of wrk's output (its `done` line, `wrkScript`); throws with the output when there is none. */
export function parseWrkReport(stdout: string): LoadResult {
  const at = stdout.lastIndexOf(WRK_TAG);
  const line = at < 0 ? '' : stdout.slice(at + WRK_TAG.length).split('\n', 1)[0];
  let f: WrkFigures;
  try {
    f = JSON.parse(line ?? '') as WrkFigures;
  } catch {
    throw new Error(`wrk printed no figures: ${stdout.trim().slice(-400) || '(nothing)'}`);
  }
  const seconds = f.durationUs / 1e6;
  const ok = f.requests - f.status;
  return {
    requests: ok,
    seconds,
    rps: seconds > 0 ? ok / seconds : 0,
    p50: f.p50Us / 1000,
    p99: f.p99Us / 1000,
    errors: f.connect + f.read + f.write + f.timeout,
    non2xx: f.status,
    statusCodes: f.status > 0 ? { '400-599': f.status } : {},
  };
}

/** The scripts written so far, by their text (a run reuses a handful), in a folder removed at exit. */
const scripts = new Map<string, string>();
let scriptDir: string | undefined;

function scriptFile(text: string): string {
  const known = scripts.get(text);
  if (known) return known;
  if (!scriptDir) {
    const dir = mkdtempSync(join(tmpdir(), 'llmux-wrk-'));
    scriptDir = dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  const file = join(scriptDir, `run-${scripts.size}.lua`);
  writeFileSync(file, text);
  scripts.set(text, file);
  return file;
}

/**
 * One wrk run, one thread (it stays on this process's CPU: a child inherits the pinning). wrk takes
 * whole seconds: a shorter run is rounded up to one. Bounded: wrk stops itself at its duration, and is
 * killed 30 s after it should have.
 */
function runWrk(spec: LoadSpec): Promise<LoadResult> {
  const seconds = Math.max(1, Math.round(spec.durationS));
  const file = scriptFile(wrkScript(spec));
  const child = spawnTracked('wrk', 'wrk', ['-t1', `-c${spec.connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', file, spec.url]);
  let out = '';
  child.proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  const bound = setTimeout(() => child.proc.kill('SIGKILL'), (seconds + 30) * 1000);
  return child.exited.then((how) => {
    clearTimeout(bound);
    if (how !== '0') throw new Error(`wrk ended with ${how}: ${child.tail().trim().slice(-400)}`);
    return parseWrkReport(out);
  });
}
