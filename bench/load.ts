/**
 * One load run: wrk (a child process, C, one thread) when it is installed, else autocannon (in this
 * process). wrk is what the issue and shared/reference/proxy-costs.md name: with autocannon, a
 * JavaScript load generator on the upstream's core, that core is the limit of the direct runs (the
 * bare proxy measured faster than a direct call), and the proxies' figures depend on it. Latency
 * percentiles are of the responses themselves: from wrk's histogram with its coordinated-omission
 * samples taken out again (`wrkScript`), from autocannon's per-response times (sub-millisecond;
 * its histogram has 1 ms resolution).
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

/**
 * A Lua long string holding `s` (which holds no carriage return: Lua's long strings turn them into
 * line feeds): its level chosen so that no `]=…]` inside `s`, nor one that `s`'s last characters
 * make with the closing bracket, ends it early.
 */
export function luaString(s: string): string {
  if (s.includes('\r')) throw new Error('luaString: a carriage return would not survive a Lua long string');
  let eq = '';
  while (`${s}]`.includes(`]${eq}]`)) eq += '=';
  // A newline right after the opening bracket is dropped by Lua: this one, never the string's own.
  return `[${eq}[\n${s}]${eq}]`;
}

/**
 * The wrk script of a run. The request: the method, the body read from `bodyFile` (exactly its bytes),
 * the headers (wrk adds Host and Content-Length). `done` prints the figures the report needs as one
 * JSON line. wrk corrects its latency histogram for coordinated omission before `done` sees it
 * (`stats_correct`: for every response slower than twice the mean interval between a connection's
 * requests, made-up samples at that interval below it), which turns one slow response into many and
 * moved the 50th percentile from 0.1 to 2.4 ms on a server that stalled one response in ten (a review
 * measured it): `done` takes those samples out again, exactly as wrk added them, so the percentiles are
 * of the responses, as autocannon's are.
 */
export function wrkScript(spec: Pick<LoadSpec, 'headers' | 'connections'>, bodyFile: string): string {
  const lines = ['wrk.method = "POST"', `local f = assert(io.open(${luaString(bodyFile)}, "rb"))`, 'wrk.body = f:read("*a")', 'f:close()'];
  for (const [k, v] of Object.entries(spec.headers)) lines.push(`wrk.headers[ ${luaString(k)} ] = ${luaString(v)}`);
  lines.push(
    'done = function(summary, latency, requests)',
    `  local conns = ${Math.max(1, Math.floor(spec.connections))}`,
    '  local complete = summary.requests',
    '  local n = #latency',
    '  local vals, counts, at = {}, {}, {}',
    '  for i = 1, n do',
    '    local v, c = latency(i)',
    '    vals[i] = v; counts[i] = c; at[v] = i',
    '  end',
    '  -- wrk 4: stats_correct(latency, duration / (complete / conns)), integer divisions, when complete >= conns',
    '  local per = math.floor(complete / conns)',
    '  if per > 0 then',
    '    local e = math.floor(summary.duration / per)',
    '    if e > 0 then',
    '      for i = n, 1, -1 do',
    '        local v, c = vals[i], counts[i]',
    '        if v >= 2 * e and c > 0 then',
    '          local m = v - e',
    '          while m > e do',
    '            local j = at[m]',
    '            if j then counts[j] = counts[j] - c end',
    '            m = m - e',
    '          end',
    '        end',
    '      end',
    '    end',
    '  end',
    '  local total = 0',
    '  for i = 1, n do total = total + counts[i] end',
    '  local function pct(p)',
    '    local rank = math.floor((p / 100) * total + 0.5 + 0.5)',
    '    local sum = 0',
    '    for i = 1, n do',
    '      sum = sum + counts[i]',
    '      if sum >= rank and counts[i] > 0 then return vals[i] end',
    '    end',
    '    return 0',
    '  end',
    '  local e = summary.errors',
    `  io.write(string.format("\\n${WRK_TAG}{\\"requests\\":%d,\\"durationUs\\":%d,\\"connect\\":%d,\\"read\\":%d,\\"write\\":%d,\\"status\\":%d,\\"timeout\\":%d,\\"p50Us\\":%d,\\"p99Us\\":%d}\\n",`,
    '    complete, summary.duration, e.connect, e.read, e.write, e.status, e.timeout, pct(50), pct(99)))',
    'end',
  );
  return `${lines.join('\n')}\n`;
}

interface WrkFigures {
  /** Responses read in full, every status. */
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

/**
 * The figures of wrk's output (its `done` line, `wrkScript`); throws with the output when there is none.
 * How they differ from autocannon's: wrk tells statuses of 400 or more from the rest (so a 1xx or
 * 3xx counts as a success, which the bench's targets never send), its percentiles include the
 * refused responses, and a response slower than the 10 s timeout counts both as a response and as
 * a timeout.
 */
export function parseWrkReport(stdout: string, stderr = ''): LoadResult {
  const at = stdout.lastIndexOf(WRK_TAG);
  const line = at < 0 ? '' : stdout.slice(at + WRK_TAG.length).split('\n', 1)[0];
  let f: WrkFigures;
  try {
    f = JSON.parse(line ?? '') as WrkFigures;
  } catch {
    const said = `${stdout.trim()}\n${stderr.trim()}`.trim();
    throw new Error(`wrk printed no figures: ${said.slice(-600) || '(nothing)'}`);
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

/** The files written so far (scripts and bodies), by their text: a run reuses a handful; in a folder removed at exit. */
const files = new Map<string, string>();
let fileDir: string | undefined;

function fileOf(text: string, ext: string): string {
  const key = `${ext}\u0000${text}`;
  const known = files.get(key);
  if (known) return known;
  if (!fileDir) {
    const dir = mkdtempSync(join(tmpdir(), 'llmux-wrk-'));
    fileDir = dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  const file = join(fileDir, `${files.size}.${ext}`);
  writeFileSync(file, text);
  files.set(key, file);
  return file;
}

/** Whole seconds, as wrk takes them (at least one): what a run of `seconds` becomes under wrk. */
export function wrkSeconds(seconds: number): number {
  return Math.max(1, Math.round(seconds));
}

/**
 * One wrk run, one thread (it stays on this process's CPU: a child inherits the pinning), whole
 * seconds (`wrkSeconds`). Bounded: wrk stops itself at its duration, and is killed 30 s after it
 * should have. Read once its output has closed, not at its exit, so that no byte of it is missed.
 */
function runWrk(spec: LoadSpec): Promise<LoadResult> {
  const seconds = wrkSeconds(spec.durationS);
  const script = fileOf(wrkScript(spec, fileOf(spec.body, 'json')), 'lua');
  const child = spawnTracked('wrk', 'wrk', ['-t1', `-c${spec.connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', script, spec.url]);
  let out = '';
  let err = '';
  child.proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  child.proc.stderr?.on('data', (d: Buffer) => {
    err += d.toString('utf8');
  });
  const closed = new Promise<void>((resolve) => {
    child.proc.once('close', () => resolve());
    child.proc.once('error', () => resolve());
  });
  const bound = setTimeout(() => child.proc.kill('SIGKILL'), (seconds + 30) * 1000);
  return Promise.all([child.exited, closed]).then(([how]) => {
    clearTimeout(bound);
    if (how !== '0') throw new Error(`wrk ended with ${how}: ${`${out}\n${err}`.trim().slice(-600)}`);
    return parseWrkReport(out, err);
  });
}
