/**
 * What the admin plugin (/admin/*, /debug*) needs from the running gateway. Implemented in main.ts;
 * the plugin never reaches around it.
 */
import type { Snapshot } from '../config/compile.ts';
import type { RoutingDeps } from '../routing/context.ts';
import type { ProbeResult } from '../routing/probe.ts';
import type { Store } from '../store/types.ts';

export interface ConfigStatus {
  /** Version of the snapshot in effect (bumped on every successful reload). */
  version: number;
  loadedAt: number;
  /** The config file, or null when running on defaults. */
  file: string | null;
  /** Why the last reload was rejected (the old snapshot kept serving), or null. */
  lastError: string | null;
  lastErrorAt: number | null;
  /** Ids defined both in the file and in the store (the file wins; shown as a problem). */
  clashes: string[];
}

export interface ReloadResult {
  ok: boolean;
  version: number;
  /** The problems, one per line, each with its path (`providers[2].limits.rpm: …`). */
  error: string | null;
}

export interface DebugControl {
  /** Capture on right now (any of: config, LLMUX_DEBUG, DEBUG_MODE.txt, admin toggle). */
  enabled(): boolean;
  /** Which sources turn it on right now, e.g. ['config', 'DEBUG_MODE.txt', 'admin']. */
  reasons(): string[];
  /** The admin toggle (persisted in the store settings). */
  setAdmin(on: boolean): Promise<void>;
  /** The capture folder (`debug.dir`, CACHE_DIR). */
  dir(): string;
}

export interface AdminRuntime {
  snapshot(): Snapshot;
  readonly store: Store;
  readonly deps: RoutingDeps;
  /** Re-read the file (and store entities); an invalid config is rejected and the old one kept. */
  reload(reason: string): Promise<ReloadResult>;
  configStatus(): ConfigStatus;
  readonly debug: DebugControl;
  /** Gateway admission: requests being served / waiting / the maximum. */
  concurrency(): { active: number; queued: number; max: number };
  /** Probe every endpoint of a provider (the dashboard's "test" button). */
  probeProvider(id: string): Promise<Array<ProbeResult & { endpoint: string }>>;
  readonly log: { info(o: object, m: string): void; warn(o: object, m: string): void; error(o: object, m: string): void };
  /** When the process started (ms since epoch). */
  readonly startedAt: number;
}
