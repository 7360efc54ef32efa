/**
 * Bad input through real HTTP (SPEC §7 "Bad input", fault matrix §5.5): malformed and repairable
 * JSON, nesting, prototype keys, wrong types, oversized and empty bodies, forbidden body fields,
 * odd header bytes on a raw socket, unknown paths and models — and every error in the OpenAI shape.
 */
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { gzipSync } from 'node:zlib';
import { startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.ts';
import { startTestGateway, providerFor, post, type TestGateway } from '../fakes/gateway.ts';

const bounded = { timeout: 15_000 };
let a: FakeUpstream;
let evil: FakeUpstream;
let gw: TestGateway;
let chatUrl: string;

before(async () => {
  a = await startFakeUpstream({ name: 'a' });
  evil = await startFakeUpstream({ name: 'evil' });
  gw = await startTestGateway({
    server: { bodyLimit: '1kb' },
    providers: [providerFor('a', a.baseUrl)],
    routes: [{ name: 'chat', targets: [{ provider: 'a' }] }],
  });
  chatUrl = `${gw.url}/v1/chat/completions`;
});
after(async () => {
  await gw.close();
  await a.close();
  await evil.close();
});
beforeEach(() => {
  a.reset();
  evil.reset();
});

/** Exactly `{error:{message,type,param,code}}`, message a non-empty string. */
function assertErrorShape(json: any, where: string): void {
  assert.ok(json && typeof json === 'object', `${where}: body is not JSON`);
  assert.deepEqual(Object.keys(json), ['error'], where);
  assert.deepEqual(Object.keys(json.error).sort(), ['code', 'message', 'param', 'type'], where);
  assert.equal(typeof json.error.message, 'string', where);
  assert.ok(json.error.message.length > 0, where);
  assert.equal(typeof json.error.type, 'string', where);
}

/** POST and expect an error status in the OpenAI shape; returns the error object. */
async function expectError(body: unknown, status: number, headers: Record<string, string> = {}): Promise<any> {
  const r = await post(chatUrl, body, headers);
  assert.equal(r.status, status, r.text);
  assertErrorShape(r.json, `${status} ${r.text}`);
  assert.match(r.headers.get('content-type') ?? '', /application\/json/);
  return r.json.error;
}

/** Send raw bytes on a socket and return everything the server wrote back (latin1). */
function rawExchange(bytes: Buffer | string, timeoutMs = 3_000): Promise<string> {
  const u = new URL(gw.url);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const sock = net.connect(Number(u.port), u.hostname);
    const done = (): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const timer = setTimeout(done, timeoutMs);
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('close', done);
    sock.on('error', done);
    sock.write(bytes);
  });
}

const chat = { model: 'chat', messages: [{ role: 'user', content: 'hi' }] };

test('invalid JSON is 400 invalid_json with the position', bounded, async () => {
  const e = await expectError('{"model":"chat",,"messages":[]}', 400);
  assert.equal(e.code, 'invalid_json');
  assert.equal(e.param, null);
  assert.match(e.message, /position 16/);
  const plain = await expectError('hello there', 400);
  assert.equal(plain.code, 'invalid_json');
  assert.match(plain.message, /position 0/);
  assert.equal(a.requests.length, 0);
});

for (const [name, text] of [
  ['a trailing comma', '{"model":"chat","messages":[{"role":"user","content":"hi"},],}'],
  ['single quotes', "{'model':'chat','messages':[{'role':'user','content':'hi'}]}"],
  ['unquoted keys', '{model:"chat",messages:[{role:"user",content:"hi"}]}'],
  ['a comment', '{"model":"chat", // the route\n"messages":[{"role":"user","content":"hi"}]}'],
  ['a missing closing brace', '{"model":"chat","messages":[{"role":"user","content":"hi"}]'],
] as const) {
  test(`a body with ${name} is repaired, served, and the upstream gets valid JSON`, bounded, async () => {
    const r = await post(chatUrl, text);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.choices[0].message.content, 'Hello from mock');
    const got = a.requests[0]!;
    assert.doesNotThrow(() => JSON.parse(got.raw), `upstream got: ${got.raw}`);
    assert.deepEqual(got.body.messages, [{ role: 'user', content: 'hi' }]);
  });
}

test('JSON nested deeper than 64 levels is 400 with param', bounded, async () => {
  const deep = '{"x":'.repeat(70) + '1' + '}'.repeat(70);
  const e = await expectError(`{"model":"chat","messages":[{"role":"user","content":"hi"}],"metadata":${deep}}`, 400);
  assert.equal(e.code, 'invalid_request');
  assert.match(e.param, /^metadata\.x\.x/);
  assert.match(e.message, /64/);
  assert.equal(a.requests.length, 0);
});

test('__proto__ and constructor keys are 400 with param', bounded, async () => {
  const p = await expectError('{"model":"chat","messages":[{"role":"user","content":"hi"}],"__proto__":{"admin":true}}', 400);
  assert.equal(p.param, '__proto__');
  const c = await expectError({ ...chat, messages: [{ role: 'user', content: 'hi', constructor: { prototype: {} } }] }, 400);
  assert.equal(c.param, 'messages[0].constructor');
  assert.equal(a.requests.length, 0);
});

test('wrong types are 400 with param naming the field', bounded, async () => {
  for (const [field, value] of [['messages', 'hello'], ['max_tokens', '10'], ['stream', 'true'], ['temperature', 'warm'], ['model', 42]] as const) {
    const e = await expectError({ ...chat, [field]: value }, 400);
    assert.equal(e.param, field, `${field}: ${e.message}`);
    assert.equal(e.type, 'invalid_request_error');
  }
  assert.equal(a.requests.length, 0);
});

test('a body over server.bodyLimit is 413 in the OpenAI shape (Content-Length)', bounded, async () => {
  const big = { ...chat, messages: [{ role: 'user', content: 'x'.repeat(2_000) }] };
  const e = await expectError(big, 413);
  assert.equal(e.code, 'request_too_large');
  assert.equal(a.requests.length, 0);
});

test('a chunked body over server.bodyLimit is 413 too, without reading it all', bounded, async () => {
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(ctl) {
      // Up to 64 kB at most: the gateway must answer long before the stream would end.
      if (sent >= 64 * 1024) return ctl.close();
      sent += 512;
      ctl.enqueue(new TextEncoder().encode('x'.repeat(512)));
    },
  });
  const res = await fetch(chatUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body, duplex: 'half' } as RequestInit);
  assert.equal(res.status, 413);
  assertErrorShape(await res.json(), 'chunked 413');
  assert.equal(a.requests.length, 0);
});

test('an empty body is 400', bounded, async () => {
  const e = await expectError('', 400);
  assert.equal(e.code, 'invalid_json');
  const noType = await fetch(chatUrl, { method: 'POST' });
  assert.equal(noType.status, 400);
  assertErrorShape(await noType.json(), 'no body, no content-type');
});

test('a compressed request body is 415, never inflated', bounded, async () => {
  const res = await fetch(chatUrl, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: gzipSync(JSON.stringify(chat)) });
  assert.equal(res.status, 415);
  const json: any = await res.json();
  assertErrorShape(json, 'gzip');
  assert.equal(json.error.code, 'unsupported_media_type');
  assert.equal(a.requests.length, 0);
  const identity = await post(chatUrl, chat, { 'content-encoding': 'identity' });
  assert.equal(identity.status, 200);
});

test('a body that is not an object is 400', bounded, async () => {
  const e = await expectError('[1,2,3]', 400);
  assert.equal(e.code, 'invalid_request');
});

test('a chat with prompt and no messages reaches the upstream as one user message', bounded, async () => {
  const r = await post(chatUrl, { model: 'chat', prompt: 'tell me a joke' });
  assert.equal(r.status, 200, r.text);
  const got = a.requests[0]!.body;
  assert.deepEqual(got.messages, [{ role: 'user', content: 'tell me a joke' }]);
  assert.equal('prompt' in got, false);
});

test('api_base, api_key and base_url in the body never reach the upstream nor change routing', bounded, async () => {
  const r = await post(chatUrl, { ...chat, api_base: evil.baseUrl, base_url: evil.baseUrl, api_key: 'sk-attacker-key', extra_headers: { authorization: 'Bearer sk-attacker-key' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('x-llmux-provider'), 'a');
  assert.equal(evil.requests.length, 0);
  const got = a.requests[0]!;
  for (const f of ['api_base', 'base_url', 'api_key', 'extra_headers']) assert.equal(f in got.body, false, `${f} forwarded`);
  assert.ok(!got.raw.includes('sk-attacker-key'));
  assert.equal(got.headers.authorization, 'Bearer sk-a-canary-0123456789');
});

test('the caller\'s own Authorization and x-api-key are never forwarded upstream', bounded, async () => {
  const r = await post(chatUrl, chat, { authorization: 'Bearer caller-secret-1', 'x-api-key': 'caller-secret-2' });
  assert.equal(r.status, 200);
  const h = JSON.stringify(a.requests[0]!.headers);
  assert.ok(!h.includes('caller-secret-1') && !h.includes('caller-secret-2'), h);
});

test('odd header bytes on a raw socket get a 4xx, never a crash', bounded, async () => {
  const body = JSON.stringify(chat);
  const req = (extra: string): Buffer => Buffer.concat([
    Buffer.from(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n`, 'latin1'),
    Buffer.from(extra, 'latin1'),
    Buffer.from(`\r\n${body}`, 'latin1'),
  ]);
  const cases: Array<[string, string]> = [
    ['a control character in a value', 'X-Odd: a\x01b\r\n'],
    ['a NUL byte in a value', 'X-Odd: a\x00b\r\n'],
    ['a space in a header name', 'Bad Name: x\r\n'],
    ['a bare LF inside a value', 'X-Odd: a\nb\r\n'],
    ['obs-fold continuation', 'X-Odd: a\r\n folded\r\n'],
  ];
  for (const [name, extra] of cases) {
    const out = await rawExchange(req(extra));
    assert.match(out, /^HTTP\/1\.1 4\d\d /, `${name}: ${JSON.stringify(out.slice(0, 80))}`);
    const json = JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4));
    assertErrorShape(json, name);
  }
  const oversized = await rawExchange(req(`X-Big: ${'y'.repeat(20_000)}\r\n`));
  assert.match(oversized, /^HTTP\/1\.1 431 /);
  assertErrorShape(JSON.parse(oversized.slice(oversized.indexOf('\r\n\r\n') + 4)), 'header too large');
  const garbage = await rawExchange(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x0d, 0x0a, 0x0d, 0x0a]));
  assert.ok(garbage === '' || /^HTTP\/1\.1 4\d\d /.test(garbage), JSON.stringify(garbage.slice(0, 60)));
  // Still alive and serving.
  const ok = await post(chatUrl, chat);
  assert.equal(ok.status, 200);
});

test('high bytes in the values llmux reads (key, content type) are handled, not a crash', bounded, async () => {
  const body = JSON.stringify(chat);
  const out = await rawExchange(Buffer.concat([
    Buffer.from(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json; charset=\xff\xfe\r\nAuthorization: Bearer \xe9\xff\x80\r\nX-Api-Key: \xc3\x28\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`, 'latin1'),
    Buffer.from(body),
  ]));
  assert.match(out, /^HTTP\/1\.1 (200|4\d\d) /, JSON.stringify(out.slice(0, 80)));
  assert.equal((await fetch(`${gw.url}/health`)).status, 200);
});

test('an unknown path is 404 in the OpenAI shape', bounded, async () => {
  for (const [method, path] of [['GET', '/v1/nothing'], ['POST', '/v1/chat/complete'], ['GET', '/v1/chat/completions'], ['DELETE', '/v1/models'], ['GET', '/admin/../v1/%2e%2e/secret']] as const) {
    const res = await fetch(`${gw.url}${path}`, { method });
    assert.equal(res.status, 404, `${method} ${path}`);
    const json: any = await res.json();
    assertErrorShape(json, `${method} ${path}`);
    assert.equal(json.error.code, 'not_found');
  }
});

test('a malformed URL escape is a 4xx in the OpenAI shape', bounded, async () => {
  const out = await rawExchange('GET /v1/%zz%ff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match(out, /^HTTP\/1\.1 4\d\d /);
  assertErrorShape(JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4)), 'bad url');
});

test('a model with no route, no provider model and no "*" is 404 model_not_found', bounded, async () => {
  const e = await expectError({ ...chat, model: 'no-such-model' }, 404);
  assert.equal(e.code, 'model_not_found');
  assert.equal(e.param, 'model');
  assert.equal(a.requests.length, 0);
});

test('the raw fast path (POST to the exact path) and the Fastify route (its trailing-slash variant) answer alike', bounded, async () => {
  const json = { 'content-type': 'application/json' };
  const cases: Array<[string, RequestInit]> = [
    ['bad json', { method: 'POST', headers: json, body: '{"model": "chat", "messages": [' }],
    ['no content-type', { method: 'POST', body: '{"model":"nope","messages":[{"role":"user","content":"hi"}]}' }],
    ['empty body', { method: 'POST', headers: json, body: '' }],
    ['compressed', { method: 'POST', headers: { ...json, 'content-encoding': 'gzip' }, body: new Uint8Array(gzipSync('{}')) }],
    ['too large', { method: 'POST', headers: json, body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x'.repeat(3000) }] }) }],
    ['prototype key', { method: 'POST', headers: json, body: '{"model":"chat","messages":[],"__proto__":{"x":1}}' }],
    ['unknown model', { method: 'POST', headers: json, body: '{"model":"nope","messages":[{"role":"user","content":"hi"}]}' }],
    ['served', { method: 'POST', headers: json, body: '{"model":"chat","messages":[{"role":"user","content":"hi"}]}' }],
  ];
  for (const [name, init] of cases) {
    const seen = [];
    for (const path of ['/v1/chat/completions', '/v1/chat/completions/']) {
      const r = await fetch(gw.url + path, init);
      const text = await r.text();
      const body = JSON.parse(text) as { error?: { code: unknown; param: unknown; type: unknown }; object?: string };
      assert.ok(r.headers.get('x-llmux-request-id'), `${name} ${path}: request id`);
      seen.push({ status: r.status, type: r.headers.get('content-type')?.split(';')[0], error: body.error ? { code: body.error.code, param: body.error.param, type: body.error.type } : null, object: body.object ?? null });
    }
    assert.deepEqual(seen[0], seen[1], name);
  }
});
