/**
 * The benchmark's child processes: spawned with the running Node (optionally pinned to one CPU
 * with taskset), watched for readiness, and always ended by PID — on success, on error, on
 * SIGINT/SIGTERM and at exit — so that no load or server outlives the run.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { dirname } from 'node:path';

export const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

export interface Child {
  name: string;
  pid: number;
  proc: ChildProcess;
  /** The last lines the child wrote (stdout and stderr). */
  tail(): string;
  /** Resolves with the exit code (or signal name) when the child ends. */
  exited: Promise<string>;
}

export interface SpawnOptions {
  /** Pin to this CPU with taskset. */
  cpu?: number | undefined;
  env?: NodeJS.ProcessEnv;
  nodeFlags?: string[];
  /** Working directory (default: the repository). */
  cwd?: string;
  /** Send the child's stdout and stderr to this file instead of a pipe (for chatty servers). */
  logFile?: string;
}

const live = new Map<number, Child>();
const TAIL_BYTES = 4096;

export function spawnNode(name: string, script: string, args: string[], o: SpawnOptions = {}): Child {
  return spawnTracked(name, process.execPath, [...(o.nodeFlags ?? []), script, ...args], o);
}

/** Any program as a child of the run (the load generator wrk too): tracked, so that it is ended by PID with the rest. */
export function spawnTracked(name: string, program: string, args: string[], o: SpawnOptions = {}): Child {
  const [cmd, argv] = o.cpu === undefined ? [program, args] : ['taskset', ['-c', String(o.cpu), program, ...args]];
  const fd = o.logFile ? openSync(o.logFile, 'w') : undefined;
  const proc = spawn(cmd, argv, { cwd: o.cwd ?? ROOT, env: o.env ?? process.env, stdio: ['ignore', fd ?? 'pipe', fd ?? 'pipe'] });
  if (fd !== undefined) closeSync(fd);
  let buf = '';
  const keep = (d: Buffer): void => {
    buf = (buf + d.toString('utf8')).slice(-TAIL_BYTES);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const tail = o.logFile ? () => fileTail(o.logFile ?? '') : () => buf;
  const exited = new Promise<string>((resolve) => {
    proc.on('exit', (code, signal) => {
      live.delete(proc.pid ?? -1);
      resolve(signal ?? String(code));
    });
    proc.on('error', (err) => {
      buf += `\n${err.message}`;
      live.delete(proc.pid ?? -1);
      resolve('spawn-error');
    });
  });
  const child: Child = { name, pid: proc.pid ?? -1, proc, tail, exited };
  if (proc.pid !== undefined) live.set(proc.pid, child);
  return child;
}

function fileTail(path: string): string {
  try {
    const size = statSync(path).size;
    return readFileSync(path).subarray(Math.max(0, size - TAIL_BYTES)).toString('utf8');
  } catch {
    return '';
  }
}

function lastLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

export class StartError extends Error {}

/** The first stdout line of a child that announces itself as JSON (`{"port":N}`). */
export function announced<T>(child: Child, timeoutMs = 10_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new StartError(`${child.name} did not start within ${timeoutMs} ms: ${lastLines(child.tail(), 20)}`)), timeoutMs);
    child.proc.stdout?.on('data', (d: Buffer) => {
      seen += d.toString('utf8');
      const nl = seen.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      try {
        resolve(JSON.parse(seen.slice(0, nl)) as T);
      } catch {
        reject(new StartError(`${child.name} printed no port line: ${seen.slice(0, 200)}`));
      }
    });
    void child.exited.then((how) => {
      clearTimeout(timer);
      reject(new StartError(`${child.name} exited (${how}): ${lastLines(child.tail(), 20)}`));
    });
  });
}

/** Polls `url` until it answers 2xx; rejects with the child's output tail if it dies or times out. */
export async function waitHealthy(child: Child, url: string, timeoutMs: number): Promise<void> {
  let exitedHow: string | undefined;
  void child.exited.then((how) => (exitedHow = how));
  const until = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < until) {
    if (exitedHow !== undefined) throw new StartError(`exited (${exitedHow}): ${lastLines(child.tail(), 25)}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) return;
      last = `GET ${url} -> ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new StartError(`no healthy answer within ${timeoutMs} ms (${last}): ${lastLines(child.tail(), 25)}`);
}

/** SIGTERM, then SIGKILL after `graceMs`. Resolves when the child is gone. */
export async function stopChild(child: Child, graceMs = 3000): Promise<string> {
  if (!live.has(child.pid)) return child.exited;
  signal(child.pid, 'SIGTERM');
  const timer = setTimeout(() => signal(child.pid, 'SIGKILL'), graceMs);
  const how = await child.exited;
  clearTimeout(timer);
  return how;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

export async function stopAll(graceMs = 3000): Promise<void> {
  await Promise.all([...live.values()].map((c) => stopChild(c, graceMs)));
}

const exitTasks: (() => void)[] = [];

/** Runs `task` (synchronous) when the process exits, however it exits. */
export function atExit(task: () => void): void {
  exitTasks.push(task);
}

/** Ends every child by PID on exit, on an uncaught error and on SIGINT/SIGTERM. */
export function installCleanup(): void {
  process.on('exit', () => {
    for (const pid of live.keys()) signal(pid, 'SIGKILL');
    for (const task of exitTasks) {
      try {
        task();
      } catch {
        // best effort: the process is leaving
      }
    }
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\n${sig}: stopping ${live.size} child process(es)\n`);
      void stopAll(1500).finally(() => process.exit(130));
    });
  }
}

/** A port that was free a moment ago (for children that cannot announce their own). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}
