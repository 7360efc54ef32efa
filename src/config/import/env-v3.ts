/**
 * `llmux import env-v3`: the `.env` of the multi-free-API proxy V3 (seed-formats §1.1, §1.3).
 * `FREE<n>_API_KEY` (+ optional `FREE<n>_BASE_URL`) becomes provider `free<n>`; where the base URL
 * is absent, V3's hard-coded table (the envV3Table in presets.ts) supplies it. Known hosts become `type:
 * <preset>`; host and provider names live only in that JSON and in presets.ts (project rule).
 *
 * V3 ignored the caller's model: every request went to the next API in turn with that API's own
 * model. So the table's model is the `*` route target's model, not a provider `models` entry: a
 * listed model would become an implicit route (SPEC §4) and a caller asking for, say, V3's
 * `gpt-3.5-turbo` would reach only that one API, without the rotation and failover V3 gave it.
 */
import path from 'node:path';
import { presets } from '../presets.ts';
import { hostOf } from './base-url.ts';
import { normaliseFreeApiBaseUrl } from '../discover-free-api-dir.ts';
import {
  addProvider, addRoute, finishDraft, newDraft, noteAt, providerKeyRef,
  type ImportDraft, type ImportOptions, type ImportResult, type ProviderInput,
} from './result.ts';
import { importError, isDirectory, num, readEnvFile, str } from './read-source.ts';
import { envV3Table as table } from '../presets.ts';

interface TableEntry {
  baseUrl?: string;
  preset?: string;
  model?: string;
  useProxy?: boolean;
  id?: string;
}

const fixed: Record<string, TableEntry> = table.fixed;
const namedKeys: Record<string, TableEntry> = table.namedKeys;

/** provider id → the model V3 sent it (undefined: the caller's), in provider order. */
type Targets = Map<string, string | undefined>;

/** Preset whose base URL has this host (local, keyless presets excluded: a host there means nothing). */
function presetForHost(host: string): string | undefined {
  return Object.entries(presets).find(([, p]) => !p.keyless && hostOf(p.baseUrl) === host)?.[0];
}

function knownPreset(name: string | undefined): string | undefined {
  return name !== undefined && name in presets ? name : undefined;
}

export async function importEnvV3(input: string, _opts: ImportOptions = {}): Promise<ImportResult> {
  const abs = path.resolve(input);
  const file = (await isDirectory(abs)) ? path.join(abs, '.env') : abs;
  let env: Record<string, string>;
  try {
    env = await readEnvFile(file);
  } catch {
    throw importError(`${input}: cannot read ${file}`);
  }
  const draft = newDraft();
  const numbers = new Set<number>();
  for (const name of Object.keys(env)) {
    const m = /^FREE(\d+)_(API_KEY|BASE_URL)$/.exec(name);
    if (m) numbers.add(Number(m[1]));
  }
  for (const n of Object.keys(fixed).map((k) => Number(k.replace(/\D/g, '')))) numbers.add(n);
  const targets: Targets = new Map();
  for (const n of [...numbers].sort((a, b) => a - b)) importNumbered(draft, env, n, targets);
  for (const [varName, entry] of Object.entries(namedKeys)) importNamed(draft, env, varName, entry, targets);
  if (draft.providers.length === 0) throw importError(`${file}: no FREE<n>_API_KEY (or known provider key) with a value`);
  addRoute(draft, {
    name: '*',
    balance: 'round-robin',
    targets: [...targets].map(([provider, model]) => (model === undefined ? { provider } : { provider, model })),
  }, 'V3 took the next available API in turn and sent it its own model, whatever the caller asked (a target without a model passes the caller\'s); add new providers here too');
  importServer(draft, env);
  return finishDraft(draft, file);
}

function importNumbered(draft: ImportDraft, env: Record<string, string>, n: number, targets: Targets): void {
  const id = `free${n}`;
  const key = str(env[`FREE${n}_API_KEY`]);
  const entry = fixed[id];
  const envUrl = str(env[`FREE${n}_BASE_URL`]);
  if (!key) {
    if (envUrl || entry) draft.notes.push(`${id}: no FREE${n}_API_KEY value, skipped (V3 needed every key; later versions skipped missing ones)`);
    return;
  }
  if (!envUrl && !entry) {
    draft.notes.push(`${id}: no FREE${n}_BASE_URL and not in V3's fixed table, skipped`);
    return;
  }
  draft.providerIds.add(id);
  const provider: ProviderInput = { id, keys: [providerKeyRef(draft, id, key)] };
  const sameHostAsTable = entry?.baseUrl !== undefined && (!envUrl || hostOf(envUrl) === hostOf(entry.baseUrl));
  const index = addProvider(draft, provider);
  setBase(draft, provider, index, envUrl, entry);
  targets.set(id, sameHostAsTable ? entry?.model : undefined);
  setProxy(provider, env, entry);
}

/**
 * V3 used HTTP_PROXY only for the APIs its table marks (the single-upstream local proxy used it for its
 * upstream); llmux would apply it to all, and only when run next to this .env, so say it per provider.
 */
function setProxy(p: ProviderInput, env: Record<string, string>, entry: TableEntry | undefined): void {
  const proxy = str(env.HTTP_PROXY);
  if (!proxy) return;
  p.proxy = entry?.useProxy ? proxy : 'none';
}

/** Base URL and type: an explicit FREE<n>_BASE_URL wins; a table entry with a preset uses the preset's URL. */
function setBase(draft: ImportDraft, p: ProviderInput, index: number, envUrl: string | undefined, entry: TableEntry | undefined): void {
  const raw = envUrl ?? entry?.baseUrl ?? '';
  const norm = normaliseFreeApiBaseUrl(raw);
  if (!norm.url) {
    noteAt(draft, ['providers', index], `${p.id}: base URL is not an http(s) URL; fix baseUrl`);
    p.enabled = false;
    return;
  }
  for (const n of norm.notes) draft.notes.push(`${p.id}: ${n}`);
  const preset = envUrl ? presetForHost(hostOf(norm.url)) : (knownPreset(entry?.preset) ?? presetForHost(hostOf(norm.url)));
  if (preset) p.type = preset;
  if (!envUrl && preset) {
    const presetUrl = presets[preset]?.baseUrl;
    if (presetUrl !== norm.url) {
      noteAt(draft, ['providers', index, 'type'], `${p.id}: V3 called ${norm.url}/chat/completions; the ${preset} preset's ${presetUrl} is used instead`);
    }
    return;
  }
  p.baseUrl = norm.url;
}

function importNamed(draft: ImportDraft, env: Record<string, string>, varName: string, entry: TableEntry, targets: Targets): void {
  const key = str(env[varName]);
  const preset = knownPreset(entry.preset);
  if (!key || !entry.id || !preset) return;
  let id = entry.id;
  for (let n = 2; draft.providerIds.has(id); n++) id = `${entry.id}-${n}`;
  draft.providerIds.add(id);
  const provider: ProviderInput = { id, type: preset, keys: [providerKeyRef(draft, id, key)] };
  setProxy(provider, env, entry);
  targets.set(id, entry.model);
  addProvider(draft, provider, `from ${varName}`);
}

function importServer(draft: ImportDraft, env: Record<string, string>): void {
  const port = num(env.PORT);
  if (port !== undefined && Number.isInteger(port) && port >= 0 && port <= 65535) draft.server.port = port;
  const max = num(env.MAX_CONCURRENT_REQUESTS);
  if (max !== undefined && Number.isInteger(max) && max > 0) draft.server.maxConcurrency = max;
  const cache = str(env.CACHE_DIR);
  if (cache) draft.top.debug = { dir: cache };
  draft.notes.push(
    'V3 rebuilt every request (temperature 0.7, max_tokens 2000, no streaming) and ignored the caller\'s model; llmux passes the request through',
    'V3 dropped an API for good after 3 failures; llmux breakers re-probe after a cooldown',
    'V3 listened on 0.0.0.0 without client keys; llmux binds 127.0.0.1 (add server.keys before exposing it)',
  );
}
