import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { maxDepth, redactDeep } from './redact.ts';

describe('redactDeep', () => {
  it('redacts credential headers in any case, and key fields', () => {
    const out = redactDeep({
      headers: { Authorization: 'Bearer abc', 'x-api-key': 'k1', 'API-KEY': 'k2', cookie: 'c', 'Set-Cookie': ['a', 'b'], 'proxy-authorization': 'p', accept: 'json' },
      api_key: 'x', apiKey: { nested: 'y' }, key: 123, keys: ['a', 'b'], keyboard: 'stays',
    });
    assert.deepEqual(out, {
      headers: { Authorization: '[redacted]', 'x-api-key': '[redacted]', 'API-KEY': '[redacted]', cookie: '[redacted]', 'Set-Cookie': '[redacted]', 'proxy-authorization': '[redacted]', accept: 'json' },
      api_key: '[redacted]', apiKey: '[redacted]', key: '[redacted]', keys: '[redacted]', keyboard: 'stays',
    });
  });

  it('replaces key shapes inside any string, leaving the rest of the text', () => {
    const out = redactDeep({
      error: 'Incorrect API key provided: sk-proj-AbC123_xyz-789. See docs.',
      list: ['AIzaSyA1234567890abcdef', 'sk-short', 'plain'],
      messages: [{ role: 'user', content: 'my key is sk-or-v1-0123456789abcdef' }],
    });
    assert.deepEqual(out, {
      error: 'Incorrect API key provided: [redacted]. See docs.',
      list: ['[redacted]', 'sk-short', 'plain'],
      messages: [{ role: 'user', content: 'my key is [redacted]' }],
    });
    assert.equal(redactDeep('sk-0123456789'), '[redacted]');
    assert.equal(redactDeep('task-management-board, Bearer sk-0123456789'), 'task-management-board, Bearer [redacted]');
  });

  it('does not modify its input', () => {
    const input = { headers: { authorization: 'Bearer sk-0123456789abc' }, text: 'sk-0123456789abc' };
    const before = structuredClone(input);
    redactDeep(input);
    assert.deepEqual(input, before);
  });

  it('marks cycles, but copies a shared object that is not a cycle', () => {
    const shared = { v: 1 };
    const a: Record<string, unknown> = { name: 'a', one: shared, two: shared };
    a.self = a;
    a.list = [a, { back: a }];
    const out = redactDeep(a) as Record<string, unknown>;
    assert.deepEqual(out, { name: 'a', one: { v: 1 }, two: { v: 1 }, self: '[circular]', list: ['[circular]', { back: '[circular]' }] });
    assert.doesNotThrow(() => JSON.stringify(out));
  });

  it('walks 100 levels, and far deeper inputs without overflowing the stack', () => {
    const build = (n: number): Record<string, unknown> => {
      const root: Record<string, unknown> = {};
      let cur = root;
      for (let i = 0; i < n; i++) {
        const next: Record<string, unknown> = {};
        cur.child = next;
        cur = next;
      }
      cur.api_key = 'secret';
      cur.text = 'sk-abcdefghijkl';
      return root;
    };
    let node = redactDeep(build(100)) as Record<string, unknown>;
    for (let i = 0; i < 100; i++) node = node.child as Record<string, unknown>;
    assert.deepEqual(node, { api_key: '[redacted]', text: '[redacted]' });

    const deep = redactDeep(build(200_000));
    // Capped so the JSON.stringify that follows cannot overflow either.
    assert.match(JSON.stringify(deep), /"\[too deep\]"/);
    let depth = 0;
    for (let n = deep as Record<string, unknown>; typeof n.child === 'object'; n = n.child as Record<string, unknown>) depth++;
    assert.ok(depth < maxDepth);
  });

  it('turns what JSON cannot hold into JSON-safe values', () => {
    const err = Object.assign(new Error('connect failed for sk-abcdefghijkl'), { code: 'ECONNREFUSED' });
    const out = redactDeep({ at: new Date(0), n: 10n, f: () => 1, inf: Infinity, err, arr: [undefined, () => 1], buf: Buffer.from('hi') });
    assert.deepEqual(out, {
      at: '1970-01-01T00:00:00.000Z', n: '10', inf: null, arr: [null, null],
      err: { name: 'Error', message: 'connect failed for [redacted]', code: 'ECONNREFUSED' },
      buf: { type: 'Buffer', data: [104, 105] },
    });
    assert.equal(redactDeep(null), null);
    assert.equal(redactDeep(5), 5);
  });
});
