/**
 * Client authentication (SPEC §2, §3 `server.keys` / `adminKey`, fault matrix §5.6): keys by Bearer
 * or x-api-key, per-key models and expiry, the admin key guarding /v1 when there are no client keys,
 * an open gateway only on loopback, and the start-up refusal on a public host (API and CLI).
 */
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.ts';
import { startTestGateway, providerFor, post, type TestGateway } from '../fakes/gateway.ts';
import { startGateway, StartupError } from '../../src/main.ts';

const bounded = { timeout: 20_000 };
const root = path.resolve(import.meta.dirname, '..', '..');
let a: FakeUpstream;
let gw: TestGateway;

const chat = (model = 'chat') => ({ model, messages: [{ role: 'user', content: 'hi' }] });
const routes = [{ name: 'chat', targets: [{ provider: 'a' }] }, { name: 'other', targets: [{ provider: 'a' }] }];

before(async () => {
  a = await startFakeUpstream({ name: 'a' });
  gw = await startTestGateway({
    server: {
      keys: [
        'client-key-plain',
        { key: 'client-key-chat-only', name: 'chat-only', models: ['chat'] },
        { key: 'client-key-expired', name: 'old', expiresAt: '2020-01-01T00:00:00Z' },
        { key: 'client-key-future', name: 'future', expiresAt: '2999-01-01T00:00:00Z' },
      ],
    },
    providers: [providerFor('a', a.baseUrl)],
    routes,
  });
});
after(async () => {
  await gw.close();
  await a.close();
});
beforeEach(() => a.reset());

function assertErrorShape(json: any): void {
  assert.deepEqual(Object.keys(json), ['error']);
  assert.deepEqual(Object.keys(json.error).sort(), ['code', 'message', 'param', 'type']);
}

async function tempConfig(config: object): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'llmux-auth-'));
  const file = path.join(dir, 'llmux.json');
  await writeFile(file, JSON.stringify({ store: 'memory', ...config }));
  return { dir, file };
}

test('no key is 401 with WWW-Authenticate', bounded, async () => {
  const r = await post(`${gw.url}/v1/chat/completions`, chat());
  assert.equal(r.status, 401);
  assert.equal(r.headers.get('www-authenticate'), 'Bearer');
  assertErrorShape(r.json);
  assert.equal(r.json.error.code, 'invalid_api_key');
  assert.equal(a.requests.length, 0);
});

test('a wrong key, an empty Bearer and a key in the query string are 401', bounded, async () => {
  for (const headers of [{ authorization: 'Bearer not-a-key' } as Record<string, string>, { authorization: 'Bearer ' }, { 'x-api-key': 'nope' }, { authorization: 'Basic Y2xpZW50LWtleS1wbGFpbjo=' }]) {
    const r = await post(`${gw.url}/v1/chat/completions`, chat(), headers);
    assert.equal(r.status, 401, JSON.stringify(headers));
    assertErrorShape(r.json);
  }
  const q = await post(`${gw.url}/v1/chat/completions?api_key=client-key-plain&key=client-key-plain`, chat());
  assert.equal(q.status, 401, 'keys in query strings end up in access logs: never accepted');
  assert.equal(a.requests.length, 0);
});

test('Authorization: Bearer k and x-api-key: k both work', bounded, async () => {
  const bearer = await post(`${gw.url}/v1/chat/completions`, chat(), { authorization: 'Bearer client-key-plain' });
  assert.equal(bearer.status, 200, bearer.text);
  const lower = await post(`${gw.url}/v1/chat/completions`, chat(), { authorization: 'bearer   client-key-plain ' });
  assert.equal(lower.status, 200, 'the scheme is case-insensitive, spaces tolerated');
  const x = await post(`${gw.url}/v1/chat/completions`, chat(), { 'x-api-key': 'client-key-plain' });
  assert.equal(x.status, 200, x.text);
  const sdk = await gw.client({ apiKey: 'client-key-plain' }).chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(sdk.choices[0]?.message.content, 'Hello from mock');
});

test('Authorization wins over x-api-key when both are sent', bounded, async () => {
  const r = await post(`${gw.url}/v1/chat/completions`, chat(), { authorization: 'Bearer wrong-key', 'x-api-key': 'client-key-plain' });
  assert.equal(r.status, 401, 'a valid x-api-key does not rescue a wrong Authorization');
});

test('the same Authorization header judged alike every time; one that holds no key falls back to x-api-key each time', bounded, async () => {
  // Digests are kept by the header as sent (http/auth.ts): the second and third requests take that path.
  for (let i = 0; i < 3; i++) {
    assert.equal((await post(`${gw.url}/v1/chat/completions`, chat(), { authorization: 'Bearer client-key-plain' })).status, 200, `good, try ${i}`);
    assert.equal((await post(`${gw.url}/v1/chat/completions`, chat(), { authorization: 'Bearer not-a-key' })).status, 401, `wrong, try ${i}`);
    assert.equal((await post(`${gw.url}/v1/chat/completions`, chat('other'), { authorization: 'Bearer client-key-chat-only' })).status, 403, `limited, try ${i}`);
  }
  // An Authorization header without a key in it (two words, not Bearer) is never kept: the x-api-key
  // sent with it decides, whichever it is.
  const basic = { authorization: 'Basic two words' };
  assert.equal((await post(`${gw.url}/v1/chat/completions`, chat(), { ...basic, 'x-api-key': 'client-key-plain' })).status, 200);
  assert.equal((await post(`${gw.url}/v1/chat/completions`, chat(), { ...basic, 'x-api-key': 'nope' })).status, 401);
  assert.equal((await post(`${gw.url}/v1/chat/completions`, chat(), { ...basic, 'x-api-key': 'client-key-plain' })).status, 200);
});

test('a key limited to models [chat] calling another model is 403 before any upstream call', bounded, async () => {
  const ok = await post(`${gw.url}/v1/chat/completions`, chat('chat'), { authorization: 'Bearer client-key-chat-only' });
  assert.equal(ok.status, 200);
  a.reset();
  const r = await post(`${gw.url}/v1/chat/completions`, chat('other'), { authorization: 'Bearer client-key-chat-only' });
  assert.equal(r.status, 403);
  assertErrorShape(r.json);
  assert.equal(r.json.error.code, 'model_not_allowed');
  assert.equal(r.json.error.param, 'model');
  assert.equal(a.requests.length, 0);
});

test('GET /v1/models shows a limited key only the models it may call', bounded, async () => {
  const limited: any = await (await fetch(`${gw.url}/v1/models`, { headers: { authorization: 'Bearer client-key-chat-only' } })).json();
  assert.deepEqual(limited.data.map((m: any) => m.id), ['chat']);
  const full: any = await (await fetch(`${gw.url}/v1/models`, { headers: { authorization: 'Bearer client-key-plain' } })).json();
  assert.ok(full.data.length > 1);
});

test('an expired key is 401 key_expired; one expiring in the future works', bounded, async () => {
  const r = await post(`${gw.url}/v1/chat/completions`, chat(), { authorization: 'Bearer client-key-expired' });
  assert.equal(r.status, 401);
  assertErrorShape(r.json);
  assert.equal(r.json.error.code, 'key_expired');
  const f = await post(`${gw.url}/v1/chat/completions`, chat(), { authorization: 'Bearer client-key-future' });
  assert.equal(f.status, 200);
});

test('GET /v1/models needs a key too; /health does not', bounded, async () => {
  assert.equal((await fetch(`${gw.url}/v1/models`)).status, 401);
  assert.equal((await fetch(`${gw.url}/v1/models`, { headers: { authorization: 'Bearer client-key-plain' } })).status, 200);
  assert.equal((await fetch(`${gw.url}/health`)).status, 200);
});

test('with no client keys but an adminKey, /v1 needs the admin key', bounded, async () => {
  const own = await startTestGateway({ server: { adminKey: 'admin-secret-key' }, providers: [providerFor('a', a.baseUrl)], routes });
  try {
    const none = await post(`${own.url}/v1/chat/completions`, chat());
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    const wrong = await post(`${own.url}/v1/chat/completions`, chat(), { authorization: 'Bearer client-key-plain' });
    assert.equal(wrong.status, 401);
    const ok = await post(`${own.url}/v1/chat/completions`, chat(), { authorization: 'Bearer admin-secret-key' });
    assert.equal(ok.status, 200, ok.text);
  } finally {
    await own.close();
  }
});

test('with client keys and an adminKey, the admin key is not a client key', bounded, async () => {
  const own = await startTestGateway({ server: { keys: ['client-key-plain'], adminKey: 'admin-secret-key' }, providers: [providerFor('a', a.baseUrl)], routes });
  try {
    assert.equal((await post(`${own.url}/v1/chat/completions`, chat(), { authorization: 'Bearer admin-secret-key' })).status, 401);
    assert.equal((await post(`${own.url}/v1/chat/completions`, chat(), { authorization: 'Bearer client-key-plain' })).status, 200);
  } finally {
    await own.close();
  }
});

test('with neither client keys nor an admin key, /v1 is open on loopback', bounded, async () => {
  const own = await startTestGateway({ providers: [providerFor('a', a.baseUrl)], routes });
  try {
    const r = await post(`${own.url}/v1/chat/completions`, chat());
    assert.equal(r.status, 200, r.text);
    const any = await post(`${own.url}/v1/chat/completions`, chat(), { authorization: 'Bearer whatever' });
    assert.equal(any.status, 200, 'any key is fine on an open gateway (SDKs always send one)');
  } finally {
    await own.close();
  }
});

test('startGateway on 0.0.0.0 with no keys refuses with a StartupError saying how to fix it', bounded, async () => {
  const { dir, file } = await tempConfig({ providers: [providerFor('a', a.baseUrl)] });
  try {
    await assert.rejects(
      startGateway({ configPath: file, cwd: dir, env: {}, host: '0.0.0.0', port: 0, logger: pino({ level: 'silent' }) }),
      (e: unknown) => {
        assert.ok(e instanceof StartupError, String(e));
        assert.match(e.message, /0\.0\.0\.0/);
        assert.match(e.message, /server\.keys/);
        assert.match(e.message, /allowOpen/);
        return true;
      },
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('server.allowOpen: true permits an open gateway on 0.0.0.0', bounded, async () => {
  const { dir, file } = await tempConfig({ server: { allowOpen: true }, providers: [providerFor('a', a.baseUrl)] });
  try {
    const g = await startGateway({ configPath: file, cwd: dir, env: {}, host: '0.0.0.0', port: 0, logger: pino({ level: 'silent' }) });
    await g.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a client key configured makes 0.0.0.0 acceptable', bounded, async () => {
  const { dir, file } = await tempConfig({ server: { keys: ['client-key-plain'] }, providers: [providerFor('a', a.baseUrl)] });
  try {
    const g = await startGateway({ configPath: file, cwd: dir, env: {}, host: '0.0.0.0', port: 0, logger: pino({ level: 'silent' }) });
    await g.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the CLI `serve --host 0.0.0.0` without keys exits non-zero with the message', bounded, async () => {
  const { dir, file } = await tempConfig({ providers: [providerFor('a', a.baseUrl)] });
  try {
    const child = spawn(process.execPath, [path.join(root, 'src', 'cli.ts'), 'serve', '--host', '0.0.0.0', '--port', '0', '--config', file], {
      cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir, LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.stdout.resume();
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    clearTimeout(killer);
    assert.notEqual(code, 0, 'exits non-zero (and does not hang)');
    assert.notEqual(code, null, 'exited by itself, not killed');
    assert.match(stderr, /Refusing to listen on 0\.0\.0\.0/);
    assert.match(stderr, /server\.keys/);
    assert.match(stderr, /allowOpen/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
