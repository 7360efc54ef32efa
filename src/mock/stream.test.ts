import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { parseSse, parseSseJson, startFakeUpstream } from '../../test/fakes/fake-upstream.ts';
import type { FakeUpstream } from '../../test/fakes/fake-upstream.ts';
import type { MockOptions } from './server.ts';

const T = { timeout: 5000 };
const STREAM = { model: 'mock-small', stream: true, messages: [{ role: 'user', content: 'hi' }] };

function post(up: FakeUpstream, body: unknown, signal?: AbortSignal, path = '/v1/chat/completions'): Promise<Response> {
  return fetch(`${up.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: signal ?? AbortSignal.timeout(4000),
  });
}

async function withUp(opts: MockOptions, fn: (up: FakeUpstream) => Promise<void>): Promise<void> {
  const up = await startFakeUpstream(opts);
  try {
    await fn(up);
  } finally {
    await up.close();
  }
}

/** Reads SSE text until `count` data events arrived (bounded by the fetch's own timeout). */
async function readEvents(reader: ReadableStreamDefaultReader<Uint8Array>, count: number): Promise<string[]> {
  const decoder = new TextDecoder();
  let text = '';
  while (parseSse(text).length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  return parseSse(text);
}

test('stream: role chunk, word chunks, finish chunk, then [DONE]', T, () =>
  withUp({}, async (up) => {
    const res = await post(up, STREAM);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const data = parseSse(await res.text());
    assert.equal(data.at(-1), '[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0].id));
    assert.equal(chunks.map((c) => c.choices[0].delta.content ?? '').join(''), 'Hello from mock');
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
    assert.ok(chunks.every((c) => !('usage' in c)));
  }));

test('include_usage adds a choices:[] usage chunk before [DONE]', T, () =>
  withUp({}, async (up) => {
    up.enqueue({ usage: { prompt_tokens: 11, completion_tokens: 5 } });
    const data = parseSse(await (await post(up, { ...STREAM, stream_options: { include_usage: true } })).text());
    assert.equal(data.at(-1), '[DONE]');
    const last = JSON.parse(data.at(-2)!);
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, { prompt_tokens: 11, completion_tokens: 5, total_tokens: 16 });
    assert.equal(JSON.parse(data[0]!).usage, null);
  }));

test('legacy completions stream text_completion chunks', T, () =>
  withUp({}, async (up) => {
    const res = await post(up, { model: 'm', prompt: 'x', stream: true }, undefined, '/v1/completions');
    const chunks = parseSseJson(await res.text());
    assert.ok(chunks.every((c) => c.object === 'text_completion'));
    assert.equal(chunks.map((c) => c.choices[0].text).join(''), 'Hello from mock');
  }));

test('stallAfterEvents stops sending but keeps the socket open until the client leaves', T, () =>
  withUp({}, async (up) => {
    up.enqueue({ stallAfterEvents: 2 });
    const ac = new AbortController();
    const res = await post(up, STREAM, ac.signal);
    const reader = res.body!.getReader();
    const first = await readEvents(reader, 2);
    assert.equal(first.length, 2);
    const next = reader.read();
    const winner = await Promise.race([next.then(() => 'data'), sleep(200).then(() => 'stalled')]);
    assert.equal(winner, 'stalled');
    assert.equal(up.openConnections, 1);
    ac.abort();
    await next.catch(() => {});
    const rec = await up.waitForAbort(2000);
    assert.equal(rec.aborted, true);
    assert.equal(rec.status, 200);
  }));

test('errorFirst sends 200 whose first event is an error, then [DONE]', T, () =>
  withUp({}, async (up) => {
    up.enqueue({ errorFirst: { message: 'context too long', code: 'context_length_exceeded', type: 'invalid_request_error' } });
    const res = await post(up, STREAM);
    assert.equal(res.status, 200);
    const data = parseSse(await res.text());
    assert.equal(data.length, 2);
    assert.deepEqual(JSON.parse(data[0]!), {
      error: { message: 'context too long', type: 'invalid_request_error', param: null, code: 'context_length_exceeded' },
    });
    assert.equal(data[1], '[DONE]');
  }));

test('errorAfterEvents puts an in-band error after n events', T, () =>
  withUp({}, async (up) => {
    up.enqueue({ errorAfterEvents: 2 });
    const data = parseSse(await (await post(up, STREAM)).text());
    assert.equal(data.length, 4);
    assert.equal(JSON.parse(data[2]!).error.type, 'server_error');
    assert.equal(data[3], '[DONE]');
  }));

test('splitEvents writes events in halves that reassemble to the same events', T, () =>
  withUp({}, async (up) => {
    const text = 'ünïcode words — split éverywhere';
    up.enqueue({ text, usage: { prompt_tokens: 1 } }, { text, usage: { prompt_tokens: 1 }, splitEvents: true });
    const plain = parseSseJson(await (await post(up, STREAM)).text());
    const { chunks, body } = await rawPost(up, STREAM);
    const split = parseSseJson(body);
    const strip = (cs: any[]): unknown[] => cs.map((c) => ({ ...c, id: 0, created: 0 }));
    assert.deepEqual(strip(split), strip(plain));
    assert.ok(chunks.some((c) => !c.endsWith('\n\n')), 'some TCP read ends inside an event');
  }));

test('resetAfterEvents cuts the stream with a reset after n events', T, () =>
  withUp({}, async (up) => {
    up.enqueue({ resetAfterEvents: 2 });
    const res = await post(up, STREAM);
    assert.equal(res.status, 200);
    const err: any = await res.text().then(() => null, (e: unknown) => e);
    assert.ok(err, 'reading the body must fail');
    assert.equal(up.requests[0]?.aborted, false);
  }));

test('explicit events, comments, noDone and CRLF framing', T, () =>
  withUp({}, async (up) => {
    up.enqueue({ events: [': keep-alive', { a: 1 }, 'not json', '[DONE]'], crlf: true, noDone: true });
    const raw = await (await post(up, { model: 'x', messages: [] })).text();
    assert.equal(raw, ': keep-alive\r\n\r\ndata: {"a":1}\r\n\r\ndata: not json\r\n\r\n');
  }));

test('tokensPerS paces the generated stream, eventDelayMs overrides it', T, () =>
  withUp({ tokensPerS: 20 }, async (up) => {
    up.enqueue({ text: 'a b c d e' }, { text: 'a b c d e', eventDelayMs: 0 });
    let t0 = performance.now();
    await (await post(up, STREAM)).text();
    // 8 events (role, 5 words, finish, [DONE]) → 7 gaps of 50 ms.
    assert.ok(performance.now() - t0 >= 340, `paced: ${performance.now() - t0}`);
    t0 = performance.now();
    await (await post(up, STREAM)).text();
    assert.ok(performance.now() - t0 < 250);
  }));

test('firstEventDelayMs holds the first event after the headers', T, () =>
  withUp({}, async (up) => {
    up.enqueue({ firstEventDelayMs: 300 });
    const t0 = performance.now();
    const res = await post(up, STREAM);
    const headersAt = performance.now() - t0;
    await res.text();
    assert.ok(headersAt < 250, `headers early: ${headersAt}`);
    assert.ok(performance.now() - t0 >= 290);
  }));

/** node:http client, to see how the bytes arrived (fetch hides TCP read boundaries). */
function rawPost(up: FakeUpstream, body: unknown): Promise<{ chunks: string[]; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${up.url}/v1/chat/completions`, { method: 'POST', timeout: 4000 }, (res) => {
      const bufs: Buffer[] = [];
      res.on('data', (b: Buffer) => bufs.push(b));
      res.on('end', () => resolve({
        chunks: bufs.map((b) => b.toString('latin1')),
        body: Buffer.concat(bufs).toString('utf8'),
      }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
