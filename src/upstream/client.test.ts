import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { compile } from '../config/compile.ts';
import { validateConfig } from '../config/load.ts';
import { MockUpstream } from '../mock/server.ts';
import { startConnectProxy } from '../../test/fakes/connect-proxy.ts';
import { UpstreamClients } from './client.ts';

const bounded = { timeout: 15_000 };

async function setup(unusedSocketMs: number, proxy?: string) {
  const up = new MockUpstream();
  await up.start();
  const snap = compile(validateConfig({ providers: [{ id: 'a', baseUrl: up.baseUrl, keys: ['sk-test-key-123456'], models: ['m'], ...(proxy ? { proxy } : {}) }], routes: [{ name: 'r', targets: [{ provider: 'a' }] }] }, null), null, 1, 0);
  const provider = snap.providers.get('a')!;
  const clients = new UpstreamClients({ unusedSocketMs });
  const send = (body: object, signal: AbortSignal) =>
    clients.send({ provider, method: 'POST', path: '/chat/completions', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal });
  const close = async () => {
    await clients.close();
    await up.close();
  };
  return { up, clients, send, close };
}

async function until(what: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (what()) return true;
    await sleep(20);
  }
  return what();
}

const msgs = [{ role: 'user', content: 'hi' }];

async function cancelStreams(ctx: Awaited<ReturnType<typeof setup>>): Promise<void> {
  const { up, send } = ctx;
  const n = 5;
  // Long, slow streams: the client leaves after the first event of each.
  for (let i = 0; i < n; i++) up.enqueue({ text: 'one two three four five six seven eight nine ten', eventDelayMs: 100 });
  const ctls = Array.from({ length: n }, () => new AbortController());
  const bodies = await Promise.all(ctls.map(async (c) => {
    const r = await send({ model: 'm', messages: msgs, stream: true }, c.signal);
    assert.equal(r.statusCode, 200);
    const body = r.body as unknown as Readable;
    await new Promise((resolve) => body.once('data', resolve));
    return body;
  }));
  assert.equal(up.openConnections, n);
  const ended = bodies.map((b) => new Promise((resolve) => { b.once('error', resolve); b.once('close', resolve); }));
  for (const c of ctls) c.abort();
  await Promise.all(ended);
  // undici opens a fresh connection for each aborted request and never uses it; the fake keeps
  // idle connections for 5 s, so before that only llmux can have closed them.
  assert.ok(await until(() => up.openConnections === 0, 2_000), `${up.openConnections} upstream connections still open`);
  // The pool still works afterwards.
  const r = await send({ model: 'm', messages: msgs }, AbortSignal.timeout(5_000));
  assert.equal(r.statusCode, 200);
  assert.equal((JSON.parse(await r.body.text()) as { object: string }).object, 'chat.completion');
}

test('through a proxy, cancelled streams leave no idle tunnels behind either', bounded, async () => {
  const proxy = await startConnectProxy();
  const ctx = await setup(200, proxy.url);
  try {
    await cancelStreams(ctx);
    assert.ok(proxy.connects.length >= 5, `${proxy.connects.length} tunnels`);
    // undici does not reconnect for the aborted requests here: nothing was left to close.
    assert.equal(ctx.clients.reapedSockets, 0);
  } finally {
    await ctx.close();
    await proxy.close();
  }
});

test('cancelled streams leave no idle upstream connections behind (undici#5845)', bounded, async () => {
  const ctx = await setup(200);
  try {
    await cancelStreams(ctx);
    assert.ok(ctx.clients.reapedSockets >= 1, `reaped ${ctx.clients.reapedSockets}`);
  } finally {
    await ctx.close();
  }
});

test('a request waiting longer than unusedSocketMs for its first byte is not cut', bounded, async () => {
  const { up, clients, send, close } = await setup(100);
  try {
    up.enqueue({ delayMs: 600 });
    const r = await send({ model: 'm', messages: msgs }, AbortSignal.timeout(5_000));
    assert.equal(r.statusCode, 200);
    assert.equal((JSON.parse(await r.body.text()) as { object: string }).object, 'chat.completion');
    assert.equal(clients.reapedSockets, 0);
  } finally {
    await close();
  }
});

test('a connection that served a response stays for keep-alive and is reused', bounded, async () => {
  const { up, clients, send, close } = await setup(100);
  try {
    for (let i = 0; i < 2; i++) {
      const r = await send({ model: 'm', messages: msgs }, AbortSignal.timeout(5_000));
      assert.equal(r.statusCode, 200);
      await r.body.text();
      // Longer than unusedSocketMs, shorter than the keep-alive timeout.
      await sleep(400);
      assert.equal(up.openConnections, 1);
    }
    // One connection throughout: a second one would still be open here, inside its keep-alive.
    assert.equal(clients.reapedSockets, 0);
  } finally {
    await close();
  }
});
