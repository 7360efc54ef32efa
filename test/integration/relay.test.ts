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
    providers: [providerFor('a', a.baseUrl, { breaker: { failures: 100 } }), providerFor('b', b.baseUrl)],
    routes: [{ name: 'r', targets: [{ provider: 'a', priority: 0 }, { provider: 'b', priority: 1 }] }],
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
