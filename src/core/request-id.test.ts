import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requestId } from './request-id.ts';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('request ids are random version 4 UUIDs, as crypto.randomUUID writes them, across many batches', () => {
  const seen = new Set<string>();
  // 1,000 ids: several batches of 128, so every refill is crossed.
  for (let i = 0; i < 1000; i++) {
    const id = requestId();
    assert.match(id, UUID_V4);
    seen.add(id);
  }
  assert.equal(seen.size, 1000);
});

test('every hex digit of a request id varies, apart from the version and variant bits', () => {
  const ids = Array.from({ length: 512 }, () => requestId());
  for (let pos = 0; pos < 36; pos++) {
    const chars = new Set(ids.map((id) => id[pos]));
    if ([8, 13, 18, 23].includes(pos)) assert.deepEqual([...chars], ['-']);
    else if (pos === 14) assert.deepEqual([...chars], ['4']);
    else if (pos === 19) assert.ok([...chars].every((c) => '89ab'.includes(c!)) && chars.size === 4, `variant digit: ${[...chars]}`);
    // 512 draws of 16 equally likely digits: all 16 appear but with probability about 1e-12.
    else assert.equal(chars.size, 16, `position ${pos}: ${[...chars].join('')}`);
  }
});

test('a request id keeps its text after later batches are written', () => {
  const first = requestId();
  const copy = `${first}`;
  for (let i = 0; i < 300; i++) requestId();
  assert.equal(first, copy);
  assert.match(first, UUID_V4);
});
