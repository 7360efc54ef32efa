/**
 * Loading a config: find the file, read `.env`, substitute `${NAME}` / `${NAME:-default}`, drop
 * values that came out empty, validate with the one schema. The only module (with watch.ts) that
 * reads process.env or config files.
 */
import { readFile, access } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parse as parseDotenv } from 'dotenv';
import { configSchema, crossReferenceIssues, formatIssues, formatPath, type Config } from './schema.ts';
import { envKeyPresets } from './presets.ts';
import { applySources } from './sources.ts';

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  readonly problems: string[];
  readonly file: string | null;
  constructor(file: string | null, problems: string[]) {
    super(`${file ?? 'config'} is invalid:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
    this.file = file;
  }
}

export interface LoadOptions {
  /** `--config`; falls back to `LLMUX_CONFIG`, then `./llmux.yaml|yml|json` if present. */
  configPath?: string;
  cwd?: string;
  /** Defaults to process.env; `.env` from cwd fills in what it does not set. */
  env?: Env;
}

export interface Loaded {
  config: Config;
  /** Absolute path of the file, or null when running on defaults. */
  file: string | null;
  env: Env;
  /** Things worth telling the operator (not errors). */
  notes: string[];
}

const defaultNames = ['llmux.yaml', 'llmux.yml', 'llmux.json'];

export async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

/** Environment with `.env` from `cwd` underneath the real one (real variables win). */
export async function readEnv(cwd: string, base: Env = process.env): Promise<Env> {
  let fromFile: Env = {};
  try {
    fromFile = parseDotenv(await readFile(path.join(cwd, '.env'), 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  return { ...fromFile, ...base };
}

export async function findConfigFile(opts: LoadOptions, env: Env): Promise<string | null> {
  const cwd = opts.cwd ?? process.cwd();
  const explicit = opts.configPath ?? env.LLMUX_CONFIG;
  if (explicit) {
    const abs = path.resolve(cwd, explicit);
    if (!(await exists(abs))) throw new ConfigError(abs, [`file not found (check --config / LLMUX_CONFIG)`]);
    return abs;
  }
  for (const name of defaultNames) {
    const abs = path.join(cwd, name);
    if (await exists(abs)) return abs;
  }
  return null;
}

const refPattern = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Substitute `${NAME}` and `${NAME:-default}` in one string. */
export function interpolate(s: string, env: Env): string {
  return s.replace(refPattern, (_m, name: string, def: string | undefined) => {
    const v = env[name];
    return v !== undefined && v !== '' ? v : (def ?? '');
  });
}

/**
 * Walk parsed YAML/JSON: substitute env references; a string that comes out empty counts as not
 * set (its key is removed), and empty entries of a list are dropped (SPEC §3).
 */
export function substituteEnv(value: unknown, env: Env): unknown {
  if (typeof value === 'string') {
    const out = interpolate(value, env);
    return out === '' ? undefined : out;
  }
  if (Array.isArray(value)) {
    return value.map((v) => substituteEnv(v, env)).filter((v) => v !== undefined);
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const s = substituteEnv(v, env);
      if (s !== undefined) out[k] = s;
    }
    return out;
  }
  return value;
}

/** Providers made from known key variables when there is no config file (SPEC §2). */
export function providersFromEnv(env: Env): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const [name, preset] of envKeyPresets()) {
    const key = preset.keyEnv ? env[preset.keyEnv] : undefined;
    if (key) out.push({ id: name, type: name, keys: [key] });
  }
  return out;
}

/** Apply environment overrides that SPEC §2–§3 name. */
function applyEnvOverrides(raw: Record<string, unknown>, env: Env, fromFile: boolean): void {
  const server = (raw.server ??= {}) as Record<string, unknown>;
  if (env.MAX_CONCURRENT_REQUESTS && /^\d+$/.test(env.MAX_CONCURRENT_REQUESTS)) {
    server.maxConcurrency = Number(env.MAX_CONCURRENT_REQUESTS);
  }
  if (env.PORT && /^\d+$/.test(env.PORT) && (!fromFile || server.port === undefined)) server.port = Number(env.PORT);
  if (env.LOG_LEVEL) ((raw.log ??= {}) as Record<string, unknown>).level = env.LOG_LEVEL.toLowerCase();
  if (env.LLMUX_DEBUG === '1' || env.LLMUX_DEBUG === 'true') ((raw.debug ??= {}) as Record<string, unknown>).enabled = true;
  if (env.CACHE_DIR && !(raw.debug as Record<string, unknown> | undefined)?.dir) ((raw.debug ??= {}) as Record<string, unknown>).dir = env.CACHE_DIR;
  if (raw.proxy === undefined && (env.HTTPS_PROXY || env.HTTP_PROXY)) raw.proxy = env.HTTPS_PROXY || env.HTTP_PROXY;
}

/** Validate an already substituted raw object. Throws ConfigError listing every problem by path. */
export function validateConfig(raw: unknown, file: string | null): Config {
  const r = configSchema.safeParse(raw);
  if (!r.success) {
    // Zod skips the whole-config checks when a field is wrong; list those problems in the same pass.
    const problems = formatIssues(r.error);
    for (const i of crossReferenceIssues(raw)) {
      const line = `${formatPath(i.path)}: ${i.message}`;
      if (!problems.includes(line)) problems.push(line);
    }
    throw new ConfigError(file, problems);
  }
  return r.data;
}

export function parseConfigText(text: string, file: string): unknown {
  try {
    return parseYaml(text, { prettyErrors: true }) ?? {};
  } catch (e) {
    throw new ConfigError(file, [`not valid YAML/JSON: ${(e as Error).message.split('\n')[0]}`]);
  }
}

export async function loadConfig(opts: LoadOptions = {}): Promise<Loaded> {
  const cwd = opts.cwd ?? process.cwd();
  const env = await readEnv(cwd, opts.env ?? process.env);
  const file = await findConfigFile(opts, env);
  const notes: string[] = [];
  let raw: Record<string, unknown>;
  if (file) {
    const parsed = parseConfigText(await readFile(file, 'utf8'), file);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new ConfigError(file, ['the top level must be a mapping (server:, providers:, routes: …)']);
    }
    raw = substituteEnv(parsed, env) as Record<string, unknown>;
  } else {
    const providers = providersFromEnv(env);
    raw = { providers };
    if (providers.length > 0) {
      raw.routes = [{ name: '*', targets: providers.map((p) => ({ provider: p.id as string })) }];
      notes.push(`no config file: providers from the environment: ${providers.map((p) => p.id).join(', ')}`);
    } else {
      notes.push('no config file and no provider keys in the environment: add providers in llmux.yaml (see README)');
    }
  }
  applyEnvOverrides(raw, env, file !== null);
  const withSources = await applySources(raw, cwd, env);
  notes.push(...withSources.notes);
  const config = validateConfig(withSources.raw, file);
  config.routes.forEach((r, i) => {
    // Accepted so configs written for later versions load, but said out loud: they do nothing yet.
    if (r.hedge) notes.push(`routes[${i}].hedge is not implemented yet and has no effect`);
    if (r.resume) notes.push(`routes[${i}].resume is not implemented yet and has no effect`);
  });
  return { config, file, env, notes };
}
