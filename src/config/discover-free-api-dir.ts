/**
 * Discovery of a `free_api_test` directory (SPEC §10, seed-formats §1.2): every subfolder with a
 * `test_api.py` is one provider. The folder is read as TEXT and never executed, so a hostile or
 * broken script cannot run; only literal assignments and `os.getenv(...)` references count.
 * Shared by `llmux import free-api-dir` (written out once) and the gateway's watched `sources`.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { cleanBaseUrl, endsWithVersion } from './import/base-url.ts';
import { sanitiseId } from './import/result.ts';
import { modelsFromReadme } from './import/readme-models.ts';

export interface DiscoveredProvider {
  /** Folder name sanitised to `[a-z0-9_-]`, unique within one discovery. */
  id: string;
  /** Normalised: ends in `/v1` (or another version segment the folder already had). */
  baseUrl: string;
  key: string;
  /** From the README's list items, in file order, de-duplicated; [] when there is no README. */
  models: string[];
  /** Absolute path of the subfolder. */
  folder: string;
}

export interface Discovery {
  providers: DiscoveredProvider[];
  /** Why folders were skipped or what was guessed; never contains a key. */
  notes: string[];
}

export interface DiscoverOptions {
  /** Where `os.getenv("X")` is looked up; defaults to process.env. */
  env?: Record<string, string | undefined>;
}

/** Files larger than this are not source a person wrote by hand; skip rather than read them. */
const maxFileBytes = 1 << 20;
const readmeNames = ['readme.md', 'readme.txt'];

export async function discoverFreeApiDir(dir: string, opts: DiscoverOptions = {}): Promise<Discovery> {
  const env = opts.env ?? process.env;
  const notes: string[] = [];
  const providers: DiscoveredProvider[] = [];
  const root = path.resolve(dir);
  const entries = await readdir(root, { withFileTypes: true });
  const folders = entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const ids = new Set<string>();
  for (const name of folders) {
    const found = await discoverFolder(path.join(root, name), name, env, notes);
    if (!found) continue;
    let id = sanitiseId(name) || 'free-api';
    const base = id;
    for (let n = 2; ids.has(id); n++) id = `${base}-${n}`;
    ids.add(id);
    providers.push({ id, ...found });
  }
  if (folders.length === 0) notes.push(`${root}: no subfolders`);
  return { providers, notes };
}

async function readSmallText(file: string): Promise<string | null> {
  try {
    const s = await stat(file);
    if (!s.isFile() || s.size > maxFileBytes) return null;
    return await readFile(file, 'utf8');
  } catch {
    return null;
  }
}

async function discoverFolder(
  folder: string,
  name: string,
  env: Record<string, string | undefined>,
  notes: string[],
): Promise<Omit<DiscoveredProvider, 'id'> | null> {
  const script = await readSmallText(path.join(folder, 'test_api.py'));
  if (script === null) {
    // Only folders with a test script are providers (SPEC §10); say so unless it is a template.
    if (!name.startsWith('_')) notes.push(`${name}: skipped, no readable test_api.py`);
    return null;
  }
  const key = resolveValue(findAssignment(script, keyNames), env);
  const url = resolveValue(findAssignment(script, urlNames), env);
  if (key.problem || url.problem) {
    notes.push(`${name}: skipped, ${[key.problem, url.problem].filter(Boolean).join('; ')}`);
    return null;
  }
  const baseUrl = normaliseFreeApiBaseUrl(url.value!);
  if (!baseUrl.url) {
    notes.push(`${name}: skipped, BASE_URL is not an http(s) URL`);
    return null;
  }
  for (const n of baseUrl.notes) notes.push(`${name}: ${n}`);
  const readme = await findReadme(folder);
  let models: string[] = [];
  if (readme === null) notes.push(`${name}: no README.md/readme.txt, so no model list`);
  else {
    models = modelsFromReadme(readme.text).filter((m) => m !== key.value);
    if (models.length === 0) notes.push(`${name}: ${readme.file} lists no model names`);
  }
  return { baseUrl: baseUrl.url, key: key.value!, models, folder };
}

async function findReadme(folder: string): Promise<{ file: string; text: string } | null> {
  const files = await readdir(folder);
  for (const want of readmeNames) {
    // The old proxy looked for README.md, readme.txt, README.txt; any letter case is accepted here.
    const file = files.find((f) => f.toLowerCase() === want);
    if (!file) continue;
    const text = await readSmallText(path.join(folder, file));
    if (text !== null) return { file, text };
  }
  return null;
}

const keyNames = /(?:^|[^A-Za-z0-9_])([A-Za-z0-9_.]*(?:API_KEY|api_key))\s*=(?!=)\s*(.*)$/;
const urlNames = /(?:^|[^A-Za-z0-9_])([A-Za-z0-9_.]*(?:BASE_URL|base_url|API_BASE|api_base))\s*=(?!=)\s*(.*)$/;

/** What the right-hand side of an assignment says: a literal, or an environment variable. */
export type Assigned = { literal: string } | { envName: string; fallback?: string } | null;

/**
 * The first non-comment line that assigns `names` a literal or an env lookup. Lines whose value
 * is anything else (`api_key=API_KEY` inside a call) are passed over, unlike the old proxy, which
 * took the first quoted string of the first matching line whatever it was.
 */
export function findAssignment(text: string, names: RegExp): Assigned {
  for (const line of text.split(/\r?\n/)) {
    if (line.trim().startsWith('#')) continue;
    // A line may hold several assignments (keyword arguments): try each occurrence.
    for (let rest = line; ; ) {
      const m = names.exec(rest);
      if (!m || m[2] === undefined) break;
      const value = parseRightHandSide(m[2]);
      if (value) return value;
      rest = m[2];
    }
  }
  return null;
}

function parseRightHandSide(rhs: string): Assigned {
  const quoted = /^[rRuU]?(["'])([^"']*)\1/.exec(rhs);
  if (quoted) return { literal: quoted[2] ?? '' };
  const call = /^os\.(?:getenv|environ\.get)\(\s*["']([^"']+)["']\s*(?:,\s*["']([^"']*)["']\s*)?\)/.exec(rhs);
  if (call?.[1]) return call[2] === undefined ? { envName: call[1] } : { envName: call[1], fallback: call[2] };
  const index = /^os\.environ\[\s*["']([^"']+)["']\s*\]/.exec(rhs);
  if (index?.[1]) return { envName: index[1] };
  return null;
}

function resolveValue(a: Assigned, env: Record<string, string | undefined>): { value?: string; problem?: string } {
  if (a === null) return { problem: 'no API_KEY / BASE_URL assignment with a literal value' };
  if ('literal' in a) return a.literal.trim() ? { value: a.literal.trim() } : { problem: 'an assignment has an empty value' };
  const v = env[a.envName]?.trim() || a.fallback?.trim();
  return v ? { value: v } : { problem: `environment variable ${a.envName} is not set` };
}

/**
 * `…/v1/` and `…/v1` → `…/v1`; a URL without a version segment gets `/v1`, because the old proxy
 * always called `{base}/v1/chat/completions` after stripping a trailing `/v1/`.
 */
export function normaliseFreeApiBaseUrl(raw: string): { url: string | null; notes: string[] } {
  const clean = cleanBaseUrl(raw);
  const notes: string[] = [];
  if (!clean.url) return { url: null, notes };
  if (clean.cutSuffix) notes.push(`BASE_URL ended in ${clean.cutSuffix}, which was cut off`);
  if (endsWithVersion(clean.url)) return { url: clean.url, notes };
  const url = `${clean.url}/v1`;
  if (new URL(clean.url).pathname.length > 1) notes.push(`BASE_URL has a path without /v1; using ${url} as the old proxy did`);
  return { url, notes };
}
