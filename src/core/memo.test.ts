import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boundedMemo } from './memo.ts';

test('boundedMemo calls the function once per argument, and forgets everything past its bound', () => {
  const calls: string[] = [];
  const upper = boundedMemo((s) => {
    calls.push(s);
    return s.toUpperCase();
  }, 3);
  assert.equal(upper('a'), 'A');
  assert.equal(upper('a'), 'A');
  assert.equal(upper('b'), 'B');
  assert.equal(upper('c'), 'C');
  assert.deepEqual(calls, ['a', 'b', 'c'], 'remembered');
  // A fourth distinct argument empties the memory first: 'a' is computed again afterwards.
  assert.equal(upper('d'), 'D');
  assert.equal(upper('a'), 'A');
  assert.deepEqual(calls, ['a', 'b', 'c', 'd', 'a']);
  assert.equal(upper('d'), 'D');
  assert.equal(calls.length, 5, 'd is still remembered');
});
