/**
 * The gateway's logger: pino, pretty and coloured on a terminal, JSON lines otherwise, written in
 * batches (async destinations, flushed at least every second) so the request path never waits on
 * stdout or the disk. Header names that carry secrets are redacted wherever they appear.
 *
 * With `file`, lines also go to a file; `%DATE%` in its name makes it daily (SPEC §8): the file is
 * switched when the first line of a new day (in `timezone`) is written, so no timer has to run at
 * midnight and a quiet day leaves no empty file. Old files are never deleted here.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import pino, { type DestinationStream, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';
import { dayKey, nextDayStart } from '../core/clock.ts';
import { LineSink } from './line-sink.ts';

export type { Logger };

export interface LoggerOptions {
  level: string;
  /** Pretty output (a TTY); default: process.stdout.isTTY. Files are always JSON lines. */
  pretty?: boolean;
  /** Optional file; `%DATE%` becomes YYYY-MM-DD (a new file each day). */
  file?: string | null;
  /** Where a day begins for `%DATE%` (`server.timezone`); default UTC. */
  timezone?: string;
  /** Also log to stdout when a file is set; default true. */
  console?: boolean;
  /** The day switch's clock; tests move it. Line timestamps stay real time. */
  now?: () => number;
}

/**
 * Exact paths only: a second line of defence (log objects are built by llmux and carry no secret).
 * Wildcard paths (`*.key`) made pino walk every object of every line — 9 % of the gateway's CPU
 * under load (BENCHMARKS.md).
 */
export const redactPaths = [
  'authorization', 'apiKey', 'api_key', 'key', 'keys', 'adminKey',
  'headers.authorization', 'headers["x-api-key"]', 'req.headers.authorization', 'req.headers["x-api-key"]',
  'provider.apiKey', 'provider.api_key', 'provider.key', 'provider.keys', 'server.adminKey', 'server.keys',
];

/** stdout, batched (observe/line-sink.ts); a write error is said once on stderr. */
function stdoutSink(): LineSink {
  return new LineSink({ dest: 1, onError: (e) => process.stderr.write(`llmux: cannot write the log to stdout: ${e.message}\n`) });
}

/**
 * Loggers made here write JSON lines with pino's default fields (`level` number, `time` in ms, `msg`)
 * and no base fields: observe/request-log.ts may write its line to their stream directly.
 */
const plainJson = new WeakSet<Logger>();

export function writesPlainJson(log: Logger): boolean {
  return plainJson.has(log);
}

/** What `closeLogger` must finish, per logger. */
const closers = new WeakMap<Logger, () => Promise<void>>();

export function createLogger(opts: LoggerOptions): Logger {
  const pretty = opts.pretty ?? Boolean(process.stdout.isTTY);
  const base = { level: opts.level, redact: { paths: redactPaths, censor: '[redacted]' }, base: undefined };
  if (!opts.file) {
    if (pretty) {
      // A worker thread formats, so colouring costs the event loop nothing.
      return pino({ ...base, transport: { target: 'pino-pretty', options: prettyOptions } });
    }
    const log = pino(base, stdoutSink());
    plainJson.add(log);
    return log;
  }
  const file = new DailyFile(opts.file, opts.timezone ?? 'UTC', opts.now ?? Date.now);
  const targets: DestinationStream[] = [file];
  // With a file as well, pretty output is formatted in-process: one transport worker per logger
  // could not share the file switching done here.
  if (opts.console ?? true) targets.push(pretty ? loadPretty()({ ...prettyOptions, destination: 1 }) : stdoutSink());
  const tee = new Tee(targets);
  const log = pino(base, tee);
  closers.set(log, () => tee.end());
  if (!pretty) plainJson.add(log);
  return log;
}

/** pino-pretty is loaded only where it is used: a gateway logging JSON lines never pays its memory. */
function loadPretty(): typeof PinoPretty {
  return createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
}

const prettyOptions = { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' };

/** Write buffered log lines out now, synchronously (before exit). */
export function flushLogger(log: Logger): void {
  const stream = (log as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as { flushSync?: () => void } | undefined;
  try {
    if (typeof stream?.flushSync === 'function') stream.flushSync();
    else log.flush();
  } catch {
    /* a transport logger flushes itself */
  }
}

/**
 * Flush, and close the logger's files (shutdown, tests). Never breaks the logger: a line logged
 * afterwards reopens the day's file (and is written if the process lives long enough to flush it).
 * Stdout is only flushed; a pretty terminal logger's worker ends with the process.
 */
export async function closeLogger(log: Logger): Promise<void> {
  const close = closers.get(log);
  if (close) return close();
  await new Promise<void>((resolve) => {
    try {
      log.flush(() => resolve());
    } catch {
      resolve();
    }
  });
}

/** Writes every line to each target; `flush` reaches them all (pino.multistream has no async flush). */
class Tee implements DestinationStream {
  readonly #targets: DestinationStream[];
  constructor(targets: DestinationStream[]) {
    this.#targets = targets;
  }
  write(line: string): void {
    for (const t of this.#targets) t.write(line);
  }
  flushSync(): void {
    for (const t of this.#targets) (t as { flushSync?: () => void }).flushSync?.();
  }
  flush(cb?: (err?: Error) => void): void {
    let left = this.#targets.length;
    const done = (): void => {
      if (--left === 0) cb?.();
    };
    for (const t of this.#targets) flushOne(t, done);
  }
  /** Close the files, flush the rest: stdout stays usable for anyone still logging. */
  async end(): Promise<void> {
    await Promise.all(this.#targets.map((t) => (t instanceof DailyFile ? t.end() : new Promise<void>((r) => flushOne(t, r)))));
  }
}

/**
 * A file per day: `%DATE%` in `pattern` is the day in `tz`. Each day has its own batching
 * destination; the previous one is ended (its buffer written out) when the next day's first line
 * arrives, so a line always lands in the file of the day it was logged.
 */
export class DailyFile implements DestinationStream {
  readonly #pattern: string;
  readonly #tz: string;
  readonly #now: () => number;
  #cur: LineSink | null = null;
  /** When the current file stops being today's. */
  #until = 0;
  readonly #ending = new Set<Promise<void>>();

  constructor(pattern: string, tz: string, now: () => number) {
    this.#pattern = pattern;
    this.#tz = tz;
    this.#now = now;
  }

  /** The file a line logged at `t` goes to. */
  static pathFor(pattern: string, t: number, tz: string): string {
    const d = dayKey(t, tz);
    return path.resolve(pattern.replaceAll('%DATE%', `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}`));
  }

  write(line: string): void {
    const t = this.#now();
    if (!this.#cur || t >= this.#until) this.#open(t);
    this.#cur!.write(line);
  }

  #open(t: number): void {
    if (this.#cur) {
      const p = this.#cur.end();
      this.#ending.add(p);
      void p.then(() => this.#ending.delete(p));
    }
    const file = DailyFile.pathFor(this.#pattern, t, this.#tz);
    // A log file that cannot be written must not take the gateway down; say so once on stderr.
    this.#cur = new LineSink({ dest: file, onError: (e) => process.stderr.write(`llmux: cannot write the log file ${file}: ${e.message}\n`) });
    this.#until = this.#pattern.includes('%DATE%') ? nextDayStart(t, this.#tz) : Infinity;
  }

  flush(cb?: (err?: Error) => void): void {
    if (this.#cur) flushOne(this.#cur, () => cb?.());
    else cb?.();
  }

  flushSync(): void {
    this.#cur?.flushSync();
  }

  /** Write out and close the current and any previous day's file. */
  async end(): Promise<void> {
    const cur = this.#cur;
    this.#cur = null;
    this.#until = 0;
    await Promise.all([cur?.end(), ...this.#ending]);
  }
}

function flushOne(s: DestinationStream, cb: () => void): void {
  const f = (s as { flush?: (cb: (err?: Error) => void) => void }).flush;
  if (typeof f !== 'function') return cb();
  try {
    f.call(s, () => cb());
  } catch {
    // Not open yet or already closed: nothing buffered that a flush could help.
    cb();
  }
}
