/**
 * Admission of one request to an endpoint by its limits (SPEC §6). `acquire` either admits (a permit
 * to settle with the actual tokens when the response ends) or says when the endpoint frees up.
 */
export interface LimitedEndpoint {
  readonly id: string;
  readonly provider: { readonly limits: { rpm?: number | null; rpd?: number | null; tpm?: number | null; tpd?: number | null; concurrency?: number | null } };
}

export interface LimitPermit {
  readonly ok: true;
  /**
   * Record the tokens the response used (prompt + completion) and release the in-flight slot.
   * Idempotent. `now` (ms since epoch) saves a clock read when the caller has one.
   */
  settle(tokens: number, now?: number): void;
}

export interface LimitDenied {
  readonly ok: false;
  /** When the endpoint can take a request again (ms since epoch). */
  readonly retryAt: number;
  readonly reason: 'rpm' | 'rpd' | 'tpm' | 'tpd' | 'concurrency';
}

export interface EndpointLimiter {
  acquire(ep: LimitedEndpoint, now: number): LimitPermit | LimitDenied | Promise<LimitPermit | LimitDenied>;
  /** Current usage for display (/health/upstream, /v1/status). */
  usage(ep: LimitedEndpoint, now: number): { rpm: number; rpd: number; tpm: number; tpd: number; inflight: number };
  /**
   * Read the shared counters of `eps` (other instances, or before a restart) so the next `usage`
   * shows them. Optional: a limiter that only counts locally has nothing to read. Never rejects.
   */
  refresh?(eps: readonly LimitedEndpoint[], now: number): Promise<void>;
}

/** A limiter that admits everything (no limits configured anywhere). */
export const unlimited: EndpointLimiter = {
  acquire: () => ({ ok: true, settle: () => {} }),
  usage: () => ({ rpm: 0, rpd: 0, tpm: 0, tpd: 0, inflight: 0 }),
};
