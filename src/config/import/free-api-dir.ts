/**
 * `llmux import free-api-dir`: a `free_api_test` folder, discovered once (discover-free-api-dir.ts)
 * and written out as providers plus a `*` route. The old proxy rotated through its APIs in turn and
 * sent every request to the API's first model whatever the caller asked for, which is exactly what
 * a `*` route target without a model does (SPEC §4), so the targets name no model.
 */
import path from 'node:path';
import { discoverFreeApiDir } from '../discover-free-api-dir.ts';
import {
  addProvider, addRoute, finishDraft, newDraft, providerKeyRef,
  type ImportOptions, type ImportResult, type ProviderInput,
} from './result.ts';
import { importError, isDirectory } from './read-source.ts';

/** A repository root holds the folder as `free_api_test/`; accept either. */
async function resolveDir(input: string): Promise<string> {
  const abs = path.resolve(input);
  if (!(await isDirectory(abs))) throw importError(`${input}: not a folder (expected a free_api_test directory)`);
  const nested = path.join(abs, 'free_api_test');
  return (await isDirectory(nested)) ? nested : abs;
}

export async function importFreeApiDir(input: string, opts: ImportOptions = {}): Promise<ImportResult> {
  const dir = await resolveDir(input);
  const found = await discoverFreeApiDir(dir, opts.env ? { env: opts.env } : {});
  const draft = newDraft();
  draft.notes.push(...found.notes);
  draft.providerIds = new Set(found.providers.map((p) => p.id));
  for (const d of found.providers) {
    const provider: ProviderInput = { id: d.id, baseUrl: d.baseUrl, keys: [providerKeyRef(draft, d.id, d.key)] };
    if (path.basename(d.folder) !== d.id) provider.name = path.basename(d.folder);
    // No README means no known model: leave `models` unset rather than guess the old proxy's
    // "gpt-3.5-turbo" default, so the caller's model passes through; the comment says how to fix it.
    if (d.models.length > 0) provider.models = d.models;
    const comment = d.models.length > 0
      ? undefined
      : `no model list in ${path.basename(d.folder)}: requests pass the caller's model; list models here or use models: auto`;
    addProvider(draft, provider, comment);
  }
  if (found.providers.length === 0) throw importError(`${dir}: no subfolder with a usable test_api.py (${found.notes.join('; ') || 'empty'})`);
  addRoute(draft, { name: '*', balance: 'round-robin' },
    'the old proxy took the next API in turn for every request and used its first model');
  draft.comments.push({
    path: [],
    text: `to follow the folder instead of this snapshot: sources: [{ type: free-api-dir, path: ${dir}, watch: true }] (and drop the providers above)`,
  });
  draft.notes.push(
    'the old proxy marked an API dead after 3 failures until restart; llmux breakers re-probe after a cooldown',
    'the old proxy listened on 0.0.0.0:5000 without client keys; llmux binds 127.0.0.1:8080',
  );
  return finishDraft(draft, dir);
}
