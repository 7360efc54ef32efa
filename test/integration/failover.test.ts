import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.ts';
import { startTestGateway, providerFor, type TestGateway } from '../fakes/gateway.ts';

let a: FakeUpstream;
let b: FakeUpstream;
let gw: TestGateway;

before(async () => {
  a = await startFakeUpstream({ name: 'a' });
  b = await startFakeUpstream({ name: 'b' });
  gw = await startTestGateway({
    providers: [
      providerFor('a', a.baseUrl, { timeout: { firstByteMs: 400, idleMs: 400, totalMs: 3000 }, breaker: { failures: 100, cooldownMs: 1, maxCooldownMs: 10 } }),
      providerFor('b', b.baseUrl, { breaker: { failures: 100, cooldownMs: 1, maxCooldownMs: 10 } }),
    ],
    routes: [{ name: 'chat', targets: [{ provider: 'a', priority: 0 }, { provider: 'b', priority: 1 }] }],
  });
});
after(async () => {
  await gw.close();
  await a.close();
  await b.close();
});
beforeEach(() => {
  a.reset();
  b.reset();
});

const msgs = [{ role: 'user' as const, content: 'hi' }];

test('serves a non-stream chat through the SDK with the llmux headers', async () => {
  const { data, response } = await gw.client().chat.completions.create({ model: 'chat', messages: msgs }).withResponse();
  assert.equal(data.choices[0]?.message.content, 'Hello from mock');
  assert.equal(response.headers.get('x-llmux-provider'), 'a');
  assert.equal(response.headers.get('x-llmux-model'), 'mock-small');
  assert.equal(response.headers.get('x-llmux-attempts'), '1');
  assert.match(response.headers.get('server-timing') ?? '', /gateway;dur=[\d.]+, upstream;dur=[\d.]+/);
  assert.ok(response.headers.get('x-llmux-request-id'));
  assert.equal(a.requests[0]?.headers.authorization, 'Bearer sk-a-canary-0123456789');
  assert.equal(a.requests[0]?.body.model, 'mock-small');
});

test('fails over on 500 to the next priority', async () => {
  a.enqueue({ status: 500 });
  const { data, response } = await gw.client().chat.completions.create({ model: 'chat', messages: msgs }).withResponse();
  assert.equal(data.choices[0]?.message.content, 'Hello from mock');
  assert.equal(response.headers.get('x-llmux-provider'), 'b');
  assert.equal(response.headers.get('x-llmux-attempts'), '2');
});

test('fails over on 429 with Retry-After and opens the breaker for exactly that long', async () => {
  const own = await startTestGateway({
    providers: [providerFor('a', a.baseUrl), providerFor('b', b.baseUrl)],
    routes: [{ name: 'chat', targets: [{ provider: 'a', priority: 0 }, { provider: 'b', priority: 1 }] }],
  });
  try {
    a.enqueue({ status: 429, headers: { 'retry-after': '7' }, error: { message: 'slow down', type: 'rate_limit', code: 'rate_limit_exceeded' } });
    const t0 = Date.now();
    const { response } = await own.client().chat.completions.create({ model: 'chat', messages: msgs }).withResponse();
    assert.equal(response.headers.get('x-llmux-provider'), 'b');
    const health: any = await (await fetch(`${own.url}/health/upstream`)).json();
    const ep = health.endpoints.find((e: any) => e.provider === 'a');
    assert.equal(ep.state, 'open');
    assert.equal(ep.reason, 'rate_limited');
    const until = Date.parse(ep.openUntil) - t0;
    assert.ok(until > 6000 && until < 8000, `open for ${until} ms`);
    // The next request skips a without trying it.
    await own.client().chat.completions.create({ model: 'chat', messages: msgs });
    assert.equal(a.requests.length, 1);
  } finally {
    await own.close();
  }
});

test('fails over when the upstream hangs before headers (firstByteMs)', async () => {
  a.enqueue({ hang: true });
  const t0 = Date.now();
  const { response } = await gw.client().chat.completions.create({ model: 'chat', messages: msgs }).withResponse();
  assert.equal(response.headers.get('x-llmux-provider'), 'b');
  assert.ok(Date.now() - t0 < 2500);
  await a.waitForAbort(2000);
});

test('fails over on a 200 with an error body', async () => {
  a.enqueue({ status: 200, body: { error: { message: 'upstream exploded', type: 'server_error' } } });
  const { response } = await gw.client().chat.completions.create({ model: 'chat', messages: msgs }).withResponse();
  assert.equal(response.headers.get('x-llmux-provider'), 'b');
});

test('fails over on a 200 without choices', async () => {
  a.enqueue({ emptyChoices: true });
  const { response } = await gw.client().chat.completions.create({ model: 'chat', messages: msgs }).withResponse();
  assert.equal(response.headers.get('x-llmux-provider'), 'b');
});

test('fails over invisibly when the first SSE event is an error', async () => {
  a.enqueue({ errorFirst: { message: 'model overloaded', type: 'server_error' } });
  const stream = await gw.client().chat.completions.create({ model: 'chat', messages: msgs, stream: true });
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
  assert.equal(text, 'Hello from mock');
  assert.equal(b.requests.length, 1);
});

test('fails over when a stream stalls before its first content event', async () => {
  a.enqueue({ stallAfterEvents: 1 });
  const stream = await gw.client().chat.completions.create({ model: 'chat', messages: msgs, stream: true });
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
  assert.equal(text, 'Hello from mock');
});

test('does not fail over on 400: the upstream error reaches the caller', async () => {
  a.enqueue({ status: 400, error: { message: 'context too long', type: 'invalid_request_error', code: 'context_length_exceeded' } });
  await assert.rejects(gw.client().chat.completions.create({ model: 'chat', messages: msgs }), (e: any) => {
    assert.equal(e.status, 400);
    assert.equal(e.code, 'context_length_exceeded');
    assert.equal(e.headers.get('x-should-retry'), 'false');
    return true;
  });
  assert.equal(b.requests.length, 0);
});

test('a stream cut after commit surfaces as an error in the SDK', async () => {
  a.enqueue({ text: 'one two three four five six', resetAfterEvents: 3, eventDelayMs: 30 });
  const stream = await gw.client().chat.completions.create({ model: 'chat', messages: msgs, stream: true });
  let text = '';
  await assert.rejects(async () => {
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
  }, /stream failed after it started|upstream/);
  assert.ok(text.length > 0);
  assert.equal(b.requests.length, 0);
});

test('a stream that ends without [DONE] after commit is an error, not a clean end', async () => {
  a.enqueue({ noDone: true });
  const stream = await gw.client().chat.completions.create({ model: 'chat', messages: msgs, stream: true });
  await assert.rejects(async () => {
    for await (const _ of stream) { /* drain */ }
  }, /ended before it was complete/);
});

test('x-should-retry: false when failover is exhausted', async () => {
  a.enqueue({ status: 503 });
  b.enqueue({ status: 502 });
  await assert.rejects(gw.client().chat.completions.create({ model: 'chat', messages: msgs }), (e: any) => {
    assert.equal(e.status, 502);
    assert.equal(e.headers.get('x-should-retry'), 'false');
    assert.equal(e.headers.get('x-llmux-attempts'), '2');
    assert.match(e.message, /All 2 upstream attempt/);
    return true;
  });
});

test('a client abort cancels the upstream request while waiting for headers', async () => {
  a.enqueue({ delayMs: 5000 });
  const ctl = new AbortController();
  const p = gw.client().chat.completions.create({ model: 'chat', messages: msgs }, { signal: ctl.signal });
  setTimeout(() => ctl.abort(), 150);
  await assert.rejects(p);
  const t0 = Date.now();
  const r = await a.waitForAbort(1500);
  assert.ok(r.aborted);
  assert.ok(Date.now() - t0 < 1000);
  assert.equal(b.requests.length, 0);
});

test('a client abort mid-stream cancels the upstream', async () => {
  a.enqueue({ text: 'a b c d e f g h i j k l m n o p', eventDelayMs: 100 });
  const ctl = new AbortController();
  const stream = await gw.client().chat.completions.create({ model: 'chat', messages: msgs, stream: true }, { signal: ctl.signal });
  let n = 0;
  try {
    for await (const _ of stream) if (++n === 3) ctl.abort();
  } catch {
    /* the SDK may end the iteration either way after an abort */
  }
  const t0 = Date.now();
  const r = await a.waitForAbort(1500);
  assert.ok(Date.now() - t0 < 1000);
  assert.ok(r.aborted);
});
