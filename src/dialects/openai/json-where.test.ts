import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeJsonError, jsonErrorOffset } from './json-where.ts';

const bounded = { timeout: 5_000 };

test('valid JSON has no error offset', bounded, () => {
  for (const t of ['{}', '[]', ' {"a": [1, -2.5e3, true, false, null, "x\\"\\u00e9\\n"]} ', '"s"', '0', '{"a":{"b":[]}}']) {
    assert.doesNotThrow(() => JSON.parse(t));
    assert.equal(jsonErrorOffset(t), null, t);
  }
});

test('the offset is the first character JSON.parse would refuse', bounded, () => {
  const cases: Array<[string, number]> = [
    ['hello', 0],
    ['{"a":1,}', 7],
    ['{"a" 1}', 5],
    ['{"a":1} x', 8],
    ['[1,]', 3],
    ['{"a":01}', 6],
    ['{"a":"b\\x"}', 7],
    ['{"a":"b', 7],
    ['{"a":', 5],
    ["{'a':1}", 1],
    ['{"a":tru}', 5],
    ['{"a":1]', 6],
    ['[1}', 2],
  ];
  for (const [text, at] of cases) {
    assert.throws(() => JSON.parse(text));
    assert.equal(jsonErrorOffset(text), at, text);
  }
});

test('a raw control character inside a string is an error at that character', bounded, () => {
  assert.equal(jsonErrorOffset('{"a":"x\ty"}'), 7);
});

test('100 000 open brackets are scanned without recursion', bounded, () => {
  const t = '['.repeat(100_000);
  assert.equal(jsonErrorOffset(t), 100_000);
});

test('describeJsonError gives position, line and column', bounded, () => {
  assert.equal(describeJsonError('{\n  "a": 1,\n}'), ' at position 12 (line 3, column 1)');
  assert.equal(describeJsonError('{}'), '');
});
