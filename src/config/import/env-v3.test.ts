/**
 * Provider and preset names come from the data (the envV3Table in presets.ts, presets.ts, the fixture), not
 * from literals here: only presets.ts and dialects/ may name providers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { readFileSync } from 'node:fs';
import { configSchema, providerSchema } from '../schema.ts';
import { presets } from '../presets.ts';
import { importEnvV3 } from './env-v3.ts';
import { inlineSecrets } from './writer.ts';
import { envV3Table as table } from '../presets.ts';

const dir = path.resolve(import.meta.dirname, '../../../test/fixtures/import/env-v3');
const fixtureEnv = parseDotenv(readFileSync(path.join(dir, '.env'), 'utf8'));
const bounded = { timeout: 10_000 };
const defaultType = providerSchema.parse({ id: 'x' }).type;
const [namedVar, named] = Object.entries(table.namedKeys)[0]!;

function presetOfHost(url: string): string | undefined {
  const host = new URL(url).host;
  return Object.entries(presets).find(([, p]) => !p.keyless && new URL(p.baseUrl).host === host)?.[0];
}

async function load(input = dir) {
  const r = await importEnvV3(input);
  const config = configSchema.parse(inlineSecrets(r.config, r.secrets));
  const star = config.routes.find((x) => x.name === '*');
  const modelOf = (id: string): string | undefined => star?.targets?.find((t) => t.provider === id)?.model;
  return { r, config, byId: new Map(config.providers.map((p) => [p.id, p])), modelOf };
}

test('FREE<n>_API_KEY → provider free<n>; a commented-out key and a key without a URL are skipped', bounded, async () => {
  const { byId, r } = await load();
  assert.deepEqual([...byId.keys()], ['free1', 'free2', 'free4', 'free5', 'free7', named.id]);
  assert.ok(r.summary.notes.some((n) => n.startsWith('free3: no FREE3_API_KEY value')));
  assert.ok(r.summary.notes.some((n) => n.startsWith('free6: no FREE6_BASE_URL and not in')));
  assert.equal(r.secrets.LLMUX_FREE4_KEY, 'CANARYV34000000000004', 'quotes around a value are removed');
});

test('the V3 fixed table supplies URL and model; a table preset replaces V3\'s URL', bounded, async () => {
  const { byId, modelOf } = await load();
  const free1 = byId.get('free1')!;
  assert.equal(free1.type, table.fixed.free1.preset);
  assert.equal(free1.baseUrl, undefined, 'the preset URL replaces V3\'s {host}/v1 path');
  assert.equal(modelOf('free1'), table.fixed.free1.model);
  const free2 = byId.get('free2')!;
  assert.deepEqual([free2.type, free2.baseUrl, modelOf('free2')], [defaultType, `${table.fixed.free2.baseUrl}/v1`, table.fixed.free2.model]);
  assert.equal(byId.get('free4')!.type, table.fixed.free4.preset);
  assert.equal(modelOf('free4'), table.fixed.free4.model);
});

test('V3\'s models are * targets, not provider models: every requested name rotates over all APIs, as in V3', bounded, async () => {
  const { config, modelOf } = await load();
  for (const p of config.providers) assert.equal(p.models, undefined, `${p.id} lists models, which would make an implicit route`);
  assert.equal(modelOf('free5'), undefined, 'no table model: the caller\'s passes');
  assert.deepEqual(config.routes.find((x) => x.name === '*')?.targets?.map((t) => t.provider), config.providers.map((p) => p.id));
});

test('FREE<n>_BASE_URL wins and is normalised; its host picks a preset type', bounded, async () => {
  const { byId } = await load();
  const free5Url = fixtureEnv.FREE5_BASE_URL!;
  assert.ok(presetOfHost(free5Url), 'the fixture uses a preset host');
  assert.equal(byId.get('free5')!.type, presetOfHost(free5Url));
  assert.equal(byId.get('free5')!.baseUrl, free5Url);
  assert.equal(byId.get('free7')!.baseUrl, 'https://api.free7.example.com/v1');
  assert.equal(byId.get('free7')!.type, defaultType);
  for (const p of byId.values()) assert.ok(p.type === defaultType || p.type in presets, `${p.id}: type ${p.type} is a preset`);
});

test('HTTP_PROXY goes only to the providers V3 proxied; a known key variable becomes a provider', bounded, async () => {
  const { byId, modelOf } = await load();
  assert.ok(fixtureEnv[namedVar], 'the fixture sets the known key variable');
  assert.equal(byId.get('free1')!.proxy, fixtureEnv.HTTP_PROXY);
  assert.equal(byId.get('free2')!.proxy, 'none');
  assert.equal(byId.get(named.id)!.type, named.preset);
  assert.equal(byId.get(named.id)!.proxy, fixtureEnv.HTTP_PROXY, 'the local OpenRouter proxy used HTTP_PROXY too');
  assert.equal(modelOf(named.id), named.model);
});

test('PORT, MAX_CONCURRENT_REQUESTS and CACHE_DIR carry over; one round-robin * route', bounded, async () => {
  const { config } = await load();
  assert.equal(config.server.port, 5000);
  assert.equal(config.server.maxConcurrency, 5);
  assert.equal(config.debug.dir, './cache');
  assert.deepEqual(config.routes.map((x) => [x.name, x.balance]), [['*', 'round-robin']]);
});

test('the .env file path itself is accepted; an .env without keys is an error', bounded, async () => {
  const { r } = await load(path.join(dir, '.env'));
  assert.equal(r.summary.providers, 6);
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'llmux-envv3-'));
  try {
    await writeFile(path.join(tmp, '.env'), 'PORT=5000\n');
    await assert.rejects(importEnvV3(tmp), /no FREE<n>_API_KEY/);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});
