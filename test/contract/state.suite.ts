/**
 * The state contract (src/state/types.ts), run against memory and Redis by state.test.ts. Windows
 * are short (hundreds of ms) so the sliding behaviour is checked on real time, the only clock the
 * Redis scripts know.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { dayKey } from '../../src/core/clock.ts';
import { admit } from '../../src/limits/state-limiter.ts';
import type { State } from '../../src/state/types.ts';
import { eventually, sleep } from './backends.ts';

export interface StateAdapter {
  name: string;
  /** A fresh state whose keys no other test sees. */
  open(): Promise<State>;
}

/** Open a fresh state, run `fn`, always close it. */
function runner(adapter: StateAdapter) {
  return (fn: (s: State) => Promise<void>) => async () => {
    const s = await adapter.open();
    try {
      await fn(s);
    } finally {
      await s.close();
    }
  };
}

export function stateSuite(adapter: StateAdapter): void {
  rateTests(adapter);
  counterTests(adapter);
  breakerTests(adapter);
  limitTests(adapter);
}

/** The endpoint and client-key limits (limits/state-limiter.ts `admit`) over this state. */
function limitTests(adapter: StateAdapter): void {
  const run = runner(adapter);
  describe(`${adapter.name} state: limits`, { timeout: 15_000 }, () => {
    test('admit refuses by the first limit that is full, and a refusal takes nothing', run(async (s) => {
      const tz = 'UTC';
      // Each case with the reasons its four requests get (the first settles 150 tokens).
      const cases: Array<[string, Record<string, number>, string[]]> = [
        ['a', { rpm: 2 }, ['ok', 'ok', 'rpm', 'rpm']],
        ['b', { rpd: 2 }, ['ok', 'ok', 'rpd', 'rpd']],
        ['c', { rpd: 5, rpm: 1, concurrency: 3 }, ['ok', 'rpm', 'rpm', 'rpm']],
        ['d', { concurrency: 1 }, ['ok', 'ok', 'concurrency', 'concurrency']],
        ['e', { tpm: 100 }, ['ok', 'tpm', 'tpm', 'tpm']],
        ['f', { tpd: 100, rpm: 3 }, ['ok', 'tpd', 'tpd', 'tpd']],
      ];
      for (const [key, l, reasons] of cases) {
        const got: string[] = [];
        for (let i = 0; i < 4; i++) {
          const p = await admit(s, key, l, Date.now(), tz);
          got.push(p.ok ? 'ok' : p.reason);
          if (i === 0 && p.ok) p.settle(150);
          // Settling is fire-and-forget: let it land before the next request.
          await eventually(async () => i !== 0 || !l.tpm || (await s.rate.peek(`tpm:${key}`, 60_000)) >= 150, 2000);
          await eventually(async () => i !== 0 || !l.tpd || (await s.day.get(`tpd:${key}`, dayKey(Date.now(), tz))) >= 150, 2000);
          await eventually(async () => i !== 0 || !l.concurrency || l.concurrency > 1 || (await s.inflight.count(`conc:${key}`)) === 0, 2000);
        }
        assert.deepEqual(got, reasons, `${JSON.stringify(l)}`);
      }
      // Refused by concurrency: neither the day nor the minute keeps the refused request.
      const held = await admit(s, 'g', { rpd: 10, rpm: 2, concurrency: 1 }, Date.now(), tz);
      assert.equal(held.ok, true);
      const refused = await admit(s, 'g', { rpd: 10, rpm: 2, concurrency: 1 }, Date.now(), tz);
      assert.deepEqual([refused.ok, !refused.ok && refused.reason], [false, 'concurrency']);
      assert.equal(await s.rate.peek('rpm:g', 60_000), 1);
      assert.equal(await s.day.get('rpd:g', dayKey(Date.now(), tz)), 1);
    }));
  });
}

function rateTests(adapter: StateAdapter): void {
  const run = runner(adapter);
  describe(`${adapter.name} state: rate windows`, { timeout: 15_000 }, () => {
    test('admits up to the limit, then refuses with a retry time inside the window', run(async (s) => {
      const o = { limit: 3, windowMs: 60_000 };
      const results = [];
      for (let i = 0; i < 5; i++) results.push(await s.rate.acquire('ep:rpm', o));
      assert.deepEqual(results.map((r) => [r.ok, r.count]), [[true, 1], [true, 2], [true, 3], [false, 3], [false, 3]]);
      const retry = results[3]?.retryAfterMs ?? 0;
      assert.ok(retry > 58_000 && retry <= 61_000, `retryAfterMs ${retry} ≈ one window (+ at most one 1 s bucket)`);
      assert.equal(await s.rate.peek('ep:rpm', 60_000), 3);
      assert.equal(await s.rate.peek('other', 60_000), 0, 'keys are independent');
    }));

    test('the window slides: after retryAfterMs the next acquire fits', run(async (s) => {
      const o = { limit: 2, windowMs: 600 };
      await s.rate.acquire('slide', o);
      await s.rate.acquire('slide', o);
      const refused = await s.rate.acquire('slide', o);
      assert.equal(refused.ok, false);
      assert.ok(refused.retryAfterMs > 0 && refused.retryAfterMs <= 610, `retry ${refused.retryAfterMs}`);
      await sleep(refused.retryAfterMs + 15);
      assert.equal((await s.rate.acquire('slide', o)).ok, true);
    }));

    test('costs count as units (TPM); a cost above the limit never fits', run(async (s) => {
      const o = { limit: 1000, windowMs: 60_000 };
      assert.deepEqual(await s.rate.acquire('tpm', { ...o, cost: 700 }), { ok: true, count: 700, retryAfterMs: 0 });
      assert.equal((await s.rate.acquire('tpm', { ...o, cost: 400 })).ok, false);
      assert.equal((await s.rate.acquire('tpm', { ...o, cost: 299.2 })).count, 1000, 'fractions round up');
      assert.deepEqual(await s.rate.acquire('tpm2', { ...o, cost: 1001 }), { ok: false, count: 0, retryAfterMs: 60_000 });
    }));

    test('add settles actual usage, also downwards, never below 0', run(async (s) => {
      await s.rate.acquire('settle', { limit: 1000, windowMs: 60_000, cost: 500 });
      assert.equal(await s.rate.add('settle', -380, 60_000), 120);
      assert.equal(await s.rate.add('settle', 30, 60_000), 150);
      assert.equal(await s.rate.add('settle', -9.7, 60_000), 141, 'a fractional refund never refunds more than asked');
      assert.equal(await s.rate.add('settle', -1000, 60_000), 0);
      assert.equal(await s.rate.peek('settle', 60_000), 0);
    }));

    test('a negative limit is unlimited but counted; 0 admits nothing', run(async (s) => {
      for (let i = 0; i < 5; i++) assert.equal((await s.rate.acquire('unl', { limit: -1, windowMs: 60_000 })).ok, true);
      assert.equal(await s.rate.peek('unl', 60_000), 5);
      assert.equal((await s.rate.acquire('zero', { limit: 0, windowMs: 60_000 })).ok, false);
    }));

    test('concurrent acquires admit exactly the limit', run(async (s) => {
      const results = await Promise.all(Array.from({ length: 50 }, () => s.rate.acquire('burst', { limit: 10, windowMs: 60_000 })));
      assert.equal(results.filter((r) => r.ok).length, 10);
    }));
  });
}

function counterTests(adapter: StateAdapter): void {
  const run = runner(adapter);
  describe(`${adapter.name} state: day counters, in-flight, round-robin`, { timeout: 15_000 }, () => {
    test('day counters are keyed by the day string', run(async (s) => {
      assert.deepEqual(await s.day.acquire('ep:rpd', { day: '20260101', limit: 2 }), { ok: true, count: 1 });
      assert.deepEqual(await s.day.acquire('ep:rpd', { day: '20260101', limit: 2 }), { ok: true, count: 2 });
      assert.deepEqual(await s.day.acquire('ep:rpd', { day: '20260101', limit: 2 }), { ok: false, count: 2 });
      assert.deepEqual(await s.day.acquire('ep:rpd', { day: '20260102', limit: 2 }), { ok: true, count: 1 }, 'a new day starts at 0');
      assert.equal(await s.day.get('ep:rpd', '20260101'), 2);
      assert.equal(await s.day.get('ep:rpd', '20251231'), 0);
      assert.equal(await s.day.add('ep:tpd', '20260101', 1500), 1500);
      assert.equal(await s.day.add('ep:tpd', '20260101', -2000), 0, 'never below 0');
      assert.equal((await s.day.acquire('ep:tpd', { day: '20260101', limit: 100, cost: 101 })).ok, false);
    }));

    test('in-flight slots: acquire to the limit, release frees one, unknown leases are ignored', run(async (s) => {
      const a = await s.inflight.acquire('ep:conc', 2, 60_000);
      const b = await s.inflight.acquire('ep:conc', 2, 60_000);
      const c = await s.inflight.acquire('ep:conc', 2, 60_000);
      assert.deepEqual([a.ok, a.count, b.ok, b.count, c.ok, c.count, c.lease], [true, 1, true, 2, false, 2, null]);
      assert.equal(await s.inflight.release('ep:conc', a.lease ?? ''), 1);
      assert.equal(await s.inflight.release('ep:conc', 'no-such-lease'), 1);
      assert.equal(await s.inflight.release('ep:conc', a.lease ?? ''), 1, 'releasing twice is a no-op');
      assert.equal((await s.inflight.acquire('ep:conc', 2, 60_000)).ok, true);
      assert.equal(await s.inflight.count('ep:conc'), 2);
    }));

    test('in-flight leases expire by themselves (a crashed holder cannot leak slots)', run(async (s) => {
      assert.equal((await s.inflight.acquire('leak', 1, 150)).ok, true);
      assert.equal((await s.inflight.acquire('leak', 1, 150)).ok, false);
      await sleep(200);
      assert.equal(await s.inflight.count('leak'), 0);
      assert.equal((await s.inflight.acquire('leak', 1, 150)).ok, true);
    }));

    test('round-robin positions count 0, 1, 2 per key', run(async (s) => {
      assert.deepEqual([await s.rr.next('route:a'), await s.rr.next('route:a'), await s.rr.next('route:b'), await s.rr.next('route:a')], [0, 1, 0, 2]);
    }));
  });
}

function breakerTests(adapter: StateAdapter): void {
  const run = runner(adapter);
  describe(`${adapter.name} state: breakers`, { timeout: 15_000 }, () => {
    test('set, get, getAll and delete; entries expire after their ttl', run(async (s) => {
      await s.breakers.set('ep1', '{"state":"open"}', 60_000);
      await s.breakers.set('ep2', '{"state":"half-open"}', 150);
      assert.equal(await s.breakers.get('ep1'), '{"state":"open"}');
      assert.deepEqual([...(await s.breakers.getAll())].sort(), [['ep1', '{"state":"open"}'], ['ep2', '{"state":"half-open"}']]);
      await sleep(200);
      assert.equal(await s.breakers.get('ep2'), undefined);
      assert.deepEqual([...(await s.breakers.getAll()).keys()], ['ep1']);
      await s.breakers.delete('ep1');
      assert.equal((await s.breakers.getAll()).size, 0);
    }));

    test('onChange hears sets and deletes; unsubscribing stops it', run(async (s) => {
      const seen: [string, string | undefined][] = [];
      const off = s.breakers.onChange((id, snap) => seen.push([id, snap]));
      s.breakers.onChange(() => {
        throw new Error('a faulty listener');
      });
      await s.breakers.set('ep1', 'open', 60_000);
      await s.breakers.delete('ep1');
      assert.ok(await eventually(() => seen.length >= 2, 1000), 'both changes within a second');
      assert.deepEqual(seen, [['ep1', 'open'], ['ep1', undefined]]);
      off();
      await s.breakers.set('ep1', 'again', 60_000);
      await sleep(100);
      assert.equal(seen.length, 2);
    }));

    test('health reports the backend, not degraded', run(async (s) => {
      assert.deepEqual(s.health(), { backend: adapter.name, degraded: false });
    }));
  });
}
