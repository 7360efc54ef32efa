/**
 * The breaker of one endpoint (SPEC §5): a pure state machine over an injected clock.
 *
 * - closed: requests pass; `failures` consecutive countable failures open it for `cooldownMs`,
 *   doubled on every consecutive re-opening up to `maxCooldownMs`.
 * - open: nothing passes until `openUntil`; then it is half-open.
 * - half-open: one probe passes; success closes it (and resets the doubling), failure re-opens it.
 * - `rate_limit` opens it for exactly the upstream's stated wait (later, longer waits extend it; a
 *   shorter one never shortens it); `quota` for its stated wait if it gives one, else until the
 *   endpoint's day resets; `credential` for `maxCooldownMs`, shown as `auth_failed`.
 * `caller` and `canceled` say nothing about the endpoint and are ignored.
 */
import type { FailureClass } from '../core/failure.ts';
import { countsForBreaker } from '../core/failure.ts';

export type BreakerState = 'closed' | 'open' | 'half-open';
export type OpenReason = 'failures' | 'rate_limited' | 'quota' | 'auth_failed' | 'health_check';

export interface BreakerSettings {
  failures: number;
  cooldownMs: number;
  maxCooldownMs: number;
}

export interface BreakerSnapshot {
  consecutiveFailures: number;
  /** 0 when closed. */
  openUntil: number;
  /** Consecutive openings without a success in between (drives the doubling). */
  openings: number;
  reason: OpenReason | null;
  /** When the current half-open probe was let through; 0 if none. */
  probeAt: number;
}

export interface FailureHint {
  /** The upstream's stated wait (Retry-After and friends). */
  retryAfterMs?: number;
  /** When the endpoint's day resets (for `quota`). */
  dayResetAt?: number;
}

export class Breaker {
  settings: BreakerSettings;
  #s: BreakerSnapshot = { consecutiveFailures: 0, openUntil: 0, openings: 0, reason: null, probeAt: 0 };

  constructor(settings: BreakerSettings, snapshot?: BreakerSnapshot) {
    this.settings = settings;
    if (snapshot) this.#s = { ...snapshot };
  }

  snapshot(): BreakerSnapshot {
    return { ...this.#s };
  }

  restore(s: BreakerSnapshot): void {
    this.#s = { ...s };
  }

  state(now: number): BreakerState {
    if (this.#s.openUntil === 0) return 'closed';
    return now < this.#s.openUntil ? 'open' : 'half-open';
  }

  get reason(): OpenReason | null {
    return this.#s.reason;
  }

  get openUntil(): number {
    return this.#s.openUntil;
  }

  get consecutiveFailures(): number {
    return this.#s.consecutiveFailures;
  }

  /** Can an attempt be planned now? (Half-open admits only while no probe is out.) */
  isAvailable(now: number): boolean {
    const st = this.state(now);
    if (st === 'closed') return true;
    if (st === 'open') return false;
    return this.#probeFree(now);
  }

  #probeFree(now: number): boolean {
    // A probe that never reported (its request died with the process) frees up after a cooldown.
    return this.#s.probeAt === 0 || now - this.#s.probeAt > this.settings.cooldownMs;
  }

  /** Take the right to attempt. In half-open, the first taker is the probe; others are refused. */
  tryAcquire(now: number): boolean {
    const st = this.state(now);
    if (st === 'closed') return true;
    if (st === 'open' || !this.#probeFree(now)) return false;
    this.#s.probeAt = now;
    return true;
  }

  /** When the endpoint can next be tried (now, if available). */
  availableAt(now: number): number {
    return this.isAvailable(now) ? now : Math.max(this.#s.openUntil, now);
  }

  onSuccess(): void {
    this.#s = { consecutiveFailures: 0, openUntil: 0, openings: 0, reason: null, probeAt: 0 };
  }

  /** Release a half-open probe that ended without a verdict (caller error, client gone). */
  release(): void {
    this.#s.probeAt = 0;
  }

  onFailure(cls: FailureClass, now: number, hint: FailureHint = {}): void {
    if (!countsForBreaker(cls)) {
      this.release();
      return;
    }
    this.#s.consecutiveFailures++;
    this.#s.probeAt = 0;
    if (cls === 'rate_limit') {
      this.#openAtLeast(now + (hint.retryAfterMs ?? this.settings.cooldownMs), 'rate_limited');
    } else if (cls === 'quota') {
      // A quota answer that says when to come back (some providers' per-minute "quota" 429s) is taken at
      // its word; otherwise the quota lasts until the endpoint's day resets.
      this.#openAtLeast(hint.retryAfterMs !== undefined ? now + hint.retryAfterMs : hint.dayResetAt ?? now + this.settings.maxCooldownMs, 'quota');
    } else if (cls === 'credential') {
      this.#openAtLeast(now + this.settings.maxCooldownMs, 'auth_failed');
    } else {
      const wasHalfOpen = this.state(now) === 'half-open';
      if (wasHalfOpen || this.#s.consecutiveFailures >= this.settings.failures) this.#openFor(now);
    }
  }

  /** Open (or keep open) after a failed health check. */
  onProbeFailure(now: number): void {
    this.#s.consecutiveFailures = Math.max(this.#s.consecutiveFailures + 1, this.settings.failures);
    this.#openFor(now, 'health_check');
  }

  #openFor(now: number, reason: OpenReason = 'failures'): void {
    const cooldown = Math.min(this.settings.cooldownMs * 2 ** this.#s.openings, this.settings.maxCooldownMs);
    this.#s.openings++;
    this.#openAtLeast(now + cooldown, reason, true);
  }

  /** Longer waits extend; shorter never shorten (LiteLLM #40130). */
  #openAtLeast(until: number, reason: OpenReason, force = false): void {
    if (force || until > this.#s.openUntil || this.#s.openUntil === 0) {
      this.#s.openUntil = force ? Math.max(until, this.#s.openUntil) : until;
      this.#s.reason = reason;
    }
  }
}
