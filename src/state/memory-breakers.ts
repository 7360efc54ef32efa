/** Breaker snapshots in memory, with expiry and change listeners (`BreakerState` in types.ts). */
import type { BreakerState } from './types.ts';

/** One persisted breaker; same shape as the store's `BreakerEntry`. */
export interface PersistedBreaker {
  endpoint: string;
  snapshot: string;
  expiresAt: number;
}

type Listener = (endpointId: string, snapshot: string | undefined) => void;

export class BreakerTable implements BreakerState {
  readonly #now: () => number;
  readonly #entries = new Map<string, { snapshot: string; expiresAt: number }>();
  readonly #listeners = new Set<Listener>();
  /** Bumped on every change, so the persister writes only when something changed. */
  #version = 0;

  constructor(now: () => number) {
    this.#now = now;
  }

  async get(endpointId: string): Promise<string | undefined> {
    const e = this.#entries.get(endpointId);
    if (e && e.expiresAt <= this.#now()) {
      this.#entries.delete(endpointId);
      this.#version++;
      return undefined;
    }
    return e?.snapshot;
  }

  async set(endpointId: string, snapshot: string, ttlMs: number): Promise<void> {
    this.mirror(endpointId, snapshot, ttlMs);
    this.#emit(endpointId, snapshot);
  }

  async delete(endpointId: string): Promise<void> {
    this.mirror(endpointId, undefined, 0);
    this.#emit(endpointId, undefined);
  }

  async getAll(): Promise<Map<string, string>> {
    this.sweep();
    return new Map([...this.#entries].map(([id, e]) => [id, e.snapshot]));
  }

  onChange(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /**
   * Change an entry without telling listeners. The Redis adapter keeps its fallback's breakers in
   * step with Redis this way, so an outage does not forget which endpoints are open.
   */
  mirror(endpointId: string, snapshot: string | undefined, ttlMs: number): void {
    if (snapshot === undefined || ttlMs <= 0) this.#entries.delete(endpointId);
    else this.#entries.set(endpointId, { snapshot, expiresAt: this.#now() + ttlMs });
    this.#version++;
  }

  sweep(): void {
    const now = this.#now();
    for (const [id, e] of this.#entries) {
      if (e.expiresAt <= now) {
        this.#entries.delete(id);
        this.#version++;
      }
    }
  }

  export(): { version: number; entries: PersistedBreaker[] } {
    this.sweep();
    const entries = [...this.#entries].map(([endpoint, e]) => ({ endpoint, snapshot: e.snapshot, expiresAt: e.expiresAt }));
    return { version: this.#version, entries };
  }

  import(entries: readonly PersistedBreaker[]): void {
    const now = this.#now();
    for (const e of entries) if (e.expiresAt > now) this.#entries.set(e.endpoint, { snapshot: e.snapshot, expiresAt: e.expiresAt });
    this.#version++;
  }

  #emit(endpointId: string, snapshot: string | undefined): void {
    for (const l of this.#listeners) {
      try {
        l(endpointId, snapshot);
      } catch {
        // One faulty listener must not stop the others or fail the caller's `set`.
      }
    }
  }
}
