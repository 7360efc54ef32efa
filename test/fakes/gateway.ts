/**
 * Starts a real gateway on port 0 for integration tests, with its config written to a temp dir, a
 * clean environment (no real keys), and every log line captured so tests can grep them for secrets.
 */
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import OpenAI from 'openai';
import { startGateway, type Gateway } from '../../src/main.ts';
import type { Clock } from '../../src/core/clock.ts';
import { redactPaths, type Logger } from '../../src/observe/logger.ts';

export interface TestGateway {
  gw: Gateway;
  url: string;
  baseURL: string;
  dir: string;
  logs: string[];
  /** The official SDK pointed at the gateway (no SDK retries unless asked). */
  client(opts?: { apiKey?: string; maxRetries?: number; timeout?: number }): OpenAI;
  close(): Promise<void>;
}

export interface TestGatewayOptions {
  env?: Record<string, string>;
  clock?: Clock;
  host?: string;
}

/** A debug-level logger with the gateway's redaction whose lines are kept in `logs` (to grep for secrets). */
export function captureLogger(): { logs: string[]; logger: Logger } {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString('utf8'));
      cb();
    },
  });
  return { logs, logger: pino({ level: 'debug', redact: { paths: redactPaths, censor: '[redacted]' } }, sink) };
}

export async function startTestGateway(config: object, opts: TestGatewayOptions = {}): Promise<TestGateway> {
  const dir = await mkdtemp(path.join(tmpdir(), 'llmux-test-'));
  const file = path.join(dir, 'llmux.json');
  await writeFile(file, JSON.stringify({ store: 'memory', ...config }, null, 2));
  const { logs, logger } = captureLogger();
  const gw = await startGateway({ configPath: file, cwd: dir, env: opts.env ?? {}, host: opts.host ?? '127.0.0.1', port: 0, logger, clock: opts.clock });
  return {
    gw,
    url: gw.url,
    baseURL: `${gw.url}/v1`,
    dir,
    logs,
    client: (o = {}) => new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: o.apiKey ?? 'none', maxRetries: o.maxRetries ?? 0, timeout: o.timeout ?? 10_000 }),
    close: async () => {
      await gw.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A provider entry pointing at a fake upstream. */
export function providerFor(id: string, baseUrl: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, baseUrl, keys: [`sk-${id}-canary-0123456789`], models: ['mock-small'], ...extra };
}

/** POST JSON (or raw text) to the gateway; returns status, headers and text. */
export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; text: string; json: any }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, headers: res.headers, text, json };
}
