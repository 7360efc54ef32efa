/**
 * What an open stream keeps of its request. A stream may stay open for minutes, and a chat's body is
 * often tens of kilobytes: once the stream has committed no attempt will send the body again, so
 * the gateway must not keep it (as received, and parsed) beside the copy the upstream request holds.
 * Measured across the whole process after full collections, with bodies large enough (2 MB each)
 * that what is kept cannot hide in the noise, through both doors (the fast path, and Fastify's for
 * variants of the paths). And the other side: an attempt that fails after its answer was read, but
 * before a stream committed, still leaves the whole body to the next endpoint.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request, Agent, type ClientRequest } from 'node:http';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.ts';
import { startTestGateway, providerFor, post, type TestGateway } from '../fakes/gateway.ts';

v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let up: FakeUpstream;
let plain: FakeUpstream;
let next: FakeUpstream;
let gw: TestGateway;

before(async () => {
  up = await startFakeUpstream();
  plain = await startFakeUpstream();
  next = await startFakeUpstream();
  gw = await startTestGateway({
    providers: [
      providerFor('a', up.url, { timeout: { firstByteMs: 10_000, idleMs: 30_000, totalMs: 60_000 } }),
      // Asked without streaming whatever the caller asked: its answer is checked whole, then written as events.
      providerFor('plain', plain.url, { stream: false }),
      providerFor('next', next.url),
    ],
    routes: [
      { name: 'held', targets: [{ provider: 'a', model: 'mock-small' }] },
      { name: 'late', targets: [{ provider: 'plain', model: 'mock-small', priority: 0 }, { provider: 'next', model: 'mock-small', priority: 1 }] },
    ],
  });
});

after(async () => {
  await gw.close();
  await up.close();
  await plain.close();
  await next.close();
});

/** Opens a stream and resolves once its first bytes arrived (it has committed); it stays open. */
function openStream(agent: Agent, path: string, body: string): Promise<ClientRequest> {
  return new Promise((resolve, reject) => {
    const req = request(`${gw.url}${path}`, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      // An error answer would let the body go for another reason: only a committed stream counts.
      if (res.statusCode !== 200 || !String(res.headers['content-type']).startsWith('text/event-stream')) {
        reject(new Error(`not a stream: ${res.statusCode} ${res.headers['content-type']}`));
        req.destroy();
        return;
      }
      res.once('data', () => resolve(req));
      res.on('data', () => undefined);
      res.on('error', () => undefined);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function settle(): void {
  gc();
  gc();
}

async function heldStreams(path: string): Promise<void> {
  const streams = 4;
  const size = 2 * 1024 * 1024;
  // No stream_options: the gateway asks the upstream for usage, so it sends a changed copy of the
  // body, and both the body as received and its parse are its own to let go.
  const body = JSON.stringify({ model: 'held', stream: true, messages: [{ role: 'user', content: 'x'.repeat(size) }] });
  for (let i = 0; i < streams; i++) up.enqueue({ text: 'one two three', stallAfterEvents: 2 });
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  settle();
  const base = process.memoryUsage();
  const open = await Promise.all(Array.from({ length: streams }, () => openStream(agent, path, body)));
  // The fake upstream's record of what it received is the test's, not the gateway's.
  for (const r of up.requests) {
    r.body = null;
    r.raw = '';
  }
  settle();
  const held = process.memoryUsage();
  try {
    const buffers = held.arrayBuffers - base.arrayBuffers;
    const heap = held.heapUsed - base.heapUsed;
    // The upstream request keeps the body it sent until the answer ends: one copy a stream.
    assert.ok(buffers < streams * size * 1.5, `buffers kept: ${(buffers / 1048576).toFixed(1)} MB for ${streams} streams of ${size / 1048576} MB`);
    // The parsed body (a 2 MB string each) is let go at commit.
    assert.ok(heap < streams * size * 0.5, `heap kept: ${(heap / 1048576).toFixed(1)} MB for ${streams} streams of ${size / 1048576} MB`);
  } finally {
    for (const r of open) r.destroy();
    agent.destroy();
    // The next measurement starts once these upstream requests have gone, and their bodies with them.
    const until = Date.now() + 5_000;
    while (Date.now() < until && !up.requests.every((r) => r.aborted)) await new Promise((res) => setTimeout(res, 20));
    await new Promise((res) => setTimeout(res, 100));
  }
}

test('an open stream keeps no copy of its request body beyond the upstream request\'s own', { timeout: 30_000 }, () => heldStreams('/v1/chat/completions'));

test('so does one that came in through Fastify (a path with a query string)', { timeout: 30_000 }, () => heldStreams('/v1/chat/completions?door=fastify'));

test('an attempt that fails after its answer was read, before the stream commits, leaves the whole body to the next endpoint', { timeout: 15_000 }, async () => {
  // A 200 whose only choice is null passes the whole-body check, and then cannot be written as events.
  plain.enqueue({ body: '{"id":"x","object":"chat.completion","created":1,"model":"mock-small","choices":[null]}' });
  const messages = [{ role: 'user', content: 'the whole question' }];
  const r = await post(`${gw.url}/v1/chat/completions`, { model: 'late', stream: true, messages });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('x-llmux-provider'), 'next');
  assert.equal(next.requests.length, 1);
  assert.deepEqual(next.requests[0]!.body.messages, messages);
  assert.equal(next.requests[0]!.body.stream, true);
});
