/**
 * What the kernel says about a process: CPU time (utime + stime, its threads and descendants
 * included) and resident memory, read from /proc (Linux only).
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';

let ticksPerSecond = 0;

function clockTicks(): number {
  if (ticksPerSecond) return ticksPerSecond;
  try {
    ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    ticksPerSecond = 100;
  }
  return ticksPerSecond;
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

/** Child pids of `pid`, from every thread's `children` file. */
function childrenOf(pid: number): number[] {
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const tid of tids) {
    for (const c of readOr(`/proc/${pid}/task/${tid}/children`, '').split(/\s+/)) if (c) out.push(Number(c));
  }
  return out;
}

/**
 * Two fields of a `stat` file of a process or thread, added up, in clock ticks (0 if it is gone):
 * utime + stime at 11, cutime + cstime at 13, counted from the state field (3rd).
 */
function statTicks(path: string, at = 11): number {
  const stat = readOr(path, '');
  // The command name (field 2) may hold spaces: fields are counted after its closing parenthesis.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[at] ?? 0) + Number(rest[at + 1] ?? 0);
}

/**
 * cutime + cstime of `pid` in microseconds: the CPU time of its children that have ended and been
 * waited for (the load generator wrk, one child a run; 0 if `pid` is gone).
 */
export function reapedMicros(pid: number): number {
  return (statTicks(`/proc/${pid}/stat`, 13) * 1e6) / clockTicks();
}

/** utime + stime of one process in clock ticks (0 if it is gone). */
function ownTicks(pid: number): number {
  return statTicks(`/proc/${pid}/stat`);
}

/** CPU time used so far by `pid` and its live descendants, in microseconds. */
export function cpuMicros(pid: number): number {
  let ticks = 0;
  const todo = [pid];
  for (let p = todo.pop(); p !== undefined; p = todo.pop()) {
    ticks += ownTicks(p);
    todo.push(...childrenOf(p));
  }
  return (ticks * 1e6) / clockTicks();
}

/**
 * CPU time used so far by the threads of `pid` whose name starts with `prefix`, in microseconds:
 * V8's helper threads are named `V8Worker` (parallel scavenges, concurrent marking and sweeping,
 * background compilation), so this splits a proxy's CPU into the event loop's and V8's helpers'.
 */
export function threadMicros(pid: number, prefix: string): number {
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  let ticks = 0;
  for (const tid of tids) {
    if (readOr(`/proc/${pid}/task/${tid}/comm`, '').startsWith(prefix)) ticks += statTicks(`/proc/${pid}/task/${tid}/stat`);
  }
  return (ticks * 1e6) / clockTicks();
}

function statusField(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readOr(`/proc/${pid}/status`, ''));
  return m ? Number(m[1]) * 1024 : 0;
}

/** Resident set size now, in bytes (0 if the process is gone). */
export function rssBytes(pid: number): number {
  return statusField(pid, 'VmRSS');
}

/** Peak resident set size (VmHWM), in bytes. */
export function peakRssBytes(pid: number): number {
  return statusField(pid, 'VmHWM');
}

/** CPU time the whole machine spent busy in processes so far (all cores, /proc/stat), in microseconds. */
export function machineBusyMicros(): number {
  const f = readOr('/proc/stat', '').split('\n', 1)[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
  // user nice system idle iowait irq softirq steal. Interrupt time is left out: on loopback it is
  // mostly our own traffic's network processing, which no process is charged for.
  const [user = 0, nice = 0, system = 0, , , , , steal = 0] = f;
  return ((user + nice + system + steal) * 1e6) / clockTicks();
}

/**
 * CPU the rest of the machine used while we measured, as % of one core: other people's builds and
 * tests on a shared machine make every figure noisier, and this says how much.
 */
export class NoiseMeter {
  private pids: number[];
  private busy0 = 0;
  private ours0 = 0;
  private t0 = 0;
  constructor(pids: number[]) {
    this.pids = pids;
  }
  /** Our processes' CPU so far: the live ones, and the ended children they waited for (a wrk run ends before `stop`). */
  private ours(): number {
    return this.pids.reduce((n, pid) => n + cpuMicros(pid) + reapedMicros(pid), 0);
  }
  start(): void {
    this.busy0 = machineBusyMicros();
    this.ours0 = this.ours();
    this.t0 = performance.now();
  }
  /** Foreign CPU since start(), % of one core. */
  stop(): number {
    const foreign = machineBusyMicros() - this.busy0 - (this.ours() - this.ours0);
    return Math.max(0, (foreign / ((performance.now() - this.t0) * 1000)) * 100);
  }
}

/**
 * Whether `pid` (or a descendant) holds the listening TCP socket of `port` on 127.0.0.1: the
 * health check alone could be answered by another process that got the port first.
 */
export function listensOn(pid: number, port: number): boolean {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readOr(table, '').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[1]?.endsWith(`:${hexPort}`) && f[3] === '0A' && f[9]) inodes.add(f[9]);
    }
  }
  const todo = [pid];
  for (let p = todo.pop(); p !== undefined; p = todo.pop()) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      const m = /^socket:\[(\d+)\]$/.exec(readLink(`/proc/${p}/fd/${fd}`));
      if (m?.[1] && inodes.has(m[1])) return true;
    }
    todo.push(...childrenOf(p));
  }
  return false;
}

function readLink(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memGiB: number;
  node: string;
}

export function machineInfo(): MachineInfo {
  const m = /^model name\s*:\s*(.+)$/m.exec(readOr('/proc/cpuinfo', ''));
  return { cpuModel: m?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown', cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
}
