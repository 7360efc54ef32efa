import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { channels, type AttemptEndEvent, type RequestEndEvent } from '../core/events.ts';
import { CaptureWriter, shortId, type CallsFile, type CaptureOptions } from './capture.ts';

const at = Date.UTC(2026, 1, 19, 19, 21, 0, 123);

function attempt(over: Partial<AttemptEndEvent> = {}): AttemptEndEvent {
  return { instance: 'gw1', requestId: 'a1b2c3d4-e5f6-4711-8899-aabbccddeeff', endpointId: 'free2/0/gpt-4o-mini', provider: 'free2', model: 'gpt-4o-mini', n: 1, status: 200, cls: null, latencyMs: 40.4, message: null, ...over };
}

function ended(over: Partial<RequestEndEvent> = {}): RequestEndEvent {
  return {
    instance: 'gw1', requestId: 'a1b2c3d4-e5f6-4711-8899-aabbccddeeff', at, principal: null, kind: 'chat', route: 'r', model: 'gpt-4o-mini', upstreamModel: 'gpt-4o-mini',
    provider: 'free2', endpointId: 'free2/0/gpt-4o-mini', status: 200, cls: null, attempts: 1, latencyMs: 250, ttftMs: 100,
    promptTokens: 3, completionTokens: 5, stream: false, repaired: false, error: null, ...over,
  };
}

describe('CaptureWriter', () => {
  let tmp: string;
  let dir: string;
  let errors: string[];
  let writer: CaptureWriter | null;
  let on: boolean;

  const make = (over: Partial<CaptureOptions> = {}): CaptureWriter => {
    writer = new CaptureWriter({ instance: 'gw1', dir: () => dir, enabled: () => on, onError: (_e, what) => errors.push(what), now: () => at + 1000, ...over });
    writer.start();
    return writer;
  };
  const json = async (name: string): Promise<Record<string, unknown>> => JSON.parse(await readFile(path.join(dir, name), 'utf8')) as Record<string, unknown>;
  const files = async (): Promise<string[]> => (await readdir(dir)).sort();

  beforeEach(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'llmux-capture-'));
    dir = path.join(tmp, 'cache', 'nested');
    errors = [];
    writer = null;
    on = true;
  });
  afterEach(async () => {
    await writer?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('writes REQUEST and RESPONSE files in the seed format, creating the folder, and counts the call', async () => {
    const w = make();
    const request = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true };
    const response = { id: 'chatcmpl-1', choices: [{ message: { role: 'assistant', content: 'hello' } }] };
    channels.requestEnd.publish(ended({ stream: true, capture: { request, response, attempts: [attempt()] } }));
    await w.close();
    assert.deepEqual(await files(), ['20260219_192100_123_REQUEST_a1b2c3d4.json', '20260219_192100_373_RESPONSE_a1b2c3d4.json', 'CALLS_20260219.json']);
    const attempts = [{ endpoint: 'free2/0/gpt-4o-mini', status: 200, class: null, latencyMs: 40, message: null }];
    assert.deepEqual(await json('20260219_192100_123_REQUEST_a1b2c3d4.json'), { timestamp: '2026-02-19T19:21:00.123Z', type: 'REQUEST', message_id: 'a1b2c3d4', data: request, attempts });
    assert.deepEqual(await json('20260219_192100_373_RESPONSE_a1b2c3d4.json'), { timestamp: '2026-02-19T19:21:00.373Z', type: 'RESPONSE', message_id: 'a1b2c3d4', data: response, attempts });
    assert.deepEqual(await json('CALLS_20260219.json'), { date: '20260219', count: 1, total: 1, success: 1, failed: 0, timeout: 0, retry: 0, last_updated: '2026-02-19T19:21:01.123Z' });
    assert.deepEqual(w.stats(), { written: 1, dropped: 0, pending: 0 });
    assert.deepEqual(errors, []);
  });

  it('writes an ERROR file for a failure, with the attempts, and counts failed, timeouts and retries', async () => {
    const w = make();
    const attempts = [attempt({ n: 1, status: null, cls: 'timeout', message: 'first byte timeout' }), attempt({ n: 2, status: 503, cls: 'transient', message: 'upstream 503' })];
    channels.requestEnd.publish(ended({ status: 503, cls: 'transient', attempts: 2, error: 'All 2 upstream attempt(s) failed', capture: { request: { model: 'm' }, response: null, attempts } }));
    await w.close();
    const names = await files();
    assert.deepEqual(names, ['20260219_192100_123_REQUEST_a1b2c3d4.json', '20260219_192100_373_ERROR_a1b2c3d4.json', 'CALLS_20260219.json']);
    const err = await json(names[1]!);
    assert.equal(err.type, 'ERROR');
    assert.deepEqual(err.data, { status: 503, class: 'transient', error: 'All 2 upstream attempt(s) failed' });
    assert.deepEqual((err.attempts as Array<{ class: string }>).map((a) => a.class), ['timeout', 'transient']);
    const calls = (await json('CALLS_20260219.json')) as unknown as CallsFile;
    assert.deepEqual([calls.total, calls.success, calls.failed, calls.timeout, calls.retry], [1, 0, 1, 1, 1]);
  });

  it('never writes a key: headers, key fields and key-shaped strings are redacted', async () => {
    const w = make();
    const request = { model: 'm', api_key: 'plain-secret', headers: { Authorization: 'Bearer xyz', 'x-api-key': 'abc' }, messages: [{ role: 'user', content: 'use sk-live0123456789abcdef' }] };
    channels.requestEnd.publish(ended({ status: 401, cls: 'credential', error: 'Incorrect API key provided: sk-proj-0123456789', capture: { request, response: null, attempts: [attempt({ status: 401, cls: 'credential', message: 'bad key AIzaSyA0123456789xyz' })] } }));
    await w.close();
    const all = (await Promise.all((await files()).map((f) => readFile(path.join(dir, f), 'utf8')))).join('\n');
    for (const secret of ['plain-secret', 'Bearer xyz', '"abc"', 'sk-live', 'sk-proj', 'AIzaSy']) assert.ok(!all.includes(secret), `${secret} leaked`);
    assert.match(all, /\[redacted\]/);
    // The event itself is shared with other subscribers and must stay untouched.
    assert.equal(request.api_key, 'plain-secret');
  });

  it('counts requests without a capture while enabled, timeouts from attempt events, nothing while off or from another instance', async () => {
    const w = make();
    channels.attemptEnd.publish(attempt({ cls: 'timeout', status: null }));
    channels.requestEnd.publish(ended({ attempts: 2 }));
    // Another gateway in the same process: not ours to count.
    channels.requestEnd.publish(ended({ instance: 'gw2', capture: { request: {}, response: {}, attempts: [] } }));
    on = false;
    channels.requestEnd.publish(ended({ requestId: 'ffffffff-0000', status: 500, error: 'x' }));
    await w.close();
    assert.deepEqual(await files(), ['CALLS_20260219.json']);
    const calls = (await json('CALLS_20260219.json')) as unknown as CallsFile;
    assert.deepEqual([calls.count, calls.total, calls.success, calls.failed, calls.timeout, calls.retry], [1, 1, 1, 0, 1, 1]);
  });

  it('adds to an existing day file, and starts over from a corrupt one', async () => {
    await mkdir(dir, { recursive: true });
    // The baseline tool's shape: only `count`.
    await writeFile(path.join(dir, 'CALLS_20260219.json'), JSON.stringify({ date: '20260219', count: 41, last_updated: null }));
    await writeFile(path.join(dir, 'CALLS_20260220.json'), '{"date": "20260220", "tot');
    const w = make();
    channels.requestEnd.publish(ended());
    channels.requestEnd.publish(ended({ at: at + 86_400_000 }));
    await w.close();
    assert.equal(((await json('CALLS_20260219.json')) as unknown as CallsFile).count, 42);
    assert.equal(((await json('CALLS_20260220.json')) as unknown as CallsFile).total, 1);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /corrupt/);
  });

  it('drops captures beyond maxPending but never the counters', async () => {
    const w = make({ maxPending: 2 });
    for (let i = 0; i < 10; i++) {
      channels.requestEnd.publish(ended({ requestId: `0000000${i}-aaaa`, capture: { request: { i }, response: { i }, attempts: [] } }));
    }
    await w.close();
    const names = await files();
    assert.equal(names.filter((n) => n.includes('_REQUEST_')).length, 2);
    assert.deepEqual(w.stats(), { written: 2, dropped: 8, pending: 0 });
    assert.equal(((await json('CALLS_20260219.json')) as unknown as CallsFile).total, 10);
    assert.equal(errors.filter((e) => /dropping/.test(e)).length, 1);
  });

  it('stamps file names and the CALLS day in the configured timezone', async () => {
    const w = make({ timezone: () => 'Asia/Shanghai' });
    // 19:21 UTC is 03:21 the next day in UTC+8.
    channels.requestEnd.publish(ended({ capture: { request: {}, response: {}, attempts: [] } }));
    await w.close();
    assert.deepEqual(await files(), ['20260220_032100_123_REQUEST_a1b2c3d4.json', '20260220_032100_373_RESPONSE_a1b2c3d4.json', 'CALLS_20260220.json']);
  });

  it('stops listening on close', async () => {
    const w = make();
    await w.close();
    channels.requestEnd.publish(ended({ capture: { request: {}, response: {}, attempts: [] } }));
    await new Promise((r) => setTimeout(r, 50));
    await assert.rejects(readdir(dir), { code: 'ENOENT' });
  });

  it('shortId keeps only hex, so a request id cannot steer the path', () => {
    assert.equal(shortId('A1B2C3D4-E5F6-0000'), 'a1b2c3d4');
    assert.equal(shortId('../../etc/passwd'), 'ecad0000');
  });
});
