/**
 * Secrets never leak (SPEC §8, fault matrix §5.8): canary provider keys in the config, a mix of
 * successes and failures — including upstreams that echo the key back the way OpenAI does ("Incorrect
 * API key provided: sk-…") — then every response body, every response header and every captured log
 * line is searched for each canary, whole and by its middle part.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.ts';
import { startTestGateway, post, type TestGateway } from '../fakes/gateway.ts';

const bounded = { timeout: 30_000 };
const canary = (name: string): string => `sk-canary-${name}-7f3a9c2e5b1d4086`;
const keys = { ok: canary('ok'), bad: canary('bad'), dead: canary('dead'), slow: canary('slow') };
const breaker = { failures: 1000, cooldownMs: 1, maxCooldownMs: 5 };

let okUp: FakeUpstream;
let badUp: FakeUpstream;
let slowUp: FakeUpstream;
let gw: TestGateway;
/** Everything the gateway sent back, as text: status lines, headers, bodies. */
const seen: string[] = [];

/** A port with nothing listening (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function call(path: string, body: unknown, method = 'POST'): Promise<{ status: number; text: string }> {
  await pause(10); // let the tiny breaker cooldowns of the previous scenario run out
  const res = await fetch(`${gw.url}${path}`, method === 'POST'
    ? { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }
    : { method });
  const text = await res.text();
  seen.push(`${path} ${res.status}\n${[...res.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${text}`);
  return { status: res.status, text };
}

const chat = (model: string, stream = false) => ({ model, stream, messages: [{ role: 'user', content: 'hi' }] });

before(async () => {
  okUp = await startFakeUpstream({ name: 'ok' });
  badUp = await startFakeUpstream({ name: 'bad' });
  slowUp = await startFakeUpstream({ name: 'slow' });
  const dead = await closedPort();
  const p = (id: string, baseUrl: string, extra: object = {}) => ({ id, baseUrl, keys: [keys[id as keyof typeof keys]], models: ['mock-small'], breaker, ...extra });
  gw = await startTestGateway({
    providers: [
      p('ok', okUp.baseUrl),
      p('bad', badUp.baseUrl),
      p('dead', `http://127.0.0.1:${dead}/v1`, { timeout: { connectMs: 500 } }),
      p('slow', slowUp.baseUrl, { timeout: { firstByteMs: 200, idleMs: 200, totalMs: 1000 } }),
    ],
    routes: [
      { name: 'ok', targets: [{ provider: 'ok' }] },
      { name: 'bad-then-ok', targets: [{ provider: 'bad', priority: 0 }, { provider: 'ok', priority: 1 }] },
      { name: 'bad', targets: [{ provider: 'bad' }] },
      { name: 'dead', targets: [{ provider: 'dead' }] },
      { name: 'slow', targets: [{ provider: 'slow' }] },
    ],
  });
});
after(async () => {
  await gw.close();
  await Promise.all([okUp.close(), badUp.close(), slowUp.close()]);
});

const echo = (key: string) => `Incorrect API key provided: ${key}. You can find your API key at https://platform.openai.com/account/api-keys.`;

test('a mix of successes and failures, with upstreams echoing the key, gets the expected statuses', bounded, async () => {
  assert.equal((await call('/v1/chat/completions', chat('ok'))).status, 200);
  assert.equal((await call('/v1/chat/completions', chat('ok', true))).status, 200);

  badUp.enqueue({ status: 401, error: { message: echo(keys.bad), type: 'invalid_request_error', code: 'invalid_api_key' } });
  assert.equal((await call('/v1/chat/completions', chat('bad-then-ok'))).status, 200, 'fails over past the 401');

  badUp.enqueue({ status: 401, error: { message: echo(keys.bad), code: 'invalid_api_key' } });
  const auth = await call('/v1/chat/completions', chat('bad'));
  assert.equal(auth.status, 502, auth.text);
  assert.match(auth.text, /401/, 'the status still shows');

  badUp.enqueue({ status: 500, error: { message: `backend failed for Authorization: Bearer ${keys.bad}` } });
  assert.equal((await call('/v1/chat/completions', chat('bad'))).status, 502);

  badUp.enqueue({ status: 429, error: { message: `Rate limit reached for key ${keys.bad} on requests per min (RPM)` } });
  assert.equal((await call('/v1/chat/completions', chat('bad'))).status, 429);

  badUp.enqueue({ status: 400, error: { message: `Invalid request made with ${keys.bad}`, code: 'invalid_value' } });
  const caller = await call('/v1/chat/completions', chat('bad'));
  assert.equal(caller.status, 400, 'a caller error still passes through');
  assert.match(caller.text, /Invalid request made with/);
  assert.match(caller.text, /invalid_value/);

  badUp.enqueue({ status: 200, body: { error: { message: `internal failure for ${keys.bad}`, type: "server_error" } } });
  assert.equal((await call('/v1/chat/completions', chat('bad'))).status, 502);

  badUp.enqueue({ errorFirst: { message: `stream refused for ${keys.bad}` } });
  assert.equal((await call('/v1/chat/completions', chat('bad', true))).status, 502);

  badUp.enqueue({ text: 'one two three', errorAfterEvents: 2, streamError: { message: `key ${keys.bad} was revoked mid-stream` } });
  const cut = await call('/v1/chat/completions', chat('bad', true));
  assert.equal(cut.status, 200, 'committed before the error');
  assert.match(cut.text, /was revoked mid-stream/, 'the error event still reaches the caller');

  badUp.enqueue({ status: 401, error: { message: `Incorrect API key provided: ${keys.bad.slice(0, 16)}************${keys.bad.slice(-4)}` } });
  assert.equal((await call('/v1/chat/completions', chat('bad'))).status, 502);

  badUp.enqueue({ status: 403, headers: { 'content-type': 'text/html' }, body: `<html>forbidden: ${keys.bad}</html>` });
  assert.equal((await call('/v1/chat/completions', chat('bad'))).status, 502);

  assert.equal((await call('/v1/chat/completions', chat('dead'))).status, 502);
  slowUp.enqueue({ hang: true });
  assert.equal((await call('/v1/chat/completions', chat('slow'))).status, 504);

  for (const path of ['/health', '/health/upstream', '/v1/models', '/v1/status', '/metrics']) {
    const r = await call(path, null, 'GET');
    assert.equal(r.status, 200, path);
  }
});

test('no canary key appears in any response body or header', bounded, () => {
  assert.ok(seen.length >= 15, `scenarios ran (${seen.length})`);
  const all = seen.join('\n----\n');
  for (const [name, key] of Object.entries(keys)) {
    assert.ok(!all.includes(key), `the ${name} key leaked:\n${seen.find((s) => s.includes(key))}`);
    const middle = key.slice(3, -4);
    assert.ok(!all.includes(middle), `the middle of the ${name} key leaked:\n${seen.find((s) => s.includes(middle))}`);
  }
  assert.ok(!all.includes(keys.bad.slice(0, 16)), `a partial echo of the key leaked:\n${seen.find((s) => s.includes(keys.bad.slice(0, 16)))}`);
});

test('no canary key appears in any log line', bounded, () => {
  const logs = gw.logs.join('');
  assert.ok(gw.logs.length > 10, 'the gateway logged the scenarios');
  for (const [name, key] of Object.entries(keys)) {
    assert.ok(!logs.includes(key), `the ${name} key is in the log:\n${gw.logs.find((l) => l.includes(key))}`);
    assert.ok(!logs.includes(key.slice(3, -4)), `the middle of the ${name} key is in the log:\n${gw.logs.find((l) => l.includes(key.slice(3, -4)))}`);
  }
});

test('the upstreams did receive the real keys (the canaries were in use)', bounded, () => {
  assert.ok(okUp.requests.some((r) => r.headers.authorization === `Bearer ${keys.ok}`));
  assert.ok(badUp.requests.some((r) => r.headers.authorization === `Bearer ${keys.bad}`));
});

test('/health/upstream shows keys masked and errors scrubbed, yet still says which key failed', bounded, async () => {
  badUp.enqueue({ status: 401, error: { message: echo(keys.bad), code: 'invalid_api_key' } });
  await call('/v1/chat/completions', chat('bad'));
  const h: any = await (await fetch(`${gw.url}/health/upstream`)).json();
  const bad = h.endpoints.find((e: any) => e.provider === 'bad');
  assert.equal(bad.key, `sk-…${keys.bad.slice(-4)}`);
  assert.equal(bad.reason, 'auth_failed');
  assert.match(bad.lastError.message, /Incorrect API key provided: sk-…4086\./);
  assert.ok(!JSON.stringify(h).includes(keys.bad.slice(3, -4)));
});
