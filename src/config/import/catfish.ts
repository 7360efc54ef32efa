/**
 * `llmux import catfish`: Catfish API Aggregator's `data/config.json` (seed-formats §5). Each scheme
 * is a route (its name is the public model), each config a target with its priority; equal
 * priorities rotate round-robin as catfish did. Catfish sent unknown models to the alphabetically
 * first scheme, so that scheme's targets also become the `*` route.
 */
import path from 'node:path';
import { cleanBaseUrl, idStemFromUrl, isHostOnly } from './base-url.ts';
import {
  addProvider, addRoute, claimProviderId, finishDraft, newDraft, providerKeyRef, secretRef,
  type ImportDraft, type ImportOptions, type ImportResult, type ProviderInput, type RouteInput,
} from './result.ts';
import { importError, isFile, isRecord, num, readEnvFile, readJsonFile, resolveFile, str } from './read-source.ts';

type Target = NonNullable<RouteInput['targets']>[number];

interface SchemeState {
  draft: ImportDraft;
  byIdentity: Map<string, string>;
  noBreaker: number;
}

export async function importCatfish(input: string, _opts: ImportOptions = {}): Promise<ImportResult> {
  const file = await resolveFile(input, ['data/config.json', 'config.json'], 'catfish data/config.json');
  const schemes = toSchemes(await readJsonFile(file), file);
  const state: SchemeState = { draft: newDraft(), byIdentity: new Map(), noBreaker: 0 };
  const { draft } = state;
  if (schemes.v1) draft.notes.push('v1 config (a bare list): imported as the scheme "default", as catfish migrated it');
  const names = Object.keys(schemes.map).sort();
  let fallback: { name: string; targets: Target[] } | undefined;
  for (const name of names) {
    const entries = schemes.map[name] ?? [];
    const targets = schemeTargets(state, name, entries);
    if (targets.length === 0) {
      draft.notes.push(`scheme "${name}": no usable config, no route made`);
      continue;
    }
    addRoute(draft, { name, balance: 'round-robin', targets: targets.map((t) => t.target) });
    // Catfish forwarded the caller's model unchanged to the fallback scheme unless a config overrode it.
    fallback ??= { name, targets: targets.map((t) => (t.override ? t.target : { provider: t.target.provider, priority: t.target.priority })) };
  }
  if (fallback && !names.includes('*')) {
    const why = `catfish sent unknown or missing models to its alphabetically first scheme, "${fallback.name}": it is also the * route`;
    addRoute(draft, { name: '*', balance: 'round-robin', targets: fallback.targets }, why);
    draft.notes.push(why);
  }
  if (state.noBreaker > 0) {
    draft.notes.push(`${state.noBreaker} config(s) had no breaker in catfish (threshold or duration unset); llmux's default breaker applies`);
  }
  draft.notes.push('llmux binds 127.0.0.1 by default; set server.host: 0.0.0.0 to serve other machines or a container port');
  await importEnv(draft, file);
  await noteStats(draft, file);
  return finishDraft(draft, file);
}

function toSchemes(raw: unknown, file: string): { map: Record<string, unknown[]>; v1: boolean } {
  if (Array.isArray(raw)) return { map: { default: raw }, v1: true };
  if (!isRecord(raw)) throw importError(`${file}: expected an object of schemes or a list of configs`);
  const map: Record<string, unknown[]> = {};
  for (const [name, list] of Object.entries(raw)) if (Array.isArray(list)) map[name] = list;
  return { map, v1: false };
}

/** A scheme's configs, sorted by priority (stable, as catfish sorted on read), as targets. */
function schemeTargets(state: SchemeState, scheme: string, entries: unknown[]): Array<{ target: Target; override: boolean }> {
  const sorted = entries
    .map((e, i) => ({ e, i, p: isRecord(e) ? num(e.priority) : undefined }))
    .sort((a, b) => (a.p ?? Infinity) - (b.p ?? Infinity) || a.i - b.i);
  const out: Array<{ target: Target; override: boolean }> = [];
  for (const { e, i, p } of sorted) {
    const where = `${scheme}[${i}]`;
    if (!isRecord(e)) continue;
    const base = typeof e.url === 'string' ? cleanBaseUrl(e.url) : null;
    const key = str(e.api_key);
    if (!base?.url || !key || p === undefined) {
      const missing = [!base?.url && 'url', !key && 'api_key', p === undefined && 'priority'].filter(Boolean).join(', ');
      state.draft.notes.push(`${where}: skipped, missing or invalid ${missing}`);
      continue;
    }
    if (base.cutSuffix) state.draft.notes.push(`${where}: "${base.cutSuffix}" cut from url (catfish appended /chat/completions itself)`);
    const provider = providerFor(state, e, base.url, key, scheme, where);
    const override = str(e.model);
    out.push({ target: { provider, model: override ?? scheme, priority: Math.floor(p) }, override: override !== undefined });
  }
  return out;
}

/** One provider per distinct (url, key, breaker settings); configs sharing all three share it. */
function providerFor(state: SchemeState, e: Record<string, unknown>, url: string, key: string, scheme: string, where: string): string {
  const threshold = num(e.consecutive_failure_threshold);
  const duration = num(e.disable_duration_seconds);
  const breaker = threshold !== undefined && duration !== undefined && duration > 0
    ? { failures: Math.max(1, Math.floor(threshold)), cooldownMs: Math.round(duration * 1000), maxCooldownMs: Math.round(duration * 1000) }
    : undefined;
  const identity = JSON.stringify([url, key, breaker ?? null]);
  const known = state.byIdentity.get(identity);
  if (known) return known;
  if (!breaker) state.noBreaker++;
  const id = claimProviderId(state.draft, idStemFromUrl(url), scheme);
  let baseUrl = url;
  if (isHostOnly(url)) {
    baseUrl = `${url}/v1`;
    state.draft.notes.push(`${where}: catfish called ${url}/chat/completions; llmux uses ${baseUrl}/chat/completions for a host-only URL — check it`);
  }
  const provider: ProviderInput = { id, baseUrl, keys: [providerKeyRef(state.draft, id, key)] };
  // Catfish re-enabled after a fixed duration (no doubling): cap the cooldown at that duration.
  if (breaker) provider.breaker = breaker;
  addProvider(state.draft, provider);
  state.byIdentity.set(identity, id);
  return id;
}

/** Catfish kept its one key (ADMIN_KEY) and PORT in the environment, usually a `.env` beside data/. */
async function importEnv(draft: ImportDraft, configFile: string): Promise<void> {
  const dataDir = path.dirname(configFile);
  const candidates = [path.join(dataDir, '..', '.env'), path.join(dataDir, '.env')];
  let env: Record<string, string> | undefined;
  for (const c of candidates) {
    if (await isFile(c)) {
      env = await readEnvFile(c);
      break;
    }
  }
  const adminKey = str(env?.ADMIN_KEY);
  if (adminKey) {
    draft.server.adminKey = secretRef(draft, 'ADMIN_KEY', adminKey);
    draft.notes.push('ADMIN_KEY from .env → server.adminKey; with no client keys it also guards /v1, as in catfish');
  } else {
    draft.notes.push('no ADMIN_KEY in a .env beside data/: catfish fell back to "admin"; set server.adminKey (it also guards /v1 while there are no client keys)');
  }
  const port = num(env?.PORT);
  if (port !== undefined && Number.isInteger(port) && port >= 0 && port <= 65535) draft.server.port = port;
}

async function noteStats(draft: ImportDraft, configFile: string): Promise<void> {
  if (await isFile(path.join(path.dirname(configFile), 'stats.json'))) {
    draft.notes.push('stats.json (success/fail counts, round-robin positions, disabled_until) is not carried; llmux starts with fresh stats');
  }
}
