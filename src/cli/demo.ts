/**
 * `llmux demo`: the gateway plus three mock upstreams started in-process — healthy, flaky (~30% 5xx)
 * and rate-limited (429 + Retry-After) — behind one route, so a new user sees failover and breakers
 * at work within a minute, offline, with no configuration.
 */
import type { Command } from 'commander';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MockUpstream } from '../mock/server.ts';
import { startGateway, type Gateway } from '../main.ts';
import { parsePort } from './serve.ts';

export interface Demo {
  gateway: Gateway;
  upstreams: MockUpstream[];
  close(): Promise<void>;
}

export function demoConfig(urls: { healthy: string; flaky: string; limited: string }): object {
  const breaker = { failures: 2, cooldownMs: 5_000, maxCooldownMs: 30_000 };
  return {
    store: 'memory',
    server: { maxAttempts: 6 },
    providers: [
      { id: 'healthy', baseUrl: urls.healthy, keys: ['demo-key-healthy'], models: ['mock-small'], breaker },
      { id: 'flaky', baseUrl: urls.flaky, keys: ['demo-key-flaky'], models: ['mock-small'], breaker },
      { id: 'limited', baseUrl: urls.limited, keys: ['demo-key-limited'], models: ['mock-small'], breaker },
    ],
    routes: [
      {
        name: 'demo',
        balance: 'round-robin',
        targets: [{ provider: 'flaky' }, { provider: 'limited' }, { provider: 'healthy' }],
      },
      { name: '*', targets: [{ provider: 'flaky' }, { provider: 'limited' }, { provider: 'healthy', priority: 1 }] },
    ],
  };
}

export async function startDemo(port: number | undefined, host = '127.0.0.1'): Promise<Demo> {
  const upstreams = [
    new MockUpstream({ name: 'healthy', latencyMs: 40, tokensPerS: 60 }),
    new MockUpstream({ name: 'flaky', latencyMs: 60, failRate: 0.3, failStatus: 503, tokensPerS: 60 }),
    new MockUpstream({ name: 'limited', latencyMs: 30, rateLimitRpm: 5, tokensPerS: 60 }),
  ];
  await Promise.all(upstreams.map((u) => u.start()));
  const [healthy, flaky, limited] = upstreams.map((u) => u.baseUrl) as [string, string, string];
  const dir = await mkdtemp(path.join(tmpdir(), 'llmux-demo-'));
  const file = path.join(dir, 'llmux.json');
  await writeFile(file, JSON.stringify(demoConfig({ healthy, flaky, limited }), null, 2));
  let gateway: Gateway;
  try {
    gateway = await startGateway({ configPath: file, cwd: dir, env: {}, host, port: port ?? 8080 });
  } catch (e) {
    await Promise.all(upstreams.map((u) => u.close()));
    throw e;
  }
  return {
    gateway,
    upstreams,
    async close() {
      await gateway.close();
      await Promise.all(upstreams.map((u) => u.close()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run the gateway with three simulated upstreams (healthy, flaky, rate-limited) to see failover')
    .option('-p, --port <n>', 'gateway port (default 8080)')
    .action(async (flags: { port?: string }) => {
      const demo = await startDemo(parsePort(flags.port));
      const url = demo.gateway.url;
      process.stdout.write(
        `\nllmux demo is running at ${url}\n` +
          `  upstreams: healthy ${demo.upstreams[0]!.url}, flaky (30% 503) ${demo.upstreams[1]!.url}, rate-limited (5 rpm) ${demo.upstreams[2]!.url}\n\n` +
          `Send requests (every one succeeds; failures fail over invisibly):\n` +
          `  curl ${url}/v1/chat/completions -H 'content-type: application/json' -d '{"model":"demo","messages":[{"role":"user","content":"hi"}]}'\n\n` +
          `Watch the breakers open and close:  curl ${url}/health/upstream\n` +
          `Press Ctrl+C to stop.\n`,
      );
      const stop = (): void => {
        demo.close().then(() => process.exit(0), () => process.exit(1));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
