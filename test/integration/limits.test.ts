/**
 * Limits (SPEC §6) and what shows them (§7 /v1/status, /metrics; §8 request log), in process with
 * `state: memory`: endpoint rpm/rpd/tpm/tpd/concurrency with failover to the next endpoint, the
 * stream usage tap, client-key limits and budgets, the global concurrency gate and its queue.
 */
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { nextDayStart } from '../../src/core/clock.ts';
import { channels, type RequestEndEvent } from '../../src/core/events.ts';
import { startFakeUpstream, parseSseJson, type FakeUpstream } from '../fakes/fake-upstream.ts';
import { startTestGateway, providerFor, post, type TestGateway } from '../fakes/gateway.ts';

let a: FakeUpstream;
let b: FakeUpstream;

before(async () => {
  a = await startFakeUpstream({ name: 'a' });
  b = await startFakeUpstream({ name: 'b' });
});
after(async () => {
  await a.close();
  await b.close();
});
beforeEach(() => {
  a.reset();
  b.reset();
  a.setDefault(null);
  b.setDefault(null);
});

const chatBody = (extra: object = {}): object => ({ model: 'chat', messages: [{ role: 'user', content: 'hi' }], ...extra });

/** A gateway with `a` (limited, priority 0) and `b` (unlimited, priority 1) on route `chat`, and `a` alone on `only-a`. */
async function twoTier(limits: object, extra: object = {}): Promise<TestGateway> {
  return startTestGateway({
    providers: [providerFor('a', a.baseUrl, { limits }), providerFor('b', b.baseUrl)],
    routes: [
      { name: 'chat', targets: [{ provider: 'a', priority: 0 }, { provider: 'b', priority: 1 }] },
      { name: 'only-a', targets: [{ provider: 'a' }] },
    ],
    ...extra,
  });
}

async function send(gw: TestGateway, body: object = chatBody(), headers: Record<string, string> = {}): Promise<Awaited<ReturnType<typeof post>>> {
  return post(`${gw.baseURL}/chat/completions`, body, headers);
}

function retryAfter(r: { headers: Headers }): number {
  return Number(r.headers.get('retry-after'));
}

async function eventually<T>(check: () => Promise<T> | T, withinMs: number): Promise<T> {
  const end = Date.now() + withinMs;
  let last = await check();
  while (!last && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 20));
    last = await check();
  }
  return last;
}

test('rpm: N requests go to the limited endpoint, then it is skipped and the next one serves', { timeout: 15_000 }, async () => {
  const gw = await twoTier({ rpm: 2 });
  try {
    const providers: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await send(gw);
      assert.equal(r.status, 200);
      providers.push(r.headers.get('x-llmux-provider') ?? '');
      assert.equal(r.headers.get('x-llmux-attempts'), '1', 'a limited endpoint is skipped, not tried');
    }
    assert.deepEqual(providers, ['a', 'a', 'b', 'b']);
    assert.equal(a.requests.length, 2);
  } finally {
    await gw.close();
  }
});

// The shared window counts a request in whole-second buckets, so it leaves the window between 60 and
// 61 s after it was admitted (state/types.ts RateState: never more than rpm in any 60 s); Retry-After
// says when the endpoint really frees up, hence up to 61.
test('rpm: when every endpoint is at its limit, 429 rate_limit_exceeded with Retry-After when the oldest request leaves the window', { timeout: 15_000 }, async () => {
  const gw = await twoTier({ rpm: 2 });
  try {
    for (let i = 0; i < 2; i++) assert.equal((await send(gw, chatBody({ model: 'only-a' }))).status, 200);
    const r = await send(gw, chatBody({ model: 'only-a' }));
    assert.equal(r.status, 429);
    assert.equal(r.json.error.code, 'rate_limit_exceeded');
    assert.equal(r.json.error.type, 'rate_limit_error');
    const ra = retryAfter(r);
    assert.ok(ra >= 59 && ra <= 61, `Retry-After ${ra}`);
    assert.equal(r.headers.get('x-should-retry'), 'false');
    assert.equal(a.requests.length, 2);
  } finally {
    await gw.close();
  }
});

test('rpd: N per day, then failover; alone, 429 until the day boundary in server.timezone', { timeout: 15_000 }, async () => {
  const tz = 'America/New_York';
  const gw = await twoTier({ rpd: 2 }, { server: { timezone: tz } });
  try {
    assert.equal((await send(gw)).headers.get('x-llmux-provider'), 'a');
    assert.equal((await send(gw)).headers.get('x-llmux-provider'), 'a');
    assert.equal((await send(gw)).headers.get('x-llmux-provider'), 'b');
    const r = await send(gw, chatBody({ model: 'only-a' }));
    const now = Date.now();
    assert.equal(r.status, 429);
    assert.equal(r.json.error.code, 'rate_limit_exceeded');
    const expected = (nextDayStart(now, tz) - now) / 1000;
    assert.ok(Math.abs(retryAfter(r) - expected) <= 3, `Retry-After ${retryAfter(r)}, expected ~${Math.round(expected)}`);
  } finally {
    await gw.close();
  }
});

test('concurrency: N slow requests hold the endpoint, the N+1th goes elsewhere; the slots come back', { timeout: 15_000 }, async () => {
  const gw = await twoTier({ concurrency: 2 });
  a.setDefault({ delayMs: 400 });
  try {
    const first = [send(gw), send(gw)];
    await eventually(() => a.requests.length === 2, 2_000);
    const third = await send(gw);
    assert.equal(third.headers.get('x-llmux-provider'), 'b');
    const done = await Promise.all(first);
    assert.deepEqual(done.map((r) => r.headers.get('x-llmux-provider')), ['a', 'a']);
    a.setDefault(null);
    assert.equal((await send(gw)).headers.get('x-llmux-provider'), 'a', 'slots are released when the responses end');
  } finally {
    await gw.close();
  }
});

test('tpm: tokens from upstream usage are settled after the response; over the limit the endpoint is skipped', { timeout: 15_000 }, async () => {
  const gw = await twoTier({ tpm: 30 });
  try {
    a.enqueue({ usage: { prompt_tokens: 20, completion_tokens: 15 } });
    const r1 = await send(gw);
    assert.equal(r1.headers.get('x-llmux-provider'), 'a');
    assert.equal(r1.json.usage.total_tokens, 35);
    const r2 = await send(gw);
    assert.equal(r2.headers.get('x-llmux-provider'), 'b', 'a is over 30 tokens in the last minute');
    const r3 = await send(gw, chatBody({ model: 'only-a' }));
    assert.equal(r3.status, 429);
    assert.equal(r3.json.error.code, 'rate_limit_exceeded');
    // When the 35 tokens leave the 60 s window, not a guess.
    assert.ok(retryAfter(r3) >= 59 && retryAfter(r3) <= 61, `Retry-After ${retryAfter(r3)}`);
  } finally {
    await gw.close();
  }
});

test('tpd: over the daily tokens the endpoint is skipped until the day boundary', { timeout: 15_000 }, async () => {
  const gw = await twoTier({ tpd: 30 });
  try {
    a.enqueue({ usage: { prompt_tokens: 20, completion_tokens: 15 } });
    assert.equal((await send(gw)).headers.get('x-llmux-provider'), 'a');
    assert.equal((await send(gw)).headers.get('x-llmux-provider'), 'b');
    const r = await send(gw, chatBody({ model: 'only-a' }));
    const now = Date.now();
    assert.equal(r.status, 429);
    const expected = (nextDayStart(now, 'UTC') - now) / 1000;
    assert.ok(Math.abs(retryAfter(r) - expected) <= 3, `Retry-After ${retryAfter(r)}, expected ~${Math.round(expected)}`);
  } finally {
    await gw.close();
  }
});

test('stream usage tap: the upstream is asked for usage, tokens are counted, the extra chunk is stripped', { timeout: 15_000 }, async () => {
  const gw = await twoTier({ tpm: 30 });
  try {
    a.enqueue({ usage: { prompt_tokens: 25, completion_tokens: 10 } });
    const r = await send(gw, chatBody({ stream: true }));
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-llmux-provider'), 'a');
    assert.equal(a.requests[0]?.body.stream_options?.include_usage, true, 'llmux asked the upstream for usage');
    const events = parseSseJson(r.text);
    assert.ok(events.length > 0);
    assert.ok(events.every((e) => !(Array.isArray(e.choices) && e.choices.length === 0)), 'no usage-only chunk reached a caller that did not ask');
    assert.ok(events.every((e) => !e.usage), 'no usage in the chunks');
    assert.match(r.text, /data: \[DONE\]/);
    // The 35 tokens were counted: the endpoint is now over its tpm.
    assert.equal((await send(gw)).headers.get('x-llmux-provider'), 'b');
    const health: any = await (await fetch(`${gw.url}/health/upstream`)).json();
    assert.equal(health.endpoints.find((e: any) => e.provider === 'a').usage.tpm, 35);
  } finally {
    await gw.close();
  }
});

test('stream usage tap: a caller that asked for include_usage gets the usage chunk', { timeout: 15_000 }, async () => {
  const gw = await twoTier({});
  try {
    a.enqueue({ usage: { prompt_tokens: 7, completion_tokens: 3 } });
    const r = await send(gw, chatBody({ stream: true, stream_options: { include_usage: true } }));
    const events = parseSseJson(r.text);
    const last = events.at(-1);
    assert.deepEqual(last.choices, []);
    assert.equal(last.usage.total_tokens, 10);
  } finally {
    await gw.close();
  }
});

test('client key rpm: the 3rd request in a minute gets 429 with Retry-After', { timeout: 15_000 }, async () => {
  const key = 'llmux-test-key-rpm-0123456789';
  const other = 'llmux-test-key-free-0123456789';
  const gw = await twoTier({}, { server: { keys: [{ key, name: 'limited', limits: { rpm: 2 } }, other] } });
  try {
    const auth = { authorization: `Bearer ${key}` };
    assert.equal((await send(gw, chatBody(), auth)).status, 200);
    assert.equal((await send(gw, chatBody(), auth)).status, 200);
    const r = await send(gw, chatBody(), auth);
    assert.equal(r.status, 429);
    assert.equal(r.json.error.code, 'rate_limit_exceeded');
    const ra = retryAfter(r);
    assert.ok(ra >= 59 && ra <= 61, `Retry-After ${ra} (when the first of the two leaves the window)`);
    assert.equal(a.requests.length + b.requests.length, 2, 'the refused request never reached an upstream');
    assert.equal((await send(gw, chatBody(), { authorization: `Bearer ${other}` })).status, 200, 'other keys are not affected');
  } finally {
    await gw.close();
  }
});

test('client key budgetTokens: past the daily budget, 429 budget_exceeded until midnight', { timeout: 15_000 }, async () => {
  const key = 'llmux-test-key-budget-0123456789';
  const gw = await twoTier({}, { server: { keys: [{ key, budgetTokens: 30 }] } });
  try {
    const auth = { authorization: `Bearer ${key}` };
    a.enqueue({ usage: { prompt_tokens: 20, completion_tokens: 15 } });
    assert.equal((await send(gw, chatBody(), auth)).status, 200);
    const r = await eventually(async () => {
      const x = await send(gw, chatBody(), auth);
      return x.status === 429 ? x : null;
    }, 1_000);
    assert.ok(r, 'the budget was not enforced');
    assert.equal(r.json.error.code, 'budget_exceeded');
    const now = Date.now();
    const expected = (nextDayStart(now, 'UTC') - now) / 1000;
    assert.ok(Math.abs(retryAfter(r) - expected) <= 3, `Retry-After ${retryAfter(r)}`);
  } finally {
    await gw.close();
  }
});

test('maxConcurrency + queue: one in flight, one waits, the next gets 429 queue_full', { timeout: 15_000 }, async () => {
  const gw = await twoTier({}, { server: { maxConcurrency: 1, queue: { size: 1, timeoutMs: 5_000 } } });
  a.setDefault({ delayMs: 500 });
  const ends: RequestEndEvent[] = [];
  const onEnd = (m: unknown): void => void ends.push(m as RequestEndEvent);
  channels.requestEnd.subscribe(onEnd);
  try {
    let firstDoneAt = 0;
    const first = send(gw).then((r) => {
      firstDoneAt = Date.now();
      return r;
    });
    await eventually(() => a.requests.length === 1, 2_000);
    const second = send(gw);
    await eventually(async () => /llmux_queue_depth \d+/.exec(await (await fetch(`${gw.url}/metrics`)).text())?.[0] === 'llmux_queue_depth 1', 2_000);
    const third = await send(gw);
    assert.equal(third.status, 429);
    assert.equal(third.json.error.code, 'queue_full');
    assert.ok(retryAfter(third) >= 1);
    const [r1, r2] = await Promise.all([first, second]);
    assert.equal(r1.status, 200);
    assert.equal(r2.status, 200, 'the queued request is served once the slot frees');
    assert.equal(a.requests.length, 2);
    // The queued request's time (the request log's ts, captures, the log line's end) starts when it
    // was admitted, as its latency does, not when it arrived and waited.
    const served = ends.filter((e) => e.status === 200).sort((x, y) => x.at - y.at);
    assert.equal(served.length, 2);
    const queued = served[1]!;
    assert.ok(queued.at >= firstDoneAt - 100, `queued request's at ${queued.at} vs the first's end ${firstDoneAt}`);
    assert.ok(queued.at + queued.latencyMs >= firstDoneAt + 400, 'its end is after its own upstream wait');
  } finally {
    channels.requestEnd.unsubscribe(onEnd);
    await gw.close();
  }
});

test('/v1/status has the api-together shape with limits and usage', { timeout: 15_000 }, async () => {
  const gw = await twoTier({ rpm: 10, rpd: 100 });
  try {
    await send(gw);
    await send(gw);
    const s: any = await (await fetch(`${gw.baseURL}/status`)).json();
    assert.ok(Array.isArray(s.apis));
    const api = s.apis.find((x: any) => x.id === 'a');
    for (const k of ['id', 'name', 'enabled', 'available', 'limits', 'usage']) assert.ok(k in api, `apis[].${k}`);
    assert.equal(api.enabled, true);
    assert.equal(api.available, true);
    assert.equal(api.limits.rpm, 10);
    assert.equal(api.limits.rpd, 100);
    assert.deepEqual(api.usage, { rpm: 2, rpd: 2 });
    const bApi = s.apis.find((x: any) => x.id === 'b');
    assert.equal(bApi.limits.rpm, 'unlimited');
    assert.deepEqual(bApi.usage, { rpm: 0, rpd: 0 });
  } finally {
    await gw.close();
  }
});

test('/metrics exposes requests, attempts, durations, TTFT, breakers, queue depth and tokens', { timeout: 15_000 }, async () => {
  const gw = await twoTier({});
  try {
    a.enqueue({ status: 500 });
    await send(gw);
    await send(gw, chatBody({ stream: true }));
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    for (const name of ['llmux_requests_total', 'llmux_attempts_total', 'llmux_request_duration_seconds', 'llmux_time_to_first_token_seconds', 'llmux_breaker_state', 'llmux_queue_depth', 'llmux_tokens_total']) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), `${name} is exported`);
    }
    assert.match(text, /llmux_requests_total\{route="chat",provider="b",status="200",stream="false"\} 1/);
    assert.match(text, /llmux_requests_total\{route="chat",provider="a",status="200",stream="true"\} 1/);
    assert.match(text, /llmux_attempts_total\{provider="a",class="transient"\} 1/);
    assert.match(text, /llmux_tokens_total\{provider="[ab]",kind="completion"\} \d+/);
    assert.match(text, /llmux_request_duration_seconds_count\{route="chat"\} 2/);
    assert.match(text, /llmux_time_to_first_token_seconds_count\{route="chat"\} 2/);
  } finally {
    await gw.close();
  }
});

test('request log: one row per request with route, provider, status, attempts and tokens', { timeout: 15_000 }, async () => {
  const gw = await twoTier({ rpm: 1 });
  try {
    a.enqueue({ usage: { prompt_tokens: 11, completion_tokens: 4 } });
    const r1 = await send(gw); // a
    b.enqueue({ status: 503 });
    const r2 = await send(gw); // a is at its rpm, b fails: 502
    const r3 = await send(gw, chatBody({ model: 'nope-no-route' })); // 404
    assert.deepEqual([r1.status, r2.status, r3.status], [200, 502, 404]);
    const rows = await eventually(async () => {
      const got = await gw.gw.store.queryLogs({});
      return got.length >= 3 ? got : null;
    }, 3_000);
    assert.ok(rows, 'the rows were written within 3 s');
    assert.equal(rows.length, 3);
    const byId = new Map(rows.map((x) => [x.id, x]));
    const ok = byId.get(r1.headers.get('x-llmux-request-id')!);
    assert.ok(ok);
    assert.equal(ok.route, 'chat');
    assert.equal(ok.provider, 'a');
    assert.equal(ok.status, 200);
    assert.equal(ok.attempts, 1);
    assert.equal(ok.promptTokens, 11);
    assert.equal(ok.completionTokens, 4);
    const failed = byId.get(r2.headers.get('x-llmux-request-id')!);
    assert.ok(failed);
    assert.equal(failed.provider, 'b');
    assert.equal(failed.status, 502);
    assert.equal(failed.attempts, 1);
    assert.equal(failed.failureClass, 'transient');
    const missing = rows.find((x) => x.status === 404);
    assert.ok(missing);
    assert.equal(missing.route, null);
    assert.equal(missing.attempts, 0);
  } finally {
    await gw.close();
  }
});
