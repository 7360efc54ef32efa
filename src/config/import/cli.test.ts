/**
 * `llmux import` through commander in a child process, so the test sees the real stdout/stderr
 * and exit code. src/cli.ts belongs to the CLI entry point; this wires only the import command.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { configSchema } from '../schema.ts';

const cliModule = path.resolve(import.meta.dirname, '../../cli/import.ts');
const fixtures = path.resolve(import.meta.dirname, '../../../test/fixtures/import');
const bounded = { timeout: 30_000 };

/** Written into the temp dir and run as a file: with `-e`, Node would claim `--env-file` itself. */
const script = `
import { Command } from ${JSON.stringify(import.meta.resolve('commander'))};
import { registerImportCommand } from ${JSON.stringify(pathToFileURL(cliModule).href)};
const program = new Command('llmux').exitOverride();
registerImportCommand(program);
await program.parseAsync(process.argv.slice(2), { from: 'user' });
`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function llmux(cwd: string, args: string[]): Promise<Run> {
  const file = path.join(cwd, 'run-llmux-import.mjs');
  await writeFile(file, script);
  return new Promise((resolve) => {
    execFile(process.execPath, [file, ...args], { cwd, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

async function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'llmux-cli-import-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('llmux import writes llmux.yaml in the working directory and never prints a key', bounded, async () => {
  await withTmp(async (dir) => {
    const run = await llmux(dir, ['import', 'api-together', path.join(fixtures, 'api-together/repo')]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(!/CANARY/.test(run.stdout + run.stderr), `a key was printed:\n${run.stdout}${run.stderr}`);
    assert.match(run.stdout, /provider api1 .* key sk-…0001/);
    assert.match(run.stdout, /client key sk-…0001/);
    const written = await readFile(path.join(dir, 'llmux.yaml'), 'utf8');
    assert.match(written, /sk-CANARYAPI1000000000001/, 'the YAML itself holds the key: a working config in one command');
    assert.doesNotThrow(() => configSchema.parse(parseYaml(written)));
  });
});

test('llmux import refuses to overwrite without --force (exit 1) and overwrites with it', bounded, async () => {
  await withTmp(async (dir) => {
    const out = path.join(dir, 'out.yaml');
    await writeFile(out, 'keep: me\n');
    const args = ['import', 'catfish', path.join(fixtures, 'catfish/v2'), '-o', out];
    const refused = await llmux(dir, args);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /already exists; pass --force/);
    assert.equal(await readFile(out, 'utf8'), 'keep: me\n');
    const forced = await llmux(dir, [...args, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.ok(!/CANARY/.test(forced.stdout + forced.stderr));
    assert.match(await readFile(out, 'utf8'), /imported from catfish/);
  });
});

test('llmux import --keys-env keeps keys out of the YAML and the terminal', bounded, async () => {
  await withTmp(async (dir) => {
    const run = await llmux(dir, ['import', 'failproxy', path.join(fixtures, 'failproxy'), '--keys-env', '.env']);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(!/CANARY/.test(run.stdout + run.stderr));
    assert.ok(!(await readFile(path.join(dir, 'llmux.yaml'), 'utf8')).includes('CANARY'));
    assert.match(await readFile(path.join(dir, '.env'), 'utf8'), /^LLMUX_OPREASONER_KEY=sk-CANARYFP1/m);
  });
});

test('llmux import --env-file merges into an existing .env (Node rejects a missing one, nodejs/node#54232)', bounded, async () => {
  await withTmp(async (dir) => {
    await writeFile(path.join(dir, '.env'), 'PORT=9000\n');
    const run = await llmux(dir, ['import', 'env-v3', path.join(fixtures, 'env-v3'), '--env-file', '.env']);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(!/CANARY/.test(run.stdout + run.stderr));
    const env = await readFile(path.join(dir, '.env'), 'utf8');
    assert.match(env, /^PORT=9000$/m);
    assert.match(env, /^LLMUX_FREE2_KEY=sk-CANARYV32/m);
  });
});

test('an unknown format fails with the list of formats', bounded, async () => {
  await withTmp(async (dir) => {
    const run = await llmux(dir, ['import', 'litellm', dir]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /unknown format "litellm"; use one of: api-together, failproxy, catfish, free-api-dir, env-v3/);
  });
});
