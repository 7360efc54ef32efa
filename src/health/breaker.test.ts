import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Breaker } from './breaker.ts';

const bounded = { timeout: 5_000 };
const settings = { failures: 3, cooldownMs: 1_000, maxCooldownMs: 10_000 };
const t0 = Date.UTC(2026, 0, 1);

function opened(b = new Breaker(settings), at = t0): Breaker {
  for (let i = 0; i < settings.failures; i++) b.onFailure('transient', at);
  return b;
}

test('starts closed and admits every attempt', bounded, () => {
  const b = new Breaker(settings);
  assert.equal(b.state(t0), 'closed');
  assert.ok(b.isAvailable(t0));
  assert.ok(b.tryAcquire(t0));
  assert.ok(b.tryAcquire(t0), 'closed admits many at once');
});

test('failures consecutive countable failures open it for cooldownMs', bounded, () => {
  const b = new Breaker(settings);
  b.onFailure('transient', t0);
  b.onFailure('timeout', t0);
  assert.equal(b.state(t0), 'closed', 'two of three is not enough');
  b.onFailure('connect', t0);
  assert.equal(b.state(t0), 'open');
  assert.equal(b.reason, 'failures');
  assert.equal(b.openUntil, t0 + 1_000);
  assert.equal(b.isAvailable(t0 + 999), false);
  assert.equal(b.availableAt(t0 + 10), t0 + 1_000);
});

test('a success in between resets the count', bounded, () => {
  const b = new Breaker(settings);
  b.onFailure('transient', t0);
  b.onFailure('transient', t0);
  b.onSuccess();
  b.onFailure('transient', t0);
  b.onFailure('transient', t0);
  assert.equal(b.state(t0), 'closed');
  assert.equal(b.consecutiveFailures, 2);
});

test('caller and canceled failures never count', bounded, () => {
  const b = new Breaker(settings);
  for (let i = 0; i < 10; i++) {
    b.onFailure('caller', t0);
    b.onFailure('canceled', t0);
  }
  assert.equal(b.state(t0), 'closed');
  assert.equal(b.consecutiveFailures, 0);
});

test('after the cooldown it is half-open and lets exactly one probe through', bounded, () => {
  const b = opened();
  const later = t0 + 1_000;
  assert.equal(b.state(later), 'half-open');
  assert.ok(b.isAvailable(later));
  assert.equal(b.tryAcquire(later), true, 'the first taker is the probe');
  assert.equal(b.tryAcquire(later), false, 'a second one is refused while the probe is out');
  assert.equal(b.isAvailable(later + 1), false);
});

test('a successful probe closes it and resets the doubling', bounded, () => {
  const b = opened();
  const later = t0 + 1_000;
  assert.ok(b.tryAcquire(later));
  b.onSuccess();
  assert.equal(b.state(later), 'closed');
  assert.equal(b.reason, null);
  opened(b, later);
  assert.equal(b.openUntil, later + 1_000, 'cooldown back to the base after a success');
});

test('a failed probe re-opens it with a doubled cooldown, capped at maxCooldownMs', bounded, () => {
  const b = opened();
  let now = t0;
  const cooldowns: number[] = [b.openUntil - now];
  for (let i = 0; i < 6; i++) {
    now = b.openUntil;
    assert.equal(b.state(now), 'half-open');
    assert.ok(b.tryAcquire(now));
    b.onFailure('transient', now);
    assert.equal(b.state(now), 'open', 'one failed probe is enough to re-open');
    cooldowns.push(b.openUntil - now);
  }
  assert.deepEqual(cooldowns, [1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000]);
});

test('a probe released without a verdict frees the slot for the next one', bounded, () => {
  const b = opened();
  const later = t0 + 1_000;
  assert.ok(b.tryAcquire(later));
  b.onFailure('caller', later);
  assert.equal(b.state(later), 'half-open');
  assert.ok(b.tryAcquire(later), 'a caller error says nothing about the endpoint');
  b.release();
  assert.ok(b.tryAcquire(later));
});

test('a probe that never reports frees up after a cooldown', bounded, () => {
  const b = opened();
  const later = t0 + 1_000;
  assert.ok(b.tryAcquire(later));
  assert.equal(b.tryAcquire(later + 500), false);
  assert.ok(b.tryAcquire(later + 1_001));
});

test('rate_limit opens for exactly the stated Retry-After, even on the first failure', bounded, () => {
  const b = new Breaker(settings);
  b.onFailure('rate_limit', t0, { retryAfterMs: 7_000 });
  assert.equal(b.state(t0), 'open');
  assert.equal(b.reason, 'rate_limited');
  assert.equal(b.openUntil, t0 + 7_000);
});

test('rate_limit without a stated wait uses cooldownMs', bounded, () => {
  const b = new Breaker(settings);
  b.onFailure('rate_limit', t0);
  assert.equal(b.openUntil, t0 + 1_000);
});

test('a later, longer Retry-After extends an open breaker; a shorter one never shortens it', bounded, () => {
  const b = new Breaker(settings);
  b.onFailure('rate_limit', t0, { retryAfterMs: 5_000 });
  b.onFailure('rate_limit', t0 + 1_000, { retryAfterMs: 10_000 });
  assert.equal(b.openUntil, t0 + 11_000, 'extended');
  b.onFailure('rate_limit', t0 + 2_000, { retryAfterMs: 1_000 });
  assert.equal(b.openUntil, t0 + 11_000, 'not shortened');
  b.onFailure('transient', t0 + 2_000);
  assert.ok(b.openUntil >= t0 + 11_000, 'a failure-count opening does not shorten it either');
});

test('quota opens until the day resets', bounded, () => {
  const b = new Breaker(settings);
  const reset = t0 + 86_400_000;
  b.onFailure('quota', t0, { dayResetAt: reset });
  assert.equal(b.reason, 'quota');
  assert.equal(b.openUntil, reset);
  assert.equal(b.state(reset - 1), 'open');
  assert.equal(b.state(reset), 'half-open');
});

test('quota that states its wait opens for that wait, not until the day resets', bounded, () => {
  const b = new Breaker(settings);
  b.onFailure('quota', t0, { retryAfterMs: 36_000, dayResetAt: t0 + 86_400_000 });
  assert.equal(b.reason, 'quota');
  assert.equal(b.openUntil, t0 + 36_000);
});

test('credential opens for maxCooldownMs and says auth_failed', bounded, () => {
  const b = new Breaker(settings);
  b.onFailure('credential', t0);
  assert.equal(b.reason, 'auth_failed');
  assert.equal(b.openUntil, t0 + 10_000);
});

test('a failed health check opens it at once', bounded, () => {
  const b = new Breaker(settings);
  b.onProbeFailure(t0);
  assert.equal(b.state(t0), 'open');
  assert.equal(b.reason, 'health_check');
});

test('snapshot and restore round-trip the whole state', bounded, () => {
  const b = opened();
  const copy = new Breaker(settings, b.snapshot());
  assert.deepEqual(copy.snapshot(), b.snapshot());
  assert.equal(copy.state(t0), 'open');
  const c = new Breaker(settings);
  c.restore(b.snapshot());
  assert.equal(c.openUntil, b.openUntil);
});
