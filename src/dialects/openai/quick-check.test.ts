import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../mock/admission.ts';
import { quickCheckBody, quickUsageEvent, topLevelStringValue, usageAtEnd } from './quick-check.ts';
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

/** The event [2, length - 2) of `xx${text}yy`, as the relay passes it. */
function eventText(text: string): { t: string; s: number; e: number; first: number; last: number } {
  const t = Buffer.from(`xx${text}yy`).toString('latin1');
  const e = t.length - 2;
  return { t, s: 2, e, first: t.indexOf('{'), last: t.lastIndexOf('}', e) };
}

test('usage chunk read from its end: the usual form, compact or spaced, with or without the list asked for', () => {
  const usage = { prompt_tokens: 21, completion_tokens: 17, total_tokens: 38, prompt_tokens_details: { cached_tokens: 0 } };
  const counts = { promptTokens: 21, completionTokens: 17 };
  const compact = `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage })}\n\n`;
  const spaced = `data: ${JSON.stringify({ id: 'c', choices: [], usage }, null, 1).replace(/\n/g, ' ')}\r\n\r\n`;
  for (const text of [compact, spaced]) {
    const { t, first, last } = eventText(text);
    assert.deepEqual(usageAtEnd(t, first, last, true), { usage: counts, emptyChoices: true }, text);
    assert.deepEqual(usageAtEnd(t, first, last, false), { usage: counts, emptyChoices: false }, text);
  }
  // A running count on a content chunk: the list is not empty, so only the walk can say so.
  const running = eventText(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'x' } }], usage })}\n\n`);
  assert.equal(usageAtEnd(running.t, running.first, running.last, true), undefined);
  assert.deepEqual(usageAtEnd(running.t, running.first, running.last, false), { usage: counts, emptyChoices: false });
});

test('usage chunk read from its end: every other form is left to the walk', () => {
  const u = '{"prompt_tokens":1,"completion_tokens":2}';
  for (const json of [
    `{"usage":${u},"choices":[]}`, // usage not last
    `{"choices":[],"x":{"usage":${u}}}`, // the last member holds a usage, but is another
    `{"choices":[],"x":{"y":1,"usage":${u}}}`, // a nested usage that closes where the last member does
    `{"m":{"usage":null},"choices":[],"usage":${u}}`, // not the event's first "usage"
    `{"choices":[],"k":"a\\"usage":1,"usage":${u}}`, // a "usage" inside a text comes first
    `{"choices":[],"usage":${u},"error":{"message":"x"}}`,
    `{"error":"x","choices":[],"usage":${u}}`, // "error" anywhere, as the walk refuses it
    `{"usage":${u}}`, // the only member
    `{"choices":[],"usage":{"prompt_tokens":1.5}}`, // unusual numbers
    `{"choices":[],"usage":[1]}`,
    `{"choices":[],"usage":null}`,
  ]) {
    const { t, first, last } = eventText(`data: ${json}\n\n`);
    assert.equal(usageAtEnd(t, first, last, false), undefined, json);
    assert.equal(usageAtEnd(t, first, last, true), undefined, json);
  }
  // With the list asked for: an empty list that is not the member just before, or not the first "choices".
  for (const json of [
    `{"choices":[],"id":"c","usage":${u}}`,
    `{"x":{"choices":[1]},"choices":[],"usage":${u}}`,
    `{"choices":[1],"usage":${u}}`,
    `{"choices":{},"usage":${u}}`,
  ]) {
    const { t, first, last } = eventText(`data: ${json}\n\n`);
    assert.equal(usageAtEnd(t, first, last, true), undefined, json);
  }
});

test('quick usage event agrees with a parse of the event on generated usage chunks (or leaves them to it)', () => {
  // A small deterministic generator: key order, spacing, nested details, list contents, decoys in texts.
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  let fast = 0;
  for (let i = 0; i < 3000; i++) {
    const usage: Record<string, unknown> = { prompt_tokens: rnd(500), completion_tokens: rnd(500) };
    if (rnd(2)) usage.total_tokens = (usage.prompt_tokens as number) + (usage.completion_tokens as number);
    if (rnd(3) === 0) usage.prompt_tokens_details = { cached_tokens: rnd(9), audio_tokens: 0 };
    if (rnd(5) === 0) delete usage.completion_tokens;
    const members: Array<[string, unknown]> = [
      ['id', ['c1', 'x"usage', 'say "error"', 'choices'][rnd(4)]],
      ['object', 'chat.completion.chunk'],
      ['choices', [[], [], [{ index: 0, delta: { content: 'hi' }, finish_reason: null }], [{ index: 0, delta: {}, finish_reason: 'stop' }]][rnd(4)]],
    ];
    if (rnd(4) === 0) members.push(['meta', { usage: rnd(2) ? null : { prompt_tokens: 1 } }]);
    if (rnd(6) === 0) members.push(['error', { message: 'x' }]);
    // Usually last, as providers send it.
    members.splice(rnd(4) === 0 ? rnd(members.length + 1) : members.length, 0, ['usage', usage]);
    const obj = Object.fromEntries(members);
    let json = JSON.stringify(obj, null, rnd(3) === 0 ? 1 : undefined);
    if (rnd(2)) json = json.replace(/\n */g, rnd(2) ? ' ' : '');
    const text = `data: ${json}\n\n`;
    const { t, s, e } = eventText(text);
    const parsed = JSON.parse(json) as { usage: unknown; choices: unknown[]; error?: unknown };
    const want = { usage: readUsage(parsed.usage), emptyChoices: Array.isArray(parsed.choices) && parsed.choices.length === 0 };
    for (const choices of [true, false]) {
      const got = quickUsageEvent(t, s, e, choices);
      if (got === null) continue;
      fast++;
      assert.equal(parsed.error, undefined, text);
      assert.deepEqual(got.usage, want.usage, text);
      if (choices) assert.equal(got.emptyChoices, want.emptyChoices, text);
    }
  }
  assert.ok(fast > 2000, `most chunks are read in place (${fast})`);
});

test('usage counts: an escaped or repeated count name is left to the parse, on both paths', () => {
  const ev = (json: string, choices: boolean) => {
    const { t, s, e } = eventText(`data: ${json}\n\n`);
    return quickUsageEvent(t, s, e, choices);
  };
  for (const usage of ['{"prompt\\u005ftokens":5,"completion_tokens":3}', '{"prompt_tokens":7,"prompt_tokens":null}', '{"prompt_tokens":7,"completion_tokens":1,"completion_tokens":{"x":1}}']) {
    for (const json of [`{"id":"x","choices":[],"usage":${usage}}`, `{"usage":${usage},"choices":[]}`, `{"id":"x","usage":${usage}}`]) {
      for (const choices of [true, false]) assert.equal(ev(json, choices), null, `${json} ${choices}`);
    }
  }
  // The answer's check parses such a usage object alone, and reads it as the whole answer's parse does.
  for (const body of [JSON.stringify(ok).replace('"prompt_tokens":11', '"prompt_tokens":11,"prompt_tokens":null'), JSON.stringify(ok).replace('"prompt_tokens"', '"prompt\\u005ftokens"')]) {
    assert.deepEqual(quickCheckBody(Buffer.from(body), '"choices"'), { usage: readUsage((JSON.parse(body) as { usage: unknown }).usage) }, body);
  }
});

test('usage chunk read from its end: an event already broken before its usage member is read as the usual chunk', () => {
  // After commit the relay forwards events without checking their JSON; this one's counts are taken,
  // and it is dropped when the caller did not ask for usage (no JSON parser would read it).
  const { t, first, last } = eventText('data: {"id":"c,"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3}}\n\n');
  assert.deepEqual(usageAtEnd(t, first, last, true), { usage: { promptTokens: 5, completionTokens: 3 }, emptyChoices: true });
});

test("a body's top-level model value is found for the splice, whatever nests or is escaped around it", () => {
  const at = (text: string): string | null => {
    const r = topLevelStringValue(Buffer.from(text), 'model');
    return r === null ? null : Buffer.from(text).subarray(r.start, r.end).toString();
  };
  assert.equal(at('{"model":"a","messages":[]}'), '"a"');
  assert.equal(at(' {\n  "messages": [{"role": "user", "content": "x"}],\n  "model" : "gpt-4o" ,\n  "stream": true\n}\n'), '"gpt-4o"');
  // Nested "model" keys, and the text `"model":"b"` inside a string, are not the body's own.
  assert.equal(at('{"metadata":{"model":"n"},"tools":[{"function":{"parameters":{"properties":{"model":{"type":"string"}}}}}],"messages":[{"content":"say \\"model\\":\\"b\\" {[ ]}"}],"model":"top"}'), '"top"');
  assert.equal(at('{"model":"esc\\"aped\\\\","n":1}'), '"esc\\"aped\\\\"');
  assert.equal(at('{"model":"模型-ü","x":"中文"}'), '"模型-ü"');
  // Not for sure, or not a string: the caller re-serialises.
  assert.equal(at('{"model":"a","model":"b"}'), null, 'named twice (a parse keeps the last)');
  assert.equal(at('{"model":"a","stream":false,"messages":[],"stream":true}'), null, 'another key twice: re-serialised, the upstream gets the value llmux acted on');
  assert.equal(at('{"model":"a","stream":false,"str\\u0065am":true}'), null);
  assert.equal(at('{"mod\\u0065l":"a"}'), null, 'a key with an escape could spell it');
  assert.equal(at('{"model":null}'), null);
  assert.equal(at('{"model":7}'), null);
  assert.equal(at('{"messages":[]}'), null);
  assert.equal(at('{}'), null);
  assert.equal(at('["model","a"]'), null);
});

test('the spliced body parses as the re-serialised one would, and keeps every other byte (differential, seeded)', () => {
  const rand = seededRandom(20261207);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)]!;
  const texts = ['plain', 'say "model":"x"', 'back\\slash\\', 'tab\tnew\nline', '{[brackets]}', '中文 ü €', 'quote at end "', '\\"', ''];
  const ws = ['', ' ', '\n  ', '\t'];
  const value = (depth: number): string => {
    const r = rand();
    if (depth > 3 || r < 0.3) return pick(['1', '-2.5e3', '12345678901234567890', 'true', 'false', 'null', JSON.stringify(pick(texts))]);
    if (r < 0.6) return `[${Array.from({ length: Math.floor(rand() * 3) }, () => value(depth + 1)).join(`,${pick(ws)}`)}]`;
    return `{${Array.from({ length: Math.floor(rand() * 3) }, () => `${JSON.stringify(pick(['model', 'content', 'role', 'x']))}${pick(ws)}:${pick(ws)}${value(depth + 1)}`).join(',')}}`;
  };
  let spliced = 0;
  for (let n = 0; n < 3000; n++) {
    const names = ['messages', 'tools', 'temperature', 'seed', 'stream'].sort(() => rand() - 0.5).slice(0, 1 + Math.floor(rand() * 4));
    const members = names.map((name) => `${JSON.stringify(name)}${pick(ws)}:${pick(ws)}${value(1)}`);
    members.splice(Math.floor(rand() * (members.length + 1)), 0, `"model"${pick(ws)}:${pick(ws)}${JSON.stringify(pick(texts))}`);
    const text = `${pick(ws)}{${pick(ws)}${members.join(`${pick(ws)},${pick(ws)}`)}${pick(ws)}}${pick(ws)}`;
    const parsed = JSON.parse(text) as Record<string, unknown>;
    const raw = Buffer.from(text);
    const r = topLevelStringValue(raw, 'model');
    assert.ok(r !== null, text);
    spliced++;
    const out = Buffer.concat([raw.subarray(0, r.start), Buffer.from(JSON.stringify('upstream/m')), raw.subarray(r.end)]);
    assert.deepEqual(JSON.parse(out.toString()), { ...parsed, model: 'upstream/m' }, text);
    assert.equal(out.subarray(0, r.start).toString(), raw.subarray(0, r.start).toString());
    assert.equal(out.subarray(out.length - (raw.length - r.end)).toString(), raw.subarray(r.end).toString());
  }
  assert.equal(spliced, 3000);
});
