import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = pathToFileURL(join(ROOT, 'src', 'cli', 'mock.ts')).href;

/** Runs `llmux mock <args>` through registerMockCommand in a child process. */
function spawnMock(args: string[]) {
  const script = [
    "import { Command } from 'commander';",
    `import { registerMockCommand } from ${JSON.stringify(CLI)};`,
    'const program = new Command().exitOverride();',
    'registerMockCommand(program);',
    `await program.parseAsync(${JSON.stringify(['node', 'llmux', 'mock', ...args])});`,
  ].join('\n');
  return spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
}

test('llmux mock prints its URL and a curl line, serves, and stops on SIGTERM', { timeout: 10_000 }, async () => {
  const child = spawnMock(['--port', '0', '--models', 'm1,m2', '--name', 'cli']);
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  try {
    const deadline = Date.now() + 8000;
    while (!/curl -s/.test(out) && Date.now() < deadline && child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const url = /(http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(out)?.[1];
    assert.ok(url, `URL printed: ${out}`);
    assert.match(out, /"model":"m1"/);
    const list = (await (await fetch(`${url}/models`)).json()) as any;
    assert.deepEqual(list.data.map((m: any) => m.id), ['m1', 'm2']);
    const exited = once(child, 'close');
    child.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0);
    assert.match(out, /GET \/v1\/models → 200/);
    assert.match(out, /stopped/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('llmux mock rejects an invalid flag value', { timeout: 10_000 }, async () => {
  const child = spawnMock(['--fail-rate', '2']);
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const [code] = await once(child, 'exit');
  assert.notEqual(code, 0);
  assert.match(err, /expected 0\.\.1/);
});
