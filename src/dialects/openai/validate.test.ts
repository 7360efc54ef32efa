import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LlmuxError } from '../../core/errors.ts';
import { nonAscii } from './sse.ts';
import { maxDepth, parseJsonBody, parseLatin1Shape, validateChat, validateCompletion, validateEmbeddings } from './validate.ts';

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

/**
 * What llmux acts on, read from a parse: the top-level keys (those outside ASCII as `?`: llmux knows
 * none), model, whether it streams, the usage option, and whether each message has a role.
 */
function decisions(body: Record<string, unknown>): unknown {
  const roles = Array.isArray(body.messages) ? (body.messages as Record<string, unknown>[]).map((m) => typeof m?.role) : null;
  const keys = Object.keys(body).map((k) => (nonAscii.test(k) ? '?' : k));
  const so = body.stream_options as { include_usage?: unknown } | null | undefined;
  const options = typeof so === 'object' && so !== null ? { usage: so.include_usage } : so;
  return { keys, model: body.model, stream: body.stream === true, options, roles };
}

test('a body with text outside ASCII, read as latin1: the same decisions as the UTF-8 parse, or null for the exact parse', bounded, () => {
  const chinese = '{"model":"gpt-4o","messages":[{"role":"user","content":"你好，世界 😀 “quoted”"}],"stream":true,"stream_options":{"include_usage":true},"temperature":0.5}';
  const raw = Buffer.from(chinese);
  const shape = parseLatin1Shape(raw, validateChat);
  assert.ok(shape !== null);
  const exact = JSON.parse(chinese) as Record<string, unknown>;
  assert.deepEqual(decisions(shape), decisions(exact));
  // The strings' non-ASCII text reads as latin1: what reads it parses the bytes as UTF-8 (routing/context.ts exactBody).
  assert.equal((shape.messages as { content: string }[])[0]!.content, Buffer.from('你好，世界 😀 “quoted”').toString('latin1'));
  // Left to the exact parse: a model outside ASCII (also one spelt with escapes), a change by validation
  // (forbidden fields, prompt → messages), a failing check, a body that is not JSON or not an object.
  assert.equal(parseLatin1Shape(Buffer.from('{"model":"模型","messages":[]}'), validateChat), null);
  assert.equal(parseLatin1Shape(Buffer.from('{"model":"mod\\u00e9l","messages":[{"role":"user","content":"é"}]}'), validateChat), null);
  assert.equal(parseLatin1Shape(Buffer.from('{"model":"m","api_base":"http://x","messages":[{"role":"user","content":"é"}]}'), validateChat), null);
  assert.equal(parseLatin1Shape(Buffer.from('{"model":"m","prompt":"é"}'), validateChat), null);
  assert.equal(parseLatin1Shape(Buffer.from('{"model":"m","messages":[{"content":"é"}]}'), validateChat), null);
  assert.equal(parseLatin1Shape(Buffer.from('{"model":"m","messages":[{"role":"user","content":"é"}],"stream":"yes"}'), validateChat), null);
  assert.equal(parseLatin1Shape(Buffer.from(`{"model":"m","messages":[],"x":${nested(maxDepth + 1)},"é":1}`), validateChat), null);
  assert.equal(parseLatin1Shape(Buffer.from('{"model":"m","messages":[],"__proto__":{"é":1}}'), validateChat), null);
  assert.equal(parseLatin1Shape(Buffer.from('\ufeff{"model":"m","messages":[]}'), validateChat), null);
  assert.equal(parseLatin1Shape(Buffer.from('["é"]'), validateChat), null);
  assert.equal(parseLatin1Shape(Buffer.from('{"model":"m","messages":[{"role":"user","content":"é"}'), validateChat), null);
  // A byte outside ASCII between tokens fails both readings (no JSON whitespace is outside ASCII).
  assert.equal(parseLatin1Shape(Buffer.from('{"model":"m",\u00a0"messages":[]}'), validateChat), null);
});

test('the latin1 reading against the UTF-8 parse over generated bodies: it passes exactly the bodies the exact path passes unchanged (with an ASCII model), to the same decisions', bounded, () => {
  // A seeded generator (mulberry32), so a failure names a body that can be made again.
  let seed = 0x5eed25;
  const rnd = (): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const texts = ['hi', '你好', 'é', '😀', '“q”', 'a\\"b', '\\u00e9', '\\u4e2d', 'line\\nbreak', 'back\\\\slash', 'ÿ', '\u0080', '\\ud83d\\ude00', '\\ud83d'];
  const text = (): string => Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => pick(texts)).join('');
  const keys = ['model', 'messages', 'prompt', 'input', 'stream', 'stream_options', 'temperature', 'user', 'metadata', 'api_base', 'é', '键', 'tools'];
  const value = (k: string): string => {
    switch (k) {
      case 'model': return pick(['"gpt"', `"${text()}"`, '1', '""']);
      case 'messages': return `[${Array.from({ length: Math.floor(rnd() * 3) }, () => pick([`{"role":"user","content":"${text()}"}`, `{"content":"${text()}"}`, `{"role":"${text()}","content":[{"type":"text","text":"${text()}"}]}`])).join(',')}]`;
      case 'prompt': case 'input': return pick([`"${text()}"`, `["${text()}"]`, '3']);
      case 'stream': return pick(['true', 'false', `"${text()}"`]);
      case 'stream_options': return pick(['{"include_usage":true}', 'null', `{"${text()}":1}`]);
      case 'temperature': return pick(['0.5', '1.0', `"${text()}"`]);
      default: return pick([`"${text()}"`, `{"${text()}":"${text()}"}`, '[1,2]', 'null']);
    }
  };
  // Bytes outside ASCII that are no UTF-8, or no JSON whitespace: a lone continuation byte, a cut
  // sequence, an overlong quote, a surrogate's bytes, a BOM, a no-break space.
  const bad = [[0x80], [0xe4, 0xbd], [0xc0, 0xa2], [0xed, 0xa0, 0x80], [0xef, 0xbb, 0xbf], [0xc2, 0xa0], [0xff], [0xf8, 0x88, 0x80, 0x80, 0x80]];
  const validators = [validateChat, validateCompletion, validateEmbeddings];
  let shapes = 0;
  for (let n = 0; n < 3000; n++) {
    // Mostly bodies a client sends (a model and what its kind needs), with other members in any order.
    const named = [...(rnd() < 0.9 ? ['model'] : []), ...(rnd() < 0.9 ? [pick(['messages', 'prompt', 'input'])] : []), ...Array.from({ length: Math.floor(rnd() * 5) }, () => pick(keys))];
    const members = named.map((k) => `"${k}":${k === 'model' && rnd() < 0.8 ? '"gpt"' : value(k)}`).sort(() => rnd() - 0.5);
    let bytes = Buffer.from(`{${members.join(pick([',', ' , ', ',\n']))}}`);
    // In one body of five, bad bytes somewhere: in a key, a value, the model, between tokens.
    if (rnd() < 0.2) {
      const at = Math.floor(rnd() * bytes.length);
      bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(pick(bad)), bytes.subarray(at)]);
    }
    for (const validate of validators) {
      const shape = parseLatin1Shape(bytes, validate);
      let exact: Record<string, unknown> | null = null;
      let changed = true;
      try {
        exact = parseJsonBody(bytes.toString('utf8'), false).body;
        changed = validate(exact);
      } catch {
        exact = null;
      }
      const passes = exact !== null && !changed && typeof exact.model === 'string' && !nonAscii.test(exact.model);
      assert.equal(shape !== null, passes, `${validate.name}: ${bytes.toString('utf8')}`);
      if (shape === null) continue;
      shapes++;
      assert.deepEqual(decisions(shape), decisions(exact!), bytes.toString('utf8'));
    }
  }
  assert.ok(shapes > 500, `only ${shapes} bodies took the latin1 reading`);
});
