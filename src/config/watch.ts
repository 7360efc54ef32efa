/**
 * Hot reload (SPEC §3): notice changes to the config file, `.env`, `DEBUG_MODE.txt` and watched source
 * folders, and report them in one call per burst. What a change means (reload, debug on/off) is the
 * caller's business; this module only watches.
 *
 * Files are watched through their parent folder, filtered to their names, because the interesting
 * ones may not exist yet (`DEBUG_MODE.txt` appearing is the point) and editors often save by writing a
 * temporary file and renaming it over the original, which replaces the inode a per-file watch holds.
 *
 * Those folders (the working directory always, for `.env`) often hold files that change all the time:
 * a log file (`log.file`, or `npm start > llmux.log`), a database. Each of their writes is one event
 * on the folder's watch. chokidar answers every event on a folder it watches by reading the whole
 * folder again and `stat`ing its entries (measured: 240–540 µs of CPU per write of a file beside the
 * config, a quarter of a core for a log written 240 times a second), so the parent folders are
 * watched with `fs.watch` directly: an event for any other name is dropped on its name alone.
 * Each named file that exists is also watched itself, so that a symlinked config or `.env` (a
 * Kubernetes ConfigMap, a shared secrets file) is followed to where its content changes; that watch
 * is set again whenever the file is replaced. chokidar still watches source folders (`dirs`), which
 * are walked recursively and change rarely.
 */
import { watch as fsWatch, type FSWatcher as NodeWatcher } from 'node:fs';
import { access, stat } from 'node:fs/promises';
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
  /** Watcher failures (permissions, too many watches, a watched file's folder removed or moved) and
   *  onChange throws; default: ignored. Must not throw (a throw is dropped). */
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
  const onError = (e: unknown): void => {
    try {
      opts.onError?.(e);
    } catch {
      // Reporting must not break watching (or leave watches open that nobody can close).
    }
  };
  const dirs = [...new Set((opts.dirs ?? []).map((d) => path.resolve(d)))];
  const inDir = (p: string): boolean => dirs.some((d) => p === d || p.startsWith(d + path.sep));
  // Parent folder → the watched names in it (a file inside a watched source folder is covered there).
  const byParent = new Map<string, Map<string, string>>();
  for (const f of opts.files) {
    const abs = path.resolve(f);
    if (inDir(abs)) continue;
    const parent = path.dirname(abs);
    let names = byParent.get(parent);
    if (!names) byParent.set(parent, (names = new Map()));
    names.set(path.basename(abs), abs);
  }

  let changed = new Set<string>();
  let timer: NodeJS.Timeout | null = null;
  let burstStart = 0;
  let closed = false;

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

  const note = (abs: string): void => {
    if (closed) return;
    const now = Date.now();
    if (changed.size === 0) burstStart = now;
    changed.add(abs);
    if (timer) clearTimeout(timer);
    timer = now - burstStart >= debounceMs * 5 ? setTimeout(fire, 0) : setTimeout(fire, debounceMs);
  };

  // A watch on each named file itself, which follows a symlink to the file that changes. Set again
  // when the file is replaced (a rename over it, a ConfigMap's link swapped), or appears; a file that
  // does not exist has none until then, and its folder's watch sees it appear.
  const own = new Map<string, NodeWatcher>();
  const arm = (abs: string): void => {
    own.get(abs)?.close();
    own.delete(abs);
    if (closed) return;
    try {
      const w = fsWatch(abs, { persistent: true }, (event) => {
        note(abs);
        if (event === 'rename') arm(abs);
      });
      w.on('error', () => {
        w.close();
        if (own.get(abs) === w) own.delete(abs);
      });
      own.set(abs, w);
    } catch {
      // Not there (yet), or a dangling link: the folder's watch covers its appearance.
    }
  };

  const folders: NodeWatcher[] = [];
  for (const [parent, names] of byParent) {
    const folderName = path.basename(parent);
    let gone = false;
    try {
      const w = fsWatch(parent, { persistent: true }, (event, name) => {
        // Without a name (platforms that cannot tell) any watched file here may have changed.
        if (name === null || name === undefined) {
          for (const abs of names.values()) note(abs);
          return;
        }
        const abs = names.get(name);
        if (abs !== undefined) {
          note(abs);
          if (event === 'rename') arm(abs);
        } else if (name === folderName) {
          // The folder's own event (Linux names it so, once or twice): removed or moved, the watch
          // is dead. Said once.
          stat(parent).catch(() => {
            if (closed || gone) return;
            gone = true;
            onError(new Error(`the folder ${parent} was removed or moved: changes to ${[...names.keys()].join(', ')} are no longer seen until llmux restarts`));
          });
        }
      });
      // Windows reports a watched folder's removal as an error.
      w.on('error', (e) => {
        onError(e);
        w.close();
      });
      folders.push(w);
    } catch (e) {
      // A parent folder that does not exist, or one this process may not watch: nothing to report
      // from it, and the rest still works.
      onError(e);
      continue;
    }
    for (const abs of names.values()) arm(abs);
  }

  let tree: FSWatcher | null = null;
  let ready: Promise<void> = Promise.resolve();
  if (dirs.length > 0) {
    const t = watch(dirs, { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 50, pollInterval: 10 }, atomic: true });
    t.on('all', (event, p) => {
      const abs = path.resolve(p);
      // A watched folder itself comes and goes with its files; its own events say nothing.
      if (dirs.includes(abs) && (event === 'addDir' || event === 'unlinkDir')) return;
      note(abs);
    });
    t.on('error', onError);
    ready = new Promise<void>((resolve) => t.once('ready', () => resolve()));
    tree = t;
  }

  return {
    ready,
    async close(): Promise<void> {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = null;
      changed = new Set();
      for (const w of folders.splice(0)) w.close();
      for (const w of own.values()) w.close();
      own.clear();
      const t = tree;
      tree = null;
      await t?.close();
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
