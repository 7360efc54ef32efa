/**
 * What only the Redis state must do (SPEC §11, fault D1/D2): several instances share exact limits
 * and see each other's breaker changes; an unreachable or hung Redis never holds a request up; the
 * adapter returns to Redis when it is back; every key it writes has a TTL.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { openState } from '../../src/state/open.ts';
import type { State } from '../../src/state/types.ts';
import { eventually, requireService, sleep, uniqueName } from './backends.ts';
import { deleteKeys } from './redis-cleanup.ts';
import { TcpProxy } from './tcp-proxy.ts';

const url = requireService('LLMUX_TEST_REDIS', 'redis state (multi-instance, outages)');

function recorder(): { warnings: string[]; logger: { warn(o: object, m: string): void; info(o: object, m: string): void } } {
  const warnings: string[] = [];
  return { warnings, logger: { warn: (_o, m) => warnings.push(m), info: () => undefined } };
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await fn();
  return [v, performance.now() - t0];
}

if (url) {
  const opened: State[] = [];
  const prefixes: string[] = [];
  const open = async (u: string, opts: Parameters<typeof openState>[1] = {}): Promise<State> => {
    const s = await openState(u, opts);
    opened.push(s);
    if (opts?.prefix) prefixes.push(opts.prefix);
    return s;
  };
  after(async () => {
    await Promise.all(opened.map((s) => s.close()));
    await deleteKeys(url, prefixes);
  });

  describe('redis state: two instances', { timeout: 15_000 }, () => {
    test('the rate limit of N holds across two instances: concurrent acquires, exactly N ok', async () => {
      const prefix = `${uniqueName('llmux')}:`;
      const [a, b] = await Promise.all([open(url, { prefix }), open(url, { prefix })]);
      const o = { limit: 25, windowMs: 60_000 };
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).rate.acquire('ep:rpm', o)));
      assert.equal(results.filter((r) => r.ok).length, 25);
      assert.equal(await a.rate.peek('ep:rpm', 60_000), 25);
      const days = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).day.acquire('ep:rpd', { day: '20260101', limit: 7 })));
      assert.equal(days.filter((r) => r.ok).length, 7);
      const slots = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).inflight.acquire('ep:conc', 3, 60_000)));
      assert.equal(slots.filter((r) => r.ok).length, 3);
      const positions = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).rr.next('route')));
      assert.deepEqual(positions.sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });

    test('an instance has subscribed to breaker changes by the time it is open, also over a slow link', async () => {
      // Its connection is ready before Redis has confirmed the subscription sent on it: a change
      // another instance published in between would be lost. Opening waits for the confirmation.
      // Over a link 100 ms each way, the subscription reaches Redis well after the connection is ready.
      const prefix = `${uniqueName('llmux')}:`;
      const slow = await TcpProxy.start(url);
      slow.delayMs = 100;
      const probe = new Redis(url);
      try {
        const subscribers = async (): Promise<number> => Number(((await probe.pubsub('NUMSUB', `${prefix}breakers:changes`)) as [string, number | string])[1]);
        await open(`redis://127.0.0.1:${slow.port}`, { prefix, connectTimeoutMs: 5_000, commandTimeoutMs: 2_000 });
        assert.equal(await subscribers(), 1, 'subscribed when open over the slow link');
        await open(url, { prefix });
        assert.equal(await subscribers(), 2);
      } finally {
        probe.disconnect();
        await slow.down();
      }
    });

    test('a breaker opened through one instance is seen by the other within 1 s', async () => {
      const prefix = `${uniqueName('llmux')}:`;
      const [a, b] = await Promise.all([open(url, { prefix }), open(url, { prefix })]);
      const seen: [string, string | undefined][] = [];
      b.breakers.onChange((id, snap) => seen.push([id, snap]));
      const t0 = Date.now();
      await a.breakers.set('p1#0:gpt', '{"state":"open"}', 30_000);
      assert.ok(await eventually(() => seen.length > 0, 1000), 'change arrived');
      assert.ok(Date.now() - t0 < 1000);
      assert.deepEqual(seen[0], ['p1#0:gpt', '{"state":"open"}']);
      assert.equal(await b.breakers.get('p1#0:gpt'), '{"state":"open"}');
      await a.breakers.delete('p1#0:gpt');
      assert.ok(await eventually(() => seen.length > 1, 1000));
      assert.deepEqual(seen[1], ['p1#0:gpt', undefined]);
    });
  });

  describe('redis state: Redis down at start', { timeout: 20_000 }, () => {
    test('Redis on a closed port: answers within 200 ms from the local fallback, one warning, limits still enforced', async () => {
      const { warnings, logger } = recorder();
      const port = await closedPort();
      const [s, openMs] = await timed(() => open(`redis://127.0.0.1:${port}`, { logger }));
      assert.ok(openMs < 1000, `open took ${openMs} ms`);
      const [first, ms] = await timed(() => s.rate.acquire('ep:rpm', { limit: 2, windowMs: 60_000 }));
      assert.ok(ms < 200, `acquire took ${ms} ms`);
      assert.equal(first.ok, true);
      assert.equal((await s.rate.acquire('ep:rpm', { limit: 2, windowMs: 60_000 })).ok, true);
      assert.equal((await s.rate.acquire('ep:rpm', { limit: 2, windowMs: 60_000 })).ok, false, 'fail open, but with local limits');
      const heard: string[] = [];
      s.breakers.onChange((id) => heard.push(id));
      await s.breakers.set('ep', 'open', 10_000);
      assert.equal(await s.breakers.get('ep'), 'open');
      assert.deepEqual(heard, ['ep'], 'local breaker changes are still heard');
      await s.day.acquire('ep:rpd', { day: '20260101', limit: 5 });
      await sleep(300);
      await s.rr.next('route');
      assert.equal(warnings.length, 1, `one warning, got ${JSON.stringify(warnings)}`);
      assert.deepEqual(s.health(), { backend: 'redis', degraded: true });
    });
  });

  describe('redis state: outages mid-run', { timeout: 20_000 }, () => {
    test('Redis goes away mid-run: requests keep flowing locally, breakers are remembered, Redis resumes when back', async () => {
      const { warnings, logger } = recorder();
      const prefix = `${uniqueName('llmux')}:`;
      const proxy = await TcpProxy.start(url);
      try {
        const s = await open(`redis://127.0.0.1:${proxy.port}`, { prefix, logger, retryMs: 200 });
        const direct = await open(url, { prefix });
        const o = { limit: 100, windowMs: 60_000 };
        await s.rate.acquire('k', o);
        await s.breakers.set('ep', 'open', 60_000);
        assert.equal(await direct.rate.peek('k', 60_000), 1);
        await proxy.down();
        const [r, ms] = await timed(() => s.rate.acquire('k', o));
        assert.ok(r.ok && ms < 200, `acquire while down: ${ms} ms`);
        assert.equal(await s.breakers.get('ep'), 'open', 'an open breaker is not forgotten in an outage');
        assert.equal(s.health().degraded, true);
        assert.equal(await direct.rate.peek('k', 60_000), 1, 'counted locally meanwhile');
        await proxy.up();
        assert.ok(await eventually(() => !s.health().degraded, 5000), 'back on Redis');
        await s.rate.acquire('k', o);
        assert.equal(await direct.rate.peek('k', 60_000), 2);
        assert.equal(warnings.length, 1);
      } finally {
        await proxy.down();
      }
    });

    test('a hung Redis (connected, no replies): each call gives up within the command timeout', async () => {
      const { warnings, logger } = recorder();
      const prefix = `${uniqueName('llmux')}:`;
      const proxy = await TcpProxy.start(url);
      try {
        const s = await open(`redis://127.0.0.1:${proxy.port}`, { prefix, logger, commandTimeoutMs: 80, retryMs: 300 });
        await s.rate.acquire('k', { limit: 10, windowMs: 60_000 });
        proxy.stall();
        const [r, ms] = await timed(() => s.rate.acquire('k', { limit: 10, windowMs: 60_000 }));
        assert.ok(r.ok && ms < 200, `first call while hung: ${ms} ms`);
        const [, ms2] = await timed(() => s.day.acquire('k', { day: '20260101', limit: 10 }));
        assert.ok(ms2 < 50, `later calls skip Redis until retryMs: ${ms2} ms`);
        proxy.resume();
        await sleep(350);
        await s.rate.acquire('k', { limit: 10, windowMs: 60_000 });
        assert.equal(s.health().degraded, false, 'a successful call after retryMs ends the degradation');
        assert.equal(warnings.length, 1);
      } finally {
        proxy.resume();
        await proxy.down();
      }
    });
  });

  test('every key the Redis state writes has a TTL', { timeout: 10_000 }, async () => {
    const prefix = `${uniqueName('llmux')}:`;
    const s = await open(url, { prefix });
    await s.rate.acquire('ep:rpm', { limit: 5, windowMs: 60_000 });
    await s.rate.add('ep:tpm', 300, 60_000);
    await s.day.acquire('ep:rpd', { day: '20260101', limit: 5 });
    await s.day.add('ep:tpd', '20260101', 50);
    await s.inflight.acquire('ep:conc', 2, 60_000);
    await s.breakers.set('ep', 'open', 60_000);
    await s.rr.next('route');
    // Read around the adapter, with a plain client: what is really in Redis.
    const raw = new Redis(url);
    try {
      const keys = await raw.keys(`${prefix}*`);
      assert.equal(keys.length, 8, keys.join(', '));
      for (const k of keys) {
        const ttl = await raw.pttl(k);
        assert.ok(ttl > 0 && ttl <= 2 * 86_400_000, `${k} has TTL ${ttl}`);
      }
    } finally {
      raw.disconnect();
    }
  });
}
