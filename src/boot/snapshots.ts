/**
 * The snapshot in effect and how it changes: load the file, merge the store's admin-made providers
 * and routes, validate, compile, swap whole. An invalid new config is rejected with its problems and
 * the old snapshot keeps serving (last known good). In-flight requests keep the snapshot they started
 * with (they hold a reference); endpoint state lives in the tracker keyed by identity, so it survives.
 */
import { compile, type Snapshot } from '../config/compile.ts';
import { ConfigError, loadConfig, type Env } from '../config/load.ts';
import { mergeStored } from '../config/merge.ts';
import type { ConfigStatus, ReloadResult } from '../admin/runtime.ts';
import type { Store } from '../store/types.ts';
import { channels } from '../core/events.ts';

export interface SnapshotSourceOptions {
  configPath?: string;
  cwd: string;
  env?: Env;
  now: () => number;
}

export class Snapshots {
  #current: Snapshot;
  #opts: SnapshotSourceOptions;
  #store: Store | null = null;
  #lastError: string | null = null;
  #lastErrorAt: number | null = null;
  #clashes: string[] = [];
  #notes: string[];
  #listeners: Array<(s: Snapshot) => void> = [];
  /** Reloads run one after another; each caller gets a reload that started after its call. */
  #chain: Promise<unknown> = Promise.resolve();
  /** Model lists found by discovery (`models: auto | free`), by provider id. */
  #discovered = new Map<string, readonly string[]>();

  private constructor(first: Snapshot, opts: SnapshotSourceOptions, notes: string[]) {
    this.#current = first;
    this.#opts = opts;
    this.#notes = notes;
  }

  /** The first load: a bad file here is fatal (ConfigError), there is nothing to fall back to. */
  static async load(opts: SnapshotSourceOptions): Promise<Snapshots> {
    const loaded = await loadConfig({ configPath: opts.configPath, cwd: opts.cwd, env: opts.env });
    return new Snapshots(compile(loaded.config, loaded.file, 1, opts.now()), opts, loaded.notes);
  }

  get current(): Snapshot {
    return this.#current;
  }

  get notes(): string[] {
    return this.#notes;
  }

  onSwap(l: (s: Snapshot) => void): void {
    this.#listeners.push(l);
  }

  /** Attach the store and merge its entities now (the store's config is only known after opening). */
  async attachStore(store: Store): Promise<ReloadResult> {
    this.#store = store;
    return this.reload('store attached');
  }

  /**
   * Re-read everything. Serialised: a call made while a reload runs gets a fresh reload after it, so
   * it always sees the writes made before the call (the admin API relies on that to roll back).
   */
  reload(reason: string): Promise<ReloadResult> {
    const next = this.#chain.then(() => this.#doReload(reason));
    this.#chain = next.catch(() => undefined);
    return next;
  }

  async #doReload(reason: string): Promise<ReloadResult> {
    try {
      const loaded = await loadConfig({ configPath: this.#opts.configPath ?? this.#current.file ?? undefined, cwd: this.#opts.cwd, env: this.#opts.env });
      let config = loaded.config;
      this.#clashes = [];
      if (this.#store) {
        const [providers, routes] = await Promise.all([this.#store.listEntities('provider'), this.#store.listEntities('route')]);
        const merged = mergeStored(config, { providers, routes }, loaded.file);
        config = merged.config;
        this.#clashes = merged.clashes;
      }
      const next = compile(config, loaded.file, this.#current.version + 1, this.#opts.now(), this.#discovered);
      this.#current = next;
      this.#lastError = null;
      this.#lastErrorAt = null;
      for (const l of this.#listeners) l(next);
      if (channels.configReload.hasSubscribers) channels.configReload.publish({ ok: true, version: next.version, reason });
      return { ok: true, version: next.version, error: null };
    } catch (e) {
      const msg = e instanceof ConfigError ? e.message : `reload failed: ${(e as Error).message}`;
      this.#lastError = msg;
      this.#lastErrorAt = this.#opts.now();
      if (channels.configReload.hasSubscribers) channels.configReload.publish({ ok: false, version: this.#current.version, reason, error: msg });
      return { ok: false, version: this.#current.version, error: msg };
    }
  }

  /** Record discovered models; returns true when they changed (then reload to apply them). */
  setDiscovered(providerId: string, models: readonly string[]): boolean {
    const old = this.#discovered.get(providerId);
    if (old && old.length === models.length && old.every((m, i) => m === models[i])) return false;
    this.#discovered.set(providerId, models);
    return true;
  }

  status(): ConfigStatus {
    return {
      version: this.#current.version,
      loadedAt: this.#current.loadedAt,
      file: this.#current.file,
      lastError: this.#lastError,
      lastErrorAt: this.#lastErrorAt,
      clashes: this.#clashes,
    };
  }
}
