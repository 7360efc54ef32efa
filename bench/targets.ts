/**
 * Starting the three things the benchmark talks to: the fake upstream, the bare proxy and llmux.
 * The load generator and the upstream share CPU 0; each proxy gets CPU 1 to itself (when pinning).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { announced, freePort, ROOT, spawnNode, StartError, stopChild, waitHealthy } from './children.ts';
import type { Child } from './children.ts';
import type { MatrixTarget } from './matrix.ts';
import { listensOn } from './proc.ts';
import { AGENT_BODY_BYTES } from './report.ts';

export const CLIENT_KEY = 'sk-llmux-bench';
const AUTH = { authorization: `Bearer ${CLIENT_KEY}` };
const CHAT = '/v1/chat/completions';

export interface Started {
  child: Child;
  port: number;
}

export async function startUpstream(cpu: number | undefined, slowHoldMs: number): Promise<Started> {
  const child = spawnNode('upstream', 'bench/upstream.ts', ['--port', '0', '--slow-hold-ms', String(slowHoldMs)], { cpu });
  const { port } = await announced<{ port: number }>(child);
  return { child, port };
}

export async function startBare(upstreamPort: number, cpu: number | undefined): Promise<Started> {
  const child = spawnNode('bare', 'bench/bare-proxy.ts', ['--upstream', `http://127.0.0.1:${upstreamPort}`, '--port', '0'], { cpu });
  const { port } = await announced<{ port: number }>(child);
  return { child, port };
}

/** The environment llmux runs in: no provider keys or proxies of this machine leak into it. */
function llmuxEnv(upstreamPort: number, dir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/_API_KEY$|_KEY$|^(HTTPS?|ALL)_PROXY$|^LLMUX_|^PORT$|^LOG_LEVEL$/i.test(k)) continue;
    env[k] = v;
  }
  return { ...env, LLMUX_BENCH_DIR: dir, LLMUX_BENCH_UPSTREAM: `http://127.0.0.1:${upstreamPort}/v1`, LLMUX_BENCH_KEY: CLIENT_KEY };
}

export interface LlmuxStart {
  started?: Started;
  /** Why llmux is not in this run ("llmux failed to start: …"). */
  error?: string;
}

export interface LlmuxOptions {
  cpu: number | undefined;
  profileDir?: string | undefined;
  logFile: string;
  /** Where llmux's source is: the repository (working tree) or a snapshot of a commit. */
  tree: string;
  /** Another config file than bench/llmux.bench.yaml (to measure what a feature costs). */
  config?: string;
  /** Extra node flags (e.g. V8 heap settings) for llmux. */
  nodeFlags?: string[];
  /** Extra environment variables for llmux. */
  env?: Record<string, string>;
}

/** The node flags `npm start` gives llmux (package.json), so the bench runs it the same way. */
export function startFlags(tree: string): string[] {
  const pkg = JSON.parse(readFileSync(join(tree, 'package.json'), 'utf8')) as { scripts?: { start?: string } };
  const words = (pkg.scripts?.start ?? '').split(/\s+/);
  const at = words.indexOf('bin/llmux.js');
  return words[0] === 'node' && at > 0 ? words.slice(1, at) : [];
}

export async function startLlmux(upstreamPort: number, dir: string, o: LlmuxOptions): Promise<LlmuxStart> {
  const port = await freePort();
  const nodeFlags = [...startFlags(o.tree), ...(o.nodeFlags ?? []), ...(o.profileDir ? ['--cpu-prof', '--cpu-prof-dir', o.profileDir] : [])];
  const args = ['serve', '--config', o.config ?? join(ROOT, 'bench', 'llmux.bench.yaml'), '--port', String(port)];
  // As `npm start` runs it, through the launcher; measured as a restart (bench/HISTORY.md, twentieth round).
  const env = { ...llmuxEnv(upstreamPort, dir), ...o.env };
  await warmUpStart(o, env, [...startFlags(o.tree), ...(o.nodeFlags ?? [])], args);
  const child = spawnNode('llmux', 'bin/llmux.js', args, { cpu: o.cpu, env, nodeFlags, logFile: o.logFile, cwd: o.tree });
  try {
    await waitHealthy(child, `http://127.0.0.1:${port}/health`, 20_000);
    if (!listensOn(child.pid, port)) throw new StartError(`port ${port} answers /health, but not from llmux (pid ${child.pid}): ${child.tail().slice(-600)}`);
    return { started: { child, port } };
  } catch (err) {
    if (!(err instanceof StartError)) throw err;
    child.proc.kill('SIGKILL');
    await child.exited;
    return { error: `llmux failed to start: ${err.message}` };
  }
}

/**
 * A first start of llmux, stopped as an operator stops it (SIGTERM, a clean exit), as npm's
 * postinstall makes one after installing (scripts/warm-cache.js): it fills Node's compile cache (bin/llmux.js) with what a start
 * compiles, with the same V8 flags (the cache is kept per set of flags). `serve --help`, the warm-up
 * before, filled it only with what loading the modules compiles: the start after it took about
 * 115 MiB where a restart takes 98. Bounded: 20 s to answer, 10 s to exit, then SIGKILL. A warm-up
 * that fails is left to the measured start to report.
 */
async function warmUpStart(o: LlmuxOptions, env: NodeJS.ProcessEnv, nodeFlags: string[], args: string[]): Promise<void> {
  const port = await freePort();
  const withPort = [...args.slice(0, -1), String(port)];
  const child = spawnNode('llmux (warm-up)', 'bin/llmux.js', withPort, { cpu: o.cpu, env, nodeFlags, cwd: o.tree });
  try {
    await waitHealthy(child, `http://127.0.0.1:${port}/health`, 20_000);
  } catch (err) {
    if (!(err instanceof StartError)) throw err;
  } finally {
    await stopChild(child, 10_000);
  }
}

function alive(child: Child | undefined): () => boolean {
  return () => (child ? child.proc.exitCode === null && child.proc.signalCode === null : true);
}

/** direct, bare, llmux (when it started), in the order the matrix alternates them. */
export function targetList(up: Started, bare: Started, llmux: Started | undefined): MatrixTarget[] {
  const list: MatrixTarget[] = [
    { name: 'direct', url: `http://127.0.0.1:${up.port}${CHAT}`, headers: AUTH, alive: alive(up.child) },
    { name: 'bare', url: `http://127.0.0.1:${bare.port}${CHAT}`, headers: AUTH, pid: bare.child.pid, alive: alive(bare.child) },
  ];
  if (llmux) list.push({ name: 'llmux', url: `http://127.0.0.1:${llmux.port}${CHAT}`, headers: AUTH, pid: llmux.child.pid, alive: alive(llmux.child) });
  return list;
}

const MESSAGES = [
  { role: 'system', content: 'You are a concise assistant.' },
  { role: 'user', content: 'In two sentences, what does a load balancer in front of LLM APIs do?' },
];

/** Request bodies by upstream behaviour (the model name picks it, see upstream.ts). */
export function body(model: 'bench' | 'bench-ttfb' | 'bench-gap' | 'bench-tokens' | 'bench-slow', stream: boolean): string {
  const extra = stream ? { stream: true, stream_options: { include_usage: true } } : {};
  return JSON.stringify({ model, messages: MESSAGES, max_tokens: 128, temperature: 0.2, ...extra });
}

/**
 * A coding agent's request as such tools send it: a system prompt, 20 tool schemas, and a
 * conversation of prose, source code (quotes, backslashes, line breaks, escaped in JSON) and some
 * Chinese, grown to about `AGENT_BODY_BYTES`; streamed with usage, or not. The same bytes on every call.
 */
export function agentBody(stream: boolean): string {
  const tools = Array.from({ length: 20 }, (_, i) => ({
    type: 'function',
    function: {
      name: `tool_${i}`,
      description: `Tool ${i}: reads or changes files of the workspace; returns what it did as text.`,
      parameters: { type: 'object', properties: { path: { type: 'string', description: 'A path relative to the workspace.' }, limit: { type: 'integer', minimum: 1 } }, required: ['path'] },
    },
  }));
  const code = 'function parse(line) {\n  const m = /^(\\w+)="([^"]*)"$/.exec(line);\n  return m ? { key: m[1], value: m[2].replace(/\\\\n/g, "\\n") } : null;\n}\n';
  const prose = 'The gateway reads the request, picks an endpoint and forwards the body as it came. ';
  const chinese = '网关读取请求，选择上游，并按原样转发请求体。';
  const messages: { role: string; content: string }[] = [{ role: 'system', content: `You are a coding agent. ${prose.repeat(20)}` }];
  let size = Buffer.byteLength(JSON.stringify({ messages, tools }));
  for (let i = 0; size < AGENT_BODY_BYTES; i++) {
    const content = i % 2 === 0 ? `${prose.repeat(6)}${chinese.repeat(4)}` : `Here is the change:\n\`\`\`js\n${code.repeat(12)}\`\`\``;
    const m = { role: i % 2 === 0 ? 'user' : 'assistant', content };
    messages.push(m);
    size += Buffer.byteLength(JSON.stringify(m)) + 1;
  }
  const extra = stream ? { stream: true, stream_options: { include_usage: true } } : {};
  return JSON.stringify({ model: 'bench', messages, tools, ...extra });
}

export function resultsPath(...parts: string[]): string {
  return join(ROOT, 'bench', 'results', ...parts);
}

/**
 * Extracts commit `ref` into `dir` (with the repository's node_modules linked in), so llmux can be
 * measured as committed while others edit the working tree. Returns the full commit id.
 */
export function snapshot(ref: string, dir: string): string {
  const sha = execFileSync('git', ['rev-parse', '--verify', `${ref}^{commit}`], { cwd: ROOT, encoding: 'utf8' }).trim();
  mkdirSync(dir, { recursive: true });
  execFileSync('sh', ['-c', 'git archive --format=tar "$1" | tar -x -C "$2"', 'sh', sha, dir], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return sha;
}

/** What is measured: a commit id, plus a warning when the working tree's src/ differs from it. */
export function describeTree(ref: string | undefined, sha: string | undefined): string {
  const git = (...a: string[]): string => {
    try {
      return execFileSync('git', a, { cwd: ROOT, encoding: 'utf8' }).trim();
    } catch {
      return '';
    }
  };
  if (ref && sha) return `llmux at ${ref} = commit ${sha.slice(0, 9)} (a snapshot, not the working tree)`;
  const dirty = git('status', '--porcelain', '--', 'src', 'bin', 'package.json') !== '';
  return `llmux from the working tree at commit ${git('rev-parse', '--short=9', 'HEAD') || 'unknown'}${dirty ? ' with uncommitted changes in src/' : ''}`;
}
