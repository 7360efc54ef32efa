/**
 * The upstream connection pools (src/upstream/client.ts) against the fake upstream: how long idle
 * connections stay, including the one undici opens after a cancelled stream (nodejs/undici#5845).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { compile } from '../../src/config/compile.ts';
import { validateConfig } from '../../src/config/load.ts';
import { UpstreamClients } from '../../src/upstream/client.ts';
import { eventually } from '../contract/backends.ts';
import { startConnectProxy } from '../fakes/connect-proxy.ts';
import { startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.ts';

const bounded = { timeout: 15_000 };
const msgs = [{ role: 'user', content: 'hi' }];

interface Setup {
  up: FakeUpstream;
  send(body: object, signal: AbortSignal): ReturnType<UpstreamClients['call']>['answer'];
  close(): Promise<void>;
}

// The fake is a node:http server: it keeps idle connections 5 s and says `Keep-Alive: timeout=5`,
// which undici would honour as 3 s.
async function setup(keepAliveMs: number, proxy?: string): Promise<Setup> {
  const up = await startFakeUpstream();
  const snap = compile(validateConfig({ providers: [{ id: 'a', baseUrl: up.baseUrl, keys: ['sk-test-key-123456'], models: ['m'], ...(proxy ? { proxy } : {}) }], routes: [{ name: 'r', targets: [{ provider: 'a' }] }] }, null), null, 1, 0);
  const provider = snap.providers.get('a')!;
  const clients = new UpstreamClients({ keepAliveMs });
  return {
    up,
    send: (body, signal) => clients.call({ provider, method: 'POST', path: '/chat/completions', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal }).answer,
    close: async () => {
      await clients.close();
      await up.close();
    },
  };
}

async function completion(s: Setup): Promise<void> {
  const r = await s.send({ model: 'm', messages: msgs }, AbortSignal.timeout(5_000));
  assert.equal(r.statusCode, 200);
  assert.equal((JSON.parse(r.body!.toString('utf8')) as { object: string }).object, 'chat.completion');
}

/** Five slow streams, each left by its caller after the first event. */
async function cancelStreams(s: Setup): Promise<void> {
  const n = 5;
  for (let i = 0; i < n; i++) s.up.enqueue({ text: 'one two three four five six seven eight nine ten', eventDelayMs: 100 });
  const ctls = Array.from({ length: n }, () => new AbortController());
  const bodies = await Promise.all(ctls.map(async (c) => {
    const r = await s.send({ model: 'm', messages: msgs, stream: true }, c.signal);
    assert.equal(r.statusCode, 200);
    // Read to the first event; the sink then hears how the stream ends (an error, for an abort).
    let first!: () => void;
    const started = new Promise<void>((resolve) => (first = resolve));
    const ended = new Promise<void>((resolve) => r.stream!.start({ data: () => first(), end: resolve, error: () => resolve() }));
    await started;
    return { ended };
  }));
  assert.equal(s.up.openConnections, n);
  for (const c of ctls) c.abort();
  await Promise.all(bodies.map((b) => b.ended));
}

test('cancelled streams leave no idle upstream connections behind (undici#5845)', bounded, async () => {
  const s = await setup(200);
  try {
    await cancelStreams(s);
    // undici opens a fresh connection for each aborted request and never uses it. Kept for the
    // upstream's 3 s, they would all still be open here.
    assert.ok(await eventually(() => s.up.openConnections === 0, 1_500, 20), `${s.up.openConnections} upstream connections still open`);
    await completion(s);
  } finally {
    await s.close();
  }
});

test('through an outbound proxy, cancelled streams leave no idle tunnels behind either', bounded, async () => {
  const proxy = await startConnectProxy();
  const s = await setup(200, proxy.url);
  try {
    await cancelStreams(s);
    assert.ok(proxy.connects.length >= 5, `${proxy.connects.length} tunnels`);
    assert.ok(await eventually(() => s.up.openConnections === 0, 1_500, 20), `${s.up.openConnections} upstream connections still open`);
    await completion(s);
  } finally {
    await s.close();
    await proxy.close();
  }
});

test('a request waiting longer than the keep-alive time for its first byte is not cut', bounded, async () => {
  const s = await setup(100);
  try {
    s.up.enqueue({ delayMs: 600 });
    await completion(s);
  } finally {
    await s.close();
  }
});

test('an idle connection is reused within the keep-alive time and closed after it', bounded, async () => {
  const s = await setup(400);
  try {
    await completion(s);
    await sleep(100);
    await completion(s);
    // One connection for both: a second one would still be open here.
    assert.equal(s.up.openConnections, 1);
    // Closed by llmux after 400 ms idle, long before the fake's own 5 s.
    assert.ok(await eventually(() => s.up.openConnections === 0, 1_500, 20), `${s.up.openConnections} upstream connections still open`);
  } finally {
    await s.close();
  }
});
