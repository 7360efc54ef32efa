import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { configSchema } from '../schema.ts';
import { importFreeApiDir } from './free-api-dir.ts';
import { inlineSecrets } from './writer.ts';

const repo = path.resolve(import.meta.dirname, '../../../test/fixtures/import/free-api-dir');
const bounded = { timeout: 10_000 };

test('a free_api_test folder (or the folder holding it) becomes providers and one * route', bounded, async () => {
  for (const input of [repo, path.join(repo, 'free_api_test')]) {
    const r = await importFreeApiDir(input, { env: { FREE1_API_KEY: 'sk-CANARYENV000000000001' } });
    const config = configSchema.parse(inlineSecrets(r.config, r.secrets));
    assert.deepEqual(config.providers.map((p) => p.id), ['free1', 'free2', 'free3', 'free4']);
    assert.deepEqual(config.routes, [{ name: '*', balance: 'round-robin' }]);
    assert.deepEqual(config.providers[0]!.keys, ['sk-CANARYENV000000000001']);
    assert.equal(r.source, path.join(repo, 'free_api_test'));
  }
});

test('a provider without README has no models and a comment saying how to add them', bounded, async () => {
  const r = await importFreeApiDir(repo, { env: {} });
  const free4 = r.config.providers?.find((p) => p.id === 'free4');
  assert.equal(free4?.models, undefined);
  const index = r.config.providers!.indexOf(free4!);
  assert.ok(r.comments.some((c) => c.path.join('.') === `providers.${index}` && c.text.includes('models: auto')));
});

test('discovery notes are carried into the summary, and the watched-source alternative is offered', bounded, async () => {
  const r = await importFreeApiDir(repo, { env: {} });
  assert.ok(r.summary.notes.includes('free1: skipped, environment variable FREE1_API_KEY is not set'));
  assert.ok(r.comments.some((c) => c.path.length === 0 && c.text.includes('type: free-api-dir')));
});

test('a folder with nothing usable is an error that says why', bounded, async () => {
  await assert.rejects(importFreeApiDir(path.join(repo, 'free_api_test', 'notes')), /no subfolder with a usable test_api.py/);
});
