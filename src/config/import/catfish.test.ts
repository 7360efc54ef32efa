import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { breakerSchema, configSchema } from '../schema.ts';
import { importCatfish } from './catfish.ts';
import { inlineSecrets } from './writer.ts';

const fixtures = path.resolve(import.meta.dirname, '../../../test/fixtures/import/catfish');
const bounded = { timeout: 10_000 };

async function load(input: string) {
  const r = await importCatfish(input);
  const config = configSchema.parse(inlineSecrets(r.config, r.secrets));
  return {
    r, config,
    byId: new Map(config.providers.map((p) => [p.id, p])),
    route: (name: string) => config.routes.find((x) => x.name === name),
  };
}

test('v2: one round-robin route per scheme, targets by priority, model override or the scheme name', bounded, async () => {
  const { route, config } = await load(path.join(fixtures, 'v2'));
  assert.deepEqual(config.routes.map((r) => r.name), ['default', 'gpt-4-pool', '*']);
  const pool = route('gpt-4-pool')!;
  assert.equal(pool.balance, 'round-robin');
  assert.deepEqual(pool.targets?.map((t) => [t.provider, t.model, t.priority]), [
    ['upstream-one', 'gpt-4-pool', 1],
    ['relay-example', 'gpt-4-turbo', 1],
    ['backup-example', 'gpt-4o', 2],
  ]);
});

test('the alphabetically first scheme is also * and passes the caller model where catfish did', bounded, async () => {
  const { route } = await load(path.join(fixtures, 'v2'));
  assert.deepEqual(route('*')?.targets, [{ provider: 'upstream-one', priority: 1 }]);
});

test('url → baseUrl with a pasted /chat/completions cut; the same url and key share a provider', bounded, async () => {
  const { byId, r } = await load(path.join(fixtures, 'v2'));
  assert.equal(byId.size, 3, 'default and gpt-4-pool share the upstream-one config (trailing slash aside)');
  assert.equal(byId.get('relay-example')!.baseUrl, 'https://relay.example.com/v1');
  assert.ok(r.summary.notes.some((n) => n.includes('"/chat/completions" cut from url')));
});

test('threshold and duration → breaker failures and a fixed cooldown; null → defaults with a note', bounded, async () => {
  const { byId, r } = await load(path.join(fixtures, 'v2'));
  assert.deepEqual(byId.get('upstream-one')!.breaker, { failures: 3, cooldownMs: 1_800_000, maxCooldownMs: 1_800_000 });
  assert.deepEqual(byId.get('relay-example')!.breaker, { failures: 2, cooldownMs: 60_000, maxCooldownMs: 60_000 });
  assert.deepEqual(byId.get('backup-example')!.breaker, breakerSchema.parse({}));
  assert.ok(r.summary.notes.some((n) => n.startsWith('1 config(s) had no breaker')));
});

test('ADMIN_KEY and PORT from the .env beside data/ become server.adminKey and server.port', bounded, async () => {
  const { config, r } = await load(path.join(fixtures, 'v2'));
  assert.equal(r.config.server?.adminKey, '${LLMUX_ADMIN_KEY}');
  assert.equal(config.server.adminKey, 'catfish-CANARYADMIN0001');
  assert.equal(config.server.port, 8001);
  assert.ok(r.summary.notes.some((n) => n.startsWith('stats.json')));
});

test('v1: a bare list is the scheme "default"; no .env means a note about the admin key', bounded, async () => {
  const { config, route, r, byId } = await load(path.join(fixtures, 'v1', 'data', 'config.json'));
  assert.deepEqual(config.routes.map((x) => x.name), ['default', '*']);
  assert.deepEqual(route('default')?.targets?.map((t) => [t.provider, t.model, t.priority]), [
    ['relay-example', 'default', 0],
    ['upstream-two', 'chat-model-1', 1],
  ]);
  assert.equal(byId.get('upstream-two')!.baseUrl, 'https://api.upstream-two.com/v1', 'host-only url gets /v1');
  assert.equal(config.server.adminKey, undefined);
  assert.ok(r.summary.notes.some((n) => n.startsWith('v1 config (a bare list)')));
  assert.ok(r.summary.notes.some((n) => n.startsWith('no ADMIN_KEY')));
});
