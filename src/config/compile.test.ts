import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile, maskKey, normaliseBaseUrl, parseSize } from './compile.ts';
import { ConfigError, validateConfig } from './load.ts';

const bounded = { timeout: 5_000 };

function snap(raw: object) {
  return compile(validateConfig(raw, null), null, 1, 0);
}

test('a base URL that is only a host gets /v1', bounded, () => {
  assert.deepEqual(normaliseBaseUrl('https://api.example.com'), { origin: 'https://api.example.com', basePath: '/v1', baseUrl: 'https://api.example.com/v1' });
  assert.equal(normaliseBaseUrl('https://api.example.com/').baseUrl, 'https://api.example.com/v1');
  assert.equal(normaliseBaseUrl('http://127.0.0.1:8080').baseUrl, 'http://127.0.0.1:8080/v1');
});

test('a base URL with a path keeps it, without trailing slashes', bounded, () => {
  assert.equal(normaliseBaseUrl('https://api.example.com/v1/').baseUrl, 'https://api.example.com/v1');
  assert.equal(normaliseBaseUrl('https://host/api/openai/v1').basePath, '/api/openai/v1');
  assert.equal(normaliseBaseUrl('https://host/v1beta/openai//').basePath, '/v1beta/openai');
});

test('a base URL given as the full chat URL is cut back to its base', bounded, () => {
  assert.equal(normaliseBaseUrl('https://host/v1/chat/completions').baseUrl, 'https://host/v1');
});

test('the origin keeps a non-default port and drops the default one', bounded, () => {
  assert.equal(normaliseBaseUrl('https://host:8443/v1').origin, 'https://host:8443');
  assert.equal(normaliseBaseUrl('https://host:443/v1').origin, 'https://host');
});

test('providers compile with defaults, key fingerprints and base URL', bounded, () => {
  const s = snap({ providers: [{ id: 'up', baseUrl: 'http://127.0.0.1:9', keys: ['sk-one-1234567890', 'sk-two-1234567890'], models: ['m1', 'm2'] }] });
  const p = s.providers.get('up');
  assert.ok(p);
  assert.equal(p.baseUrl, 'http://127.0.0.1:9/v1');
  assert.equal(p.keys.length, 2);
  assert.equal(p.keyIds.length, 2);
  assert.notEqual(p.keyIds[0], p.keyIds[1]);
  for (const id of p.keyIds) assert.ok(!p.keys.some((k) => k.includes(id)), 'a fingerprint is not a piece of the key');
  assert.deepEqual(p.breaker, { failures: 3, cooldownMs: 30_000, maxCooldownMs: 600_000 });
  assert.equal(p.stream, null);
  assert.equal(p.proxy, null);
});

test('a single key given as a string is one key', bounded, () => {
  const s = snap({ providers: [{ id: 'up', baseUrl: 'http://127.0.0.1:9', keys: 'sk-solo-1234567890' }] });
  assert.deepEqual(s.providers.get('up')?.keys, ['sk-solo-1234567890']);
});

test('a preset type fills in the base URL', bounded, () => {
  const s = snap({ providers: [{ id: 'g', type: 'groq', keys: ['k'] }] });
  assert.equal(s.providers.get('g')?.baseUrl, 'https://api.groq.com/openai/v1');
});

test('an unknown type is a ConfigError by path', bounded, () => {
  assert.throws(() => snap({ providers: [{ id: 'ok', baseUrl: 'http://127.0.0.1:9' }, { id: 'x', type: 'nonsense' }] }), (e: unknown) => e instanceof ConfigError && e.problems.some((p) => p.startsWith('providers[1].type')));
});

test('type openai without a base URL is the official API', bounded, () => {
  assert.equal(snap({ providers: [{ id: 'x' }] }).providers.get('x')?.baseUrl, 'https://api.openai.com/v1');
});

test('the proxy: the global one by default, the provider\'s own, or "none"', bounded, () => {
  const s = snap({
    proxy: 'http://127.0.0.1:3128',
    providers: [
      { id: 'a', baseUrl: 'https://api.example.com' },
      { id: 'b', baseUrl: 'https://api.example.com', proxy: 'http://127.0.0.1:8888' },
      { id: 'c', baseUrl: 'https://api.example.com', proxy: 'none' },
    ],
  });
  assert.equal(s.providers.get('a')?.proxy, 'http://127.0.0.1:3128');
  assert.equal(s.providers.get('b')?.proxy, 'http://127.0.0.1:8888');
  assert.equal(s.providers.get('c')?.proxy, null);
});

test('routes: targets take the provider\'s priority and weight unless they set their own; "*" without targets is every provider', bounded, () => {
  const s = snap({
    providers: [{ id: 'a', baseUrl: 'http://127.0.0.1:9', priority: 2, weight: 3 }, { id: 'b', baseUrl: 'http://127.0.0.1:9' }],
    routes: [{ name: 'r', balance: 'weighted', targets: [{ provider: 'a' }, { provider: 'b', priority: 5, weight: 0.5, model: 'x' }] }, { name: '*' }],
  });
  const r = s.routes.get('r');
  assert.equal(r?.balance, 'weighted');
  assert.deepEqual(r?.targets.map((t) => [t.provider.id, t.priority, t.weight, t.model]), [['a', 2, 3, undefined], ['b', 5, 0.5, 'x']]);
  assert.deepEqual(s.routes.get('*')?.targets.map((t) => t.provider.id), ['a', 'b']);
});

test('the model index holds listed models and modelMap names', bounded, () => {
  const s = snap({ providers: [{ id: 'a', baseUrl: 'http://127.0.0.1:9', models: ['m1'], modelMap: { alias: 'm1' } }, { id: 'b', baseUrl: 'http://127.0.0.1:9', models: ['m1'] }] });
  assert.deepEqual(s.modelIndex.get('m1')?.map((p) => p.id), ['a', 'b']);
  assert.deepEqual(s.modelIndex.get('alias')?.map((p) => p.id), ['a']);
});

test('client keys are kept only as hashes; expiresAt becomes a time', bounded, () => {
  const s = snap({ server: { keys: ['plain-client-key', { key: 'obj-client-key', name: 'team', models: ['r'], expiresAt: '2020-01-01T00:00:00Z' }], adminKey: 'admin-secret' } });
  assert.equal(s.clientKeys.size, 2);
  const json = JSON.stringify([...s.clientKeys.values()]);
  assert.ok(!json.includes('plain-client-key') && !json.includes('obj-client-key'), 'no key in the compiled principals');
  const team = [...s.clientKeys.values()].find((p) => p.name === 'team');
  assert.equal(team?.expiresAt, Date.UTC(2020, 0, 1));
  assert.deepEqual(team?.models, ['r']);
  assert.ok(s.adminKeyHash && s.adminKeyHash !== 'admin-secret');
});

test('bodyLimit sizes', bounded, () => {
  assert.equal(parseSize('8mb'), 8 * 1024 * 1024);
  assert.equal(parseSize('1kb'), 1024);
  assert.equal(parseSize('1.5 KB'), 1536);
  assert.equal(parseSize('100'), 100);
  assert.equal(parseSize(42), 42);
  assert.equal(snap({ server: { bodyLimit: '1kb' } }).bodyLimitBytes, 1024);
});

test('maskKey shows enough to recognise a key, never the middle', bounded, () => {
  assert.equal(maskKey('sk-canary-0123456789abcdef'), 'sk-…cdef');
  assert.equal(maskKey('AIzaSyCanary0123456789'), 'AIz…6789');
  assert.equal(maskKey('short'), '…rt');
});

test('the default proxy is not used for loopback upstreams; a provider\'s own proxy is', bounded, () => {
  const s = snap({
    proxy: 'http://proxy.internal:3128',
    providers: [
      { id: 'local', type: 'ollama' },
      { id: 'loop', baseUrl: 'http://localhost:8000/v1' },
      { id: 'v6', baseUrl: 'http://[::1]:8000/v1' },
      { id: 'forced', baseUrl: 'http://127.0.0.1:8000/v1', proxy: 'http://127.0.0.1:8888' },
      { id: 'remote', baseUrl: 'https://api.example.com/v1' },
    ],
  });
  assert.equal(s.providers.get('local')?.proxy, null);
  assert.equal(s.providers.get('loop')?.proxy, null);
  assert.equal(s.providers.get('v6')?.proxy, null);
  assert.equal(s.providers.get('forced')?.proxy, 'http://127.0.0.1:8888');
  assert.equal(s.providers.get('remote')?.proxy, 'http://proxy.internal:3128');
});
