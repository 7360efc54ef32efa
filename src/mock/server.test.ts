import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeUpstream } from '../../test/fakes/fake-upstream.ts';
import type { FakeUpstream } from '../../test/fakes/fake-upstream.ts';
import type { MockOptions } from './server.ts';

const T = { timeout: 5000 };
const CHAT = { model: 'mock-small', messages: [{ role: 'user', content: 'hi' }] };

function post(up: FakeUpstream, path: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(`${up.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: init.signal ?? AbortSignal.timeout(4000),
  });
}

/** Runs `fn` against a fresh fake and always closes it. */
async function withUp(opts: MockOptions, fn: (up: FakeUpstream) => Promise<void>): Promise<void> {
  const up = await startFakeUpstream(opts);
  try {
    await fn(up);
  } finally {
    await up.close();
  }
}

test('non-stream chat completion has the real shape and echoes the model', T, () =>
  withUp({ name: 'alpha' }, async (up) => {
    const res = await post(up, '/v1/chat/completions', { ...CHAT, model: 'any-model' });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.match(res.headers.get('x-request-id') ?? '', /^req_mock-/);
    assert.equal(res.headers.get('x-mock-name'), 'alpha');
    const text = await res.text();
    assert.ok(text.length > 400 && text.length < 1000, `realistic size, got ${text.length}`);
    const body = JSON.parse(text);
    assert.equal(body.object, 'chat.completion');
    assert.equal(body.model, 'any-model');
    assert.equal(body.system_fingerprint, 'fp_alpha');
    assert.match(body.id, /^chatcmpl-/);
    assert.equal(typeof body.created, 'number');
    assert.deepEqual(body.choices[0].message.role, 'assistant');
    assert.equal(body.choices[0].message.content, 'Hello from mock');
    assert.equal(body.choices[0].finish_reason, 'stop');
    assert.equal(body.usage.completion_tokens, 3);
    assert.equal(body.usage.total_tokens, body.usage.prompt_tokens + 3);
    assert.equal(up.requests.length, 1);
    assert.deepEqual(up.requests[0]?.body, { ...CHAT, model: 'any-model' });
    assert.equal(up.requests[0]?.status, 200);
  }));

test('the path without /v1 works and max_tokens truncates with finish_reason length', T, () =>
  withUp({}, async (up) => {
    up.enqueue({ text: 'one two three four', usage: { prompt_tokens: 7 } });
    const body = await (await post(up, '/chat/completions', { ...CHAT, max_tokens: 2 })).json() as any;
    assert.equal(body.choices[0].message.content, 'one two ');
    assert.equal(body.choices[0].finish_reason, 'length');
    assert.deepEqual([body.usage.prompt_tokens, body.usage.completion_tokens], [7, 2]);
  }));

test('enqueued scripts are consumed in order, then the default applies', T, () =>
  withUp({}, async (up) => {
    up.enqueue({ text: 'first' }, { text: 'second' });
    const texts: string[] = [];
    for (let i = 0; i < 3; i++) {
      const body = await (await post(up, '/v1/chat/completions', CHAT)).json() as any;
      texts.push(body.choices[0].message.content);
    }
    assert.deepEqual(texts, ['first', 'second', 'Hello from mock']);
    up.setDefault({ text: 'default' });
    assert.equal((await (await post(up, '/v1/chat/completions', CHAT)).json() as any).choices[0].message.content, 'default');
    up.setDefault(null);
    up.reset();
    assert.equal(up.requests.length, 0);
  }));

test('status and error scripts answer with an OpenAI error body', T, () =>
  withUp({}, async (up) => {
    up.enqueue(
      { status: 429, error: { message: 'slow down', code: 'insufficient_quota' }, headers: { 'retry-after': '3' } },
      { status: 503 },
      { error: { message: 'boom' } },
      { status: 200, body: '{"broken": ' },
    );
    const r1 = await post(up, '/v1/chat/completions', CHAT);
    assert.equal(r1.status, 429);
    assert.equal(r1.headers.get('retry-after'), '3');
    assert.deepEqual(await r1.json() as any, {
      error: { message: 'slow down', type: 'requests', param: null, code: 'insufficient_quota' },
    });
    const r2 = await post(up, '/v1/chat/completions', CHAT);
    assert.equal(r2.status, 503);
    assert.equal((await r2.json() as any).error.type, 'server_error');
    const r3 = await post(up, '/v1/chat/completions', CHAT);
    assert.equal(r3.status, 500);
    assert.equal((await r3.json() as any).error.message, 'boom');
    const r4 = await post(up, '/v1/chat/completions', CHAT);
    assert.equal(await r4.text(), '{"broken": ');
  }));

test('a hung request the client abandons is marked aborted and waitForAbort resolves', T, () =>
  withUp({}, async (up) => {
    up.enqueue({ hang: true });
    const ac = new AbortController();
    const pending = post(up, '/v1/chat/completions', CHAT, { signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await assert.rejects(pending, { name: 'AbortError' });
    const rec = await up.waitForAbort(2000);
    assert.equal(rec.aborted, true);
    assert.equal(rec.status, undefined);
    assert.equal(up.requests[0], rec);
  }));

test('waitForAbort rejects when no client goes away in time', T, () =>
  withUp({}, async (up) => {
    await assert.rejects(up.waitForAbort(50), /no client abort/);
  }));

test('reset script gives the client ECONNRESET, and is not counted as a client abort', T, () =>
  withUp({}, async (up) => {
    up.enqueue({ reset: true });
    const err: any = await post(up, '/v1/chat/completions', CHAT).then(() => null, (e: unknown) => e);
    assert.ok(err, 'fetch must fail');
    assert.equal(err.cause?.code, 'ECONNRESET');
    assert.equal(up.requests[0]?.aborted, false);
  }));

test('close script ends the socket with no response', T, () =>
  withUp({}, async (up) => {
    up.enqueue({ close: true });
    await assert.rejects(post(up, '/v1/chat/completions', CHAT), TypeError);
    assert.equal(up.requests[0]?.status, undefined);
  }));

test('rateLimitRpm answers 429 with Retry-After and retry-after-ms above the limit', T, () =>
  withUp({ rateLimitRpm: 2 }, async (up) => {
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 3; i++) {
      last = await post(up, '/v1/chat/completions', CHAT);
      statuses.push(last.status);
      if (i < 2) await last.arrayBuffer();
    }
    assert.deepEqual(statuses, [200, 200, 429]);
    const retryAfter = Number(last?.headers.get('retry-after'));
    const retryAfterMs = Number(last?.headers.get('retry-after-ms'));
    assert.ok(retryAfter >= 59 && retryAfter <= 60, `retry-after ${retryAfter}`);
    assert.ok(retryAfterMs > 58_000 && retryAfterMs <= 60_000, `retry-after-ms ${retryAfterMs}`);
    assert.equal(last?.headers.get('x-ratelimit-remaining-requests'), '0');
    assert.equal((await last?.json() as any).error.code, 'rate_limit_exceeded');
  }));

test('models list and single model have the OpenAI shape', T, () =>
  withUp({ models: ['a', 'b'] }, async (up) => {
    const list = await (await fetch(`${up.baseUrl}/models`)).json() as any;
    assert.equal(list.object, 'list');
    assert.deepEqual(list.data.map((m: any) => [m.id, m.object, typeof m.created, typeof m.owned_by]), [
      ['a', 'model', 'number', 'string'],
      ['b', 'model', 'number', 'string'],
    ]);
    assert.equal((await (await fetch(`${up.baseUrl}/models/b`)).json() as any).id, 'b');
  }));

test('embeddings are deterministic, one vector per input, base64 on request', T, () =>
  withUp({}, async (up) => {
    const req = { model: 'emb', input: ['alpha', 'beta'] };
    const a = await (await post(up, '/v1/embeddings', req)).json() as any;
    const b = await (await post(up, '/v1/embeddings', req)).json() as any;
    assert.equal(a.object, 'list');
    assert.equal(a.data.length, 2);
    assert.deepEqual(a.data.map((d: any) => d.index), [0, 1]);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a.data[0].embedding, a.data[1].embedding);
    assert.equal(a.usage.total_tokens, a.usage.prompt_tokens);
    const b64 = await (await post(up, '/v1/embeddings', { ...req, encoding_format: 'base64' })).json() as any;
    const floats = new Float32Array(Uint8Array.from(Buffer.from(b64.data[0].embedding, 'base64')).buffer);
    assert.ok(Math.abs((floats[0] ?? 0) - a.data[0].embedding[0]) < 1e-6);
  }));

test('close() with a hung request finishes in under a second', T, async () => {
  const up = await startFakeUpstream();
  up.enqueue({ hang: true });
  const pending = post(up, '/v1/chat/completions', CHAT).catch((e: unknown) => e);
  await waitFor(() => up.requests.length === 1);
  const t0 = performance.now();
  await up.close();
  assert.ok(performance.now() - t0 < 1000);
  assert.ok((await pending) instanceof Error);
  assert.equal(up.openConnections, 0);
  assert.equal(up.requests[0]?.aborted, false, 'our own shutdown is not a client abort');
});

test('apiKey is required when set', T, () =>
  withUp({ apiKey: 'sk-test' }, async (up) => {
    const bad = await post(up, '/v1/chat/completions', CHAT);
    assert.equal(bad.status, 401);
    assert.equal((await bad.json() as any).error.code, 'invalid_api_key');
    const ok = await post(up, '/v1/chat/completions', CHAT, { headers: { authorization: 'Bearer sk-test' } });
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
  }));

test('unknown paths 404, invalid JSON is recorded raw and refused, strictModels 404s', T, () =>
  withUp({ strictModels: true }, async (up) => {
    const unknown = await post(up, '/v1/nope', {});
    assert.equal(unknown.status, 404);
    assert.match((await unknown.json() as any).error.message, /Invalid URL/);
    const invalid = await post(up, '/v1/chat/completions', '{"model": nope');
    assert.equal(invalid.status, 400);
    await invalid.arrayBuffer();
    assert.equal(up.requests[1]?.body, '{"model": nope');
    assert.equal(up.requests[1]?.raw, '{"model": nope');
    const unknownModel = await post(up, '/v1/chat/completions', { ...CHAT, model: 'gpt-x' });
    assert.equal(unknownModel.status, 404);
    assert.equal((await unknownModel.json() as any).error.code, 'model_not_found');
  }));

test('forced status and seeded failRate apply to unscripted requests only', T, async () => {
  await withUp({ status: 502 }, async (up) => {
    up.enqueue({ text: 'scripted' });
    assert.equal((await post(up, '/v1/chat/completions', CHAT)).status, 200);
    assert.equal((await post(up, '/v1/chat/completions', CHAT)).status, 502);
  });
  const run = async (): Promise<number[]> => {
    const out: number[] = [];
    await withUp({ failRate: 0.5, failStatus: 503, seed: 42 }, async (up) => {
      for (let i = 0; i < 12; i++) out.push((await post(up, '/v1/completions', { model: 'm', prompt: 'x' })).status);
    });
    return out;
  };
  const first = await run();
  assert.deepEqual(await run(), first, 'same seed, same failures');
  assert.ok(first.includes(503) && first.includes(200), `mixed outcomes: ${first}`);
});

test('legacy completions return a text_completion', T, () =>
  withUp({}, async (up) => {
    const body = await (await post(up, '/v1/completions', { model: 'm', prompt: 'say' })).json() as any;
    assert.equal(body.object, 'text_completion');
    assert.equal(body.choices[0].text, 'Hello from mock');
    up.enqueue({ emptyChoices: true });
    assert.deepEqual((await (await post(up, '/v1/chat/completions', CHAT)).json() as any).choices, []);
  }));

test('latency delays headers and a restarted fake keeps its URL', T, async () => {
  const up = await startFakeUpstream({ latencyMs: 150 });
  try {
    const t0 = performance.now();
    await (await post(up, '/v1/chat/completions', CHAT)).arrayBuffer();
    assert.ok(performance.now() - t0 >= 140);
    const url = up.url;
    await up.close();
    await assert.rejects(fetch(`${url}/v1/models`), TypeError);
    await up.start();
    assert.equal(up.url, url);
    assert.equal((await fetch(`${url}/v1/models`)).status, 200);
  } finally {
    await up.close();
  }
});

async function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('a script that cannot be sent fails only its own request', T, () =>
  withUp({}, async (up) => {
    up.enqueue({ headers: { 'x-bad': 'a\r\nb' } });
    const res = await post(up, '/v1/chat/completions', CHAT);
    assert.equal(res.status, 500);
    assert.match((await res.json() as any).error.message, /mock script failed/);
    assert.equal((await post(up, '/v1/chat/completions', CHAT)).status, 200);
  }));
