import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { configSchema, providerSchema } from '../schema.ts';
import { importFailproxy } from './failproxy.ts';
import { inlineSecrets } from './writer.ts';
import { failproxyTypes as typeTable } from '../presets.ts';

const root = path.resolve(import.meta.dirname, '../../../test/fixtures/import/failproxy');
const bounded = { timeout: 10_000 };
/** The one FailProxy type with behaviour, and the provider fields it maps to (from the data table). */
const [behaviourType, behaviourFields] = Object.entries(typeTable)[0]!;

async function load(input = root) {
  const r = await importFailproxy(input);
  const config = configSchema.parse(inlineSecrets(r.config, r.secrets));
  return {
    r, config,
    byId: new Map(config.providers.map((p) => [p.id, p])),
    route: (name: string) => config.routes.find((x) => x.name === name),
  };
}

test('each group file is a route named after it; list order is priority', bounded, async () => {
  const { config, route } = await load();
  assert.deepEqual(config.routes.map((r) => r.name), ['my-group', 'nothink', 'think']);
  assert.deepEqual(route('think')?.targets?.map((t) => [t.provider, t.model, t.priority]), [
    ['opreasoner', 'vendor/reasoner-r1:free', 0],
    ['qwenlm-2', 'qwen-max-latest', 1],
    ['qwenlm-2', 'qwq-32b', 2],
    ['dashscope-aliyuncs', 'qwen-plus', 3],
  ]);
});

test('two entries on one (baseurl, apikey) with equal params share a provider', bounded, async () => {
  const { byId } = await load();
  const shared = byId.get('qwenlm-2')!;
  assert.deepEqual(shared.models, ['qwen-max-latest', 'qwq-32b']);
  assert.equal(shared.baseUrl, 'http://172.28.100.252:50082/v1', 'a trailing slash does not make another provider');
});

test('entries that disagree on params become separate providers', bounded, async () => {
  const { byId, route } = await load();
  assert.deepEqual(byId.get('qwenlm')!.params, { temperature: 0.7 });
  assert.deepEqual(byId.get('qwenlm-2')!.params, { temperature: 0.1 });
  assert.equal(route('nothink')?.targets?.[0]?.provider, 'qwenlm');
});

test('timeout seconds → every timeout phase; temperature/max_tokens → params; stream → stream', bounded, async () => {
  const { byId } = await load();
  const r1 = byId.get('opreasoner')!;
  assert.deepEqual(r1.timeout, { connectMs: 10_000, firstByteMs: 300_000, idleMs: 300_000, totalMs: 300_000 });
  assert.deepEqual(r1.params, { temperature: 0.1, max_tokens: 4096 });
  assert.equal(r1.stream, null);
  assert.equal(byId.get('qwenlm')!.stream, false);
  assert.equal(byId.get('solo')!.timeout.connectMs, 5_000, 'connect never outlasts a short total');
});

test('the FailProxy type with reasoning behaviour keeps it; other types are dropped with a note', bounded, async () => {
  const { byId, r } = await load();
  const r1 = byId.get('opreasoner')!;
  assert.equal(r1.type, behaviourType);
  assert.deepEqual({ type: r1.type, reasoning: r1.reasoning, reasoningField: r1.reasoningField }, behaviourFields);
  assert.equal(r1.reasoning, 'include');
  assert.equal(r1.reasoningField, 'reasoning_content');
  assert.equal(byId.get('qwenlm')!.type, providerSchema.parse({ id: 'x' }).type, 'the default type');
  assert.ok(r.summary.notes.some((n) => n.includes('"qwenlm", "通义"')));
});

test('ids come from names, sanitised; a name with no usable letters falls back to the host', bounded, async () => {
  const { byId } = await load();
  assert.equal(byId.get('dashscope-aliyuncs')!.name, '通义');
  assert.equal(byId.get('dashscope-aliyuncs')!.baseUrl, 'https://dashscope.aliyuncs.com/compatible-mode/v1', 'pasted /chat/completions cut');
  assert.equal(byId.get('opreasoner')!.name, 'opReasoner');
});

test('an entry without apikey is skipped; a group outside the built-in list is imported with a note', bounded, async () => {
  const { r, route } = await load();
  assert.equal(route('nothink')?.targets?.length, 1);
  assert.ok(r.summary.notes.some((n) => n.startsWith('nothink.json[1]: skipped, missing or invalid apikey')));
  assert.ok(r.comments.some((c) => c.path.join('.') === 'routes.0' && c.text.includes('my-group.json')));
  assert.equal(route('my-group')?.targets?.[0]?.provider, 'solo');
});

test('the config/ folder itself and a single group file are accepted', bounded, async () => {
  const viaFolder = await importFailproxy(path.join(root, 'config'));
  assert.equal(viaFolder.summary.routes, 3);
  const single = await importFailproxy(path.join(root, 'config', 'nothink.json'));
  assert.deepEqual(single.config.routes?.map((r) => r.name), ['nothink']);
});
