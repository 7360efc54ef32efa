import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';
import { MockUpstream } from '../mock/server.ts';
import type { MockOptions } from '../mock/server.ts';

/** A fixed default so a config written against `llmux mock` keeps working across runs. */
const DEFAULT_PORT = 8090;

interface MockFlags {
  port: number;
  host: string;
  latency?: number;
  failRate?: number;
  status?: number;
  tokensPerS?: number;
  models?: string[];
  rateLimitRpm?: number;
  apiKey?: string;
  name?: string;
  seed?: number;
  strictModels?: boolean;
  quiet?: boolean;
}

function integer(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}, got "${value}"`);
    }
    return n;
  };
}

function fraction(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError(`expected 0..1, got "${value}"`);
  return n;
}

function list(value: string): string[] {
  const items = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (items.length === 0) throw new InvalidArgumentError('expected a comma-separated list of model names');
  return items;
}

function toOptions(f: MockFlags): MockOptions {
  return {
    host: f.host, port: f.port, latencyMs: f.latency, failRate: f.failRate, status: f.status,
    tokensPerS: f.tokensPerS, models: f.models, rateLimitRpm: f.rateLimitRpm, apiKey: f.apiKey,
    name: f.name, seed: f.seed, strictModels: f.strictModels,
    log: f.quiet ? undefined : (line) => console.log(line),
  };
}

/** The copy-paste line users try first; it shows the model name and auth the fake expects. */
function curlExample(mock: MockUpstream, model: string, apiKey: string | undefined): string {
  const auth = apiKey ? ` -H 'authorization: Bearer ${apiKey}'` : '';
  const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'Hello' }] });
  return `curl -s ${mock.baseUrl}/chat/completions -H 'content-type: application/json'${auth} -d '${body}'`;
}

async function runMock(flags: MockFlags): Promise<void> {
  const opts = toOptions(flags);
  const mock = new MockUpstream(opts);
  try {
    await mock.start();
  } catch (err) {
    console.error(`llmux mock: cannot listen on ${flags.host}:${flags.port}: ${(err as Error).message}`);
    process.exitCode = 1;
    return;
  }
  console.log(`llmux mock: OpenAI-compatible upstream on ${mock.baseUrl}`);
  console.log(`try: ${curlExample(mock, flags.models?.[0] ?? 'mock-small', flags.apiKey)}`);
  const stop = (): void => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    // Closing cuts hung and streaming exchanges, so nothing keeps the process alive afterwards.
    void mock.close().then(() => console.log('llmux mock: stopped'));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/** Adds `llmux mock`: a simulated OpenAI-compatible upstream with fault injection. */
export function registerMockCommand(program: Command): void {
  program
    .command('mock')
    .description('run a simulated OpenAI-compatible upstream with fault injection, for trying configs offline')
    .option('--port <n>', 'port to listen on (0 = any free port)', integer(0, 65535), DEFAULT_PORT)
    .option('--host <h>', 'interface to bind', '127.0.0.1')
    .option('--latency <ms>', 'delay before every response', integer(0, 600_000))
    .option('--fail-rate <f>', 'probability (0..1) of answering 500', fraction)
    .option('--status <code>', 'answer every request with this status', integer(200, 599))
    .option('--tokens-per-s <n>', 'streaming speed (one word ≈ one token)', integer(1, 1_000_000))
    .option('--models <a,b>', 'models to list and serve', list)
    .option('--rate-limit-rpm <n>', 'requests per minute before 429 + retry-after', integer(0, 1_000_000))
    .option('--api-key <key>', 'require Authorization: Bearer <key>')
    .option('--name <name>', 'name shown in x-mock-name and system_fingerprint')
    .option('--seed <n>', 'seed for --fail-rate, for repeatable failures', integer(0, 2 ** 32 - 1))
    .option('--strict-models', 'answer 404 model_not_found for models not in --models')
    .option('--quiet', 'do not print one line per request')
    .action((flags: MockFlags) => runMock(flags));
}
