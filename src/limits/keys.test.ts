import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientPrincipal } from '../config/compile.ts';
import { ManualClock } from '../core/clock.ts';
import { LlmuxError } from '../core/errors.ts';
import { MemoryState } from '../state/memory.ts';
import { PrincipalLimiter } from './keys.ts';

const bounded = { timeout: 10_000 };
const day = 86_400_000;

function principal(extra: Partial<ClientPrincipal>): ClientPrincipal {
  return { id: 'k1', name: 'k1', hash: '', prefix: 'k1', limits: undefined, models: undefined, budgetTokens: undefined, expiresAt: undefined, source: 'file', ...extra };
}

function setup() {
  const clock = new ManualClock(Date.UTC(2026, 0, 1, 12));
  const state = new MemoryState({ clock, sweepMs: 3_600_000 });
  return { clock, state, limiter: new PrincipalLimiter(state, () => 'UTC') };
}

async function denied(p: unknown): Promise<LlmuxError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof LlmuxError);
    return e;
  }
  assert.fail('admitted');
}

test('a daily token budget is spent by settled tokens and renews at midnight', bounded, async () => {
  const { clock, state, limiter } = setup();
  const p = principal({ budgetTokens: { day: 100 } });
  try {
    (await limiter.admit(p, clock.now())).settle(100);
    await new Promise((r) => setImmediate(r));
    const e = await denied(limiter.admit(p, clock.now()));
    assert.equal(e.apiCode, 'budget_exceeded');
    assert.equal(e.retryAfterS, 12 * 3600);
    clock.advance(day);
    await limiter.admit(p, clock.now());
  } finally {
    await state.close();
  }
});

test('a monthly token budget holds on the following days of the month', bounded, async () => {
  const { clock, state, limiter } = setup();
  const p = principal({ budgetTokens: { month: 100 } });
  try {
    (await limiter.admit(p, clock.now())).settle(100);
    await new Promise((r) => setImmediate(r));
    clock.advance(day);
    assert.equal((await denied(limiter.admit(p, clock.now()))).apiCode, 'budget_exceeded');
    clock.advance(31 * day);
    await limiter.admit(p, clock.now());
  } finally {
    await state.close();
  }
});

// Regression: the month's total was a day counter (`State.day`), which expires two days after its
// last write, so a key idle for three days got its monthly budget back.
test('a monthly token budget still holds after the key was idle for three weeks', bounded, async () => {
  const { clock, state, limiter } = setup();
  const p = principal({ budgetTokens: { month: 100 } });
  try {
    (await limiter.admit(p, clock.now())).settle(100);
    await new Promise((r) => setImmediate(r));
    clock.advance(3 * day);
    assert.equal((await denied(limiter.admit(p, clock.now()))).apiCode, 'budget_exceeded');
    clock.advance(26 * day); // Jan 30
    const e = await denied(limiter.admit(p, clock.now()));
    assert.equal(e.retryAfterS, 2 * 86_400 - 12 * 3600, 'renews on Feb 1st');
    clock.advance(2 * day); // Feb 1
    await limiter.admit(p, clock.now());
  } finally {
    await state.close();
  }
});
