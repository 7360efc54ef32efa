import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { enableCompileCache, localCacheDir, type EnableCache } from '../../bin/compile-cache.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const { FAILED, ENABLED } = module.constants.compileCacheStatus;

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
