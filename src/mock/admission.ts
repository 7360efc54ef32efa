/** Sliding-window request counter: the fake's own rate limit, like an upstream's RPM cap. */
export class RateWindow {
  readonly #windowMs: number;
  #hits: number[] = [];

  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }

  /** Admitted requests inside the current window (as of the last tryAdmit). */
  get size(): number {
    return this.#hits.length;
  }

  /**
   * Admits and counts one request when fewer than `limit` were admitted in the window ending at
   * `now`, returning 0; otherwise returns the ms until the oldest hit leaves the window (≥ 1).
   * Refused requests are not counted, so a client that backs off is admitted again on time.
   */
  tryAdmit(limit: number, now: number): number {
    const from = now - this.#windowMs;
    while (this.#hits.length > 0 && (this.#hits[0] ?? 0) <= from) this.#hits.shift();
    if (this.#hits.length < limit) {
      this.#hits.push(now);
      return 0;
    }
    const oldest = this.#hits[0] ?? now;
    return Math.max(1, oldest + this.#windowMs - now);
  }

  clear(): void {
    this.#hits = [];
  }
}

/** mulberry32: a tiny seeded PRNG so a flaky fake fails on the same requests every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
