import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_KEY, call, startAdminHarness, type AdminHarness } from '../fakes/admin-runtime.ts';

const FILE_CLIENT_KEY = 'file-client-key-KKKK1111LLLL2222';
const file = {
  server: { adminKey: ADMIN_KEY, keys: [{ key: FILE_CLIENT_KEY, name: 'from-file' }] },
  providers: [
    { id: 'pa', baseUrl: 'https://a.example.com/v1', keys: ['sk-a-secret-0123456789'], models: ['m1'] },
    { id: 'pb', baseUrl: 'https://b.example.com/v1', keys: ['sk-b-secret-0123456789'], models: ['m2'] },
  ],
  routes: [{ name: 'file-route', targets: [{ provider: 'pa' }] }],
};

describe('/admin/routes', () => {
  let h: AdminHarness;
  before(async () => {
    h = await startAdminHarness(file);
  });
  after(() => h.close());

  test('create, read, patch, replace and delete a store route', async () => {
    const c = await call(h, 'POST', '/admin/routes', { name: 'smart', balance: 'weighted', targets: [{ provider: 'pa', weight: 3 }, { provider: 'pb', priority: 1 }] });
    assert.equal(c.status, 201, c.text);
    assert.equal(h.rt.snapshot().routes.get('smart')?.targets.length, 2);
    const list = await call(h, 'GET', '/admin/routes');
    assert.deepEqual(list.json.data.map((r: any) => [r.name, r.source]), [['file-route', 'file'], ['smart', 'store']]);
    const p = await call(h, 'PATCH', '/admin/routes/smart', { balance: 'random' });
    assert.equal(p.json.balance, 'random');
    assert.equal(h.rt.snapshot().routes.get('smart')?.balance, 'random');
    const u = await call(h, 'PUT', '/admin/routes/smart', { targets: [{ provider: 'pb' }] });
    assert.equal(u.status, 200);
    assert.equal(u.json.balance, undefined, 'PUT replaces the whole body');
    assert.equal((await call(h, 'DELETE', '/admin/routes/smart')).status, 200);
    assert.equal(h.rt.snapshot().routes.has('smart'), false);
  });

  test('route names with "*" or "/" work in the URL when encoded', async () => {
    assert.equal((await call(h, 'POST', '/admin/routes', { name: 'org/model:free', targets: [{ provider: 'pa' }] })).status, 201);
    assert.equal((await call(h, 'GET', `/admin/routes/${encodeURIComponent('org/model:free')}`)).json.name, 'org/model:free');
    assert.equal((await call(h, 'PUT', `/admin/routes/${encodeURIComponent('*')}`, {})).status, 201);
    assert.ok(h.rt.snapshot().routes.has('*'));
    assert.equal((await call(h, 'DELETE', '/admin/routes/%2A')).status, 200);
    assert.equal((await call(h, 'DELETE', `/admin/routes/${encodeURIComponent('org/model:free')}`)).status, 200);
  });

  test('a target naming an unknown provider is rejected with its path, nothing stored', async () => {
    const r = await call(h, 'POST', '/admin/routes', { name: 'broken', targets: [{ provider: 'ghost' }] });
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /targets\[0\]\.provider/);
    assert.equal((await h.store.listEntities('route')).length, 0);
  });

  test('bad balance names the field; renaming through PUT is refused; the file route is read-only', async () => {
    const r = await call(h, 'POST', '/admin/routes', { name: 'x', balance: 'fastest' });
    assert.equal(r.json.error.param, 'balance');
    const rn = await call(h, 'PUT', '/admin/routes/x', { name: 'y' });
    assert.equal(rn.json.error.param, 'name');
    assert.equal((await call(h, 'PATCH', '/admin/routes/file-route', { balance: 'random' })).status, 409);
  });

  test('a store entity that clashes with a file id is shown as shadowed and can be deleted', async () => {
    await h.store.putEntity('route', 'file-route', { name: 'file-route', targets: [{ provider: 'pb' }] });
    await h.rt.reload('test');
    const list = (await call(h, 'GET', '/admin/routes')).json.data.filter((r: any) => r.name === 'file-route');
    assert.deepEqual(list.map((r: any) => [r.source, r.shadowedByFile ?? null]), [['file', null], ['store', true]]);
    assert.equal((await call(h, 'PATCH', '/admin/routes/file-route', { balance: 'random' })).status, 409);
    assert.equal((await call(h, 'DELETE', '/admin/routes/file-route')).status, 200);
    assert.equal(h.rt.snapshot().routes.get('file-route')?.targets[0]?.provider.id, 'pa');
  });
});

describe('/admin/keys', () => {
  let h: AdminHarness;
  before(async () => {
    h = await startAdminHarness(file);
  });
  after(() => h.close());

  test('POST returns the plaintext key once; the list never has it nor its hash', async () => {
    const c = await call(h, 'POST', '/admin/keys', { name: 'ci', models: ['m1'], limits: { rpm: 10 }, expiresAt: '2030-01-01T00:00:00Z' });
    assert.equal(c.status, 201, c.text);
    assert.match(c.json.key, /^llmux-/);
    assert.equal(c.headers['cache-control'], 'no-store');
    assert.equal(c.json.expiresAt, Date.parse('2030-01-01T00:00:00Z'));
    const stored = (await h.store.listKeys())[0]!;
    const list = await call(h, 'GET', '/admin/keys');
    assert.ok(!list.text.includes(c.json.key), 'plaintext key in the list');
    assert.ok(!list.text.includes(stored.hash), 'hash in the list');
    assert.ok(!list.text.includes(FILE_CLIENT_KEY), 'file key in the list');
    const mine = list.json.data.find((k: any) => k.id === c.json.id);
    assert.deepEqual([mine.name, mine.prefix, mine.revokedAt, mine.source], ['ci', stored.prefix, null, 'store']);
    const fromFile = list.json.data.find((k: any) => k.source === 'file');
    assert.deepEqual([fromFile.name, fromFile.readOnly], ['from-file', true]);
  });

  test('validation names the field', async () => {
    const r = await call(h, 'POST', '/admin/keys', { limits: { rpm: -5 } });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.param, 'limits.rpm');
    assert.equal((await call(h, 'POST', '/admin/keys', { expiresAt: 'tomorrow-ish' })).json.error.param, 'expiresAt');
  });

  test('DELETE revokes (listed with revokedAt); unknown 404; file keys 409', async () => {
    const c = await call(h, 'POST', '/admin/keys', {});
    assert.equal(c.status, 201);
    assert.equal((await call(h, 'DELETE', `/admin/keys/${c.json.id}`)).status, 200);
    const k = (await call(h, 'GET', '/admin/keys')).json.data.find((x: any) => x.id === c.json.id);
    assert.equal(typeof k.revokedAt, 'number');
    assert.equal((await call(h, 'DELETE', `/admin/keys/${c.json.id}`)).status, 404);
    assert.equal((await call(h, 'DELETE', '/admin/keys/file:0')).status, 409);
  });
});
