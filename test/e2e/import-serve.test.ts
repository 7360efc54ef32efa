/**
 * Migration end to end (SPEC §10, docs/migrating.md): for each format, a copy of its fixture with the
 * upstream URLs pointed at fake upstreams (one per distinct upstream, the fixture's odd paths, slashes
 * and skipped entries kept), imported by the real CLI (`node src/cli.ts import …`, spawned), then a
 * gateway on the written YAML, called the way that tool's users called it, with the official SDK:
 * streaming and not, the right upstream with the right key and model, failover in the tool's order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net, { type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import OpenAI from 'openai';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { startGateway, type Gateway } from '../../src/main.ts';
import { presets } from '../../src/config/presets.ts';
import { startFakeUpstream, type FakeUpstream, type ReceivedRequest } from '../fakes/fake-upstream.ts';
import { captureLogger } from '../fakes/gateway.ts';
import { startConnectProxy } from '../fakes/connect-proxy.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const cli = path.join(root, 'src', 'cli.ts');
const fixtures = path.join(root, 'test', 'fixtures', 'import');
const bounded = { timeout: 60_000 };
const msgs = [{ role: 'user' as const, content: 'Hello' }];

// ---------------------------------------------------------------------------------------------
// Fake upstream hosts. A front server on its own port records the path each request came in on and
// forwards it to a MockUpstream when it is below the expected base path (so `/compatible-mode/v1`
// or `/openai/v1` style prefixes are checked, not ignored); anything else gets a 404.

interface Host {
  readonly name: string;
  readonly mock: FakeUpstream;
  /** `http://127.0.0.1:<front port>`: what the fixture's origin is rewritten to. */
  readonly origin: string;
  readonly basePath: string;
  /** `METHOD path` of every request the front received. */
  readonly seen: string[];
  /** Chat requests the mock answered, in order. */
  chats(): ReceivedRequest[];
  close(): Promise<void>;
}

async function startHost(name: string, basePath = '/v1'): Promise<Host> {
  const mock = await startFakeUpstream({ name });
  const mockPort = Number(new URL(mock.url).port);
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const front = http.createServer((req, res) => {
    const url = req.url ?? '/';
    seen.push(`${req.method} ${url}`);
    if (!url.startsWith(`${basePath}/`)) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `no such path ${url} on ${name}`, type: 'invalid_request_error' } }));
      return;
    }
    const fwd = http.request({ host: '127.0.0.1', port: mockPort, method: req.method, path: `/v1${url.slice(basePath.length)}`, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    fwd.on('error', () => res.destroy());
    res.on('close', () => fwd.destroy());
    req.pipe(fwd);
  });
  front.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const port = (front.address() as net.AddressInfo).port;
  return {
    name, mock, basePath, seen,
    origin: `http://127.0.0.1:${port}`,
    chats: () => mock.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/chat/completions')),
    close: async () => {
      const closed = new Promise<void>((resolve) => front.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
      await mock.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The fixture copy, the CLI, the gateway.

/** Every file under `dir` (recursively). */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out;
}

/** Replace each fixture origin by its fake's, in every file of the copy; paths and slashes stay. */
async function rewriteOrigins(dir: string, map: Record<string, Host>): Promise<void> {
  for (const file of await filesUnder(dir)) {
    let text = await readFile(file, 'utf8');
    const before = text;
    for (const [origin, host] of Object.entries(map)) text = text.split(origin).join(host.origin);
    if (text !== before) await writeFile(file, text);
  }
}

interface CliRun {
  code: number | null;
  out: string;
}

/** `node src/cli.ts import <format> <input> -o <output>`, spawned with a clean environment, bounded. */
function runImport(format: string, input: string, output: string, env: Record<string, string> = {}): Promise<CliRun> {
  return runImportArgs([format, input, '-o', output], path.dirname(output), env);
}

function runImportArgs(args: string[], cwd: string, env: Record<string, string> = {}): Promise<CliRun> {
  const format = args[0];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'import', ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: string[] = [];
    child.stdout.on('data', (b: Buffer) => chunks.push(b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => chunks.push(b.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`llmux import ${format} did not finish within 30 s:\n${chunks.join('')}`));
    }, 30_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out: chunks.join('') });
    });
  });
}

/** Exit 0, the summary printed, and no key in full (every fixture key contains CANARY). */
function assertImported(run: CliRun, format: string, output: string): void {
  assert.equal(run.code, 0, `llmux import ${format} failed:\n${run.out}`);
  assert.match(run.out, new RegExp(`importing ${format} from `));
  assert.match(run.out, /provider \S+ /, 'one line per provider');
  assert.match(run.out, new RegExp(`wrote ${output.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: \\d+ provider\\(s\\), \\d+ route\\(s\\)`));
  assert.doesNotMatch(run.out, /CANARY/, 'a key was printed in full');
}

interface Served {
  provider: string | null;
  model: string | null;
  attempts: number;
  text: string;
  reasoning: string;
}

interface Running {
  gw: Gateway;
  logs: string[];
  client(apiKey?: string): OpenAI;
  /** One chat through the SDK; `stream` reads every chunk. */
  chat(model: string, opts?: { stream?: boolean; apiKey?: string; extra?: Record<string, unknown> }): Promise<Served>;
  close(): Promise<void>;
}

async function serve(configPath: string, cwd: string, apiKey = 'none'): Promise<Running> {
  const { logs, logger } = captureLogger();
  const gw = await startGateway({ configPath, cwd, env: {}, port: 0, host: '127.0.0.1', logger });
  const client = (key = apiKey): OpenAI => new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0, timeout: 15_000 });
  return {
    gw, logs, client,
    async chat(model, opts = {}) {
      const c = client(opts.apiKey);
      const body = { model, messages: msgs, ...opts.extra };
      if (opts.stream) {
        const { data, response } = await c.chat.completions.create({ ...body, stream: true }).withResponse();
        let text = '';
        let reasoning = '';
        for await (const chunk of data) {
          const d = chunk.choices[0]?.delta as { content?: string; reasoning_content?: string } | undefined;
          text += d?.content ?? '';
          reasoning += d?.reasoning_content ?? '';
        }
        return served(response, text, reasoning);
      }
      const { data, response } = await c.chat.completions.create(body).withResponse();
      const m = data.choices[0]?.message as { content?: string | null; reasoning_content?: string } | undefined;
      return served(response, m?.content ?? '', m?.reasoning_content ?? '');
    },
    async close() {
      await gw.close();
      assert.doesNotMatch(logs.join(''), /CANARY/, 'a key reached the gateway log');
    },
  };
}

function served(response: Response, text: string, reasoning: string): Served {
  return {
    provider: response.headers.get('x-llmux-provider'),
    model: response.headers.get('x-llmux-model'),
    attempts: Number(response.headers.get('x-llmux-attempts')),
    text,
    reasoning,
  };
}

/** The last chat request `host` got came with this key and upstream model, on the right path. */
function assertGot(host: Host, key: string, model: string, extra: (r: ReceivedRequest) => void = () => {}): ReceivedRequest {
  const r = host.chats().at(-1);
  assert.ok(r, `${host.name} got no chat request`);
  assert.equal(r.headers.authorization, `Bearer ${key}`, `${host.name}: key`);
  assert.equal(r.body.model, model, `${host.name}: upstream model`);
  assert.equal(host.seen.at(-1), `POST ${host.basePath}/chat/completions`, `${host.name}: path`);
  extra(r);
  return r;
}

/**
 * Failover where the order is a rotation (round-robin or random): one 500 queued on `first`, requests
 * until `first` got one. That request still succeeds, from another upstream, on the second attempt.
 */
async function failoverFrom(first: Host, send: () => Promise<Served>, tries = 12): Promise<Served> {
  first.mock.enqueue({ status: 500, error: { message: 'upstream exploded' } });
  const before = first.chats().length;
  for (let i = 0; i < tries; i++) {
    const s = await send();
    if (first.chats().length > before) {
      assert.equal(first.chats()[before]!.status, 500);
      assert.equal(s.attempts, 2, 'the 500 was followed by one more attempt');
      return s;
    }
  }
  throw new Error(`${first.name} was never tried first in ${tries} requests`);
}

async function until(what: string, f: () => Promise<boolean>, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await f()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function tempDir(label: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `llmux-import-${label}-`));
}

async function closeHosts(hosts: Host[]): Promise<void> {
  await Promise.all(hosts.map((h) => h.close()));
}

/**
 * The id the importer gave the provider on `host` (ids derived from a URL's host name come out as
 * `127-0-0-1-<port>` here, so tests look them up instead of naming them); `which` picks among several.
 */
async function idOn(yamlPath: string, host: Host, which: (p: any) => boolean = () => true): Promise<string> {
  const config = parseYaml(await readFile(yamlPath, 'utf8'));
  const found = config.providers.filter((p: any) => String(p.baseUrl).startsWith(host.origin) && which(p));
  assert.equal(found.length, 1, `one provider on ${host.name}`);
  return found[0].id;
}

// ---------------------------------------------------------------------------------------------

test('api-together: apis.json imported; client key, model filter and mapping, random failover, rpd 0 never called, rpm -1 unlimited', bounded, async () => {
  const work = await tempDir('at');
  const hosts = {
    openai: await startHost('openai'),
    backup: await startHost('backup'),
    relay: await startHost('relay', '/relay'),
    api4: await startHost('api4'),
    api5: await startHost('api5'),
  };
  let gw: Running | undefined;
  try {
    await cp(path.join(fixtures, 'api-together', 'repo'), path.join(work, 'api-together'), { recursive: true });
    await rewriteOrigins(work, {
      'https://api.openai.com': hosts.openai,
      'https://your-backup-api.com': hosts.backup,
      'https://proxy.example.net': hosts.relay,
      'https://api4.example.org': hosts.api4,
      'https://api5.example.org': hosts.api5,
    });
    const yamlPath = path.join(work, 'llmux.yaml');
    const run = await runImport('api-together', path.join(work, 'api-together'), yamlPath);
    assertImported(run, 'api-together', yamlPath);
    const apis = JSON.parse(await readFile(path.join(work, 'api-together', 'src', 'config', 'apis.json'), 'utf8'));
    const clientKey: string = apis.server.apiKey;
    const key = (id: string): string => apis.apis.find((a: any) => a.id === id).apiKey;

    gw = await serve(yamlPath, work, clientKey);
    // The client key from server.apiKey is required, as in api-together (which also took it without "Bearer ").
    await assert.rejects(gw.chat('gpt-3.5', { apiKey: 'sk-wrong' }), (e: any) => e.status === 401);
    const raw = await fetch(`${gw.gw.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: clientKey, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-3.5', messages: msgs }) });
    assert.equal(raw.status, 200, await raw.text());

    // A mapped name goes to the API that maps it, under the upstream name.
    let s = await gw.chat('gpt-3.5');
    assert.deepEqual([s.provider, s.model, s.attempts], ['api1', 'gpt-3.5-turbo', 1]);
    assertGot(hosts.openai, key('api1'), 'gpt-3.5-turbo');
    s = await gw.chat('gpt-4', { stream: true });
    assert.equal(s.text, 'Hello from mock');
    assertGot(hosts.openai, key('api1'), 'gpt-4', (r) => assert.equal(r.body.stream, true));
    // A listed model goes only to the API that lists it.
    s = await gw.chat('claude-2', { stream: true });
    assert.deepEqual([s.provider, s.text], ['api2', 'Hello from mock']);
    assertGot(hosts.backup, key('api2'), 'claude-2');
    // A model only the rpd-0 API lists: 503 without calling it (api-together: 503 no_available_api).
    await assert.rejects(gw.chat('gpt-4o-mini'), (e: any) => e.status === 503 && /disabled/.test(e.message));

    // Any other model: one of the enabled APIs at random, with its first model.
    const picked = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const r = await gw.chat('some-model', { stream: i % 2 === 0 });
      picked.add(`${r.provider}:${r.model}`);
    }
    assert.deepEqual([...picked].sort(), ['api1:gpt-3.5-turbo', 'api2:claude-2']);
    // Failover: the randomly chosen first API answers 500 once, the other one serves.
    s = await failoverFrom(hosts.openai, () => gw!.chat('some-model'));
    assert.deepEqual([s.provider, s.model], ['api2', 'claude-2']);
    s = await failoverFrom(hosts.backup, () => gw!.chat('some-model', { stream: true }));
    assert.deepEqual([s.provider, s.model, s.text], ['api1', 'gpt-3.5-turbo', 'Hello from mock']);

    // rpm -1 is unlimited: more than api1's 60 in a minute all pass on api2 …
    const backupBefore = hosts.backup.chats().length;
    for (let i = 0; i < 65; i++) assert.equal((await gw.chat('claude-instant-1')).provider, 'api2');
    assert.equal(hosts.backup.chats().length - backupBefore, 65);
    // … while api1's rpm 60 stops it.
    let limited: any = null;
    for (let i = 0; i < 70 && !limited; i++) {
      await gw.chat('gpt-3.5').catch((e: unknown) => (limited = e));
    }
    assert.equal(limited?.status, 429, 'api1 stops at its rpm');
    // Per endpoint (provider × key × upstream model, SPEC §6): api1's gpt-3.5-turbo got 60 attempts.
    assert.equal(hosts.openai.chats().filter((r) => r.body.model === 'gpt-3.5-turbo').length, 60);

    // Health checks (turned on here, chat mode: a real request each) leave the rpd-0 API alone too.
    await gw.close();
    gw = undefined;
    const config = parseYaml(await readFile(yamlPath, 'utf8'));
    config.healthCheck = { onStartup: true, intervalMs: 200, mode: 'chat', timeoutMs: 2000 };
    await writeFile(yamlPath, stringifyYaml(config));
    const probesBefore = hosts.backup.chats().length;
    gw = await serve(yamlPath, work, clientKey);
    await until('two health-check passes', async () => hosts.backup.chats().length >= probesBefore + 2);

    // Never: the rpd-0 API, the API without "enabled", the API without a key.
    for (const h of [hosts.relay, hosts.api4, hosts.api5]) assert.deepEqual(h.seen, [], `${h.name} was called`);
  } finally {
    await gw?.close();
    await closeHosts(Object.values(hosts));
    await rm(work, { recursive: true, force: true });
  }
});

test('failproxy: each group a model, failover in file order, forced params and stream, openrouter type kept', bounded, async () => {
  const work = await tempDir('fp');
  const hosts = {
    solo: await startHost('solo'),
    qwen: await startHost('qwen'),
    reasoner: await startHost('reasoner'),
    broken: await startHost('broken'),
    dashscope: await startHost('dashscope', '/compatible-mode/v1'),
  };
  let gw: Running | undefined;
  try {
    await cp(path.join(fixtures, 'failproxy'), path.join(work, 'failproxy'), { recursive: true });
    await rewriteOrigins(work, {
      'https://api.example.com': hosts.solo,
      'http://172.28.100.252:50082': hosts.qwen,
      'http://172.28.100.252:50081': hosts.reasoner,
      'https://broken.example.com': hosts.broken,
      'https://dashscope.aliyuncs.com': hosts.dashscope,
    });
    const yamlPath = path.join(work, 'llmux.yaml');
    const run = await runImport('failproxy', path.join(work, 'failproxy'), yamlPath);
    assertImported(run, 'failproxy', yamlPath);
    const group = async (name: string): Promise<any[]> => JSON.parse(await readFile(path.join(work, 'failproxy', 'config', `${name}.json`), 'utf8'));
    const think = await group('think');
    const [nothink] = await group('nothink');
    const [solo] = await group('my-group');

    const id = {
      reasoner: await idOn(yamlPath, hosts.reasoner),
      qwenThink: await idOn(yamlPath, hosts.qwen, (p) => p.params?.temperature === think[1].temperature),
      qwenNothink: await idOn(yamlPath, hosts.qwen, (p) => p.params?.temperature === nothink.temperature),
      dashscope: await idOn(yamlPath, hosts.dashscope),
      solo: await idOn(yamlPath, hosts.solo),
    };
    assert.notEqual(id.qwenThink, id.qwenNothink, 'same upstream and key, different forced temperature: two providers');

    gw = await serve(yamlPath, work);
    // think: the first endpoint, an openrouter type: its params, include_reasoning, the renamed field.
    hosts.reasoner.mock.enqueue({ body: completion('the answer', 'step by step') });
    let s = await gw.chat('think', { extra: { temperature: 0.9 } });
    assert.deepEqual([s.provider, s.model, s.attempts, s.text, s.reasoning], [id.reasoner, think[0].model, 1, 'the answer', 'step by step']);
    assertGot(hosts.reasoner, think[0].apikey, think[0].model, (r) => {
      assert.equal(r.body.temperature, 0.1);
      assert.equal(r.body.max_tokens, 4096);
      assert.equal(r.body.include_reasoning, true);
      assert.ok(r.headers['http-referer'] && r.headers['x-title'], 'openrouter attribution headers');
    });
    hosts.reasoner.mock.enqueue({ events: reasoningEvents('thinking…', 'streamed') });
    s = await gw.chat('think', { stream: true });
    assert.deepEqual([s.text, s.reasoning], ['streamed', 'thinking…']);

    // Failover in file order: 500 on the first → the second (stream: false forced, even for a stream caller).
    hosts.reasoner.mock.enqueue({ status: 500 });
    s = await gw.chat('think', { stream: true });
    assert.deepEqual([s.provider, s.model, s.attempts, s.text], [id.qwenThink, think[1].model, 2, 'Hello from mock']);
    assertGot(hosts.qwen, think[1].apikey, think[1].model, (r) => {
      assert.equal(r.body.stream, false);
      assert.equal(r.body.temperature, 0.1);
    });
    // First three fail → the fourth, whose URL had /chat/completions pasted in and a path prefix.
    hosts.reasoner.mock.enqueue({ status: 500 });
    hosts.qwen.mock.enqueue({ status: 502 }, { status: 503 });
    s = await gw.chat('think');
    assert.deepEqual([s.provider, s.model, s.attempts], [id.dashscope, think[3].model, 4]);
    assertGot(hosts.dashscope, think[3].apikey, think[3].model);
    assert.deepEqual(hosts.qwen.chats().slice(-2).map((r) => r.body.model), [think[1].model, think[2].model], 'tried in file order');

    // nothink: its one usable endpoint (the entry without a key was skipped).
    s = await gw.chat('nothink', { stream: true });
    assert.deepEqual([s.provider, s.text], [id.qwenNothink, 'Hello from mock']);
    assertGot(hosts.qwen, nothink.apikey, nothink.model, (r) => assert.equal(r.body.temperature, nothink.temperature));
    // A group outside FailProxy's built-in seven; a host-only URL gets /v1.
    s = await gw.chat('my-group');
    assert.deepEqual([s.provider, s.model], [id.solo, solo.model]);
    assertGot(hosts.solo, solo.apikey, solo.model);
    // FailProxy refused unknown group names; llmux says model_not_found.
    await assert.rejects(gw.chat('gpt-4'), (e: any) => e.status === 404);
    assert.deepEqual(hosts.broken.seen, []);
  } finally {
    await gw?.close();
    await closeHosts(Object.values(hosts));
    await rm(work, { recursive: true, force: true });
  }
});

test('catfish: schemes as models behind ADMIN_KEY, round-robin within a priority, the next priority on failure, * to the first scheme; --keys-env', bounded, async () => {
  const work = await tempDir('cf');
  const hosts = {
    one: await startHost('upstream-one'),
    relay: await startHost('relay'),
    backup: await startHost('backup'),
  };
  let gw: Running | undefined;
  try {
    await cp(path.join(fixtures, 'catfish', 'v2'), path.join(work, 'catfish'), { recursive: true });
    await rewriteOrigins(work, {
      'https://api.upstream-one.com': hosts.one,
      'https://relay.example.com': hosts.relay,
      'https://backup.example.com': hosts.backup,
    });
    const yamlPath = path.join(work, 'llmux.yaml');
    const run = await runImport('catfish', path.join(work, 'catfish'), yamlPath);
    assertImported(run, 'catfish', yamlPath);
    const schemes = JSON.parse(await readFile(path.join(work, 'catfish', 'data', 'config.json'), 'utf8'));
    const pool: any[] = schemes['gpt-4-pool'];
    const one = pool.find((c) => c.model === null);
    const relay = pool.find((c) => c.url.endsWith('/chat/completions'));
    const backup = pool.find((c) => c.priority === 2);
    const adminKey = /ADMIN_KEY=(.*)/.exec(await readFile(path.join(work, 'catfish', '.env'), 'utf8'))![1]!.trim();

    const id = { one: await idOn(yamlPath, hosts.one), relay: await idOn(yamlPath, hosts.relay), backup: await idOn(yamlPath, hosts.backup) };

    gw = await serve(yamlPath, work, adminKey);
    // ADMIN_KEY guards /v1, as in catfish.
    await assert.rejects(gw.chat('gpt-4-pool', { apiKey: 'admin' }), (e: any) => e.status === 401);

    // Priority 1 rotates: a config without a model sends the scheme name, an override its model.
    const got = new Map<string, string>();
    for (let i = 0; i < 4; i++) {
      const s = await gw.chat('gpt-4-pool', { stream: i % 2 === 1 });
      got.set(s.provider!, s.model!);
    }
    assert.deepEqual(Object.fromEntries(got), { [id.one]: 'gpt-4-pool', [id.relay]: relay.model });
    assertGot(hosts.one, one.api_key, 'gpt-4-pool');
    assertGot(hosts.relay, relay.api_key, relay.model);
    assert.equal(hosts.backup.chats().length, 0, 'priority 2 waits while priority 1 works');
    // The whole priority 1 fails once → priority 2.
    hosts.one.mock.enqueue({ status: 500 });
    hosts.relay.mock.enqueue({ status: 500 });
    let s = await gw.chat('gpt-4-pool', { stream: true });
    assert.deepEqual([s.provider, s.model, s.attempts, s.text], [id.backup, backup.model, 3, 'Hello from mock']);
    assertGot(hosts.backup, backup.api_key, backup.model);
    // One 500 within priority 1 → the other priority-1 config.
    s = await failoverFrom(hosts.one, () => gw!.chat('gpt-4-pool'));
    assert.equal(s.provider, id.relay);

    // The scheme "default"; and unknown models go to the alphabetically first scheme with their own name.
    s = await gw.chat('default');
    assert.deepEqual([s.provider, s.model], [id.one, 'default']);
    assertGot(hosts.one, schemes.default[0].api_key, 'default');
    s = await gw.chat('my-own-model', { stream: true });
    assert.deepEqual([s.provider, s.model, s.text], [id.one, 'my-own-model', 'Hello from mock']);
    assertGot(hosts.one, one.api_key, 'my-own-model');
    await gw.close();
    gw = undefined;

    // --keys-env .env: the keys leave the YAML for the .env that llmux reads from its folder.
    const envYaml = path.join(work, 'llmux-env.yaml');
    const run2 = await runImportArgs(['catfish', path.join(work, 'catfish'), '-o', envYaml, '--keys-env', '.env'], work);
    assertImported(run2, 'catfish', envYaml);
    assert.doesNotMatch(await readFile(envYaml, 'utf8'), /CANARY/, 'keys stayed out of the YAML');
    assert.match(await readFile(path.join(work, '.env'), 'utf8'), /^LLMUX_\w+_KEY=/m);
    gw = await serve(envYaml, work, adminKey);
    s = await gw.chat('gpt-4-pool', { stream: true });
    assert.equal(s.text, 'Hello from mock');
    assertGot(s.provider === id.one ? hosts.one : hosts.relay, s.provider === id.one ? one.api_key : relay.api_key, s.model!);
  } finally {
    await gw?.close();
    await closeHosts(Object.values(hosts));
    await rm(work, { recursive: true, force: true });
  }
});

test('free-api-dir: folders imported; * rotates with each API\'s first model, README models route by name, failover; also as a watched source', bounded, async () => {
  const work = await tempDir('fad');
  const hosts = {
    openrouter: await startHost('openrouter', '/api/v1'),
    chatanywhere: await startHost('chatanywhere'),
    v36: await startHost('v36'),
    example: await startHost('example-net'),
    six: await startHost('six'),
    template: await startHost('template'),
    example5: await startHost('example-org'),
  };
  const env = { FREE1_API_KEY: 'sk-or-v1-CANARYENVFREE1000000001', FREE6_API_KEY: 'sk-CANARYENVFREE6000000006' };
  let gw: Running | undefined;
  try {
    await cp(path.join(fixtures, 'free-api-dir', 'free_api_test'), path.join(work, 'free_api_test'), { recursive: true });
    await rewriteOrigins(work, {
      'https://openrouter.ai': hosts.openrouter,
      'https://api.chatanywhere.tech': hosts.chatanywhere,
      'https://free.v36.cm': hosts.v36,
      'https://api.example.net': hosts.example,
      'https://six.example.com': hosts.six,
      'https://template.invalid': hosts.template,
      'https://api.example.org': hosts.example5,
    });
    const yamlPath = path.join(work, 'llmux.yaml');
    const run = await runImport('free-api-dir', path.join(work, 'free_api_test'), yamlPath, env);
    assertImported(run, 'free-api-dir', yamlPath);
    const config = parseYaml(await readFile(yamlPath, 'utf8'));
    const literal = async (folder: string): Promise<string> => /["']([^"']+)["']/.exec((await readFile(path.join(work, 'free_api_test', folder, 'test_api.py'), 'utf8')).split('\n').find((l) => /api_key\s*=/i.test(l))!)![1]!;
    const expected: Record<string, [Host, string, string | null]> = {
      free1: [hosts.openrouter, env.FREE1_API_KEY, 'org/model-7b:free'],
      free2: [hosts.chatanywhere, await literal('free2'), 'gpt-4o-mini'],
      free3: [hosts.v36, await literal('free3'), 'gpt-4o-mini'],
      free4: [hosts.example, await literal('free4'), null],
      'free-six': [hosts.six, env.FREE6_API_KEY, null],
    };
    assert.deepEqual(config.providers.map((p: any) => p.id).sort(), Object.keys(expected).sort());

    gw = await serve(yamlPath, work);
    // *: every API in turn, each with its first README model (none: the caller's model).
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const s: Served = await gw.chat('any-model', { stream: i % 2 === 0 });
      const [host, key, model]: [Host, string, string | null] = expected[s.provider!]!;
      assert.equal(s.model, model ?? 'any-model');
      assertGot(host, key, model ?? 'any-model');
      seen.add(s.provider!);
    }
    assert.equal(seen.size, 5, `rotation reached ${[...seen].join(', ')}`);
    // By model name: only the APIs whose README lists it.
    let s = await gw.chat('glm-4-plus', { stream: true });
    assert.deepEqual([s.provider, s.model, s.text], ['free2', 'glm-4-plus', 'Hello from mock']);
    assertGot(hosts.chatanywhere, expected.free2![1], 'glm-4-plus');
    s = await gw.chat('another/model-r1:free');
    assert.equal(s.provider, 'free1');
    assertGot(hosts.openrouter, env.FREE1_API_KEY, 'another/model-r1:free');
    const both = new Set<string>();
    for (let i = 0; i < 4; i++) both.add((await gw.chat('gpt-4o-mini')).provider!);
    assert.deepEqual([...both].sort(), ['free2', 'free3']);
    // Failover among the APIs that list the model, and on *.
    s = await failoverFrom(hosts.chatanywhere, () => gw!.chat('gpt-4o-mini'));
    assert.equal(s.provider, 'free3');
    s = await failoverFrom(hosts.v36, () => gw!.chat('any-model', { stream: true }));
    assert.notEqual(s.provider, 'free3');
    for (const h of [hosts.template, hosts.example5]) assert.deepEqual(h.seen, [], `${h.name} (a skipped folder) was called`);
    await gw.close();
    gw = undefined;

    // The same folder as a watched source, as docs/migrating.md suggests: no import, same serving.
    const sourceYaml = path.join(work, 'source.yaml');
    await writeFile(sourceYaml, 'sources:\n  - { type: free-api-dir, path: ./free_api_test, watch: true }\n');
    await writeFile(path.join(work, '.env'), `FREE1_API_KEY=${env.FREE1_API_KEY}\n`);
    gw = await serve(sourceYaml, work);
    s = await gw.chat('glm-4-flash', { stream: true });
    assert.deepEqual([s.provider, s.text], ['free3', 'Hello from mock']);
    assertGot(hosts.v36, expected.free3![1], 'glm-4-flash');
    s = await gw.chat('org/model-7b:free');
    assertGot(hosts.openrouter, env.FREE1_API_KEY, 'org/model-7b:free');
    const viaStar = new Set<string>();
    for (let i = 0; i < 4; i++) viaStar.add((await gw.chat('any-model')).provider!);
    assert.deepEqual([...viaStar].sort(), ['free1', 'free2', 'free3', 'free4'], 'Free-Six has no key in this environment');
    // Watched: a new folder joins, a removed one leaves.
    const added = path.join(work, 'free_api_test', 'free9');
    await mkdir(added);
    await writeFile(path.join(added, 'test_api.py'), `API_KEY = "sk-CANARYFREE9000000000009"\nBASE_URL = "${hosts.six.origin}"\n`);
    await writeFile(path.join(added, 'README.md'), '- watch-model-9\n');
    const models = async (): Promise<string[]> => ((await (await fetch(`${gw!.gw.url}/v1/models`)).json()) as any).data.map((m: any) => m.id);
    await until('free9 to join', async () => (await models()).includes('watch-model-9'));
    s = await gw.chat('watch-model-9');
    assert.equal(s.provider, 'free9');
    assertGot(hosts.six, 'sk-CANARYFREE9000000000009', 'watch-model-9');
    await rm(added, { recursive: true });
    await until('free9 to leave', async () => !(await models()).includes('watch-model-9'));
  } finally {
    await gw?.close();
    await closeHosts(Object.values(hosts));
    await rm(work, { recursive: true, force: true });
  }
});

test('env-v3: FREE<n> keys imported; every request rotates over free<n> with V3\'s models, HTTP_PROXY only where V3 used it, failover', bounded, async () => {
  const work = await tempDir('v3');
  const hosts = {
    openrouter: await startHost('openrouter', new URL(presets.openrouter!.baseUrl).pathname),
    chatanywhere: await startHost('chatanywhere'),
    mistral: await startHost('mistral', new URL(presets.mistral!.baseUrl).pathname),
    groq: await startHost('groq', '/openai/v1'),
    free7: await startHost('free7'),
  };
  const proxy = await startConnectProxy();
  let gw: Running | undefined;
  try {
    const dir = path.join(work, 'v3');
    await mkdir(dir);
    await cp(path.join(fixtures, 'env-v3', '.env'), path.join(dir, '.env'));
    // URLs the .env names are rewritten there (odd paths kept); the proxy points at the test's.
    await rewriteOrigins(dir, {
      'https://api.groq.com': hosts.groq,
      'https://api.free7.example.com': hosts.free7,
      'http://127.0.0.1:7890': { origin: proxy.url } as Host,
    });
    const yamlPath = path.join(dir, 'llmux.yaml');
    const run = await runImport('env-v3', path.join(dir, '.env'), yamlPath);
    assertImported(run, 'env-v3', yamlPath);
    // URLs that came from V3's fixed table or a preset are only in the YAML: point those at fakes.
    await retargetYaml(yamlPath, {
      'https://openrouter.ai': hosts.openrouter,
      'https://api.chatanywhere.tech': hosts.chatanywhere,
      'https://api.mistral.ai': hosts.mistral,
    });
    const dotenv = parseDotenv(await readFile(path.join(dir, '.env'), 'utf8'));
    const envKey = (name: string): string => dotenv[name]!;
    const expected: Record<string, [Host, string, string | null]> = {
      free1: [hosts.openrouter, envKey('FREE1_API_KEY'), 'openrouter/free'],
      free2: [hosts.chatanywhere, envKey('FREE2_API_KEY'), 'gpt-3.5-turbo'],
      free4: [hosts.mistral, envKey('FREE4_API_KEY'), 'mistral-small-latest'],
      free5: [hosts.groq, envKey('FREE5_API_KEY'), null],
      free7: [hosts.free7, envKey('FREE7_API_KEY'), null],
      openrouter: [hosts.openrouter, envKey('OPENROUTER_API_KEY'), 'openrouter/free'],
    };

    // llmux runs in the folder of the old .env, as the V3 user did.
    gw = await serve(yamlPath, dir);
    // V3 ignored the caller's model: whatever is asked (the debug page sent "any-model", SDK
    // defaults send "gpt-3.5-turbo"), every API takes its turn with its own model.
    for (const asked of ['any-model', 'gpt-3.5-turbo']) {
      const seen = new Set<string>();
      for (let i = 0; i < 6; i++) {
        const s: Served = await gw.chat(asked, { stream: i % 2 === 1 });
        const [host, key, model]: [Host, string, string | null] = expected[s.provider!]!;
        assert.equal(s.model, model ?? asked, `${s.provider} for ${asked}`);
        assertGot(host, key, model ?? asked);
        seen.add(s.provider!);
      }
      assert.deepEqual([...seen].sort(), Object.keys(expected).sort(), `rotation for "${asked}"`);
    }
    // OpenRouter entries keep their attribution headers.
    assert.ok(hosts.openrouter.chats().every((r) => r.headers['http-referer'] && r.headers['x-title']));
    // HTTP_PROXY: V3 used it for free1 only; the OpenRouter key's provider follows the .env's HTTP_PROXY too.
    assert.ok(proxy.connects.length > 0, 'free1 went through the proxy');
    assert.deepEqual(new Set(proxy.connects), new Set([new URL(hosts.openrouter.origin).host]), 'only OpenRouter traffic is proxied');

    // Failover: the API whose turn it is answers 500 once, the next one serves.
    await failoverFrom(hosts.chatanywhere, () => gw!.chat('gpt-3.5-turbo'));
    await failoverFrom(hosts.mistral, () => gw!.chat('any-model', { stream: true }));
    await failoverFrom(hosts.groq, () => gw!.chat('any-model'));
  } finally {
    await gw?.close();
    await closeHosts(Object.values(hosts));
    await proxy.close();
    await rm(work, { recursive: true, force: true });
  }
});

/** Point every provider of an imported YAML at the fakes: its baseUrl's origin, or its preset's URL. */
async function retargetYaml(file: string, map: Record<string, Host>): Promise<void> {
  const config = parseYaml(await readFile(file, 'utf8'));
  for (const p of config.providers) {
    const url = new URL(p.baseUrl ?? presets[p.type]!.baseUrl);
    const host = map[url.origin];
    if (host) p.baseUrl = `${host.origin}${url.pathname}`;
  }
  await writeFile(file, stringifyYaml(config));
}

function completion(content: string, reasoning: string): object {
  return {
    id: 'chatcmpl-r', object: 'chat.completion', created: 1, model: 'x',
    choices: [{ index: 0, message: { role: 'assistant', content, reasoning }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
  };
}

function reasoningEvents(reasoning: string, content: string): Array<object | string> {
  const chunk = (delta: object, finish: string | null = null): object => ({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'x', choices: [{ index: 0, delta, finish_reason: finish }] });
  return [chunk({ role: 'assistant' }), chunk({ reasoning }), chunk({ content }), chunk({}, 'stop'), '[DONE]'];
}
