import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryState } from './memory.ts';
import { bucketOf, bucketWidth, oldestCounted } from './window.ts';

/** A small deterministic generator (the test must be repeatable). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test('memory rate windows: the running total matches a recount as buckets leave, refunds included', async () => {
  const windowMs = 6_000;
  const width = bucketWidth(windowMs);
  const clock = { now: () => 0 };
  const s = new MemoryState({ clock, sweepMs: 3_600_000 });
  // The model: every amount ever added, by bucket; the window counts the buckets still inside it.
  const added = new Map<number, number>();
  const raw = (now: number): number => {
    let sum = 0;
    for (const [b, v] of added) if (b >= oldestCounted(now, windowMs, width)) sum += v;
    return sum;
  };
  const add = (now: number, amount: number): void => void added.set(bucketOf(now, width), (added.get(bucketOf(now, width)) ?? 0) + amount);
  const rand = rng(7);
  let now = 1_000_000;
  try {
    for (let i = 0; i < 3_000; i++) {
      // Mostly small steps inside a bucket, sometimes across several, now and then past the window.
      const r = rand();
      now += r < 0.7 ? Math.floor(rand() * 20) : r < 0.97 ? Math.floor(rand() * 3 * width) : windowMs + Math.floor(rand() * windowMs);
      const op = rand();
      if (op < 0.5) {
        const cost = 1 + Math.floor(rand() * 3);
        const before = Math.max(0, raw(now));
        const res = await s.rate.acquire('k', { limit: -1, windowMs, cost, now });
        add(now, cost);
        assert.equal(res.count, before + cost, `acquire at step ${i}`);
      } else if (op < 0.8) {
        const amount = Math.floor(rand() * 11) - 5; // refunds too
        await s.rate.add('k', amount, windowMs, now);
        add(now, amount);
      }
      assert.equal(await s.rate.peek('k', windowMs, now), Math.max(0, raw(now)), `step ${i} at ${now}`);
    }
    // The counters survive an export and import into a fresh state (a restart) with the same total.
    const copy = new MemoryState({ clock: { now: () => now }, sweepMs: 3_600_000 });
    try {
      copy.importCounters(s.exportCounters(false));
      assert.equal(await copy.rate.peek('k', windowMs, now), Math.max(0, raw(now)));
      await copy.rate.add('k', 2, windowMs, now);
      assert.equal(await copy.rate.peek('k', windowMs, now), Math.max(0, raw(now) + 2));
    } finally {
      await copy.close();
    }
  } finally {
    await s.close();
  }
});

test('memory rate windows: a bucket counted again after an export is exported again; markDirty puts ids back', async () => {
  let now = 5_000_000;
  const s = new MemoryState({ clock: { now: () => now }, sweepMs: 3_600_000 });
  const ids = (list: Array<{ key: string }>): string[] => list.map((e) => e.key).sort();
  try {
    await s.rate.add('k', 1, 60_000, now);
    await s.rate.add('k', 1, 60_000, now); // same bucket: one id
    const first = s.exportCounters();
    assert.deepEqual(ids(first), [`rate|60000|${bucketOf(now, bucketWidth(60_000))}|k`]);
    assert.equal(first[0]?.value, 2);
    assert.deepEqual(s.exportCounters(), [], 'nothing changed since the export');
    // The same bucket again, after the export handed out the dirty set: it must be exported again.
    await s.rate.add('k', 3, 60_000, now);
    const second = s.exportCounters();
    assert.deepEqual(ids(second), ids(first));
    assert.equal(second[0]?.value, 5);
    // A failed save puts the ids back.
    s.markDirty(second.map((e) => e.key));
    assert.deepEqual(ids(s.exportCounters()), ids(first));
    // A new bucket is a new id.
    now += 2 * bucketWidth(60_000);
    await s.rate.add('k', 1, 60_000, now);
    assert.deepEqual(ids(s.exportCounters()), [`rate|60000|${bucketOf(now, bucketWidth(60_000))}|k`]);
  } finally {
    await s.close();
  }
});

test('memory rate windows: another window length starts the key afresh; sweep drops windows that emptied', async () => {
  let now = 9_000_000;
  const s = new MemoryState({ clock: { now: () => now }, sweepMs: 3_600_000 });
  try {
    await s.rate.add('k', 4, 60_000, now);
    assert.equal(await s.rate.peek('k', 60_000, now), 4);
    assert.equal(await s.rate.peek('k', 1_000, now), 0, 'a 1 s window of the same key starts empty');
    await s.rate.add('k', 2, 1_000, now);
    assert.equal(await s.rate.peek('k', 1_000, now), 2);
    now += 2_000;
    assert.equal(await s.rate.peek('k', 1_000, now), 0, 'the 1 s window slid past its bucket');
    await s.rate.add('other', 1, 1_000, now);
    now += 5_000;
    s.sweep();
    assert.deepEqual(s.exportCounters(false).filter((e) => e.key.startsWith('rate|')), [], 'no rate bucket left after the sweep');
    // A swept key counts from zero again, with its running total intact.
    await s.rate.add('other', 3, 1_000, now);
    assert.equal(await s.rate.peek('other', 1_000, now), 3);
  } finally {
    await s.close();
  }
});

test('a closed memory state refuses every limiter operation, also one given its own time (the limiter passes the request\'s)', async () => {
  const s = new MemoryState({ clock: { now: () => 1_000_000 }, sweepMs: 3_600_000 });
  const now = 1_000_000;
  assert.equal(s.immediate.rate.acquire('rpm:k', { limit: 10, windowMs: 60_000, now }).ok, true);
  await s.close();
  const closed = /the memory state is closed/;
  const calls: Array<[string, () => unknown]> = [
    ['rate.acquire', () => s.immediate.rate.acquire('rpm:k', { limit: 10, windowMs: 60_000, now })],
    ['rate.peek', () => s.immediate.rate.peek('rpm:k', 60_000, now)],
    ['rate.add', () => s.immediate.rate.add('tpm:k', 5, 60_000, now)],
    ['day.acquire', () => s.immediate.day.acquire('rpd:k', { day: '2026-12-05', limit: 10 })],
    ['day.add', () => s.immediate.day.add('tpd:k', '2026-12-05', 5)],
    ['day.get', () => s.immediate.day.get('tpd:k', '2026-12-05')],
    ['inflight.acquire', () => s.immediate.inflight.acquire('conc:k', 2, 60_000)],
    ['inflight.count', () => s.immediate.inflight.count('conc:k')],
  ];
  for (const [name, call] of calls) assert.throws(call, closed, name);
  // The promise interface rejects instead of throwing.
  await assert.rejects(s.rate.acquire('rpm:k', { limit: 10, windowMs: 60_000, now }), closed);
  await assert.rejects(s.inflight.release('conc:k', 'lease'), closed);
});
