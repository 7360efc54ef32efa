/**
 * The load matrix: every mode × connection count × target, repeated, with the targets
 * alternating inside each repetition (direct, bare, llmux, direct, …) so that drift on a noisy
 * machine hits all of them alike. Each run records the proxy's own CPU time and RSS.
 */
import { runLoad } from './load.ts';
import type { LoadGenerator, LoadResult } from './load.ts';
import type { Mode, Named } from './probes.ts';
import { cpuMicros, NoiseMeter, rssBytes, threadMicros } from './proc.ts';

export interface Plan {
  reps: number;
  durationS: number;
  connections: number[];
  warmupS: number;
  modes: Mode[];
  /** Runs where other processes used at least `maxNoisePct` % CPU are measured again, up to this many times. */
  noiseRetries: number;
  maxNoisePct: number;
}

export interface Cell {
  target: string;
  mode: Mode;
  conns: number;
  rep: number;
  load: LoadResult;
  /** Proxy CPU time per response, µs (NaN for direct). */
  cpuUsPerReq: number;
  /**
   * The part of `cpuUsPerReq` spent in V8's helper threads (`V8Worker`: garbage collection beside the
   * event loop, that is parallel scavenges, concurrent marking and sweeping, and background
   * compilation), µs per response; NaN for direct.
   */
  gcThreadsUsPerReq: number;
  /** Proxy CPU time over wall time, % of one core. */
  cpuPct: number;
  rssAfterMiB: number;
  /** CPU used by processes not of this benchmark during the run, % of one core. */
  noisePct: number;
}

export interface MatrixTarget extends Named {
  /** False once the process has died: its remaining runs are skipped. */
  alive(): boolean;
}

/** The benchmark's own side of a run. */
export interface Harness {
  /** Every process of the benchmark (this one, the upstream, the proxies; the ended wrk runs with this one), for the noise meter. */
  pids: number[];
  generator: LoadGenerator;
}

export function matrixSize(plan: Plan, targets: number): number {
  return plan.reps * plan.modes.length * plan.connections.length * targets;
}

/** One load run of `t`, with the proxy's CPU time, its helper threads' share and its RSS (also for run.ts's probes). */
export async function measure(t: MatrixTarget, mode: Mode, conns: number, durationS: number, body: string, harness: Harness): Promise<Omit<Cell, 'rep'>> {
  const pid = t.pid;
  const noise = new NoiseMeter(harness.pids);
  noise.start();
  const cpu0 = pid ? cpuMicros(pid) : 0;
  const gc0 = pid ? threadMicros(pid, 'V8Worker') : 0;
  const wall0 = performance.now();
  const load = await runLoad({ url: t.url, connections: conns, durationS, body, headers: { ...t.headers, 'content-type': 'application/json' }, generator: harness.generator });
  const wallUs = (performance.now() - wall0) * 1000;
  const cpu = pid ? cpuMicros(pid) - cpu0 : NaN;
  const gc = pid ? threadMicros(pid, 'V8Worker') - gc0 : NaN;
  const noisePct = noise.stop();
  const responses = load.requests + load.non2xx;
  return {
    target: t.name,
    mode,
    conns,
    load,
    cpuUsPerReq: responses > 0 ? cpu / responses : NaN,
    gcThreadsUsPerReq: responses > 0 ? gc / responses : NaN,
    cpuPct: (cpu / wallUs) * 100,
    rssAfterMiB: pid ? rssBytes(pid) / 2 ** 20 : NaN,
    noisePct,
  };
}

/** Short unmeasured runs so every target has warm JIT, pools and sockets before the first sample. */
export async function warmUp(targets: MatrixTarget[], plan: Plan, bodies: Record<Mode, string>, harness: Harness): Promise<void> {
  if (plan.warmupS <= 0) return;
  for (const mode of plan.modes) {
    for (const t of targets) if (t.alive()) await measure(t, mode, 32, plan.warmupS, bodies[mode], harness);
  }
}

function describe(label: string, cell: Omit<Cell, 'rep'>): string {
  const l = cell.load;
  const bad = l.errors + l.non2xx ? `  errors=${l.errors} non2xx=${l.non2xx} ${JSON.stringify(l.statusCodes)}` : '';
  const cpu = Number.isFinite(cell.cpuUsPerReq) ? `  ${cell.cpuUsPerReq.toFixed(0)} µs/req (V8 helper threads ${cell.gcThreadsUsPerReq.toFixed(1)})` : '';
  const noisy = cell.noisePct >= 10 ? `  [other processes used ${cell.noisePct.toFixed(0)} % CPU]` : '';
  return `${label} … ${l.rps.toFixed(0)} req/s  p50 ${l.p50.toFixed(2)} ms  p99 ${l.p99.toFixed(2)} ms${cpu}${bad}${noisy}`;
}

/**
 * Every cell of the plan, repetitions outermost, targets alternating (reversed in even repetitions). `between` runs before each
 * cell (run.ts lines llmux's inter-chunk probe up with its request-log prune there).
 */
export async function runMatrix(targets: MatrixTarget[], plan: Plan, bodies: Record<Mode, string>, harness: Harness, log: (line: string) => void, between?: () => Promise<void>): Promise<Cell[]> {
  const cells: Cell[] = [];
  const total = matrixSize(plan, targets.length);
  let retriesLeft = maxRetries(plan, targets.length);
  let step = 0;
  for (let rep = 1; rep <= plan.reps; rep++) {
    for (const mode of plan.modes) {
      for (const conns of plan.connections) {
        // Odd repetitions in order, even ones reversed (direct, bare, llmux; llmux, bare, direct): a
        // machine that speeds up or slows down over a minute favours no target in the paired ratios.
        for (const t of rep % 2 === 1 ? targets : [...targets].reverse()) {
          step++;
          const label = `[${step}/${total}] ${mode === 'json' ? 'non-stream' : 'stream'} c=${conns} ${t.name}`;
          if (!t.alive()) {
            log(`${label} skipped (process is gone)`);
            continue;
          }
          await between?.();
          let cell = await measure(t, mode, conns, plan.durationS, bodies[mode], harness);
          log(describe(label, cell));
          // Other people's work on a shared machine: measure again (bounded), keep the quietest.
          for (let n = 0; n < plan.noiseRetries && cell.noisePct >= plan.maxNoisePct && retriesLeft > 0 && t.alive(); n++) {
            retriesLeft--;
            const again = await measure(t, mode, conns, plan.durationS, bodies[mode], harness);
            log(describe(`${label} (again, too noisy)`, again));
            if (again.noisePct < cell.noisePct) cell = again;
          }
          cells.push({ ...cell, rep });
        }
      }
    }
  }
  return cells;
}

/** How many noisy runs may be repeated in one matrix: half its size at most. */
export function maxRetries(plan: Plan, targets: number): number {
  return plan.noiseRetries > 0 ? Math.floor(matrixSize(plan, targets) / 2) : 0;
}
