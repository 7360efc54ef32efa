/**
 * Real gateway processes for the e2e tests: `node bin/llmux.js serve --config F --port 0` (the launcher users run) in a temp
 * working directory with a clean environment, its JSON-lines log collected, its URL read from the
 * "llmux listening" line. Every process started here is tracked and killed by its PID in `killAll`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..', '..');
export const cliPath = path.join(root, 'bin', 'llmux.js');

/** Only what node needs: no provider keys, no LLMUX_* settings from the developer's shell. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = { NODE_ENV: 'test', LOG_LEVEL: 'debug' };
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'SYSTEMROOT']) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  return { ...env, ...extra };
}

export interface LogLine {
  level?: number;
  msg?: string;
  [k: string]: unknown;
}

export interface Spawned {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly url: string;
  /** Every stdout line, parsed when it is JSON (else `{ msg: line }`). */
  readonly lines: LogLine[];
  readonly stderr: string[];
  /** Send `signal` and wait for the exit (SIGKILL after `ms`). Resolves the exit code or signal. */
  stop(signal?: NodeJS.Signals, ms?: number): Promise<number | string | null>;
  exited: Promise<number | string | null>;
}

const live = new Set<ChildProcess>();

/** A temp working directory with the config written into it as `llmux.json`. */
export async function workDir(config: object, dir?: string): Promise<{ dir: string; file: string }> {
  const d = dir ?? (await mkdtemp(path.join(tmpdir(), 'llmux-e2e-')));
  const file = path.join(d, 'llmux.json');
  await writeFile(file, JSON.stringify(config, null, 2));
  return { dir: d, file };
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/**
 * Start `llmux serve` (with `--config file`, or on its embedded defaults as `npm start` is without
 * one) and resolve once it logged "llmux listening" (reject if it exits or times out).
 */
export async function spawnGateway(opts: { dir: string; file?: string; env?: Record<string, string>; timeoutMs?: number; nodeArgs?: string[] }): Promise<Spawned> {
  const config = opts.file === undefined ? [] : ['--config', opts.file];
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), cliPath, 'serve', ...config, '--port', '0'], {
    cwd: opts.dir,
    env: cleanEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const lines: LogLine[] = [];
  const stderr: string[] = [];
  const exited = new Promise<number | string | null>((resolve) => {
    child.once('exit', (code, sig) => {
      live.delete(child);
      resolve(code ?? sig);
    });
  });
  let buf = '';
  let onLine: ((l: LogLine) => void) | null = null;
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (s: string) => {
    buf += s;
    let i;
    while ((i = buf.indexOf('\n')) !== -1) {
      const raw = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (raw.trim() === '') continue;
      let l: LogLine;
      try {
        l = JSON.parse(raw) as LogLine;
      } catch {
        l = { msg: raw };
      }
      lines.push(l);
      onLine?.(l);
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => stderr.push(s));

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gateway did not start within ${opts.timeoutMs ?? 15_000} ms; stderr: ${stderr.join('')}`));
    }, opts.timeoutMs ?? 15_000);
    onLine = (l) => {
      if (l.msg === 'llmux listening' && typeof l.url === 'string') {
        clearTimeout(timer);
        resolve(l.url);
      }
    };
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited (${code}) before listening; stderr: ${stderr.join('')}; stdout: ${JSON.stringify(lines)}`));
    });
  });
  onLine = null;

  const stop = async (signal: NodeJS.Signals = 'SIGTERM', ms = 10_000): Promise<number | string | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };
  return { child, pid: child.pid!, url, lines, stderr, stop, exited };
}

/** Kill every gateway process still running (by PID), and wait for them to exit. */
export async function killAll(): Promise<void> {
  const all = [...live];
  await Promise.all(all.map((c) => new Promise<void>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve();
    c.once('exit', () => resolve());
    process.kill(c.pid!, 'SIGKILL');
  })));
}

/** Run a CLI command (e.g. `keys create`) to completion; resolves its output. */
export function runCli(args: string[], opts: { dir: string; env?: Record<string, string>; timeoutMs?: number }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { cwd: opts.dir, env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`llmux ${args.join(' ')} did not finish; stderr: ${stderr}`));
    }, opts.timeoutMs ?? 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

/** POST a small chat request; resolves status, headers and parsed JSON (if any). */
export async function chat(url: string, model: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; json: any }> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, headers: res.headers, json };
}

export async function getJson(url: string): Promise<any> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return res.json();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `check` until truthy or `withinMs` passes; resolves the last result. */
export async function eventually<T>(check: () => Promise<T> | T, withinMs: number, everyMs = 50): Promise<T> {
  const end = Date.now() + withinMs;
  let last = await check();
  while (!last && Date.now() < end) {
    await sleep(everyMs);
    last = await check();
  }
  return last;
}
