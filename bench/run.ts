/**
 * `npm run bench [-- --quick] [--write] [--profile] [--no-pin] [--reps N] [--duration S] [--streams N] [--modes json,stream] [--ref GIT_REF] [--noise-retries N] [--connections 1,32,128] [--load-only] [--load-generator wrk|autocannon]`
 * `node bench/run.ts --render [FILE] [--write]` renders the report again from a saved run.
 *
 * Measures llmux against a direct call to a fake upstream and against a bare Node proxy: load at
 * several connection counts (wrk when installed, else autocannon in this process), bodies byte for byte, time to first
 * byte, inter-chunk timing and memory with many open streams. Prints the load tables and writes
 * the full report to BENCHMARKS.md, keeping its hand-written notes (bench/notes.ts; quick mode:
 * bench/results/quick.md unless --write). In a full
 * run that reaches it before the 10-minute mark, llmux's inter-chunk probe is lined up with its
 * request-log prune (waiting up to 2 minutes for it), and the report says which prunes llmux logged
 * during the probe.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { atExit, installCleanup, ROOT, stopAll, stopChild } from './children.ts';
import { matrixSize, maxRetries, measure, runMatrix, warmUp } from './matrix.ts';
import type { Cell, MatrixTarget, Harness, Plan } from './matrix.ts';
import { wrkInstalled, wrkSeconds } from './load.ts';
import type { LoadGenerator } from './load.ts';
import { checkBodies, holdStreams, measureGaps, measureTtfb, runtimeWindow, scrapeRuntime } from './probes.ts';
import type { BodyCheck, Mode } from './probes.ts';
import { machineInfo, peakRssBytes, rssBytes } from './proc.ts';
import { readNotes, type ReadNotes } from './notes.ts';
import { newestProfile, printProfile, topSelfTime } from './profile.ts';
import type { ProfileRow } from './profile.ts';
import { describeRuntime, renderLoadTables, renderReport, STREAM_EVENTS } from './report.ts';
import type { AgentRun, Memory, RunReport, TokenRun } from './report.ts';
import { agentBody, body, describeTree, resultsPath, snapshot, startBare, startLlmux, startUpstream, targetList } from './targets.ts';
import { PRUNE_EVERY_MS } from '../src/boot/jobs.ts';
import type { Started } from './targets.ts';

interface Options {
  quick: boolean;
  write: boolean;
  profile: boolean;
  pin: boolean;
  plan: Plan;
  ttfbN: number;
  gapN: number;
  /** Runs per proxy of the token-paced streams, and their length in s. */
  tokenReps: number;
  tokenS: number;
  agentReps: number;
  agentS: number;
  streams: number;
  settleMs: number;
  /** Measure llmux as of this git ref (a snapshot) instead of the working tree. */
  ref: string | undefined;
  /** Only the load matrix: no open-stream, TTFB or inter-chunk probes (for quick iterations). */
  loadOnly: boolean;
  /** Extra Node or V8 flags for llmux, from `LLMUX_BENCH_NODE_FLAGS` (`--trace-gc`): for diagnosis; the report says so. */
  llmuxFlags: string[];
  /** `--load-generator`: wrk when installed, else autocannon. */
  generator: LoadGenerator;
}

function parseOptions(argv: string[]): Options {
  const has = (f: string): boolean => argv.includes(f);
  const num = (f: string, d: number, min = 1): number => {
    const i = argv.indexOf(f);
    const v = i >= 0 ? Number(argv[i + 1]) : NaN;
    return Number.isFinite(v) && v >= min ? v : d;
  };
  const quick = has('--quick');
  const mi = argv.indexOf('--modes');
  const modes = (mi >= 0 ? (argv[mi + 1] ?? '').split(',') : ['json', 'stream']).filter((m): m is Mode => m === 'json' || m === 'stream');
  const ci = argv.indexOf('--connections');
  const connections = ci >= 0 ? (argv[ci + 1] ?? '').split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0) : [1, 32, 128];
  const generator = loadGenerator(argv);
  // wrk runs whole seconds: the plan says what runs (and the report, and the run's time bound, with it).
  const seconds = (s: number): number => (generator === 'wrk' ? wrkSeconds(s) : s);
  const plan: Plan = { reps: num('--reps', quick ? 1 : 5), durationS: seconds(num('--duration', quick ? 2 : 6, 0.5)), connections: connections.length ? connections : [1, 32, 128], warmupS: seconds(quick ? 0.5 : 2), modes, noiseRetries: quick ? 0 : num('--noise-retries', 2, 0), maxNoisePct: 25 };
  return {
    quick,
    write: has('--write') || !quick,
    profile: has('--profile'),
    pin: !has('--no-pin') && canPin(),
    plan,
    ttfbN: quick ? 10 : 20,
    gapN: quick ? 1 : 5,
    tokenReps: quick ? 1 : 3,
    tokenS: quick ? 2 : 5,
    agentReps: quick ? 1 : 3,
    agentS: quick ? 2 : 5,
    streams: num('--streams', 2000),
    settleMs: quick ? 800 : 2000,
    ref: argv.includes('--ref') ? argv[argv.indexOf('--ref') + 1] : undefined,
    loadOnly: has('--load-only'),
    llmuxFlags: (process.env['LLMUX_BENCH_NODE_FLAGS'] ?? '').split(/\s+/).filter(Boolean),
    generator,
  };
}

/** `--load-generator wrk|autocannon`; without it wrk when installed, else autocannon. Exits on a wrong name or a missing wrk. */
function loadGenerator(argv: string[]): LoadGenerator {
  const i = argv.indexOf('--load-generator');
  if (i < 0) return wrkInstalled() ? 'wrk' : 'autocannon';
  const g = argv[i + 1];
  if (g !== 'wrk' && g !== 'autocannon') {
    log(`--load-generator takes wrk or autocannon, not ${g ?? '(nothing)'}.`);
    process.exit(2);
  }
  if (g === 'wrk' && !wrkInstalled()) {
    log('--load-generator wrk: wrk is not installed here. Install it (Debian: apt-get install -y wrk), or run with --load-generator autocannon.');
    process.exit(2);
  }
  return g;
}

function canPin(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return (machineInfo().cores ?? 1) >= 2;
  } catch {
    return false;
  }
}

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

interface World {
  up: Started;
  bare: Started;
  llmux?: Started | undefined;
  targets: MatrixTarget[];
  notes: string[];
  tmp: string;
  profileSince: number;
  /** Which llmux was measured (commit, snapshot or working tree), and where its files are. */
  tree: string;
  treeDir: string;
  /** When llmux was started (its request-log prune runs at start-up and every PRUNE_EVERY_MS after). */
  llmuxSince: number;
}

async function startWorld(o: Options): Promise<World> {
  const tmp = mkdtempSync(join(tmpdir(), 'llmux-bench-'));
  atExit(() => removeTemp(tmp));
  const sha = o.ref ? snapshot(o.ref, join(tmp, 'tree')) : undefined;
  const tree = describeTree(o.ref, sha);
  const treeDir = sha ? join(tmp, 'tree') : ROOT;
  log(tree);
  const up = await startUpstream(o.pin ? 0 : undefined, 60_000);
  const bare = await startBare(up.port, o.pin ? 1 : undefined);
  log(`upstream on :${up.port} (pid ${up.child.pid}), bare proxy on :${bare.port} (pid ${bare.child.pid})`);
  const profileSince = Date.now();
  const profileDir = o.profile ? resultsPath('prof') : undefined;
  const llmuxSince = Date.now();
  const l = await startLlmux(up.port, tmp, { cpu: o.pin ? 1 : undefined, profileDir, logFile: resultsPath('llmux.log'), tree: treeDir, nodeFlags: o.llmuxFlags });
  const notes: string[] = [];
  if (l.error) {
    log(`\n${l.error}\n\nContinuing with direct and bare only.\n`);
    notes.push(l.error.split('\n').slice(0, 6).join(' ⏎ ').slice(0, 600));
  } else log(`llmux on :${l.started?.port} (pid ${l.started?.child.pid}), log in ${resultsPath('llmux.log')}`);
  return { up, bare, llmux: l.started, targets: targetList(up, bare, l.started), notes, tmp, profileSince, tree, treeDir, llmuxSince };
}

function idleMemory(w: World): Memory[] {
  return w.targets.filter((t) => t.pid).map((t) => ({ target: t.name, idleMiB: rssBytes(t.pid ?? 0) / 2 ** 20, afterLoadMiB: NaN, peakMiB: NaN }));
}

async function probes(w: World, o: Options, r: RunReport, early: GapResult | null, harness: Harness): Promise<void> {
  log('\ntime to first byte (upstream waits 200 ms) …');
  for (const t of w.targets) r.ttfb.push(await measureTtfb(t, body('bench-ttfb', true), o.ttfbN));
  log('inter-chunk timing (upstream writes every 50 ms) …');
  for (const t of w.targets) {
    if (t.name !== 'llmux') {
      r.gaps.push(await measureGaps(t, body('bench-gap', true), o.gapN));
      continue;
    }
    if (o.quick) {
      r.gaps.push(await gapsWithRuntime(t, o));
      continue;
    }
    if (early) {
      log(`  llmux: measured between load runs (${early.pruneNote})`);
      r.gaps.push(early);
      continue;
    }
    r.gaps.push(await llmuxGaps(t, o, await awaitPrune(w)));
  }
  r.tokens = await tokenPaced(w, o, harness);
  await agentSized(w, o, r, harness);
}

/**
 * Streams paced like tokens: the 21 events nominally 1 ms apart, each in its own write, at 32 connections, for
 * the two proxies in turn (reversed in every second run). The load runs' answer arrives in one piece;
 * this is what relaying costs when each event arrives on its own, as providers stream.
 */
async function tokenPaced(w: World, o: Options, harness: Harness): Promise<TokenRun[]> {
  log('streams paced like tokens (21 events nominally 1 ms apart, 32 connections) …');
  const text = body('bench-tokens', true);
  return inTurn(w, o.tokenReps, (t) => measure(t, 'stream', 32, o.tokenS, text, harness), (c) => `${c.load.rps.toFixed(0)} streams/s, ${c.cpuUsPerReq.toFixed(0)} µs a stream (${(c.cpuUsPerReq / STREAM_EVENTS).toFixed(2)} an event)`);
}

/**
 * The proxies measured in turn, one load run each, `reps` times (the order reversed in every second
 * round), each run logged with `describe`: the probes' runs, as the report reads them.
 */
async function inTurn(w: World, reps: number, run: (t: MatrixTarget) => Promise<Omit<Cell, 'rep'>>, describe: (c: Omit<Cell, 'rep'>) => string): Promise<AgentRun[]> {
  const proxies = w.targets.filter((t) => t.pid !== undefined);
  const runs: AgentRun[] = [];
  for (let rep = 1; rep <= reps; rep++) {
    for (const t of rep % 2 === 1 ? proxies : [...proxies].reverse()) {
      if (!t.alive()) continue;
      const c = await run(t);
      log(`  ${t.name}: ${describe(c)}`);
      runs.push({ target: t.name, rep, rps: c.load.rps, cpuUsPerReq: c.cpuUsPerReq, gcThreadsUsPerReq: c.gcThreadsUsPerReq, errors: c.load.errors + c.load.non2xx, noisePct: c.noisePct, rssAfterMiB: c.rssAfterMiB });
    }
  }
  return runs;
}

/**
 * Agent-size requests: a ~200 KB body (`agentBody`), streamed, at 8 connections, for the two proxies
 * in turn (reversed in every second run). The load runs' body is 275 bytes; a coding agent's grows to
 * hundreds of kilobytes, which llmux reads and checks where the bare proxy forwards it unread. Last
 * of the probes: what such bodies leave in a process's memory does not reach the others.
 */
async function agentSized(w: World, o: Options, r: RunReport, harness: Harness): Promise<void> {
  const text = agentBody(true);
  log(`agent-size requests (${(Buffer.byteLength(text) / 1024).toFixed(0)} KB bodies, streamed, 8 connections) …`);
  // The same answers through every target, for such a body too (the upstream's answer does not depend on it).
  await checkAgain(w, r, { json: agentBody(false), stream: text }, 'agent-size body');
  r.agent = await inTurn(w, o.agentReps, (t) => measure(t, 'stream', 8, o.agentS, text, harness), (c) => `${c.load.rps.toFixed(0)} req/s, ${c.cpuUsPerReq.toFixed(0)} µs a request, RSS ${c.rssAfterMiB.toFixed(0)} MiB`);
}

type GapResult = Awaited<ReturnType<typeof measureGaps>>;

/** llmux's inter-chunk probe, with its /metrics before and after: the event loop's longest delay and the GC pauses while it ran. */
async function gapsWithRuntime(t: MatrixTarget, o: Options): Promise<GapResult> {
  const before = await scrapeRuntime(t);
  const g = await measureGaps(t, body('bench-gap', true), o.gapN);
  const after = before && (await scrapeRuntime(t));
  if (before && after) {
    g.runtime = runtimeWindow(before, after);
    log(`  llmux during the probe: ${describeRuntime(g.runtime)}`);
  }
  return g;
}

/** llmux's inter-chunk probe (`gapsWithRuntime`), with the request-log prunes llmux logged while it ran. */
async function llmuxGaps(t: MatrixTarget, o: Options, note: string): Promise<GapResult> {
  const from = Date.now();
  const g = await gapsWithRuntime(t, o);
  const to = Date.now();
  // llmux writes its log in batches (64 KB or 1 s): wait for the batch that holds the probe's end.
  await new Promise((res) => setTimeout(res, 1500));
  g.prunes = prunesLogged(resultsPath('llmux.log'), from, to);
  g.pruneNote = note;
  log(`  ${note}; prunes during the probe: ${g.prunes.length ? g.prunes.map((p) => `${p.rows} rows at ${(p.atMs / 1000).toFixed(1)} s`).join(', ') : 'none'}`);
  return g;
}

/**
 * A full run's load runs take about as long as llmux's first periodic request-log prune takes to
 * come (10 minutes after its start), so the probes after them often came just after it, and the
 * next was too far away to wait for. Before each load run this checks whether the prune falls
 * before the run would end; if so it waits until just before the prune and runs llmux's inter-chunk
 * probe across it then, with the request log as the load runs so far have filled it. The probe's
 * result is reported with the other targets' (measured after the load runs, as before).
 */
function gapsAtPrune(w: World, o: Options): { between: () => Promise<void>; result: () => GapResult | null } {
  let done: GapResult | null = null;
  const llmux = w.targets.find((t) => t.name === 'llmux');
  const due = w.llmuxSince + PRUNE_EVERY_MS;
  // A load run: its warm-up, its duration, a noisy run measured again, and some slack.
  const cellMs = (o.plan.warmupS + 2 * o.plan.durationS + 5) * 1000;
  return {
    result: () => done,
    async between() {
      if (done || !llmux || o.quick || o.loadOnly || !llmux.alive()) return;
      const start = due - PRUNE_LEAD_MS;
      const now = Date.now();
      if (now + cellMs < start || now > start) return;
      log(`  waiting ${((start - now) / 1000).toFixed(0)} s, then llmux's inter-chunk probe across its periodic request-log prune …`);
      await new Promise((res) => setTimeout(res, start - now));
      done = await llmuxGaps(llmux, o, `the probe was started ${PRUNE_LEAD_MS / 1000} s before llmux's periodic request-log prune, between load runs`);
    },
  };
}

/** Longest wait for llmux's periodic prune before its inter-chunk probe. */
const PRUNE_WAIT_MAX_MS = 120_000;
/**
 * How long before llmux's prune its inter-chunk probe starts. The probe takes about 5.3 s (5 streams
 * of 21 events 50 ms apart), the prune of a bench's log 1–2 s, and llmux starts its prune timer up
 * to about a second after the bench started it: a prune that starts 1.5–2.5 s into the probe ends
 * inside it, where the report can see it.
 */
const PRUNE_LEAD_MS = 1500;

/**
 * A full run reaches the probes a little before llmux's first periodic request-log prune (10 minutes
 * after its start, with about a million rows by then). The prune holds the event loop for a few ms
 * at a time, so llmux's inter-chunk probe is started just before it, to measure it in every full run
 * that gets there in time (one that needed many noisy cells measured again may not). Says what it did.
 */
async function awaitPrune(w: World): Promise<string> {
  // A prune due less than the lead ago may not have started yet (llmux starts its timer a little
  // after `llmuxSince`): it counts as the next one.
  const elapsed = Date.now() - w.llmuxSince;
  const next = w.llmuxSince + PRUNE_EVERY_MS * Math.max(1, Math.ceil((elapsed - PRUNE_LEAD_MS) / PRUNE_EVERY_MS));
  const wait = next - PRUNE_LEAD_MS - Date.now();
  if (wait > PRUNE_WAIT_MAX_MS) return `llmux's next request-log prune was ${Math.round((next - Date.now()) / 1000)} s away: the probe was not lined up with it`;
  if (wait > 0) {
    log(`  waiting ${(wait / 1000).toFixed(0)} s so that llmux's inter-chunk probe spans its periodic request-log prune …`);
    await new Promise((res) => setTimeout(res, wait));
    return `the probe was started ${PRUNE_LEAD_MS / 1000} s before llmux's periodic request-log prune`;
  }
  const ahead = (next - Date.now()) / 1000;
  return ahead >= 0
    ? `the probe started ${ahead.toFixed(1)} s before llmux's periodic request-log prune was due`
    : `the probe started ${(-ahead).toFixed(1)} s after llmux's periodic request-log prune was due (it may have begun already)`;
}

/** The `request log pruned` lines llmux logged between `from` and `to` (epoch ms), from the log's last 4 MB. */
function prunesLogged(file: string, from: number, to: number): { rows: number; atMs: number }[] {
  // The whole log of a full run is a few hundred MB (one line a request): only its end is read.
  let text = '';
  try {
    const fd = openSync(file, 'r');
    try {
      const size = fstatSync(fd).size;
      const len = Math.min(size, 4 * 2 ** 20);
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, size - len);
      text = buf.toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return [];
  }
  const out: { rows: number; atMs: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes('"request log pruned"')) continue;
    try {
      const e = JSON.parse(line) as { time?: number; rows?: number };
      if (typeof e.time === 'number' && e.time >= from && e.time <= to) out.push({ rows: e.rows ?? 0, atMs: e.time - from });
    } catch {
      // not a JSON line
    }
  }
  return out;
}

/** Before the load runs, so that the RSS with many streams is not inflated by their heap growth. */
async function holds(w: World, o: Options, r: RunReport): Promise<void> {
  for (const t of w.targets.filter((x) => x.pid && x.alive())) {
    log(`holding ${o.streams} slow streams open through ${t.name} …`);
    const h = await holdStreams(t, body('bench-slow', true), o.streams, o.settleMs, `http://127.0.0.1:${w.up.port}/bench/stats`);
    log(`  ${h.opened}/${h.wanted} open in ${h.openSeconds.toFixed(1)} s, RSS ${h.rssOpenMiB.toFixed(1)} MiB${Object.keys(h.failures).length ? `, failures ${JSON.stringify(h.failures)}` : ''}`);
    r.holds.push(h);
  }
}

function reportBodies(checks: BodyCheck[], when: string): void {
  for (const c of checks) if (!c.ok) log(`  ✗ ${when}: ${c.target} ${c.mode}: ${c.detail}`);
  if (checks.every((c) => c.ok)) log(`  bodies byte-identical through every target (${when})`);
}

/** The bodies checked through every target once more; what fails joins the run's checks, named by `when`. */
async function checkAgain(w: World, r: RunReport, bodies: Record<Mode, string>, when: string): Promise<void> {
  const checks = await checkBodies(w.targets, bodies);
  reportBodies(checks, when);
  r.checks.push(...checks.filter((c) => !c.ok).map((c) => ({ ...c, detail: `${when}: ${c.detail}` })));
}

async function finish(w: World, o: Options): Promise<ProfileRow[] | undefined> {
  let profile: ProfileRow[] | undefined;
  if (w.llmux) {
    const how = await stopChild(w.llmux.child, o.profile ? 15_000 : 5000);
    if (o.profile) {
      const file = newestProfile(resultsPath('prof'), w.profileSince);
      if (file) {
        profile = topSelfTime(file, w.treeDir);
        log(`\nllmux CPU profile ${file}:\n${printProfile(profile)}`);
      } else log(`\nno .cpuprofile written: llmux ended by ${how} (it writes one only on a clean exit)`);
    }
  }
  await stopAll();
  removeTemp(w.tmp);
  return profile;
}

/** The temp dir holds the SQLite store and maybe a snapshot that links the repository's node_modules. */
function removeTemp(tmp: string): void {
  // unlink that link first: never delete through it
  rmSync(join(tmp, 'tree', 'node_modules'), { force: true });
  rmSync(tmp, { recursive: true, force: true });
}

function newReport(o: Options, tree: string): RunReport {
  const m = machineInfo();
  const p = o.plan;
  const settings = `${o.quick ? 'Quick' : 'Full'} run, ${tree}: ${p.reps} repetition(s) of ${p.durationS} s per target, mode and connection count (${p.connections.join(', ')}), targets alternating (reversed in every second repetition)${p.noiseRetries ? `; a run during which other processes used ≥ ${p.maxNoisePct} % of a core is measured again (up to ${p.noiseRetries}×) and the quietest kept` : ''}; ${o.generator === 'wrk' ? 'wrk (one thread) as the load generator, a child of the harness' : 'autocannon in the harness process'}. ${o.pin ? 'Load generator and fake upstream pinned to CPU 0, the proxy under test to CPU 1.' : 'No CPU pinning.'}${o.profile ? ' llmux ran under the sampling profiler (`--cpu-prof`), which costs it a little CPU.' : ''}${o.llmuxFlags.length ? ` llmux ran with extra Node flags (\`LLMUX_BENCH_NODE_FLAGS\`): \`${o.llmuxFlags.join(' ')}\`.` : ''}`;
  return { title: 'llmux benchmarks', machine: m, date: new Date().toISOString().replace('T', ' ').slice(0, 16) + ' UTC', settings, notes: [], checks: [], cells: [], connections: p.connections, modes: p.modes, targets: ['direct', 'bare', 'llmux'], memory: [], ttfb: [], gaps: [], holds: [] };
}

/**
 * The hand-written blocks of BENCHMARKS.md (bench/notes.ts), so that a run that rewrites it keeps
 * them; `problems` when its markers do not pair up, and rewriting it could lose text.
 */
function keptNotes(file: string): ReadNotes {
  return existsSync(file) ? readNotes(readFileSync(file, 'utf8')) : { notes: {}, problems: [] };
}

/** Write the report to BENCHMARKS.md, or, when its markers are broken, beside it (nothing hand-written is lost). */
function writeReport(file: string, r: RunReport): string {
  const kept = keptNotes(file);
  if (kept.problems.length === 0) {
    writeFileSync(file, renderReport(r, kept.notes));
    return file;
  }
  const aside = resultsPath('BENCHMARKS.md');
  writeFileSync(aside, renderReport(r, kept.notes));
  log(`${file} left as it is: ${kept.problems.join('; ')}. The report went to ${aside}; mend the markers and run \`node bench/run.ts --render --write\` to write it there.`);
  return aside;
}

/** `--render FILE [--write]`: the report again from a saved run (bench/results/last-run.json), no load. */
function rerender(argv: string[]): boolean {
  const i = argv.indexOf('--render');
  if (i < 0) return false;
  const file = argv[i + 1] && !argv[i + 1]?.startsWith('--') ? argv[i + 1] : undefined;
  const r = JSON.parse(readFileSync(file ?? resultsPath('last-run.json'), 'utf8')) as RunReport;
  let out = resultsPath('rendered.md');
  if (argv.includes('--write')) out = writeReport(join(ROOT, 'BENCHMARKS.md'), r);
  // A preview, with the notes BENCHMARKS.md holds now.
  else writeFileSync(out, renderReport(r, keptNotes(join(ROOT, 'BENCHMARKS.md')).notes));
  process.stdout.write(`${renderLoadTables(r)}\n`);
  log(`report written to ${out}`);
  return true;
}

async function main(): Promise<void> {
  if (rerender(process.argv.slice(2))) return;
  const o = parseOptions(process.argv.slice(2));
  // A run that would rewrite BENCHMARKS.md checks its hand-written blocks first, not 12 minutes later.
  const broken = o.write ? keptNotes(join(ROOT, 'BENCHMARKS.md')).problems : [];
  if (broken.length > 0) {
    log(`BENCHMARKS.md's hand-written blocks (bench/notes.ts) are not well marked, and this run would rewrite the file: ${broken.join('; ')}. Mend the markers, or run with --quick (which writes bench/results/quick.md).`);
    process.exit(2);
  }
  installCleanup();
  mkdirSync(resultsPath(), { recursive: true });
  if (o.pin) execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
  const budgetS = (matrixSize(o.plan, 3) + maxRetries(o.plan, 3)) * (o.plan.durationS + 1) + o.agentReps * 2 * (o.agentS + 1) + 300;
  setTimeout(() => {
    log(`run exceeded its bound of ${budgetS} s: stopping`);
    void stopAll(1000).finally(() => process.exit(3));
  }, budgetS * 1000).unref();
  const w = await startWorld(o);
  const r = newReport(o, w.tree);
  r.notes.push(...w.notes);
  await new Promise((res) => setTimeout(res, 1000));
  r.memory = idleMemory(w);
  const bodies: Record<Mode, string> = { json: body('bench', false), stream: body('bench', true) };
  log('checking bodies …');
  r.checks = await checkBodies(w.targets, bodies);
  reportBodies(r.checks, 'before load');
  if (!o.loadOnly) await holds(w, o, r);
  // cpuMicros counts descendants: the harness's own pid covers upstream and proxies too
  const harness: Harness = { pids: [process.pid], generator: o.generator };
  await warmUp(w.targets, o.plan, bodies, harness);
  const atPrune = gapsAtPrune(w, o);
  r.cells = await runMatrix(w.targets, o.plan, bodies, harness, log, atPrune.between);
  for (const m of r.memory) {
    const pid = w.targets.find((t) => t.name === m.target)?.pid ?? 0;
    m.afterLoadMiB = Math.max(...r.cells.filter((c) => c.target === m.target).map((c) => c.rssAfterMiB));
    m.peakMiB = peakRssBytes(pid) / 2 ** 20;
  }
  await checkAgain(w, r, bodies, 'after load');
  if (!o.loadOnly) await probes(w, o, r, atPrune.result(), harness);
  const llmuxDied = w.llmux && w.llmux.child.proc.exitCode !== null;
  if (llmuxDied) r.notes.push(`llmux exited during the run (code ${w.llmux?.child.proc.exitCode}): ${w.llmux?.child.tail().split('\n').slice(-8).join(' ⏎ ')}`);
  r.profile = await finish(w, o);
  writeFileSync(resultsPath('last-run.json'), JSON.stringify(r));
  let out = resultsPath('quick.md');
  if (o.write) out = writeReport(join(ROOT, 'BENCHMARKS.md'), r);
  else writeFileSync(out, renderReport(r));
  process.stdout.write(`\n${renderLoadTables(r)}\n`);
  log(`report written to ${out}`);
}

main().catch(async (err: unknown) => {
  log(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  await stopAll(1000);
  process.exit(1);
});
