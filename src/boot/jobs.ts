/**
 * Background jobs: follow the store's config version (admin-made providers, routes and keys made on
 * any instance reach this one within a second), and prune the request log to its retention.
 */
import type { Clock } from '../core/clock.ts';
import type { Logger } from '../observe/logger.ts';
import type { Store } from '../store/types.ts';
import type { Snapshots } from './snapshots.ts';
import type { StoredKeys } from './stored-keys.ts';

export interface JobDeps {
  store: Store;
  snaps: Snapshots;
  keys: StoredKeys;
  log: Logger;
  clock: Clock;
  /** Also run on every poll (e.g. re-read the admin debug toggle another instance may have set). */
  onPoll?: () => Promise<void>;
  /** Defaults: version poll 1 s, prune every 10 min. */
  pollMs?: number;
  pruneMs?: number;
}

/** How often the request log is pruned to its retention (and once at start-up). */
export const PRUNE_EVERY_MS = 600_000;

export function startJobs(d: JobDeps): { stop(): void } {
  let version = -1;
  let busy = false;
  const poll = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    try {
      const v = await d.store.configVersion();
      if (version !== -1 && v !== version) {
        await d.keys.refresh();
        const r = await d.snaps.reload('store changed');
        if (!r.ok) d.log.error({ error: r.error }, 'config from the store rejected; the previous config keeps serving');
      }
      version = v;
      await d.onPoll?.();
    } catch (e) {
      d.log.warn({ err: e }, 'could not read the store config version');
    } finally {
      busy = false;
    }
  };
  let pruning = false;
  const prune = async (): Promise<void> => {
    // A prune that outlasts the interval is not joined by the next one.
    if (pruning) return;
    pruning = true;
    const r = d.snaps.current.config.retention;
    try {
      const n = await d.store.pruneLogs({ days: r.days, maxRows: r.maxRows, now: d.clock.now() });
      if (n > 0) d.log.info({ rows: n }, 'request log pruned');
    } catch (e) {
      d.log.warn({ err: e }, 'could not prune the request log');
    } finally {
      pruning = false;
    }
  };
  void poll();
  void prune();
  const t1 = setInterval(() => void poll(), d.pollMs ?? 1000);
  const t2 = setInterval(() => void prune(), d.pruneMs ?? PRUNE_EVERY_MS);
  t1.unref();
  t2.unref();
  return {
    stop() {
      clearInterval(t1);
      clearInterval(t2);
    },
  };
}
