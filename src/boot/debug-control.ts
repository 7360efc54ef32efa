/**
 * Debug capture on or off (SPEC §8): on when `debug.enabled` (or `LLMUX_DEBUG=1`, folded into it by
 * config/load.ts), when `DEBUG_MODE.txt` exists in the working directory (followed as it appears and
 * disappears), or when the admin toggle says so (kept in the store, shared by every instance).
 */
import path from 'node:path';
import type { DebugControl } from '../admin/runtime.ts';
import type { Snapshot } from '../config/compile.ts';
import { debugModeFromFile } from '../config/watch.ts';
import type { Store } from '../store/types.ts';

export class DebugSwitch implements DebugControl {
  readonly #snapshot: () => Snapshot;
  readonly #store: Store;
  readonly #cwd: string;
  #file = false;
  #admin = false;

  constructor(snapshot: () => Snapshot, store: Store, cwd: string) {
    this.#snapshot = snapshot;
    this.#store = store;
    this.#cwd = cwd;
  }

  async init(): Promise<void> {
    this.#file = await debugModeFromFile(this.#cwd);
    this.#admin = (await this.#store.getSetting('debug')) === true;
  }

  /** Re-read DEBUG_MODE.txt (the watcher saw it change). */
  async refreshFile(): Promise<boolean> {
    this.#file = await debugModeFromFile(this.#cwd);
    return this.#file;
  }

  /** Re-read the admin toggle (another instance may have changed it). */
  async refreshAdmin(): Promise<void> {
    this.#admin = (await this.#store.getSetting('debug')) === true;
  }

  enabled = (): boolean => this.#admin || this.#file || this.#snapshot().config.debug.enabled;

  reasons(): string[] {
    const r: string[] = [];
    if (this.#snapshot().config.debug.enabled) r.push('config');
    if (this.#file) r.push('DEBUG_MODE.txt');
    if (this.#admin) r.push('admin');
    return r;
  }

  async setAdmin(on: boolean): Promise<void> {
    await this.#store.setSetting('debug', on);
    this.#admin = on;
  }

  dir(): string {
    return path.resolve(this.#cwd, this.#snapshot().config.debug.dir);
  }
}
