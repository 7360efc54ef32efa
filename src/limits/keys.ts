/**
 * Limits of client keys (SPEC §6): the endpoint limits (rpm, rpd, tpm, tpd, concurrency) applied to a
 * principal, plus token budgets per day and per month. Denials are 429 in the OpenAI shape with an
 * honest Retry-After.
 */
import type { ClientPrincipal } from '../config/compile.ts';
import { dayKey, nextDayStart } from '../core/clock.ts';
import { LlmuxError } from '../core/errors.ts';
import type { State } from '../state/types.ts';
import { admit, hasLimits } from './state-limiter.ts';

export interface PrincipalPermit {
  settle(tokens: number): void;
}

const noop: PrincipalPermit = { settle: () => {} };

/**
 * A calendar month's tokens are kept as a sliding window longer than any month, under a key that
 * names the month: every token of this month is inside the window, and the key changes on the 1st.
 * Not a day counter (`State.day`): those expire two days after their last write, so a key idle for
 * three days would get its monthly budget back.
 */
const monthWindowMs = 32 * 86_400_000;

function monthStart(now: number, tz: string): number {
  // The first day of next month, found by walking day starts (at most 31 steps, once per denial).
  let t = nextDayStart(now, tz);
  while (dayKey(t, tz).slice(6) !== '01') t = nextDayStart(t, tz);
  return t;
}

export class PrincipalLimiter {
  readonly #state: State;
  readonly #tz: () => string;

  constructor(state: State, timezone: () => string) {
    this.#state = state;
    this.#tz = timezone;
  }

  /** A key without limits or budgets is admitted at once, without a promise (the request path's common case). */
  admit(p: ClientPrincipal | null, now: number): PrincipalPermit | Promise<PrincipalPermit> {
    if (p === null || (!p.limits && !p.budgetTokens)) return noop;
    return this.#admitLimited(p, now);
  }

  async #admitLimited(p: ClientPrincipal, now: number): Promise<PrincipalPermit> {
    const tz = this.#tz();
    const day = dayKey(now, tz);
    const month = day.slice(0, 6);
    const b = p.budgetTokens;
    if (b?.day !== undefined && (await this.#state.day.get(`budget:${p.id}`, day)) >= b.day) {
      throw new LlmuxError('LLMUX_ERR_BUDGET_EXCEEDED', `This API key has used its daily token budget (${b.day}); it renews at midnight (${tz}).`, { retryAfterS: (nextDayStart(now, tz) - now) / 1000 });
    }
    if (b?.month !== undefined && (await this.#state.rate.peek(`budget:${p.id}:${month}`, monthWindowMs, now)) >= b.month) {
      throw new LlmuxError('LLMUX_ERR_BUDGET_EXCEEDED', `This API key has used its monthly token budget (${b.month}); it renews on the 1st (${tz}).`, { retryAfterS: (monthStart(now, tz) - now) / 1000 });
    }
    let inner: PrincipalPermit = noop;
    if (p.limits && hasLimits(p.limits)) {
      const r = await admit(this.#state, `key:${p.id}`, p.limits, now, tz);
      if (!r.ok) {
        throw new LlmuxError('LLMUX_ERR_RATE_LIMITED', `This API key is over its ${r.reason} limit; retry after the Retry-After time.`, { retryAfterS: Math.max(1, (r.retryAt - now) / 1000) });
      }
      inner = r;
    }
    const state = this.#state;
    return {
      settle(tokens: number): void {
        inner.settle(tokens);
        if (tokens > 0 && b) {
          if (b.day !== undefined) void state.day.add(`budget:${p.id}`, day, tokens).catch(() => undefined);
          if (b.month !== undefined) void state.rate.add(`budget:${p.id}:${month}`, tokens, monthWindowMs).catch(() => undefined);
        }
      },
    };
  }
}
