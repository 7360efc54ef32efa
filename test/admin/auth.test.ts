import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { ADMIN_KEY, call, startAdminHarness, type AdminHarness } from '../fakes/admin-runtime.ts';
import { LoginLimiter, addressKey } from '../../src/admin/login-limiter.ts';
import { ManualClock } from '../../src/core/clock.ts';

const CLIENT_KEY = 'client-key-0123456789abcdef';
const withAdminKey = {
  server: { adminKey: ADMIN_KEY, keys: [CLIENT_KEY] },
  providers: [{ id: 'p1', baseUrl: 'https://p1.example.com/v1', keys: ['sk-p1-secret-0123456789'], models: ['m1'] }],
};
const noAdminKey = { providers: withAdminKey.providers };

function assertOpenAiError(json: any, status: number, got: number): void {
  assert.equal(got, status);
  assert.equal(typeof json?.error?.message, 'string');
  assert.ok('type' in json.error && 'param' in json.error && 'code' in json.error);
}

describe('admin auth with server.adminKey set', () => {
  let h: AdminHarness;
  let clock: ManualClock;
  before(async () => {
    clock = new ManualClock(Date.UTC(2026, 0, 15, 12));
    h = await startAdminHarness(withAdminKey, { clock, loginLimiter: new LoginLimiter({ max: 3, windowMs: 60_000, now: () => clock.now() }) });
  });
  after(() => h.close());

  test('no key: 401 in the OpenAI shape, saying how to send the key', async () => {
    const r = await call(h, 'GET', '/admin/providers', undefined, { key: null });
    assertOpenAiError(r.json, 401, r.status);
    assert.match(r.json.error.message, /x-admin-key/);
  });

  test('the right key opens it, as x-admin-key or as a Bearer token', async () => {
    assert.equal((await call(h, 'GET', '/admin/providers')).status, 200);
    const r = await call(h, 'GET', '/admin/stats', undefined, { key: null, headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    assert.equal(r.status, 200);
  });

  test('a client key does not open the admin API or the debug views', async () => {
    for (const url of ['/admin/providers', '/debug/apis']) {
      const r = await call(h, 'GET', url, undefined, { key: null, headers: { authorization: `Bearer ${CLIENT_KEY}` }, remoteAddress: '10.1.1.1' });
      assertOpenAiError(r.json, 401, r.status);
      assert.equal(r.json.error.code, 'invalid_api_key');
    }
  });

  test('wrong keys are rate limited per address, with Retry-After; other addresses are unaffected', async () => {
    const addr = '10.9.9.9';
    for (let i = 0; i < 3; i++) assert.equal((await call(h, 'GET', '/admin/stats', undefined, { key: 'wrong', remoteAddress: addr })).status, 401);
    const blocked = await call(h, 'GET', '/admin/stats', undefined, { remoteAddress: addr });
    assertOpenAiError(blocked.json, 429, blocked.status);
    assert.ok(Number(blocked.headers['retry-after']) > 0 && Number(blocked.headers['retry-after']) <= 60);
    assert.equal((await call(h, 'GET', '/admin/stats', undefined, { remoteAddress: '10.9.9.10' })).status, 200);
    clock.advance(61_000);
    assert.equal((await call(h, 'GET', '/admin/stats', undefined, { remoteAddress: addr })).status, 200);
  });

  test('the debug page without a key answers its login form (401, no data)', async () => {
    const r = await call(h, 'GET', '/debug', undefined, { key: null });
    assert.equal(r.status, 401);
    assert.match(String(r.headers['content-type']), /text\/html/);
    assert.match(r.text, /id="admin-key"/);
    assert.doesNotMatch(r.text, /p1\.example\.com/);
  });

  test('the plugin is encapsulated: client routes keep their own auth, parser and errors', async () => {
    assert.equal((await h.app.inject({ method: 'GET', url: '/health' })).statusCode, 200);
    const adminKeyOnV1 = await h.app.inject({ method: 'GET', url: '/v1/models', headers: { 'x-admin-key': ADMIN_KEY } });
    assert.equal(adminKeyOnV1.statusCode, 401, 'x-admin-key is not a client credential');
    const raw = await h.app.inject({ method: 'POST', url: '/v1/embeddings', headers: { 'content-type': 'text/plain', authorization: `Bearer ${CLIENT_KEY}` }, payload: '{"model": ' });
    assert.equal(raw.statusCode, 400, 'the client parser still takes any content type');
    assert.notEqual(JSON.parse(raw.body).error.code, 'unsupported_media_type');
  });

  test('with an admin key, any remote address may use it', async () => {
    assert.equal((await call(h, 'GET', '/admin/config/status', undefined, { remoteAddress: '203.0.113.7' })).status, 200);
  });
});

describe('admin auth with no admin key: loopback only', () => {
  let h: AdminHarness;
  before(async () => {
    h = await startAdminHarness(noAdminKey);
  });
  after(() => h.close());

  test('a loopback caller gets in without a key (IPv4, IPv6, mapped IPv4)', async () => {
    for (const remoteAddress of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
      assert.equal((await call(h, 'GET', '/admin/providers', undefined, { key: null, remoteAddress })).status, 200, remoteAddress);
    }
  });

  test('anyone else gets 403 saying to set server.adminKey', async () => {
    for (const url of ['/admin/providers', '/debug', '/debug/stats']) {
      const r = await call(h, 'GET', url, undefined, { key: null, remoteAddress: '192.168.1.20' });
      assertOpenAiError(r.json, 403, r.status);
      assert.match(r.json.error.message, /server\.adminKey/);
    }
  });

  test('a proxied request, a non-loopback Host (DNS rebinding) or a foreign Origin is refused', async () => {
    const cases: Array<Record<string, string>> = [
      { 'x-forwarded-for': '198.51.100.1' },
      { host: 'evil.example.com:8080' },
      { origin: 'https://evil.example.com' },
      { origin: 'null' },
    ];
    for (const headers of cases) {
      const r = await call(h, 'POST', '/admin/reload', {}, { key: null, headers });
      assert.equal(r.status, 403, JSON.stringify(headers));
    }
    const same = await call(h, 'POST', '/admin/reload', {}, { key: null, headers: { host: 'localhost:80', origin: 'http://localhost:80' } });
    assert.equal(same.status, 200);
  });

  test('a form or text/plain POST (a cross-site "simple" request) never reaches a handler', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/admin/debug', headers: { 'content-type': 'text/plain' }, payload: '{"enabled":true}' });
    assert.equal(res.statusCode, 415);
    assert.equal(h.rt.debug.enabled(), false);
  });
});

describe('loopback rule through a real socket', () => {
  let h: AdminHarness;
  before(async () => {
    h = await startAdminHarness(noAdminKey);
    await h.app.listen({ host: '0.0.0.0', port: 0 });
  });
  after(() => h.close());

  const port = (): number => (h.app.server.address() as { port: number }).port;

  test('127.0.0.1 is let in without a key', async () => {
    const res = await fetch(`http://127.0.0.1:${port()}/admin/config/status`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { version: number }).version >= 1, true);
  });

  test('a non-loopback interface address is refused', async (t) => {
    const ip = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    if (!ip) return t.skip('no non-loopback IPv4 interface on this machine');
    const res = await fetch(`http://${ip}:${port()}/admin/config/status`);
    assert.equal(res.status, 403);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /server\.adminKey/);
  });
});

describe('login limiter', () => {
  test('stays bounded under a flood of addresses', () => {
    const l = new LoginLimiter({ maxEntries: 100 });
    for (let i = 0; i < 10_000; i++) l.fail(`10.0.${i >> 8}.${i & 255}`);
    assert.ok(l.size <= 100);
  });

  test('IPv6 is counted per /64, mapped IPv4 as IPv4', () => {
    assert.equal(addressKey('2001:db8:1:2:aaaa::1'), addressKey('2001:db8:1:2:bbbb::2'));
    assert.notEqual(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:3::1'));
    assert.equal(addressKey('::ffff:10.0.0.1'), '10.0.0.1');
  });
});
