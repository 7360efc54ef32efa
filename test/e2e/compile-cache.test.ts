import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { enableCompileCache, localCacheDir, type EnableCache } from '../../bin/compile-cache.js';
import { killAll, spawnGateway } from './spawned.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const { FAILED, ENABLED } = module.constants.compileCacheStatus;

after(killAll);

test('the compile cache goes to the package\'s node_modules/.cache, to the temp folder where that fails, and where NODE_COMPILE_CACHE says', () => {
  assert.equal(localCacheDir, join(ROOT, 'node_modules', '.cache', 'llmux', 'compile'));
  const calls: string[] = [];
  const ok: EnableCache = (dir) => {
    calls.push(dir ?? 'default');
    return { status: ENABLED, directory: dir ?? '/tmp/node-compile-cache' };
  };
  assert.deepEqual(enableCompileCache({}, ok), { status: ENABLED, directory: localCacheDir });
  assert.deepEqual(calls, [localCacheDir]);
  calls.length = 0;
  // The user's own folder: Node reads it from the environment, llmux names none.
  enableCompileCache({ NODE_COMPILE_CACHE: '/srv/cache' }, ok);
  assert.deepEqual(calls, ['default']);
  calls.length = 0;
  const readOnly: EnableCache = (dir) => {
    calls.push(dir ?? 'default');
    return dir === undefined ? { status: ENABLED, directory: '/tmp/node-compile-cache' } : { status: FAILED, message: 'EACCES' };
  };
  assert.deepEqual(enableCompileCache({}, readOnly), { status: ENABLED, directory: '/tmp/node-compile-cache' });
  assert.deepEqual(calls, [localCacheDir, 'default']);
  calls.length = 0;
  // A folder that exists but cannot be written: Node would take it and save nothing; llmux does not ask.
  enableCompileCache({}, ok, localCacheDir, () => false);
  assert.deepEqual(calls, ['default']);
  calls.length = 0;
  // Turned off: Node's own answer (DISABLED), from its default call.
  enableCompileCache({ NODE_DISABLE_COMPILE_CACHE: '1' }, ok);
  assert.deepEqual(calls, ['default']);
  // A Node without the cache: nothing to do.
  assert.equal(enableCompileCache({}, null), undefined);
});

test('a folder that cannot be made falls back to Node\'s default, for real', { timeout: 20_000 }, async () => {
  const script = `import('${join(ROOT, 'bin', 'compile-cache.js')}').then((m) => console.log(JSON.stringify(m.enableCompileCache({}, undefined, '/dev/null/cache'))))`;
  const env = { ...process.env };
  delete env.NODE_COMPILE_CACHE;
  delete env.NODE_DISABLE_COMPILE_CACHE;
  const { stdout } = await run(process.execPath, ['-e', script], { env });
  const r = JSON.parse(stdout) as { status: number; directory?: string };
  assert.equal(r.status, ENABLED);
  assert.ok(r.directory && !r.directory.startsWith('/dev/null'), r.directory);
});

test('from the second start on, the TypeScript stripper is not loaded', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'llmux-cc-'));
  try {
    // Tells, at exit, whether Node loaded its TypeScript stripper (amaro) in this process.
    const probe = join(dir, 'probe.mjs');
    await writeFile(probe, "process.on('exit', () => process.stderr.write(`stripper=${process.moduleLoadList.some((m) => m.includes('amaro'))}\\n`));\n");
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_COMPILE_CACHE: join(dir, 'cache') };
    delete env.NODE_DISABLE_COMPILE_CACHE;
    const start = async () => (await run(process.execPath, ['--import', probe, join(ROOT, 'bin', 'llmux.js'), '--version'], { env, cwd: ROOT })).stderr;
    assert.match(await start(), /stripper=true/, 'the first start strips the types');
    assert.ok((await readdir(join(dir, 'cache'))).length > 0, 'and fills the cache');
    assert.match(await start(), /stripper=false/, 'the second takes them from the cache');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/**
 * `npm start`'s start (`serve` on the embedded defaults, here on port 0) in `dir` with the compile
 * cache in `cache`, stopped once it listens: with SIGTERM (it must exit 0), or with SIGKILL, which
 * leaves the process no exit of its own. Answers its stderr.
 */
async function startAndStop(nodeArgs: string[], dir: string, cache: string, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<string> {
  const g = await spawnGateway({ dir, env: { NODE_COMPILE_CACHE: cache }, nodeArgs, timeoutMs: 30_000 });
  const code = await g.stop(signal);
  if (signal === 'SIGTERM') assert.equal(code, 0, g.stderr.join(''));
  return g.stderr.join('');
}

/**
 * A temporary folder for `fn`, removed after it: `probe`, a module for `--import` that tells at exit
 * whether Node loaded its TypeScript stripper; `work`, an empty folder to start the gateway in;
 * `cache(name)`, a cache folder in it.
 */
async function inTempDir(fn: (d: { probe: string; work: string; cache(name: string): string }) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'llmux-cc-start-'));
  try {
    const probe = join(dir, 'probe.mjs');
    await writeFile(probe, "process.on('exit', () => process.stderr.write(`stripper=${process.moduleLoadList.some((m) => m.includes('amaro'))}\\n`));\n");
    const work = join(dir, 'work');
    await mkdir(work);
    await fn({ probe, work, cache: (name) => join(dir, name) });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("after the install's warm-up (npm's postinstall), the very first start does not load the stripper either", { timeout: 120_000 }, () => inTempDir(async ({ probe, work, cache }) => {
  // Only what node needs (no keys, no LLMUX_* settings, as the warm-up passes on).
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_COMPILE_CACHE: cache('cache') };
  const warm = await run(process.execPath, [join(ROOT, 'scripts', 'warm-cache.js')], { env, cwd: ROOT });
  assert.match(warm.stderr, /compile cache filled/);
  assert.ok((await readdir(cache('cache'))).length > 0, 'the warm-up fills the cache');
  assert.match(await startAndStop(['--import', probe], work, cache('cache')), /stripper=false/, 'the first start after it takes the modules from the cache');
  // Without it, that start strips the types (and takes about 25 MiB more).
  assert.match(await startAndStop(['--import', probe], work, cache('empty-cache')), /stripper=true/);
}));

test('a gateway writes the cache once it listens, so one killed without an exit of its own keeps it', { timeout: 60_000 }, () => inTempDir(async ({ probe, work, cache }) => {
  // SIGKILL: no exit handler runs (as on Windows, where SIGTERM ends a process at once).
  await startAndStop([], work, cache('cache'), 'SIGKILL');
  assert.match(await startAndStop(['--import', probe], work, cache('cache')), /stripper=false/, 'the start after it takes the modules from the cache');
}));

test('the warm-up passes on no keys, and a warm-up that goes wrong does not fail the install', { timeout: 30_000 }, async () => {
  const { reason, startEnv } = await import('../../scripts/warm-cache.js');
  assert.deepEqual(
    startEnv({ PATH: '/bin', HOME: '/h', OPENAI_API_KEY: 'sk-x', LLMUX_CONFIG: '/etc/llmux.yaml', PORT: '9', NODE_OPTIONS: '--max-old-space-size=512', NODE_COMPILE_CACHE: '/c' }),
    { PATH: '/bin', HOME: '/h', NODE_OPTIONS: '--max-old-space-size=512', NODE_COMPILE_CACHE: '/c' },
  );
  // The start runs in a temporary folder: a relative cache folder is the install's.
  assert.equal(startEnv({ NODE_COMPILE_CACHE: 'cache' }, '/srv/llmux').NODE_COMPILE_CACHE, join('/srv/llmux', 'cache'));
  assert.equal(reason('file:///x/main.ts:3\n  throw e;\nError: listen EACCES: permission denied 127.0.0.1\n    at Server.listen\n\nNode.js v24.21.0\n'), 'Error: listen EACCES: permission denied 127.0.0.1');
  // No temporary folder to start in: it says so, and exits 0 (execFile rejects on any other code).
  const r = await run(process.execPath, [join(ROOT, 'scripts', 'warm-cache.js')], { env: { PATH: process.env.PATH, TMPDIR: '/nonexistent/llmux-test' }, cwd: ROOT });
  assert.match(r.stderr, /could not fill the compile cache \(.*nonexistent.*\); nothing else changes/);
  // Turned off by the user: nothing to do, nothing said.
  const off = await run(process.execPath, [join(ROOT, 'scripts', 'warm-cache.js')], { env: { PATH: process.env.PATH, NODE_DISABLE_COMPILE_CACHE: '1' }, cwd: ROOT });
  assert.equal(off.stderr, '');
});
