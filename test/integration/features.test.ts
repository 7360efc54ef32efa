/**
 * Provider and route features (SPEC §3, §4, §6, §7): forced params and streaming, usage on streams,
 * modelMap and default models, several keys, every balance, priorities, attempt and deadline caps,
 * retries, embeddings and legacy completions through the SDK, /v1/models, and an outbound proxy.
 */
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { channels, type AttemptEndEvent } from '../../src/core/events.ts';
import { parseSseJson, startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.ts';
import { startConnectProxy } from '../fakes/connect-proxy.ts';
import { startTestGateway, providerFor, post, type TestGateway } from '../fakes/gateway.ts';

const bounded = { timeout: 20_000 };
const msgs = [{ role: 'user' as const, content: 'hi' }];
let a: FakeUpstream;
let b: FakeUpstream;
let c: FakeUpstream;

before(async () => {
  [a, b, c] = await Promise.all([startFakeUpstream({ name: 'a' }), startFakeUpstream({ name: 'b' }), startFakeUpstream({ name: 'c' })]);
});
after(async () => {
  await Promise.all([a.close(), b.close(), c.close()]);
});
beforeEach(() => {
  for (const u of [a, b, c]) {
    u.reset();
    u.setDefault(null);
    u.configure({ latencyMs: 0 });
  }
});

/** A gateway for one test, closed afterwards whatever happens. */
async function withGateway(config: object, f: (gw: TestGateway) => Promise<void>): Promise<void> {
  const gw = await startTestGateway(config);
  try {
    await f(gw);
  } finally {
    await gw.close();
  }
}

/** Which fake answered: by the x-llmux-provider header. */
async function servedBy(gw: TestGateway, model: string): Promise<string> {
  const r = await post(`${gw.url}/v1/chat/completions`, { model, messages: msgs });
  assert.equal(r.status, 200, r.text);
  return r.headers.get('x-llmux-provider') ?? '?';
}

async function tally(gw: TestGateway, model: string, n: number): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const p = await servedBy(gw, model);
    out[p] = (out[p] ?? 0) + 1;
  }
  return out;
}

test('provider params are forced over the caller\'s', bounded, async () => {
  await withGateway({ providers: [providerFor('a', a.baseUrl, { params: { temperature: 0.1, max_tokens: 4096 } })] }, async (gw) => {
    const r = await post(`${gw.url}/v1/chat/completions`, { model: 'mock-small', messages: msgs, temperature: 0.9, max_tokens: 5, top_p: 0.5 });
    assert.equal(r.status, 200, r.text);
    const got = a.requests[0]!.body;
    assert.equal(got.temperature, 0.1);
    assert.equal(got.max_tokens, 4096);
    assert.equal(got.top_p, 0.5, 'what the provider does not force passes through');
  });
});

test('a body with text outside ASCII goes on as its bytes, or re-serialised with its text as sent', bounded, async () => {
  const text = '你好，“llmux” 😀 é';
  const raw = `{"model":"mock-small","messages":[{"role":"user","content":"${text}"}],"temperature":0.9,"user":"用户"}`;
  const send = (gw: { url: string }, body: string) => fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then(async (r) => ({ status: r.status, text: await r.text() }));
  await withGateway({ providers: [providerFor('a', a.baseUrl)] }, async (gw) => {
    const r = await send(gw, raw);
    assert.equal(r.status, 200, r.text);
    assert.equal(a.requests[0]!.raw, raw, 'byte for byte');
  });
  // Re-serialised (the provider forces a parameter): the text as sent, not as any other reading of its bytes.
  a.reset();
  await withGateway({ providers: [providerFor('a', a.baseUrl, { params: { temperature: 0.1 } })] }, async (gw) => {
    const r = await send(gw, raw);
    assert.equal(r.status, 200, r.text);
    const got = a.requests[0]!.body;
    assert.equal(got.temperature, 0.1);
    assert.equal(got.messages[0].content, text);
    assert.equal(got.user, '用户');
    // A forbidden field removed: re-serialised with the text as sent too.
    await send(gw, raw.replace('"temperature"', '"api_base":"http://x","temperature"'));
    assert.equal(a.requests[1]!.body.messages[0].content, text);
    assert.equal(a.requests[1]!.body.api_base, undefined);
    // Embeddings and completions alike.
    const emb = await fetch(`${gw.url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"model":"mock-small","input":["${text}"],"temperature":1}` });
    assert.equal(emb.status, 200, await emb.text());
    assert.deepEqual(a.requests[2]!.body.input, [text]);
    const cmp = await fetch(`${gw.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"model":"mock-small","prompt":"${text}","temperature":1}` });
    assert.equal(cmp.status, 200, await cmp.text());
    assert.equal(a.requests[3]!.body.prompt, text);
  });
  // A model name outside ASCII routes by its text as sent; a wrong type is reported as the UTF-8 parse words it.
  a.reset();
  await withGateway({ providers: [providerFor('a', a.baseUrl, { models: ['mock-small'], modelMap: { 模型: 'mock-large' } })] }, async (gw) => {
    const r = await send(gw, raw.replace('"mock-small"', '"模型"'));
    assert.equal(r.status, 200, r.text);
    assert.equal(a.requests[0]!.body.model, 'mock-large');
    assert.equal(a.requests[0]!.body.messages[0].content, text);
    const bad = await send(gw, raw.replace('0.9', '"高"'));
    assert.equal(bad.status, 400);
    assert.equal((JSON.parse(bad.text) as { error: { message: string } }).error.message, '"temperature" must be of type number, got "高".');
  });
});

test('forced params the caller did not send go in front of the caller\'s own bytes; one the caller sent re-serialises', bounded, async () => {
  await withGateway({ providers: [providerFor('a', a.baseUrl, { params: { max_tokens: 4096, metadata: { team: 'ops' } }, reasoning: 'include' })] }, async (gw) => {
    const raw = '{"model":"mock-small", "messages":[{"role":"user","content":"你好 \\u00e9"}],"seed":12345678901234567890}';
    const send = (body: string) => fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((r) => r.text());
    await send(raw);
    assert.equal(a.requests[0]!.raw, `{"include_reasoning":true,"max_tokens":4096,"metadata":{"team":"ops"},${raw.slice(1)}`);
    // Streamed: the usage request after them.
    await send(raw.replace('"seed"', '"stream":true,"seed"'));
    assert.equal(a.requests[1]!.raw, `{"include_reasoning":true,"max_tokens":4096,"metadata":{"team":"ops"},"stream_options":{"include_usage":true},${raw.replace('"seed"', '"stream":true,"seed"').slice(1)}`);
    // The caller sent one of them: re-serialised, the provider's value winning, the text as sent.
    await send(raw.replace('"seed"', '"max_tokens":5,"seed"'));
    const got = a.requests[2]!.body;
    assert.equal(got.max_tokens, 4096);
    assert.equal(got.include_reasoning, true);
    assert.equal(got.messages[0].content, '你好 é');
    assert.equal((a.requests[2]!.raw.match(/max_tokens/g) ?? []).length, 1, 'never a key twice');
  });
});

test('provider stream: true with a non-stream caller answers one assembled chat.completion', bounded, async () => {
  await withGateway({ providers: [providerFor('a', a.baseUrl, { stream: true })] }, async (gw) => {
    const { data, response } = await gw.client().chat.completions.create({ model: 'mock-small', messages: msgs }).withResponse();
    assert.equal(a.requests[0]!.body.stream, true, 'the upstream was asked to stream');
    assert.match(response.headers.get('content-type') ?? '', /application\/json/);
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.choices[0]?.message.content, 'Hello from mock');
    assert.equal(data.choices[0]?.message.role, 'assistant');
    assert.equal(data.choices[0]?.finish_reason, 'stop');
    assert.ok(data.usage && data.usage.completion_tokens > 0, 'usage asked for and kept');
  });
});

test('a forced stream whose answer is the text "[DONE]" is assembled whole', bounded, async () => {
  await withGateway({ providers: [providerFor('a', a.baseUrl, { stream: true })] }, async (gw) => {
    a.enqueue({ text: 'The marker is [DONE] and then more.' });
    const data = await gw.client().chat.completions.create({ model: 'mock-small', messages: msgs });
    assert.equal(data.choices[0]?.message.content, 'The marker is [DONE] and then more.');
  });
});

test('provider stream: false with a stream caller still streams to the SDK', bounded, async () => {
  await withGateway({ providers: [providerFor('a', a.baseUrl, { stream: false })] }, async (gw) => {
    const stream = await gw.client().chat.completions.create({ model: 'mock-small', messages: msgs, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage = null;
    for await (const ch of stream) {
      text += ch.choices[0]?.delta.content ?? '';
      if (ch.usage) usage = ch.usage;
    }
    assert.equal(text, 'Hello from mock');
    assert.ok(usage, 'the usage the caller asked for arrives');
    const got = a.requests[0]!.body;
    assert.equal(got.stream, false);
    assert.equal(got.stream_options, undefined, 'no stream_options on a non-stream request');
  });
});

test('include_usage requested: the usage chunk reaches the caller', bounded, async () => {
  await withGateway({ providers: [providerFor('a', a.baseUrl)] }, async (gw) => {
    const stream = await gw.client().chat.completions.create({ model: 'mock-small', messages: msgs, stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const ch of stream) chunks.push(ch);
    const last = chunks[chunks.length - 1]!;
    assert.deepEqual(last.choices, []);
    assert.ok(last.usage && last.usage.total_tokens > 0);
  });
});

test('include_usage not requested: the upstream is asked for it and the usage-only chunk is stripped', bounded, async () => {
  await withGateway({ providers: [providerFor('a', a.baseUrl)] }, async (gw) => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'mock-small', messages: msgs, stream: true }) });
    const text = await res.text();
    assert.equal(a.requests[0]!.body.stream_options?.include_usage, true);
    const events = parseSseJson(text);
    assert.ok(events.length >= 3, text);
    assert.ok(events.every((e) => !(Array.isArray(e.choices) && e.choices.length === 0 && e.usage)), `usage chunk leaked:\n${text}`);
    assert.ok(text.trimEnd().endsWith('data: [DONE]'));
    assert.equal(events.map((e) => e.choices[0]?.delta?.content ?? '').join(''), 'Hello from mock');
  });
});

test('the usage request is put in front of the caller\'s own bytes; a body with stream_options gets it merged', bounded, async () => {
  await withGateway({ providers: [providerFor('a', a.baseUrl)] }, async (gw) => {
    const raw = '\n {"model":"mock-small",  "messages":[{"role":"user","content":"h\\u00e9"}], "stream":true, "temperature":0.50}';
    await (await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw })).text();
    assert.equal(a.requests[0]!.raw, '\n {"stream_options":{"include_usage":true},"model":"mock-small",  "messages":[{"role":"user","content":"h\\u00e9"}], "stream":true, "temperature":0.50}');
    const withOptions = JSON.stringify({ model: 'mock-small', messages: msgs, stream: true, stream_options: { include_usage: false } });
    await (await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: withOptions })).text();
    assert.deepEqual(a.requests[1]!.body.stream_options, { include_usage: true });
    assert.equal((a.requests[1]!.raw.match(/stream_options/g) ?? []).length, 1, 'never a key twice');
  });
});

test('modelMap: an implicit route by the mapped name sends the upstream model', bounded, async () => {
  await withGateway({ providers: [providerFor('a', a.baseUrl, { models: ['mock-small'], modelMap: { nickname: 'mock-large' } })] }, async (gw) => {
    const r = await post(`${gw.url}/v1/chat/completions`, { model: 'nickname', messages: msgs });
    assert.equal(r.status, 200, r.text);
    assert.equal(a.requests[0]!.body.model, 'mock-large');
    assert.equal(r.headers.get('x-llmux-model'), 'mock-large');
  });
});

test('a route to another upstream model changes only the model\'s value: every other byte goes on as sent', bounded, async () => {
  await withGateway({ providers: [providerFor('a', a.baseUrl, { models: ['mock-small'], modelMap: { nickname: 'mock-large' } })] }, async (gw) => {
    // A 20-digit seed and `1.0` would not survive a parse and a re-serialisation; nested "model" keys are not the body's.
    const raw = '{"messages":[{"role":"user","content":"say \\"model\\": \\"x\\""}], "seed": 12345678901234567890,\n "temperature": 1.0, "model" : "nickname", "metadata": {"model": "mine"}}';
    const r = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw });
    assert.equal(r.status, 200, await r.text());
    assert.equal(a.requests[0]!.raw, raw.replace('"nickname"', '"mock-large"'));
    // Streamed, with the usage request added in front as well.
    const streamed = '{"model":"nickname","stream":true,"messages":[{"role":"user","content":"hi"}],"seed":12345678901234567890}';
    await (await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: streamed })).text();
    assert.equal(a.requests[1]!.raw, '{"stream_options":{"include_usage":true},"model":"mock-large","stream":true,"messages":[{"role":"user","content":"hi"}],"seed":12345678901234567890}');
    // Re-serialised, as before the splice: stream_options on a request that does not stream are
    // dropped (an upstream may refuse them), and a key named twice goes once, with the value llmux acted on.
    const post2 = (body: string) => fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((r) => r.text());
    await post2('{"model":"nickname","messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}');
    assert.equal(a.requests[2]!.raw, '{"model":"mock-large","messages":[{"role":"user","content":"hi"}]}');
    await post2('{"model":"nickname","stream":true,"messages":[{"role":"user","content":"hi"}],"stream":false}');
    assert.equal(a.requests[3]!.raw, '{"model":"mock-large","stream":false,"messages":[{"role":"user","content":"hi"}]}');
  });
});

test('a target without a model uses the provider\'s first model', bounded, async () => {
  await withGateway({
    providers: [providerFor('a', a.baseUrl, { models: ['first-model', 'second-model'] })],
    routes: [{ name: 'team', targets: [{ provider: 'a' }] }],
  }, async (gw) => {
    const r = await post(`${gw.url}/v1/chat/completions`, { model: 'team', messages: msgs });
    assert.equal(r.status, 200, r.text);
    assert.equal(a.requests[0]!.body.model, 'first-model');
  });
});

test('several keys on one provider are several endpoints: round-robin alternates keys', bounded, async () => {
  await withGateway({ providers: [providerFor('a', a.baseUrl, { keys: ['sk-key-one-0000000001', 'sk-key-two-0000000002'] })] }, async (gw) => {
    for (let i = 0; i < 6; i++) await servedBy(gw, 'mock-small');
    const one = 'Bearer sk-key-one-0000000001';
    const two = 'Bearer sk-key-two-0000000002';
    assert.deepEqual(a.requests.map((r) => r.headers.authorization), [one, two, one, two, one, two]);
  });
});

test('balance weighted: a weight of 9 against 1 takes most requests', bounded, async () => {
  await withGateway({
    providers: [providerFor('a', a.baseUrl, { weight: 9 }), providerFor('b', b.baseUrl, { weight: 1 })],
    routes: [{ name: 'w', balance: 'weighted', targets: [{ provider: 'a' }, { provider: 'b' }] }],
  }, async (gw) => {
    const t = await tally(gw, 'w', 200);
    // Expected 180 of 200 (sd ≈ 4.2): 150 is seven deviations away. b serves none of 200 with
    // probability 0.9^200 ≈ 7e-10 (of 60, as this test asked before, 0.18 %: it failed once in CI).
    assert.ok((t.a ?? 0) >= 150 && (t.b ?? 0) >= 1, JSON.stringify(t));
  });
});

test('balance random: both endpoints serve, and not in strict alternation', bounded, async () => {
  await withGateway({
    providers: [providerFor('a', a.baseUrl), providerFor('b', b.baseUrl)],
    routes: [{ name: 'r', balance: 'random', targets: [{ provider: 'a' }, { provider: 'b' }] }],
  }, async (gw) => {
    const order: string[] = [];
    for (let i = 0; i < 60; i++) order.push(await servedBy(gw, 'r'));
    const na = order.filter((p) => p === 'a').length;
    assert.ok(na >= 12 && na <= 48, `a served ${na} of 60`);
    assert.ok(order.some((p, i) => i > 0 && p === order[i - 1]), 'round-robin would alternate strictly');
  });
});

test('balance least-busy: while one endpoint is busy, the others take the requests', bounded, async () => {
  await withGateway({
    providers: [providerFor('a', a.baseUrl), providerFor('b', b.baseUrl)],
    routes: [{ name: 'only-a', targets: [{ provider: 'a' }] }, { name: 'lb', balance: 'least-busy', targets: [{ provider: 'a' }, { provider: 'b' }] }],
  }, async (gw) => {
    a.enqueue({ delayMs: 1_500 });
    const long = post(`${gw.url}/v1/chat/completions`, { model: 'only-a', messages: msgs });
    while (a.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    const t = await tally(gw, 'lb', 6);
    assert.deepEqual(t, { b: 6 }, 'a had a request in flight the whole time');
    assert.equal((await long).status, 200);
    // Both idle: ties are broken at random, so a takes its share again (missing all 20: 1 in a million).
    const after = await tally(gw, 'lb', 20);
    assert.ok((after.a ?? 0) > 0, `idle again, a takes its share: ${JSON.stringify(after)}`);
  });
});

test('balance least-latency: after measuring both, the faster endpoint takes the requests', bounded, async () => {
  a.configure({ latencyMs: 300 });
  await withGateway({
    providers: [providerFor('a', a.baseUrl), providerFor('b', b.baseUrl)],
    routes: [{ name: 'll', balance: 'least-latency', targets: [{ provider: 'a' }, { provider: 'b' }] }],
  }, async (gw) => {
    const t = await tally(gw, 'll', 10);
    // One request each to measure, then the faster one (a second on a only if b ever measured slower).
    assert.ok((t.a ?? 0) >= 1 && (t.a ?? 0) <= 2 && (t.b ?? 0) >= 8, JSON.stringify(t));
  });
});

test('priority: lower first; the next priority only when it fails', bounded, async () => {
  await withGateway({
    providers: [providerFor('a', a.baseUrl), providerFor('b', b.baseUrl)],
    routes: [{ name: 'p', targets: [{ provider: 'a', priority: 1 }, { provider: 'b', priority: 0 }] }],
  }, async (gw) => {
    assert.deepEqual(await tally(gw, 'p', 5), { b: 5 });
    b.enqueue({ status: 503 });
    assert.equal(await servedBy(gw, 'p'), 'a');
  });
});

test('maxAttempts caps the attempts of one request', bounded, async () => {
  await withGateway({
    server: { maxAttempts: 2 },
    providers: [providerFor('a', a.baseUrl), providerFor('b', b.baseUrl), providerFor('c', c.baseUrl)],
    routes: [{ name: 'm', targets: [{ provider: 'a', priority: 0 }, { provider: 'b', priority: 1 }, { provider: 'c', priority: 2 }] }],
  }, async (gw) => {
    for (const u of [a, b, c]) u.enqueue({ status: 500 });
    const r = await post(`${gw.url}/v1/chat/completions`, { model: 'm', messages: msgs });
    assert.equal(r.status, 502);
    assert.equal(r.headers.get('x-llmux-attempts'), '2');
    assert.equal(a.requests.length + b.requests.length + c.requests.length, 2);
    assert.equal(c.requests.length, 0);
  });
});

test('deadlineMs ends a request whose upstream hangs, and aborts the upstream', bounded, async () => {
  await withGateway({
    server: { deadlineMs: 300 },
    providers: [providerFor('a', a.baseUrl, { timeout: { firstByteMs: 10_000, totalMs: 20_000 } })],
  }, async (gw) => {
    a.enqueue({ hang: true });
    const t0 = Date.now();
    const r = await post(`${gw.url}/v1/chat/completions`, { model: 'mock-small', messages: msgs });
    const took = Date.now() - t0;
    assert.equal(r.status, 504, r.text);
    assert.ok(['deadline_exceeded', 'upstream_timeout'].includes(r.json.error.code), r.json.error.code);
    assert.ok(took >= 280 && took < 2_000, `took ${took} ms`);
    assert.ok((await a.waitForAbort(2_000)).aborted);
  });
});

test('per-provider retries retry the same endpoint on a timeout before failing over', bounded, async () => {
  await withGateway({
    providers: [providerFor('a', a.baseUrl, { retries: 1, timeout: { firstByteMs: 200 } }), providerFor('b', b.baseUrl)],
    routes: [{ name: 'rt', targets: [{ provider: 'a', priority: 0 }, { provider: 'b', priority: 1 }] }],
  }, async (gw) => {
    a.enqueue({ hang: true });
    const r = await post(`${gw.url}/v1/chat/completions`, { model: 'rt', messages: msgs });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-llmux-provider'), 'a', 'the retry on a succeeded');
    assert.equal(r.headers.get('x-llmux-attempts'), '2');
    assert.equal(a.requests.length, 2);
    assert.equal(b.requests.length, 0);
  });
});

test('per-provider retries retry the same endpoint on connect errors', bounded, async () => {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const dead = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  const attempts: AttemptEndEvent[] = [];
  const onAttempt = (m: unknown): void => void attempts.push(m as AttemptEndEvent);
  channels.attemptEnd.subscribe(onAttempt);
  try {
    await withGateway({
      providers: [providerFor('dead', `http://127.0.0.1:${dead}/v1`, { retries: 2, breaker: { failures: 10 } }), providerFor('b', b.baseUrl)],
      routes: [{ name: 'rc', targets: [{ provider: 'dead', priority: 0 }, { provider: 'b', priority: 1 }] }],
    }, async (gw) => {
      const r = await post(`${gw.url}/v1/chat/completions`, { model: 'rc', messages: msgs });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-llmux-provider'), 'b');
      assert.equal(r.headers.get('x-llmux-attempts'), '4');
      const mine = attempts.filter((e) => e.provider === 'dead');
      assert.equal(mine.length, 3, 'one try and two retries');
      assert.equal(new Set(mine.map((e) => e.endpointId)).size, 1, 'all on the same endpoint');
      assert.ok(mine.every((e) => e.cls === 'connect'));
    });
  } finally {
    channels.attemptEnd.unsubscribe(onAttempt);
  }
});

test('retries stop once the endpoint\'s breaker opens, and the request fails over', bounded, async () => {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const dead = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  await withGateway({
    providers: [providerFor('dead', `http://127.0.0.1:${dead}/v1`, { retries: 5, breaker: { failures: 2 } }), providerFor('b', b.baseUrl)],
    routes: [{ name: 'rc', targets: [{ provider: 'dead', priority: 0 }, { provider: 'b', priority: 1 }] }],
  }, async (gw) => {
    const r = await post(`${gw.url}/v1/chat/completions`, { model: 'rc', messages: msgs });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-llmux-provider'), 'b', 'retries did not eat every attempt');
    assert.equal(r.headers.get('x-llmux-attempts'), '3', 'two tries on dead opened its breaker');
  });
});

test('embeddings pass through with the SDK', bounded, async () => {
  await withGateway({ providers: [providerFor('a', a.baseUrl, { models: ['mock-embed'] })] }, async (gw) => {
    const e = await gw.client().embeddings.create({ model: 'mock-embed', input: ['hello', 'world'] });
    assert.equal(e.data.length, 2);
    assert.ok(e.data[0]!.embedding.length > 0);
    assert.equal(a.requests[0]!.path, '/v1/embeddings');
    const again = await gw.client().embeddings.create({ model: 'mock-embed', input: 'hello', encoding_format: 'float' });
    // The SDK asks for base64 by default (float32); compare at that precision.
    again.data[0]!.embedding.forEach((v, i) => assert.ok(Math.abs(v - e.data[0]!.embedding[i]!) < 1e-6, 'deterministic through the gateway'));
    assert.equal(a.requests[1]!.body.encoding_format, 'float', 'fields pass through');
  });
});

test('legacy completions pass through with the SDK, non-stream and stream', bounded, async () => {
  await withGateway({ providers: [providerFor('a', a.baseUrl)] }, async (gw) => {
    const r = await gw.client().completions.create({ model: 'mock-small', prompt: 'Say hi' });
    assert.equal(r.object, 'text_completion');
    assert.equal(r.choices[0]?.text, 'Hello from mock');
    assert.equal(a.requests[0]!.path, '/v1/completions');
    const stream = await gw.client().completions.create({ model: 'mock-small', prompt: 'Say hi', stream: true });
    let text = '';
    for await (const ch of stream) text += ch.choices[0]?.text ?? '';
    assert.equal(text, 'Hello from mock');
  });
});

test('legacy completions with a provider forcing stream assemble a text_completion', bounded, async () => {
  await withGateway({ providers: [providerFor('a', a.baseUrl, { stream: true })] }, async (gw) => {
    const r = await gw.client().completions.create({ model: 'mock-small', prompt: 'Say hi' });
    assert.equal(r.object, 'text_completion');
    assert.equal(r.choices[0]?.text, 'Hello from mock');
  });
});

test('legacy completions with a provider forcing non-stream still stream text to the SDK', bounded, async () => {
  await withGateway({ providers: [providerFor('a', a.baseUrl, { stream: false })] }, async (gw) => {
    const stream = await gw.client().completions.create({ model: 'mock-small', prompt: 'Say hi', stream: true });
    let text = '';
    for await (const ch of stream) {
      assert.equal(ch.object, 'text_completion');
      text += ch.choices[0]?.text ?? '';
    }
    assert.equal(text, 'Hello from mock');
    assert.equal(a.requests[0]!.body.stream, false);
  });
});

test('GET /v1/models lists routes and provider models in the OpenAI list shape', bounded, async () => {
  await withGateway({
    providers: [providerFor('a', a.baseUrl, { models: ['mock-small', 'mock-large'], modelMap: { nick: 'mock-large' } })],
    routes: [{ name: 'team-route', targets: [{ provider: 'a' }] }, { name: '*' }],
  }, async (gw) => {
    const list = await gw.client().models.list();
    const ids = list.data.map((m) => m.id);
    for (const id of ['team-route', 'mock-small', 'mock-large', 'nick']) assert.ok(ids.includes(id), `${id} in ${ids}`);
    assert.ok(!ids.includes('*'));
    const raw: any = await (await fetch(`${gw.url}/v1/models`)).json();
    assert.equal(raw.object, 'list');
    for (const m of raw.data) {
      assert.deepEqual(Object.keys(m).sort(), ['created', 'id', 'object', 'owned_by']);
      assert.equal(m.object, 'model');
      assert.equal(typeof m.created, 'number');
    }
  });
});

test('an outbound HTTP proxy: the request goes through it', bounded, async () => {
  const proxy = await startConnectProxy();
  const tunnels = proxy.connects;
  const proxyUrl = proxy.url;
  try {
    await withGateway({ providers: [providerFor('a', a.baseUrl, { proxy: proxyUrl })] }, async (gw) => {
      const data = await gw.client().chat.completions.create({ model: 'mock-small', messages: msgs });
      assert.equal(data.choices[0]?.message.content, 'Hello from mock');
      assert.deepEqual(tunnels, [new URL(a.url).host], 'one tunnel, to the upstream');
      assert.equal(a.requests.length, 1);
    });
    await withGateway({ proxy: proxyUrl, providers: [providerFor('a', a.baseUrl, { proxy: 'none' })] }, async (gw) => {
      await gw.client().chat.completions.create({ model: 'mock-small', messages: msgs });
      assert.equal(tunnels.length, 1, 'proxy: none bypasses the default proxy');
    });
    await withGateway({ proxy: proxyUrl, providers: [providerFor('a', a.baseUrl)] }, async (gw) => {
      await gw.client().chat.completions.create({ model: 'mock-small', messages: msgs });
      assert.equal(tunnels.length, 1, 'the default proxy (HTTP_PROXY) never carries loopback traffic');
    });
  } finally {
    await proxy.close();
  }
});
