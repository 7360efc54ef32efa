/**
 * Persistence of the memory state (SPEC §6: with `state: memory`, counters and breakers survive a
 * restart). Every `intervalMs` the counters that changed and, if the set changed, the breaker
 * snapshots are written to the store; `close()` writes the rest. A kill -9 therefore loses at most
 * the last interval. `restore()` at start reads them back into a fresh `MemoryState`.
 *
 * The target is described structurally (the store's methods) so state/ does not import store/.
 */
import type { MemoryState, PersistedBreaker, PersistedCounter } from './memory.ts';

export interface PersistTarget {
  saveCounters(entries: PersistedCounter[]): Promise<void>;
  loadCounters(now?: number): Promise<PersistedCounter[]>;
  saveBreakers(entries: PersistedBreaker[]): Promise<void>;
  loadBreakers(now?: number): Promise<PersistedBreaker[]>;
}

export interface PersisterOptions {
  /** Default 1000. */
  intervalMs?: number;
  /** Told about a failed save (the changes are kept and retried next interval); must not throw. */
  onError?: (err: unknown) => void;
}

export class StatePersister {
  readonly #state: MemoryState;
  readonly #store: PersistTarget;
  readonly #onError: (err: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #saving: Promise<void> | undefined;
  /** Breaker-set version last written (or read back): unchanged sets are not rewritten. */
  #breakerVersion: number;

  constructor(state: MemoryState, store: PersistTarget, opts: PersisterOptions = {}) {
    this.#state = state;
    this.#store = store;
    this.#onError = opts.onError ?? (() => undefined);
    // Starting from the current version means nothing is written until something changes, so
    // a save cannot overwrite the stored breakers with an empty set before `restore()` ran.
    this.#breakerVersion = state.exportBreakers().version;
    this.#timer = setInterval(() => void this.#tick(), opts.intervalMs ?? 1000);
    this.#timer.unref();
  }

  /** Load saved counters and breakers into the state. Call once at start, before traffic. */
  async restore(): Promise<{ counters: number; breakers: number }> {
    const [counters, breakers] = await Promise.all([this.#store.loadCounters(), this.#store.loadBreakers()]);
    this.#state.importCounters(counters);
    this.#state.importBreakers(breakers);
    this.#breakerVersion = this.#state.exportBreakers().version;
    return { counters: counters.length, breakers: breakers.length };
  }

  /** Write pending changes now; resolves when written. Rejects if the store does. */
  async flush(): Promise<void> {
    if (this.#saving) await this.#saving.catch(() => undefined);
    const run = this.#save();
    this.#saving = run;
    try {
      await run;
    } finally {
      if (this.#saving === run) this.#saving = undefined;
    }
  }

  /** Stop the timer and write what is pending. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  async #tick(): Promise<void> {
    // A slow store must not stack saves up: skip this round, the next one takes everything.
    if (this.#saving) return;
    try {
      await this.flush();
    } catch (err) {
      try {
        this.#onError(err);
      } catch {
        // The error callback must not become an unhandled rejection of the timer.
      }
    }
  }

  async #save(): Promise<void> {
    const counters = this.#state.exportCounters(true);
    const breakers = this.#state.exportBreakers();
    try {
      if (counters.length > 0) await this.#store.saveCounters(counters);
    } catch (err) {
      this.#state.markDirty(counters.map((c) => c.key));
      throw err;
    }
    if (breakers.version !== this.#breakerVersion) {
      await this.#store.saveBreakers(breakers.entries);
      this.#breakerVersion = breakers.version;
    }
  }
}
