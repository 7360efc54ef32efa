import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dayKey } from '../core/clock.ts';
import { MemoryState } from '../state/memory.ts';
import { admit } from './state-limiter.ts';

const tz = 'UTC';

test('admit: a request refused by rpm or concurrency gives back the rpd it took', async () => {
  const s = new MemoryState();
  const now = Date.now();
  const day = dayKey(now, tz);
  try {
    const first = await admit(s, 'ep', { rpd: 10, rpm: 1, concurrency: 5 }, now, tz);
    assert.equal(first.ok, true);
    const byRpm = await admit(s, 'ep', { rpd: 10, rpm: 1, concurrency: 5 }, now, tz);
    assert.deepEqual([byRpm.ok, !byRpm.ok && byRpm.reason], [false, 'rpm']);
    assert.equal(await s.day.get('rpd:ep', day), 1, 'the refused request is not counted for the day');

    const held = await admit(s, 'c', { rpd: 10, concurrency: 1 }, now, tz);
    assert.equal(held.ok, true);
    const byConc = await admit(s, 'c', { rpd: 10, concurrency: 1 }, now, tz);
    assert.deepEqual([byConc.ok, !byConc.ok && byConc.reason], [false, 'concurrency']);
    assert.equal(await s.day.get('rpd:c', day), 1);
    // Settling frees the slot and records tokens; a second settle changes nothing.
    if (held.ok) {
      held.settle(0);
      held.settle(0);
    }
    await new Promise((r) => setImmediate(r));
    assert.equal(await s.inflight.count('conc:c'), 0);
    assert.equal((await admit(s, 'c', { rpd: 10, concurrency: 1 }, now, tz)).ok, true);
    assert.equal(await s.day.get('rpd:c', day), 2);
  } finally {
    await s.close();
  }
});

test('admit: settled tokens count for tpm and tpd', async () => {
  const s = new MemoryState();
  const now = Date.now();
  try {
    const p = await admit(s, 't', { tpm: 1000, tpd: 5000 }, now, tz);
    assert.equal(p.ok, true);
    if (p.ok) p.settle(120);
    await new Promise((r) => setImmediate(r));
    assert.equal(await s.rate.peek('tpm:t', 60_000), 120);
    assert.equal(await s.day.get('tpd:t', dayKey(Date.now(), tz)), 120);
  } finally {
    await s.close();
  }
});
