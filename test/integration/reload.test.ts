import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startFakeUpstream } from '../fakes/fake-upstream.ts';
import { startTestGateway, providerFor, post } from '../fakes/gateway.ts';

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 3000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const chat = { model: 'chat', messages: [{ role: 'user', content: 'hi' }] };

test('a valid config change takes effect within 2 s; an invalid one is rejected and the last good keeps serving; state survives', { timeout: 20_000 }, async () => {
  const a = await startFakeUpstream({ name: 'a' });
  const b = await startFakeUpstream({ name: 'b' });
  const config = (target: string, extra: object = {}) => ({
    store: 'memory',
    providers: [providerFor('a', a.baseUrl, { breaker: { failures: 1, cooldownMs: 60_000, maxCooldownMs: 60_000 } }), providerFor('b', b.baseUrl)],
    routes: [{ name: 'chat', targets: [{ provider: target }] }],
    ...extra,
  });
  const gw = await startTestGateway(config('a'));
  const file = path.join(gw.dir, 'llmux.json');
  try {
    // Open a's breaker, then change only the route: a's endpoint identity is unchanged, so it stays open.
    a.enqueue({ status: 500 });
    assert.equal((await post(`${gw.baseURL}/chat/completions`, chat)).status, 502);
    await writeFile(file, JSON.stringify(config('b')));
    await until('reload to b', async () => (await post(`${gw.baseURL}/chat/completions`, chat)).headers.get('x-llmux-provider') === 'b', 2500);
    assert.equal(gw.gw.snapshot().version >= 2, true);
    // An invalid file is rejected: b keeps serving, and the status says why.
    await writeFile(file, JSON.stringify({ ...config('b'), providers: [{ id: 'a', baseUrl: a.baseUrl, limits: { rpm: 'many' } }] }));
    await until('the rejection', async () => gw.logs.some((l) => l.includes('config change rejected')), 2500);
    assert.ok(gw.logs.some((l) => l.includes('providers[0].limits.rpm')), 'the error names the bad field');
    const r = await post(`${gw.baseURL}/chat/completions`, chat);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-llmux-provider'), 'b');
    // Back to a: its breaker (opened before the reloads) is still open.
    await writeFile(file, JSON.stringify(config('a')));
    await until('reload to a', async () => gw.gw.snapshot().routes.get('chat')?.targets[0]?.provider.id === 'a', 2500);
    const health: any = await (await fetch(`${gw.url}/health/upstream`)).json();
    assert.equal(health.endpoints.find((e: any) => e.provider === 'a').state, 'open');
  } finally {
    await gw.close();
    await a.close();
    await b.close();
  }
});

test('DEBUG_MODE.txt turns capture on and off; captures hold no key', { timeout: 20_000 }, async () => {
  const a = await startFakeUpstream({ name: 'a' });
  const gw = await startTestGateway({ debug: { enabled: false, dir: './cache' }, providers: [providerFor('a', a.baseUrl)], routes: [{ name: 'chat', targets: [{ provider: 'a' }] }] });
  const cache = path.join(gw.dir, 'cache');
  try {
    await post(`${gw.baseURL}/chat/completions`, chat, { authorization: 'Bearer sk-client-canary-999999999' });
    await new Promise((r) => setTimeout(r, 300));
    await assert.rejects(readdir(cache), 'no capture while debug is off');
    await writeFile(path.join(gw.dir, 'DEBUG_MODE.txt'), 'on');
    await until('debug on', async () => gw.logs.some((l) => l.includes('DEBUG_MODE.txt changed') && l.includes('"on":true')), 2500);
    // Text outside ASCII: the capture records it as sent.
    const messages = [{ role: 'user', content: '你好，“llmux” 😀' }];
    await post(`${gw.baseURL}/chat/completions`, { ...chat, messages, stream: true }, { authorization: 'Bearer sk-client-canary-999999999' });
    const files = await until('capture files', async () => {
      const f = await readdir(cache).catch(() => []);
      return f.length >= 3 ? f : undefined;
    });
    assert.ok(files.some((f) => /^\d{8}_\d{6}_\d{3}_REQUEST_[0-9a-f]{8}\.json$/.test(f)), files.join(','));
    assert.ok(files.some((f) => /_RESPONSE_/.test(f)));
    assert.ok(files.some((f) => /^CALLS_\d{8}\.json$/.test(f)));
    // The stream committed long before the capture was written: its request body was kept for it.
    const req = JSON.parse(await readFile(path.join(cache, files.find((f) => f.includes('_REQUEST_'))!), 'utf8'));
    assert.deepEqual(req.data.messages, messages);
    assert.equal(req.data.stream, true);
    const resp = JSON.parse(await readFile(path.join(cache, files.find((f) => f.includes('_RESPONSE_'))!), 'utf8'));
    assert.equal(resp.type, 'RESPONSE');
    assert.equal(resp.data.choices[0].message.content, 'Hello from mock', 'the stream is stored assembled');
    for (const f of files) {
      const text = await readFile(path.join(cache, f), 'utf8');
      assert.ok(!text.includes('canary'), `${f} holds a key`);
    }
    await rm(path.join(gw.dir, 'DEBUG_MODE.txt'));
    await until('debug off', async () => gw.logs.some((l) => l.includes('"on":false')), 2500);
    const before = (await readdir(cache)).length;
    await post(`${gw.baseURL}/chat/completions`, chat);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await readdir(cache)).length, before);
  } finally {
    await gw.close();
    await a.close();
  }
});

test('a watched free-api-dir source: a new folder joins and a removed one leaves within 2 s', { timeout: 20_000 }, async () => {
  const a = await startFakeUpstream({ name: 'a', models: ['m-one', 'm-two'] });
  const dir = await mkdtemp(path.join(tmpdir(), 'llmux-free-api-'));
  const gw = await startTestGateway({ sources: [{ type: 'free-api-dir', path: dir, watch: true }] });
  try {
    // The folder is empty: nothing can serve m-one.
    assert.notEqual((await post(`${gw.baseURL}/chat/completions`, { ...chat, model: 'm-one' })).status, 200);
    await mkdir(path.join(dir, 'free1'), { recursive: true });
    await writeFile(path.join(dir, 'free1', 'test_api.py'), `API_KEY = "sk-free1-abcdefgh"\nBASE_URL = "${a.baseUrl}/"\n`);
    await writeFile(path.join(dir, 'free1', 'README.md'), '# free1\n\n- m-one\n');
    await until('free1 joins', async () => (await post(`${gw.baseURL}/chat/completions`, { ...chat, model: 'm-one' })).headers.get('x-llmux-provider') === 'free1', 3000);
    await mkdir(path.join(dir, 'free2'));
    await writeFile(path.join(dir, 'free2', 'README.md'), '- m-two\n');
    await writeFile(path.join(dir, 'free2', 'test_api.py'), `openai.api_key = "sk-free2-abcdefgh"\nopenai.base_url = "${a.baseUrl}/v1/"\n`);
    await until('free2 joins', async () => (await post(`${gw.baseURL}/chat/completions`, { ...chat, model: 'm-two' })).headers.get('x-llmux-provider') === 'free2', 3000);
    assert.equal(a.requests.at(-1)?.headers.authorization, 'Bearer sk-free2-abcdefgh');
    await rm(path.join(dir, 'free1'), { recursive: true });
    await until('free1 leaves', async () => !gw.gw.snapshot().providers.has('free1'), 3000);
  } finally {
    await gw.close();
    await a.close();
    await rm(dir, { recursive: true, force: true });
  }
});
