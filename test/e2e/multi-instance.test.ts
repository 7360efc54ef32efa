/**
 * Several instances on one Postgres and one Redis (SPEC §11): two real `llmux serve` processes share
 * limits, breakers, client keys and round-robin positions. Needs LLMUX_TEST_PG and LLMUX_TEST_REDIS
 * (`eval "$(scripts/services.sh start)"`); skipped without them, failed without them in CI.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Redis } from 'ioredis';
import { requireService } from '../contract/backends.ts';
import { startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.ts';
import { chat, eventually, getJson, killAll, removeDir, runCli, spawnGateway, workDir, type Spawned } from './spawned.ts';

const pgUrl = requireService('LLMUX_TEST_PG', 'multi-instance e2e');
const redisUrl = pgUrl ? requireService('LLMUX_TEST_REDIS', 'multi-instance e2e') : undefined;

if (pgUrl && redisUrl) {
  // One run's names: its own Postgres schema, and provider/route ids no other run uses in Redis.
  const s = `e2e${process.pid.toString(36)}${randomBytes(3).toString('hex')}`;
  const schema = `llmux_${s}`;
  const storeUrl = `${pgUrl}${pgUrl.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  const rpm = 4;
  const ids = { lim: `lim-${s}`, brkA: `brka-${s}`, brkB: `brkb-${s}`, rr1: `rr1-${s}`, rr2: `rr2-${s}` };
  const routes = { lim: `lim-${s}`, brk: `brk-${s}`, rr: `rr-${s}` };

  let up: FakeUpstream;
  let flaky: FakeUpstream;
  let dir = '';
  let file = '';
  let A: Spawned;
  let B: Spawned;

  const provider = (id: string, baseUrl: string, extra: object = {}): object => ({ id, baseUrl, keys: [`sk-${id}-canary-0123456789`], models: ['mock-small'], ...extra });

  before(async () => {
    const c = new pg.Client(pgUrl);
    await c.connect();
    try {
      await c.query(`CREATE SCHEMA ${schema}`);
    } finally {
      await c.end();
    }
    up = await startFakeUpstream({ name: 'shared' });
    flaky = await startFakeUpstream({ name: 'flaky' });
    const w = await workDir({
      store: storeUrl,
      state: redisUrl,
      providers: [
        provider(ids.lim, up.baseUrl, { limits: { rpm } }),
        provider(ids.brkA, flaky.baseUrl),
        provider(ids.brkB, up.baseUrl),
        provider(ids.rr1, up.baseUrl),
        provider(ids.rr2, up.baseUrl),
      ],
      routes: [
        { name: routes.lim, targets: [{ provider: ids.lim }] },
        { name: routes.brk, targets: [{ provider: ids.brkA, priority: 0 }, { provider: ids.brkB, priority: 1 }] },
        { name: routes.rr, balance: 'round-robin', targets: [{ provider: ids.rr1, priority: 0 }, { provider: ids.rr2, priority: 0 }] },
      ],
    });
    dir = w.dir;
    file = w.file;
    [A, B] = await Promise.all([spawnGateway(w), spawnGateway(w)]);
  });

  after(async () => {
    await killAll();
    await up?.close();
    await flaky?.close();
    const c = new pg.Client(pgUrl);
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).finally(() => c.end());
    const r = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    try {
      let cursor = '0';
      do {
        const [next, keys] = await r.scan(cursor, 'MATCH', `*${s}*`, 'COUNT', 500);
        cursor = next;
        if (keys.length > 0) await r.del(...keys);
      } while (cursor !== '0');
    } finally {
      r.disconnect();
    }
    if (dir) await removeDir(dir);
  });

  test('both instances started on the shared Redis (not degraded to local state)', { timeout: 10_000 }, () => {
    for (const g of [A, B]) {
      const warned = g.lines.find((l) => typeof l.msg === 'string' && l.msg.includes('Redis unavailable'));
      assert.equal(warned, undefined, `an instance fell back to local state: ${JSON.stringify(warned)}`);
    }
  });

  test(`rpm ${rpm} holds across both instances: ${2 * rpm} requests alternating, exactly ${rpm} succeed`, { timeout: 30_000 }, async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 2 * rpm; i++) {
      const r = await chat(i % 2 === 0 ? A.url : B.url, routes.lim);
      statuses.push(r.status);
      if (r.status !== 200) {
        assert.equal(r.status, 429, JSON.stringify(r.json));
        assert.equal(r.json.error.code, 'rate_limit_exceeded');
        const ra = Number(r.headers.get('retry-after'));
        assert.ok(ra >= 1 && ra <= 61, `Retry-After ${ra}`);
      }
    }
    assert.equal(statuses.filter((x) => x === 200).length, rpm, `statuses: ${statuses.join(',')}`);
    assert.deepEqual(statuses.slice(0, rpm), Array(rpm).fill(200), 'the first N are admitted, whichever instance they hit');
    const upstreamSaw = up.requests.filter((q) => q.headers.authorization === `Bearer sk-${ids.lim}-canary-0123456789`).length;
    assert.equal(upstreamSaw, rpm);
  });

  test('a breaker opened through A is respected by B within a second', { timeout: 30_000 }, async () => {
    flaky.enqueue({ status: 429, headers: { 'retry-after': '30' }, error: { message: 'slow down', type: 'rate_limit', code: 'rate_limit_exceeded' } });
    const r1 = await chat(A.url, routes.brk);
    assert.equal(r1.status, 200);
    assert.equal(r1.headers.get('x-llmux-provider'), ids.brkB);
    assert.equal(flaky.requests.length, 1);
    const t0 = Date.now();
    const ep = await eventually(async () => {
      const h = await getJson(`${B.url}/health/upstream`);
      const e = h.endpoints.find((x: any) => x.provider === ids.brkA);
      return e?.state === 'open' ? e : null;
    }, 1_000, 25);
    assert.ok(ep, `B did not see the breaker open within 1 s (${Date.now() - t0} ms)`);
    assert.equal(ep.reason, 'rate_limited');
    const until = Date.parse(ep.openUntil) - Date.now();
    assert.ok(until > 25_000 && until <= 30_000, `open for another ${until} ms on B`);
    for (let i = 0; i < 3; i++) {
      const r = await chat(B.url, routes.brk);
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-llmux-provider'), ids.brkB);
      assert.equal(r.headers.get('x-llmux-attempts'), '1');
    }
    assert.equal(flaky.requests.length, 1, 'B never called the endpoint A saw fail');
  });

  test('round-robin positions are shared: 20 requests over both instances alternate between the two providers', { timeout: 30_000 }, async () => {
    const seq: string[] = [];
    for (let i = 0; i < 20; i++) {
      // A, B, A, B…: with per-instance positions, A's n-th and B's n-th request would hit the same provider.
      const r = await chat(i % 2 === 0 ? A.url : B.url, routes.rr);
      assert.equal(r.status, 200);
      seq.push(r.headers.get('x-llmux-provider') ?? '');
    }
    const n1 = seq.filter((p) => p === ids.rr1).length;
    const n2 = seq.filter((p) => p === ids.rr2).length;
    assert.equal(n1 + n2, 20);
    assert.ok(n1 === 10 && n2 === 10, `shares: ${n1} / ${n2}`);
    for (let i = 1; i < seq.length; i++) assert.notEqual(seq[i], seq[i - 1], `requests ${i} and ${i + 1} went to the same provider: ${seq.join(',')}`);
  });

  // Last: once a key exists in the shared store, both instances ask every caller for one.
  test('a key created with `llmux keys create` works on both instances within 2 s; `keys revoke` stops it on both', { timeout: 60_000 }, async () => {
    const env = {};
    const created = await runCli(['keys', 'create', '--config', file, '--name', `e2e-${s}`], { dir, env });
    assert.equal(created.code, 0, created.stderr);
    const key = /\n\s+(\S+)\n/.exec(created.stdout)?.[1];
    assert.ok(key, `no key in: ${created.stdout}`);
    const prefix = /Created client key (\S+)/.exec(created.stdout)?.[1];
    assert.ok(prefix);
    const auth = { authorization: `Bearer ${key}` };

    for (const g of [A, B]) {
      // Until the instance knows the key, it is open (no key anywhere): wait until it asks for one.
      const t0 = Date.now();
      const ok = await eventually(async () => (await chat(g.url, routes.rr)).status === 401 && (await chat(g.url, routes.rr, auth)).status === 200, 2_000, 50);
      assert.ok(ok, `the new key did not take effect on ${g.url} within 2 s (${Date.now() - t0} ms)`);
      assert.equal((await chat(g.url, routes.rr, { authorization: 'Bearer llmux-not-a-key' })).status, 401);
    }

    // A stored key's own limits hold across both instances too.
    const limitedKey = await runCli(['keys', 'create', '--config', file, '--name', `e2e-rpm-${s}`, '--rpm', '2'], { dir, env });
    assert.equal(limitedKey.code, 0, limitedKey.stderr);
    const lk = /\n\s+(\S+)\n/.exec(limitedKey.stdout)?.[1];
    assert.ok(lk);
    const lauth = { authorization: `Bearer ${lk}` };
    // GET /v1/models authenticates without counting against the key's limits.
    const models = async (g: Spawned): Promise<number> => (await fetch(`${g.url}/v1/models`, { headers: lauth, signal: AbortSignal.timeout(5_000) })).status;
    const known = await eventually(async () => (await models(A)) === 200 && (await models(B)) === 200, 2_000, 50);
    assert.ok(known, 'the rpm-limited key was not known on both instances within 2 s');
    assert.equal((await chat(A.url, routes.rr, lauth)).status, 200);
    assert.equal((await chat(B.url, routes.rr, lauth)).status, 200);
    const third = await chat(A.url, routes.rr, lauth);
    assert.equal(third.status, 429, 'one request on A and one on B used the key\'s rpm of 2');
    assert.equal(third.json.error.code, 'rate_limit_exceeded');

    const revoked = await runCli(['keys', 'revoke', prefix, '--config', file], { dir, env });
    assert.equal(revoked.code, 0, revoked.stderr);
    for (const g of [A, B]) {
      const t0 = Date.now();
      const refused = await eventually(async () => (await chat(g.url, routes.rr, auth)).status === 401, 2_000, 50);
      assert.ok(refused, `the revoked key still worked on ${g.url} after ${Date.now() - t0} ms`);
    }
    // Revoking the last key must not reopen the gateway to everyone.
    for (const g of [A, B]) {
      const anon = await chat(g.url, routes.rr);
      assert.equal(anon.status, 401, `after revoking the only key, ${g.url} answered an anonymous request with ${anon.status}`);
    }
  });
}
