import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { parseDocument } from 'yaml';
import { configSchema } from '../schema.ts';
import { compile } from '../compile.ts';
import { importers, runImport } from './run.ts';
import { maskSecret, writeImport } from './writer.ts';
import type { ImportResult } from './result.ts';

const fixtures = path.resolve(import.meta.dirname, '../../../test/fixtures/import');
const bounded = { timeout: 15_000 };
const sources: Record<string, string> = {
  'api-together': 'api-together/repo',
  failproxy: 'failproxy',
  catfish: 'catfish/v2',
  'free-api-dir': 'free-api-dir',
  'env-v3': 'env-v3',
};

async function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'llmux-import-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const quiet = { print: () => {}, now: new Date(2025, 7, 7, 12), env: { FREE1_API_KEY: 'sk-CANARYENV000000000001' } };

test('every format writes YAML that parses, validates against configSchema and compiles', bounded, async () => {
  await withTmp(async (dir) => {
    assert.deepEqual(Object.keys(importers).sort(), Object.keys(sources).sort());
    for (const [format, rel] of Object.entries(sources)) {
      const output = path.join(dir, `${format}.yaml`);
      await runImport({ format, path: path.join(fixtures, rel), output }, quiet);
      const doc = parseDocument(await readFile(output, 'utf8'));
      assert.deepEqual(doc.errors, [], format);
      const config = configSchema.parse(doc.toJS());
      assert.ok(config.providers.length > 0, format);
      assert.doesNotThrow(() => compile(config, output, 1), format);
      assert.match(doc.commentBefore ?? '', new RegExp(`imported from ${format}`), `${format}: header comment`);
    }
  });
});

test('lossy values carry real YAML comments', bounded, async () => {
  await withTmp(async (dir) => {
    const output = path.join(dir, 'llmux.yaml');
    await runImport({ format: 'api-together', path: path.join(fixtures, sources['api-together']!), output }, quiet);
    const doc = parseDocument(await readFile(output, 'utf8'));
    const rpd = doc.getIn(['providers', 2, 'limits', 'rpd'], true) as { comment?: string };
    assert.match(rpd.comment ?? '', /rpd 0 keeps this provider from serving/);
    assert.match(doc.commentBefore ?? '', /Requests already made today \(RPD, 20250807\): api2=16/);
  });
});

test('refuses to overwrite an existing file without --force, and writes nothing', bounded, async () => {
  await withTmp(async (dir) => {
    const output = path.join(dir, 'llmux.yaml');
    const envFile = path.join(dir, '.env');
    await writeFile(output, 'keep: me\n');
    const args = { format: 'catfish', path: path.join(fixtures, 'catfish/v2'), output, envFile };
    await assert.rejects(runImport(args, quiet), /already exists; pass --force/);
    assert.equal(await readFile(output, 'utf8'), 'keep: me\n');
    await assert.rejects(stat(envFile), { code: 'ENOENT' });
    await runImport({ ...args, force: true }, quiet);
    assert.match(await readFile(output, 'utf8'), /imported from catfish/);
  });
});

test('--env-file: keys go to LLMUX_<ID>_KEY in the .env, the YAML only references them', bounded, async () => {
  await withTmp(async (dir) => {
    const output = path.join(dir, 'llmux.yaml');
    const envFile = path.join(dir, '.env');
    await writeFile(envFile, 'PORT=9000\n# mine\n');
    await runImport({ format: 'api-together', path: path.join(fixtures, sources['api-together']!), output, envFile }, quiet);
    const yaml = await readFile(output, 'utf8');
    assert.ok(!yaml.includes('CANARY'), 'no key in the YAML');
    assert.match(yaml, /\$\{LLMUX_API1_KEY\}/);
    const envText = await readFile(envFile, 'utf8');
    const env = parseDotenv(envText);
    assert.equal(env.PORT, '9000');
    assert.match(envText, /# mine/);
    assert.equal(env.LLMUX_API1_KEY, 'sk-CANARYAPI1000000000001');
    assert.equal(env.LLMUX_CLIENT_KEY, 'sk-CANARYCLIENT0000000001');
    assert.equal((await stat(envFile)).mode & 0o777, 0o600);
  });
});

test('--env-file refuses to change a variable it already holds, unless --force', bounded, async () => {
  await withTmp(async (dir) => {
    const envFile = path.join(dir, '.env');
    await writeFile(envFile, 'LLMUX_API1_KEY=sk-something-else-000\n');
    const args = { format: 'api-together', path: path.join(fixtures, sources['api-together']!), output: path.join(dir, 'a.yaml'), envFile };
    await assert.rejects(runImport(args, quiet), (e: Error) => /LLMUX_API1_KEY to other values/.test(e.message) && !e.message.includes('CANARY'));
    await runImport({ ...args, force: true }, quiet);
    assert.equal(parseDotenv(await readFile(envFile, 'utf8')).LLMUX_API1_KEY, 'sk-CANARYAPI1000000000001');
  });
});

test('an invalid import is rejected by path before anything is written', bounded, async () => {
  await withTmp(async (dir) => {
    const output = path.join(dir, 'bad.yaml');
    const bad: ImportResult = {
      config: { providers: [{ id: 'Bad Id' }], routes: [{ name: 'r', targets: [{ provider: 'nobody' }] }] },
      summary: { providers: 1, routes: 1, keys: 0, notes: [] }, secrets: {}, comments: [], source: 'test',
    };
    await assert.rejects(writeImport(bad, { output, format: 'test', input: 'test' }), /providers\[0\]\.id[\s\S]*routes\[0\]\.targets\[0\]\.provider/);
    await assert.rejects(stat(output), { code: 'ENOENT' });
  });
});

test('a YAML holding keys in clear text is private (mode 600)', bounded, async () => {
  await withTmp(async (dir) => {
    const output = path.join(dir, 'llmux.yaml');
    await runImport({ format: 'env-v3', path: path.join(fixtures, 'env-v3'), output }, quiet);
    assert.equal((await stat(output)).mode & 0o777, 0o600);
  });
});

test('printed output masks every key (sk-…last4)', bounded, async () => {
  await withTmp(async (dir) => {
    for (const [format, rel] of Object.entries(sources)) {
      const lines: string[] = [];
      const { result } = await runImport({ format, path: path.join(fixtures, rel), output: path.join(dir, `${format}.yaml`) }, { ...quiet, print: (l) => lines.push(l) });
      const out = lines.join('\n');
      assert.ok(!out.includes('CANARY'), `${format} printed a key:\n${out}`);
      for (const v of Object.values(result.secrets)) assert.ok(!out.includes(v));
      assert.ok(lines.filter((l) => l.startsWith('  provider ')).length === result.summary.providers, 'one line per provider');
    }
  });
});

test('maskSecret keeps a short prefix and the last four, and hides short keys entirely', () => {
  assert.equal(maskSecret('sk-abcdefghijkl1234'), 'sk-…1234');
  assert.equal(maskSecret('abcdefghijkl9876'), '…9876');
  assert.equal(maskSecret('short-key'), '****');
});
