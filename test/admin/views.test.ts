import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_KEY, call, startAdminHarness, type AdminHarness } from '../fakes/admin-runtime.ts';
import type { RequestLogRow } from '../../src/store/types.ts';
import { endpointId } from '../../src/routing/planner.ts';
import { startOfDay } from '../../src/admin/stats.ts';

const KEY_A = 'sk-a-secret-MMMM1111NNNN2222';
const EVIL = '<script>alert(1)</script>';
const file = {
  server: { adminKey: ADMIN_KEY, timezone: 'Asia/Shanghai', maxConcurrency: 8 },
  providers: [
    { id: 'pa', name: EVIL, baseUrl: 'https://a.example.com/v1', keys: [KEY_A], models: ['m1', '"><img src=x onerror=alert(2)>'] },
    { id: 'pb', baseUrl: 'https://b.example.com/v1', keys: ['sk-b-secret-0123456789'], models: ['m2'] },
  ],
  routes: [{ name: `r-${EVIL}`, targets: [{ provider: 'pa' }] }],
};

// The clock is 2026-01-15 12:00 UTC = 20:00 in Shanghai; that day began at 2026-01-14 16:00 UTC.
const todayStart = Date.UTC(2026, 0, 14, 16);

function row(over: Partial<RequestLogRow>): RequestLogRow {
  return {
    id: Math.random().toString(36).slice(2), ts: todayStart + 3_600_000, principal: null, route: 'chat', model: 'm1', upstreamModel: 'm1',
    provider: 'pa', endpoint: 'pa/x/m1', status: 200, failureClass: null, attempts: 1, latencyMs: 100, ttftMs: null,
    promptTokens: 10, completionTokens: 5, stream: false, error: null, ...over,
  };
}

describe('stats, logs, config and debug views', () => {
  let h: AdminHarness;
  before(async () => {
    h = await startAdminHarness(file);
    await h.store.insertLogs([
      row({ ts: todayStart - 3_600_000, provider: 'pb' }), // yesterday in Shanghai
      row({}),
      row({ ts: todayStart + 7_200_000, attempts: 3, latencyMs: 300 }),
      row({ ts: todayStart + 8_000_000, status: 504, failureClass: 'timeout', attempts: 2, provider: 'pb', error: 'no answer within 60000 ms' }),
    ]);
    h.gate.active = 3;
    h.gate.queued = 1;
  });
  after(() => h.close());

  test('startOfDay follows the configured time zone', () => {
    assert.equal(startOfDay(h.clock.now(), 'Asia/Shanghai'), todayStart);
    assert.equal(startOfDay(Date.UTC(2026, 2, 8, 12), 'America/New_York'), Date.UTC(2026, 2, 8, 5), 'the DST day starts at EST midnight');
  });

  test('/admin/stats: totals, today, every provider today, live concurrency', async () => {
    const r = await call(h, 'GET', '/admin/stats');
    assert.equal(r.status, 200);
    assert.equal(r.json.totals.requests, 4);
    assert.equal(r.json.today.requests, 3);
    assert.equal(r.json.today.date, '20260115');
    assert.deepEqual(r.json.providers.pa, { requests: 2, success: 2, failure: 0, timeouts: 0, retries: 2, promptTokens: 20, completionTokens: 10, latencyP50: 100, latencyP95: 300 });
    assert.deepEqual([r.json.providers.pb.failure, r.json.providers.pb.timeouts, r.json.providers.pb.success], [1, 1, 0]);
    assert.deepEqual(r.json.concurrency, { active: 3, queued: 1, max: 8 });
  });

  test('/admin/logs filters, pages and validates its query', async () => {
    const all = await call(h, 'GET', '/admin/logs');
    assert.equal(all.json.data.length, 4);
    assert.equal(all.json.data[0].status, 504, 'newest first');
    assert.equal((await call(h, 'GET', '/admin/logs?status=error')).json.data.length, 1);
    assert.equal((await call(h, 'GET', '/admin/logs?provider=pb&status=200')).json.data.length, 1);
    assert.equal((await call(h, 'GET', `/admin/logs?since=${new Date(todayStart).toISOString()}`)).json.data.length, 3);
    const page = await call(h, 'GET', '/admin/logs?limit=2');
    assert.equal(page.json.data.length, 2);
    const next = await call(h, 'GET', `/admin/logs?limit=2&before=${page.json.nextBefore}`);
    assert.equal(next.json.data.length, 2);
    for (const [q, param] of [['limit=1001', 'limit'], ['status=teapot', 'status'], ['since=yesterday', 'since'], ['colour=red', '(root)']] as const) {
      const r = await call(h, 'GET', `/admin/logs?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.json.error.param, param, q);
    }
  });

  test('/debug/stats has the CALLS shape, for today', async () => {
    const r = await call(h, 'GET', '/debug/stats');
    assert.deepEqual(Object.keys(r.json).sort(), ['date', 'failed', 'last_updated', 'retry', 'success', 'timeout', 'total']);
    assert.deepEqual([r.json.date, r.json.total, r.json.success, r.json.failed, r.json.timeout, r.json.retry], ['20260115', 3, 2, 1, 1, 3]);
    assert.equal(r.json.last_updated, new Date(todayStart + 8_000_000).toISOString());
  });

  test('/debug/apis has the free_apis shape, keys masked, a tripped breaker shown', async () => {
    const p = h.rt.snapshot().providers.get('pa')!;
    const hp = h.deps.tracker.get(endpointId(p, p.keyIds[0]!, 'm1'), p.breaker);
    for (let i = 0; i < 3; i++) h.deps.tracker.failure(hp, 'transient', 502, 'bad gateway');
    const r = await call(h, 'GET', '/debug/apis');
    assert.ok(!r.text.includes(KEY_A));
    const a = r.json.free_apis.pa;
    for (const k of ['name', 'api_key', 'base_url', 'available', 'last_test_time', 'last_test_result', 'success_count', 'failure_count', 'consecutive_failures', 'supported_models']) assert.ok(k in a, k);
    assert.equal(a.api_key, 'sk-…2222');
    assert.equal(a.available, false);
    assert.equal(a.failure_count, 3);
    assert.match(a.last_test_result, /marked invalid after 3 consecutive failures/);
    assert.deepEqual(r.json.available_apis, ['pb']);
  });

  test('/debug/concurrency has the seed shape', async () => {
    const r = await call(h, 'GET', '/debug/concurrency');
    const j = r.json;
    assert.deepEqual(Object.keys(j).sort(), ['call_history', 'concurrency', 'free_apis', 'last_error', 'today_stats']);
    assert.deepEqual([j.concurrency.active_requests, j.concurrency.max_concurrent, j.concurrency.available_slots], [3, 8, 5]);
    assert.equal(j.call_history.length, 4);
    assert.deepEqual(Object.keys(j.call_history[0]).slice(0, 4), ['success', 'timestamp', 'date', 'error_type']);
    assert.equal(j.call_history.at(-1).error_type, 'timeout');
    assert.equal(j.call_history.at(-1).date, '2026-01-15');
    assert.deepEqual(j.today_stats, { total: 3, success: 2, failed: 1 });
    assert.deepEqual([j.last_error.type, j.last_error.message], ['timeout', 'no answer within 60000 ms']);
    assert.deepEqual(j.free_apis, { total: 2, available: 1, api_list: ['pb'] });
  });

  test('/debug page: self-contained, escaped, under a strict CSP', async () => {
    const r = await call(h, 'GET', '/debug');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /text\/html/);
    assert.ok(!r.text.includes(EVIL), 'raw markup from config reached the page');
    assert.ok(!r.text.includes('<img src=x'), 'raw markup from a model name reached the page');
    assert.ok(r.text.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
    assert.ok(!r.text.includes(KEY_A));
    assert.doesNotMatch(r.text, /(src|href)="https?:/, 'no external assets');
    const csp = String(r.headers['content-security-policy']);
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    assert.ok(nonce && r.text.includes(`<script nonce="${nonce}">`));
    assert.match(csp, /default-src 'none'/);
    assert.match(r.text, /\/v1\/chat\/completions/);
  });

  test('reload: 200 with the version; a broken file answers 400 and the old config keeps serving', async () => {
    const ok = await call(h, 'POST', '/admin/reload');
    assert.equal(ok.status, 200);
    const v = ok.json.version;
    h.setFile({ ...file, providers: [{ id: 'pa', baseUrl: 'https://a.example.com', limits: { rpm: 'x' as unknown as number } }] });
    const bad = await call(h, 'POST', '/admin/reload');
    assert.equal(bad.status, 400);
    assert.match(bad.json.error.message, /providers\[0\]\.limits\.rpm/);
    assert.equal(h.rt.snapshot().version, v);
    const st = await call(h, 'GET', '/admin/config/status');
    assert.match(st.json.lastError, /limits\.rpm/);
    assert.equal(st.json.version, v);
    assert.equal(st.json.store, 'memory');
    h.setFile(file);
    assert.equal((await call(h, 'POST', '/admin/reload')).status, 200);
    assert.equal((await call(h, 'GET', '/admin/config/status')).json.lastError, null);
  });

  test('debug toggle', async () => {
    assert.equal((await call(h, 'GET', '/admin/debug')).json.enabled, false);
    const on = await call(h, 'POST', '/admin/debug', { enabled: true });
    assert.deepEqual([on.json.enabled, on.json.reasons], [true, ['admin']]);
    assert.equal(await h.store.getSetting('debug.admin'), true);
    assert.equal((await call(h, 'POST', '/admin/debug', { enabled: 'yes' })).json.error.param, 'enabled');
    assert.equal((await call(h, 'POST', '/admin/debug', '{"enabled": tru')).json.error.code, 'invalid_json');
    await call(h, 'POST', '/admin/debug', { enabled: false });
  });

  test('/admin/health lists endpoints with masked keys', async () => {
    const r = await call(h, 'GET', '/admin/health');
    assert.equal(r.status, 200);
    assert.ok(r.json.endpoints.length >= 3);
    assert.ok(!r.text.includes(KEY_A));
    assert.ok(r.json.endpoints.every((e: any) => e.key === null || e.key.includes('…')));
  });
});
