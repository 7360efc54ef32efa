/**
 * `llmux import api-together`: its `src/config/apis.json` (seed-formats §2). Each entry of `apis`
 * becomes a provider; one `*` route picks among them at random, as api-together did; models are
 * served by implicit routes (SPEC §4), which is how api-together filtered APIs by `models`.
 */
import { cleanBaseUrl, isHostOnly } from './base-url.ts';
import {
  addProvider, addRoute, claimProviderId, finishDraft, newDraft, noteAt, providerKeyRef, secretRef,
  type ImportDraft, type ImportOptions, type ImportResult, type ProviderInput,
} from './result.ts';
import { isRecord, num, readJsonFile, resolveFile, str, importError } from './read-source.ts';
import { countersOfToday } from './api-together-counters.ts';

const candidates = ['apis.json', 'src/config/apis.json', 'config/apis.json'];

export async function importApiTogether(input: string, opts: ImportOptions = {}): Promise<ImportResult> {
  const file = await resolveFile(input, candidates, 'apis.json');
  const raw = await readJsonFile(file);
  if (!isRecord(raw) || !Array.isArray(raw.apis)) throw importError(`${file}: expected an object with an "apis" list`);
  const draft = newDraft();
  importServer(draft, raw.server);
  const idMap = new Map<string, string>();
  raw.apis.forEach((api, i) => {
    const id = importApi(draft, api, i);
    if (id && isRecord(api)) idMap.set(String(api.id), id);
  });
  addRoute(draft, { name: '*', balance: 'random' },
    'api-together tried a random eligible API per attempt. Requests for a listed model use the ' +
    "providers that list or map it (implicit routes, round-robin); any other model now falls back here instead of api-together's 503.");
  const timeZone = opts.timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (timeZone && timeZone !== 'UTC') {
    draft.server.timezone = timeZone;
    draft.comments.push({ path: ['server', 'timezone'], text: 'api-together counted RPD per local calendar day' });
  }
  const result = finishDraft(draft, file);
  const counters = await countersOfToday(file, idMap, opts.now ?? new Date());
  result.summary.notes.push(...counters.notes);
  if (counters.counters) result.counters = counters.counters;
  return result;
}

function importServer(draft: ImportDraft, server: unknown): void {
  if (!isRecord(server)) {
    draft.notes.push('no "server" block: api-together answered 500 to every request; llmux runs open on 127.0.0.1 until you add server.keys');
    return;
  }
  const port = num(server.port);
  if (port !== undefined && Number.isInteger(port) && port >= 0 && port <= 65535) draft.server.port = port;
  const key = str(server.apiKey);
  if (key) draft.server.keys = [secretRef(draft, 'CLIENT_KEY', key)];
  else draft.notes.push('no server.apiKey: api-together refused every request; llmux is open on loopback until you add server.keys');
  draft.notes.push('api-together listened on every interface; llmux binds 127.0.0.1 (set server.host: 0.0.0.0 to expose it)');
}

/** One `apis[]` entry → a provider; returns its id, or null when it was skipped. */
function importApi(draft: ImportDraft, api: unknown, i: number): string | null {
  const where = `apis[${i}]`;
  if (!isRecord(api)) {
    draft.notes.push(`${where}: not an object, skipped`);
    return null;
  }
  const rawId = str(api.id) ?? (typeof api.id === 'number' ? String(api.id) : undefined);
  const name = str(api.name);
  const key = str(api.apiKey);
  const base = typeof api.baseUrl === 'string' ? cleanBaseUrl(api.baseUrl) : null;
  if (!rawId || !name || !key || !base?.url) {
    // api-together silently skipped entries missing any of these four fields.
    const missing = [!rawId && 'id', !name && 'name', !key && 'apiKey', !base?.url && 'baseUrl'].filter(Boolean);
    draft.notes.push(`${where}${rawId ? ` (${rawId})` : ''}: skipped, missing or invalid ${missing.join(', ')} (api-together ignored it too)`);
    return null;
  }
  const id = claimProviderId(draft, rawId, `api${i + 1}`);
  const provider: ProviderInput = { id, name, baseUrl: base.url, keys: [providerKeyRef(draft, id, key)] };
  const index = addProvider(draft, provider);
  if (id !== rawId) noteAt(draft, ['providers', index, 'id'], `${rawId}: id rewritten as "${id}" (ids are [a-z0-9_-])`);
  importBaseUrl(draft, provider, index, base.cutSuffix);
  importLimits(draft, api, provider, index);
  importModels(draft, api, provider, index);
  if (api.enabled !== true) {
    provider.enabled = false;
    noteAt(draft, ['providers', index, 'enabled'], `${id}: disabled (api-together used an API only when "enabled" was true)`);
  }
  return id;
}

function importBaseUrl(draft: ImportDraft, p: ProviderInput, index: number, cut: string | null): void {
  const path = ['providers', index, 'baseUrl'];
  if (cut) noteAt(draft, path, `${p.id}: "${cut}" cut from baseUrl (api-together appends /chat/completions itself)`);
  const url = p.baseUrl as string;
  if (isHostOnly(url)) {
    p.baseUrl = `${url}/v1`;
    noteAt(draft, path, `${p.id}: /v1 added to a host-only baseUrl (older api-together versions did the same)`);
  } else if (!/\/v\d/.test(new URL(url).pathname)) {
    noteAt(draft, path, `${p.id}: baseUrl has no /v1; kept as is, as current api-together does (older versions inserted /v1)`);
  }
}

/** -1 → null (unlimited), 0 → 0 (disabled), missing → unlimited; other negatives blocked every request. */
function limitOf(v: unknown): number | null | undefined {
  const n = num(v);
  if (n === undefined) return undefined;
  if (n === -1) return null;
  if (n < 0) return 0;
  return Math.floor(n);
}

function importLimits(draft: ImportDraft, api: Record<string, unknown>, p: ProviderInput, index: number): void {
  const rpm = limitOf(api.rpm);
  const rpd = limitOf(api.rpd);
  if (rpm === undefined && rpd === undefined) return;
  p.limits = {};
  if (rpm !== undefined) p.limits.rpm = rpm;
  if (rpd !== undefined) p.limits.rpd = rpd;
  for (const [k, v] of [['rpm', rpm], ['rpd', rpd]] as const) {
    if (v === 0) noteAt(draft, ['providers', index, 'limits', k], `${p.id}: ${k} 0 keeps this provider from serving (as in api-together)`);
  }
  // llmux limits each endpoint (provider × key × upstream model, SPEC §6); api-together counted an API as a whole.
  const upstreamModels = new Set([
    ...(Array.isArray(api.models) ? api.models.filter((m) => typeof m === 'string') : []),
    ...(isRecord(api.modelMapping) ? Object.values(api.modelMapping).filter((m) => typeof m === 'string') : []),
  ]);
  if (upstreamModels.size > 1 && ((rpm ?? 0) > 0 || (rpd ?? 0) > 0)) {
    noteAt(draft, ['providers', index, 'limits'],
      `${p.id}: rpm/rpd now count per upstream model (${upstreamModels.size} models: up to ${upstreamModels.size}× the requests); api-together counted the API as a whole — lower them if the upstream's quota is per key`);
  }
}

function importModels(draft: ImportDraft, api: Record<string, unknown>, p: ProviderInput, index: number): void {
  const models = Array.isArray(api.models) ? api.models.filter((m): m is string => typeof m === 'string' && m.trim() !== '') : [];
  if (models.length > 0) p.models = models;
  else noteAt(draft, ['providers', index], `${p.id}: no models; api-together never sent it a request that named a model, llmux uses it only for the * route`);
  if (isRecord(api.modelMapping)) {
    const map: Record<string, string> = {};
    for (const [from, to] of Object.entries(api.modelMapping)) if (typeof to === 'string' && to) map[from] = to;
    if (Object.keys(map).length > 0) p.modelMap = map;
  }
}
