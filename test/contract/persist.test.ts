/**
 * Memory state persistence (SPEC §6): counters and breakers survive a restart through every store
 * adapter, are written at least every second without a shutdown, and survive a real kill -9.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { dayKey } from '../../src/core/clock.ts';
import { MemoryState } from '../../src/state/memory.ts';
import { StatePersister, type PersistTarget } from '../../src/state/persist.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/types.ts';
import { eventually } from './backends.ts';
import { storeAdapters } from './store-adapters.ts';

const today = dayKey(Date.now(), 'UTC');

/** Some traffic: RPD, RPM and TPM windows, an open breaker, round-robin positions. */
async function traffic(state: MemoryState): Promise<void> {
  for (let i = 0; i < 3; i++) await state.day.acquire('ep:rpd', { day: today, limit: 10 });
  await state.day.add('ep:tpd', today, 4200);
  await state.rate.acquire('ep:rpm', { limit: 5, windowMs: 60_000 });
  await state.rate.acquire('ep:rpm', { limit: 5, windowMs: 60_000 });
  await state.rate.add('ep:tpm', 1200, 60_000);
  await state.breakers.set('ep', '{"state":"open","until":1}', 60_000);
  await state.rr.next('route');
  await state.rr.next('route');
}

async function assertRestored(state: MemoryState): Promise<void> {
  assert.equal(await state.day.get('ep:rpd', today), 3);
  assert.equal(await state.day.get('ep:tpd', today), 4200);
  assert.equal(await state.rate.peek('ep:rpm', 60_000), 2);
  assert.equal(await state.rate.peek('ep:tpm', 60_000), 1200);
  assert.deepEqual((await state.rate.acquire('ep:rpm', { limit: 2, windowMs: 60_000 })).ok, false, 'the restored window still limits');
  assert.equal(await state.breakers.get('ep'), '{"state":"open","until":1}');
  assert.equal(await state.rr.next('route'), 2);
}

for (const adapter of storeAdapters()) {
  after(() => adapter.cleanup());

  describe(`${adapter.name} store: memory state persistence`, { timeout: 15_000 }, () => {
    test('counters and breakers round-trip through persist + restore (simulated restart)', async () => {
      const store1 = await adapter.open();
      const state1 = new MemoryState();
      const p1 = new StatePersister(state1, store1, { intervalMs: 1000 });
      assert.deepEqual(await p1.restore(), { counters: 0, breakers: 0 });
      await traffic(state1);
      await p1.close();
      await state1.close();
      let store2: Store = store1;
      if (adapter.reopen) {
        await store1.close();
        store2 = await adapter.reopen();
      }
      try {
        const state2 = new MemoryState();
        const p2 = new StatePersister(state2, store2);
        const restored = await p2.restore();
        assert.equal(restored.breakers, 1);
        await assertRestored(state2);
        await p2.close();
        await state2.close();
      } finally {
        await store2.close();
      }
    });

    test('changes reach the store within a second, without a shutdown; unchanged state is not rewritten', async () => {
      const store = await adapter.open();
      const state = new MemoryState();
      let saves = 0;
      const counting: PersistTarget = {
        saveCounters: (entries) => {
          saves++;
          return store.saveCounters(entries);
        },
        loadCounters: (now) => store.loadCounters(now),
        saveBreakers: (entries) => store.saveBreakers(entries),
        loadBreakers: (now) => store.loadBreakers(now),
      };
      const p = new StatePersister(state, counting, { intervalMs: 100 });
      try {
        await state.day.acquire('ep:rpd', { day: today, limit: 10 });
        await state.breakers.set('ep', 'open', 60_000);
        const written = await eventually(async () => (await store.loadCounters()).length === 1 && (await store.loadBreakers()).length === 1, 1000);
        assert.ok(written, 'written within 1 s');
        const after1 = saves;
        await new Promise((r) => setTimeout(r, 350));
        assert.equal(saves, after1, 'nothing changed, nothing saved');
      } finally {
        await p.close().catch(() => undefined);
        await state.close();
        await store.close();
      }
    });
  });
}

test('kill -9: a new process restores the day counter, token window and open breaker', { timeout: 20_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'llmux-kill-'));
  const db = join(dir, 'llmux.db');
  try {
    const child = spawn(process.execPath, [new URL('./fixtures/persist-child.ts', import.meta.url).pathname, db, today], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    assert.ok(await eventually(() => out.includes('ready'), 10_000), 'child ready');
    // The default interval is 1 s: after just over a second everything must be on disk.
    await new Promise((r) => setTimeout(r, 1100));
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    const store = await openStore(`sqlite:${db}`);
    const state = new MemoryState();
    try {
      await new StatePersister(state, store).restore();
      assert.equal(await state.day.get('ep:rpd', today), 7);
      assert.equal(await state.rate.peek('ep:tpm', 60_000), 777);
      assert.equal(await state.breakers.get('ep'), '{"state":"open"}');
    } finally {
      await state.close();
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
