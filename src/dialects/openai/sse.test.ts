import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseScanner, errorEvent, eventData, hasError, hasUsage, isContentChunk, isDone, readUsage } from './sse.ts';

const bounded = { timeout: 10_000 };

/** Feed chunks through one scanner; return every event as text, and what is left over. */
function scan(chunks: Buffer[]): { events: string[]; rest: string | null } {
  const s = new SseScanner();
  const events: string[] = [];
  for (const c of chunks) s.push(c, (b, st, e) => events.push(b.toString('utf8', st, e)));
  const rest = s.rest();
  return { events, rest: rest === null ? null : rest.toString('utf8') };
}

const chunk = (o: object): string => `data: ${JSON.stringify(o)}\n\n`;
const content = chunk({ choices: [{ index: 0, delta: { content: 'héllo 🌍' }, finish_reason: null }] });
const roleOnly = chunk({ choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] });
const usage = chunk({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 } });
const stream = [': keep-alive\n\n', roleOnly, content, usage, 'data: [DONE]\n\n'];

/** Check one event with a predicate taking (text, start, end), the text a chunk's latin1 string as the relay reads it. */
function on(text: string, f: (t: string, s: number, e: number) => boolean): boolean {
  // Surround with other bytes so start/end offsets are exercised.
  const b = Buffer.from(`xx${text}yy`).toString('latin1');
  return f(b, 2, 2 + Buffer.byteLength(text));
}

test('LF framing: one event per blank line, in order, nothing left over', bounded, () => {
  const { events, rest } = scan([Buffer.from(stream.join(''))]);
  assert.deepEqual(events, stream);
  assert.equal(rest, null);
});

test('CRLF framing is split the same way', bounded, () => {
  const crlf = stream.map((e) => e.replace(/\n/g, '\r\n'));
  const { events, rest } = scan([Buffer.from(crlf.join(''))]);
  assert.deepEqual(events, crlf);
  assert.equal(rest, null);
});

test('an event split across two chunks at every byte position comes out whole', bounded, () => {
  for (const eol of ['\n', '\r\n']) {
    const all = Buffer.from(stream.map((e) => e.replace(/\n/g, eol)).join(''));
    const want = scan([all]).events;
    for (let i = 0; i <= all.length; i++) {
      const got = scan([all.subarray(0, i), all.subarray(i)]);
      assert.deepEqual(got.events, want, `split at byte ${i} (${JSON.stringify(eol)})`);
      assert.equal(got.rest, null);
    }
  }
});

test('one byte per chunk still gives the same events (multi-byte UTF-8 included)', bounded, () => {
  const all = Buffer.from(stream.join(''));
  const bytes = [...all].map((b) => Buffer.from([b]));
  assert.deepEqual(scan(bytes).events, stream);
});

test('a split into three chunks at many positions comes out whole', bounded, () => {
  const all = Buffer.from(stream.join(''));
  const want = scan([all]).events;
  for (let i = 0; i < all.length; i += 7) {
    for (let j = i; j <= all.length; j += 11) {
      const got = scan([all.subarray(0, i), all.subarray(i, j), all.subarray(j)]);
      assert.deepEqual(got.events, want, `split at ${i} and ${j}`);
    }
  }
});

test('several events per chunk, and an unfinished one is kept for rest()', bounded, () => {
  const { events, rest } = scan([Buffer.from(`${roleOnly}${content}data: {"partial":`)]);
  assert.deepEqual(events, [roleOnly, content]);
  assert.equal(rest, 'data: {"partial":');
});

test('eventData joins multi-line data, skips comments, reports event names, handles CRLF', bounded, () => {
  const t = 'event: error\r\n: a comment\r\ndata: {"a":\r\ndata:1}\r\nid: 7\r\n\r\n';
  const b = Buffer.from(t);
  assert.deepEqual(eventData(b, 0, b.length), { data: '{"a":\n1}', name: 'error' });
  const c = Buffer.from(': only a comment\n\n');
  assert.deepEqual(eventData(c, 0, c.length), { data: null, name: null });
});

test('isDone is true for data: [DONE] with or without the space and with CRLF', bounded, () => {
  assert.ok(on('data: [DONE]\n\n', isDone));
  assert.ok(on('data:[DONE]\n\n', isDone));
  assert.ok(on('data: [DONE]\r\n\r\n', isDone));
  assert.ok(!on(content, isDone));
  assert.ok(!on(': [DONE] in a comment\n\n', isDone));
});

test('isDone is false for a content chunk whose text is "[DONE]"', bounded, () => {
  const tricky = chunk({ choices: [{ index: 0, delta: { content: '[DONE]' }, finish_reason: null }] });
  assert.equal(on(tricky, isDone), false);
  const legacy = chunk({ choices: [{ index: 0, text: 'say data: [DONE]' }] });
  assert.equal(on(legacy, isDone), false);
});

test('isDone looks only inside its own event', bounded, () => {
  const two = Buffer.from(`${content}data: [DONE]\n\n`);
  assert.equal(isDone(two.toString('latin1'), 0, Buffer.byteLength(content)), false);
});

test('hasUsage: true for a usage object, false for usage: null or the word in content', bounded, () => {
  assert.ok(on(usage, hasUsage));
  assert.ok(on('data: {"choices":[],"usage" : \n {"prompt_tokens":1}}\n\n', hasUsage));
  assert.ok(!on(chunk({ choices: [], usage: null }), hasUsage));
  assert.ok(!on(chunk({ choices: [{ delta: { content: '"usage": {"x":1}' } }] }), hasUsage));
});

test('hasError: an error object or an `event: error`, not an error: null or the word in content', bounded, () => {
  assert.ok(on(chunk({ error: { message: 'boom', type: 'server_error' } }), hasError));
  assert.ok(on('event: error\ndata: {"type":"error"}\n\n', hasError));
  assert.ok(!on(chunk({ error: null, choices: [] }), hasError));
  assert.ok(!on(chunk({ choices: [{ delta: { content: '"error": {"message":"x"}' } }] }), hasError));
});

test('isContentChunk: text, tool calls, reasoning and a finish reason commit; role-only and empty do not', bounded, () => {
  const c = (delta: object, finish: string | null = null): object => ({ choices: [{ index: 0, delta, finish_reason: finish }] });
  assert.ok(isContentChunk(c({ content: 'hi' })));
  assert.ok(isContentChunk(c({ tool_calls: [{ index: 0, function: { name: 'f' } }] })));
  assert.ok(isContentChunk(c({ reasoning_content: 'thinking' })));
  assert.ok(isContentChunk(c({ reasoning: 'thinking' })));
  assert.ok(isContentChunk(c({}, 'stop')));
  assert.ok(isContentChunk({ choices: [{ index: 0, text: 'legacy' }] }));
  assert.equal(isContentChunk(c({ role: 'assistant', content: '' })), false);
  assert.equal(isContentChunk(c({})), false);
  assert.equal(isContentChunk({ choices: [], usage: { prompt_tokens: 1 } }), false);
  assert.equal(isContentChunk(null), false);
  assert.equal(isContentChunk({ choices: 'nope' }), false);
});

test('readUsage reads prompt and completion tokens, deriving completion from total', bounded, () => {
  assert.deepEqual(readUsage({ prompt_tokens: 3, completion_tokens: 5 }), { promptTokens: 3, completionTokens: 5 });
  assert.deepEqual(readUsage({ prompt_tokens: 3, total_tokens: 10 }), { promptTokens: 3, completionTokens: 7 });
  assert.equal(readUsage(null), null);
  assert.equal(readUsage('x'), null);
});

test('errorEvent is an OpenAI error object in one data event', bounded, () => {
  const e = errorEvent('cut', 'upstream_error', 'stream_truncated').toString('utf8');
  assert.ok(e.startsWith('data: ') && e.endsWith('\n\n'));
  assert.deepEqual(JSON.parse(e.slice(6)), { error: { message: 'cut', type: 'upstream_error', param: null, code: 'stream_truncated' } });
});

test('QuickScan: ordinary content chunks pass without a look; usage, errors, [DONE] and odd events do not', async () => {
  const { QuickScan } = await import('./sse.ts');
  const k = (text: string): string => {
    const b = Buffer.from(`xx${text}`).toString('latin1');
    const q = new QuickScan();
    q.chunk(b);
    return q.kind(2, b.length);
  };
  const chunk = '{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]';
  assert.equal(k(`data: ${chunk},"usage":null}\n\n`), 'plain');
  assert.equal(k(`data:${chunk},"usage":null}\r\n\r\n`), 'plain');
  assert.equal(k(`data: ${chunk}}\n\n`), 'plain', 'no usage field at all');
  assert.equal(k(`data: ${chunk.replace('hi', 'the word \\"usage\\"')}}\n\n`), 'plain', 'an escaped mention inside the text is not a key');
  assert.equal(k(`data: ${chunk},"usage":{"prompt_tokens":1,"completion_tokens":2}}\n\n`), 'look');
  assert.equal(k(`data: {"error":{"message":"boom"}}\n\n`), 'look');
  assert.equal(k(`data: {"id":"c","error":{"message":"boom"},"usage":null}\n\n`.replace(',"usage":null', '')), 'look');
  assert.equal(k('data: [DONE]\n\n'), 'done');
  assert.equal(k('data:[DONE]\n\n'), 'done');
  assert.equal(k('data: [DONE] and more\n\n'), 'look');
  assert.equal(k(`event: error\ndata: {"error":{"message":"x"}}\n\n`), 'look');
  assert.equal(k(': keep-alive\n\n'), 'plain');
  assert.equal(k(`id: 7\ndata: ${chunk},"usage":null}\n\n`), 'plain');
  assert.equal(k(`data: ${chunk},"usage": null}\n\n`), 'plain');
  assert.equal(k(`id: 7\ndata: [DONE]\n\n`), 'look', '[DONE] after another field: the caller checks it');
  assert.equal(k(`data: ${chunk.replace('hi', 'say [DONE]')},"usage":null}\n\n`), 'look', '[DONE] inside the text: looked at, and isDone says no');
});

test('QuickScan: several events of one buffer, in order, each judged by the marks inside it', async () => {
  const { QuickScan, SseScanner } = await import('./sse.ts');
  const events = [
    'data: {"choices":[{"delta":{"content":"a"}}]}\n\n',
    'data: {"choices":[{"delta":{"content":"b"}}],"usage":null}\n\n',
    'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}\n\n',
    'data: {"choices":[{"delta":{"content":"c"}}]}\n\n',
    'event: error\ndata: {"error":{"message":"x"}}\n\n',
    'data: [DONE]\n\n',
  ];
  const q = new QuickScan();
  const kinds: string[] = [];
  new SseScanner().push(Buffer.from(events.join('')), (_b, s, e, text) => {
    if (s === 0) q.chunk(text);
    kinds.push(q.kind(s, e));
  });
  assert.deepEqual(kinds, ['plain', 'plain', 'look', 'plain', 'look', 'done']);
});

test('QuickScan: [DONE] is marked at its bracket, also first in a buffer; a text that says DONE] is not', async () => {
  const { QuickScan } = await import('./sse.ts');
  const b = '[DONE]data: {"choices":[{"delta":{"content":"ALL DONE] here"}}]}\n\ndata: [DONE]\n\n';
  const q = new QuickScan();
  q.chunk(b);
  assert.equal(q.next(0), 0, 'a [DONE] at the first byte');
  const second = b.indexOf('[DONE]\n');
  assert.equal(q.next(1), second, 'the next mark is the last event\'s bracket, not the text\'s DONE]');
  assert.equal(q.next(second + 1), -1);
});

test('QuickScan: marks of every kind, many of them, come back in buffer order', async () => {
  const { QuickScan, SseScanner } = await import('./sse.ts');
  // Usage in every chunk (some providers do that), errors and named events between them: more
  // marks than the small-array sort takes, and runs of each kind interleaved.
  for (const n of [3, 12]) {
    const events: string[] = [];
    const want: string[] = [];
    for (let i = 0; i < n; i++) {
      events.push(`data: {"choices":[{"delta":{"content":"${i}"}}],"usage":{"prompt_tokens":1,"completion_tokens":${i}}}\n\n`);
      want.push('look');
      events.push('data: {"choices":[{"delta":{"content":"plain"}}]}\n\n');
      want.push('plain');
      if (i % 3 === 0) {
        events.push('event: error\ndata: {"error":{"message":"x"}}\n\n');
        want.push('look');
      }
    }
    events.push('data: [DONE]\n\n');
    want.push('done');
    const q = new QuickScan();
    const kinds: string[] = [];
    new SseScanner().push(Buffer.from(events.join('')), (_b, s, e, text) => {
      if (s === 0) q.chunk(text);
      kinds.push(q.kind(s, e));
    });
    assert.deepEqual(kinds, want, `${n} usage events`);
  }
});

test('QuickScan(lastUsageOnly): only the last usage object of the complete events is marked; errors, named events and [DONE] as before', async () => {
  const { QuickScan, SseScanner } = await import('./sse.ts');
  const usage = (n: number): string => `data: {"choices":[{"delta":{"content":"${n}"}}],"usage":{"prompt_tokens":1,"completion_tokens":${n}}}\n\n`;
  const events = [
    usage(1),
    'data: {"choices":[{"delta":{"content":"a"}}],"usage":null}\n\n',
    usage(2),
    'event: error\ndata: {"error":{"message":"x"}}\n\n',
    usage(3),
    'data: {"choices":[{"delta":{"content":"b"}}],"usage": null}\n\n',
    'data: [DONE]\n\n',
  ];
  const kinds = (text: string, q: InstanceType<typeof QuickScan>): string[] => {
    const out: string[] = [];
    new SseScanner().push(Buffer.from(text), (_b, s, e, t) => {
      if (s === 0) q.chunk(t);
      out.push(q.kind(s, e));
    });
    return out;
  };
  assert.deepEqual(kinds(events.join(''), new QuickScan(true)), ['plain', 'plain', 'plain', 'look', 'look', 'plain', 'done']);
  assert.deepEqual(kinds(events.join(''), new QuickScan()), ['look', 'plain', 'look', 'look', 'look', 'plain', 'done'], 'every usage without the option');
  // A long chunk (a whole answer in one read) is searched from its end, a short one forwards: the same marks.
  const long = `data: {"choices":[{"delta":{"content":"${'a usage note, '.repeat(200)}"}}]}\n\n`;
  assert.deepEqual(kinds(long + events.join(''), new QuickScan(true)), ['plain', 'plain', 'plain', 'plain', 'look', 'look', 'plain', 'done']);
  for (const one of events) {
    const want = kinds(long + one, new QuickScan(true)).slice(1);
    assert.deepEqual(kinds(one, new QuickScan(true)), want, one);
  }
  // A usage object in an event whose blank line has not arrived is not the last one yet: the one
  // before it is marked, and the cut event is searched again with the next chunk.
  const text = Buffer.from(`${usage(1)}${usage(2).slice(0, -1)}`).toString('latin1');
  const q = new QuickScan(true);
  q.chunk(text);
  assert.equal(q.next(0), text.indexOf('"usage"'));
  assert.equal(q.next(text.indexOf('"usage"') + 1), -1);
  // Only null usages, or none: no mark.
  for (const t of ['data: {"choices":[],"usage":null}\n\n', 'data: {"choices":[]}\n\n', 'usage"']) {
    const n = new QuickScan(true);
    n.chunk(t);
    assert.equal(n.next(0), -1, t);
  }
});

test('hasText: a non-empty content string is recognised without a parse; anything else asks for one', async () => {
  const { hasText, eventData } = await import('./sse.ts');
  const t = (text: string): boolean => {
    const b = Buffer.from(`zz${text}`).toString('latin1');
    return hasText(b, 2, b.length);
  };
  assert.equal(t('data: {"choices":[{"delta":{"content":"Hi"}}]}\n\n'), true);
  assert.equal(t('data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n'), false, 'role-only');
  assert.equal(t('data: {"choices":[{"delta":{"content":null,"tool_calls":[]}}]}\n\n'), false);
  assert.equal(t('data: {"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"{\\"content\\":\\"x\\"}"}}]}}]}\n\n'), false, 'escaped inside a string');
  assert.equal(t('data: {"choices":[{"logprobs":{"content":[]},"delta":{}}]}\n\n'), false);
  // eventData: the one-line fast path and the general one
  const cases: Array<[string, { data: string | null; name: string | null }]> = [
    ['data: {"a":1}\n\n', { data: '{"a":1}', name: null }],
    ['data:{"a":1}\r\n\r\n', { data: '{"a":1}', name: null }],
    ['data: {"a":1}\ndata: {"b":2}\n\n', { data: '{"a":1}\n{"b":2}', name: null }],
    ['event: error\ndata: {"e":1}\n\n', { data: '{"e":1}', name: 'error' }],
    [': ping\n\n', { data: null, name: null }],
    ['data: x\nid: 3\n\n', { data: 'x', name: null }],
    ['data: {"a":"Grüße 🌍"}\n\n', { data: '{"a":"Grüße 🌍"}', name: null }],
    ['event: x\ndata: {"a":"Grüße 🌍"}\n\n', { data: '{"a":"Grüße 🌍"}', name: 'x' }],
  ];
  for (const [ev, want] of cases) assert.deepEqual(eventData(Buffer.from(ev), 0, Buffer.byteLength(ev)), want, JSON.stringify(ev));
  assert.deepEqual(eventData(Buffer.from('data: {"a":1}\ndata: {"b":2}\n\n'), 0, 31), { data: '{"a":1}\n{"b":2}', name: null });
});

test('eventEnd and lastBoundary find the same event ends as the forward scanner, at any cut', bounded, async () => {
  const { eventEnd, lastBoundary, SseScanner } = await import('./sse.ts');
  for (const eol of ['\n', '\r\n']) {
    const text = ['data: {"a":1}', ': comment', 'event: error' + eol + 'data: {"error":{}}', 'data: [DONE]'].map((e) => e + eol + eol).join('');
    const buf = Buffer.from(text);
    const latin1 = buf.toString('latin1');
    const ends: number[] = [];
    new SseScanner().push(buf, (_b, _s, e) => ends.push(e));
    assert.equal(ends.length, 4);
    assert.equal(ends[3], buf.length);
    for (let hi = 0; hi <= buf.length; hi++) {
      // The end of the last whole event within [0, hi), or 0.
      const want = ends.filter((e) => e <= hi).at(-1) ?? 0;
      assert.equal(lastBoundary(latin1, 0, hi), want, `cut at ${hi} (${JSON.stringify(eol)})`);
    }
    let start = 0;
    for (const e of ends) {
      assert.equal(eventEnd(latin1, start), e);
      start = e;
    }
    assert.equal(eventEnd(latin1.slice(0, ends[0]! - 1), 0), -1, 'an event without its blank line has no end yet');
    assert.equal(lastBoundary(latin1, ends[1]!, buf.length), buf.length);
    assert.equal(lastBoundary(latin1, ends[2]!, ends[3]! - 1), ends[2], 'nothing before lo is a boundary');
  }
});
