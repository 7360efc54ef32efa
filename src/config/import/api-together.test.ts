import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { configSchema } from '../schema.ts';
import { importApiTogether } from './api-together.ts';
import { inlineSecrets } from './writer.ts';

const repo = path.resolve(import.meta.dirname, '../../../test/fixtures/import/api-together/repo');
const bounded = { timeout: 10_000 };
/** The fixture itself, so expectations follow it rather than repeat its hosts. */
const apis = (JSON.parse(readFileSync(path.join(repo, 'src/config/apis.json'), 'utf8')) as { apis: Array<Record<string, string>> }).apis;
/** The fixture's counters were written on day 7 of the month (local time). */
const day7 = new Date(2025, 7, 7, 12, 0, 0);

async function load(input = repo) {
  const r = await importApiTogether(input, { now: day7, timeZone: 'UTC' });
  const config = configSchema.parse(inlineSecrets(r.config, r.secrets));
  return { r, config, byId: new Map(config.providers.map((p) => [p.id, p])) };
}

test('finds apis.json from the repository root, src/config or the file itself', bounded, async () => {
  for (const input of [repo, path.join(repo, 'src/config'), path.join(repo, 'src/config/apis.json')]) {
    const { r } = await load(input);
    assert.equal(r.source, path.join(repo, 'src/config/apis.json'));
  }
});

test('apis become providers with keys as references, models and modelMapping', bounded, async () => {
  const { r, byId } = await load();
  assert.deepEqual([...byId.keys()], ['api1', 'api2', 'zero_rpd', 'api4']);
  assert.deepEqual(r.config.providers?.[0]?.keys, ['${LLMUX_API1_KEY}']);
  assert.equal(r.secrets.LLMUX_API1_KEY, 'sk-CANARYAPI1000000000001');
  const api1 = byId.get('api1')!;
  assert.deepEqual(api1.models, ['gpt-3.5-turbo', 'gpt-4', 'text-embedding-ada-002']);
  assert.deepEqual(api1.modelMap, { 'gpt-3.5': 'gpt-3.5-turbo' });
  assert.equal(api1.name, apis[0]!.name);
});

test('rpm -1 is unlimited (null), rpd 0 stays 0 (disabled), a missing limit is unlimited', bounded, async () => {
  const { byId, r } = await load();
  assert.equal(byId.get('api2')!.limits.rpm, null);
  assert.equal(byId.get('api2')!.limits.rpd, 500);
  assert.equal(byId.get('zero_rpd')!.limits.rpd, 0);
  assert.equal(byId.get('zero_rpd')!.limits.rpm, undefined);
  assert.deepEqual(byId.get('api4')!.limits, {});
  assert.ok(r.comments.some((c) => c.path.join('.') === 'providers.2.limits.rpd'), 'rpd 0 is commented in the YAML');
});

test('a baseUrl without /v1: host-only gets /v1 with a note; a path is kept with a note', bounded, async () => {
  const { byId, r } = await load();
  assert.equal(byId.get('api1')!.baseUrl, `${apis[0]!.baseUrl}/v1`);
  assert.equal(byId.get('api2')!.baseUrl, 'https://your-backup-api.com/v1');
  assert.equal(byId.get('zero_rpd')!.baseUrl, 'https://proxy.example.net/relay');
  assert.ok(r.summary.notes.some((n) => n.startsWith('api1: /v1 added')));
  assert.ok(r.summary.notes.some((n) => n.startsWith('zero_rpd: baseUrl has no /v1')));
});

test('enabled missing → disabled; an entry without apiKey is skipped with a note', bounded, async () => {
  const { byId, r } = await load();
  assert.equal(byId.get('api4')!.enabled, false);
  assert.equal(byId.get('api1')!.enabled, true);
  assert.ok(!byId.has('api5'));
  assert.ok(r.summary.notes.some((n) => n.includes('(api5): skipped, missing or invalid apiKey')));
});

test('server.apiKey becomes a client key, server.port the port; one random * route', bounded, async () => {
  const { config, r } = await load();
  assert.equal(config.server.port, 3001);
  assert.deepEqual(r.config.server?.keys, ['${LLMUX_CLIENT_KEY}']);
  assert.deepEqual(config.server.keys, ['sk-CANARYCLIENT0000000001']);
  assert.deepEqual(config.routes, [{ name: '*', balance: 'random' }]);
  assert.deepEqual(r.summary, { ...r.summary, providers: 4, routes: 1, keys: 5 });
});

test("counters are carried only when lastDay is today's day-of-month", bounded, async () => {
  const { r } = await load();
  assert.deepEqual(r.counters, { api2: { rpd: 16, day: '20250807' } });
  assert.ok(r.summary.notes.some((n) => n.includes('api1 counted 40 requests on day 6, not today (7)')));
  assert.ok(r.summary.notes.some((n) => n.includes('"gone" dropped')));
  const other = await importApiTogether(repo, { now: new Date(2025, 7, 9, 12), timeZone: 'UTC' });
  assert.equal(other.counters, undefined, 'on another day nothing is carried');
});

test('the local time zone is kept so RPD days begin where they did', bounded, async () => {
  const r = await importApiTogether(repo, { now: day7, timeZone: 'Asia/Shanghai' });
  assert.equal(r.config.server?.timezone, 'Asia/Shanghai');
});

test('no note or comment contains a key', bounded, async () => {
  const { r } = await load();
  const text = JSON.stringify([r.summary.notes, r.comments]);
  for (const v of Object.values(r.secrets)) assert.ok(!text.includes(v));
});
