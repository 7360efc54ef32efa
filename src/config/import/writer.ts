/**
 * Turns an ImportResult into `llmux.yaml`: keys inlined (default) or moved into an .env file,
 * validated with the one schema, written as a commented YAML document (the yaml Document API, so
 * comments are real comments), never over an existing file without `force`.
 */
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Document, isCollection, isMap, isPair, isScalar, isSeq } from 'yaml';
import { configSchema, formatIssues, providerSchema, routeSchema, serverSchema } from '../schema.ts';
import { ConfigError, exists } from '../load.ts';
import { mergeEnvFile } from './env-file.ts';
import { importError } from './read-source.ts';
import type { ImportResult } from './result.ts';

export interface WriteOptions {
  /** The YAML file to write. */
  output: string;
  force?: boolean;
  /** When set, keys go into this .env file and the YAML references them as `${NAME}`. */
  envFile?: string;
  format: string;
  /** The path the user gave, for the header. */
  input: string;
  now?: Date;
}

export interface WriteOutcome {
  output: string;
  envFile: string | null;
  /** True when the YAML holds keys in clear text (no env file). */
  inlineKeys: boolean;
}

const refPattern = /^\$\{([A-Z0-9_]+)\}$/;

/** Replace whole-string `${NAME}` references to imported secrets by their values. */
export function inlineSecrets(value: unknown, secrets: Readonly<Record<string, string>>): unknown {
  if (typeof value === 'string') {
    const m = refPattern.exec(value);
    return m?.[1] !== undefined && m[1] in secrets ? secrets[m[1]] : value;
  }
  if (Array.isArray(value)) return value.map((v) => inlineSecrets(v, secrets));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, inlineSecrets(v, secrets)]));
  }
  return value;
}

/** Replace any secret value inside free text (comments, notes) by its mask: defence in depth. */
export function scrubSecrets(text: string, secrets: Readonly<Record<string, string>>): string {
  let out = text;
  for (const v of Object.values(secrets)) if (v.length >= 4) out = out.split(v).join(maskSecret(v));
  return out;
}

/** `sk-…abcd`: the prefix up to a short leading dash and the last four; short keys show nothing. */
export function maskSecret(key: string): string {
  if (key.length < 12) return '****';
  const dash = key.indexOf('-');
  const head = dash > 0 && dash <= 4 ? key.slice(0, dash + 1) : '';
  return `${head}…${key.slice(-4)}`;
}

function headerLines(result: ImportResult, opts: WriteOptions, inlineKeys: boolean): string[] {
  const when = (opts.now ?? new Date()).toISOString();
  const lines = [
    `llmux config imported from ${opts.format}: ${result.source}`,
    `by \`llmux import ${opts.format} ${opts.input}\` on ${when}. See docs/migrating.md.`,
    inlineKeys
      ? 'Keys are written below in clear text: keep this file private (or re-import with --keys-env .env).'
      : `Keys are in ${opts.envFile}; this file references them as \${LLMUX_…}.`,
  ];
  if (result.counters) {
    const list = Object.entries(result.counters).map(([id, c]) => `${id}=${c.rpd}`).join(', ');
    lines.push(`Requests already made today (RPD, ${Object.values(result.counters)[0]?.day}): ${list}.`);
  }
  if (result.summary.notes.length > 0) {
    lines.push('', 'Not carried over or changed:');
    for (const n of result.summary.notes) lines.push(`  - ${n}`);
  }
  return lines;
}

function asComment(lines: string[]): string {
  return lines.map((l) => (l === '' ? '' : ` ${l}`)).join('\n');
}

/** Keys in the schema's order (server first, id and name first), whatever order importers used. */
function ordered<T extends object>(obj: T, keys: readonly string[]): T {
  const rank = (k: string): number => {
    const i = keys.indexOf(k);
    return i === -1 ? keys.length : i;
  };
  return Object.fromEntries(Object.entries(obj).sort(([a], [b]) => rank(a) - rank(b))) as T;
}

function inSchemaOrder(config: Record<string, unknown>): Record<string, unknown> {
  const out = ordered(config, Object.keys(configSchema.shape));
  if (out.server && typeof out.server === 'object') out.server = ordered(out.server, Object.keys(serverSchema.shape));
  if (Array.isArray(out.providers)) out.providers = out.providers.map((p: object) => ordered(p, Object.keys(providerSchema.shape)));
  if (Array.isArray(out.routes)) out.routes = out.routes.map((r: object) => ordered(r, Object.keys(routeSchema.shape)));
  return out;
}

/** True when a collection carries a comment inside: flow style would mangle it. */
function hasInnerComment(node: unknown): boolean {
  if (!isCollection(node)) return false;
  return node.items.some((item) => {
    const parts = isPair(item) ? [item.key, item.value] : [item];
    return parts.some((n) => (isScalar(n) && Boolean(n.comment || n.commentBefore)) || hasInnerComment(n));
  });
}

function flowIfPlain(node: unknown): void {
  if (isCollection(node) && !hasInnerComment(node)) node.flow = true;
}

/** Small maps and lists read better on one line (`{ provider: a, priority: 0 }`). */
function compactStyle(doc: Document): void {
  const providers = doc.get('providers', true);
  if (isSeq(providers)) {
    for (const p of providers.items) {
      if (!isMap(p)) continue;
      for (const k of ['limits', 'timeout', 'breaker', 'params', 'keys']) {
        flowIfPlain(p.get(k, true));
      }
      const models = p.get('models', true);
      if (isSeq(models) && models.items.length <= 6) flowIfPlain(models);
    }
  }
  const routes = doc.get('routes', true);
  if (isSeq(routes)) {
    for (const r of routes.items) {
      const targets = isMap(r) ? r.get('targets', true) : undefined;
      if (isSeq(targets)) for (const t of targets.items) flowIfPlain(t);
    }
  }
}

function attachComments(doc: Document, result: ImportResult): void {
  for (const c of result.comments) {
    const text = scrubSecrets(c.text, result.secrets);
    if (c.path.length === 0) {
      doc.comment = doc.comment ? `${doc.comment}\n ${text}` : ` ${text}`;
      continue;
    }
    // The nearest node that exists: a comment about an omitted field lands on its parent.
    let node: unknown;
    for (let n = c.path.length; n > 0 && node === undefined; n--) node = doc.getIn(c.path.slice(0, n), true);
    if (isScalar(node)) node.comment = node.comment ? `${node.comment}; ${text}` : ` ${text}`;
    else if (isCollection(node)) node.commentBefore = node.commentBefore ? `${node.commentBefore}\n ${text}` : ` ${text}`;
  }
}

/** The YAML text to write, after validation. Throws ConfigError listing problems by path. */
export function renderYaml(result: ImportResult, opts: WriteOptions): string {
  const inlineKeys = !opts.envFile;
  const config = inlineKeys ? inlineSecrets(result.config, result.secrets) : result.config;
  const checked = configSchema.safeParse(config);
  if (!checked.success) throw new ConfigError(opts.output, formatIssues(checked.error));
  const doc = new Document(inSchemaOrder(config as Record<string, unknown>));
  attachComments(doc, result);
  compactStyle(doc);
  doc.commentBefore = asComment(headerLines(result, opts, inlineKeys).map((l) => scrubSecrets(l, result.secrets)));
  return doc.toString({ lineWidth: 0 });
}


/** Validate, then write the env file (if any) and the YAML. Nothing is written when a check fails. */
export async function writeImport(result: ImportResult, opts: WriteOptions): Promise<WriteOutcome> {
  const output = path.resolve(opts.output);
  if (!opts.force && (await exists(output))) throw importError(`${opts.output} already exists; pass --force to overwrite it`);
  const text = renderYaml(result, opts);
  let envFile: string | null = null;
  if (opts.envFile) {
    envFile = path.resolve(opts.envFile);
    await mergeEnvFile(envFile, result.secrets, opts.force ?? false);
  }
  const inlineKeys = !opts.envFile && Object.keys(result.secrets).length > 0;
  await writeFile(output, text, { mode: inlineKeys ? 0o600 : 0o644 });
  // `mode` applies only when the file is created; an overwritten file keeps its old mode.
  if (inlineKeys) await chmod(output, 0o600);
  return { output, envFile, inlineKeys };
}
