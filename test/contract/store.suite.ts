/**
 * The store contract (src/store/types.ts), run against every adapter by store.test.ts. The request
 * log, writer and retention tests are in logs.suite.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hashKey } from '../../src/store/keys.ts';
import type { Store } from '../../src/store/types.ts';
import type { StoreAdapter } from './store-adapters.ts';

/** Open a fresh store, run `fn`, always close it. */
export async function withStore(adapter: StoreAdapter, fn: (s: Store) => Promise<void>): Promise<void> {
  const store = await adapter.open();
  try {
    await fn(store);
  } finally {
    await store.close();
  }
}

export function storeSuite(adapter: StoreAdapter): void {
  keyTests(adapter);
  configTests(adapter);
  settingsTests(adapter);
  reopenTest(adapter);
}

function keyTests(adapter: StoreAdapter): void {
  const run = (fn: (s: Store) => Promise<void>) => () => withStore(adapter, fn);
  describe(`${adapter.name} store: client keys`, { timeout: 15_000 }, () => {
    test('stores only the hash and a prefix: the plaintext is nowhere in the raw table', run(async (s) => {
      const made = await s.createKey({ name: 'ci', limits: { rpm: 5 }, models: ['gpt-x'], budgetTokens: { day: 1000 }, expiresAt: 2_000_000_000_000 });
      assert.match(made.key, /^llmux-[\w-]{32}$/);
      assert.ok(made.key.startsWith(made.prefix) && made.prefix.length < made.key.length);
      const raw = JSON.stringify(await adapter.raw('client_keys'));
      assert.ok(raw.includes(hashKey(made.key)), 'the hash is stored');
      assert.ok(!raw.includes(made.key), 'the plaintext key is not stored');
      assert.ok(!raw.includes(made.key.slice(made.prefix.length)), 'not even its secret part');
    }));

    test('finds a key by hash with its limits, models, budget and expiry', run(async (s) => {
      const made = await s.createKey({ name: 'ci', limits: { rpm: 5, tpd: null }, models: ['a', 'b'], budgetTokens: 500, expiresAt: 1234 });
      const rec = await s.findKeyByHash(hashKey(made.key));
      assert.ok(rec);
      assert.equal(rec.id, made.id);
      assert.equal(rec.prefix, made.prefix);
      assert.deepEqual(rec.limits, { rpm: 5, tpd: null });
      assert.deepEqual(rec.models, ['a', 'b']);
      assert.equal(rec.budgetTokens, 500);
      assert.equal(rec.expiresAt, 1234, 'expired keys are still returned, so the caller can say key_expired');
      assert.equal(rec.revokedAt, null);
      assert.equal(await s.findKeyByHash(hashKey(`${made.key}x`)), undefined);
    }));

    test('a key made with nothing but defaults has empty limits and null fields', run(async (s) => {
      const made = await s.createKey({});
      const rec = await s.findKeyByHash(hashKey(made.key));
      assert.deepEqual([rec?.name, rec?.limits, rec?.models, rec?.budgetTokens, rec?.expiresAt, rec?.lastUsedAt], [null, {}, null, null, null, null]);
    }));

    test('revoking by prefix or id stops authentication; the key stays listed', run(async (s) => {
      const a = await s.createKey({ name: 'a' });
      const b = await s.createKey({ name: 'b' });
      assert.equal(await s.revokeKey(a.prefix), true);
      assert.equal(await s.revokeKey(b.id), true);
      assert.equal(await s.revokeKey(a.prefix), false, 'already revoked');
      assert.equal(await s.revokeKey('llmux-nothing'), false);
      assert.equal(await s.findKeyByHash(hashKey(a.key)), undefined);
      assert.equal(await s.findKeyByHash(hashKey(b.key)), undefined);
      const listed = await s.listKeys();
      assert.equal(listed.length, 2);
      assert.ok(listed.every((k) => typeof k.revokedAt === 'number'));
    }));

    test('touchKey records the last use; keys list newest first', run(async (s) => {
      const a = await s.createKey({ name: 'first' });
      await new Promise((r) => setTimeout(r, 5));
      await s.createKey({ name: 'second' });
      await s.touchKey(a.id, 4242);
      const listed = await s.listKeys();
      assert.deepEqual(listed.map((k) => k.name), ['second', 'first']);
      assert.equal(listed[1]?.lastUsedAt, 4242);
    }));
  });
}

function configTests(adapter: StoreAdapter): void {
  const run = (fn: (s: Store) => Promise<void>) => () => withStore(adapter, fn);
  describe(`${adapter.name} store: admin-made config`, { timeout: 15_000 }, () => {
    test('creating and revoking keys bump the config version', run(async (s) => {
      const v0 = await s.configVersion();
      const k = await s.createKey({});
      const v1 = await s.configVersion();
      await s.revokeKey(k.id);
      assert.ok(v1 > v0 && (await s.configVersion()) > v1);
    }));

    test('put, list (by id) and delete providers and routes, each change bumping the version', run(async (s) => {
      assert.equal(await s.configVersion(), 0);
      const v1 = await s.putEntity('provider', 'zeta', { id: 'zeta', baseUrl: 'https://z.example/v1' });
      const v2 = await s.putEntity('provider', 'alpha', { id: 'alpha', keys: ['${ALPHA_KEY}'] });
      const v3 = await s.putEntity('route', 'fast', { name: 'fast', targets: [{ provider: 'alpha' }] });
      assert.deepEqual([v1, v2, v3], [1, 2, 3]);
      const providers = await s.listEntities('provider');
      assert.deepEqual(providers.map((p) => p.id), ['alpha', 'zeta']);
      assert.deepEqual(providers[0]?.body, { id: 'alpha', keys: ['${ALPHA_KEY}'] });
      assert.ok((providers[0]?.updatedAt ?? 0) > 0);
      assert.equal((await s.listEntities('route')).length, 1);
      assert.equal(await s.putEntity('provider', 'zeta', { id: 'zeta', enabled: false }), 4, 'replacing bumps too');
      assert.deepEqual((await s.listEntities('provider'))[1]?.body, { id: 'zeta', enabled: false });
      assert.equal(await s.deleteEntity('provider', 'zeta'), true);
      assert.equal(await s.configVersion(), 5);
      assert.equal(await s.deleteEntity('provider', 'zeta'), false);
      assert.equal(await s.configVersion(), 5, 'deleting nothing does not bump');
    }));
  });
}

function settingsTests(adapter: StoreAdapter): void {
  const run = (fn: (s: Store) => Promise<void>) => () => withStore(adapter, fn);
  describe(`${adapter.name} store: settings, counters, breakers`, { timeout: 15_000 }, () => {
    test('settings round-trip JSON values and are overwritten', run(async (s) => {
      assert.equal(await s.getSetting('debug'), undefined);
      await s.setSetting('debug', { enabled: true, dir: './cache' });
      assert.deepEqual(await s.getSetting('debug'), { enabled: true, dir: './cache' });
      await s.setSetting('debug', false);
      assert.equal(await s.getSetting('debug'), false);
    }));

    test('counters upsert by key and expired ones are dropped', run(async (s) => {
      const now = Date.now();
      await s.saveCounters([
        { key: 'day|20260101|ep1', value: 3, expiresAt: now + 60_000 },
        { key: 'rate|60000|1|ep1', value: 2.5, expiresAt: now + 1000 },
      ]);
      await s.saveCounters([{ key: 'day|20260101|ep1', value: 4, expiresAt: now + 60_000 }]);
      assert.deepEqual(await s.loadCounters(now), [
        { key: 'day|20260101|ep1', value: 4, expiresAt: now + 60_000 },
        { key: 'rate|60000|1|ep1', value: 2.5, expiresAt: now + 1000 },
      ]);
      assert.deepEqual((await s.loadCounters(now + 2000)).map((c) => c.key), ['day|20260101|ep1']);
    }));

    test('saveBreakers replaces the whole set; loadBreakers drops expired ones', run(async (s) => {
      const now = Date.now();
      await s.saveBreakers([{ endpoint: 'a', snapshot: '{"s":"open"}', expiresAt: now + 10_000 }, { endpoint: 'b', snapshot: '{}', expiresAt: now + 10 }]);
      assert.deepEqual((await s.loadBreakers(now)).map((b) => b.endpoint), ['a', 'b']);
      assert.deepEqual((await s.loadBreakers(now + 100)).map((b) => b.endpoint), ['a']);
      await s.saveBreakers([{ endpoint: 'c', snapshot: '{"s":"half"}', expiresAt: now + 10_000 }]);
      assert.deepEqual(await s.loadBreakers(now), [{ endpoint: 'c', snapshot: '{"s":"half"}', expiresAt: now + 10_000 }]);
    }));

    test('every method rejects after close, and close is idempotent', async () => {
      const s = await adapter.open();
      await s.close();
      await s.close();
      await assert.rejects(s.listKeys());
      await assert.rejects(s.insertLogs([]));
    });
  });
}

function reopenTest(adapter: StoreAdapter): void {
  const reopen = adapter.reopen?.bind(adapter);
  if (reopen) {
    test(`${adapter.name} store: migrations are recorded once and data survives reopening`, { timeout: 15_000 }, async () => {
      const first = await adapter.open();
      const made = await first.createKey({ name: 'kept' });
      await first.close();
      const again = await reopen();
      try {
        assert.equal((await again.findKeyByHash(hashKey(made.key)))?.name, 'kept');
        const versions = (await adapter.raw('schema_migrations')).map((r) => Number(r['version']));
        assert.deepEqual(versions, [1, 2]);
      } finally {
        await again.close();
      }
    });
  }
}
