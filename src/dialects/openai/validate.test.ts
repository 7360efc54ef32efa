import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LlmuxError } from '../../core/errors.ts';
import { maxDepth, parseJsonBody, validateChat, validateCompletion, validateEmbeddings } from './validate.ts';

const bounded = { timeout: 10_000 };

/** Assert `f` throws an LlmuxError with this API code (and param, when given). */
function throwsCode(f: () => unknown, code: string, param?: string | null): LlmuxError {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof LlmuxError, `expected an LlmuxError, got ${String(caught)}`);
  assert.equal(caught.apiCode, code, caught.message);
  if (param !== undefined) assert.equal(caught.param, param);
  return caught;
}

const nested = (depth: number): string => '{"a":'.repeat(depth - 1) + '{}' + '}'.repeat(depth - 1);

test('valid JSON parses without repair', bounded, () => {
  const r = parseJsonBody('{"model":"m","messages":[]}', true);
  assert.deepEqual(r.body, { model: 'm', messages: [] });
  assert.equal(r.repaired, false);
});

test('invalid JSON with repair off is invalid_json with the position', bounded, () => {
  const e = throwsCode(() => parseJsonBody('{"model": "m",, }', false), 'invalid_json', null);
  assert.match(e.message, /position \d+/);
  assert.equal(e.status, 400);
});

test('unrepairable JSON is invalid_json with the position', bounded, () => {
  const e = throwsCode(() => parseJsonBody('{"model":"m",,"messages":[]}', true), 'invalid_json');
  assert.match(e.message, /position 13 \(line 1, column 14\)/);
});

test('plain text is invalid_json with the position, not "repaired" into a JSON string', bounded, () => {
  const e = throwsCode(() => parseJsonBody('hello world', true), 'invalid_json');
  assert.match(e.message, /position 0/);
  const f = throwsCode(() => parseJsonBody('{"model":\n  "m"', false), 'invalid_json');
  assert.match(f.message, /position 15 \(line 2, column 6\)/, 'unexpected end: where the text stops');
});

for (const [name, text] of [
  ['a trailing comma', '{"model":"m","messages":[{"role":"user","content":"hi"},],}'],
  ['single quotes', "{'model':'m','messages':[{'role':'user','content':'hi'}]}"],
  ['unquoted keys', '{model:"m",messages:[{role:"user",content:"hi"}]}'],
  ['a comment', '{"model":"m", /* why not */ "messages":[{"role":"user","content":"hi"}] // end\n}'],
  ['a missing closing brace', '{"model":"m","messages":[{"role":"user","content":"hi"}]'],
] as const) {
  test(`repairs ${name}`, bounded, () => {
    const r = parseJsonBody(text, true);
    assert.equal(r.repaired, true);
    assert.deepEqual(r.body, { model: 'm', messages: [{ role: 'user', content: 'hi' }] });
  });
}

test('an empty or blank body is invalid_json', bounded, () => {
  throwsCode(() => parseJsonBody('', true), 'invalid_json');
  throwsCode(() => parseJsonBody('  \n ', true), 'invalid_json');
});

test('a body that is not an object is refused', bounded, () => {
  throwsCode(() => parseJsonBody('[1,2]', true), 'invalid_request');
  throwsCode(() => parseJsonBody('"text"', true), 'invalid_request');
  throwsCode(() => parseJsonBody('null', true), 'invalid_request');
});

test(`nesting up to ${maxDepth} levels passes; deeper is 400 with param`, bounded, () => {
  parseJsonBody(nested(maxDepth), true);
  const e = throwsCode(() => parseJsonBody(nested(maxDepth + 1), true), 'invalid_request');
  assert.ok(e.param?.startsWith('a.a.a'), `param ${e.param}`);
});

test('100 000 levels of nesting do not overflow the stack', bounded, () => {
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  throwsCode(() => parseJsonBody(`{"model":"m","messages":${deep}}`, true), 'invalid_request');
  // Unbalanced and deep: neither repair nor the error position may crash.
  throwsCode(() => parseJsonBody(`{"x":${'['.repeat(100_000)}`, true), 'invalid_json');
});

test('__proto__, constructor and prototype keys are refused anywhere, with param', bounded, () => {
  throwsCode(() => parseJsonBody('{"__proto__":{"admin":true},"model":"m"}', true), 'invalid_request', '__proto__');
  throwsCode(() => parseJsonBody('{"model":"m","messages":[{"role":"user","constructor":{}}]}', true), 'invalid_request', 'messages[0].constructor');
  throwsCode(() => parseJsonBody('{"model":"m","x":{"prototype":1}}', true), 'invalid_request', 'x.prototype');
  assert.equal(({} as Record<string, unknown>).admin, undefined, 'the global prototype is untouched');
});

test('chat: wrong field types name the field in param', bounded, () => {
  const base = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
  throwsCode(() => validateChat({ model: 'm', messages: 'hi' }), 'invalid_request', 'messages');
  throwsCode(() => validateChat({ ...base, max_tokens: '10' }), 'invalid_request', 'max_tokens');
  throwsCode(() => validateChat({ ...base, stream: 'true' }), 'invalid_request', 'stream');
  throwsCode(() => validateChat({ ...base, temperature: 'hot' }), 'invalid_request', 'temperature');
  throwsCode(() => validateChat({ ...base, stop: [1] }), 'invalid_request', 'stop');
  throwsCode(() => validateChat({ ...base, stream_options: 'yes' }), 'invalid_request', 'stream_options');
  throwsCode(() => validateChat({ ...base, max_tokens: 1.5 }), 'invalid_request', 'max_tokens');
  throwsCode(() => validateChat({ model: 'm', messages: ['hi'] }), 'invalid_request', 'messages[0]');
});

test('chat: model and messages are required', bounded, () => {
  throwsCode(() => validateChat({ messages: [] }), 'invalid_request', 'model');
  throwsCode(() => validateChat({ model: '', messages: [] }), 'invalid_request', 'model');
  throwsCode(() => validateChat({ model: 5, messages: [] }), 'invalid_request', 'model');
  throwsCode(() => validateChat({ model: 'm' }), 'invalid_request', 'messages');
});

test('chat: null optional fields and unknown fields pass through untouched', bounded, () => {
  const body = { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: null, stream_options: null, vendor_extra: { a: 1 } };
  assert.equal(validateChat(body), false);
  assert.deepEqual(body.vendor_extra, { a: 1 });
});

test('chat: prompt without messages becomes one user message', bounded, () => {
  const body: Record<string, unknown> = { model: 'm', prompt: 'say hi' };
  assert.equal(validateChat(body), true);
  assert.deepEqual(body.messages, [{ role: 'user', content: 'say hi' }]);
  assert.equal('prompt' in body, false);
  throwsCode(() => validateChat({ model: 'm', prompt: 5 }), 'invalid_request', 'prompt');
});

test('completions: prompt required, string or list; types checked', bounded, () => {
  validateCompletion({ model: 'm', prompt: 'hi' });
  validateCompletion({ model: 'm', prompt: ['a', 'b'] });
  throwsCode(() => validateCompletion({ model: 'm' }), 'invalid_request', 'prompt');
  throwsCode(() => validateCompletion({ model: 'm', prompt: 'x', max_tokens: '3' }), 'invalid_request', 'max_tokens');
});

test('embeddings: input required, string or list', bounded, () => {
  validateEmbeddings({ model: 'm', input: 'hi' });
  validateEmbeddings({ model: 'm', input: ['a'] });
  throwsCode(() => validateEmbeddings({ model: 'm' }), 'invalid_request', 'input');
  throwsCode(() => validateEmbeddings({ model: 'm', input: 5 }), 'invalid_request', 'input');
});

test('api_base, api_key, base_url and friends are stripped, by every validator', bounded, () => {
  const chat: Record<string, unknown> = { model: 'm', messages: [], api_base: 'http://evil', api_key: 'sk-x', base_url: 'http://evil', headers: {}, extra_headers: {} };
  assert.equal(validateChat(chat), true);
  assert.deepEqual(chat, { model: 'm', messages: [] });
  assert.equal(validateChat({ model: 'm', messages: [] }), false);
  const completion: Record<string, unknown> = { api_version: '1', model: 'm', prompt: 'hi', custom_llm_provider: 'x' };
  assert.equal(validateCompletion(completion), true);
  assert.deepEqual(completion, { model: 'm', prompt: 'hi' });
  assert.equal(validateCompletion({ model: 'm', prompt: 'hi' }), false);
  const embedding: Record<string, unknown> = { model: 'm', input: 'hi', headers: { authorization: 'x' } };
  assert.equal(validateEmbeddings(embedding), true);
  assert.deepEqual(embedding, { model: 'm', input: 'hi' });
  // A forbidden field is removed even when its value is null or of any type.
  const odd: Record<string, unknown> = { model: 'm', messages: [], api_key: null, base_url: 5 };
  assert.equal(validateChat(odd), true);
  assert.deepEqual(odd, { model: 'm', messages: [] });
});

test('with several wrong fields, the error names the first in the dialect\'s field order, whatever the body\'s key order', bounded, () => {
  throwsCode(() => validateChat({ temperature: 'hot', model: 'm', messages: [], max_tokens: 'ten' }), 'invalid_request', 'max_tokens');
  throwsCode(() => validateChat({ stream: 'yes', messages: [], model: 'm', temperature: 'hot' }), 'invalid_request', 'stream');
});
