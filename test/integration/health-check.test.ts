import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeUpstream } from '../fakes/fake-upstream.ts';
import { startTestGateway, providerFor } from '../fakes/gateway.ts';

test('the start-up health check marks a dead endpoint before the first request', { timeout: 15_000 }, async () => {
  const live = await startFakeUpstream({ name: 'live' });
  const dead = await startFakeUpstream({ name: 'dead', status: 500 });
  const t0 = Date.now();
  const gw = await startTestGateway({
    healthCheck: { onStartup: true, intervalMs: 0, mode: 'models', timeoutMs: 1000 },
    providers: [providerFor('dead', dead.baseUrl), providerFor('live', live.baseUrl, { priority: 1 })],
    routes: [{ name: 'chat', targets: [{ provider: 'dead' }, { provider: 'live', priority: 1 }] }],
  });
  try {
    assert.ok(Date.now() - t0 < 5000, 'start-up stayed fast');
    const health: any = await (await fetch(`${gw.url}/health/upstream`)).json();
    const d = health.endpoints.find((e: any) => e.provider === 'dead');
    assert.equal(d.state, 'open');
    assert.equal(d.reason, 'health_check');
    dead.reset();
    const { response } = await gw.client().chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    assert.equal(response.headers.get('x-llmux-provider'), 'live');
    assert.equal(dead.requests.filter((r) => r.path.endsWith('/chat/completions')).length, 0, 'the dead endpoint was not tried');
  } finally {
    await gw.close();
    await live.close();
    await dead.close();
  }
});

test('a start-up health check against an upstream that never answers is bounded by its timeout', { timeout: 15_000 }, async () => {
  const hung = await startFakeUpstream({ name: 'hung', latencyMs: 60_000 });
  const t0 = Date.now();
  const gw = await startTestGateway({
    healthCheck: { onStartup: true, intervalMs: 0, timeoutMs: 500 },
    providers: [providerFor('hung', hung.baseUrl)],
  });
  try {
    assert.ok(Date.now() - t0 < 3000, `start-up took ${Date.now() - t0} ms`);
  } finally {
    await gw.close();
    await hung.close();
  }
});

test('models: auto discovers the upstream model list; models: free keeps only free ones', { timeout: 15_000 }, async () => {
  const up = await startFakeUpstream({ name: 'disc', models: ['alpha', 'beta:free'] });
  const gw = await startTestGateway({
    providers: [
      { id: 'auto', baseUrl: up.baseUrl, keys: ['k1-abcdefgh'], models: 'auto' },
      { id: 'free', baseUrl: up.baseUrl, keys: ['k2-abcdefgh'], models: 'free', priority: 5 },
    ],
  });
  try {
    const list: any = await (await fetch(`${gw.url}/v1/models`)).json();
    const ids = list.data.map((m: any) => m.id).sort();
    assert.deepEqual(ids, ['alpha', 'beta:free']);
    const snap = gw.gw.snapshot();
    assert.deepEqual(snap.providers.get('auto')?.models, ['alpha', 'beta:free']);
    assert.deepEqual(snap.providers.get('free')?.models, ['beta:free']);
    const { response } = await gw.client().chat.completions.create({ model: 'alpha', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    assert.equal(response.headers.get('x-llmux-provider'), 'auto');
  } finally {
    await gw.close();
    await up.close();
  }
});
