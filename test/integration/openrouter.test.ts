/**
 * OpenRouter behaviour (SPEC §10): `type: openrouter` providers pointed at a fake via `baseUrl` send
 * the attribution headers (defaults and `attribution:`), `reasoning: include` sends
 * `include_reasoning: true`, `reasoningField` renames `reasoning` in responses and stream deltas
 * (FailProxy's `reasoning_content`), and `models: free` keeps only the price-0 models of the model
 * list and follows it when it changes.
 */
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { parseSseJson, startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.ts';
import { startTestGateway, post, type TestGateway } from '../fakes/gateway.ts';

const bounded = { timeout: 20_000 };
const msgs = [{ role: 'user' as const, content: 'hi' }];
const key = 'sk-or-v1-canary-0123456789';
let up: FakeUpstream;

before(async () => {
  up = await startFakeUpstream({ name: 'openrouter' });
});
after(async () => {
  await up.close();
});
beforeEach(() => {
  up.reset();
  up.setDefault(null);
});

function openrouter(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: 'or', type: 'openrouter', baseUrl: up.baseUrl, keys: [key], models: ['vendor/model-r1:free'], ...extra };
}

async function withGateway(config: object, f: (gw: TestGateway) => Promise<void>): Promise<void> {
  const gw = await startTestGateway(config);
  try {
    await f(gw);
  } finally {
    await gw.close();
  }
}

const chats = (): typeof up.requests => up.requests.filter((r) => r.path.endsWith('/chat/completions'));

function completion(message: Record<string, unknown>): object {
  return {
    id: 'gen-1', object: 'chat.completion', created: 1, model: 'vendor/model-r1:free',
    choices: [{ index: 0, message: { role: 'assistant', ...message }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 },
  };
}

function chunk(delta: Record<string, unknown>, finish: string | null = null): object {
  return { id: 'gen-1', object: 'chat.completion.chunk', created: 1, model: 'vendor/model-r1:free', choices: [{ index: 0, delta, finish_reason: finish }] };
}

/** A reasoning model's stream as OpenRouter sends it: a keep-alive comment, role, reasoning, content. */
const reasoningStream = [
  ': OPENROUTER PROCESSING',
  chunk({ role: 'assistant', content: '' }),
  chunk({ reasoning: 'Let me ' }),
  chunk({ reasoning: 'think.' }),
  chunk({ content: 'Four.' }),
  chunk({}, 'stop'),
  '[DONE]',
];

test('type openrouter sends the attribution headers: defaults, and attribution: {referer, title}', bounded, async () => {
  await withGateway({ providers: [openrouter(), openrouter({ id: 'or2', models: ['other/m'], attribution: { referer: 'https://myapp.example', title: 'My App' } })] }, async (gw) => {
    await gw.client().chat.completions.create({ model: 'vendor/model-r1:free', messages: msgs });
    let h = chats()[0]!.headers;
    assert.equal(h.authorization, `Bearer ${key}`);
    assert.ok(typeof h['http-referer'] === 'string' && /^https?:\/\//.test(h['http-referer']), 'a default HTTP-Referer');
    assert.ok(typeof h['x-title'] === 'string' && h['x-title'].length > 0, 'a default X-Title');
    await gw.client().chat.completions.create({ model: 'other/m', messages: msgs, stream: true });
    h = chats()[1]!.headers;
    assert.equal(h['http-referer'], 'https://myapp.example');
    assert.equal(h['x-title'], 'My App');
  });
});

test('a provider header of any letter case replaces the attribution header (and the User-Agent) instead of doubling it', bounded, async () => {
  const headers = { 'X-Title': 'From Headers', 'HTTP-Referer': 'https://headers.example', 'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.0.0' };
  await withGateway({ providers: [openrouter({ headers })] }, async (gw) => {
    await gw.client().chat.completions.create({ model: 'vendor/model-r1:free', messages: msgs });
    const h = chats()[0]!.headers;
    assert.equal(h['x-title'], 'From Headers');
    assert.equal(h['http-referer'], 'https://headers.example');
    assert.equal(h['user-agent'], headers['User-Agent'], 'FailProxy users are told to set a browser User-Agent this way');
  });
});

test('other types send no attribution headers', bounded, async () => {
  await withGateway({ providers: [{ id: 'plain', baseUrl: up.baseUrl, keys: [key], models: ['m'] }] }, async (gw) => {
    await gw.client().chat.completions.create({ model: 'm', messages: msgs });
    const h = chats()[0]!.headers;
    assert.equal(h['http-referer'], undefined);
    assert.equal(h['x-title'], undefined);
  });
});

test('reasoning: include sends include_reasoning: true (top level, not extra_body); exclude sends false', bounded, async () => {
  await withGateway({ providers: [openrouter({ reasoning: 'include' }), openrouter({ id: 'or2', models: ['other/m'], reasoning: 'exclude' })] }, async (gw) => {
    await gw.client().chat.completions.create({ model: 'vendor/model-r1:free', messages: msgs, stream: true });
    const b = chats()[0]!.body;
    assert.equal(b.include_reasoning, true);
    assert.equal(b.extra_body, undefined);
    assert.equal(b.model, 'vendor/model-r1:free');
    await gw.client().chat.completions.create({ model: 'other/m', messages: msgs });
    assert.equal(chats()[1]!.body.include_reasoning, false);
  });
});

test('reasoningField: reasoning_content renames reasoning in a non-stream answer', bounded, async () => {
  await withGateway({ providers: [openrouter({ reasoning: 'include', reasoningField: 'reasoning_content' })] }, async (gw) => {
    up.enqueue({ body: completion({ content: 'Four.', reasoning: 'Two plus two.' }) });
    const r = await post(`${gw.url}/v1/chat/completions`, { model: 'vendor/model-r1:free', messages: msgs });
    assert.equal(r.status, 200, r.text);
    const m = r.json.choices[0].message;
    assert.equal(m.reasoning_content, 'Two plus two.');
    assert.equal(m.reasoning, undefined);
    assert.equal(m.content, 'Four.');
    assert.deepEqual(r.json.usage, { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 });
  });
});

test('reasoningField: reasoning_content renames reasoning in every stream delta; the SDK reads it', bounded, async () => {
  await withGateway({ providers: [openrouter({ reasoning: 'include', reasoningField: 'reasoning_content' })] }, async (gw) => {
    up.enqueue({ events: reasoningStream });
    const r = await post(`${gw.url}/v1/chat/completions`, { model: 'vendor/model-r1:free', messages: msgs, stream: true });
    assert.equal(r.status, 200, r.text);
    const events = parseSseJson(r.text);
    const deltas = events.map((e) => e.choices?.[0]?.delta ?? {});
    assert.ok(deltas.every((d) => !('reasoning' in d)), 'no reasoning field left');
    assert.equal(deltas.map((d) => d.reasoning_content ?? '').join(''), 'Let me think.');
    assert.equal(deltas.map((d) => d.content ?? '').join(''), 'Four.');
    assert.match(r.text, /data: \[DONE\]\s*$/);

    up.enqueue({ events: reasoningStream });
    const stream = await gw.client().chat.completions.create({ model: 'vendor/model-r1:free', messages: msgs, stream: true });
    let reasoning = '';
    for await (const c of stream) reasoning += (c.choices[0]?.delta as { reasoning_content?: string } | undefined)?.reasoning_content ?? '';
    assert.equal(reasoning, 'Let me think.');
  });
});

test('without reasoningField the upstream\'s reasoning field passes unchanged', bounded, async () => {
  await withGateway({ providers: [openrouter()] }, async (gw) => {
    up.enqueue({ body: completion({ content: 'Four.', reasoning: 'Two plus two.' }) });
    const r = await post(`${gw.url}/v1/chat/completions`, { model: 'vendor/model-r1:free', messages: msgs });
    assert.equal(r.json.choices[0].message.reasoning, 'Two plus two.');
    up.enqueue({ events: reasoningStream });
    const s = await post(`${gw.url}/v1/chat/completions`, { model: 'vendor/model-r1:free', messages: msgs, stream: true });
    assert.equal(parseSseJson(s.text).map((e) => e.choices?.[0]?.delta?.reasoning ?? '').join(''), 'Let me think.');
  });
});

test('reasoning survives a forced stream shape: under its configured name, or as the upstream sent it', bounded, async () => {
  const providers = [
    openrouter({ stream: true, reasoningField: 'reasoning_content' }),
    openrouter({ id: 'keep', models: ['keep/m'], stream: true }),
    openrouter({ id: 'custom', models: ['custom/m'], stream: false, reasoningField: 'thinking' }),
    openrouter({ id: 'plainjson', models: ['plain/m'], stream: false }),
  ];
  await withGateway({ providers }, async (gw) => {
    // A non-stream caller, the provider forces a stream: the assembled message carries the rename.
    up.enqueue({ events: reasoningStream });
    let r = await post(`${gw.url}/v1/chat/completions`, { model: 'vendor/model-r1:free', messages: msgs });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.choices[0].message.reasoning_content, 'Let me think.');
    assert.equal(r.json.choices[0].message.content, 'Four.');
    // … and without a rename, the field keeps the upstream's name.
    up.enqueue({ events: reasoningStream });
    r = await post(`${gw.url}/v1/chat/completions`, { model: 'keep/m', messages: msgs });
    assert.equal(r.json.choices[0].message.reasoning, 'Let me think.');
    assert.equal(r.json.choices[0].message.reasoning_content, undefined);
    // A stream caller, the provider forces non-stream: the replayed deltas carry it too.
    up.enqueue({ body: completion({ content: 'Four.', reasoning: 'Two plus two.' }) });
    r = await post(`${gw.url}/v1/chat/completions`, { model: 'custom/m', messages: msgs, stream: true });
    assert.equal(r.status, 200, r.text);
    let deltas = parseSseJson(r.text).map((e) => e.choices?.[0]?.delta ?? {});
    assert.equal(deltas.map((d) => d.thinking ?? '').join(''), 'Two plus two.');
    up.enqueue({ body: completion({ content: 'Four.', reasoning: 'Two plus two.' }) });
    r = await post(`${gw.url}/v1/chat/completions`, { model: 'plain/m', messages: msgs, stream: true });
    deltas = parseSseJson(r.text).map((e) => e.choices?.[0]?.delta ?? {});
    assert.equal(deltas.map((d) => d.reasoning ?? '').join(''), 'Two plus two.');
  });
});

// ---------------------------------------------------------------------------------------------
// models: free against a model list with OpenRouter's pricing fields.

interface ModelEntry {
  id: string;
  pricing?: Record<string, string>;
}

const free = (id: string): ModelEntry => ({ id, pricing: { prompt: '0', completion: '0', request: '0', image: '0' } });
const paid = (id: string, prompt = '0.000001'): ModelEntry => ({ id, pricing: { prompt, completion: '0.000002', request: '0', image: '0' } });

/** A tiny OpenRouter stand-in: `GET /api/v1/models` lists `models`; chat completions answer and are recorded. */
async function startModelList(models: ModelEntry[]): Promise<{ baseUrl: string; models: ModelEntry[]; lists: http.IncomingHttpHeaders[]; chats: Array<{ headers: http.IncomingHttpHeaders; body: any }>; close(): Promise<void> }> {
  const state = { models, lists: [] as http.IncomingHttpHeaders[], chats: [] as Array<{ headers: http.IncomingHttpHeaders; body: any }> };
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/api/v1/models') {
        state.lists.push(req.headers);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ data: state.models.map((m) => ({ ...m, name: m.id, context_length: 8192 })) }));
        return;
      }
      if (req.method === 'POST' && req.url === '/api/v1/chat/completions') {
        const body = JSON.parse(raw);
        state.chats.push({ headers: req.headers, body });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(completion({ content: `answered by ${body.model}` })));
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'not found', code: 404 } }));
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}/api/v1`,
    get models() {
      return state.models;
    },
    set models(m: ModelEntry[]) {
      state.models = m;
    },
    lists: state.lists,
    chats: state.chats,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

async function listed(gw: TestGateway): Promise<string[]> {
  const r: any = await (await fetch(`${gw.url}/v1/models`)).json();
  return r.data.map((m: { id: string }) => m.id).sort();
}

async function until(what: string, f: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('models: free keeps only the price-0 models of the list, routes them, and follows the list when it changes', { timeout: 30_000 }, async () => {
  const list = await startModelList([
    free('meta/llama-3-8b:free'),
    paid('openai/gpt-4o'),
    free('google/gemma-2-9b'),
    paid('openrouter/auto', '-1'),
    { id: 'vendor/no-pricing:free' },
    { id: 'vendor/no-pricing' },
    paid('anthropic/claude-3-haiku', '0'),
  ]);
  // A short health-check interval is what re-reads the list (otherwise hourly).
  const gw = await startTestGateway({
    healthCheck: { onStartup: false, intervalMs: 300, mode: 'models', timeoutMs: 2000 },
    providers: [{ id: 'or', type: 'openrouter', baseUrl: list.baseUrl, keys: [key], models: 'free' }],
    routes: [{ name: 'free-pool', targets: [{ provider: 'or' }] }],
  });
  try {
    const first = ['google/gemma-2-9b', 'meta/llama-3-8b:free', 'vendor/no-pricing:free'];
    assert.deepEqual(await listed(gw), ['free-pool', ...first].sort());
    assert.deepEqual(gw.gw.snapshot().providers.get('or')?.models, first);
    const h = list.lists[0]!;
    assert.equal(h.authorization, `Bearer ${key}`);
    assert.ok(h['http-referer'] && h['x-title'], 'the model list is fetched with the attribution headers');

    // A discovered free model is served under its name; a paid one is not known.
    const { data, response } = await gw.client().chat.completions.create({ model: 'meta/llama-3-8b:free', messages: msgs }).withResponse();
    assert.equal(data.choices[0]?.message.content, 'answered by meta/llama-3-8b:free');
    assert.equal(response.headers.get('x-llmux-provider'), 'or');
    await assert.rejects(gw.client().chat.completions.create({ model: 'openai/gpt-4o', messages: msgs }), (e: any) => e.status === 404);
    // A target without a model uses the first discovered one.
    const pooled = await gw.client().chat.completions.create({ model: 'free-pool', messages: msgs });
    assert.equal(pooled.choices[0]?.message.content, `answered by ${first[0]}`);
    assert.ok(list.chats.every((c) => c.headers['x-title']));

    // The list changes: gemma becomes paid, gpt-4o becomes free.
    list.models = [free('meta/llama-3-8b:free'), free('openai/gpt-4o'), paid('google/gemma-2-9b'), paid('openrouter/auto', '-1')];
    await until('the re-discovered list', async () => JSON.stringify(await listed(gw)) === JSON.stringify(['free-pool', 'meta/llama-3-8b:free', 'openai/gpt-4o']));
    const r = await gw.client().chat.completions.create({ model: 'openai/gpt-4o', messages: msgs });
    assert.equal(r.choices[0]?.message.content, 'answered by openai/gpt-4o');
    await assert.rejects(gw.client().chat.completions.create({ model: 'google/gemma-2-9b', messages: msgs }), (e: any) => e.status === 404);
  } finally {
    await gw.close();
    await list.close();
  }
});
