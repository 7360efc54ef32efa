/**
 * Failure classes (SPEC §5). Every failed attempt gets exactly one; failover, breakers, stats and the
 * status the client sees all read it.
 */
export type FailureClass =
  | 'connect'
  | 'timeout'
  | 'transient'
  | 'rate_limit'
  | 'quota'
  | 'credential'
  | 'model_unavailable'
  | 'caller'
  | 'canceled';

export const failureClasses: readonly FailureClass[] = [
  'connect', 'timeout', 'transient', 'rate_limit', 'quota', 'credential', 'model_unavailable', 'caller', 'canceled',
];

/** Classes after which the next endpoint is tried (all but `caller` and `canceled`). */
export function failsOver(cls: FailureClass): boolean {
  return cls !== 'caller' && cls !== 'canceled';
}

/** Classes that say something about the endpoint's health and so feed its breaker. */
export function countsForBreaker(cls: FailureClass): boolean {
  return cls !== 'caller' && cls !== 'canceled';
}

/** Network-level classes that a provider's `retries` may retry on the same endpoint. */
export function isNetworkClass(cls: FailureClass): boolean {
  return cls === 'connect' || cls === 'timeout';
}
