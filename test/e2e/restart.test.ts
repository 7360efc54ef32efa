/**
 * Counters and breakers survive a restart (SPEC §6): a real `llmux serve` process on a SQLite store
 * with `state: memory` is stopped (SIGTERM, or kill -9 after the persister's interval) and started
 * again on the same store file.
 */
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { nextDayStart } from '../../src/core/clock.ts';
import { startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.ts';
import { chat, getJson, killAll, removeDir, sleep, spawnGateway, workDir } from './spawned.ts';

let a: FakeUpstream;
let b: FakeUpstream;
const dirs: string[] = [];
// Far from UTC on purpose: a day boundary computed in UTC would give a visibly wrong Retry-After.
const timezone = 'Asia/Shanghai';

before(async () => {
  a = await startFakeUpstream({ name: 'a' });
  b = await startFakeUpstream({ name: 'b' });
});
after(async () => {
  await killAll();
  await a.close();
  await b.close();
  for (const d of dirs) await removeDir(d);
});
beforeEach(() => {
  a.reset();
  b.reset();
});

function rpdConfig(): object {
  return {
    store: 'sqlite:./llmux.db',
    state: 'memory',
    server: { timezone },
    providers: [{ id: 'a', baseUrl: a.baseUrl, keys: ['sk-a-canary-0123456789'], models: ['mock-small'], limits: { rpd: 5 } }],
    routes: [{ name: 'chat', targets: [{ provider: 'a' }] }],
  };
}

async function expectOk(url: string, n: number, model = 'chat'): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await chat(url, model);
    assert.equal(r.status, 200, `request ${i + 1}: ${JSON.stringify(r.json)}`);
  }
}

async function expectRpdExhausted(url: string): Promise<void> {
  const r = await chat(url, 'chat');
  const now = Date.now();
  assert.equal(r.status, 429, JSON.stringify(r.json));
  assert.equal(r.json.error.code, 'rate_limit_exceeded');
  const retryAfter = Number(r.headers.get('retry-after'));
  const expected = (nextDayStart(now, timezone) - now) / 1000;
  assert.ok(Number.isFinite(retryAfter) && Math.abs(retryAfter - expected) <= 5, `Retry-After ${retryAfter} s, expected about ${Math.round(expected)} s (the next midnight in ${timezone})`);
}

for (const how of ['SIGTERM', 'SIGKILL'] as const) {
  test(`RPD survives a restart after ${how === 'SIGTERM' ? 'SIGTERM' : 'kill -9'}`, { timeout: 60_000 }, async () => {
    const w = await workDir(rpdConfig());
    dirs.push(w.dir);
    const first = await spawnGateway(w);
    await expectOk(first.url, 3);
    if (how === 'SIGKILL') await sleep(1_200); // the persister writes every second
    const code = await first.stop(how);
    if (how === 'SIGTERM') assert.equal(code, 0, `exit code after SIGTERM; stderr: ${first.stderr.join('')}`);

    const second = await spawnGateway(w);
    try {
      await expectOk(second.url, 2);
      await expectRpdExhausted(second.url);
      assert.equal(a.requests.length, 5, 'the upstream saw exactly the 5 admitted requests');
      // /v1/status counts the requests made before the restart too.
      const status = await getJson(`${second.url}/v1/status`);
      const api = status.apis.find((x: any) => x.id === 'a');
      assert.equal(api.usage.rpd, 5, `usage after restart: ${JSON.stringify(api.usage)}`);
    } finally {
      await second.stop('SIGKILL');
    }
  });
}

test('RPM and token counters survive a restart too', { timeout: 60_000 }, async () => {
  const w = await workDir({
    store: 'sqlite:./llmux.db',
    state: 'memory',
    providers: [
      { id: 'a', baseUrl: a.baseUrl, keys: ['sk-a-canary-0123456789'], models: ['mock-small'], limits: { rpm: 2 } },
      { id: 'b', baseUrl: b.baseUrl, keys: ['sk-b-canary-0123456789'], models: ['mock-small'], limits: { tpd: 30 } },
    ],
    routes: [{ name: 'rpm', targets: [{ provider: 'a' }] }, { name: 'tpd', targets: [{ provider: 'b' }] }],
  });
  dirs.push(w.dir);
  const first = await spawnGateway(w);
  await expectOk(first.url, 2, 'rpm');
  b.enqueue({ usage: { prompt_tokens: 20, completion_tokens: 15 } });
  assert.equal((await chat(first.url, 'tpd')).status, 200);
  assert.equal(await first.stop('SIGTERM'), 0);
  const second = await spawnGateway(w);
  try {
    const rpm = await chat(second.url, 'rpm');
    assert.equal(rpm.status, 429, 'the two requests of the last minute still count');
    assert.ok(Number(rpm.headers.get('retry-after')) <= 61);
    const tpd = await chat(second.url, 'tpd');
    assert.equal(tpd.status, 429, "today's 35 tokens still count against tpd 30");
    assert.equal(a.requests.length, 2);
    assert.equal(b.requests.length, 1);
  } finally {
    await second.stop('SIGKILL');
  }
});

test('an open breaker survives a restart: the endpoint stays skipped and shows open', { timeout: 60_000 }, async () => {
  const w = await workDir({
    store: 'sqlite:./llmux.db',
    state: 'memory',
    providers: [
      { id: 'a', baseUrl: a.baseUrl, keys: ['sk-a-canary-0123456789'], models: ['mock-small'] },
      { id: 'b', baseUrl: b.baseUrl, keys: ['sk-b-canary-0123456789'], models: ['mock-small'] },
    ],
    routes: [{ name: 'chat', targets: [{ provider: 'a', priority: 0 }, { provider: 'b', priority: 1 }] }],
  });
  dirs.push(w.dir);
  const first = await spawnGateway(w);
  a.enqueue({ status: 429, headers: { 'retry-after': '3600' }, error: { message: 'slow down', type: 'rate_limit', code: 'rate_limit_exceeded' } });
  const r1 = await chat(first.url, 'chat');
  assert.equal(r1.status, 200);
  assert.equal(r1.headers.get('x-llmux-provider'), 'b');
  assert.equal(a.requests.length, 1);
  assert.equal(await first.stop('SIGTERM'), 0);

  const second = await spawnGateway(w);
  try {
    const health = await getJson(`${second.url}/health/upstream`);
    const ep = health.endpoints.find((e: any) => e.provider === 'a');
    assert.equal(ep.state, 'open', JSON.stringify(ep));
    assert.equal(ep.reason, 'rate_limited');
    const until = Date.parse(ep.openUntil) - Date.now();
    assert.ok(until > 3_500_000 && until <= 3_600_000, `open for another ${until} ms`);
    for (let i = 0; i < 3; i++) {
      const r = await chat(second.url, 'chat');
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-llmux-provider'), 'b');
      assert.equal(r.headers.get('x-llmux-attempts'), '1');
    }
    assert.equal(a.requests.length, 1, 'the open endpoint was not called after the restart');
    // And once more across a kill -9: the breaker set is written with the counters.
    await sleep(1_200);
    await second.stop('SIGKILL');
    const third = await spawnGateway(w);
    const h3 = await getJson(`${third.url}/health/upstream`);
    assert.equal(h3.endpoints.find((e: any) => e.provider === 'a').state, 'open');
    const r = await chat(third.url, 'chat');
    assert.equal(r.headers.get('x-llmux-provider'), 'b');
    assert.equal(a.requests.length, 1);
    await third.stop('SIGKILL');
  } finally {
    await second.stop('SIGKILL');
  }
});
