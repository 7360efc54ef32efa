/**
 * Breakers shared through the state (SPEC §11): a breaker that opens or closes on one instance is
 * written to the state, and changes from other instances (Redis pub/sub) are applied locally within
 * a second. With `state: memory` the same path feeds the persister, so open breakers survive a restart.
 */
import type { Snapshot } from '../config/compile.ts';
import type { BreakerSnapshot } from '../health/breaker.ts';
import type { HealthTracker } from '../health/tracker.ts';
import type { State } from '../state/types.ts';

const day = 86_400_000;

export class BreakerSync {
  readonly #tracker: HealthTracker;
  readonly #state: State;
  readonly #snapshot: () => Snapshot;
  #unsub: (() => void) | null = null;
  readonly #onError: (e: unknown) => void;

  constructor(tracker: HealthTracker, state: State, snapshot: () => Snapshot, onError: (e: unknown) => void) {
    this.#tracker = tracker;
    this.#state = state;
    this.#snapshot = snapshot;
    this.#onError = onError;
  }

  #apply(id: string, json: string | undefined): void {
    const provider = this.#snapshot().providers.get(id.split('/')[0] ?? '');
    if (!provider) return;
    const h = this.#tracker.get(id, provider.breaker);
    if (json === undefined) {
      h.breaker.onSuccess();
      return;
    }
    try {
      h.breaker.restore(JSON.parse(json) as BreakerSnapshot);
    } catch (e) {
      this.#onError(e);
    }
  }

  async start(): Promise<number> {
    const all = await this.#state.breakers.getAll();
    for (const [id, json] of all) this.#apply(id, json);
    this.#unsub = this.#state.breakers.onChange((id, json) => this.#apply(id, json));
    this.#tracker.onBreakerChange((h) => {
      const s = h.breaker.snapshot();
      const now = this.#tracker.clock.now();
      const ttl = s.openUntil > now ? s.openUntil - now + day : day;
      this.#state.breakers.set(h.id, JSON.stringify(s), ttl).catch(this.#onError);
    });
    return all.size;
  }

  stop(): void {
    this.#unsub?.();
    this.#unsub = null;
  }
}
