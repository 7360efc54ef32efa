/**
 * Hot reload (SPEC §3): notice changes to the config file, `.env`, `DEBUG_MODE.txt` and watched source
 * folders, and report them in one call per burst. What a change means (reload, debug on/off) is the
 * caller's business; this module only watches.
 *
 * Files are watched through their parent folder, filtered to their names, because the interesting
 * ones may not exist yet (`DEBUG_MODE.txt` appearing is the point) and editors often save by writing a
 * temporary file and renaming it over the original, which replaces the inode a per-file watch holds.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';

export interface WatchOptions {
  /** Files to watch; they need not exist. Relative paths resolve against the process cwd. */
  files: string[];
  /** Folders watched whole, recursively (e.g. a `free-api-dir` source). */
  dirs?: string[];
  /** Quiet time that ends a burst; default 200 ms. A burst is cut after 5× this, so a file rewritten
   *  without pause still gets reported. */
  debounceMs?: number;
  /** Absolute paths added, changed or removed during the burst, sorted. A throw is passed to onError. */
  onChange(paths: string[]): void | Promise<void>;
  /** Watcher failures (permissions, too many watches) and onChange throws; default: ignored. */
  onError?(err: unknown): void;
}

export interface Watching {
  /** Resolves once the initial scan is done: changes from then on are reported. */
  readonly ready: Promise<void>;
  /** Stop watching and drop a burst not yet reported; releases every handle. */
  close(): Promise<void>;
}

export function watchFiles(opts: WatchOptions): Watching {
  const debounceMs = opts.debounceMs ?? 200;
  const onError = opts.onError ?? ((): void => {});
  const files = new Set(opts.files.map((f) => path.resolve(f)));
  const dirs = [...new Set((opts.dirs ?? []).map((d) => path.resolve(d)))];
  const parents = new Set([...files].map((f) => path.dirname(f)));
  const roots = [...new Set([...parents, ...dirs])];

  const inDir = (p: string): boolean => dirs.some((d) => p === d || p.startsWith(d + path.sep));
  // Called for every entry chokidar meets: keep the roots, the named files and what is under `dirs`;
  // skip everything else in a parent folder (which may be a whole project).
  const ignored = (p: string): boolean => {
    const abs = path.resolve(p);
    return !(files.has(abs) || parents.has(abs) || inDir(abs));
  };

  let watcher: FSWatcher | null = watch(roots, {
    ignoreInitial: true,
    ignored,
    // Parents are watched only for their direct entries; `dirs` entries are walked in full.
    depth: dirs.length > 0 ? undefined : 0,
    // Long enough to see a save as one event, short enough to stay well inside the 2 s promise.
    awaitWriteFinish: { stabilityThreshold: 50, pollInterval: 10 },
    atomic: true,
  });

  let changed = new Set<string>();
  let timer: NodeJS.Timeout | null = null;
  let burstStart = 0;

  const fire = (): void => {
    timer = null;
    if (changed.size === 0) return;
    const paths = [...changed].sort();
    changed = new Set();
    try {
      Promise.resolve(opts.onChange(paths)).catch(onError);
    } catch (e) {
      onError(e);
    }
  };

  watcher.on('all', (event, p) => {
    const abs = path.resolve(p);
    // The parent folders themselves come and go only with their files; their own events say nothing.
    if (parents.has(abs) && !inDir(abs) && (event === 'addDir' || event === 'unlinkDir')) return;
    const now = Date.now();
    if (changed.size === 0) burstStart = now;
    changed.add(abs);
    if (timer) clearTimeout(timer);
    timer = now - burstStart >= debounceMs * 5 ? setTimeout(fire, 0) : setTimeout(fire, debounceMs);
  });
  watcher.on('error', onError);

  const ready = new Promise<void>((resolve) => watcher?.once('ready', () => resolve()));

  return {
    ready,
    async close(): Promise<void> {
      if (timer) clearTimeout(timer);
      timer = null;
      changed = new Set();
      const w = watcher;
      watcher = null;
      await w?.close();
    },
  };
}

/** Debug mode by file (SPEC §8): does `DEBUG_MODE.txt` exist in `cwd`. Its content does not matter. */
export async function debugModeFromFile(cwd: string): Promise<boolean> {
  try {
    await access(path.join(cwd, 'DEBUG_MODE.txt'));
    return true;
  } catch {
    return false;
  }
}
