/**
 * A fast fake OpenAI upstream for the benchmarks, run as its own child process.
 *
 * `node bench/upstream.ts [--port N] [--slow-hold-ms MS]` prints `{"port":N}` on its first stdout
 * line once listening. `POST /v1/chat/completions` answers by the `model` of the request body:
 *
 * - `bench` (or anything else): non-stream chat.completion (~700 bytes) or, with `stream: true`,
 *   21 SSE events (role, 17 content, finish, usage, [DONE]) written in one piece, no delay;
 * - `bench-ttfb`: headers at once, then the whole stream after 200 ms (time to first byte);
 * - `bench-gap`: the 21 events written 50 ms apart (inter-chunk timing);
 * - `bench-tokens`: the 21 events written 1 ms apart, each in its own write, as a provider streams
 *   tokens (the relay's cost per event);
 * - `bench-slow`: role and first content at once, then one content event per second until the
 *   client leaves or `--slow-hold-ms` passes (memory with many open streams).
 *
 * `GET /bench/stats` tells how many slow streams are open, and how many connections and requests
 * the upstream has seen (`{"openSlowStreams":N,"connections":N,"requests":N}`).
 *
 * Bodies are fixed bytes, so a proxy that changes them is caught by a byte comparison.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';

const CREATED = 1_763_900_000;
const ID = 'chatcmpl-bench0000000000000000000000000';
const MODEL = 'gpt-4o-mini-2024-07-18';
const WORDS = ['Load', ' balancing', ' spreads', ' requests', ' across', ' several', ' upstream', ' endpoints', ' so', ' that', ' one', ' slow', ' or', ' failing', ' server', ' never', ' stalls'];

function completionBody(): Buffer {
  const content = 'A gateway in front of several LLM providers picks a healthy endpoint for every request, fails over when one breaks, keeps each provider inside its rate limits, and records what happened so operators can see latency, errors and tokens per provider.';
  const body = {
    id: ID,
    object: 'chat.completion',
    created: CREATED,
    model: MODEL,
    choices: [{ index: 0, message: { role: 'assistant', content, refusal: null, annotations: [] }, logprobs: null, finish_reason: 'stop' }],
    usage: {
      prompt_tokens: 21,
      completion_tokens: 52,
      total_tokens: 73,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    },
    service_tier: 'default',
    system_fingerprint: 'fp_bench0001',
  };
  return Buffer.from(JSON.stringify(body));
}

function chunk(delta: object, finish: string | null, extra: object = {}): string {
  const c = { id: ID, object: 'chat.completion.chunk', created: CREATED, model: MODEL, system_fingerprint: 'fp_bench0001', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...extra };
  return `data: ${JSON.stringify(c)}\n\n`;
}

/** The 21 SSE events of one streamed answer, each a complete `data: …\n\n` frame. */
function streamEvents(): Buffer[] {
  const events = [chunk({ role: 'assistant', content: '', refusal: null }, null)];
  for (const w of WORDS) events.push(chunk({ content: w }, null));
  events.push(chunk({}, 'stop'));
  const usage = { prompt_tokens: 21, completion_tokens: WORDS.length, total_tokens: 21 + WORDS.length };
  events.push(`data: ${JSON.stringify({ id: ID, object: 'chat.completion.chunk', created: CREATED, model: MODEL, system_fingerprint: 'fp_bench0001', choices: [], usage })}\n\n`);
  events.push('data: [DONE]\n\n');
  return events.map((e) => Buffer.from(e));
}

const COMPLETION = completionBody();
const EVENTS = streamEvents();
const STREAM = Buffer.concat(EVENTS);
const JSON_HEADERS = { 'content-type': 'application/json', 'content-length': String(COMPLETION.length) };
const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'transfer-encoding': 'chunked' };
const MODELS = Buffer.from(JSON.stringify({ object: 'list', data: ['bench', 'bench-ttfb', 'bench-gap', 'bench-tokens', 'bench-slow'].map((id) => ({ id, object: 'model', created: CREATED, owned_by: 'bench' })) }));

function argValue(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN;
  return Number.isFinite(v) ? v : fallback;
}

const slowHoldMs = argValue('--slow-hold-ms', 120_000);

function sendSpaced(res: ServerResponse, delayFirstMs: number, gapMs: number): void {
  res.writeHead(200, SSE_HEADERS);
  res.flushHeaders();
  if (gapMs <= 0) {
    const t = setTimeout(() => res.end(STREAM), delayFirstMs);
    res.on('close', () => clearTimeout(t));
    return;
  }
  let i = 0;
  const timer = setInterval(() => {
    const ev = EVENTS[i++];
    if (ev === undefined) return;
    if (i >= EVENTS.length) {
      clearInterval(timer);
      res.end(ev);
    } else res.write(ev);
  }, gapMs);
  res.on('close', () => clearInterval(timer));
}

/** Slow streams open right now: a proxy must close its upstream when its client leaves. */
let openSlow = 0;

function sendSlow(res: ServerResponse): void {
  openSlow++;
  res.writeHead(200, SSE_HEADERS);
  res.write(Buffer.concat([EVENTS[0]!, EVENTS[1]!]));
  const started = Date.now();
  let i = 2;
  const timer = setInterval(() => {
    if (Date.now() - started >= slowHoldMs) {
      clearInterval(timer);
      res.end(Buffer.concat(EVENTS.slice(-3)));
      return;
    }
    res.write(EVENTS[2 + (i++ % (WORDS.length - 1))]!);
  }, 1000);
  res.on('close', () => {
    openSlow--;
    clearInterval(timer);
  });
}

function answer(req: IncomingMessage, res: ServerResponse, raw: string): void {
  let model = 'bench';
  let stream = false;
  try {
    const body = JSON.parse(raw) as { model?: unknown; stream?: unknown };
    if (typeof body.model === 'string') model = body.model;
    stream = body.stream === true;
  } catch {
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"bad json","type":"invalid_request_error","param":null,"code":null}}');
    return;
  }
  if (!stream) {
    res.writeHead(200, JSON_HEADERS);
    res.end(COMPLETION);
  } else if (model === 'bench-ttfb') sendSpaced(res, 200, 0);
  else if (model === 'bench-gap') sendSpaced(res, 0, 50);
  else if (model === 'bench-tokens') sendSpaced(res, 0, 1);
  else if (model === 'bench-slow') sendSlow(res);
  else {
    res.writeHead(200, SSE_HEADERS);
    res.end(STREAM);
  }
  void req;
}

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  if (req.method === 'GET' && req.url === '/bench/stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ openSlowStreams: openSlow, connections, requests }));
    return;
  }
  if (req.method === 'GET' && req.url?.endsWith('/models')) {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(MODELS.length) });
    res.end(MODELS);
    return;
  }
  if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"not found","type":"invalid_request_error","param":null,"code":null}}');
    return;
  }
  const parts: Buffer[] = [];
  req.on('data', (d: Buffer) => parts.push(d));
  req.on('end', () => answer(req, res, Buffer.concat(parts).toString('utf8')));
});
server.maxConnections = 20_000;
/** Connections accepted and requests served so far: a proxy that pools should open few. */
let connections = 0;
let requests = 0;
server.on('connection', () => connections++);
server.on('request', () => requests++);
server.listen(argValue('--port', 0), '127.0.0.1', () => {
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  process.stdout.write(`${JSON.stringify({ port, completionBytes: COMPLETION.length, streamBytes: STREAM.length, events: EVENTS.length })}\n`);
});

function stop(): void {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
