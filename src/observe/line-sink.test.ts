import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { LineSink } from './line-sink.ts';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'llmux-sink-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const flushed = (s: LineSink): Promise<void> => new Promise((r) => s.flush(() => r()));

test('line sink: lines reach the file in order, batched, creating the folder; end closes it', async () => {
  await withDir(async (dir) => {
    const file = path.join(dir, 'a', 'b', 'log.jsonl');
    const s = new LineSink({ dest: file, batchBytes: 100 });
    for (let i = 0; i < 500; i++) s.write(`{"n":${i}}\n`);
    await flushed(s);
    s.write('{"n":"last"}\n');
    await s.end();
    assert.equal(s.write('{"n":"after end"}\n'), false);
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    assert.equal(lines.length, 501);
    assert.deepEqual(lines.slice(0, 3), ['{"n":0}', '{"n":1}', '{"n":2}']);
    assert.equal(lines.at(-1), '{"n":"last"}');
  });
});

test('line sink: past its buffer bound lines are dropped and counted, never blocking; flushSync writes at once', async () => {
  await withDir(async (dir) => {
    const file = path.join(dir, 'log.jsonl');
    const s = new LineSink({ dest: file, batchBytes: 1 << 20, maxBufferBytes: 40 });
    const accepted = Array.from({ length: 10 }, (_, i) => s.write(`{"line":${i}}\n`)).filter(Boolean).length;
    assert.equal(accepted, 3, '13 bytes a line, 40 bytes of room');
    s.flushSync();
    const text = await readFile(file, 'utf8');
    const lines = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines.slice(0, 3).map((l) => l.line), [0, 1, 2]);
    assert.equal(lines[3]!.dropped, 7);
    assert.match(String(lines[3]!.msg), /dropped/);
    await s.end();
  });
});

test('line sink: a file that cannot be opened is reported once and never throws at the caller', async () => {
  await withDir(async (dir) => {
    const errors: Error[] = [];
    const blocker = path.join(dir, 'file');
    await import('node:fs/promises').then((f) => f.writeFile(blocker, 'x'));
    const s = new LineSink({ dest: path.join(blocker, 'log.jsonl'), batchBytes: 1, onError: (e) => errors.push(e) });
    s.write('{"a":1}\n');
    s.write('{"a":2}\n');
    await flushed(s);
    s.write('{"a":3}\n');
    await flushed(s);
    assert.equal(errors.length, 1);
    await s.end();
  });
});

test('line sink: lines still waiting when the process exits (without end or flush) are written', async () => {
  await withDir(async (dir) => {
    const file = path.join(dir, 'out.log');
    const script = path.join(dir, 'exit.ts');
    const { writeFile } = await import('node:fs/promises');
    const { execFileSync } = await import('node:child_process');
    const sinkUrl = new URL('./line-sink.ts', import.meta.url).href;
    await writeFile(script, `import { LineSink } from ${JSON.stringify(sinkUrl)};\nconst s = new LineSink({ dest: ${JSON.stringify(file)} });\nfor (let i = 0; i < 1000; i++) s.write('{"i":' + i + '}\\n');\nprocess.exitCode = 3;\n`);
    const piped = execFileSync(process.execPath, ['-e', `const { spawnSync } = require('node:child_process'); const r = spawnSync(process.execPath, [${JSON.stringify(script)}]); process.stdout.write(String(r.status));`], { encoding: 'utf8' });
    assert.equal(piped, '3');
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    assert.equal(lines.length, 1000);
    assert.equal(lines.at(-1), '{"i":999}');
  });
});

test('line sink: lines are written byte for byte as UTF-8, also multi-byte ones and lines longer than a batch', async () => {
  await withDir(async (dir) => {
    const file = path.join(dir, 'log.jsonl');
    const s = new LineSink({ dest: file, batchBytes: 64 });
    const lines: string[] = [];
    for (let i = 0; i < 300; i++) {
      // Short and long, ASCII, two-, three- and four-byte characters: buffers fill, are sealed early
      // when a line might not fit, and a line longer than a batch gets a buffer of its own.
      const body = i % 7 === 0 ? 'x'.repeat(100 + i) : i % 3 === 0 ? `héllo ${i} 🌍` : i % 5 === 0 ? `日本語 ${i}` : `{"n":${i}}`;
      lines.push(`${body}\n`);
      s.write(`${body}\n`);
      if (i % 50 === 49) await flushed(s);
    }
    await s.end();
    assert.equal(await readFile(file, 'utf8'), lines.join(''));
  });
});
