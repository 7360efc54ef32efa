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

test('jsonErrorOffset agrees with JSON.parse on thousands of damaged chunks', bounded, () => {
  const samples = [
    '{"id":"c","object":"chat.completion.chunk","created":1,"choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}',
    '{"a":[1,-0.5,2e10,-3E-2,true,false,null,"x\\"y\\\\z\\u00e9\\n\\/"],"b":{"c":{}},"d":[]}',
    '[{"k":"Grüße 🌍"},0,{"n":-12.75e+3}]',
  ];
  // A deterministic generator: the same cases every run.
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const alphabet = '{}[]":,. -+0123456789eEtrufalsn\\u\t\nabc';
  let checked = 0;
  for (const base of samples) {
    for (let k = 0; k < 1500; k++) {
      let t = base;
      for (let m = 0, n = 1 + rnd(3); m < n; m++) {
        const at = rnd(t.length + 1);
        const op = rnd(3);
        const ch = alphabet[rnd(alphabet.length)]!;
        t = op === 0 ? t.slice(0, at) + t.slice(at + 1) : op === 1 ? t.slice(0, at) + ch + t.slice(at) : t.slice(0, at) + ch + t.slice(at + 1);
      }
      let valid = true;
      try {
        JSON.parse(t);
      } catch {
        valid = false;
      }
      assert.equal(jsonErrorOffset(t) === null, valid, t);
      checked++;
    }
  }
  assert.equal(checked, 4500);
});
