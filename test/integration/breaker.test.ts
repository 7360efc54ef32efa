/**
 * Breakers through the whole gateway (SPEC §5), on an injected ManualClock so cooldowns pass at once:
 * opening after `failures`, the single half-open probe, doubling, auth and quota openings, and the
 * 503 with Retry-After when every endpoint is open.
 */
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.ts';
import { startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.ts';
import { startTestGateway, providerFor, post, type TestGateway } from '../fakes/gateway.ts';

const bounded = { timeout: 20_000 };
const msgs = [{ role: 'user', content: 'hi' }];
const breaker = { failures: 3, cooldownMs: 10_000, maxCooldownMs: 600_000 };
let a: FakeUpstream;
let b: FakeUpstream;

before(async () => {
  [a, b] = await Promise.all([startFakeUpstream({ name: 'a' }), startFakeUpstream({ name: 'b' })]);
});
after(async () => {
  await Promise.all([a.close(), b.close()]);
});
beforeEach(() => {
  a.reset();
  b.reset();
});

interface Rig {
  gw: TestGateway;
  clock: ManualClock;
}

/** A gateway routing `r` to a (priority 0) then b (priority 1), on its own ManualClock. */
async function withRig(f: (rig: Rig) => Promise<void>, opts: { timezone?: string; start?: number; onlyA?: boolean } = {}): Promise<void> {
  const clock = new ManualClock(opts.start ?? Date.UTC(2026, 0, 1, 10, 0, 0));
  const gw = await startTestGateway({
    server: { timezone: opts.timezone ?? 'UTC' },
    providers: [providerFor('a', a.baseUrl, { breaker }), providerFor('b', b.baseUrl, { breaker })],
    routes: [
      { name: 'r', targets: [{ provider: 'a', priority: 0 }, { provider: 'b', priority: 1 }] },
      { name: 'both', targets: [{ provider: 'a' }, { provider: 'b' }] },
    ],
  }, { clock });
  try {
    await f({ gw, clock });
  } finally {
    await gw.close();
  }
}

async function ask(gw: TestGateway, model = 'r'): Promise<{ status: number; provider: string | null; headers: Headers; json: any }> {
  const r = await post(`${gw.url}/v1/chat/completions`, { model, messages: msgs });
  return { status: r.status, provider: r.headers.get('x-llmux-provider'), headers: r.headers, json: r.json };
}

async function endpoint(gw: TestGateway, provider: string): Promise<any> {
  const h: any = await (await fetch(`${gw.url}/health/upstream`)).json();
  return h.endpoints.find((e: any) => e.provider === provider);
}

/** Three 500s from a, each failed over to b: a's breaker opens. */
async function openA(gw: TestGateway): Promise<void> {
  for (let i = 0; i < breaker.failures; i++) {
    a.enqueue({ status: 500 });
    const r = await ask(gw);
    assert.equal(r.provider, 'b');
  }
}

test('`failures` consecutive 500s open the breaker; requests then skip the endpoint', bounded, async () => {
  await withRig(async ({ gw, clock }) => {
    a.enqueue({ status: 500 }, { status: 500 });
    await ask(gw);
    await ask(gw);
    assert.equal((await endpoint(gw, 'a')).state, 'closed', 'two failures are not enough');
    a.enqueue({ status: 500 });
    await ask(gw);
    const ep = await endpoint(gw, 'a');
    assert.equal(ep.state, 'open');
    assert.equal(ep.reason, 'failures');
    assert.equal(ep.consecutiveFailures, 3);
    assert.equal(Date.parse(ep.openUntil), clock.now() + breaker.cooldownMs);
    const before = a.requests.length;
    for (let i = 0; i < 3; i++) {
      const r = await ask(gw);
      assert.equal(r.provider, 'b');
      assert.equal(r.headers.get('x-llmux-attempts'), '1', 'a is not even tried');
    }
    assert.equal(a.requests.length, before);
    const h: any = await (await fetch(`${gw.url}/health/upstream`)).json();
    assert.equal(h.status, 'ok', 'b still serves');
  });
});

test('after cooldownMs exactly one probe goes to the endpoint; its success closes the breaker', bounded, async () => {
  await withRig(async ({ gw, clock }) => {
    await openA(gw);
    clock.advance(breaker.cooldownMs - 1);
    assert.equal((await ask(gw)).provider, 'b', 'still open one ms before the end');
    clock.advance(1);
    assert.equal((await endpoint(gw, 'a')).state, 'half-open');
    const before = a.requests.length;
    a.enqueue({ delayMs: 800 });
    const probe = ask(gw);
    while (a.requests.length === before) await new Promise((r) => setTimeout(r, 5));
    const others = await Promise.all([ask(gw), ask(gw)]);
    assert.deepEqual(others.map((r) => r.provider), ['b', 'b'], 'only one probe while half-open');
    assert.equal(a.requests.length, before + 1);
    assert.equal((await probe).provider, 'a');
    const ep = await endpoint(gw, 'a');
    assert.equal(ep.state, 'closed');
    assert.equal(ep.consecutiveFailures, 0);
    assert.equal((await ask(gw)).provider, 'a', 'closed: a serves again');
  });
});

test('a failed probe re-opens the breaker with a doubled cooldown', bounded, async () => {
  await withRig(async ({ gw, clock }) => {
    await openA(gw);
    let cooldown = breaker.cooldownMs;
    for (const expected of [20_000, 40_000, 80_000]) {
      clock.advance(cooldown);
      a.enqueue({ status: 500 });
      const r = await ask(gw);
      assert.equal(r.provider, 'b');
      assert.equal(r.headers.get('x-llmux-attempts'), '2', 'the probe was tried');
      const ep = await endpoint(gw, 'a');
      assert.equal(ep.state, 'open');
      assert.equal(Date.parse(ep.openUntil) - clock.now(), expected);
      cooldown = expected;
    }
    clock.advance(cooldown);
    assert.equal((await ask(gw)).provider, 'a', 'a successful probe closes it');
    await openA(gw);
    assert.equal(Date.parse((await endpoint(gw, 'a')).openUntil) - clock.now(), breaker.cooldownMs, 'and the doubling starts over');
  });
});

test('a 401 opens the breaker for maxCooldownMs with reason auth_failed', bounded, async () => {
  await withRig(async ({ gw, clock }) => {
    a.enqueue({ status: 401, error: { message: 'Incorrect API key provided.', code: 'invalid_api_key' } });
    assert.equal((await ask(gw)).provider, 'b');
    const ep = await endpoint(gw, 'a');
    assert.equal(ep.state, 'open');
    assert.equal(ep.reason, 'auth_failed');
    assert.equal(Date.parse(ep.openUntil), clock.now() + breaker.maxCooldownMs);
    assert.equal(ep.lastError.class, 'credential');
    clock.advance(breaker.maxCooldownMs - 1_000);
    assert.equal((await ask(gw)).provider, 'b');
  });
});

test('a 429 insufficient_quota opens the breaker until the next day in server.timezone', bounded, async () => {
  // 10:00 UTC is 18:00 in Shanghai (UTC+8): its next day begins at 16:00 UTC.
  await withRig(async ({ gw, clock }) => {
    a.enqueue({ status: 429, error: { message: 'You exceeded your current quota, please check your plan and billing details.', type: 'insufficient_quota', code: 'insufficient_quota' } });
    assert.equal((await ask(gw)).provider, 'b');
    const ep = await endpoint(gw, 'a');
    assert.equal(ep.state, 'open');
    assert.equal(ep.reason, 'quota');
    assert.equal(ep.openUntil, '2026-01-01T16:00:00.000Z');
    clock.set(Date.UTC(2026, 0, 1, 15, 59, 59));
    assert.equal((await ask(gw)).provider, 'b');
    clock.set(Date.UTC(2026, 0, 1, 16, 0, 0));
    assert.equal((await ask(gw)).provider, 'a', 'a new day in Shanghai: tried again');
  }, { timezone: 'Asia/Shanghai' });
});

test('a 429 "quota" that says when to retry (Gemini\'s per-minute limit) opens for that wait only', bounded, async () => {
  await withRig(async ({ gw, clock }) => {
    a.enqueue({ status: 429, body: [{ error: { code: 429, message: 'You exceeded your current quota, please check your plan and billing details. Please retry in 36.35s.', status: 'RESOURCE_EXHAUSTED' } }] });
    assert.equal((await ask(gw)).provider, 'b');
    const ep = await endpoint(gw, 'a');
    assert.equal(ep.reason, 'quota');
    assert.equal(Date.parse(ep.openUntil), clock.now() + 36_350);
    assert.match(ep.lastError.message, /^upstream answered 429: You exceeded your current quota/);
    clock.advance(36_350);
    assert.equal((await ask(gw)).provider, 'a');
  });
});

test('a 429 rate limit opens the breaker for exactly the Retry-After', bounded, async () => {
  await withRig(async ({ gw, clock }) => {
    a.enqueue({ status: 429, headers: { 'retry-after': '42' }, error: { message: 'Rate limit reached for requests' } });
    assert.equal((await ask(gw)).provider, 'b');
    const ep = await endpoint(gw, 'a');
    assert.equal(ep.reason, 'rate_limited');
    assert.equal(Date.parse(ep.openUntil), clock.now() + 42_000);
  });
});

test('a 429 with OpenAI\'s reset headers opens for the limit that ran out, not the longest reset', bounded, async () => {
  await withRig(async ({ gw, clock }) => {
    a.enqueue({
      status: 429,
      headers: { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '2s', 'x-ratelimit-remaining-tokens': '149000', 'x-ratelimit-reset-tokens': '6m0s' },
      error: { message: 'Rate limit reached for requests per min (RPM)' },
    });
    assert.equal((await ask(gw)).provider, 'b');
    assert.equal(Date.parse((await endpoint(gw, 'a')).openUntil), clock.now() + 2_000);
    clock.advance(2_000);
    assert.equal((await ask(gw)).provider, 'a');
  });
});

test('every endpoint open: 503 with Retry-After set to the soonest reopening', bounded, async () => {
  await withRig(async ({ gw, clock }) => {
    a.enqueue({ status: 429, headers: { 'retry-after': '30' }, error: { message: 'Rate limit reached' } });
    b.enqueue({ status: 429, headers: { 'retry-after': '90' }, error: { message: 'Rate limit reached' } });
    const first = await ask(gw, 'both');
    assert.equal(first.status, 429, 'both rate limited during the request itself');
    assert.equal(first.headers.get('x-should-retry'), 'false');
    clock.advance(5_000);
    const before = a.requests.length + b.requests.length;
    const r = await ask(gw, 'both');
    assert.equal(r.status, 503);
    assert.equal(r.json.error.code, 'no_healthy_upstream');
    assert.equal(r.headers.get('retry-after'), '25');
    assert.equal(a.requests.length + b.requests.length, before, 'no upstream was tried');
    const h: any = await (await fetch(`${gw.url}/health/upstream`)).json();
    assert.equal(h.status, 'degraded');
    assert.equal(h.available, 0);
  });
});
