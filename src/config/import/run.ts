/**
 * One import from start to end: pick the importer, read, write, and tell the operator what
 * happened. Output goes through `print` so the CLI and tests share it; every printed line passes
 * `scrubSecrets`, and keys are shown only masked (`sk-…abcd`).
 */
import { importApiTogether } from './api-together.ts';
import { importCatfish } from './catfish.ts';
import { importEnvV3 } from './env-v3.ts';
import { importFailproxy } from './failproxy.ts';
import { importFreeApiDir } from './free-api-dir.ts';
import { importError } from './read-source.ts';
import type { ImportOptions, ImportResult } from './result.ts';
import { maskSecret, scrubSecrets, writeImport, type WriteOutcome } from './writer.ts';

export type Importer = (path: string, opts?: ImportOptions) => Promise<ImportResult>;

export const importers: Readonly<Record<string, Importer>> = {
  'api-together': importApiTogether,
  failproxy: importFailproxy,
  catfish: importCatfish,
  'free-api-dir': importFreeApiDir,
  'env-v3': importEnvV3,
};

export interface RunImportArgs {
  format: string;
  path: string;
  output: string;
  force?: boolean;
  envFile?: string;
}

export interface RunImportDeps extends ImportOptions {
  /** One line of terminal output. */
  print: (line: string) => void;
}

export async function runImport(args: RunImportArgs, deps: RunImportDeps): Promise<{ result: ImportResult; outcome: WriteOutcome }> {
  const importer = importers[args.format];
  if (!importer) throw importError(`unknown format "${args.format}"; use one of: ${Object.keys(importers).join(', ')}`);
  const { print, ...opts } = deps;
  const result = await importer(args.path, opts);
  const say = (line: string): void => print(scrubSecrets(line, result.secrets));
  say(`importing ${args.format} from ${result.source}`);
  printPlan(result, say);
  const outcome = await writeImport(result, {
    output: args.output, force: args.force ?? false, format: args.format, input: args.path,
    ...(args.envFile ? { envFile: args.envFile } : {}), ...(opts.now ? { now: opts.now } : {}),
  });
  printOutcome(result, outcome, say);
  return { result, outcome };
}

/** The value a `${NAME}` reference stands for, masked; other strings as they are. */
function masked(ref: unknown, secrets: Readonly<Record<string, string>>): string {
  const name = typeof ref === 'string' ? /^\$\{(.+)\}$/.exec(ref)?.[1] : undefined;
  const value = name !== undefined ? secrets[name] : undefined;
  return value !== undefined ? maskSecret(value) : '(key)';
}

/** One line per provider (the progress output) and per route. */
function printPlan(result: ImportResult, say: (line: string) => void): void {
  const { config, secrets } = result;
  for (const p of config.providers ?? []) {
    const keys = (typeof p.keys === 'string' ? [p.keys] : (p.keys ?? [])).map((k) => masked(k, secrets)).join(', ');
    const where = p.baseUrl ?? `type ${p.type} (preset URL)`;
    // Importers that send a fixed model per route (catfish, env-v3) put it on the targets instead.
    const viaRoutes = new Set((config.routes ?? []).flatMap((r) => (r.targets ?? []).filter((t) => t.provider === p.id && t.model).map((t) => t.model)));
    const models = Array.isArray(p.models) ? `${p.models.length} model(s)`
      : viaRoutes.size > 0 ? `${viaRoutes.size} model(s) set by routes` : 'models from the caller';
    const off = p.enabled === false ? '  [disabled]' : '';
    say(`  provider ${p.id}  ${where}  key ${keys || 'none'}  ${models}${off}`);
  }
  for (const r of config.routes ?? []) {
    const targets = r.targets ? `${r.targets.length} target(s)` : 'every provider';
    say(`  route ${r.name}  ${r.balance ?? 'round-robin'}  ${targets}`);
  }
  const server = config.server ?? {};
  for (const k of server.keys ?? []) say(`  client key ${masked(typeof k === 'string' ? k : k.key, secrets)}`);
  if (server.adminKey) say(`  admin key ${masked(server.adminKey, secrets)}`);
  for (const [id, c] of Object.entries(result.counters ?? {})) say(`  counter ${id}: ${c.rpd} requests today (${c.day})`);
}

function printOutcome(result: ImportResult, outcome: WriteOutcome, say: (line: string) => void): void {
  const { summary } = result;
  if (summary.notes.length > 0) {
    say('notes (not carried over, or changed):');
    for (const n of summary.notes) say(`  - ${n}`);
  }
  say(`wrote ${outcome.output}: ${summary.providers} provider(s), ${summary.routes} route(s), ${summary.keys} key(s)`);
  if (outcome.envFile) say(`keys written to ${outcome.envFile} as LLMUX_<ID>_KEY; the YAML references them (llmux reads .env from the folder it runs in)`);
  else if (outcome.inlineKeys) say('keys are in the YAML in clear text: keep it private (file mode 600), or re-run with --keys-env .env');
  say(`next: llmux check --config ${outcome.output}`);
}
