import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, interpolate, loadConfig, substituteEnv } from './load.ts';
import { compile } from './compile.ts';

const bounded = { timeout: 10_000 };

async function withDir(files: Record<string, string>, f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'llmux-load-'));
  try {
    for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
    await f(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function problemsOf(p: Promise<unknown>): Promise<string[]> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.problems;
  }
  assert.fail('expected a ConfigError');
}

test('${NAME} and ${NAME:-default} are substituted', bounded, () => {
  const env = { A: 'one', EMPTY: '' };
  assert.equal(interpolate('x-${A}-y', env), 'x-one-y');
  assert.equal(interpolate('${MISSING:-fallback}', env), 'fallback');
  assert.equal(interpolate('${EMPTY:-fallback}', env), 'fallback', 'an empty variable counts as unset');
  assert.equal(interpolate('${A:-fallback}', env), 'one');
  assert.equal(interpolate('${MISSING}', env), '');
  assert.equal(interpolate('$A and ${ not a ref }', env), '$A and ${ not a ref }');
});

test('a value that comes out empty drops its key; empty list entries are dropped', bounded, () => {
  const raw = { server: { adminKey: '${NOPE}', keys: ['${K1}', '${NOPE}', 'literal'] }, proxy: '${NOPE}', n: 3, ok: true, nil: null };
  const out = substituteEnv(raw, { K1: 'key-one' }) as Record<string, any>;
  assert.deepEqual(out, { server: { keys: ['key-one', 'literal'] }, n: 3, ok: true, nil: null });
});

test('a YAML file with env references loads, unset ones fall away', bounded, async () => {
  const yaml = [
    'server:',
    '  port: 9001',
    '  keys: ["${LLMUX_KEY}", "${UNSET_KEY}"]',
    '  adminKey: "${ADMIN_KEY}"',
    'providers:',
    '  - id: up',
    '    baseUrl: "${UP_URL:-http://127.0.0.1:9/v1}"',
    '    keys: ["${UP_KEY_1}", "${UP_KEY_2}"]',
  ].join('\n');
  await withDir({ 'llmux.yaml': yaml }, async (dir) => {
    const l = await loadConfig({ cwd: dir, env: { LLMUX_KEY: 'client-1', UP_KEY_1: 'sk-up-1' } });
    assert.equal(l.file, path.join(dir, 'llmux.yaml'));
    assert.deepEqual(l.config.server.keys, ['client-1']);
    assert.equal(l.config.server.adminKey, undefined);
    assert.equal(l.config.server.port, 9001);
    assert.equal(l.config.providers[0]?.baseUrl, 'http://127.0.0.1:9/v1');
    assert.deepEqual(l.config.providers[0]?.keys, ['sk-up-1']);
  });
});

test('every problem is listed by its path', bounded, async () => {
  const cfg = {
    server: { port: 'eighty', maxAttempts: 0 },
    providers: [
      { id: 'Bad Id', baseUrl: 'not a url', limits: { rpm: 'many' } },
      { id: 'ok', baseUrl: 'http://127.0.0.1:9', limits: { rpm: -5 }, surprise: 1 },
    ],
    routes: [{ name: 'r', targets: [{ provider: 'ghost' }] }],
  };
  await withDir({ 'llmux.json': JSON.stringify(cfg) }, async (dir) => {
    const problems = await problemsOf(loadConfig({ cwd: dir, env: {} }));
    const paths = problems.map((p) => p.split(':')[0]);
    for (const want of ['server.port', 'server.maxAttempts', 'providers[0].id', 'providers[0].baseUrl', 'providers[0].limits.rpm', 'providers[1].limits.rpm', 'providers[1]']) {
      assert.ok(paths.includes(want), `${want} missing from:\n${problems.join('\n')}`);
    }
    assert.ok(problems.some((p) => p.includes('surprise')), 'an unknown key is named');
  });
});

test('a reference to an unknown provider is reported by path', bounded, async () => {
  const cfg = { providers: [{ id: 'a', baseUrl: 'http://127.0.0.1:9' }], routes: [{ name: 'r', targets: [{ provider: 'ghost' }] }] };
  await withDir({ 'llmux.json': JSON.stringify(cfg) }, async (dir) => {
    const problems = await problemsOf(loadConfig({ cwd: dir, env: {} }));
    assert.ok(problems.some((p) => p.startsWith('routes[0].targets[0].provider:') && p.includes('ghost')), problems.join('\n'));
  });
});

test('the error message names the file and lists each problem on its own line', bounded, async () => {
  await withDir({ 'llmux.json': JSON.stringify({ server: { port: -1 }, repair: 'yes' }) }, async (dir) => {
    try {
      await loadConfig({ cwd: dir, env: {} });
      assert.fail('expected a ConfigError');
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /llmux\.json is invalid/);
      assert.match(e.message, /\n {2}- server\.port: /);
      assert.match(e.message, /\n {2}- repair: /);
    }
  });
});

test('a broken YAML file is a ConfigError, not a crash', bounded, async () => {
  await withDir({ 'llmux.yaml': 'server: [unclosed' }, async (dir) => {
    const problems = await problemsOf(loadConfig({ cwd: dir, env: {} }));
    assert.match(problems[0] ?? '', /not valid YAML/);
  });
});

test('--config pointing at a missing file says so', bounded, async () => {
  await withDir({}, async (dir) => {
    const problems = await problemsOf(loadConfig({ cwd: dir, env: {}, configPath: 'nope.yaml' }));
    assert.match(problems[0] ?? '', /file not found/);
  });
});

test('.env in the working directory fills the environment; real variables win', bounded, async () => {
  const yaml = 'providers:\n  - id: up\n    baseUrl: http://127.0.0.1:9/v1\n    keys: ["${UP_KEY}"]\n    headers: { x-team: "${TEAM}" }\n';
  await withDir({ 'llmux.yaml': yaml, '.env': 'UP_KEY=sk-from-dotenv\nTEAM=dotenv-team\n' }, async (dir) => {
    const l = await loadConfig({ cwd: dir, env: { TEAM: 'real-team' } });
    assert.deepEqual(l.config.providers[0]?.keys, ['sk-from-dotenv']);
    assert.deepEqual(l.config.providers[0]?.headers, { 'x-team': 'real-team' });
  });
});

test('LLMUX_CONFIG names the file when --config is not given', bounded, async () => {
  await withDir({ 'other.json': JSON.stringify({ server: { port: 7777 } }) }, async (dir) => {
    const l = await loadConfig({ cwd: dir, env: { LLMUX_CONFIG: 'other.json' } });
    assert.equal(l.config.server.port, 7777);
  });
});

test('no config file and OPENROUTER_API_KEY in the environment give a working provider of that preset', bounded, async () => {
  await withDir({}, async (dir) => {
    const l = await loadConfig({ cwd: dir, env: { OPENROUTER_API_KEY: 'sk-or-test-123' } });
    assert.equal(l.file, null);
    const p = l.config.providers.find((x) => x.id === 'openrouter');
    assert.ok(p, 'a provider named after the preset');
    assert.equal(p.type, 'openrouter');
    assert.deepEqual(p.keys, ['sk-or-test-123']);
    const snap = compile(l.config, l.file, 1);
    const c = snap.providers.get('openrouter');
    assert.equal(c?.baseUrl, 'https://openrouter.ai/api/v1');
    assert.deepEqual(c?.keys, ['sk-or-test-123']);
    assert.ok(snap.routes.get('*')?.targets.some((t) => t.provider.id === 'openrouter'), 'the "*" route reaches it');
    assert.ok(l.notes.some((n) => n.includes('openrouter')));
  });
});

test('no config file and no keys still loads, with a note on what to do', bounded, async () => {
  await withDir({}, async (dir) => {
    const l = await loadConfig({ cwd: dir, env: {} });
    assert.deepEqual(l.config.providers, []);
    assert.equal(l.config.server.host, '127.0.0.1');
    assert.equal(l.config.server.port, 8080);
    assert.ok(l.notes.some((n) => /add providers/.test(n)));
  });
});

test('PORT and MAX_CONCURRENT_REQUESTS override the defaults', bounded, async () => {
  await withDir({}, async (dir) => {
    const l = await loadConfig({ cwd: dir, env: { PORT: '9123', MAX_CONCURRENT_REQUESTS: '7' } });
    assert.equal(l.config.server.port, 9123);
    assert.equal(l.config.server.maxConcurrency, 7);
  });
});

test('a client key expiresAt that is not a date is a problem at its path', bounded, async () => {
  const cfg = { server: { keys: [{ key: 'k1', expiresAt: 'next tuesday' }, { key: 'k2', expiresAt: '2026-12-31' }] } };
  await withDir({ 'llmux.json': JSON.stringify(cfg) }, async (dir) => {
    const problems = await problemsOf(loadConfig({ cwd: dir, env: {} }));
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0] ?? '', /^server\.keys\[0\]\.expiresAt: /);
  });
});

test('provider headers that HTTP cannot carry are problems at their path', bounded, async () => {
  const cfg = { providers: [{ id: 'a', baseUrl: 'http://127.0.0.1:9', headers: { 'x-team': 'a\r\nx-injected: 1', 'bad name': 'x', 'x-ok': 'fine' } }] };
  await withDir({ 'llmux.json': JSON.stringify(cfg) }, async (dir) => {
    const problems = await problemsOf(loadConfig({ cwd: dir, env: {} }));
    assert.ok(problems.some((p) => p.startsWith('providers[0].headers.x-team:') && /CR, LF/.test(p)), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('providers[0].headers') && /header name/.test(p)), problems.join('\n'));
    assert.equal(problems.length, 2, problems.join('\n'));
  });
});
