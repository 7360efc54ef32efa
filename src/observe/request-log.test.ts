import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { channels, type RequestEndEvent } from '../core/events.ts';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { closeLogger, createLogger, redactPaths } from './logger.ts';
import { msTime, requestLine, subscribeRequestLog } from './request-log.ts';

function end(over: Partial<RequestEndEvent>): RequestEndEvent {
  return {
    instance: 'i1', requestId: '0b6e1c1e-0000-4000-8000-000000000001', at: 0, principal: 'team-a', kind: 'chat', route: 'chat', model: 'gpt-x', upstreamModel: 'gpt-x',
    provider: 'p', endpointId: 'p/1/gpt-x', status: 200, cls: null, attempts: 1, latencyMs: 12.6, ttftMs: 8.2, promptTokens: 3, completionTokens: 4,
    stream: false, repaired: false, error: null, ...over,
  };
}

function sink(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  return { lines, stream };
}

const events = [
  end({ at: 1_796_000_000_000, latencyMs: 12.6 }),
  end({ stream: true, repaired: true, cls: 'canceled', status: 499, ttftMs: null, promptTokens: 0, completionTokens: 0, principal: null }),
  end({ route: null, provider: null, endpointId: null, status: 404, model: 'we"ird\\mo\ndel ✓', attempts: 0 }),
  end({ status: 429, cls: 'rate_limit', attempts: 3 }),
];

test('the request line written directly is what pino writes for the same fields (a logger made by createLogger)', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'llmux-reqlog-'));
  const file = path.join(dir, 'llmux.log');
  const viaPino = sink();
  // the production logger (observe/logger.ts), writing to a file
  const logA = createLogger({ level: 'info', file, console: false, pretty: false });
  // the direct path never calls pino's info()
  logA.info = (() => assert.fail('the production logger went through pino for a request line')) as typeof logA.info;
  // any other logger goes through pino: the reference
  const logB = pino({ level: 'info', base: undefined, redact: { paths: redactPaths, censor: '[redacted]' } }, viaPino.stream);
  const stopA = subscribeRequestLog(logA, 'i1');
  const stopB = subscribeRequestLog(logB, 'i1');
  try {
    for (const e of events) channels.requestEnd.publish(e);
    channels.requestEnd.publish(end({ instance: 'other' }));
    await closeLogger(logA);
    await new Promise((r) => setImmediate(r));
    const direct = (await readFile(file, 'utf8')).trim().split('\n');
    assert.equal(direct.length, events.length);
    assert.equal(viaPino.lines.length, events.length);
    for (let i = 0; i < events.length; i++) {
      const a = JSON.parse(direct[i]!) as Record<string, unknown>;
      const b = JSON.parse(viaPino.lines[i]!) as Record<string, unknown>;
      assert.equal(typeof a.time, 'number');
      // The line's time is the request's end, its start plus its latency (no clock read a line).
      if (i === 0) assert.equal(a.time, 1_796_000_000_013);
      delete a.time;
      delete b.time;
      assert.deepEqual(Object.keys(a), Object.keys(b), `field order, event ${i}`);
      assert.deepEqual(a, b, `event ${i}`);
    }
    assert.equal((JSON.parse(direct[2]!) as { model: string }).model, 'we"ird\\mo\ndel ✓');
    assert.equal((JSON.parse(direct[2]!) as { route: unknown }).route, null, 'a request without a route says so');
  } finally {
    stopA();
    stopB();
    await rm(dir, { recursive: true, force: true });
  }
});

test('the request line respects the level, and 5xx answers are warnings with the error text', async () => {
  const out = sink();
  const log = pino({ level: 'warn', base: undefined }, out.stream);
  const stop = subscribeRequestLog(log, 'i1');
  try {
    channels.requestEnd.publish(end({}));
    channels.requestEnd.publish(end({ status: 503, cls: 'transient', error: 'All 2 upstream attempt(s) failed' }));
    await new Promise((r) => setImmediate(r));
    assert.equal(out.lines.length, 1);
    const line = JSON.parse(out.lines[0]!) as { level: number; msg: string; status: number };
    assert.equal(line.level, 40);
    assert.equal(line.status, 503);
    assert.equal(line.msg, 'All 2 upstream attempt(s) failed');
  } finally {
    stop();
  }
});

test('strings in the request line are escaped exactly as JSON.stringify does, for every UTF-16 code unit', () => {
  for (let c = 0; c < 0x10000; c++) {
    const model = `m${String.fromCharCode(c)}x`;
    const line = requestLine(end({ model }), 0);
    assert.ok(line.includes(`"model":${JSON.stringify(model)},`), `code unit ${c.toString(16)}`);
  }
  assert.ok(requestLine(end({ model: 'a😀b' }), 0).includes('"model":"a😀b"'));
  // Names repeat on every line and are remembered: the second line of a name is the same as the first.
  for (const model of ['plain', 'with "quotes"', 'tab\there', 'lone \ud800 surrogate']) {
    const first = requestLine(end({ model, principal: model }), 0);
    assert.equal(requestLine(end({ model, principal: model }), 0), first);
    assert.ok(first.includes(`"model":${JSON.stringify(model)},`) && first.includes(`"principal":${JSON.stringify(model)},`), first);
    assert.doesNotThrow(() => JSON.parse(first));
  }
});

test('the line\'s time is written as String(ms) writes it, the seconds kept between lines', () => {
  for (const ms of [0, 7, 999, 1000, 1001, 1009, 1010, 1099, 1100, 1_796_000_000_000, 1_796_000_000_005, 1_796_000_000_050, 1_796_000_000_999, 1_796_000_001_000, 1_796_000_000_123, 8.64e15, -5, -1500, 12.5, 1e21]) {
    assert.equal(msTime(ms), String(ms), String(ms));
  }
  // Lines of the same second and of the next, in any order.
  for (let ms = 1_796_000_000_990; ms < 1_796_000_001_020; ms += 3) assert.equal(msTime(ms), String(ms));
  assert.equal(msTime(1_796_000_000_001), '1796000000001');
  assert.match(requestLine(end({}), 1_796_000_000_042), /^\{"level":30,"time":1796000000042,/);
});
