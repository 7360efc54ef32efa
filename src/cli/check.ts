/**
 * `llmux check`: validate the config, probe every endpoint, print a table; exit 1 when the config is
 * invalid or no endpoint is usable.
 */
import type { Command } from 'commander';
import { compile, maskKey, type Snapshot } from '../config/compile.ts';
import { ConfigError, loadConfig } from '../config/load.ts';
import { probe, probeModel, type ProbeResult, type ProbeTarget } from '../routing/probe.ts';
import { isDisabled } from '../routing/planner.ts';
import { UpstreamClients } from '../upstream/client.ts';

export function probeTargets(snap: Snapshot): ProbeTarget[] {
  const out: ProbeTarget[] = [];
  for (const p of snap.providers.values()) {
    // Disabled (enabled: false or a limit of 0): never spend a request on it.
    if (isDisabled(p)) continue;
    const model = probeModel(p);
    const keys = p.keys.length > 0 ? p.keys : [null];
    for (const key of keys) out.push({ provider: p, key, model });
  }
  return out;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

export async function runCheck(flags: { config?: string; mode?: string; timeout?: string }): Promise<number> {
  let snap: Snapshot;
  try {
    const loaded = await loadConfig({ configPath: flags.config });
    snap = compile(loaded.config, loaded.file, 1);
    process.stdout.write(`config ok: ${loaded.file ?? '(no file: defaults and environment)'} — ${snap.providers.size} provider(s), ${snap.routes.size} route(s)\n`);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`llmux check: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  const targets = probeTargets(snap);
  if (targets.length === 0) {
    process.stderr.write('llmux check: no enabled provider to probe; add providers to the config (see README).\n');
    return 1;
  }
  const mode = flags.mode === 'chat' ? 'chat' : snap.config.healthCheck.mode;
  const timeoutMs = flags.timeout ? Number(flags.timeout) : snap.config.healthCheck.timeoutMs;
  const clients = new UpstreamClients();
  let done = 0;
  const results: ProbeResult[] = await Promise.all(targets.map(async (t) => {
    const r = await probe(clients, t, mode, timeoutMs);
    done++;
    if (process.stderr.isTTY) process.stderr.write(`\rprobing endpoints… ${done}/${targets.length}`);
    return r;
  }));
  if (process.stderr.isTTY) process.stderr.write('\n');
  await clients.close();
  const rows = [['endpoint', 'key', 'model', 'status', 'latency', 'error']];
  targets.forEach((t, i) => {
    const r = results[i]!;
    rows.push([t.provider.id, t.key ? maskKey(t.key) : '-', t.model || '-', r.ok ? 'ok' : (r.cls ?? 'failed'), `${Math.round(r.latencyMs)} ms`, r.error ?? '']);
  });
  process.stdout.write(table(rows) + '\n');
  const usable = results.filter((r) => r.ok).length;
  process.stdout.write(`${usable} of ${targets.length} endpoint(s) usable\n`);
  return usable > 0 ? 0 : 1;
}

export function registerCheckCommand(program: Command): void {
  program
    .command('check')
    .description('validate the config and probe every endpoint; exit 1 if the config is invalid or nothing is usable')
    .option('-c, --config <file>', 'config file')
    .option('--mode <mode>', 'models (GET /models) or chat (a 1-token chat)')
    .option('--timeout <ms>', 'per-probe timeout in ms')
    .action(async (flags: { config?: string; mode?: string; timeout?: string }) => {
      process.exitCode = await runCheck(flags);
    });
}
