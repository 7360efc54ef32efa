import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { discoverFreeApiDir, findAssignment, normaliseFreeApiBaseUrl } from './discover-free-api-dir.ts';
import { modelsFromReadme } from './import/readme-models.ts';

const fixture = path.resolve(import.meta.dirname, '../../test/fixtures/import/free-api-dir/free_api_test');
const bounded = { timeout: 10_000 };
const keyNames = /(?:^|[^A-Za-z0-9_])([A-Za-z0-9_.]*(?:API_KEY|api_key))\s*=(?!=)\s*(.*)$/;

test('discovers every folder with a usable test_api.py, in natural order', bounded, async () => {
  const d = await discoverFreeApiDir(fixture, { env: { FREE1_API_KEY: 'sk-from-env-0000000001' } });
  assert.deepEqual(d.providers.map((p) => p.id), ['free1', 'free2', 'free3', 'free4']);
  const free1 = d.providers[0]!;
  assert.equal(free1.key, 'sk-from-env-0000000001', 'os.getenv("FREE1_API_KEY") reads the variable, not its name');
  assert.equal(free1.folder, path.join(fixture, 'free1'));
});

test('normalises an SDK-style base_url ending in /v1/ and a host-only BASE_URL', bounded, async () => {
  const d = await discoverFreeApiDir(fixture, { env: {} });
  const byId = new Map(d.providers.map((p) => [p.id, p]));
  assert.equal(byId.get('free3')?.baseUrl, 'https://free.v36.cm/v1');
  assert.equal(byId.get('free3')?.key, 'sk-CANARYFREE300000000003');
  assert.equal(byId.get('free2')?.baseUrl, 'https://api.chatanywhere.tech/v1');
  assert.equal(byId.get('free4')?.baseUrl, 'https://api.example.net/v1');
});

test('models come from README list items in file order, de-duplicated, any model-looking name', bounded, async () => {
  const d = await discoverFreeApiDir(fixture, { env: { FREE1_API_KEY: 'k-0000000000000001' } });
  const byId = new Map(d.providers.map((p) => [p.id, p]));
  assert.deepEqual(byId.get('free1')?.models, ['org/model-7b:free', 'another/model-r1:free']);
  assert.deepEqual(byId.get('free2')?.models, ['gpt-4o-mini', 'glm-4-plus', 'gpt-3.5-turbo', 'qwen2.5-72b-instruct']);
  assert.deepEqual(byId.get('free3')?.models, ['gpt-4o-mini', 'glm-4-flash'], 'readme.txt is read too');
});

test('a folder without README gets models [] and a note', bounded, async () => {
  const d = await discoverFreeApiDir(fixture, { env: {} });
  assert.deepEqual(d.providers.find((p) => p.id === 'free4')?.models, []);
  assert.ok(d.notes.some((n) => n.startsWith('free4: no README')));
});

test('skipped folders say why: unset variable, no literal value, no test_api.py', bounded, async () => {
  const d = await discoverFreeApiDir(fixture, { env: {} });
  assert.ok(!d.providers.some((p) => p.id === 'free1'), 'free1 needs FREE1_API_KEY');
  assert.ok(d.notes.includes('free1: skipped, environment variable FREE1_API_KEY is not set'));
  assert.ok(d.notes.some((n) => n.startsWith('free5: skipped, no API_KEY / BASE_URL assignment')));
  assert.ok(d.notes.includes('notes: skipped, no readable test_api.py'));
  assert.ok(d.notes.includes('Free-Six: skipped, environment variable FREE6_API_KEY is not set'));
  for (const n of d.notes) assert.ok(!n.includes('CANARY'), `a note leaks a key: ${n}`);
});

test('sanitises folder names into ids and keeps them unique', bounded, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'llmux-discover-'));
  try {
    for (const name of ['Free-Six', 'free-six']) {
      await mkdir(path.join(dir, name));
      await writeFile(path.join(dir, name, 'test_api.py'), 'API_KEY = "k-123456789012"\nBASE_URL = "https://h.example.com/v1"\n');
    }
    const d = await discoverFreeApiDir(dir, { env: {} });
    assert.deepEqual(d.providers.map((p) => p.id).sort(), ['free-six', 'free-six-2']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('findAssignment skips comments and non-literal values, reads env lookups', () => {
  assert.deepEqual(findAssignment('# API_KEY = "old"\nAPI_KEY = "new"', keyNames), { literal: 'new' });
  assert.deepEqual(findAssignment('client = Client(api_key=API_KEY)\nAPI_KEY="x"', keyNames), { literal: 'x' });
  assert.deepEqual(findAssignment("sdk.api_key = 'sk-1'", keyNames), { literal: 'sk-1' });
  assert.deepEqual(findAssignment('API_KEY = os.getenv("K", "d")', keyNames), { envName: 'K', fallback: 'd' });
  assert.deepEqual(findAssignment('API_KEY = os.environ["K"]', keyNames), { envName: 'K' });
  assert.equal(findAssignment('if API_KEY == "x": pass', keyNames), null);
});

test('normaliseFreeApiBaseUrl: /v1/ and /v1 → /v1, host → /v1, pasted endpoint cut', () => {
  assert.equal(normaliseFreeApiBaseUrl('https://a.example.com/v1/').url, 'https://a.example.com/v1');
  assert.equal(normaliseFreeApiBaseUrl('https://a.example.com/v1').url, 'https://a.example.com/v1');
  assert.equal(normaliseFreeApiBaseUrl('https://a.example.com/').url, 'https://a.example.com/v1');
  assert.equal(normaliseFreeApiBaseUrl('https://a.example.com/v1/chat/completions').url, 'https://a.example.com/v1');
  assert.equal(normaliseFreeApiBaseUrl('https://a.example.com/v1beta').url, 'https://a.example.com/v1beta');
  assert.equal(normaliseFreeApiBaseUrl('ftp://a.example.com').url, null);
});

test('modelsFromReadme ignores prose, URLs, files, hosts and keys', () => {
  const text = [
    '- Step 1: run test_api.py', '- see https://x.example.com/v1', '- host free.v36.cm', '- key sk-abc123def456',
    '- Python 3.8+', '- Out-of-the-box', '- 模型：glm-4-flash', '- chat-small-latest', '1. Qwen/Qwen2.5-7B-Instruct',
  ].join('\n');
  assert.deepEqual(modelsFromReadme(text), ['glm-4-flash', 'chat-small-latest', 'Qwen/Qwen2.5-7B-Instruct']);
});
