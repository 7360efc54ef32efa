/**
 * The stream relay on its own, with exact chunk cuts (no TCP in between): every place a read can end
 * must give the same bytes to the client, the same usage and the same commit, with and without
 * back-pressure. The integration tests (test/integration/relay.test.ts) cover the same through HTTP.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { UpstreamCall } from '../upstream/client.ts';
import type { ServerResponse } from 'node:http';
import type { AttemptResult } from './attempt.ts';
import type { RequestContext } from './context.ts';
import type { Endpoint } from './planner.ts';
import { relay as relayStream } from './relay.ts';

const bounded = { timeout: 30_000 };

/** A response that records what reaches the client; `full()` says when `write` reports a full buffer. */
class FakeResponse extends PassThrough {
  out: Buffer[] = [];
  status = 0;
  ended = false;
  headersSent = false;
  full: () => boolean = () => false;
  writeHead(status: number): this {
    this.status = status;
    this.headersSent = true;
    return this;
  }
  override write(chunk: Buffer | string): boolean {
    this.out.push(Buffer.from(chunk));
    const full = this.full();
    if (full) setImmediate(() => this.emit('drain'));
    return !full;
  }
  override end(chunk?: unknown): this {
    if (chunk) this.out.push(Buffer.from(chunk as Buffer));
    this.ended = true;
    return this;
  }
  text(): string {
    return Buffer.concat(this.out).toString('utf8');
  }
}

function relay(pieces: Buffer[], opts: { includeUsage?: boolean; full?: () => boolean; after?: (call: UpstreamCall) => void; provider?: string } = {}): Promise<{ res: FakeResponse; r: AttemptResult; paused: number }> {
  const res = new FakeResponse();
  if (opts.full) res.full = opts.full;
  const ctx = { res: res as unknown as ServerResponse, includeUsage: opts.includeUsage ?? false, capture: false, t0: performance.now(), id: 'req-1', attempts: [], signal: new AbortController().signal } as unknown as RequestContext;
  const ep = { provider: { id: opts.provider ?? 'p', keys: ['sk-secret-key'], headers: {}, reasoningField: undefined }, model: 'm' } as unknown as Endpoint;
  // The upstream call driven as undici drives it: a piece that is refused (onData → false) holds the
  // next one back until the call resumes the "parser".
  const call = new UpstreamCall(1 << 20);
  let resumed: (() => void) | null = null;
  call.onConnect(() => {});
  call.onHeaders(200, [Buffer.from('Content-Type'), Buffer.from('text/event-stream')], () => resumed?.());
  let paused = 0;
  const pause = call.pause.bind(call);
  call.pause = () => {
    paused++;
    pause();
  };
  const p = new Promise<AttemptResult>((resolve) => relayStream(ctx, ep, call, performance.now(), call, () => {}, resolve));
  // One piece per turn of the loop, so every piece is its own onData call.
  (async () => {
    for (const piece of pieces) {
      if (call.onData(piece) === false) await new Promise<void>((r) => (resumed = r));
      await new Promise((r) => setImmediate(r));
    }
    if (opts.after) opts.after(call);
    else call.onComplete();
  })();
  return p.then((r) => ({ res, r, paused }));
}

const chunk = (delta: object, finish: string | null = null, usage: unknown = null): string =>
  JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }], usage });

function events(eol: string): string[] {
  return [
    `data: ${chunk({ role: 'assistant', content: '' })}${eol}${eol}`,
    `data: ${chunk({ content: 'Grüße 🌍' })}${eol}${eol}`,
    `: keep-alive${eol}${eol}`,
    `data: ${chunk({ content: ' "usage" and [DONE] and "error" as text' })}${eol}${eol}`,
    `data: ${chunk({}, 'stop')}${eol}${eol}`,
    `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } })}${eol}${eol}`,
    `data: [DONE]${eol}${eol}`,
  ];
}

for (const eol of ['\n', '\r\n']) {
  test(`every cut of a stream gives the same bytes, usage and commit (${JSON.stringify(eol)})`, bounded, async () => {
    const ev = events(eol);
    const body = Buffer.from(ev.join(''));
    const stripped = ev.filter((_, i) => i !== 5).join('');
    for (let k = 1; k < body.length; k++) {
      const { res, r } = await relay([body.subarray(0, k), body.subarray(k)]);
      assert.equal(res.text(), stripped, `cut at ${k}`);
      assert.equal(res.status, 200);
      assert.ok(res.ended);
      assert.equal(r.type, 'done');
      assert.deepEqual(r.type === 'done' && r.usage, { promptTokens: 3, completionTokens: 4 }, `usage, cut at ${k}`);
      assert.equal(r.type === 'done' && r.cls, null);
    }
    // Three pieces, and the caller who asked for usage gets every byte.
    for (let k = 3; k + 40 < body.length; k += 7) {
      const { res } = await relay([body.subarray(0, k), body.subarray(k, k + 40), body.subarray(k + 40)], { includeUsage: true });
      assert.equal(res.text(), body.toString('utf8'), `cuts at ${k}, ${k + 40}`);
    }
  });
}

test('back-pressure pauses the upstream and loses nothing', bounded, async () => {
  const ev = events('\n');
  const pieces = ev.map((e) => Buffer.from(e));
  let n = 0;
  const { res, paused } = await relay(pieces, { full: () => ++n % 2 === 0 });
  assert.equal(res.text(), ev.filter((_, i) => i !== 5).join(''));
  assert.ok(paused > 0, 'the upstream was paused at least once');
});

test('an upstream error after the answer ended with [DONE] is not the caller\'s loss', bounded, async () => {
  const ev = events('\n');
  const { res, r } = await relay([Buffer.from(ev.join(''))], { after: (c) => c.onError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })) });
  assert.equal(res.text(), ev.filter((_, i) => i !== 5).join(''));
  assert.equal(r.type, 'done');
  assert.equal(r.type === 'done' && r.cls, null);
});

test('an error event before any content fails the attempt and nothing reaches the client', bounded, async () => {
  const err = `data: ${JSON.stringify({ error: { message: 'overloaded', type: 'server_error' } })}\n\n`;
  const { res, r } = await relay([Buffer.from(err + `data: ${chunk({ content: 'x' })}\n\ndata: [DONE]\n\n`)]);
  assert.equal(r.type, 'fail');
  assert.equal(res.out.length, 0);
  assert.equal(res.headersSent, false);
});

test('an error event is read as UTF-8 (the searches read latin1): its message keeps its characters', bounded, async () => {
  // One data line, which the relay parses from the chunk's latin1 text: the message must still come from UTF-8.
  const err = `data: ${JSON.stringify({ error: { message: 'Überlastet — 服务器繁忙', type: 'server_error' } })}\n\n`;
  const { r } = await relay([Buffer.from(err + `data: ${chunk({ content: 'x' })}\n\ndata: [DONE]\n\n`)]);
  assert.equal(r.type, 'fail');
  assert.match(r.type === 'fail' ? r.message : '', /Überlastet — 服务器繁忙/);
});

test('non-ASCII text before content (a role chunk with a name) is judged as the parse of its UTF-8 would judge it', bounded, async () => {
  const role = `data: ${chunk({ role: 'assistant', content: '', name: 'Zoë 助手' })}\n\n`;
  const body = role + `data: ${chunk({ content: 'héllo' })}\n\ndata: [DONE]\n\n`;
  const { res, r } = await relay([Buffer.from(body)]);
  assert.equal(r.type, 'done');
  assert.equal(res.text(), body);
  // A role chunk whose text is cut inside a multi-byte character is still JSON (in a string): the answer goes through.
  const bytes = Buffer.from(body);
  const cut = Buffer.concat([bytes.subarray(0, bytes.indexOf('Zo') + 3), bytes.subarray(bytes.indexOf('Zo') + 4)]);
  const second = await relay([cut]);
  assert.equal(second.r.type, 'done');
});

test('two chunks with the same bytes are each looked at (the second usage-only chunk is dropped too)', bounded, async () => {
  const head = `data: ${chunk({ role: 'assistant', content: '' })}\n\ndata: ${chunk({ content: 'x' })}\n\n`;
  const usageOnly = `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } })}\n\n`;
  // An event after the mark, so that the search for the next mark runs past it in the first chunk.
  const more = `data: ${chunk({ content: 'y' })}\n\n`;
  const same = usageOnly + more;
  const { res, r } = await relay([Buffer.from(head), Buffer.from(same), Buffer.from(same), Buffer.from('data: [DONE]\n\n')]);
  assert.equal(res.text(), `${head}${more}${more}data: [DONE]\n\n`);
  assert.deepEqual(r.type === 'done' && r.usage, { promptTokens: 3, completionTokens: 4 });
});

test('a broken event before content fails the attempt, also when the next event of the same chunk is content', bounded, async () => {
  const content = `data: ${chunk({ content: 'x' })}\n\n`;
  for (const broken of [
    `data: ${chunk({ role: 'assistant', content: '' }).slice(0, -2)}\n\n`, // cut: brackets unbalanced
    'data: {"choices":[{"delta":{"role":"assistant"}}]}}\n\n', // one bracket too many
    'data: {"choices":[{"delta":{"role":"assistant}}]}\n\n', // a string left open
    'data: {"id":"c1","delta":{"role":"assistant"}}\n\n', // no choices: parsed, and not content
    'data: not json\n\n',
  ]) {
    const { res, r } = await relay([Buffer.from(`${broken}${content}data: [DONE]\n\n`)]);
    if (broken.startsWith('data: {"id":"c1","delta"')) {
      // Valid JSON, no content: parsed (not only shape-checked) and passed on before the content event.
      assert.equal(r.type, 'done', broken);
      assert.equal(res.text(), `${broken}${content}data: [DONE]\n\n`);
      continue;
    }
    assert.equal(r.type, 'fail', broken);
    assert.match(r.type === 'fail' ? r.message : '', /not JSON/, broken);
    assert.equal(res.out.length, 0, broken);
  }
});

test('usage in every event (a running count): the caller who asked for it gets every event, the last count is recorded, at every cut', bounded, async () => {
  const ev = [
    `data: ${chunk({ role: 'assistant', content: '' }, null, { prompt_tokens: 3, completion_tokens: 0, total_tokens: 3 })}\n\n`,
    `data: ${chunk({ content: 'a' }, null, { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 })}\n\n`,
    `data: ${chunk({ content: 'b' }, null, null)}\n\n`,
    `data: ${chunk({ content: 'c' }, null, { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 })}\n\n`,
    `data: ${chunk({}, 'stop', null)}\n\n`,
    'data: [DONE]\n\n',
  ];
  const body = Buffer.from(ev.join(''));
  for (let k = 1; k < body.length; k += 3) {
    const { res, r } = await relay([body.subarray(0, k), body.subarray(k)], { includeUsage: true });
    assert.equal(res.text(), body.toString('utf8'), `cut at ${k}`);
    assert.deepEqual(r.type === 'done' && r.usage, { promptTokens: 3, completionTokens: 5 }, `usage, cut at ${k}`);
  }
  // One event a chunk, as a slow upstream sends them.
  const { r } = await relay(ev.map((e) => Buffer.from(e)), { includeUsage: true });
  assert.deepEqual(r.type === 'done' && r.usage, { promptTokens: 3, completionTokens: 5 });
});

test('an event that is JSON but no object (null, a number, a list) fails the attempt before content and passes after it', bounded, async () => {
  for (const odd of ['null', '42', '[1]', '"text"']) {
    const before = await relay([Buffer.from(`data: ${odd}\n\ndata: ${chunk({ content: 'x' })}\n\ndata: [DONE]\n\n`)]);
    assert.equal(before.r.type, 'fail', odd);
    assert.match(before.r.type === 'fail' ? before.r.message : '', /not a JSON object/, odd);
    assert.equal(before.res.out.length, 0, odd);
    const body = `data: ${chunk({ role: 'assistant', content: '' })}\n\ndata: ${chunk({ content: 'x' })}\n\ndata: ${odd}\n\ndata: [DONE]\n\n`;
    const after = await relay([Buffer.from(body)]);
    assert.equal(after.r.type, 'done', odd);
    assert.equal(after.res.text(), body, odd);
  }
});

test('the role chunk an upstream sent before, with another id and time, passes without a parse; a broken one still fails over', bounded, async () => {
  const roleOf = (id: string, created: number, delta: object = { role: 'assistant', content: '' }): string =>
    JSON.stringify({ id, object: 'chat.completion.chunk', created, model: 'm-quiet', choices: [{ index: 0, delta, finish_reason: null }] });
  const rest = `data: ${chunk({ content: 'x' })}\n\ndata: [DONE]\n\n`;
  const parsed: string[] = [];
  const parse = JSON.parse;
  JSON.parse = ((text: string, reviver?: Parameters<typeof JSON.parse>[1]) => {
    parsed.push(text);
    return parse(text, reviver);
  }) as typeof JSON.parse;
  try {
    const first = roleOf('chatcmpl-1', 1763900000);
    const a = await relay([Buffer.from(`data: ${first}\n\n${rest}`)], { provider: 'quiet' });
    assert.equal(a.r.type, 'done');
    assert.ok(parsed.includes(first), 'the first is parsed (and teaches its template)');
    parsed.length = 0;
    const second = roleOf('chatcmpl-2', 1763900007);
    const b = await relay([Buffer.from(`data: ${second}\n\n${rest}`)], { provider: 'quiet' });
    assert.equal(b.r.type, 'done');
    assert.equal(b.res.text(), `data: ${second}\n\n${rest}`);
    assert.ok(!parsed.includes(second), 'the second is recognised without a parse');
    // The same start, then broken: not the template's event, so parsed, and the attempt fails.
    for (const broken of [second.slice(0, -2), `${second}}`, roleOf('chatcmpl-3', 7).replace('"m-quiet"', '"m-quiet')]) {
      const c = await relay([Buffer.from(`data: ${broken}\n\n${rest}`)], { provider: 'quiet' });
      assert.equal(c.r.type, 'fail', broken);
      assert.equal(c.res.out.length, 0, broken);
    }
    // With content in it: not the template's event either; it commits the stream.
    const content = roleOf('chatcmpl-4', 8, { role: 'assistant', content: 'hello' });
    const d = await relay([Buffer.from(`data: ${content}\n\ndata: [DONE]\n\n`)], { provider: 'quiet' });
    assert.equal(d.r.type, 'done');
    assert.equal(d.res.text(), `data: ${content}\n\ndata: [DONE]\n\n`);
  } finally {
    JSON.parse = parse;
  }
});

/**
 * A long answer, as a fast upstream sends it whole (several KB in one chunk, like the bench's 5.4 KB):
 * `n` content events between the role chunk and the end, text that looks like marks inside some of
 * them. The relay's marks, event boundaries and commit over many events, in one chunk and cut
 * anywhere.
 */
function longEvents(eol: string, n = 40, opts: { nullUsage?: boolean; runningUsage?: boolean; plain?: boolean } = {}): string[] {
  const u = (i: number): unknown => (opts.runningUsage ? (i % 3 === 2 ? null : { prompt_tokens: 3, completion_tokens: i, total_tokens: 3 + i }) : opts.nullUsage ? null : undefined);
  const texts = opts.plain ? ['Load', ' balancing', ' spreads', ' requests'] : ['Load', ' "usage" is a word', ' [DONE] too', ' an error" here', ' Grüße 🌍 中文', ' event: not a field'];
  const ev = [`data: ${chunk({ role: 'assistant', content: '' }, null, u(0))}${eol}${eol}`];
  for (let i = 1; i <= n; i++) ev.push(`data: ${chunk({ content: texts[i % texts.length]! }, null, u(i))}${eol}${eol}`);
  ev.push(`data: ${chunk({}, 'stop', u(n + 1))}${eol}${eol}`);
  if (!opts.runningUsage) ev.push(`data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } })}${eol}${eol}`);
  ev.push(`data: [DONE]${eol}${eol}`);
  return ev;
}

for (const eol of ['\n', '\r\n']) {
  test(`a long answer in one chunk or cut anywhere: the same bytes, usage and commit as event by event (${JSON.stringify(eol)})`, bounded, async () => {
    for (const nullUsage of [false, true]) {
      const ev = longEvents(eol, 40, { nullUsage });
      const body = Buffer.from(ev.join(''));
      assert.ok(body.length > 6000);
      const usageAt = ev.length - 2;
      const stripped = ev.filter((_, i) => i !== usageAt).join('');
      const check = async (pieces: Buffer[], what: string): Promise<void> => {
        const { res, r } = await relay(pieces);
        assert.equal(res.text(), stripped, what);
        assert.ok(res.ended, what);
        assert.equal(r.type, 'done', what);
        assert.deepEqual(r.type === 'done' && r.usage, { promptTokens: 3, completionTokens: 4 }, what);
        assert.equal(r.type === 'done' && r.cls, null, what);
      };
      await check([body], 'one chunk');
      await check(ev.map((e) => Buffer.from(e)), 'event by event');
      for (let k = 1; k < body.length; k += 11) await check([body.subarray(0, k), body.subarray(k)], `cut at ${k} (null usage: ${nullUsage})`);
      for (let k = 5; k + 2500 < body.length; k += 97) await check([body.subarray(0, k), body.subarray(k, k + 2500), body.subarray(k + 2500)], `cuts at ${k}, ${k + 2500}`);
      // The caller who asked for usage gets every byte.
      for (let k = 1; k < body.length; k += 53) {
        const { res, r } = await relay([body.subarray(0, k), body.subarray(k)], { includeUsage: true });
        assert.equal(res.text(), body.toString('utf8'), `cut at ${k}, usage asked for`);
        assert.deepEqual(r.type === 'done' && r.usage, { promptTokens: 3, completionTokens: 4 });
      }
    }
  });
}

test('long chunks with nothing to look at after content (plain text events) pass whole, in pieces of every size', bounded, async () => {
  const ev = longEvents('\n', 60, { plain: true });
  const body = Buffer.from(ev.join(''));
  const stripped = ev.filter((_, i) => i !== ev.length - 2).join('');
  for (let k = 300; k + 4000 < body.length; k += 61) {
    // The middle piece: 4 KB of content events and the start of the next, no mark in it.
    const { res, r } = await relay([body.subarray(0, k), body.subarray(k, k + 4000), body.subarray(k + 4000)]);
    assert.equal(res.text(), stripped, `cuts at ${k}, ${k + 4000}`);
    assert.deepEqual(r.type === 'done' && r.usage, { promptTokens: 3, completionTokens: 4 });
  }
});

test('a long answer with a running usage count in its events: every event reaches the caller who asked, the last count is recorded, at every cut', bounded, async () => {
  const ev = longEvents('\n', 30, { runningUsage: true });
  const body = Buffer.from(ev.join(''));
  assert.ok(body.length > 4000);
  // The last count: the finish event's (index 31: completion 31); the events with null skip a count.
  const last = { promptTokens: 3, completionTokens: 31 };
  for (let k = 1; k < body.length; k += 17) {
    for (const includeUsage of [true, false]) {
      const { res, r } = await relay([body.subarray(0, k), body.subarray(k)], { includeUsage });
      // Running counts ride on content events: none is dropped, whoever asked.
      assert.equal(res.text(), body.toString('utf8'), `cut at ${k}`);
      assert.deepEqual(r.type === 'done' && r.usage, last, `usage, cut at ${k} (${includeUsage})`);
    }
  }
});

test('a long answer with an error event after content: failed over while nothing was sent, else passed on and recorded, at every cut; before content: fails', bounded, async () => {
  const ev = longEvents('\n', 30);
  const err = `data: ${JSON.stringify({ error: { message: 'overloaded mid-stream', type: 'server_error', code: 'overloaded' } })}\n\n`;
  ev.splice(20, 0, err);
  const body = Buffer.from(ev.join(''));
  const stripped = ev.filter((_, i) => i !== ev.length - 2).join('');
  // The stream commits once a chunk with its first content event has been read: an error event read in
  // that same chunk fails the attempt over (nothing has reached the client), a later one is passed on.
  const contentEnd = Buffer.byteLength(ev[0]! + ev[1]!);
  const errEnd = Buffer.byteLength(ev.slice(0, 21).join(''));
  for (let k = 1; k < body.length; k += 13) {
    const { res, r } = await relay([body.subarray(0, k), body.subarray(k)]);
    if (k < contentEnd || k >= errEnd) {
      assert.equal(r.type, 'fail', `cut at ${k}`);
      assert.match(r.type === 'fail' ? r.message : '', /overloaded mid-stream/);
      assert.equal(res.out.length, 0, `cut at ${k}`);
      continue;
    }
    assert.equal(res.text(), stripped, `cut at ${k}`);
    assert.equal(r.type, 'done');
    assert.notEqual(r.type === 'done' && r.cls, null, `cut at ${k}: the error event is recorded`);
    assert.match(r.type === 'done' ? (r.message ?? '') : '', /overloaded mid-stream/);
  }
  // Before any content, after more than the first KB of keep-alive comments: fails over, nothing sent.
  const pad = ': keep-alive padding to push the error past the first kilobyte of the chunk\n\n'.repeat(20);
  const before = Buffer.from(pad + err + longEvents('\n', 30).join(''));
  for (const pieces of [[before], [before.subarray(0, 1500), before.subarray(1500)]]) {
    const { res, r } = await relay(pieces);
    assert.equal(r.type, 'fail');
    assert.match(r.type === 'fail' ? r.message : '', /overloaded mid-stream/);
    assert.equal(res.out.length, 0);
    assert.equal(res.headersSent, false);
  }
});

test('a long chunk whose first content comes after more than its first KB (long comments, a long role chunk): committed there, bytes unchanged', bounded, async () => {
  const pad = ': keep-alive\n\n'.repeat(100);
  const longRole = `data: ${chunk({ role: 'assistant', content: '', name: 'n'.repeat(1500) })}\n\n`;
  for (const head of [pad, longRole, pad + longRole]) {
    const ev = longEvents('\n', 20);
    const body = Buffer.from(head + ev.join(''));
    const want = head + ev.filter((_, i) => i !== ev.length - 2).join('');
    for (let k = 1; k < body.length; k += 41) {
      const { res, r } = await relay(k === 1 ? [body] : [body.subarray(0, k), body.subarray(k)]);
      assert.equal(res.text(), want, `cut at ${k}`);
      assert.equal(r.type, 'done');
      assert.deepEqual(r.type === 'done' && r.usage, { promptTokens: 3, completionTokens: 4 });
    }
  }
});
