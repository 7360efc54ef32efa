import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { closeLogger, createLogger, DailyFile } from './logger.ts';

const lines = async (file: string): Promise<Array<Record<string, unknown>>> =>
  (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('logger with daily files', () => {
  let tmp: string;

  beforeEach(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'llmux-log-'));
  });
  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('puts lines of two different days in two files, creating the folder', async () => {
    let now = Date.UTC(2026, 2, 9, 23, 59, 59, 900);
    const log = createLogger({ level: 'info', file: path.join(tmp, 'logs', 'llmux-%DATE%.log'), console: false, now: () => now });
    log.info({ n: 1 }, 'before midnight');
    now += 200;
    log.info({ n: 2 }, 'after midnight');
    log.debug('below the level');
    await closeLogger(log);
    const dir = path.join(tmp, 'logs');
    assert.deepEqual((await readdir(dir)).sort(), ['llmux-2026-03-09.log', 'llmux-2026-03-10.log']);
    assert.deepEqual((await lines(path.join(dir, 'llmux-2026-03-09.log'))).map((l) => [l.msg, l.n]), [['before midnight', 1]]);
    assert.deepEqual((await lines(path.join(dir, 'llmux-2026-03-10.log'))).map((l) => [l.msg, l.n]), [['after midnight', 2]]);
  });

  it('never writes a secret header or key field to the file', async () => {
    const file = path.join(tmp, 'llmux.log');
    const log = createLogger({ level: 'info', file, console: false });
    log.info({ headers: { authorization: 'Bearer sk-live-secret-1', 'x-api-key': 'xk-secret-2' } }, 'upstream call');
    log.info({ req: { headers: { authorization: 'Bearer secret-3' } }, provider: { apiKey: 'secret-4' } }, 'incoming');
    await closeLogger(log);
    const text = await readFile(file, 'utf8');
    for (const s of ['secret-1', 'secret-2', 'secret-3', 'secret-4']) assert.ok(!text.includes(s), `${s} leaked`);
    const [first] = await lines(file);
    assert.deepEqual(first!.headers, { authorization: '[redacted]', 'x-api-key': '[redacted]' });
  });

  it('writes a line out within about a second without being flushed', async () => {
    const file = path.join(tmp, 'llmux.log');
    const log = createLogger({ level: 'info', file, console: false });
    log.info('batched');
    const until = Date.now() + 3000;
    let text = '';
    while (Date.now() < until && !text.includes('batched')) {
      await new Promise((r) => setTimeout(r, 100));
      text = await readFile(file, 'utf8').catch(() => '');
    }
    assert.match(text, /batched/);
    await closeLogger(log);
  });

  it('reckons the day in the configured timezone', () => {
    const t = Date.UTC(2026, 2, 9, 20, 0, 0);
    assert.equal(DailyFile.pathFor('/logs/llmux-%DATE%.log', t, 'UTC'), path.resolve('/logs/llmux-2026-03-09.log'));
    assert.equal(DailyFile.pathFor('/logs/llmux-%DATE%.log', t, 'Asia/Shanghai'), path.resolve('/logs/llmux-2026-03-10.log'));
  });
});
