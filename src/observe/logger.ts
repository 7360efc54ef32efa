/**
 * The gateway's logger: pino, pretty and coloured on a terminal, JSON lines otherwise, written in
 * batches (async destination) so the request path never waits on stdout. Header names that carry
 * secrets are redacted wherever they appear.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level: string;
  /** Pretty output (a TTY); default: process.stdout.isTTY. */
  pretty?: boolean;
  /** Optional file; `%DATE%` becomes YYYY-MM-DD (a new file each day). */
  file?: string | null;
}

export const redactPaths = [
  '*.authorization', '*.Authorization', '*["x-api-key"]', '*.apiKey', '*.api_key', '*.key', '*.keys', '*.adminKey',
  'headers.authorization', 'headers["x-api-key"]', 'req.headers.authorization', 'req.headers["x-api-key"]',
];

export function createLogger(opts: LoggerOptions): Logger {
  const pretty = opts.pretty ?? Boolean(process.stdout.isTTY);
  const base = { level: opts.level, redact: { paths: redactPaths, censor: '[redacted]' }, base: undefined };
  if (pretty && !opts.file) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  const dest = opts.file
    ? pino.destination({ dest: opts.file.replace('%DATE%', new Date().toISOString().slice(0, 10)), sync: false, mkdir: true, minLength: 4096 })
    : pino.destination({ dest: 1, sync: false, minLength: 4096 });
  // Batched, but never more than a second behind.
  setInterval(() => {
    try {
      dest.flush();
    } catch {
      /* not ready yet; the next tick flushes */
    }
  }, 1000).unref();
  return pino(base, dest);
}

/** Flush buffered log lines (before exit). */
export function flushLogger(log: Logger): void {
  try {
    log.flush();
  } catch {
    /* a transport logger flushes itself */
  }
}
