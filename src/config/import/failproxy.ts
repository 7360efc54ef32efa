/**
 * `llmux import failproxy`: its `config/<group>.json` files (seed-formats §4). Each file is a
 * route named after it; list order is priority (FailProxy tried endpoints strictly in order). Each
 * endpoint's model always replaced the caller's, so every target names its model.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { cleanBaseUrl, idStemFromUrl, isHostOnly } from './base-url.ts';
import {
  addProvider, addRoute, claimProviderId, finishDraft, newDraft, noteAt, providerKeyRef,
  type ImportDraft, type ImportOptions, type ImportResult, type ProviderInput,
} from './result.ts';
import { importError, isDirectory, isFile, isRecord, num, readJsonFile, str } from './read-source.ts';
import { failproxyTypes as typeTable } from '../presets.ts';

/** The groups FailProxy actually loaded (hard-coded in its model_config.py). */
const builtInGroups = new Set(['think', 'nothink', 'think-stream', 'think-nostream', 'nothink-stream', 'nothink-nostream', 'search']);

/** FailProxy `type` values that changed behaviour, mapped to provider fields (data, not code). */
const typeFields: Record<string, Partial<ProviderInput>> = typeTable as Record<string, Partial<ProviderInput>>;

interface Endpoint {
  name: string | undefined;
  baseUrl: string;
  key: string;
  model: string;
  timeoutS: number | undefined;
  params: Record<string, number>;
  stream: boolean | undefined;
  typeExtra: Partial<ProviderInput> | undefined;
}

export async function importFailproxy(input: string, _opts: ImportOptions = {}): Promise<ImportResult> {
  const files = await groupFiles(input);
  const draft = newDraft();
  const byIdentity = new Map<string, number>();
  const ignoredTypes = new Set<string>();
  for (const file of files) {
    const group = path.basename(file, '.json');
    const raw = await readJsonFile(file);
    if (!Array.isArray(raw)) {
      draft.notes.push(`${group}.json: not a JSON list, skipped (FailProxy failed to load it too)`);
      continue;
    }
    const targets = raw.flatMap((entry, i) => {
      const ep = readEndpoint(draft, entry, `${group}.json[${i}]`, ignoredTypes);
      if (!ep) return [];
      const provider = providerFor(draft, ep, byIdentity, group);
      return [{ provider, model: ep.model, priority: i }];
    });
    if (targets.length === 0) {
      draft.notes.push(`${group}.json: no usable endpoint, no route made`);
      continue;
    }
    const comment = builtInGroups.has(group) ? undefined : `FailProxy only loaded its built-in groups and ignored ${group}.json; imported anyway`;
    if (comment) draft.notes.push(comment);
    addRoute(draft, { name: group, targets }, comment);
  }
  addGlobalNotes(draft, ignoredTypes);
  return finishDraft(draft, path.dirname(files[0] ?? input));
}

/** `<path>/config/*.json`, `<path>/*.json`, or one file. Sorted for a stable result. */
async function groupFiles(input: string): Promise<string[]> {
  const abs = path.resolve(input);
  if (await isFile(abs)) return [abs];
  if (!(await isDirectory(abs))) throw importError(`${input}: no such file or folder`);
  for (const dir of [path.join(abs, 'config'), abs]) {
    if (!(await isDirectory(dir))) continue;
    const names = (await readdir(dir)).filter((n) => n.toLowerCase().endsWith('.json')).sort();
    if (names.length > 0) return names.map((n) => path.join(dir, n));
  }
  throw importError(`${input}: no <group>.json files (looked in ${input} and ${path.join(input, 'config')})`);
}

function readEndpoint(draft: ImportDraft, entry: unknown, where: string, ignoredTypes: Set<string>): Endpoint | null {
  if (!isRecord(entry)) {
    draft.notes.push(`${where}: not an object, skipped`);
    return null;
  }
  const base = typeof entry.baseurl === 'string' ? cleanBaseUrl(entry.baseurl) : null;
  const key = str(entry.apikey);
  const model = str(entry.model);
  if (!base?.url || !key || !model) {
    const missing = [!base?.url && 'baseurl', !key && 'apikey', !model && 'model'].filter(Boolean).join(', ');
    draft.notes.push(`${where}: skipped, missing or invalid ${missing} (FailProxy refused to load a group with such an entry)`);
    return null;
  }
  let baseUrl = base.url;
  if (base.cutSuffix) draft.notes.push(`${where}: "${base.cutSuffix}" cut from baseurl (FailProxy appended /chat/completions itself)`);
  if (isHostOnly(baseUrl)) {
    baseUrl += '/v1';
    draft.notes.push(`${where}: FailProxy called ${base.url}/chat/completions; llmux uses ${baseUrl}/chat/completions for a host-only URL — check it`);
  }
  const timeoutS = num(entry.timeout);
  if (timeoutS === undefined || timeoutS <= 0) draft.notes.push(`${where}: no usable timeout, llmux defaults apply`);
  const params: Record<string, number> = {};
  const temperature = num(entry.temperature);
  const maxTokens = num(entry.max_tokens);
  if (temperature !== undefined) params.temperature = temperature;
  if (maxTokens !== undefined) params.max_tokens = Math.floor(maxTokens);
  const type = str(entry.type);
  const typeExtra = type !== undefined ? typeFields[type] : undefined;
  if (type !== undefined && !typeExtra) ignoredTypes.add(type);
  return {
    name: str(entry.name), baseUrl, key, model,
    timeoutS: timeoutS !== undefined && timeoutS > 0 ? timeoutS : undefined,
    params, stream: typeof entry.stream === 'boolean' ? entry.stream : undefined, typeExtra,
  };
}

/**
 * The provider an endpoint belongs to: one per distinct (baseurl, apikey), split further when
 * entries disagree on anything that is a provider setting (params, stream, timeout, type).
 */
function providerFor(draft: ImportDraft, ep: Endpoint, byIdentity: Map<string, number>, group: string): string {
  const identity = JSON.stringify([ep.baseUrl, ep.key, ep.params, ep.stream ?? null, ep.timeoutS ?? null, ep.typeExtra ?? null]);
  const known = byIdentity.get(identity);
  if (known !== undefined) {
    const p = draft.providers[known]!;
    const models = p.models as string[];
    if (!models.includes(ep.model)) models.push(ep.model);
    return p.id;
  }
  const id = claimProviderId(draft, ep.name ?? '', idStemFromUrl(ep.baseUrl) || group);
  const provider: ProviderInput = { id, baseUrl: ep.baseUrl, keys: [providerKeyRef(draft, id, ep.key)], models: [ep.model] };
  if (ep.name) provider.name = ep.name;
  if (ep.typeExtra) Object.assign(provider, ep.typeExtra);
  if (ep.timeoutS !== undefined) provider.timeout = timeoutOf(ep.timeoutS);
  if (Object.keys(ep.params).length > 0) provider.params = ep.params;
  if (ep.stream !== undefined) provider.stream = ep.stream;
  const index = addProvider(draft, provider);
  if (ep.stream !== undefined) {
    noteAt(draft, ['providers', index, 'stream'], `${id}: stream ${ep.stream} is now forced on every request (FailProxy applied it only when the client sent "stream": null)`);
  }
  byIdentity.set(identity, index);
  return id;
}

/** FailProxy had one total timeout per endpoint; llmux splits it, so every phase gets the whole budget. */
function timeoutOf(seconds: number): NonNullable<ProviderInput['timeout']> {
  const totalMs = Math.max(1, Math.round(seconds * 1000));
  const t: NonNullable<ProviderInput['timeout']> = { firstByteMs: totalMs, idleMs: totalMs, totalMs };
  if (totalMs < 10_000) t.connectMs = totalMs;
  return t;
}

function addGlobalNotes(draft: ImportDraft, ignoredTypes: Set<string>): void {
  if (ignoredTypes.size > 0) {
    draft.notes.push(`type values ${[...ignoredTypes].map((t) => `"${t}"`).join(', ')} only appeared in FailProxy's logs; not carried`);
  }
  if (draft.providers.some((p) => p.reasoning === 'include')) {
    draft.notes.push('reasoning: include sends include_reasoning properly; FailProxy sent a literal "extra_body" field that upstreams ignored');
  }
  draft.notes.push(
    'FailProxy defaulted stream to true and temperature to 0.1 when the client omitted them and dropped the client max_tokens; llmux passes the client values through (endpoint params are still forced)',
    'FailProxy sent a random browser User-Agent; not carried (add headers: { User-Agent: … } to a provider that needs it)',
    'FailProxy listened on 0.0.0.0:8000 without client keys; llmux binds 127.0.0.1:8080',
  );
}
