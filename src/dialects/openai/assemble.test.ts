import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StreamAssembler, completionToEvents } from './assemble.ts';

const bounded = { timeout: 5_000 };

function events(sse: string): any[] {
  return sse.split('\n\n').filter((e) => e.startsWith('data: ') && e !== 'data: [DONE]').map((e) => JSON.parse(e.slice(6)));
}

test('chunks of a chat stream assemble into one chat.completion, tool calls included', bounded, () => {
  const asm = new StreamAssembler();
  const base = { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm' };
  asm.add({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' } }] });
  asm.add({ ...base, choices: [{ index: 0, delta: { content: 'Hel' } }] });
  asm.add({ ...base, choices: [{ index: 0, delta: { content: 'lo', reasoning_content: 'hmm' } }] });
  asm.add({ ...base, choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: 't1', type: 'function', function: { name: 'get', arguments: '{"a"' } }] } }] });
  asm.add({ ...base, choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: ':1}' } }] }, finish_reason: 'tool_calls' }] });
  asm.add({ ...base, choices: [], usage: { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 } });
  const r = asm.result() as any;
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.id, 'c1');
  assert.equal(r.choices[0].message.content, 'Hello');
  assert.equal(r.choices[0].message.reasoning_content, 'hmm');
  assert.deepEqual(r.choices[0].message.tool_calls, [{ id: 't1', type: 'function', function: { name: 'get', arguments: '{"a":1}' } }]);
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  assert.deepEqual(r.usage, { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 });
});

test('chunks of a legacy stream assemble into one text_completion', bounded, () => {
  const asm = new StreamAssembler();
  for (const t of ['Hel', 'lo']) asm.add({ id: 'x', object: 'text_completion', created: 1, model: 'm', choices: [{ index: 0, text: t, finish_reason: null }] });
  asm.add({ id: 'x', object: 'text_completion', created: 1, model: 'm', choices: [{ index: 0, text: '', finish_reason: 'stop' }] });
  const r = asm.result() as any;
  assert.equal(r.object, 'text_completion');
  assert.deepEqual(r.choices, [{ index: 0, text: 'Hello', logprobs: null, finish_reason: 'stop' }]);
});

test('a chat.completion becomes chat chunks, usage only when asked, then [DONE]', bounded, () => {
  const resp = { id: 'c1', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop' }], usage: { total_tokens: 3 } };
  const sse = completionToEvents(resp, false);
  assert.ok(sse.endsWith('data: [DONE]\n\n'));
  const ev = events(sse);
  assert.ok(ev.every((e) => e.object === 'chat.completion.chunk'));
  assert.equal(ev.map((e) => e.choices[0]?.delta?.content ?? '').join(''), 'Hi');
  assert.equal(ev.at(-1).choices[0].finish_reason, 'stop');
  assert.ok(!ev.some((e) => e.usage));
  assert.deepEqual(events(completionToEvents(resp, true)).at(-1).usage, { total_tokens: 3 });
});

test('a text_completion becomes text_completion chunks', bounded, () => {
  const resp = { id: 'x', object: 'text_completion', created: 1, model: 'm', choices: [{ index: 0, text: 'Hello', finish_reason: 'length' }], usage: { total_tokens: 3 } };
  const ev = events(completionToEvents(resp, true));
  assert.ok(ev.every((e) => e.object === 'text_completion'));
  assert.equal(ev.map((e) => e.choices[0]?.text ?? '').join(''), 'Hello');
  assert.equal(ev[1].choices[0].finish_reason, 'length');
  assert.deepEqual(ev.at(-1).usage, { total_tokens: 3 });
});

test('reasoning keeps the name the upstream used (OpenRouter\'s reasoning, or reasoning_content)', bounded, () => {
  const asm = new StreamAssembler();
  const base = { id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm' };
  for (const r of ['Let me ', 'think.']) asm.add({ ...base, choices: [{ index: 0, delta: { reasoning: r } }] });
  asm.add({ ...base, choices: [{ index: 0, delta: { content: 'Four.' }, finish_reason: 'stop' }] });
  const m = (asm.result() as any).choices[0].message;
  assert.equal(m.reasoning, 'Let me think.');
  assert.equal(m.reasoning_content, undefined);
});

test('a chat.completion\'s other message fields (reasoning under any name, refusal) go into the delta', bounded, () => {
  const message = { role: 'assistant', content: 'Four.', reasoning: 'Two plus two.', thinking: 'hmm', refusal: null };
  const resp = { id: 'c1', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message, finish_reason: 'stop' }] };
  const first = events(completionToEvents(resp, false))[0].choices[0].delta;
  assert.deepEqual(first, message);
});
