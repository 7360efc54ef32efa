/**
 * `llmux keys create|list|revoke`: client keys in the store (SPEC §2). A new key is printed once;
 * only its hash is kept.
 */
import type { Command } from 'commander';
import { loadConfig } from '../config/load.ts';
import { openStore } from '../store/open.ts';
import type { Store } from '../store/types.ts';
import { resolveStoreUrl } from '../main.ts';

async function withStore<T>(configPath: string | undefined, fn: (s: Store) => Promise<T>): Promise<T> {
  const loaded = await loadConfig({ configPath });
  const store = await openStore(resolveStoreUrl(loaded.config.store, process.cwd()));
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

function positiveInt(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number, got "${v}"`);
  return n;
}

interface CreateFlags {
  config?: string;
  name?: string;
  models?: string;
  rpm?: string;
  rpd?: string;
  tpd?: string;
  budgetDay?: string;
  budgetMonth?: string;
  expires?: string;
}

async function create(flags: CreateFlags): Promise<void> {
  const expiresAt = flags.expires ? Date.parse(flags.expires) : undefined;
  if (expiresAt !== undefined && Number.isNaN(expiresAt)) throw new Error(`--expires must be a date such as 2027-01-31, got "${flags.expires}"`);
  const budgetDay = positiveInt(flags.budgetDay, '--budget-day');
  const budgetMonth = positiveInt(flags.budgetMonth, '--budget-month');
  const created = await withStore(flags.config, (s) =>
    s.createKey({
      name: flags.name,
      models: flags.models ? flags.models.split(',').map((m) => m.trim()).filter(Boolean) : undefined,
      limits: { rpm: positiveInt(flags.rpm, '--rpm'), rpd: positiveInt(flags.rpd, '--rpd'), tpd: positiveInt(flags.tpd, '--tpd') },
      budgetTokens: budgetDay !== undefined || budgetMonth !== undefined ? { day: budgetDay, month: budgetMonth } : undefined,
      expiresAt,
    }),
  );
  process.stdout.write(`Created client key ${created.prefix} (id ${created.id}).\n\n  ${created.key}\n\nCopy it now: llmux keeps only its hash and cannot show it again.\n`);
}

async function list(flags: { config?: string }): Promise<void> {
  const keys = await withStore(flags.config, (s) => s.listKeys());
  if (keys.length === 0) {
    process.stdout.write('No client keys in the store. Create one with: npm run llmux -- keys create --name my-app\n');
    return;
  }
  const rows = [['id', 'name', 'prefix', 'limits', 'models', 'last used', 'state']];
  for (const k of keys) {
    const lim = Object.entries(k.limits ?? {}).filter(([, v]) => v !== null && v !== undefined).map(([n, v]) => `${n}=${v}`).join(' ') || '-';
    const state = k.revokedAt ? 'revoked' : k.expiresAt && k.expiresAt < Date.now() ? 'expired' : 'active';
    rows.push([k.id, k.name ?? '-', k.prefix, lim, k.models?.join(',') || 'all', k.lastUsedAt ? new Date(k.lastUsedAt).toISOString() : 'never', state]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  process.stdout.write(rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n');
}

async function revoke(idOrPrefix: string, flags: { config?: string }): Promise<void> {
  const ok = await withStore(flags.config, (s) => s.revokeKey(idOrPrefix));
  if (!ok) {
    process.stderr.write(`No active key matches "${idOrPrefix}". See: npm run llmux -- keys list\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(`Revoked ${idOrPrefix}. Running gateways on the same store stop accepting it within a second.\n`);
}

export function registerKeysCommand(program: Command): void {
  const keys = program.command('keys').description('client keys kept in the store (create, list, revoke)');
  keys
    .command('create')
    .description('create a client key and print it once')
    .option('-c, --config <file>', 'config file (for the store location)')
    .option('--name <name>', 'a name to recognise it by')
    .option('--models <list>', 'comma-separated routes it may call (default: all)')
    .option('--rpm <n>', 'requests per minute').option('--rpd <n>', 'requests per day').option('--tpd <n>', 'tokens per day')
    .option('--budget-day <n>', 'token budget per day').option('--budget-month <n>', 'token budget per month')
    .option('--expires <date>', 'expiry date, e.g. 2027-01-31')
    .action(create);
  keys.command('list').description('list client keys (never the keys themselves)').option('-c, --config <file>', 'config file').action(list);
  keys.command('revoke <idOrPrefix>').description('revoke a key by id or prefix').option('-c, --config <file>', 'config file').action(revoke);
}
