import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, realpath, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { debugModeFromFile, watchFiles, type Watching } from './watch.ts';

/** Collects onChange calls; `next()` resolves with the next one, or rejects after `ms`. */
function recorder() {
  const calls: string[][] = [];
  let waiter: ((p: string[]) => void) | null = null;
  return {
    calls,
    onChange(paths: string[]): void {
      calls.push(paths);
      waiter?.(paths);
      waiter = null;
    },
    next(ms = 2000): Promise<string[]> {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no change reported within ${ms} ms`)), ms);
        waiter = (p) => {
          clearTimeout(t);
          resolve(p);
        };
      });
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('watchFiles', () => {
  let dir: string;
  let w: Watching | null;

  beforeEach(async () => {
    // realpath: on macOS the temp folder is a symlink, and reported paths are resolved ones.
    dir = await realpath(await mkdtemp(path.join(tmpdir(), 'llmux-watch-')));
    w = null;
  });
  afterEach(async () => {
    await w?.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** `llmux.yaml` in the test folder with `text`, watched with `others` beside it; its recorder. */
  async function watchedConfig(text: string, debounceMs: number, others: string[] = []): Promise<{ cfg: string; r: ReturnType<typeof recorder> }> {
    const cfg = path.join(dir, 'llmux.yaml');
    await writeFile(cfg, text);
    const r = recorder();
    w = watchFiles({ files: [cfg, ...others], debounceMs, onChange: r.onChange });
    await w.ready;
    return { cfg, r };
  }

  it('reports a change to a watched file within 2 s', async () => {
    const { cfg, r } = await watchedConfig('server: {}\n', 100);
    const started = Date.now();
    const next = r.next();
    await writeFile(cfg, 'server: { port: 9000 }\n');
    assert.deepEqual(await next, [cfg]);
    assert.ok(Date.now() - started < 2000);
  });

  it('reports DEBUG_MODE.txt appearing and disappearing, and ignores other files beside it', async () => {
    const flag = path.join(dir, 'DEBUG_MODE.txt');
    const r = recorder();
    w = watchFiles({ files: [flag, path.join(dir, '.env')], debounceMs: 100, onChange: r.onChange });
    await w.ready;
    let next = r.next();
    await writeFile(path.join(dir, 'unrelated.txt'), 'x');
    await writeFile(flag, '');
    assert.deepEqual(await next, [flag]);
    assert.equal(await debugModeFromFile(dir), true);
    next = r.next();
    await unlink(flag);
    assert.deepEqual(await next, [flag]);
    assert.equal(await debugModeFromFile(dir), false);
    assert.equal(r.calls.length, 2);
  });

  it('reports a save that renames a new file over the watched one (editors\' atomic save)', async () => {
    const { cfg, r } = await watchedConfig('a: 1\n', 100);
    const next = r.next();
    const tmp = path.join(dir, '.llmux.yaml.swp');
    await writeFile(tmp, 'a: 2\n');
    await rename(tmp, cfg);
    assert.deepEqual(await next, [cfg]);
    // The new file (a new inode) is still watched.
    const again = r.next();
    await writeFile(cfg, 'a: 3\n');
    assert.deepEqual(await again, [cfg]);
  });

  it('drops the events of other files in the folder on their names: a busy log beside the config reports nothing', async () => {
    const { cfg, r } = await watchedConfig('a: 1\n', 50, [path.join(dir, '.env')]);
    const log = path.join(dir, 'llmux.log');
    for (let i = 0; i < 50; i++) await appendFile(log, `line ${i}\n`);
    await sleep(200);
    assert.equal(r.calls.length, 0);
    const next = r.next();
    await writeFile(cfg, 'a: 2\n');
    assert.deepEqual(await next, [cfg]);
  });

  it('says so when a watched file\'s folder cannot be watched, and still watches the others', async () => {
    const cfg = path.join(dir, 'llmux.yaml');
    const errors: unknown[] = [];
    const r = recorder();
    w = watchFiles({ files: [path.join(dir, 'missing', 'llmux.yaml'), cfg], debounceMs: 50, onChange: r.onChange, onError: (e) => errors.push(e) });
    await w.ready;
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as NodeJS.ErrnoException).code, 'ENOENT');
    const next = r.next();
    await writeFile(cfg, 'a: 1\n');
    assert.deepEqual(await next, [cfg]);
  });

  it('follows a symlinked config to its target: edits there, and a ConfigMap-style swap of the link', async () => {
    // Kubernetes mounts a ConfigMap as llmux.yaml -> ..data/llmux.yaml, ..data -> a timestamped
    // folder, and updates it by swapping ..data with a rename.
    const v1 = path.join(dir, '..v1');
    await mkdir(v1);
    await writeFile(path.join(v1, 'llmux.yaml'), 'a: 1\n');
    await symlink('..v1', path.join(dir, '..data'));
    const cfg = path.join(dir, 'llmux.yaml');
    await symlink(path.join('..data', 'llmux.yaml'), cfg);
    const r = recorder();
    w = watchFiles({ files: [cfg], debounceMs: 100, onChange: r.onChange });
    await w.ready;
    let next = r.next();
    await writeFile(path.join(v1, 'llmux.yaml'), 'a: 2\n');
    assert.deepEqual(await next, [cfg]);
    // The swap: a new folder, a new link renamed over ..data, the old folder removed.
    const v2 = path.join(dir, '..v2');
    await mkdir(v2);
    await writeFile(path.join(v2, 'llmux.yaml'), 'a: 3\n');
    await symlink('..v2', path.join(dir, '..data_tmp'));
    next = r.next();
    await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
    await rm(v1, { recursive: true });
    assert.deepEqual(await next, [cfg]);
    await sleep(150);
    // And the new target is followed in turn.
    next = r.next();
    await writeFile(path.join(v2, 'llmux.yaml'), 'a: 4\n');
    assert.deepEqual(await next, [cfg]);
  });

  it('says so when a watched file\'s folder is removed', async () => {
    const sub = path.join(dir, 'conf');
    await mkdir(sub);
    const cfg = path.join(sub, 'llmux.yaml');
    await writeFile(cfg, 'a: 1\n');
    const errors: unknown[] = [];
    let seen!: () => void;
    const reported = new Promise<void>((r) => (seen = r));
    w = watchFiles({ files: [cfg], debounceMs: 50, onChange: () => {}, onError: (e) => { errors.push(e); seen(); } });
    await w.ready;
    await rm(sub, { recursive: true });
    await Promise.race([reported, sleep(2000)]);
    // Linux may name the folder's own event twice (deleted, then the watch dropped): said once.
    await sleep(100);
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /was removed or moved.*llmux\.yaml/);
  });

  it('coalesces a burst of writes into one call', async () => {
    const env = path.join(dir, '.env');
    await writeFile(env, 'A=0\n');
    const r = recorder();
    w = watchFiles({ files: [env], debounceMs: 200, onChange: r.onChange });
    await w.ready;
    const next = r.next();
    for (let i = 1; i <= 5; i++) {
      await writeFile(env, `A=${i}\n`);
      await sleep(20);
    }
    assert.deepEqual(await next, [env]);
    await sleep(400);
    assert.equal(r.calls.length, 1);
  });

  it('lists every path of a burst, including files inside watched folders', async () => {
    const cfg = path.join(dir, 'llmux.yaml');
    const src = path.join(dir, 'free_api_test');
    await mkdir(path.join(src, 'free1'), { recursive: true });
    const r = recorder();
    w = watchFiles({ files: [cfg], dirs: [src], debounceMs: 150, onChange: r.onChange });
    await w.ready;
    const next = r.next();
    await writeFile(cfg, 'a: 1\n');
    await writeFile(path.join(src, 'free1', 'config.py'), 'X = 1\n');
    assert.deepEqual(await next, [cfg, path.join(src, 'free1', 'config.py')].sort());
  });

  it('reports nothing after close', async () => {
    const cfg = path.join(dir, 'llmux.yaml');
    await writeFile(cfg, 'a: 1\n');
    const r = recorder();
    w = watchFiles({ files: [cfg], debounceMs: 50, onChange: r.onChange });
    await w.ready;
    assert.ok(process.getActiveResourcesInfo().includes('FSEventWrap'));
    await w.close();
    // No handle may outlive close(): the test runner would then never see this file's process exit.
    // (libuv releases a closed handle on the next turn of the loop.)
    await sleep(20);
    assert.ok(!process.getActiveResourcesInfo().includes('FSEventWrap'), String(process.getActiveResourcesInfo()));
    await writeFile(cfg, 'a: 2\n');
    await sleep(300);
    assert.equal(r.calls.length, 0);
  });

  it('passes a throwing onChange to onError', async () => {
    const cfg = path.join(dir, 'llmux.yaml');
    const errors: unknown[] = [];
    let resolve!: () => void;
    const seen = new Promise<void>((r) => (resolve = r));
    w = watchFiles({
      files: [cfg], debounceMs: 50,
      onChange: () => Promise.reject(new Error('reload blew up')),
      onError: (e) => {
        errors.push(e);
        resolve();
      },
    });
    await w.ready;
    await writeFile(cfg, 'a: 1\n');
    await seen;
    assert.match(String(errors[0]), /reload blew up/);
  });
});
