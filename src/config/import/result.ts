/**
 * What every importer returns (`ImportResult`) and the draft it builds it with. Importers never put a
 * key into the config directly: they register it as a secret and write a `${LLMUX_<ID>_KEY}`
 * reference, so the writer can either inline the value (the default: a working config in one
 * command) or move it into an .env file (`--keys-env`) without knowing where keys live in the tree.
 */
import type { z } from 'zod';
import type { ConfigInput, providerSchema, routeSchema, serverSchema } from '../schema.ts';

export type ProviderInput = z.input<typeof providerSchema>;
export type RouteInput = z.input<typeof routeSchema>;
export type ServerInput = z.input<typeof serverSchema>;

/** A YAML comment on the node at `path` (or its nearest existing parent); `[]` = end of document. */
export interface NodeComment {
  path: ReadonlyArray<string | number>;
  text: string;
}

export interface ImportSummary {
  providers: number;
  routes: number;
  /** Provider credentials plus client and admin keys. */
  keys: number;
  /** Things not carried over and why; never contains a key. */
  notes: string[];
}

/** A request-per-day count of today carried over from the old tool (api-together). */
export interface DayCounter {
  rpd: number;
  /** Local calendar day the count belongs to, `YYYYMMDD`. */
  day: string;
}

export interface ImportResult {
  /** Plain object matching the schema input; keys appear only as `${NAME}` references. */
  config: ConfigInput;
  summary: ImportSummary;
  /** Reference name (without `${}`) → key value. */
  secrets: Record<string, string>;
  /** Comments for the written YAML, on lossy or surprising values. */
  comments: NodeComment[];
  /** Counters to load into the store, by provider id; only importers that have them set this. */
  counters?: Record<string, DayCounter>;
  /** The file or folder actually read (after resolving a repository root). */
  source: string;
}

export interface ImportOptions {
  /** Defaults to the current time; used for headers and "is this counter from today". */
  now?: Date;
  /** Where `os.getenv(...)` references are looked up; defaults to process.env. */
  env?: Record<string, string | undefined>;
  /** The machine's zone, for tools that counted days in local time; defaults to the system's. */
  timeZone?: string;
}

/** The mutable state an importer fills in before `finishDraft` freezes it into an ImportResult. */
export interface ImportDraft {
  server: ServerInput;
  top: Omit<ConfigInput, 'server' | 'providers' | 'routes'>;
  providers: ProviderInput[];
  routes: RouteInput[];
  notes: string[];
  comments: NodeComment[];
  secrets: Record<string, string>;
  providerIds: Set<string>;
}

export function newDraft(): ImportDraft {
  return { server: {}, top: {}, providers: [], routes: [], notes: [], comments: [], secrets: {}, providerIds: new Set() };
}

/** Lower-case, `[a-z0-9_-]` only, as provider ids must be; '' when nothing usable is left. */
export function sanitiseId(raw: string): string {
  return raw
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[-_]+|[-_]+$/g, '');
}

/** Reserve a provider id derived from `raw` (or `fallback`), suffixing -2, -3… on collisions. */
export function claimProviderId(draft: ImportDraft, raw: string, fallback: string): string {
  const base = sanitiseId(raw) || sanitiseId(fallback) || 'provider';
  let id = base;
  for (let n = 2; draft.providerIds.has(id); n++) id = `${base}-${n}`;
  draft.providerIds.add(id);
  return id;
}

/** Register a secret under `LLMUX_<BASE>` (unique) and return the `${…}` reference to write. */
export function secretRef(draft: ImportDraft, base: string, value: string): string {
  const stem = `LLMUX_${base.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
  let name = stem;
  for (let n = 2; name in draft.secrets; n++) name = `${stem}_${n}`;
  draft.secrets[name] = value;
  return `\${${name}}`;
}

/** Reference for a provider's key: `${LLMUX_<ID>_KEY}` (the name `--keys-env` users will see). */
export function providerKeyRef(draft: ImportDraft, providerId: string, key: string): string {
  return secretRef(draft, `${providerId}_KEY`, key);
}

/** Add a provider; `comment` goes above its entry in the YAML. Returns its index. */
export function addProvider(draft: ImportDraft, provider: ProviderInput, comment?: string): number {
  const index = draft.providers.push(provider) - 1;
  if (comment) draft.comments.push({ path: ['providers', index], text: comment });
  return index;
}

export function addRoute(draft: ImportDraft, route: RouteInput, comment?: string): number {
  const index = draft.routes.push(route) - 1;
  if (comment) draft.comments.push({ path: ['routes', index], text: comment });
  return index;
}

/** A note for the summary that is also written as a comment on the node it is about. */
export function noteAt(draft: ImportDraft, path: ReadonlyArray<string | number>, text: string): void {
  draft.notes.push(text);
  draft.comments.push({ path, text });
}

export function finishDraft(draft: ImportDraft, source: string): ImportResult {
  const config: ConfigInput = { ...draft.top, providers: draft.providers, routes: draft.routes };
  if (Object.keys(draft.server).length > 0) config.server = draft.server;
  return {
    config,
    summary: {
      providers: draft.providers.length,
      routes: draft.routes.length,
      keys: Object.keys(draft.secrets).length,
      notes: draft.notes,
    },
    secrets: draft.secrets,
    comments: draft.comments,
    source,
  };
}
