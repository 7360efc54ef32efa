import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { abortAfter, pendingTimeouts } from './timeouts.ts';

const bounded = { timeout: 10_000 };

/** An abort target that records when it was aborted, and with what. */
function target(): { abort(reason: unknown): void; at: number | null; reasons: unknown[] } {
  const t = {
    at: null as number | null,
    reasons: [] as unknown[],
    abort(reason: unknown): void {
      t.at ??= performance.now();
      t.reasons.push(reason);
    },
  };
  return t;
}

function activeNodeTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

test('a timeout fires once, with its reason, never before its time and within a slot after it', bounded, async () => {
  const now = performance.now();
  const a = target();
  const b = target();
  abortAfter(now, 30, a, 'a-reason');
  abortAfter(now, 55, b, 'b-reason');
  await sleep(150);
  assert.deepEqual(a.reasons, ['a-reason']);
  assert.deepEqual(b.reasons, ['b-reason']);
  assert.ok(a.at! - now >= 30, `a fired after ${a.at! - now} ms`);
  assert.ok(b.at! - now >= 55, `b fired after ${b.at! - now} ms`);
  // One slot is 10 ms; the rest is the event loop's own lateness on a busy machine.
  assert.ok(a.at! - now < 30 + 80, `a fired after ${a.at! - now} ms`);
  assert.equal(pendingTimeouts(), 0);
});

test('the time counts from the reading the caller passes, not from the call', bounded, async () => {
  const a = target();
  const t0 = performance.now() - 40;
  abortAfter(t0, 50, a, 'x');
  await sleep(35);
  assert.deepEqual(a.reasons, ['x'], 'due 50 ms after a reading taken 40 ms ago');
});

test('cancelled timeouts never fire; cancelling twice, or after firing, does nothing', bounded, async () => {
  const now = performance.now();
  const a = target();
  const b = target();
  const c = target();
  const ta = abortAfter(now, 20, a, 'a');
  const tb = abortAfter(now, 20, b, 'b');
  const tc = abortAfter(now, 20, c, 'c');
  tb.cancel();
  tb.cancel();
  await sleep(80);
  assert.deepEqual(a.reasons, ['a']);
  assert.deepEqual(b.reasons, []);
  assert.deepEqual(c.reasons, ['c']);
  ta.cancel();
  tc.cancel();
  assert.equal(pendingTimeouts(), 0);
});

test('no Node timer is left once every timeout is cancelled: a pending one keeps the process alive, none lingers', bounded, () => {
  const before = activeNodeTimers();
  const now = performance.now();
  // Thousands of requests' deadlines and attempt timeouts, spread over a few slots.
  const ts = [];
  for (let i = 0; i < 5000; i++) ts.push(abortAfter(now + (i % 40), i % 2 ? 120_000 : 90_000, target(), 'x'));
  assert.equal(pendingTimeouts(), 5000);
  const during = activeNodeTimers() - before;
  assert.ok(during >= 1 && during <= 20, `${during} Node timers for 5000 timeouts`);
  for (const t of ts) t.cancel();
  assert.equal(pendingTimeouts(), 0);
  assert.equal(activeNodeTimers(), before);
});

test('an abort that cancels another timeout of the same slot stops that one', bounded, async () => {
  const now = performance.now();
  const b = target();
  // Both fall into one slot; whichever fires first cancels the other.
  let other: { cancel(): void } | null = null;
  const a = { aborted: 0, abort(): void { this.aborted++; other?.cancel(); } };
  const c = { aborted: 0, abort(): void { this.aborted++; first.cancel(); } };
  const first = abortAfter(now, 25, a, 'a');
  other = abortAfter(now, 25, c, 'c');
  abortAfter(now, 25, b, 'b');
  await sleep(90);
  assert.equal(a.aborted + c.aborted, 1, 'exactly one of the two fired');
  assert.deepEqual(b.reasons, ['b'], 'the rest of the slot still fires');
  assert.equal(pendingTimeouts(), 0);
});

test('a timeout further away than Node\'s longest timer delay waits, rather than firing or spinning', bounded, async () => {
  const a = target();
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.name);
  process.on('warning', onWarning);
  try {
    const t = abortAfter(performance.now(), 40 * 86_400_000, a, 'far');
    await sleep(50);
    assert.deepEqual(a.reasons, [], 'not fired');
    assert.equal(pendingTimeouts(), 1);
    t.cancel();
    assert.equal(pendingTimeouts(), 0);
    await sleep(10);
    assert.deepEqual(warnings.filter((w) => w === 'TimeoutOverflowWarning'), []);
  } finally {
    process.off('warning', onWarning);
  }
});
