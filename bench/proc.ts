/**
 * What the kernel says about a process: CPU time (utime + stime, its threads and descendants
 * included) and resident memory, read from /proc (Linux only).
 */
import { readFileSync, readdirSync } from 'node:fs';
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

/** utime + stime of one process in clock ticks (0 if it is gone). */
function ownTicks(pid: number): number {
  const stat = readOr(`/proc/${pid}/stat`, '');
  // The command name (field 2) may hold spaces: fields are counted after its closing parenthesis.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11] ?? 0) + Number(rest[12] ?? 0);
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
