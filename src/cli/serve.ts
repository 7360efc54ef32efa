/** `llmux serve` (the default command). */
import type { Command } from 'commander';
import { ConfigError } from '../config/load.ts';
import { startGateway, StartupError } from '../main.ts';

export interface ServeFlags {
  config?: string;
  host?: string;
  port?: string;
}

export function parsePort(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--port must be a number from 0 to 65535, got "${v}"`);
  return n;
}

export async function serve(flags: ServeFlags): Promise<void> {
  try {
    const gw = await startGateway({ configPath: flags.config, host: flags.host, port: parsePort(flags.port), handleSignals: true });
    if (!process.stdout.isTTY) return;
    process.stdout.write(`\nllmux is listening on ${gw.url}\n  OpenAI base URL: ${gw.url}/v1\n  upstream health: ${gw.url}/health/upstream\n\n`);
  } catch (e) {
    process.exitCode = 1;
    if (e instanceof ConfigError || e instanceof StartupError) {
      process.stderr.write(`llmux: ${e.message}\n`);
      return;
    }
    const code = (e as { code?: string }).code;
    if (code === 'EADDRINUSE') {
      process.stderr.write(`llmux: the port is already in use. Pick another with --port N (or PORT=N), or stop what is using it.\n`);
      return;
    }
    throw e;
  }
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve', { isDefault: true })
    .description('run the gateway (the default command)')
    .option('-c, --config <file>', 'config file (default: ./llmux.yaml, or LLMUX_CONFIG)')
    .option('--host <host>', 'listen address (default 127.0.0.1)')
    .option('-p, --port <n>', 'listen port (default 8080, or PORT)')
    .action(serve);
}
