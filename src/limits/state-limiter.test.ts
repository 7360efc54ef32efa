import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dayKey } from '../core/clock.ts';
import { MemoryState } from '../state/memory.ts';
import type { State } from '../state/types.ts';
import { admit, drive } from './state-limiter.ts';

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

/** The memory state seen only through its asynchronous interface, as the Redis adapter is. */
function asyncOnly(s: MemoryState): State {
  return { rate: s.rate, day: s.day, inflight: s.inflight, breakers: s.breakers, rr: s.rr, health: () => s.health(), close: () => s.close() };
}

test('admit: the memory state answers at once, an asynchronous state by promise, with the same answers', async () => {
  const now = Date.now();
  // Each case with the reasons its four requests get (the first request settles 150 tokens).
  const cases: Array<[Record<string, number>, string[]]> = [
    [{ rpm: 2 }, ['ok', 'ok', 'rpm', 'rpm']],
    [{ rpd: 2 }, ['ok', 'ok', 'rpd', 'rpd']],
    [{ rpd: 5, rpm: 1, concurrency: 3 }, ['ok', 'rpm', 'rpm', 'rpm']],
    [{ concurrency: 1 }, ['ok', 'ok', 'concurrency', 'concurrency']],
    [{ tpm: 100 }, ['ok', 'tpm', 'tpm', 'tpm']],
    [{ tpd: 100, rpm: 3 }, ['ok', 'tpd', 'tpd', 'tpd']],
  ];
  for (const [l, reasons] of cases) {
    const direct = new MemoryState();
    const viaPromises = new MemoryState();
    try {
      const seen: [string, string][] = [];
      for (let i = 0; i < 4; i++) {
        const a = admit(direct, 'ep', l, now, tz);
        assert.ok(!(a instanceof Promise), `memory answers ${JSON.stringify(l)} without a promise`);
        const b = admit(asyncOnly(viaPromises), 'ep', l, now, tz);
        assert.ok(b instanceof Promise, 'a state without `immediate` answers by promise');
        const answer = (x: Awaited<ReturnType<typeof admit>>): string => (x.ok ? 'ok' : `${x.reason}@${x.retryAt - now}`);
        seen.push([answer(a), answer(await b)]);
        // Tokens settled on the first request fill the token windows for the next ones.
        if (i === 0 && a.ok) a.settle(150);
        const bb = await b;
        if (i === 0 && bb.ok) bb.settle(150);
        await new Promise((r) => setImmediate(r));
      }
      for (const [a, b] of seen) assert.equal(a, b, `${JSON.stringify(l)}: ${JSON.stringify(seen)}`);
      assert.deepEqual(seen.map(([a]) => a.split('@')[0]), reasons, JSON.stringify(l));
    } finally {
      await direct.close();
      await viaPromises.close();
    }
  }
});

test('drive: plain answers run at once; promises are awaited and their rejections thrown into the steps', async () => {
  function* steps(values: unknown[]): Generator<unknown, unknown[], unknown> {
    const got: unknown[] = [];
    for (const v of values) {
      try {
        got.push(yield v);
      } catch (e) {
        got.push(`caught ${(e as Error).message}`);
      }
    }
    return got;
  }
  assert.deepEqual(drive(steps([1, 2, 3])), [1, 2, 3]);
  const mixed = drive(steps([1, Promise.resolve(2), 3, Promise.reject(new Error('no')), 5]));
  assert.ok(mixed instanceof Promise);
  assert.deepEqual(await mixed, [1, 2, 3, 'caught no', 5]);
  // A thenable that is not a native promise (a client library's own) is awaited too.
  const thenable = { then: (ok: (v: unknown) => void) => setImmediate(() => ok('later')) };
  const viaThenable = drive(steps([thenable, 7]));
  assert.ok(viaThenable instanceof Promise);
  assert.deepEqual(await viaThenable, ['later', 7]);
  // A step that throws: synchronously before any promise, as a rejection after one.
  function* throwsAfter(first: unknown): Generator<unknown, never, unknown> {
    yield first;
    throw new Error('step failed');
  }
  assert.throws(() => drive(throwsAfter(1)), /step failed/);
  await assert.rejects(async () => drive(throwsAfter(Promise.resolve(1))), /step failed/);
  // An uncaught rejection ends the steps with it.
  function* uncaught(): Generator<unknown, string, unknown> {
    yield Promise.reject(new Error('state down'));
    return 'not reached';
  }
  await assert.rejects(async () => drive(uncaught()), /state down/);
});

test('admit: a request refused by concurrency gives back the rpm unit it took', async () => {
  for (const through of ['immediate', 'promises'] as const) {
    const s = new MemoryState();
    const st = through === 'immediate' ? s : asyncOnly(s);
    const now = Date.now();
    try {
      const l = { rpm: 2, concurrency: 1 };
      const first = await admit(st, 'ep', l, now, tz);
      assert.equal(first.ok, true);
      const second = await admit(st, 'ep', l, now, tz);
      assert.deepEqual([second.ok, !second.ok && second.reason], [false, 'concurrency'], through);
      assert.equal(await s.rate.peek('rpm:ep', 60_000, now), 1, `${through}: the refused request used no rpm`);
      if (first.ok) first.settle(0);
      await new Promise((r) => setImmediate(r));
      const third = await admit(st, 'ep', l, now, tz);
      assert.equal(third.ok, true, `${through}: the second rpm unit is still there`);
    } finally {
      await s.close();
    }
  }
});
