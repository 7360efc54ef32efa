import assert from 'node:assert/strict';
import { test } from 'node:test';
import { quickCheckBody, quickUsageEvent } from './quick-check.ts';
import { readUsage } from './sse.ts';

const ok = {
  id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'm',
  choices: [{ index: 0, message: { role: 'assistant', content: 'He said \"error\" twice: {not json}' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18, prompt_tokens_details: { cached_tokens: 0 } },
};
const q = (v: unknown, key: '"choices"' | '"data"' = '"choices"') => quickCheckBody(Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)), key);

test('quick check: a complete answer passes with its usage, compact or pretty-printed', () => {
  assert.deepEqual(q(ok), { usage: { promptTokens: 11, completionTokens: 7 } });
  assert.deepEqual(q(`\n  ${JSON.stringify(ok, null, 2)}\n`), { usage: { promptTokens: 11, completionTokens: 7 } });
  assert.deepEqual(q({ ...ok, usage: null }), { usage: null });
  const { usage: _u, ...noUsage } = ok;
  assert.deepEqual(q(noUsage), { usage: null });
  assert.deepEqual(q({ object: 'list', data: [{ embedding: [0.1], index: 0 }], usage: { prompt_tokens: 3, total_tokens: 3 } }, '"data"'), { usage: { promptTokens: 3, completionTokens: 0 } });
});

test('quick check: usage numbers read in one pass agree with a parse, odd usage objects still parsed', () => {
  const u = (usage: string) => q(JSON.stringify(ok).replace(/"usage":\{.*\}\}$/, `"usage":${usage}}`));
  assert.deepEqual(u('{"prompt_tokens":5,"completion_tokens":9,"total_tokens":14}'), { usage: { promptTokens: 5, completionTokens: 9 } });
  assert.deepEqual(u('{ "prompt_tokens" : 5 , "total_tokens" : 14 }'), { usage: { promptTokens: 5, completionTokens: 9 } });
  assert.deepEqual(u('{"prompt_tokens":5,"prompt_tokens_details":{"cached_tokens":2,"x":{"y":1}},"completion_tokens":9,"cost":null}'), { usage: { promptTokens: 5, completionTokens: 9 } });
  assert.deepEqual(u('{"prompt_tokens":5,"completion_tokens":9,"cost":0.0012}'), { usage: { promptTokens: 5, completionTokens: 9 } }, 'a fraction: parsed instead');
  assert.deepEqual(u('{"prompt_tokens":5,"completion_tokens":9,"note":"a, b"}'), { usage: { promptTokens: 5, completionTokens: 9 } }, 'a string: parsed instead');
  assert.deepEqual(u('{}'), { usage: { promptTokens: 0, completionTokens: 0 } });
});

test('quick check: the counts read in place are what readUsage makes of the parsed usage, field by field', () => {
  const u = (usage: string) => q(JSON.stringify(ok).replace(/"usage":\{.*\}\}$/, `"usage":${usage}}`));
  // Every combination of present, null and absent counts, small and large, in both key orders, and a
  // total below the prompt (the completion count a total implies is never negative).
  const values = [undefined, null, 0, 3, 40, 1234567];
  for (const p of values) for (const c of values) for (const t of values) {
    for (const order of [['prompt_tokens', 'completion_tokens', 'total_tokens'], ['total_tokens', 'completion_tokens', 'prompt_tokens']]) {
      const v: Record<string, number | null | undefined> = { prompt_tokens: p, completion_tokens: c, total_tokens: t };
      const obj: Record<string, number | null> = {};
      for (const k of order) if (v[k] !== undefined) obj[k] = v[k]!;
      const text = JSON.stringify(obj);
      assert.deepEqual(u(text), { usage: readUsage(JSON.parse(text)) }, text);
    }
  }
});

test('quick check: anything unusual is left to the full parse (null)', () => {
  assert.equal(q({ ...ok, choices: [] }), null, 'empty choices');
  assert.equal(q({ id: 'x', object: 'chat.completion' }), null, 'no choices');
  assert.equal(q({ error: { message: 'quota', code: 429 } }), null, 'an error in a 200');
  assert.equal(q({ ...ok, error: null }), null, 'an error key at all');
  assert.equal(q(JSON.stringify(ok).slice(0, -10)), null, 'truncated');
  assert.equal(q('[1,2]'), null, 'not an object');
  assert.equal(q(''), null, 'empty');
  assert.equal(q({ ...ok, choices: 'yes' }), null, 'choices not a list');
  assert.equal(q(JSON.stringify(ok).replace('"usage":{', '"usage":{"prompt_tokens":')), null, 'broken usage');
  assert.equal(q(ok, '"data"'), null, 'embeddings answer without data');
  assert.equal(q(`${JSON.stringify(ok)}}`), null, 'an extra closing brace');
  assert.equal(q(JSON.stringify(ok).replace(']', '')), null, 'an unclosed list');
  assert.equal(q({ detail: { choices: [1] }, choices: [] }), null, 'a nested choices does not count');
  assert.equal(q({ detail: { choices: [1] } }), null, 'only a nested choices');
  const huge = q(JSON.stringify(ok).replace('"prompt_tokens":11', '"prompt_tokens":1' + '0'.repeat(400)));
  assert.deepEqual(huge, { usage: { promptTokens: 0, completionTokens: 7 } }, 'a count past any real one reads as 0, never Infinity');
});

test('quick usage event: the usage chunk is read in place; anything unusual is left to the parse', () => {
  const ev = (text: string) => {
    const b = Buffer.from(`xx${text}yy`).toString('latin1'); // not at offset 0, not at the end: ranges are honoured
    return quickUsageEvent(b, 2, b.length - 2);
  };
  const usage = { prompt_tokens: 21, completion_tokens: 17, total_tokens: 38, prompt_tokens_details: { cached_tokens: 0 } };
  assert.deepEqual(ev(`data: ${JSON.stringify({ id: 'c', choices: [], usage })}\n\n`), { usage: { promptTokens: 21, completionTokens: 17 }, emptyChoices: true });
  assert.deepEqual(ev(`data:${JSON.stringify({ choices: [], usage })}\r\n\r\n`), { usage: { promptTokens: 21, completionTokens: 17 }, emptyChoices: true });
  assert.deepEqual(ev(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'x' } }], usage })}\n\n`), { usage: { promptTokens: 21, completionTokens: 17 }, emptyChoices: false });
  assert.deepEqual(ev(`data: ${JSON.stringify({ choices: [], usage: null })}\n\n`), { usage: null, emptyChoices: true });
  // Left to the parse: an error key, a named event, two data lines, a cut object, a fraction, no choices.
  assert.equal(ev(`data: ${JSON.stringify({ choices: [], usage, error: { message: 'x' } })}\n\n`), null);
  assert.equal(ev(`event: error\ndata: ${JSON.stringify({ choices: [], usage })}\n\n`), null);
  assert.equal(ev(`data: {"choices":[],\ndata: "usage":{"prompt_tokens":1}}\n\n`), null);
  assert.equal(ev(`data: {"choices":[],"usage":{"prompt_tokens":1}\n\n`), null);
  assert.equal(ev(`data: {"choices":[],"usage":{"prompt_tokens":1.5}}\n\n`), null);
  assert.equal(ev(`data: {"usage":{"prompt_tokens":1}}\n\n`), null);
  assert.equal(ev(`data: {"x":{"choices":[]},"usage":{"prompt_tokens":1}}\n\n`), null, 'choices must be at the top level');
  // A nested usage is not the chunk's: never taken for counts, never a reason to drop the event.
  assert.equal(ev(`data: {"id":"c","choices":[],"meta":{"usage":{"prompt_tokens":3,"completion_tokens":4}}}\n\n`), null);
  assert.equal(ev(`data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop","usage":null}],"usage":{"prompt_tokens":5,"completion_tokens":6}}\n\n`), null);
});

test('quick check: a nested "usage" before the answer\'s own is left to the full parse', () => {
  const nested = { ...ok, choices: [{ ...ok.choices[0], usage: { prompt_tokens: 1, completion_tokens: 1 } }] };
  assert.equal(q(nested), null);
});


test('quick check: names are whole JSON strings, as a parse sees them', () => {
  // A text ending in an escaped quote and the name is not the key; the real keys are still found.
  assert.deepEqual(q({ ...ok, id: 'x"usage' }), { usage: { promptTokens: 11, completionTokens: 7 } });
  assert.deepEqual(q({ name: 'x"choices', ...ok }), { usage: { promptTokens: 11, completionTokens: 7 } });
  assert.deepEqual(q({ ...ok, id: 'x"error' }), { usage: { promptTokens: 11, completionTokens: 7 } });
  // "error" as a whole string, key or value, at any depth, leaves the body to the parse.
  assert.equal(q({ ...ok, object: 'error' }), null);
  assert.equal(q({ ...ok, choices: [{ ...ok.choices[0], finish_reason: 'error' }] }), null);
  // Escaped quotes and backslashes inside texts do not end them early.
  assert.deepEqual(q({ ...ok, choices: [{ index: 0, message: { role: 'assistant', content: 'a \\" b \\\\" c "} ]' }, finish_reason: 'stop' }] }), { usage: { promptTokens: 11, completionTokens: 7 } });
});
