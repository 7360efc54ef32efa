/**
 * UpstreamCall driven as undici's core drives a handler (onConnect, onHeaders, onData, onComplete,
 * onError), without a socket: the cut-offs for whole bodies, aborts before and after the answer,
 * and the stream hand-over (chunks that come before the sink, pause and resume, the end after the
 * last chunk). The request path through real sockets is covered by test/integration/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxErrorBodyBytes, UpstreamCall, type StreamSink } from './client.ts';

const sse = [Buffer.from('Content-Type'), Buffer.from('text/event-stream; charset=utf-8')];
const json = [Buffer.from('content-type'), Buffer.from('application/json'), Buffer.from('Retry-After'), Buffer.from('7')];

/** A sink that records what it hears, in order. */
function recorder(): { sink: StreamSink; heard: string[] } {
  const heard: string[] = [];
  return { heard, sink: { data: (c) => heard.push(`data:${c.toString()}`), end: () => heard.push('end'), error: (e) => heard.push(`error:${(e as { code?: string }).code}`) } };
}

test('a whole body is handed over at the end, headers parsed on demand, content-type from the raw head', async () => {
  const call = new UpstreamCall(1024);
  call.onConnect(() => {});
  assert.equal(call.onHeaders(200, json, () => {}), true);
  assert.equal(call.onData(Buffer.from('{"a":')), true);
  assert.equal(call.onData(Buffer.from('1}')), true);
  call.onComplete();
  const a = await call.answer;
  assert.equal(a.statusCode, 200);
  assert.equal(a.contentType, 'application/json');
  assert.equal(a.body?.toString(), '{"a":1}');
  assert.equal(a.stream, null);
  assert.equal(a.headers['retry-after'], '7');
});

test('a 2xx body over the limit fails the call (LLMUX_TOO_LARGE) and closes the connection', async () => {
  const call = new UpstreamCall(10);
  let closed = false;
  call.onConnect(() => (closed = true));
  call.onHeaders(200, json, () => {});
  assert.equal(call.onData(Buffer.alloc(11)), false);
  await assert.rejects(call.answer, (e: { code?: string }) => e.code === 'LLMUX_TOO_LARGE');
  assert.ok(closed);
  call.onError(new Error('aborted')); // undici reports the abort back: ignored
});

test('an error body over its cut-off is handed over empty, so the status alone classifies it', async () => {
  const call = new UpstreamCall(1 << 30);
  let closed = false;
  call.onConnect(() => (closed = true));
  call.onHeaders(503, json, () => {});
  call.onData(Buffer.alloc(maxErrorBodyBytes));
  call.onData(Buffer.alloc(1));
  const a = await call.answer;
  assert.equal(a.statusCode, 503);
  assert.equal(a.body?.length, 0);
  assert.ok(closed);
});

test('an abort before the answer rejects at once, even before undici connects; the connection is aborted when it does', async () => {
  const call = new UpstreamCall(1024);
  call.abort({ llmux: 'deadline' });
  await assert.rejects(call.answer, (e: { code?: string }) => e.code === 'UND_ERR_ABORTED');
  assert.equal(call.aborted, true);
  assert.deepEqual(call.reason, { llmux: 'deadline' });
  let closedWith: Error | undefined;
  call.onConnect((e) => (closedWith = e));
  assert.equal((closedWith as { code?: string } | undefined)?.code, 'UND_ERR_ABORTED');
});

test('a network error before the answer rejects with undici\'s error', async () => {
  const call = new UpstreamCall(1024);
  call.onConnect(() => {});
  call.onError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
  await assert.rejects(call.answer, (e: { code?: string }) => e.code === 'ECONNREFUSED');
});

test('a stream: chunks that came before the sink are delivered first, in order, then the end', async () => {
  const call = new UpstreamCall(1024);
  call.onConnect(() => {});
  call.onHeaders(200, sse, () => {});
  // The head and the first events usually arrive in one read, before the sink can start.
  assert.equal(call.onData(Buffer.from('a')), true);
  assert.equal(call.onData(Buffer.from('b')), true);
  call.onComplete();
  const a = await call.answer;
  assert.equal(a.body, null);
  const { sink, heard } = recorder();
  a.stream!.start(sink);
  assert.deepEqual(heard, ['data:a', 'data:b', 'end']);
});

test('a stream read ahead of its sink stops reading at 64 KiB and resumes when the sink starts', async () => {
  const call = new UpstreamCall(1024);
  let resumes = 0;
  call.onConnect(() => {});
  call.onHeaders(200, sse, () => resumes++);
  assert.equal(call.onData(Buffer.alloc(40 * 1024)), true);
  assert.equal(call.onData(Buffer.alloc(40 * 1024)), false);
  const { sink, heard } = recorder();
  (await call.answer).stream!.start(sink);
  assert.equal(heard.length, 2);
  // undici's parser is resumed from a microtask, never from inside a callback of its own.
  assert.equal(resumes, 0);
  await Promise.resolve();
  assert.equal(resumes, 1);
});

test('a sink that pauses stops the parser; resuming lets it go on, and chunks read meanwhile wait for it', async () => {
  const call = new UpstreamCall(1024);
  let resumes = 0;
  call.onConnect(() => {});
  call.onHeaders(200, sse, () => resumes++);
  const stream = (await call.answer).stream!;
  const heard: string[] = [];
  stream.start({
    data: (c) => {
      heard.push(c.toString());
      if (c.toString() === '1') stream.pause();
    },
    end: () => heard.push('end'),
    error: () => heard.push('error'),
  });
  assert.equal(call.onData(Buffer.from('1')), false); // delivered, and the sink paused: undici stops
  stream.resume();
  await Promise.resolve();
  assert.equal(resumes, 1);
  // Paused from outside a data callback (a full socket): what comes is read ahead, held in order.
  stream.pause();
  assert.equal(call.onData(Buffer.from('2')), true);
  assert.equal(call.onData(Buffer.from('3')), true);
  call.onComplete();
  assert.deepEqual(heard, ['1']);
  stream.resume();
  assert.deepEqual(heard, ['1', '2', '3', 'end']);
  await Promise.resolve();
  assert.equal(resumes, 1); // undici was not stopped the second time: nothing to resume
});

test('a sink that destroys the stream inside data stops the parser on that chunk', async () => {
  const call = new UpstreamCall(1024);
  let closed = false;
  call.onConnect(() => (closed = true));
  call.onHeaders(200, sse, () => {});
  const stream = (await call.answer).stream!;
  stream.start({ data: () => stream.destroy(), end: () => assert.fail('no end'), error: () => assert.fail('no error') });
  assert.equal(call.onData(Buffer.from('x')), false);
  assert.ok(closed);
});

test('an abort of a started stream reaches the sink on the next tick, and nothing after it', async () => {
  const call = new UpstreamCall(1024);
  let closed = false;
  call.onConnect(() => (closed = true));
  call.onHeaders(200, sse, () => {});
  const { sink, heard } = recorder();
  (await call.answer).stream!.start(sink);
  call.onData(Buffer.from('x'));
  call.abort({ llmux: 'client_gone' });
  assert.ok(closed);
  assert.deepEqual(heard, ['data:x']);
  call.onData(Buffer.from('late'));
  call.onError(new Error('aborted'));
  await new Promise((r) => process.nextTick(r));
  assert.deepEqual(heard, ['data:x', 'error:UND_ERR_ABORTED']);
});

test('a stream the consumer destroys closes the connection and tells the sink nothing more', async () => {
  const call = new UpstreamCall(1024);
  let closed = false;
  call.onConnect(() => (closed = true));
  call.onHeaders(200, sse, () => {});
  const stream = (await call.answer).stream!;
  const { sink, heard } = recorder();
  stream.start(sink);
  stream.destroy();
  assert.ok(closed);
  call.onError(new Error('aborted'));
  call.onComplete();
  assert.deepEqual(heard, []);
});

test('an upstream error mid-stream comes after the chunks before it', async () => {
  const call = new UpstreamCall(1024);
  call.onConnect(() => {});
  call.onHeaders(200, sse, () => {});
  call.onData(Buffer.from('a'));
  call.onError(Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }));
  const { sink, heard } = recorder();
  (await call.answer).stream!.start(sink);
  assert.deepEqual(heard, ['data:a', 'error:UND_ERR_SOCKET']);
});

test('a 2xx that is not an event stream, and an event stream with an error status, are read whole', async () => {
  for (const [status, head] of [[200, json], [429, sse]] as const) {
    const call = new UpstreamCall(1024);
    call.onConnect(() => {});
    call.onHeaders(status, head, () => {});
    call.onData(Buffer.from('body'));
    call.onComplete();
    const a = await call.answer;
    assert.equal(a.stream, null);
    assert.equal(a.body?.toString(), 'body');
  }
});

test('a 1xx head is skipped: the answer is the final one', async () => {
  const call = new UpstreamCall(1024);
  call.onConnect(() => {});
  assert.equal(call.onHeaders(100, [], () => {}), true);
  call.onHeaders(200, json, () => {});
  call.onComplete();
  assert.equal((await call.answer).statusCode, 200);
});

test('a repeated content-type counts whole (as undici\'s parsed headers join it): an event stream in either copy streams', async () => {
  const call = new UpstreamCall(1024);
  call.onConnect(() => {});
  call.onHeaders(200, [Buffer.from('content-type'), Buffer.from('application/json'), Buffer.from('Content-Type'), Buffer.from('text/event-stream')], () => {});
  const a = await call.answer;
  assert.equal(a.contentType, 'application/json, text/event-stream');
  assert.notEqual(a.stream, null);
});

test('onAnswer: the answer inside the callback that brings it, or at once when it came before; errors likewise; one listener', () => {
  // Listening first: delivered synchronously from onHeaders (a stream) — nothing waits for a microtask.
  const a = new UpstreamCall(1024);
  const heard: string[] = [];
  a.onAnswer((r) => heard.push(`answer ${r.statusCode} ${r.stream === null ? 'whole' : 'stream'}`), (e) => heard.push(`error ${String(e)}`));
  a.onConnect(() => {});
  a.onHeaders(200, sse, () => {});
  assert.deepEqual(heard, ['answer 200 stream']);
  assert.throws(() => a.onAnswer(() => {}, () => {}), /one listener/);
  // The answer before the listener (a whole body): kept, and handed over at once.
  const b = new UpstreamCall(1024);
  b.onConnect(() => {});
  b.onHeaders(200, json, () => {});
  b.onData(Buffer.from('{}'));
  b.onComplete();
  let got = '';
  b.onAnswer((r) => (got = r.body?.toString() ?? ''), () => (got = 'error'));
  assert.equal(got, '{}');
  // An abort before the answer: the listener's error side, synchronously, with the call marked aborted.
  const c = new UpstreamCall(1024);
  let err: unknown = null;
  c.onAnswer(() => assert.fail('no answer after an abort'), (e) => (err = e));
  c.abort('client_gone');
  assert.equal((err as { code?: string }).code, 'UND_ERR_ABORTED');
  assert.equal(c.aborted, true);
  assert.equal(c.reason, 'client_gone');
});
