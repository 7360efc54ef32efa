import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compile } from '../config/compile.ts';
import { validateConfig } from '../config/load.ts';
import { ManualClock } from '../core/clock.ts';
import { HealthTracker } from '../health/tracker.ts';
import { LocalRoundRobin, expandEndpoints, plan, type Endpoint } from './planner.ts';
import { resolveRoute } from './route-table.ts';

const bounded = { timeout: 10_000 };
const base = 'http://127.0.0.1:9';

function setup(raw: object) {
  const snap = compile(validateConfig(raw, null), null, 1, 0);
  const clock = new ManualClock();
  return { snap, clock, tracker: new HealthTracker(clock), rr: new LocalRoundRobin() };
}

const ids = (eps: Endpoint[]): string[] => eps.map((e) => `${e.provider.id}:${e.model}`);

test('one endpoint per key; the id names provider, key fingerprint and model, never the key', bounded, () => {
  const { snap, tracker } = setup({ providers: [{ id: 'a', baseUrl: base, keys: ['sk-key-one-123456', 'sk-key-two-123456'], models: ['m'] }], routes: [{ name: 'r', targets: [{ provider: 'a' }] }] });
  const eps = expandEndpoints(snap.routes.get('r')!, 'r', tracker);
  assert.equal(eps.length, 2);
  assert.deepEqual(eps.map((e) => e.key), ['sk-key-one-123456', 'sk-key-two-123456']);
  assert.notEqual(eps[0]!.id, eps[1]!.id);
  for (const e of eps) {
    assert.match(e.id, /^a\/[0-9a-f]{8}\/m$/);
    assert.ok(!e.id.includes('key-one') && !e.id.includes('key-two'));
  }
});

test('a keyless provider is one endpoint with no key', bounded, () => {
  const { snap, tracker } = setup({ providers: [{ id: 'local', baseUrl: base, models: ['m'] }], routes: [{ name: 'r', targets: [{ provider: 'local' }] }] });
  const eps = expandEndpoints(snap.routes.get('r')!, 'r', tracker);
  assert.equal(eps.length, 1);
  assert.equal(eps[0]!.key, null);
  assert.equal(eps[0]!.id, 'local/nokey/m');
});

test('a target without a model uses the provider\'s first model; with one, that model', bounded, () => {
  const { snap, tracker } = setup({
    providers: [{ id: 'a', baseUrl: base, models: ['first', 'second'] }],
    routes: [{ name: 'r', targets: [{ provider: 'a' }, { provider: 'a', model: 'second', priority: 1 }] }],
  });
  assert.deepEqual(ids(expandEndpoints(snap.routes.get('r')!, 'whatever-the-caller-said', tracker)), ['a:first', 'a:second']);
});

test('a provider with no model list passes the caller\'s model (through modelMap)', bounded, () => {
  const { snap, tracker } = setup({ providers: [{ id: 'a', baseUrl: base, modelMap: { nick: 'real-name' } }], routes: [{ name: '*' }] });
  const route = snap.routes.get('*')!;
  assert.deepEqual(ids(expandEndpoints(route, 'anything', tracker)), ['a:anything']);
  assert.deepEqual(ids(expandEndpoints(route, 'nick', tracker)), ['a:real-name']);
});

test('an implicit route by a modelMap name sends the mapped upstream model', bounded, async () => {
  const { snap, tracker, rr, clock } = setup({ providers: [{ id: 'a', baseUrl: base, models: ['real'], modelMap: { nick: 'real-2' } }] });
  const route = resolveRoute(snap, 'nick');
  assert.ok(route);
  assert.deepEqual(ids((await plan(route, 'nick', tracker, rr, clock.now())).endpoints), ['a:real-2']);
  assert.equal(resolveRoute(snap, 'unknown'), null, 'no route, no provider model, no "*": nothing');
});

test('route resolution: a named route first, then providers listing the model, then "*"', bounded, () => {
  const { snap } = setup({
    providers: [{ id: 'a', baseUrl: base, models: ['m'] }, { id: 'b', baseUrl: base, models: ['m', 'n'], priority: 1 }],
    routes: [{ name: 'n', targets: [{ provider: 'a', model: 'm' }] }, { name: '*', targets: [{ provider: 'b' }] }],
  });
  assert.equal(resolveRoute(snap, 'n')?.name, 'n', 'the route wins over provider b listing "n"');
  assert.deepEqual(resolveRoute(snap, 'm')?.targets.map((t) => [t.provider.id, t.priority]), [['a', 0], ['b', 1]]);
  assert.equal(resolveRoute(snap, 'other')?.name, '*');
});

test('disabled providers and limits of 0 are dropped and counted', bounded, async () => {
  const { snap, tracker, rr, clock } = setup({
    providers: [
      { id: 'off', baseUrl: base, models: ['m'], enabled: false },
      { id: 'zero', baseUrl: base, models: ['m'], limits: { rpm: 0 } },
      { id: 'on', baseUrl: base, models: ['m'] },
    ],
    routes: [{ name: 'r', targets: [{ provider: 'off' }, { provider: 'zero' }, { provider: 'on' }] }],
  });
  const p = (await plan(snap.routes.get('r')!, 'r', tracker, rr, clock.now()));
  assert.deepEqual(ids(p.endpoints), ['on:m']);
  assert.equal(p.disabled, 2);
});

test('open breakers are dropped; the plan knows when the first one reopens', bounded, async () => {
  const { snap, tracker, rr, clock } = setup({
    providers: [{ id: 'a', baseUrl: base, models: ['m'] }, { id: 'b', baseUrl: base, models: ['m'] }],
    routes: [{ name: 'r', targets: [{ provider: 'a' }, { provider: 'b' }] }],
  });
  const route = snap.routes.get('r')!;
  const [a, b] = expandEndpoints(route, 'r', tracker);
  tracker.failure(a!.health, 'rate_limit', 429, 'slow down', { retryAfterMs: 5_000 });
  tracker.failure(b!.health, 'rate_limit', 429, 'slow down', { retryAfterMs: 2_000 });
  const p = (await plan(route, 'r', tracker, rr, clock.now()));
  assert.equal(p.endpoints.length, 0);
  assert.equal(p.breakerBlocked, 2);
  assert.equal(p.breakerRetryAt, clock.now() + 2_000);
  clock.advance(2_000);
  assert.deepEqual(ids((await plan(route, 'r', tracker, rr, clock.now())).endpoints), ['b:m'], 'half-open again');
});

test('lower priority first, whatever the balance', bounded, async () => {
  for (const balance of ['round-robin', 'weighted', 'random', 'least-busy', 'least-latency']) {
    const { snap, tracker, rr, clock } = setup({
      providers: [{ id: 'a', baseUrl: base, models: ['m'] }, { id: 'b', baseUrl: base, models: ['m'] }, { id: 'c', baseUrl: base, models: ['m'] }],
      routes: [{ name: 'r', balance, targets: [{ provider: 'c', priority: 2 }, { provider: 'a', priority: 0 }, { provider: 'b', priority: 1 }] }],
    });
    for (let i = 0; i < 5; i++) assert.deepEqual(ids((await plan(snap.routes.get('r')!, 'r', tracker, rr, clock.now())).endpoints), ['a:m', 'b:m', 'c:m'], balance);
  }
});

test('round-robin rotates the start within one priority, each priority on its own', bounded, async () => {
  const { snap, tracker, rr, clock } = setup({
    providers: ['a', 'b', 'c', 'z'].map((id) => ({ id, baseUrl: base, models: ['m'] })),
    routes: [{ name: 'r', targets: [{ provider: 'a' }, { provider: 'b' }, { provider: 'c' }, { provider: 'z', priority: 1 }] }],
  });
  const firsts = [];
  for (let i = 0; i < 6; i++) {
    const eps = (await plan(snap.routes.get('r')!, 'r', tracker, rr, clock.now())).endpoints;
    firsts.push(eps[0]!.provider.id);
    assert.equal(eps.length, 4);
    assert.equal(eps[3]!.provider.id, 'z');
  }
  assert.deepEqual(firsts, ['a', 'b', 'c', 'a', 'b', 'c']);
});

test('round-robin with a shared, asynchronous position source: two gateways alternate as one', bounded, async () => {
  const { snap, clock } = setup({
    providers: ['a', 'b'].map((id) => ({ id, baseUrl: base, models: ['m'] })),
    routes: [{ name: 'r', targets: [{ provider: 'a' }, { provider: 'b' }] }],
  });
  // Like State.rr on Redis: one sequence per key for every instance, answered asynchronously.
  const positions = new Map<string, number>();
  const shared = {
    next: async (key: string): Promise<number> => {
      const n = positions.get(key) ?? 0;
      positions.set(key, n + 1);
      return n;
    },
  };
  const gateways = [new HealthTracker(clock), new HealthTracker(clock)];
  const firsts = [];
  for (let i = 0; i < 6; i++) firsts.push((await plan(snap.routes.get('r')!, 'r', gateways[i % 2]!, shared, clock.now())).endpoints[0]!.provider.id);
  assert.deepEqual(firsts, ['a', 'b', 'a', 'b', 'a', 'b']);
  assert.deepEqual([...positions.keys()], ['r|0'], 'one position per route and priority');
});

test('weighted puts an endpoint first in proportion to its weight', bounded, async () => {
  const { snap, tracker, rr, clock } = setup({
    providers: [{ id: 'heavy', baseUrl: base, models: ['m'], weight: 3 }, { id: 'light', baseUrl: base, models: ['m'], weight: 1 }],
    routes: [{ name: 'r', balance: 'weighted', targets: [{ provider: 'heavy' }, { provider: 'light' }] }],
  });
  let heavy = 0;
  const n = 4_000;
  for (let i = 0; i < n; i++) if ((await plan(snap.routes.get('r')!, 'r', tracker, rr, clock.now())).endpoints[0]!.provider.id === 'heavy') heavy++;
  // Expected 75 %; the standard deviation over 4 000 draws is under 1 %.
  assert.ok(heavy / n > 0.7 && heavy / n < 0.8, `heavy first ${heavy} of ${n}`);
});

test('random gives every order over many plans', bounded, async () => {
  const { snap, tracker, rr, clock } = setup({
    providers: ['a', 'b', 'c'].map((id) => ({ id, baseUrl: base, models: ['m'] })),
    routes: [{ name: 'r', balance: 'random', targets: [{ provider: 'a' }, { provider: 'b' }, { provider: 'c' }] }],
  });
  const seen = new Set<string>();
  for (let i = 0; i < 600; i++) seen.add(ids((await plan(snap.routes.get('r')!, 'r', tracker, rr, clock.now())).endpoints).join(','));
  assert.equal(seen.size, 6);
});

test('least-busy orders by requests in flight', bounded, async () => {
  const { snap, tracker, rr, clock } = setup({
    providers: ['a', 'b', 'c'].map((id) => ({ id, baseUrl: base, models: ['m'] })),
    routes: [{ name: 'r', balance: 'least-busy', targets: [{ provider: 'a' }, { provider: 'b' }, { provider: 'c' }] }],
  });
  const route = snap.routes.get('r')!;
  const [a, b, c] = expandEndpoints(route, 'r', tracker);
  a!.health.inflight = 5;
  b!.health.inflight = 0;
  c!.health.inflight = 2;
  for (let i = 0; i < 10; i++) assert.deepEqual(ids((await plan(route, 'r', tracker, rr, clock.now())).endpoints), ['b:m', 'c:m', 'a:m']);
});

test('least-latency tries unmeasured endpoints first, then the fastest', bounded, async () => {
  const { snap, tracker, rr, clock } = setup({
    providers: ['a', 'b', 'c'].map((id) => ({ id, baseUrl: base, models: ['m'] })),
    routes: [{ name: 'r', balance: 'least-latency', targets: [{ provider: 'a' }, { provider: 'b' }, { provider: 'c' }] }],
  });
  const route = snap.routes.get('r')!;
  const [a, b] = expandEndpoints(route, 'r', tracker);
  tracker.success(a!.health, 300);
  tracker.success(b!.health, 20);
  for (let i = 0; i < 10; i++) assert.deepEqual(ids((await plan(route, 'r', tracker, rr, clock.now())).endpoints), ['c:m', 'b:m', 'a:m']);
});

test('health is shared by endpoint id across plans and routes', bounded, () => {
  const { snap, tracker } = setup({
    providers: [{ id: 'a', baseUrl: base, models: ['m'] }],
    routes: [{ name: 'r1', targets: [{ provider: 'a' }] }, { name: 'r2', targets: [{ provider: 'a', model: 'm' }] }],
  });
  const [x] = expandEndpoints(snap.routes.get('r1')!, 'r1', tracker);
  const [y] = expandEndpoints(snap.routes.get('r2')!, 'r2', tracker);
  assert.equal(x!.health, y!.health);
});
