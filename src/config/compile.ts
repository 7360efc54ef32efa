/**
 * Config → Snapshot: the validated, immutable config in effect, with everything the request path
 * needs precomputed (URLs, key hashes, model index). Swapped whole on reload.
 */
import { hashKey } from '../core/digest.ts';
import type { Balance, ClientKeyConfig, Config, LimitsConfig, ProviderConfig } from './schema.ts';
import { ConfigError } from './load.ts';
import { presets } from './presets.ts';

export interface CompiledProvider {
  readonly id: string;
  readonly name: string;
  readonly type: string;
  /** `https://host` part, for the connection pool. */
  readonly origin: string;
  /** Path prefix such as `/v1`, without a trailing slash. */
  readonly basePath: string;
  readonly baseUrl: string;
  readonly keys: readonly string[];
  /** A short fingerprint per key (part of the endpoint id; not reversible to the key). */
  readonly keyIds: readonly string[];
  /** Explicit model list; empty when unknown (`auto`/`free` before discovery, or none given). */
  readonly models: readonly string[];
  readonly discover: 'auto' | 'free' | null;
  readonly modelMap: Readonly<Record<string, string>>;
  readonly limits: LimitsConfig;
  readonly timeout: ProviderConfig['timeout'];
  readonly breaker: ProviderConfig['breaker'];
  readonly retries: number;
  readonly params: Readonly<Record<string, unknown>>;
  readonly stream: boolean | null;
  readonly headers: Readonly<Record<string, string>>;
  /** Outbound proxy URL, or null for a direct connection. */
  readonly proxy: string | null;
  readonly priority: number;
  readonly weight: number;
  readonly enabled: boolean;
  readonly failoverOn: ReadonlySet<number>;
  readonly quirks: readonly string[];
  readonly attribution: ProviderConfig['attribution'];
  readonly reasoning: ProviderConfig['reasoning'];
  readonly reasoningField: string | undefined;
}

export interface CompiledTarget {
  readonly provider: CompiledProvider;
  /** Upstream model; undefined = the provider's first model (or the caller's when it has none). */
  readonly model: string | undefined;
  readonly priority: number;
  readonly weight: number;
}

export interface CompiledRoute {
  readonly name: string;
  readonly balance: Balance;
  readonly targets: readonly CompiledTarget[];
  readonly hedge: Config['routes'][number]['hedge'];
}

export interface ClientPrincipal {
  readonly id: string;
  readonly name: string;
  /** SHA-256 hex of the key; the key itself is not kept. */
  readonly hash: string;
  readonly prefix: string;
  readonly limits: LimitsConfig | undefined;
  readonly models: readonly string[] | undefined;
  readonly budgetTokens: { day?: number; month?: number } | undefined;
  readonly expiresAt: number | undefined;
  readonly source: 'file' | 'store';
}

export interface Snapshot {
  readonly version: number;
  readonly loadedAt: number;
  readonly file: string | null;
  readonly config: Config;
  readonly providers: ReadonlyMap<string, CompiledProvider>;
  readonly routes: ReadonlyMap<string, CompiledRoute>;
  /** model name → providers that list it or map it (implicit routes). */
  readonly modelIndex: ReadonlyMap<string, readonly CompiledProvider[]>;
  readonly clientKeys: ReadonlyMap<string, ClientPrincipal>;
  readonly adminKeyHash: string | null;
  readonly bodyLimitBytes: number;
}


/** `sk-…abcd`: enough to recognise a key, never enough to use it. */
export function maskKey(key: string): string {
  if (key.length <= 8) return '…' + key.slice(-2);
  const dash = key.indexOf('-');
  const head = dash > 0 && dash <= 4 ? key.slice(0, dash + 1) : key.slice(0, 3);
  return `${head}…${key.slice(-4)}`;
}

/** SPEC §3: a base URL that is only a host gets `/v1`; trailing slashes go. */
export function normaliseBaseUrl(raw: string): { origin: string; basePath: string; baseUrl: string } {
  const u = new URL(raw);
  let p = u.pathname.replace(/\/+$/, '');
  if (p === '') p = '/v1';
  if (p.endsWith('/chat/completions')) p = p.slice(0, -'/chat/completions'.length);
  return { origin: u.origin, basePath: p, baseUrl: u.origin + p };
}

function isLoopbackOrigin(origin: string): boolean {
  const host = new URL(origin).hostname;
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

const units: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

export function parseSize(v: number | string): number {
  if (typeof v === 'number') return v;
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i.exec(v.trim());
  if (!m) throw new Error(`bad size ${v}`);
  return Math.floor(Number(m[1]) * (units[(m[2] ?? 'b').toLowerCase()] ?? 1));
}

function compileProvider(p: ProviderConfig, cfg: Config, index: number, problems: string[], discovered?: ReadonlyMap<string, readonly string[]>): CompiledProvider | null {
  const preset = presets[p.type];
  if (!preset && p.type !== 'openai') {
    problems.push(`providers[${index}].type: unknown type "${p.type}" (use openai or a preset: ${Object.keys(presets).join(', ')})`);
    return null;
  }
  const rawBase = p.baseUrl ?? preset?.baseUrl;
  if (!rawBase) {
    problems.push(`providers[${index}].baseUrl: required for type "${p.type}"`);
    return null;
  }
  const url = normaliseBaseUrl(rawBase);
  const keys = (typeof p.keys === 'string' ? [p.keys] : (p.keys ?? [])).filter((k) => k.length > 0);
  // No list: the caller's model passes through (targets without a model then use it).
  const models = Array.isArray(p.models) ? p.models : (discovered?.get(p.id) ?? []);
  // The default proxy (often HTTP_PROXY from the environment) never carries loopback traffic, as
  // curl and every NO_PROXY default agree; a provider's own `proxy` is taken as meant.
  const ownProxy = p.proxy !== undefined && p.proxy !== null;
  const proxyRaw = ownProxy ? p.proxy! : isLoopbackOrigin(url.origin) ? null : cfg.proxy ?? null;
  return {
    id: p.id,
    name: p.name ?? p.id,
    type: p.type,
    ...url,
    keys,
    keyIds: keys.map((k) => hashKey(k).slice(0, 8)),
    models,
    discover: p.models === 'auto' || p.models === 'free' ? p.models : null,
    modelMap: p.modelMap,
    limits: p.limits,
    timeout: p.timeout,
    breaker: p.breaker,
    retries: p.retries,
    params: p.params,
    stream: p.stream,
    headers: p.headers,
    proxy: proxyRaw === 'none' || proxyRaw === '' ? null : proxyRaw,
    priority: p.priority,
    weight: p.weight,
    enabled: p.enabled,
    failoverOn: new Set(p.failoverOn),
    quirks: preset?.quirks ?? [],
    attribution: p.attribution,
    reasoning: p.reasoning,
    reasoningField: p.reasoningField,
  };
}

function compilePrincipal(k: ClientKeyConfig, i: number): ClientPrincipal {
  const o = typeof k === 'string' ? { key: k } : k;
  const budget = typeof o.budgetTokens === 'number' ? { day: o.budgetTokens } : o.budgetTokens;
  return {
    id: `file:${i}`,
    name: o.name ?? `key-${i + 1}`,
    hash: hashKey(o.key),
    prefix: maskKey(o.key),
    limits: o.limits,
    models: o.models,
    budgetTokens: budget,
    expiresAt: o.expiresAt === undefined ? undefined : new Date(o.expiresAt).getTime(),
    source: 'file',
  };
}

/**
 * Compile a validated config. `discovered` holds model lists found at run time for providers with
 * `models: auto | free`. Throws ConfigError listing every problem.
 */
export function compile(config: Config, file: string | null, version: number, now = Date.now(), discovered?: ReadonlyMap<string, readonly string[]>): Snapshot {
  const problems: string[] = [];
  const providers = new Map<string, CompiledProvider>();
  config.providers.forEach((p, i) => {
    const c = compileProvider(p, config, i, problems, discovered);
    if (c) providers.set(c.id, c);
  });
  const routes = new Map<string, CompiledRoute>();
  for (const r of config.routes) {
    const targets = (r.targets ?? [...providers.values()].map((p) => ({ provider: p.id, model: undefined, priority: undefined, weight: undefined })))
      .map((t) => {
        const provider = providers.get(t.provider);
        return provider ? { provider, model: t.model, priority: t.priority ?? provider.priority, weight: t.weight ?? provider.weight } : null;
      })
      .filter((t): t is CompiledTarget => t !== null);
    routes.set(r.name, { name: r.name, balance: r.balance, targets, hedge: r.hedge });
  }
  const modelIndex = new Map<string, CompiledProvider[]>();
  for (const p of providers.values()) {
    for (const m of new Set([...p.models, ...Object.keys(p.modelMap)])) {
      const list = modelIndex.get(m) ?? [];
      list.push(p);
      modelIndex.set(m, list);
    }
  }
  const clientKeys = new Map<string, ClientPrincipal>();
  config.server.keys.forEach((k, i) => {
    const pr = compilePrincipal(k, i);
    clientKeys.set(pr.hash, pr);
  });
  if (problems.length > 0) throw new ConfigError(file, problems);
  return {
    version,
    loadedAt: now,
    file,
    config,
    providers,
    routes,
    modelIndex,
    clientKeys,
    adminKeyHash: config.server.adminKey ? hashKey(config.server.adminKey) : null,
    bodyLimitBytes: parseSize(config.server.bodyLimit),
  };
}
