import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_KEY, call, startAdminHarness, type AdminHarness } from '../fakes/admin-runtime.ts';

const FILE_KEY = 'sk-file-secret-AAAA1111BBBB2222';
const STORE_KEY = 'sk-store-secret-CCCC3333DDDD4444';
const OTHER_KEY = 'sk-other-secret-EEEE5555FFFF6666';
const HEADER_SECRET = 'hdr-secret-GGGG7777HHHH8888';
const PROXY_PW = 'proxy-pw-IIII9999JJJJ0000';
const secrets = [FILE_KEY, STORE_KEY, OTHER_KEY, HEADER_SECRET, PROXY_PW];

const file = {
  server: { adminKey: ADMIN_KEY },
  providers: [{ id: 'filep', baseUrl: 'https://file.example.com/v1', keys: [FILE_KEY], models: ['m1'] }],
  routes: [{ name: 'chat', targets: [{ provider: 'filep' }] }],
};

/** Every admin answer is checked: no full secret may appear in it, ever. */
async function req(h: AdminHarness, method: Parameters<typeof call>[1], url: string, body?: unknown) {
  const r = await call(h, method, url, body);
  for (const s of secrets) assert.ok(!r.text.includes(s), `${method} ${url} leaked ${s.slice(0, 12)}…: ${r.text.slice(0, 300)}`);
  return r;
}

describe('/admin/providers', () => {
  let h: AdminHarness;
  before(async () => {
    h = await startAdminHarness(file);
  });
  after(() => h.close());

  test('lists file entries read-only with keys masked', async () => {
    const r = await req(h, 'GET', '/admin/providers');
    assert.equal(r.status, 200);
    const p = r.json.data.find((x: any) => x.id === 'filep');
    assert.deepEqual([p.source, p.readOnly], ['file', true]);
    assert.deepEqual(p.keys, ['sk-…2222']);
  });

  test('POST creates a store provider that serves after the reload; answers masked', async () => {
    const r = await req(h, 'POST', '/admin/providers', {
      id: 'storep', baseUrl: 'https://store.example.com/v1', keys: [STORE_KEY], models: ['m2'],
      headers: { 'X-Api-Key': HEADER_SECRET, 'X-Plain': 'visible' }, proxy: `http://user:${PROXY_PW}@proxy.example.com:3128`,
    });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual([r.json.source, r.json.readOnly, r.json.active], ['store', false, true]);
    assert.deepEqual(r.json.keys, ['sk-…4444']);
    assert.equal(r.json.headers['X-Plain'], 'visible');
    assert.equal(r.json.proxy, 'http://user:***@proxy.example.com:3128');
    assert.ok(h.rt.snapshot().providers.get('storep')?.keys.includes(STORE_KEY));
    const got = await req(h, 'GET', '/admin/providers/storep');
    assert.equal(got.json.source, 'store');
  });

  test('POST of an existing id: 409, whether it is in the file or the store', async () => {
    assert.equal((await req(h, 'POST', '/admin/providers', { id: 'filep', baseUrl: 'https://x.example.com' })).status, 409);
    assert.equal((await req(h, 'POST', '/admin/providers', { id: 'storep', baseUrl: 'https://x.example.com' })).status, 409);
  });

  test('validation errors name the field path', async () => {
    const r = await req(h, 'POST', '/admin/providers', { id: 'bad', baseUrl: 'https://b.example.com', limits: { rpm: 'many' } });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.param, 'limits.rpm');
    assert.match(r.json.error.message, /limits\.rpm/);
    const r2 = await req(h, 'POST', '/admin/providers', { id: 'Bad Id!', baseUrl: 'https://b.example.com' });
    assert.equal(r2.json.error.param, 'id');
    const r3 = await req(h, 'POST', '/admin/providers', { id: 'x1', baseUrl: 'https://b.example.com', unknownField: 1 });
    assert.equal(r3.status, 400);
    assert.match(r3.json.error.message, /unknownField/);
  });

  test('file entries are read-only: PUT, PATCH, DELETE answer 409', async () => {
    for (const m of ['PUT', 'PATCH'] as const) {
      const r = await req(h, m, '/admin/providers/filep', { name: 'x' });
      assert.equal(r.status, 409);
      assert.equal(r.json.error.code, 'read_only');
    }
    assert.equal((await req(h, 'DELETE', '/admin/providers/filep')).status, 409);
  });

  test('PATCH with the masked keys sent back keeps the stored keys', async () => {
    const cur = (await req(h, 'GET', '/admin/providers/storep')).json;
    const r = await req(h, 'PATCH', '/admin/providers/storep', { name: 'Renamed', keys: cur.keys, headers: cur.headers, proxy: cur.proxy });
    assert.equal(r.status, 200, r.text);
    const p = h.rt.snapshot().providers.get('storep')!;
    assert.equal(p.name, 'Renamed');
    assert.deepEqual(p.keys, [STORE_KEY]);
    assert.equal(p.headers['X-Api-Key'], HEADER_SECRET);
    assert.equal(p.proxy, `http://user:${PROXY_PW}@proxy.example.com:3128`);
  });

  test('a masked key that matches nothing is refused, naming the key', async () => {
    const r = await req(h, 'PATCH', '/admin/providers/storep', { keys: ['sk-…zzzz'] });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.param, 'keys[0]');
  });

  test('changing baseUrl without sending the keys again is refused, saying why', async () => {
    const r = await req(h, 'PATCH', '/admin/providers/storep', { baseUrl: 'https://evil.example.com/v1' });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.param, 'keys');
    assert.match(r.json.error.message, /where the provider's keys are sent/);
    const masked = await req(h, 'PATCH', '/admin/providers/storep', { baseUrl: 'https://evil.example.com/v1', keys: ['sk-…4444'] });
    assert.equal(masked.status, 400);
    const viaType = await req(h, 'PUT', '/admin/providers/storep', { type: 'groq', models: ['m2'] });
    assert.equal(viaType.status, 400, 'a type whose preset moves the base URL counts too');
    assert.equal(h.rt.snapshot().providers.get('storep')!.baseUrl, 'https://store.example.com/v1');
  });

  test('changing baseUrl with the keys (and secret headers) sent in full works', async () => {
    const r = await req(h, 'PATCH', '/admin/providers/storep', { baseUrl: 'https://new.example.com/v1', keys: [OTHER_KEY], headers: { 'X-Plain': 'v2' } });
    assert.equal(r.status, 200, r.text);
    const p = h.rt.snapshot().providers.get('storep')!;
    assert.deepEqual([p.baseUrl, p.keys[0]], ['https://new.example.com/v1', OTHER_KEY]);
    assert.equal(r.json.keys[0], 'sk-…6666');
  });

  test('a change the merged config rejects is rolled back, and the old config keeps serving', async () => {
    await req(h, 'POST', '/admin/routes', { name: 'r-store', targets: [{ provider: 'storep' }] });
    const before = h.rt.snapshot().version;
    const r = await req(h, 'DELETE', '/admin/providers/storep');
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /no provider with id "storep"/);
    assert.equal(h.rt.snapshot().version, before);
    assert.ok((await h.store.listEntities('provider')).some((e) => e.id === 'storep'), 'the store entity is back');
    assert.equal((await req(h, 'DELETE', '/admin/routes/r-store')).status, 200);
  });

  test('a rollback of a replaced entity restores the previous body', async () => {
    await req(h, 'POST', '/admin/routes', { name: 'r2', targets: [{ provider: 'storep', model: 'm2' }] });
    const r = await req(h, 'PUT', '/admin/routes/r2', { targets: [{ provider: 'missing' }] });
    assert.equal(r.status, 400);
    const stored = (await h.store.listEntities('route')).find((e) => e.id === 'r2');
    assert.deepEqual((stored?.body as any).targets, [{ provider: 'storep', model: 'm2' }]);
  });

  test('POST /admin/providers/:id/test probes it; unknown id 404', async () => {
    const r = await req(h, 'POST', '/admin/providers/storep/test');
    assert.equal(r.status, 200);
    assert.equal(r.json.ok, true);
    assert.equal(r.json.results[0].status, 200);
    assert.equal((await req(h, 'POST', '/admin/providers/nope/test')).status, 404);
  });

  test('DELETE removes a store provider', async () => {
    await req(h, 'DELETE', '/admin/routes/r2');
    const r = await req(h, 'DELETE', '/admin/providers/storep');
    assert.equal(r.status, 200, r.text);
    assert.equal(h.rt.snapshot().providers.has('storep'), false);
    assert.equal((await req(h, 'DELETE', '/admin/providers/storep')).status, 404);
  });

  test('an upstream error that echoes a key is scrubbed from the probe answer', async () => {
    const h2 = await startAdminHarness(file, { probe: async () => [{ endpoint: 'filep/x/m1', ok: false, status: 401, latencyMs: 3, cls: 'credential', error: `HTTP 401: Incorrect API key provided: ${FILE_KEY}` }] });
    try {
      const r = await req(h2, 'POST', '/admin/providers/filep/test');
      assert.match(r.json.results[0].error, /sk-…2222/);
    } finally {
      await h2.close();
    }
  });
});
