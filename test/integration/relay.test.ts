/**
 * The stream relay against upstreams that frame SSE in unusual but valid ways: the whole answer in
 * one TCP chunk (fast upstreams, buffering proxies: found by the benchmark, BENCHMARKS.md), CRLF,
 * events split mid-UTF-8, comments, and content that looks like the terminator.
 */
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { parseSseJson, startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.ts';
import { startTestGateway, providerFor, type TestGateway } from '../fakes/gateway.ts';

const bounded = { timeout: 15_000 };
const msgs = [{ role: 'user' as const, content: 'hi' }];
let a: FakeUpstream;
let b: FakeUpstream;
let gw: TestGateway;

before(async () => {
  [a, b] = await Promise.all([startFakeUpstream({ name: 'a' }), startFakeUpstream({ name: 'b' })]);
  gw = await startTestGateway({
    providers: [
      providerFor('a', a.baseUrl, { breaker: { failures: 100 } }),
      providerFor('b', b.baseUrl),
      providerFor('idle', a.baseUrl, { timeout: { idleMs: 300 }, breaker: { failures: 100 } }),
      providerFor('rsn', a.baseUrl, { reasoning: 'include', reasoningField: 'reasoning_content' }),
    ],
    routes: [
      { name: 'r', targets: [{ provider: 'a', priority: 0 }, { provider: 'b', priority: 1 }] },
      { name: 'idle', targets: [{ provider: 'idle' }] },
      { name: 'rsn', targets: [{ provider: 'rsn' }] },
    ],
  });
});
after(async () => {
  await gw.close();
  await Promise.all([a.close(), b.close()]);
});
beforeEach(() => {
  a.reset();
  b.reset();
});

const chunk = (delta: object, finish: string | null = null): object => ({
  id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'mock-small', choices: [{ index: 0, delta, finish_reason: finish }],
});

function sse(events: Array<object | string>, eol = '\n'): string {
  return events.map((e) => `data: ${typeof e === 'string' ? e : JSON.stringify(e)}${eol}${eol}`).join('');
}

async function streamText(model = 'r'): Promise<{ text: string; provider: string | null }> {
  const { data, response } = await gw.client().chat.completions.create({ model, messages: msgs, stream: true }).withResponse();
  let text = '';
  for await (const c of data) text += c.choices[0]?.delta.content ?? '';
  return { text, provider: response.headers.get('x-llmux-provider') };
}

test('a whole SSE answer in one chunk (content and [DONE] together) is relayed, not failed over', bounded, async () => {
  const body = sse([chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hello' }), chunk({ content: ' world' }), chunk({}, 'stop'), '[DONE]']);
  a.enqueue({ status: 200, headers: { 'content-type': 'text/event-stream' }, body });
  const r = await streamText();
  assert.equal(r.text, 'Hello world');
  assert.equal(r.provider, 'a');
  assert.equal(b.requests.length, 0);
});

test('a one-chunk answer is relayed byte for byte', bounded, async () => {
  const body = sse([chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hi' }), chunk({}, 'stop'), '[DONE]']);
  a.enqueue({ status: 200, headers: { 'content-type': 'text/event-stream' }, body });
  const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'r', messages: msgs, stream: true, stream_options: { include_usage: true } }) });
  assert.equal(await res.text(), body);
});

test('a one-chunk answer goes out with its length (no chunked framing); a streamed one is chunked', bounded, async () => {
  const usage = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'mock-small', choices: [], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } };
  const events = [chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hi' }), chunk({}, 'stop')];
  a.enqueue({ status: 200, headers: { 'content-type': 'text/event-stream' }, body: sse([...events, usage, '[DONE]']) });
  const post = (body: object) => fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'r', messages: msgs, stream: true, ...body }) });
  // The caller did not ask for usage: the usage chunk is dropped, and the length is of what is sent.
  const one = await post({});
  const text = await one.text();
  assert.equal(text, sse([...events, '[DONE]']));
  assert.equal(one.headers.get('content-length'), String(Buffer.byteLength(text)));
  assert.equal(one.headers.get('transfer-encoding'), null);
  assert.equal(one.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  assert.equal(one.headers.get('x-llmux-provider'), 'a');
  assert.equal(one.headers.get('x-llmux-attempts'), '1');
  assert.match(one.headers.get('server-timing') ?? '', /^gateway;dur=[\d.]+, upstream;dur=[\d.]+$/);
  a.enqueue({ text: 'one two three', eventDelayMs: 20 });
  const streamed = await post({});
  assert.equal(streamed.headers.get('content-length'), null);
  assert.equal(streamed.headers.get('transfer-encoding'), 'chunked');
  assert.ok((await streamed.text()).endsWith('data: [DONE]\n\n'));
});

test('a one-chunk stream with [DONE] and no content still fails over', bounded, async () => {
  a.enqueue({ status: 200, headers: { 'content-type': 'text/event-stream' }, body: sse([chunk({ role: 'assistant', content: '' }), '[DONE]']) });
  const r = await streamText();
  assert.equal(r.provider, 'b');
  assert.equal(r.text, 'Hello from mock');
});

test('a one-chunk stream whose first event is an error fails over', bounded, async () => {
  a.enqueue({ status: 200, headers: { 'content-type': 'text/event-stream' }, body: sse([{ error: { message: 'overloaded', type: 'server_error' } }, chunk({ content: 'x' }), '[DONE]']) });
  const r = await streamText();
  assert.equal(r.provider, 'b');
});

test('CRLF framing and events split mid-UTF-8 are relayed intact', bounded, async () => {
  a.enqueue({ text: 'héllo wörld 🌍 done', crlf: true, splitEvents: true });
  const r = await streamText();
  assert.equal(r.text, 'héllo wörld 🌍 done');
  assert.equal(r.provider, 'a');
});

test('comments before the first content are held, then passed on', bounded, async () => {
  a.enqueue({ events: [': OPENROUTER PROCESSING', ': keep-alive', chunk({ role: 'assistant', content: '' }), chunk({ content: 'ok' }), chunk({}, 'stop'), '[DONE]'] });
  const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'r', messages: msgs, stream: true }) });
  const text = await res.text();
  assert.match(text, /^: OPENROUTER PROCESSING\n\n: keep-alive\n\n/);
  assert.equal(parseSseJson(text).map((e) => e.choices[0]?.delta?.content ?? '').join(''), 'ok');
});

test('a streamed answer whose text is "[DONE]" is not cut there', bounded, async () => {
  a.enqueue({ events: [chunk({ role: 'assistant', content: '' }), chunk({ content: '[DONE]' }), chunk({ content: ' and more' }), chunk({}, 'stop'), '[DONE]'], eventDelayMs: 5 });
  const r = await streamText();
  assert.equal(r.text, '[DONE] and more');
});

test('a stream whose only content is "[DONE]" as text commits and completes', bounded, async () => {
  a.enqueue({ events: [chunk({ content: '[DONE]' }), chunk({}, 'stop'), '[DONE]'] });
  const r = await streamText();
  assert.equal(r.provider, 'a');
  assert.equal(r.text, '[DONE]');
});

test('a stream that stalls after commit ends with an error event once idleMs passes', bounded, async () => {
  a.enqueue({ text: 'one two three four', stallAfterEvents: 3 });
  const t0 = Date.now();
  const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'idle', messages: msgs, stream: true }) });
  assert.equal(res.status, 200);
  const text = await res.text();
  const events = parseSseJson(text);
  const last = events[events.length - 1];
  assert.equal(last.error?.code, 'upstream_timeout', text);
  assert.ok(!text.includes('[DONE]'), 'a cut stream never ends as if complete');
  // undici checks its timeouts on a ~1 s tick: allow for it.
  assert.ok(Date.now() - t0 < 3_000, `took ${Date.now() - t0} ms`);
  assert.ok((await a.waitForAbort(2_000)).aborted, 'the upstream request is closed');
});

test('reasoning: include is sent, and reasoning is renamed to reasoningField in streams and bodies', bounded, async () => {
  a.enqueue({ events: [chunk({ role: 'assistant', reasoning: 'let me think' }), chunk({ content: 'answer' }), chunk({}, 'stop'), '[DONE]'] });
  const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'rsn', messages: msgs, stream: true }) });
  const events = parseSseJson(await res.text());
  assert.equal(a.requests[0]!.body.include_reasoning, true);
  assert.equal(events[0].choices[0].delta.reasoning_content, 'let me think');
  assert.equal('reasoning' in events[0].choices[0].delta, false);
  a.enqueue({ body: { id: 'x', object: 'chat.completion', created: 1, model: 'mock-small', choices: [{ index: 0, message: { role: 'assistant', content: 'answer', reasoning: 'hmm' }, finish_reason: 'stop' }] } });
  const data: any = await gw.client().chat.completions.create({ model: 'rsn', messages: msgs });
  assert.equal(data.choices[0].message.reasoning_content, 'hmm');
  assert.equal(data.choices[0].message.content, 'answer');
});

test('a stream cut into pieces at any byte is relayed exactly, usage chunk stripped, whatever the framing', { timeout: 60_000 }, async () => {
  // The relay walks a committed chunk from mark to mark and holds a partial event for the next
  // chunk: every place a chunk can end (inside a mark, a blank line, a CRLF, a UTF-8 sequence) must
  // give the same bytes. The caller did not ask for usage, so the usage-only chunk is dropped.
  const events = (eol: string): string[] => [
    `data: ${JSON.stringify({ ...chunk({ role: 'assistant', content: '' }), usage: null })}${eol}${eol}`,
    `data: ${JSON.stringify({ ...chunk({ content: 'Grüße 🌍' }), usage: null })}${eol}${eol}`,
    `: keep-alive${eol}${eol}`,
    `data: ${JSON.stringify({ ...chunk({ content: ' "usage" and [DONE] as text' }), usage: null })}${eol}${eol}`,
    `data: ${JSON.stringify({ ...chunk({}, 'stop'), usage: null })}${eol}${eol}`,
    `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'mock-small', choices: [], usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } })}${eol}${eol}`,
    `data: [DONE]${eol}${eol}`,
  ];
  for (const eol of ['\n', '\r\n']) {
    const ev = events(eol);
    const body = Buffer.from(ev.join(''));
    const expected = ev.filter((_, i) => i !== 5).join('');
    const cases: Buffer[][] = [];
    for (let k = 1; k < body.length; k += 3) cases.push([body.subarray(0, k), body.subarray(k)]);
    for (let k = 7; k + 60 < body.length; k += 53) cases.push([body.subarray(0, k), body.subarray(k, k + 60), body.subarray(k + 60)]);
    // In batches: requests of one batch take the scripts in any order, and all expect the same bytes.
    for (let i = 0; i < cases.length; i += 16) {
      const batch = cases.slice(i, i + 16);
      for (const pieces of batch) a.enqueue({ chunks: pieces, eventDelayMs: 2 });
      const texts = await Promise.all(batch.map(async () => {
        const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'r', messages: msgs, stream: true }) });
        assert.equal(res.headers.get('x-llmux-provider'), 'a');
        return res.text();
      }));
      for (const t of texts) assert.equal(t, expected);
    }
  }
  assert.equal(b.requests.length, 0);
});

test('the answer ends with its [DONE]: bytes an upstream sends after it are not relayed', bounded, async () => {
  const body = sse([chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hi' }), chunk({}, 'stop'), '[DONE]']);
  a.enqueue({ chunks: [body, 'data: {"choices":[{"delta":{"content":"late"}}]}\n\n'], eventDelayMs: 20 });
  const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'r', messages: msgs, stream: true, stream_options: { include_usage: true } }) });
  assert.equal(await res.text(), body);
});

test('a one-chunk answer whose only content is a tool call commits (no text event to go by)', bounded, async () => {
  const call = { index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } };
  const body = sse([chunk({ role: 'assistant', content: null }), chunk({ tool_calls: [call] }), chunk({}, 'tool_calls'), '[DONE]']);
  a.enqueue({ status: 200, headers: { 'content-type': 'text/event-stream' }, body });
  const res = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'r', messages: msgs, stream: true, stream_options: { include_usage: true } }) });
  assert.equal(res.headers.get('x-llmux-provider'), 'a');
  assert.equal(await res.text(), body);
  assert.equal(b.requests.length, 0);
});

test('a one-chunk answer with an event that is not JSON before its content fails over', bounded, async () => {
  a.enqueue({ status: 200, headers: { 'content-type': 'text/event-stream' }, body: sse([chunk({ role: 'assistant', content: '' }), 'not json at all', chunk({ content: 'x' }), '[DONE]']) });
  assert.equal((await streamText()).provider, 'b');
  // Shaped like an object, broken inside: still not JSON, whether or not content follows in the same read.
  a.enqueue({ status: 200, headers: { 'content-type': 'text/event-stream' }, body: sse(['{"choices":[{"delta":{"role":"assistant"}}] oops}', chunk({ content: 'Hi' }), '[DONE]']) });
  assert.equal((await streamText()).provider, 'b');
});
