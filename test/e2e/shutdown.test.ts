import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeUpstream } from '../fakes/fake-upstream.ts';
import { removeDir, spawnGateway, workDir } from './spawned.ts';

test('SIGTERM during a stream lets it finish, refuses new requests, and exits 0', { timeout: 30_000 }, async () => {
  const up = await startFakeUpstream({ name: 'slow' });
  const { dir, file } = await workDir({
    store: 'memory',
    server: { shutdownGraceMs: 10000 },
    providers: [{ id: 'slow', baseUrl: up.baseUrl, keys: ['sk-slow-abcdefgh'], models: ['mock-small'] }],
  });
  const gw = await spawnGateway({ dir, file });
  try {
    up.enqueue({ text: 'one two three four five six seven eight', eventDelayMs: 150 });
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock-small', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.ok(!first.done);
    gw.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    // New requests are refused while draining.
    const refused = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock-small', messages: [{ role: 'user', content: 'hi' }] }),
    }).then((r) => `${r.status} ${r.headers.get('connection')}`, () => 'refused');
    // A 503 closes its connection, so clients reconnect (to another instance) instead of reusing it.
    assert.ok(refused === 'refused' || refused === '503 close', `new request got ${refused}`);
    let text = new TextDecoder().decode(first.value);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    assert.match(text, /data: \[DONE\]/, 'the stream finished');
    assert.doesNotMatch(text, /"error"/);
    assert.equal(await gw.exited, 0);
  } finally {
    await gw.stop();
    await up.close();
    await removeDir(dir);
  }
});

test('admin-made providers and routes survive a restart (SQLite store)', { timeout: 30_000 }, async () => {
  const up = await startFakeUpstream({ name: 'adm' });
  const { dir, file } = await workDir({ store: 'sqlite:./data/llmux.db', server: { adminKey: 'admin-secret-123' } });
  const admin = { 'content-type': 'application/json', authorization: 'Bearer admin-secret-123' };
  let gw = await spawnGateway({ dir, file });
  try {
    let r = await fetch(`${gw.url}/admin/providers`, { method: 'POST', headers: admin, body: JSON.stringify({ id: 'made', baseUrl: up.baseUrl, keys: ['sk-made-abcdefgh1234'], models: ['mock-small'] }) });
    assert.equal(r.status, 201, await r.text());
    r = await fetch(`${gw.url}/admin/routes`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'made-route', targets: [{ provider: 'made' }] }) });
    assert.equal(r.status, 201, await r.text());
    assert.equal(await gw.stop(), 0);
    gw = await spawnGateway({ dir, file });
    r = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer admin-secret-123' },
      body: JSON.stringify({ model: 'made-route', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(r.status, 200, await r.text());
    assert.equal(r.headers.get('x-llmux-provider'), 'made');
    assert.equal(up.requests.at(-1)?.headers.authorization, 'Bearer sk-made-abcdefgh1234');
    const list: any = await (await fetch(`${gw.url}/admin/providers`, { headers: admin })).json();
    const text = JSON.stringify(list);
    assert.ok(!text.includes('sk-made-abcdefgh1234'), 'keys are masked on read');
  } finally {
    await gw.stop();
    await up.close();
    await removeDir(dir);
  }
});
