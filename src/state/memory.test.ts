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
