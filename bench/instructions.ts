/**
 * `npm run bench:instructions [-- --modes json,stream] [--ref GIT_REF …] [--requests N] [--warm N] [--top N] [--hold N] [--no-bare] [--keep DIR]`
 *
 * Instructions per request, counted by valgrind's callgrind: the bare proxy and llmux (the working
 * tree, and each `--ref` as committed) each run under callgrind, take `--warm` requests to settle
 * V8's tiers, then the counters are zeroed and `--requests` more are counted. Only the main thread
 * is reported (V8's compiler and GC helper threads vary from run to run; the main thread's count
 * repeats within about 2 %). Unlike CPU time, the count does not move with what else the machine
 * does, so two commits can be compared on a busy machine. It is not time: cache misses, GC memory
 * traffic and the kernel's share are not in it (llmux at 1.5× the bare proxy's instructions costs
 * about 1.6–1.9× its CPU time). JIT-compiled functions are named from V8's perf map
 * (`--perf-basic-prof`), so the top-functions table shows where llmux's extra instructions go.
 * `--hold N` first holds N slow streams open through each target and lets them go, as the load
 * bench's open-streams probe does before its load runs, to count what a target costs after that.
 *
 * Needs valgrind (`apt-get install valgrind`); 1.5–5 minutes per target and mode (llmux, and more counted requests, take longer). Writes
 * bench/results/instructions.md.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { atExit, freePort, installCleanup, ROOT, stopAll } from './children.ts';
import { holdStreams } from './probes.ts';
import { body, CLIENT_KEY, describeTree, resultsPath, snapshot, startFlags, startUpstream } from './targets.ts';

type Mode = 'json' | 'stream';

interface Options {
  modes: Mode[];
  refs: string[];
  requests: number;
  warm: number;
  top: number;
  /** Slow streams held open and let go before warming up (0: none). */
  hold: number;
  /** Count the bare proxy too (`--no-bare` skips it: for comparing commits or modes of llmux). */
  bare: boolean;
  /** Where to keep each counted target's callgrind dump and V8 perf map (for `callgrind_annotate --inclusive=yes`); none when unset. */
  keep: string | undefined;
}

function parseOptions(argv: string[]): Options {
  const val = (f: string): string | undefined => (argv.includes(f) ? argv[argv.indexOf(f) + 1] : undefined);
  const num = (f: string, d: number): number => {
    const v = Number(val(f));
    return Number.isInteger(v) && v > 0 ? v : d;
  };
  const modes = (val('--modes') ?? 'json,stream').split(',').filter((m): m is Mode => m === 'json' || m === 'stream');
  const refs: string[] = [];
  argv.forEach((a, i) => {
    if (a === '--ref' && argv[i + 1]) refs.push(argv[i + 1]!);
  });
  return { modes: modes.length ? modes : ['json', 'stream'], refs, requests: num('--requests', 2000), warm: num('--warm', 5000), top: num('--top', 25), hold: val('--hold') === undefined ? 0 : num('--hold', 0), bare: !argv.includes('--no-bare'), keep: val('--keep') };
}

const log = (line: string): void => void process.stderr.write(`${line}\n`);

function need(tool: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  } catch {
    log(`bench:instructions needs ${tool} (valgrind). Install it with: apt-get install -y valgrind`);
    process.exit(2);
  }
}

interface Target {
  name: string;
  /** The llmux tree to run, or null for the bare proxy. */
  tree: string | null;
}

interface Counted {
  target: string;
  mode: Mode;
  requests: number;
  /** Main-thread instructions per request. */
  perRequest: number;
  /** Self instructions per request by function (JIT code named from the perf map). */
  functions: Map<string, number>;
}

const headers = { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}` };

function fire(url: string, amount: number, mode: Mode): Promise<number> {
  return new Promise((resolve, reject) => {
    autocannon({ url, connections: 8, amount, method: 'POST', headers, body: body('bench', mode === 'stream'), timeout: 120 }, (err: unknown, r: autocannon.Result) => {
      if (err) reject(err instanceof Error ? err : new Error(String(err)));
      else resolve(r['2xx']);
    });
  });
}

async function waitPort(url: string, proc: ChildProcess, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (proc.exitCode !== null) throw new Error(`exited with ${proc.exitCode} before it answered`);
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {
      // not listening yet
    }
    await sleep(250);
  }
  throw new Error(`no answer from ${url} within ${timeoutMs / 1000} s`);
}

async function count(t: Target, mode: Mode, upstreamPort: number, o: Options): Promise<Counted> {
  const dir = mkdtempSync(join(tmpdir(), 'llmux-cg-'));
  const out = join(dir, 'callgrind.out');
  const vg = ['--tool=callgrind', `--callgrind-out-file=${out}`, '--smc-check=all-non-file', '--separate-threads=yes'];
  const port = await freePort();
  let proc: ChildProcess;
  if (t.tree === null) {
    proc = spawn('valgrind', [...vg, process.execPath, '--perf-basic-prof', 'bench/bare-proxy.ts', '--upstream', `http://127.0.0.1:${upstreamPort}`, '--port', String(port)], { cwd: ROOT, stdio: 'ignore' });
  } else {
    const env = { ...process.env, LLMUX_BENCH_DIR: dir, LLMUX_BENCH_UPSTREAM: `http://127.0.0.1:${upstreamPort}/v1`, LLMUX_BENCH_KEY: CLIENT_KEY };
    // As the load bench: the compile cache filled first, llmux started as `npm start` starts it.
    execFileSync(process.execPath, ['bin/llmux.js', 'serve', '--help'], { cwd: t.tree, env, stdio: 'ignore' });
    proc = spawn('valgrind', [...vg, process.execPath, ...startFlags(t.tree), '--perf-basic-prof', 'bin/llmux.js', 'serve', '--config', join(t.tree, 'bench', 'llmux.bench.yaml'), '--port', String(port)], { cwd: t.tree, env, stdio: 'ignore' });
  }
  const pid = proc.pid ?? -1;
  const stop = (): void => {
    try {
      proc.kill('SIGKILL');
    } catch {
      // gone
    }
  };
  atExit(stop);
  try {
    const url = `http://127.0.0.1:${port}/v1/chat/completions`;
    await waitPort(`http://127.0.0.1:${port}/health`, proc, 180_000);
    if (o.hold > 0) {
      log(`  ${t.name} ${mode}: holding ${o.hold} slow streams open, then letting them go …`);
      const h = await holdStreams({ name: t.name, pid, url, headers }, body('bench-slow', true), o.hold, 3000, `http://127.0.0.1:${upstreamPort}/bench/stats`);
      if (h.opened < o.hold) log(`    only ${h.opened}/${o.hold} opened: ${JSON.stringify(h.failures)}`);
    }
    log(`  ${t.name} ${mode}: warming up (${o.warm} requests under callgrind) …`);
    await fire(url, o.warm, mode);
    await sleep(1000);
    execFileSync('callgrind_control', ['--zero', String(pid)], { stdio: 'ignore' });
    log(`  ${t.name} ${mode}: counting ${o.requests} requests …`);
    const ok = await fire(url, o.requests, mode);
    await sleep(1000);
    execFileSync('callgrind_control', ['--dump', String(pid)], { stdio: 'ignore' });
    await sleep(500);
    // With --separate-threads, the main thread's dump is the one ending in -01.
    const main = readdirSync(dir).find((f) => f.startsWith('callgrind.out') && f.endsWith('-01'));
    if (!main) throw new Error('callgrind wrote no dump for the main thread');
    const file = join(dir, main);
    const totals = /^totals:\s+(\d+)/m.exec(readFileSync(file, 'utf8'));
    if (!totals || ok === 0) throw new Error('no instruction totals in the dump');
    if (o.keep) {
      mkdirSync(o.keep, { recursive: true });
      const base = join(o.keep, `${t.name.replace(/[^\w.-]/g, '_')}-${mode}`);
      copyFileSync(file, `${base}.callgrind`);
      if (existsSync(`/tmp/perf-${pid}.map`)) copyFileSync(`/tmp/perf-${pid}.map`, `${base}.perf.map`);
      log(`  kept ${base}.callgrind (and .perf.map)`);
    }
    return { target: t.name, mode, requests: ok, perRequest: Number(totals[1]) / ok, functions: selfByFunction(file, `/tmp/perf-${pid}.map`, ok) };
  } finally {
    stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(`/tmp/perf-${pid}.map`, { force: true });
  }
}

/** `callgrind_annotate`'s self counts per function, JIT addresses named from the perf map. */
function selfByFunction(file: string, perfMap: string, requests: number): Map<string, number> {
  const text = execFileSync('callgrind_annotate', ['--threshold=100', '--inclusive=no', file], { encoding: 'utf8', maxBuffer: 256 * 2 ** 20 });
  const names = existsSync(perfMap) ? readPerfMap(perfMap) : { starts: [], entries: [] };
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)$/.exec(line);
    if (!m || m[2]!.includes('PROGRAM TOTALS')) continue;
    const n = Number(m[1]!.replace(/,/g, ''));
    let what = m[2]!;
    // The process's entry frames (libc, the loader, node's main loop) hold everything: not a function's own.
    if (/ld-linux|libc_start|below main/.test(what)) continue;
    const addr = /^\?\?\?:0x([0-9a-f]+) \[\?\?\?\]/.exec(what);
    if (addr) what = lookup(names, parseInt(addr[1]!, 16)) ?? 'JIT code (unnamed)';
    else what = what.replace(/^\?\?\?:/, '').replace(/ \[[^\]]*\]$/, '');
    // Tier marks (* optimised, + Maglev, ^ baseline, ~ interpreted) merged: one row per function.
    what = what.replace(/^JS:[*+^~]'?/, 'JS:').replace(/file:\/\/\/?[^ ]*?\/(src|bench|node_modules)\//, '$1/');
    if (/below main|libc_start|^main$|node::Start\(|SpinEventLoop|NodeMainInstance|ld-linux/.test(what)) continue;
    out.set(what, (out.get(what) ?? 0) + n / requests);
  }
  return out;
}

interface PerfMap {
  starts: number[];
  entries: Array<[number, number, string]>;
}

function readPerfMap(path: string): PerfMap {
  const entries: Array<[number, number, string]> = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const [a, s, ...name] = line.split(' ');
    if (a && s && name.length) entries.push([parseInt(a, 16), parseInt(s, 16), name.join(' ')]);
  }
  entries.sort((x, y) => x[0] - y[0]);
  return { starts: entries.map((e) => e[0]), entries };
}

function lookup(m: PerfMap, addr: number): string | undefined {
  let lo = 0;
  let hi = m.starts.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (m.starts[mid]! <= addr) lo = mid + 1;
    else hi = mid - 1;
  }
  const e = m.entries[hi];
  return e && addr < e[0] + e[1] ? e[2] : undefined;
}

const k = (n: number): string => `${(n / 1000).toFixed(1)}k`;

function report(results: Counted[], o: Options, describe: string): string {
  const lines: string[] = [];
  lines.push(`# Instructions per request (callgrind, main thread)`, '');
  lines.push(`${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · Node ${process.version} · ${describe}`, '');
  const held = o.hold > 0 ? `${o.hold} slow streams held open and let go first, then ` : '';
  lines.push(`${held}${o.warm} requests to warm up, then ${o.requests} counted, 8 connections; the same fake upstream and bench config as \`npm run bench\`.`, '');
  lines.push('| mode | target | instructions / request | × bare |', '|---|---|---:|---:|');
  for (const mode of o.modes) {
    const bare = results.find((r) => r.mode === mode && r.target === 'bare');
    for (const r of results.filter((x) => x.mode === mode)) {
      lines.push(`| ${mode} | ${r.target} | ${k(r.perRequest)} | ${bare ? (r.perRequest / bare.perRequest).toFixed(2) : '–'} |`);
    }
  }
  for (const mode of o.modes) {
    const bare = results.find((r) => r.mode === mode && r.target === 'bare');
    const llmux = results.find((r) => r.mode === mode && r.target !== 'bare');
    if (!bare || !llmux) continue;
    lines.push('', `## ${mode}: where ${llmux.target} spends more than the bare proxy (self instructions per request)`, '');
    lines.push(...moreTable(llmux, bare, llmux.target, 'bare', o.top));
  }
  // What a streamed answer costs a target beyond a whole one, where both modes were counted.
  for (const name of [...new Set(results.map((r) => r.target))]) {
    const json = results.find((r) => r.mode === 'json' && r.target === name);
    const stream = results.find((r) => r.mode === 'stream' && r.target === name);
    if (!json || !stream) continue;
    lines.push('', `## ${name}: where a streamed request spends more than a non-stream one (${k(stream.perRequest - json.perRequest)} in all; self instructions per request)`, '');
    lines.push(...moreTable(stream, json, 'stream', 'json', o.top));
  }
  return `${lines.join('\n')}\n`;
}

/** The `top` functions where count `a` spends the most self instructions beyond count `b`, as a markdown table. */
function moreTable(a: Counted, b: Counted, nameA: string, nameB: string, top: number): string[] {
  const rows = [...new Set([...a.functions.keys(), ...b.functions.keys()])]
    .map((f) => ({ f, a: a.functions.get(f) ?? 0, b: b.functions.get(f) ?? 0 }))
    .sort((x, y) => y.a - y.b - (x.a - x.b))
    .slice(0, top);
  return [`| function | ${nameA} | ${nameB} | more |`, '|---|---:|---:|---:|', ...rows.map((r) => `| \`${r.f.slice(0, 110).replace(/\|/g, '\\|')}\` | ${k(r.a)} | ${k(r.b)} | ${k(r.a - r.b)} |`)];
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  for (const tool of ['valgrind', 'callgrind_control', 'callgrind_annotate']) need(tool);
  installCleanup();
  const tmp = mkdtempSync(join(tmpdir(), 'llmux-cg-trees-'));
  atExit(() => rmSync(tmp, { recursive: true, force: true }));
  const targets: Target[] = [...(o.bare ? [{ name: 'bare', tree: null }] : []), { name: 'llmux', tree: ROOT }];
  const described = [describeTree(undefined, undefined)];
  for (const ref of o.refs) {
    const dir = join(tmp, ref.replace(/[^\w.-]/g, '_'));
    const sha = snapshot(ref, dir);
    targets.push({ name: `llmux@${sha.slice(0, 9)}`, tree: dir });
    described.push(describeTree(ref, sha));
  }
  const up = await startUpstream(undefined, 60_000);
  const results: Counted[] = [];
  const total = o.modes.length * targets.length;
  let n = 0;
  try {
    for (const mode of o.modes) {
      for (const t of targets) {
        log(`[${++n}/${total}] ${t.name}, ${mode} …`);
        const r = await count(t, mode, up.port, o);
        log(`  ${k(r.perRequest)} instructions per request`);
        results.push(r);
      }
    }
  } finally {
    await stopAll();
  }
  const text = report(results, o, described.join('; '));
  mkdirSync(resultsPath(), { recursive: true });
  writeFileSync(resultsPath('instructions.md'), text);
  process.stdout.write(text);
  log(`\nwritten to ${resultsPath('instructions.md')}`);
}

await main();
process.exit(0);
